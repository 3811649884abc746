/**
 * `treefreeze demo`: starts a small sample service (a supervisor and three workers,
 * each printing heartbeats from a worker thread), freezes it for two seconds while
 * showing that no heartbeat arrives, thaws it, shows the heartbeats resume, cleans up.
 */

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
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

/** The demo's output: lines, checks marked ✓ (green in a terminal), and the sample's tree. */
function demoPrinter() {
  const color = useColor(process.stdout);
  const say = (text = '') => process.stdout.write(`${text}\n`);
  const ok = (text: string) => say(`  ${paint(color, 'green', '✓')} ${text}`);
  const tree = (root: number) => say(renderTree(describeTree(listTree(root)), color).replace(/^/gm, '  '));
  return { color, say, ok, tree };
}
type DemoPrinter = ReturnType<typeof demoPrinter>;

export async function runDemo(): Promise<number> {
  const out = demoPrinter();
  out.say(paint(out.color, 'bold', 'treefreeze demo'));
  out.say(
    `Starting a sample service: a supervisor and ${WORKERS} workers, each printing a heartbeat every ${BEAT_MS} ms.`,
  );
  const service = startSampleService();
  const heartbeats = listenForHeartbeats(service.output);
  const root = service.root;
  try {
    if (!(await heartbeats.waitFor(heartbeats.allWorkersSince(0), 8000))) {
      out.say('The sample service did not start in time.');
      return EXIT.FAILED;
    }
    out.ok(`heartbeats from all ${WORKERS} workers`);
    out.say();
    out.say(`The tree of pid ${root} (state letters: S sleeping, R running, T stopped):`);
    out.tree(root);
    out.say();
    const { quiet, thawAt } = await holdFrozen(root, heartbeats, out);
    const resumed = await showResumed(thawAt, heartbeats, out);
    out.say();
    out.say(`Done: stopped the sample service (process group ${root}).`);
    return quiet && resumed ? EXIT.OK : EXIT.FAILED;
  } finally {
    service.stop();
  }
}

/**
 * Starts the sample service in its own session and process group; `stop` kills the group, as
 * does this process's exit, SIGINT or SIGTERM meanwhile.
 */
function startSampleService(): { root: number; output: NodeJS.ReadableStream; stop(): void } {
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
    process.exit(EXIT.SIGNAL_BASE + constants.signals.SIGINT); // interrupted, whichever signal
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return {
    root,
    output: service.stdout as NodeJS.ReadableStream,
    stop: () => {
      cleanup();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/** The heartbeats read so far from the service's output, and a wait for a condition on them. */
function listenForHeartbeats(output: NodeJS.ReadableStream) {
  const beats: Beat[] = [];
  let onBeat: (beat: Beat) => void = () => {};
  createInterface({ input: output }).on('line', (line) => {
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
  return { beats, waitFor, allWorkersSince };
}
type Heartbeats = ReturnType<typeof listenForHeartbeats>;

/** Freezes the service for HOLD_MS and thaws it; quiet: no heartbeat was stamped inside the hold. */
async function holdFrozen(
  root: number,
  { beats }: Heartbeats,
  out: DemoPrinter,
): Promise<{ quiet: boolean; thawAt: number }> {
  out.say(`Freezing the tree of ${root} for ${formatDuration(HOLD_MS)} ...`);
  const frozen = await freezeTree(root);
  const frozenAt = Date.now();
  const threads = frozen.processes.reduce((sum, p) => sum + p.threads, 0);
  out.ok(
    `froze ${count(frozen.processes.length, 'process', 'processes')}, ${count(threads, 'thread')} in ${formatDuration(frozen.durationMs)}`,
  );
  out.tree(root);
  await new Promise((resolve) => setTimeout(resolve, HOLD_MS));
  const thawAt = Date.now();
  // Heartbeats are stamped by the worker: any stamped inside the hold ran while "frozen".
  const during = beats.filter((beat) => beat.at > frozenAt && beat.at < thawAt).length;
  if (during === 0)
    out.ok(`no heartbeat during the ${formatDuration(thawAt - frozenAt)} hold (0 heartbeats)`);
  else out.say(`  ✗ ${during} heartbeats arrived during the hold`);
  out.say('Thawing ...');
  await frozen.thaw();
  return { quiet: during === 0, thawAt };
}

/** Waits for every worker's heartbeat after the thaw; says how soon the first came. */
async function showResumed(thawAt: number, heartbeats: Heartbeats, out: DemoPrinter): Promise<boolean> {
  const resumed = await heartbeats.waitFor(heartbeats.allWorkersSince(thawAt), 5000);
  const first = heartbeats.beats.find((beat) => beat.at >= thawAt);
  if (resumed && first) {
    out.ok(
      `heartbeats resumed from all ${WORKERS} workers (first ${formatDuration(first.at - thawAt)} after thaw)`,
    );
  } else {
    out.say('  ✗ heartbeats did not resume');
  }
  return resumed;
}
