import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { closeSync, readdirSync, readlinkSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { native } from '../../src/kernel/native.js';
import { openStatHandle, readProcessStat, readStatHandle } from '../../src/kernel/procfs.js';
import { KeptStatFiles } from '../../src/kernel/stat-files.js';
import {
  bindPidfd,
  isSameProcess,
  type ProcessIdentity,
  readIdentifiedStat,
  releaseIdentity,
  sendSignal,
} from '../../src/tree/identity.js';
import {
  cleanupTrees,
  eventually,
  killGroupOf,
  recyclePid,
  requireRoot,
  retryWhilePidTaken,
  startTree,
  taskStates,
  unusedPid,
} from '../helpers/index.js';

after(async () => assert.deepEqual(await cleanupTrees(), []));

function identityOf(pid: number): ProcessIdentity {
  const stat = readProcessStat(pid);
  assert.ok(stat);
  return { pid, startTime: stat.startTime };
}

for (const [label, calls] of [
  ['pidfd', native()],
  ['start time', null],
] as const) {
  describe(`process identity by ${label}`, () => {
    test('signals the process it names', async () => {
      const tree = await startTree('tree', 1, 1);
      const identity = identityOf(tree.root);
      assert.equal(bindPidfd(identity, calls), true);
      assert.equal(identity.pidfd !== undefined, calls !== null, 'a pidfd exactly when native calls exist');
      assert.equal(sendSignal(identity, 'SIGSTOP', calls), 'sent');
      assert.ok(await eventually(() => taskStates(tree.root) === 'T'));
      assert.equal(sendSignal(identity, 'SIGCONT', calls), 'sent');
      assert.ok(await eventually(() => taskStates(tree.root) === 'S'));
      releaseIdentity(identity);
      assert.equal(identity.pidfd, undefined);
      tree.kill();
    });

    test('a wrong start time (a recycled pid) is never signalled and never bound', async () => {
      const tree = await startTree('tree', 1, 1);
      const impostor: ProcessIdentity = { pid: tree.root, startTime: identityOf(tree.root).startTime + 1 };
      assert.equal(isSameProcess(impostor), false);
      assert.equal(bindPidfd(impostor, calls), false, 'not bound');
      assert.equal(impostor.pidfd, undefined);
      assert.equal(sendSignal(impostor, 'SIGSTOP', calls), 'gone');
      // Never stopped: sleeping, or running for a moment on a loaded machine ('R' once failed an equality with 'S').
      assert.doesNotMatch(taskStates(tree.root), /[Tt]/, 'never stopped');
      tree.kill();
    });

    test('a process that exited after binding is "gone", not an error', async () => {
      const tree = await startTree('reaper', 1); // the root reaps: the child really goes away
      const child = tree.pids[1] as number;
      const identity = identityOf(child);
      assert.equal(bindPidfd(identity, calls), true);
      process.kill(child, 'SIGKILL');
      assert.ok(await eventually(() => readProcessStat(child) === null, 10_000), 'reaped by the fixture');
      assert.equal(sendSignal(identity, 'SIGCONT', calls), 'gone');
      releaseIdentity(identity);
      tree.kill();
    });
  });
}

/** The native calls, or null after skipping the test (never under CI, which has them). */
function nativeOrSkip(t: { skip: (message: string) => void }) {
  const calls = native();
  if (calls === null) {
    assert.ok(process.env.CI !== 'true', 'CI has the native calls');
    t.skip('no native calls here');
  }
  return calls;
}

describe('countExited (one poll() over pidfds)', () => {
  test('counts the processes that exited, zombies included, and only those', async (t) => {
    const calls = nativeOrSkip(t);
    if (calls === null) return;
    const tree = await startTree('tree', 4, 1);
    const identities = tree.pids.map(identityOf);
    for (const identity of identities) assert.equal(bindPidfd(identity, calls), true);
    const pidfds = identities.map((identity) => identity.pidfd as number);
    assert.equal(calls.countExited(pidfds), 0, 'all alive');
    assert.equal(calls.countExited([]), 0);
    // A leaf, killed: a zombie until its parent reaps it, and exited either way.
    const leaf = tree.pids[tree.pids.length - 1] as number;
    process.kill(leaf, 'SIGKILL');
    assert.ok(await eventually(() => calls.countExited(pidfds) === 1, 10_000), 'the killed one counts');
    for (const identity of identities) releaseIdentity(identity);
    tree.kill();
  });
});

describe('a kept stat file (openStatHandle)', () => {
  test('names its process for good: once that process is gone it reads null, even when the pid is reused', async (t) => {
    if (!requireRoot(t, 'recycling a pid needs ns_last_pid')) return;
    // Another process may take the pid first (another copy of the suite): then try a new tree.
    await retryWhilePidTaken(async () => {
      const tree = await startTree('reaper', 1); // the root reaps: the child really goes away
      const child = tree.pids[1] as number;
      const fd = openStatHandle(child);
      let impostor: ChildProcess | undefined;
      try {
        assert.equal(typeof fd, 'number');
        const before = readStatHandle(fd as number);
        assert.equal(before?.pid, child);
        impostor = recyclePid(child); // kills the child, starts a sleep with the same pid
        assert.equal(readProcessStat(child)?.comm, 'sleep', 'the pid names another process now');
        assert.equal(readStatHandle(fd as number), null, 'the kept file still names the one that exited');
      } finally {
        if (typeof fd === 'number') closeSync(fd);
        if (impostor !== undefined) killGroupOf(impostor);
        tree.kill();
      }
    });
  });

  test('bindPidfd keeps one beside the pidfd; releaseIdentity closes both', async (t) => {
    const calls = nativeOrSkip(t);
    if (calls === null) return;
    const tree = await startTree('tree', 1, 1);
    const identity = identityOf(tree.root);
    assert.equal(bindPidfd(identity, calls), true);
    const { pidfd, statFd } = identity;
    assert.ok(pidfd !== undefined && statFd !== undefined);
    assert.equal(readIdentifiedStat(identity)?.pid, tree.root);
    assert.match(readlinkSync(`/proc/self/fd/${statFd}`), new RegExp(`^/proc/${tree.root}/stat$`));
    releaseIdentity(identity);
    assert.equal(identity.statFd, undefined);
    for (const fd of [pidfd, statFd]) {
      let target = '';
      try {
        target = readlinkSync(`/proc/self/fd/${fd}`);
      } catch {
        // closed
      }
      assert.ok(!target.startsWith(`/proc/${tree.root}`) && !target.includes('pidfd'), `fd ${fd}: ${target}`);
    }
    tree.kill();
  });
});

describe('KeptStatFiles (the stat files a discovery opened, until binding)', () => {
  /** This process's descriptors open on /proc/<pid>/stat of one of `pids`. */
  const statFilesOpen = (pids: number[]) =>
    readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return pids.some((pid) => readlinkSync(`/proc/self/fd/${fd}`) === `/proc/${pid}/stat`);
      } catch {
        return false;
      }
    }).length;

  test('keeps what was read, hands one over with take(), closes the rest', async () => {
    const tree = await startTree('tree', 3, 1);
    const kept = new KeptStatFiles();
    for (const pid of tree.pids) assert.equal(kept.read(pid)?.pid, pid);
    assert.equal(kept.read(unusedPid()), null, 'a pid nobody has');
    assert.equal(statFilesOpen(tree.pids), 3);
    kept.read(tree.root); // read again: the newer file replaces the older
    assert.equal(statFilesOpen(tree.pids), 3);
    const taken = kept.take(tree.root) as number;
    assert.equal(readStatHandle(taken)?.pid, tree.root);
    assert.equal(kept.take(tree.root), undefined, 'taken once');
    kept.closeRest();
    assert.equal(statFilesOpen(tree.pids), 1, 'only the one taken');
    closeSync(taken);
    assert.equal(statFilesOpen(tree.pids), 0);
    tree.kill();
  });
});
