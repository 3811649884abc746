/**
 * `treefreeze demo`: starts a small sample service (a supervisor and three workers,
 * each printing heartbeats from a worker thread), freezes it for two seconds while
 * showing that no heartbeat arrives, thaws it, shows the heartbeats resume, cleans up.
 */

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { freezeTree } from '../freeze.js';
import { listTree } from '../tree/discovery.js';
import { formatDuration } from './duration.js';
import { EXIT } from './exit-codes.js';
import { count, paint, useColor } from './style.js';
import { describeTree, renderTree } from './tree-view.js';

const WORKERS = 3;
const HOLD_MS = 2000;
const BEAT_MS = 150;

// Each worker: a worker thread prints "beat <worker> <tick> <epoch ms>" every BEAT_MS.
const WORKER_SOURCE = `
const { Worker } = require('node:worker_threads');
new Worker(\`
  let tick = 0;
  setInterval(() => process.stdout.write('beat ' + process.env.DEMO_WORKER + ' ' + (++tick) + ' ' + Date.now() + '\\\\n'), ${BEAT_MS});
\`, { eval: true });
`;
// The supervisor: starts the workers (sharing its stdout) and waits.
const SUPERVISOR_SOURCE = `
const { spawn } = require('node:child_process');
for (let i = 1; i <= ${WORKERS}; i++) {
  spawn(process.execPath, ['-e', process.env.DEMO_WORKER_SOURCE], { stdio: 'inherit', env: { ...process.env, DEMO_WORKER: String(i) } });
}
setInterval(() => {}, 1 << 30);
`;

interface Beat {
  worker: number;
  tick: number;
  at: number;
}

export async function runDemo(): Promise<number> {
  const color = useColor(process.stdout);
  const say = (text = '') => process.stdout.write(`${text}\n`);
  const ok = (text: string) => say(`  ${paint(color, 'green', '✓')} ${text}`);

  say(paint(color, 'bold', 'treefreeze demo'));
  say(
    `Starting a sample service: a supervisor and ${WORKERS} workers, each printing a heartbeat every ${BEAT_MS} ms.`,
  );
  const service = spawn(process.execPath, ['-e', SUPERVISOR_SOURCE], {
    detached: true, // its own session and process group: cleaned up as one
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, DEMO_WORKER_SOURCE: WORKER_SOURCE },
  });
  const root = service.pid as number;
  const cleanup = () => {
    // The group id is pinned while the supervisor is our unreaped child or any worker lives;
    // once someone else holds the supervisor's pid, the group is not ours to kill.
    const unreaped = service.exitCode === null && service.signalCode === null;
    if (!unreaped && existsSync(`/proc/${root}`)) return;
    try {
      process.kill(-root, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  process.once('exit', cleanup);
  const onSignal = () => {
    cleanup();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const beats: Beat[] = [];
  let onBeat: (beat: Beat) => void = () => {};
  createInterface({ input: service.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    const [word, worker, tick, at] = line.split(' ');
    if (word !== 'beat') return;
    const beat = { worker: Number(worker), tick: Number(tick), at: Number(at) };
    beats.push(beat);
    onBeat(beat);
  });
  const waitFor = (condition: () => boolean, ms: number) =>
    new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      onBeat = () => {
        if (condition()) {
          clearTimeout(timer);
          resolve(true);
        }
      };
    });
  const allWorkersSince = (since: number) => () =>
    new Set(beats.filter((beat) => beat.at >= since).map((beat) => beat.worker)).size === WORKERS;

  try {
    if (!(await waitFor(allWorkersSince(0), 8000))) {
      say('The sample service did not start in time.');
      return EXIT.FAILED;
    }
    ok(`heartbeats from all ${WORKERS} workers`);
    say();
    say(`The tree of pid ${root} (state letters: S sleeping, R running, T stopped):`);
    say(renderTree(describeTree(listTree(root)), color).replace(/^/gm, '  '));
    say();

    say(`Freezing the tree of ${root} for ${formatDuration(HOLD_MS)} ...`);
    const frozen = await freezeTree(root);
    const frozenAt = Date.now();
    const threads = frozen.processes.reduce((sum, p) => sum + p.threads, 0);
    ok(
      `froze ${count(frozen.processes.length, 'process', 'processes')}, ${count(threads, 'thread')} in ${formatDuration(frozen.durationMs)}`,
    );
    say(renderTree(describeTree(listTree(root)), color).replace(/^/gm, '  '));
    await new Promise((resolve) => setTimeout(resolve, HOLD_MS));
    const thawAt = Date.now();
    // Heartbeats are stamped by the worker: any stamped inside the hold ran while "frozen".
    const during = beats.filter((beat) => beat.at > frozenAt && beat.at < thawAt).length;
    if (during === 0) ok(`no heartbeat during the ${formatDuration(thawAt - frozenAt)} hold (0 heartbeats)`);
    else say(`  ✗ ${during} heartbeats arrived during the hold`);

    say('Thawing ...');
    await frozen.thaw();
    const resumed = await waitFor(allWorkersSince(thawAt), 5000);
    const first = beats.find((beat) => beat.at >= thawAt);
    if (resumed && first) {
      ok(
        `heartbeats resumed from all ${WORKERS} workers (first ${formatDuration(first.at - thawAt)} after thaw)`,
      );
    } else {
      say('  ✗ heartbeats did not resume');
    }
    say();
    say(`Done: stopped the sample service (process group ${root}).`);
    return during === 0 && resumed ? EXIT.OK : EXIT.FAILED;
  } finally {
    cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
