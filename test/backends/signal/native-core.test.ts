/**
 * The native core (native/core.c through kernel/native-core.ts) against its TypeScript twins,
 * on real processes: each bulk call must say what the one-by-one code says, and the edge
 * cases of a freeze (threads, vfork, a tracer, zombies, exits mid-freeze) must end the same
 * with the core forced onto small trees, and with it off.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { FreezeError } from '../../../src/base/errors.js';
import { freezeTree } from '../../../src/freeze.js';
import { type InternalFreezeOptions, internalKnobs } from '../../../src/hold/plan.js';
import { closeQuietly } from '../../../src/kernel/descriptors.js';
import { native } from '../../../src/kernel/native.js';
import { type NativeCore, nativeCore, nativeCoreMissing } from '../../../src/kernel/native-core.js';
import { defaultPlatform, type Platform } from '../../../src/kernel/platform.js';
import { readProcessStat } from '../../../src/kernel/procfs.js';
import { listTree } from '../../../src/tree/discovery.js';
import {
  allStopped,
  cleanupTrees,
  eventually,
  isStoppedOrDead,
  noneStopped,
  sleep,
  startTree,
  statesOf,
  taskStates,
} from '../../helpers/index.js';

const T = { timeout: 60_000 };

function isFreezeError(code: string, pid: number) {
  return (error: unknown) => {
    assert.ok(error instanceof FreezeError, `expected a FreezeError, got ${error}`);
    assert.equal(error.code, code, error.message);
    assert.ok(error.pids.includes(pid), `pids ${error.pids} should name ${pid}`);
    return true;
  };
}
const ESRCH = 3;
after(cleanupTrees);

/** Turned off on purpose (TREEFREEZE_NATIVE_CORE=0: the whole suite runs through the TypeScript path). */
const turnedOff = process.env.TREEFREEZE_NATIVE_CORE === '0';
const CORE = { skip: turnedOff ? 'the native core is turned off (TREEFREEZE_NATIVE_CORE=0)' : false };

/** The core, or a failed test: it must load wherever the package was built (CI builds it). */
function loadedCore(): NativeCore {
  const core = nativeCore();
  assert.ok(core, `the native core did not load: ${nativeCoreMissing}`);
  return core;
}

/** Platforms a freeze runs on: the core forced onto every batch, however small, and no core. */
function platforms(): [string, Platform][] {
  if (turnedOff) return [['TypeScript', { ...defaultPlatform, core: () => null }]];
  const forced = { ...loadedCore(), minBatch: 1 };
  return [
    ['native core', { ...defaultPlatform, core: () => forced }],
    ['TypeScript', { ...defaultPlatform, core: () => null }],
  ];
}

const on = (platform: Platform, extra: InternalFreezeOptions = {}): InternalFreezeOptions => ({
  ...extra,
  [internalKnobs]: { platform },
});

