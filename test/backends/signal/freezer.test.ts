/**
 * The signal freezer with another freezer at work on the same tree: what it found stopped
 * is not its own, unless someone resumes it while it freezes; then it is adopted (its safety
 * net learns it, its thaw resumes it) before it is stopped.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { SignalFreezer } from '../../../src/backends/signal/freezer.js';
import { native } from '../../../src/kernel/native.js';
import { allStopped, cleanupTrees, eventually, noneStopped, startTree } from '../../helpers/index.js';

const T = { timeout: 30_000 };
after(async () => assert.deepEqual(await cleanupTrees(), []));

const signalAll = (pids: number[], signal: NodeJS.Signals) => {
  for (const pid of pids) process.kill(pid, signal);
};

test(
  'found stopped, then resumed by the other freezer while this one waits: adopted, and thawed by it',
  T,
  async () => {
    const tree = await startTree('tree', 4, 2);
    for (const calls of [native(), null]) {
      signalAll(tree.pids, 'SIGSTOP'); // the other freezer holds the tree
      assert.ok(await eventually(() => allStopped(tree.pids), 5000));
      const guarded: number[] = [];
      const net = {
        guardProcesses: (ps: readonly { pid: number }[]) => guarded.push(...ps.map((p) => p.pid)),
      };
      const freezer = new SignalFreezer({
        root: tree.root,
        includeRoot: true,
        exclude: new Set(),
        safetyNets: { own: () => [], isOne: () => false },
        calls,
        core: null,
        identity: calls ? 'pidfd' : 'starttime',
      });
      const options = {
        deadline: performance.now() + 10_000,
        net: () => net as never,
      };
      await freezer.freezeRounds(options);
      assert.ok(
        [...freezer.tracked.values()].every((p) => p.wasStopped),
        'all found stopped: not ours',
      );
      assert.deepEqual(guarded, [], 'the safety net learns none of them');
      signalAll(tree.pids, 'SIGCONT'); // the other freezer thaws while this one confirms its freeze
      await freezer.waitStopped(options);
      assert.ok(allStopped(tree.pids), 'stopped again');
      assert.deepEqual(
        guarded.sort(),
        [...tree.pids].sort(),
        'adopted: the safety net learned each one first',
      );
      freezer.resume();
      assert.ok(await eventually(() => noneStopped(tree.pids), 5000), 'its thaw resumed what it stopped');
    }
    tree.kill();
  },
);

test('found stopped and left stopped: never signalled, never resumed', T, async () => {
  const tree = await startTree('tree', 3, 1);
  signalAll(tree.pids, 'SIGSTOP');
  assert.ok(await eventually(() => allStopped(tree.pids), 5000));
  const freezer = new SignalFreezer({
    root: tree.root,
    includeRoot: true,
    exclude: new Set(),
    safetyNets: { own: () => [], isOne: () => false },
    calls: native(),
    core: null,
    identity: native() ? 'pidfd' : 'starttime',
  });
  await freezer.freezeRounds({ deadline: performance.now() + 10_000, net: () => undefined });
  assert.equal(freezer.stoppedByUs.size, 0, 'no SIGSTOP sent to what was stopped');
  freezer.resume();
  assert.ok(allStopped(tree.pids), 'still stopped after its thaw');
  signalAll(tree.pids, 'SIGCONT');
  tree.kill();
});
