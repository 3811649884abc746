/**
 * Overlapping holds: a hold is known machine-wide, and a second hold of a process a live hold
 * of another process holds is refused (ALREADY_HELD, naming that hold), leaving everything as
 * it was. A claim is believed only from root or from the owner of the process it names.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, test } from 'node:test';
import { FreezeError } from '../../src/base/errors.js';
import { freezeTree } from '../../src/freeze.js';
import { readProcessStat } from '../../src/kernel/procfs.js';
import {
  allStopped,
  cleanupTrees,
  eventually,
  freezeChildScript,
  NOBODY,
  noneStopped,
  only,
  parseEvents,
  requireRoot,
  runCli,
  startFakeHolder,
  startTree,
} from '../helpers/index.js';

const T = { timeout: 60_000 };
const started: { kill: () => void }[] = [];

after(async () => {
  for (const child of started) child.kill();
  assert.deepEqual(await cleanupTrees(), [], 'no process left behind');
});

test('a second hold of a held subtree is refused, naming the hold; nothing else is stopped', T, async () => {
  const tree = await startTree('tree', 4, 1);
  const [root, child] = tree.pids as [number, number];
  const others = tree.pids.filter((pid) => pid !== child);
  const detached = await runCli(['freeze', String(child), '--detach', '--max-hold', '60s', '--json']);
  assert.equal(detached.code, 0, detached.stderr);
  const { hold, holder } = only(parseEvents(detached.stdout), 'frozen') as unknown as {
    hold: string;
    holder: number;
  };
  started.push({ kill: () => process.kill(holder, 'SIGTERM') });
  assert.ok(allStopped([child]), 'the first hold holds its subtree');

  const second = await runCli(['freeze', String(root), '--for', '5s', '--json']);
  assert.equal(second.code, 1, second.stderr);
  const error = only(parseEvents(second.stdout), 'error');
  assert.equal(error.code, 'ALREADY_HELD');
  assert.deepEqual(error.pids, [child]);
  assert.match(
    second.stderr,
    new RegExp(
      `^treefreeze: process ${child} \\(treefix\\) is already held by another treefreeze hold \\(hold ${hold}, holder pid ${holder}\\)`,
    ),
  );
  assert.ok(noneStopped(others), 'the refused freeze left the rest running');
  assert.ok(allStopped([child]), 'and the first hold intact');

  // The library is refused the same way; the caller's own holds never refuse each other.
  await assert.rejects(
    freezeTree(root),
    (e: unknown) => e instanceof FreezeError && e.code === 'ALREADY_HELD',
  );
  assert.ok(noneStopped(others));
  const thawed = await runCli(['thaw', hold]);
  assert.equal(thawed.code, 0, thawed.stderr);
  const mine = await freezeTree(root);
  const nested = await freezeTree(child); // this process's own hold: not refused
  await nested.thaw();
  await mine.thaw();
  assert.ok(await eventually(() => noneStopped(tree.pids), 5000));
  tree.kill();
});

test('a library hold in another process refuses a freeze of its tree', T, async () => {
  const tree = await startTree('tree', 3, 2);
  const holder = spawn(process.execPath, [freezeChildScript(), 'hold', String(tree.root), '{}'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  started.push({ kill: () => holder.kill('SIGKILL') });
  let out = '';
  holder.stdout.on('data', (data) => {
    out += data;
  });
  assert.ok(await eventually(() => out.includes('"frozen"'), 15_000), 'the other process holds');
  await assert.rejects(freezeTree(tree.root), (error: unknown) => {
    assert.ok(error instanceof FreezeError && error.code === 'ALREADY_HELD', String(error));
    assert.match(error.message, new RegExp(`holder pid ${holder.pid}\\)`));
    assert.deepEqual([...error.pids].sort(), [...tree.pids].sort());
    return true;
  });
  holder.kill('SIGKILL'); // its watchdogs resume the tree
  assert.ok(await eventually(() => noneStopped(tree.pids), 5000));
  const free = await freezeTree(tree.root); // no hold left: a freeze goes through
  await free.thaw();
  tree.kill();
});

test("another user's claim is believed for their own processes only", T, async (t) => {
  if (!requireRoot(t, 'needs root to run a claim as another user')) return;
  const tree = await startTree('tree', 2, 1); // root's
  for (const pid of tree.pids) process.kill(pid, 'SIGSTOP'); // found stopped: the freeze asks
  // And a process of nobody's own, which nobody could hold.
  const theirs = spawn('sleep', ['60'], { uid: NOBODY, gid: NOBODY, detached: true, stdio: 'ignore' });
  started.push({ kill: () => theirs.kill('SIGKILL') });
  const theirPid = theirs.pid as number;
  assert.ok(await eventually(() => readProcessStat(theirPid)?.comm === 'sleep', 5000));
  process.kill(theirPid, 'SIGSTOP');
  const claimed = [...tree.pids, theirPid].map((pid) => [pid, readProcessStat(pid)?.startTime]);
  const fake = await startFakeHolder(NOBODY, '\0treefreeze-hold/999999/1', { label: 'fake', held: claimed });
  started.push(fake);
  const frozen = await freezeTree(tree.root); // nobody cannot hold root's processes: not believed
  await frozen.thaw();
  await assert.rejects(freezeTree(theirPid), (error: unknown) => {
    assert.ok(error instanceof FreezeError && error.code === 'ALREADY_HELD', String(error));
    assert.match(error.message, /\(fake, holder pid \d+\)/);
    return true;
  });
  fake.kill();
  theirs.kill('SIGKILL');
  for (const pid of tree.pids) process.kill(pid, 'SIGCONT');
  tree.kill();
});