describe('the native core, call by call', CORE, () => {
  test('loads wherever the package was built (never skipped unless turned off)', () => {
    loadedCore();
  });

  test('readStats reads what readProcessStat reads; a gone pid is null; kept files read again', async () => {
    const core = loadedCore();
    const tree = await startTree('tree', 5, 3);
    const gone = 2 ** 22 + 7; // above any pid_max: never a process
    const pids = [...tree.pids, gone];
    const { stats, fds } = core.readStats(pids, true);
    for (const [i, pid] of tree.pids.entries()) {
      const mine = stats[i];
      const theirs = readProcessStat(pid);
      assert.deepEqual(
        { ...mine, state: undefined },
        { ...theirs, state: undefined },
        `pid ${pid}: the same record (the state may change between the reads)`,
      );
      assert.ok((fds[i] as number) >= 0, 'kept');
    }
    assert.equal(stats.at(-1), null);
    assert.equal(fds.at(-1), -1);
    const again = core.preadStats([...fds].filter((fd) => fd >= 0));
    assert.deepEqual(
      again.map((stat) => stat?.pid),
      tree.pids,
    );
    for (const fd of fds) if (fd >= 0) closeQuietly(fd);
    // With pidfds, each opened before its stat was read: one per live process, ESRCH for the gone.
    const withPidfds = core.readStats(pids, false, true);
    assert.equal(withPidfds.pidfds.at(-1), -ESRCH);
    const pidfds = [...withPidfds.pidfds].slice(0, -1);
    assert.ok(pidfds.every((fd) => fd >= 0));
    assert.deepEqual(
      [...core.signalPidfds(pidfds, 0)],
      pidfds.map(() => 0),
      'each names a live process',
    );
    assert.equal(native()?.countExited(pidfds), 0);
    for (const fd of pidfds) closeQuietly(fd);
    // The whole system, as a scan reads it: the same processes (give or take one that came or went).
    const all = readdirSync('/proc')
      .filter((name) => /^\d+$/.test(name))
      .map(Number);
    const bulk = core.readStats(all, false).stats;
    const found = bulk.filter((stat) => stat).length;
    assert.ok(Math.abs(found - all.length) <= 3, `${found} of ${all.length}`);
    tree.kill();
  });

  test('confirm agrees with the states /proc shows: running, stopped, gone, a reused start time', async () => {
    const core = loadedCore();
    const tree = await startTree('tree', 4, 3);
    const records = tree.pids.map((pid) => {
      const stat = readProcessStat(pid);
      assert.ok(stat);
      return { pid, startTime: stat.startTime };
    });
    assert.deepEqual(new Set(core.confirm(records).verdicts), new Set(['pending']));
    for (const { pid } of records) process.kill(pid, 'SIGSTOP');
    assert.ok(await eventually(() => allStopped(tree.pids), 5000));
    const look = core.confirm(records);
    assert.deepEqual(new Set(look.verdicts), new Set(['stopped']));
    assert.deepEqual([...look.threads], [3, 3, 3, 3]);
    // One thread running in an otherwise stopped process: pending (every task is read).
    const [first] = records as [{ pid: number; startTime: number }];
    const [, thread] = readdirSync(`/proc/${first.pid}/task`).map(Number);
    assert.equal(
      core.confirm([{ ...first, startTime: first.startTime + 1 }]).verdicts[0],
      'gone',
      'another start time',
    );
    assert.equal(core.confirm([{ pid: 2 ** 22 + 7, startTime: 0 }]).verdicts[0], 'gone');
    for (const { pid } of records) process.kill(pid, 'SIGCONT');
    assert.ok(thread !== undefined);
    tree.kill();
  });

  test('a traced task or a vfork parent in D is left to the TypeScript path', async () => {
    const core = loadedCore();
    const vfork = await startTree('vfork');
    const [, vforkParent] = vfork.pids as [number, number];
    assert.equal(taskStates(vforkParent), 'D');
    const parent = readProcessStat(vforkParent);
    assert.ok(parent);
    assert.equal(
      core.confirm([{ pid: vforkParent, startTime: parent.startTime }]).verdicts[0],
      'look closer',
    );
    const traced = await startTree('tracer');
    const [, tracee] = traced.pids as [number, number];
    process.kill(tracee, 'SIGSTOP'); // the tracer swallows it, or the tracee sits in 't'
    await sleep(50);
    const stat = readProcessStat(tracee);
    assert.ok(stat);
    const verdict = core.confirm([{ pid: tracee, startTime: stat.startTime }]).verdicts[0];
    assert.ok(verdict === 'look closer' || verdict === 'pending', `${stat.state}: ${verdict}`);
    if (stat.state === 't') assert.equal(verdict, 'look closer');
    vfork.kill();
    traced.kill();
  });

  test('killMany, pidfdOpenMany and signalPidfds: exact processes, ESRCH for the gone', async () => {
    const core = loadedCore();
    const calls = native();
    assert.ok(calls, 'koffi loads');
    const tree = await startTree('tree', 3, 1);
    assert.deepEqual(
      [...core.killMany([...tree.pids, 2 ** 22 + 7], 0)],
      [0, 0, 0, -ESRCH],
      'kill(pid, 0) each',
    );
    const pidfds = core.pidfdOpenMany([...tree.pids, 2 ** 22 + 7]);
    assert.equal(pidfds.at(-1), -ESRCH);
    const open = [...pidfds].slice(0, -1);
    assert.ok(open.every((fd) => fd >= 0));
    assert.deepEqual([...core.signalPidfds(open, 19)], [0, 0, 0]); // SIGSTOP
    assert.ok(await eventually(() => allStopped(tree.pids), 5000));
    assert.deepEqual([...core.signalPidfds(open, 18)], [0, 0, 0]); // SIGCONT
    assert.ok(await eventually(() => noneStopped(tree.pids), 5000));
    tree.kill();
    await eventually(() => tree.pids.every((pid) => taskStates(pid) === ''), 5000);
    assert.deepEqual(
      [...core.signalPidfds(open, 0)],
      [-ESRCH, -ESRCH, -ESRCH],
      'gone: ESRCH, never another process',
    );
    for (const fd of open) closeQuietly(fd);
  });
});

