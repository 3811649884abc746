import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { type TrackedProcess, waitUntilStopped } from '../../../src/backends/signal/wait.js';
import { FreezeError } from '../../../src/base/errors.js';
import { readProcessStat } from '../../../src/kernel/procfs.js';
import { processInfo, processRecord } from '../../../src/tree/process.js';
import { cleanupTrees, eventually, startTree } from '../../helpers/index.js';

const T = { timeout: 30_000 };
after(async () => assert.deepEqual(await cleanupTrees(), []));

function track(pids: number[]): Map<number, TrackedProcess> {
  const tracked = new Map<number, TrackedProcess>();
  for (const pid of pids) {
    const stat = readProcessStat(pid);
    assert.ok(stat, `process ${pid} exists`);
    tracked.set(pid, processRecord(processInfo(stat), { wasStopped: false, traced: false }));
  }
  return tracked;
}

const signalAll = (pids: number[], signal: NodeJS.Signals) => {
  for (const pid of pids) process.kill(pid, signal);
};

describe('waitUntilStopped', () => {
  test('resolves once every task of every process is stopped', T, async () => {
    const tree = await startTree('tree', 4, 3);
    const tracked = track(tree.pids);
    signalAll(tree.pids, 'SIGSTOP');
    await waitUntilStopped({ tracked, deadline: performance.now() + 5000, restop: () => {} });
    assert.equal(tracked.size, 4);
    signalAll(tree.pids, 'SIGCONT');
    tree.kill();
  });

  test(
    'a process that never stops: TIMED_OUT by the deadline, naming it and its running tasks',
    T,
    async () => {
      const tree = await startTree('tree', 2, 2);
      const [stopped, running] = tree.pids as [number, number];
      process.kill(stopped, 'SIGSTOP');
      const restopped: number[] = [];
      const started = performance.now();
      await assert.rejects(
        waitUntilStopped({
          tracked: track(tree.pids),
          deadline: started + 300,
          restop: (p) => restopped.push(p.pid),
        }),
        (error: unknown) => {
          assert.ok(error instanceof FreezeError && error.code === 'TIMED_OUT');
          assert.deepEqual(error.pids, [running]);
          assert.match(error.message, new RegExp(`${running} \\(treefix\\) tasks ${running}:S`));
          return true;
        },
      );
      assert.ok(performance.now() - started < 1000, 'bounded by the deadline');
      assert.ok(
        restopped.includes(running),
        'a laggard is sent SIGSTOP again (someone may have continued it)',
      );
      assert.ok(!restopped.includes(stopped));
      process.kill(stopped, 'SIGCONT');
      tree.kill();
    },
  );

  test('a process that exits while waited for is dropped and reported, not an error', T, async () => {
    const tree = await startTree('reaper', 2); // the root reaps: the doomed child really goes away
    const [root, doomed, other] = tree.pids as [number, number, number];
    const tracked = track(tree.pids);
    process.kill(doomed, 'SIGKILL');
    assert.ok(await eventually(() => readProcessStat(doomed) === null, 10_000), 'reaped');
    process.kill(root, 'SIGSTOP');
    process.kill(other, 'SIGSTOP');
    const exited: number[] = [];
    await waitUntilStopped({
      tracked,
      deadline: performance.now() + 5000,
      restop: () => {},
      onExit: (p) => exited.push(p.pid),
    });
    assert.deepEqual(exited, [doomed]);
    assert.deepEqual([...tracked.keys()].sort(), [root, other].sort());
    signalAll([root, other], 'SIGCONT');
    tree.kill();
  });

  test('aborting rejects with ABORTED, naming what had not stopped', T, async () => {
    const tree = await startTree('tree', 1, 1);
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('operator')), 50);
    await assert.rejects(
      waitUntilStopped({
        tracked: track(tree.pids),
        deadline: performance.now() + 10_000,
        signal: controller.signal,
        restop: () => {},
      }),
      (error: unknown) =>
        error instanceof FreezeError && error.code === 'ABORTED' && error.pids[0] === tree.root,
    );
    tree.kill();
  });
});
