/** Trial kind: a spinning tree, in the freezer's own session or in one of its own. */
import { spawn } from 'node:child_process';
import { freezeTree } from '../../src/index.js';
import {
  fixturePath,
  freezeChildScript,
  readyLine,
  sleep,
  startTree,
  taskStates,
} from '../../test/helpers/index.js';
import { stoppedOf } from '../checks.js';
import type { Kind, Outcome } from '../kind.js';

/**
 * A fresh freezer process beside a spinning tree in its own session, reporting its first freeze:
 * the wall time, and whether durationMs under-reports it.
 */
async function spinInOwnSession(processes: number): Promise<Outcome> {
  const violations: string[] = [];
  const figures: Record<string, number> = {};
  const child = spawn(
    process.execPath,
    [freezeChildScript(), 'spin-own-session', fixturePath(), String(processes), '2'],
    {
      detached: true,
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  // Starting 200 spinning processes beside this freezer, then its first freeze: allow 30 s.
  const report = JSON.parse(
    await readyLine(child, 'spinning freezer', 30_000).catch((error: Error) =>
      JSON.stringify({ lost: error.message }),
    ),
  );
  if (report.lost !== undefined) violations.push(`no report: ${report.lost}`);
  else if (report.error !== undefined) {
    violations.push(
      `the freeze failed (${report.error}: ${report.message}); ${report.leftStopped} processes left stopped`,
    );
  } else if (report.stopped !== processes) violations.push(`froze ${report.stopped} of ${processes}`);
  figures.wall = report.wallMs;
  figures['durationMs / wall (%)'] = (100 * report.durationMs) / report.wallMs;
  // Gross under-reporting (work done before the clock starts, as native loading once was:
  // ratio 0.25) is a violation; a rare gap spent before treefreeze's first statement is not.
  if (report.durationMs < report.wallMs * 0.5)
    violations.push(
      `durationMs ${report.durationMs?.toFixed(0)} ms under-reports the wall time ${report.wallMs?.toFixed(0)} ms`,
    );
  await new Promise((resolve) => child.once('close', resolve));
  return { violations, figures };
}

/** A spinning tree in a session of its own, frozen by this process and held 150 ms: reported intact. */
async function spinInOtherSession(processes: number): Promise<Outcome> {
  const violations: string[] = [];
  const figures: Record<string, number> = {};
  const tree = await startTree('tree', processes, 2, 'spin');
  const started = performance.now();
  const frozen = await freezeTree(tree.root, { timeoutMs: 20_000 });
  figures.wall = performance.now() - started;
  const running = tree.pids.filter((pid) => !/^T+$/.test(taskStates(pid)));
  if (running.length > 0) violations.push(`resolved with running tasks in ${running.length} processes`);
  // Held for a few checks: nothing resumes these processes, so a breach is a false alarm
  // (spinning tasks are the likeliest to be read stopped while still on a CPU).
  await sleep(150);
  await frozen.thaw();
  if (!frozen.intact) {
    const pids = frozen.breaches.flatMap((breach) => breach.pids);
    violations.push(`a breach reported though nothing resumed the tree: ${pids.length} processes`);
  }
  if (stoppedOf(tree.pids).length > 0) violations.push('left stopped');
  tree.kill();
  return { violations, figures };
}

/** A spinning tree: in the freezer's own session (a fresh freezer each time) or in another. */
export function cpuBound(session: 'own' | 'other', processes: number): Kind {
  return {
    name: `CPU-bound ${processes}x2, ${session} session`,
    what: `${processes} processes x 2 threads spinning, in ${session === 'own' ? "the freezer's own session (first freeze of a fresh process)" : 'a session of their own, held 150 ms: the hold must be reported intact'}`,
    runs: processes > 100 ? 5 : 20,
    run: () => (session === 'own' ? spinInOwnSession(processes) : spinInOtherSession(processes)),
  };
}