describe('a freeze with the native core forced and with it off', () => {
  for (const [name, platform] of platforms()) {
    test(`${name}: threads, children forked from threads, a leader that exited`, T, async () => {
      for (const mode of ['threadfork', 'leaderexit']) {
        const tree = await startTree(mode);
        const frozen = await freezeTree(tree.root, on(platform));
        const pids = frozen.processes.map((p) => p.pid);
        for (const pid of pids)
          assert.ok(isStoppedOrDead(taskStates(pid)), `${mode} ${pid}: ${taskStates(pid)}`);
        await frozen.thaw();
        assert.ok(await eventually(() => noneStopped(pids), 5000), `${mode}: ${statesOf(pids)}`);
        tree.kill();
      }
    });

    test(`${name}: a 12 x 3 tree, frozen by a scan, every task stopped`, T, async () => {
      const tree = await startTree('tree', 12, 3);
      const options = on(platform);
      (options[internalKnobs] as { discovery?: string }).discovery = 'scan';
      const frozen = await freezeTree(tree.root, options);
      assert.deepEqual(
        frozen.processes.map((p) => p.pid).sort(),
        listTree(tree.root)
          .map((n) => n.pid)
          .sort(),
      );
      assert.ok(allStopped(tree.pids), statesOf(tree.pids));
      await frozen.thaw();
      assert.ok(await eventually(() => noneStopped(tree.pids), 5000));
      tree.kill();
    });

    test(`${name}: a vfork parent in D is held with its frozen child`, T, async () => {
      const tree = await startTree('vfork');
      const [root, vforkParent] = tree.pids as [number, number];
      const frozen = await freezeTree(root, on(platform, { timeoutMs: 3000 }));
      assert.equal(frozen.processes.length, 3);
      assert.equal(taskStates(vforkParent), 'D');
      await frozen.thaw();
      assert.ok(await eventually(() => noneStopped(frozen.processes.map((p) => p.pid)), 5000));
      tree.kill();
    });

    test(`${name}: a tracer that swallows SIGSTOP ends in TIMED_OUT naming the tracee`, T, async () => {
      const tree = await startTree('tracer');
      const [root, tracee, tracer] = tree.pids as [number, number, number];
      await assert.rejects(
        freezeTree(root, on(platform, { exclude: [tracer], timeoutMs: 800 })),
        (error: unknown) => {
          isFreezeError('TIMED_OUT', tracee)(error);
          assert.match((error as Error).message, new RegExp(`traced by ${tracer}`));
          return true;
        },
      );
      assert.ok(await eventually(() => noneStopped([root, tracee, tracer]), 5000));
      tree.kill();
    });

    test(`${name}: processes that exit mid-freeze are dropped, not errors`, T, async () => {
      const tree = await startTree('churn', 20_000);
      for (let i = 0; i < 8; i++) {
        const frozen = await freezeTree(tree.root, on(platform));
        for (const p of frozen.processes) assert.ok(isStoppedOrDead(taskStates(p.pid)), `${p.pid}`);
        await frozen.thaw();
        await sleep(5);
      }
      tree.kill();
    });
  }
});
