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
  sleep,
  startFakeHolder,
  startTree,
} from '../helpers/index.js';

const T = { timeout: 60_000 };
const started: { kill: () => void }[] = [];

after(async () => {
  for (const child of started) {
    try {
      child.kill();
    } catch {
      // already gone
    }
  }
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
  assert.match(
    second.stderr,
    new RegExp(`end it first \\(treefreeze thaw ${hold}, or wait for its lease\\)`),
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

/** A detached CLI hold of `target`; its id and holder. */
async function detachedHold(target: number, ...flags: string[]) {
  const result = await runCli([
    'freeze',
    String(target),
    '--detach',
    '--max-hold',
    '60s',
    '--json',
    ...flags,
  ]);
  assert.equal(result.code, 0, result.stderr);
  const { hold, holder } = only(parseEvents(result.stdout), 'frozen') as unknown as {
    hold: string;
    holder: number;
  };
  started.push({ kill: () => process.kill(holder, 'SIGKILL') });
  return { hold, holder };
}

test(
  'join: a joined process stays stopped until the last hold on it ends, however each ends',
  T,
  async () => {
    const tree = await startTree('tree', 3, 1);
    const endings: [
      string,
      (a: { hold: string; holder: number }, b: { hold: string; holder: number }) => Promise<void>,
    ][] = [
      [
        'first thawed, then the joining hold',
        async (a, b) => {
          await thawById(a.hold);
          await stillHeld(tree.pids, 'the joining hold still holds');
          await thawById(b.hold);
        },
      ],
      [
        'the joining hold thawed, then the first',
        async (a, b) => {
          await thawById(b.hold);
          await stillHeld(tree.pids, 'the first hold still holds');
          await thawById(a.hold);
        },
      ],
      [
        'the first thawed, then the joining holder SIGKILLed',
        async (a, b) => {
          await thawById(a.hold);
          await stillHeld(tree.pids, 'the joining hold still holds');
          process.kill(b.holder, 'SIGKILL'); // the kernel closes its end of the joint pipe
        },
      ],
      [
        'the joining holder SIGKILLed, then the first thawed',
        async (a, b) => {
          process.kill(b.holder, 'SIGKILL');
          await stillHeld(tree.pids, 'the first hold still holds');
          await thawById(a.hold);
        },
      ],
    ];
    for (const [name, end] of endings) {
      const first = await detachedHold(tree.root);
      const joining = await detachedHold(tree.root, '--join');
      await end(first, joining);
      assert.ok(await eventually(() => noneStopped(tree.pids), 5000), `${name}: running once both ended`);
    }
    // The library joins the same way.
    const first = await detachedHold(tree.root);
    const joined = await freezeTree(tree.root, { join: true });
    assert.ok(
      joined.processes.every((p) => p.wasStopped),
      'found held: not its own',
    );
    await thawById(first.hold);
    await stillHeld(tree.pids, 'the library hold still holds');
    await joined.thaw();
    assert.ok(await eventually(() => noneStopped(tree.pids), 5000), 'running once the library hold ended');
    tree.kill();
  },
);

async function thawById(id: string): Promise<void> {
  const result = await runCli(['thaw', id]);
  assert.equal(result.code, 0, result.stderr);
}

async function stillHeld(pids: number[], why: string): Promise<void> {
  await sleep(300); // a resume would have come by now
  assert.ok(allStopped(pids), why);
}

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
