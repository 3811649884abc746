/** Detached holds, the registry, `status` and `thaw <hold id>`, end to end with the built CLI. */
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { runtimeDirPath } from '../../src/cli/runtime-dir.js';
import { findCgroupMounts } from '../../src/kernel/cgroupfs.js';
import {
  allStopped,
  cleanupTrees,
  eventually,
  holdFile,
  inCI,
  isRoot,
  LOAD_DELAY_MS,
  noneStopped,
  only,
  parseEvents,
  runCli,
  runCliAlone,
  runningHolders,
  sleep,
  startCli,
  startTree,
  TestCgroup,
  testRuntimeDir,
} from '../helpers/index.js';

const T = { timeout: 60_000 };
/** Holders this file started: ended whatever an assertion does. */
const holders = new Set<number>();

after(async () => {
  for (const pid of runningHolders(holders)) process.kill(pid, 'SIGTERM');
  assert.ok(await eventually(() => runningHolders(holders).length === 0, 10_000), 'no holder left');
  for (const cgroup of [...TestCgroup.made].reverse()) await cgroup.remove();
  assert.deepEqual(await cleanupTrees(), [], 'no process left behind');
});

/** freeze --detach --json: the frozen event, with the hold id and the holder. */
async function detach(args: string[]) {
  const result = await runCli(['freeze', ...args, '--detach', '--json']);
  assert.equal(result.code, 0, result.stderr);
  const event = only(parseEvents(result.stdout), 'frozen');
  holders.add(event.holder as number);
  return { id: event.hold as string, holder: event.holder as number, event };
}

async function statusJson() {
  const result = await runCli(['status', '--json']);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout);
}

test('the registry: TREEFREEZE_RUNTIME_DIR, else /run/treefreeze for root, the user’s own directory for others', () => {
  const saved = process.env.TREEFREEZE_RUNTIME_DIR;
  try {
    process.env.TREEFREEZE_RUNTIME_DIR = '/tmp/elsewhere';
    assert.equal(runtimeDirPath(), '/tmp/elsewhere');
    delete process.env.TREEFREEZE_RUNTIME_DIR;
    const uid = process.geteuid?.() ?? 0;
    const expected = isRoot
      ? '/run/treefreeze'
      : process.env.XDG_RUNTIME_DIR
        ? join(process.env.XDG_RUNTIME_DIR, 'treefreeze')
        : undefined;
    if (expected !== undefined) assert.equal(runtimeDirPath(), expected);
    else assert.match(runtimeDirPath(), new RegExp(`/treefreeze(-${uid})?$`));
  } finally {
    process.env.TREEFREEZE_RUNTIME_DIR = saved;
  }
});

describe('--until-stdin-closes (a hold tied to a controller’s connection)', () => {
  for (const ending of ['a line "thaw"', 'EOF'] as const) {
    test(`holds while stdin is open; thaws at ${ending}`, T, async () => {
      const tree = await startTree('tree', 3, 1);
      const cli = startCli(
        ['freeze', String(tree.root), '--until-stdin-closes', '--max-hold', '1m', '--json'],
        {
          stdin: 'pipe',
        },
      );
      assert.ok(await eventually(() => cli.stdout().includes('"frozen"'), 15_000), cli.stderr());
      await sleep(300);
      assert.ok(allStopped(tree.pids), 'held while stdin stays open');
      if (ending === 'EOF') cli.child.stdin?.end();
      else cli.child.stdin?.write('freeze\nthaw\n'); // a freeze of a held tree changes nothing
      const result = await cli.done;
      assert.equal(result.code, 0, result.stderr);
      assert.equal(only(parseEvents(result.stdout), 'thawed').thawReason, 'stdin');
      assert.ok(noneStopped(tree.pids));
      tree.kill();
    });
  }

  test('the lease still bounds it while stdin stays open', T, async () => {
    const tree = await startTree('tree', 2, 1);
    const cli = startCli(
      ['freeze', String(tree.root), '--until-stdin-closes', '--max-hold', '500ms', '--json'],
      {
        stdin: 'pipe',
      },
    );
    const result = await cli.done;
    assert.equal(result.code, 0, result.stderr);
    assert.equal(only(parseEvents(result.stdout), 'thawed').thawReason, 'lease');
    assert.ok(noneStopped(tree.pids));
    tree.kill();
  });
});

describe('detached holds', () => {
  test(
    'freeze --detach returns frozen; status shows it; thaw <id> ends it and says it stayed intact',
    T,
    async () => {
      const tree = await startTree('tree', 3, 2);
      const { id, holder, event } = await detach([String(tree.root), '--max-hold', '2m']);
      assert.match(id, /^tf-[0-9a-f]{6}$/);
      assert.equal((event.processes as unknown[]).length, 3);
      assert.ok(allStopped(tree.pids), 'still frozen after the command returned');
      // In this test file's own registry (TREEFREEZE_RUNTIME_DIR), not the machine's.
      assert.ok(holdFile(id).startsWith(testRuntimeDir) && existsSync(holdFile(id)), 'its entry');
      assert.ok(!existsSync(join('/run/treefreeze', `${id}.json`)), 'not in the default directory');
      const status = await statusJson();
      const mine = status.holds.find((hold: { id: string }) => hold.id === id);
      assert.equal(mine?.state, 'holding');
      assert.equal(mine?.holder.pid, holder);
      assert.deepEqual([...mine.pids].sort(), [...tree.pids].sort());
      assert.ok(mine.leaseEndsAt > Date.now(), 'the lease is shown');
      assert.ok(
        !status.stoppedTrees.some((t: { pids: number[] }) => t.pids.some((pid) => tree.pids.includes(pid))),
        'what a hold owns is not listed as stray',
      );
      const human = await runCli(['status']);
      assert.match(
        human.stdout,
        new RegExp(
          `${id} .* 3 processes \\(all stopped\\), signal, .*lease .* left, intact; .*treefreeze thaw ${id}`,
        ),
      );

      const thawed = await runCli(['thaw', id, '--json']);
      assert.equal(thawed.code, 0, thawed.stderr);
      const outcome = JSON.parse(thawed.stdout);
      assert.equal(outcome.id, id);
      assert.equal(outcome.intact, true);
      assert.ok(outcome.heldMs > 0);
      assert.deepEqual(
        outcome.seen,
        { stopped: 0, running: 3, gone: 0 },
        'as /proc shows them after the answer',
      );
      assert.ok(noneStopped(tree.pids), 'thaw <id> resumed the tree');
      assert.ok(await eventually(() => runningHolders([holder]).length === 0, 10_000), 'the holder exited');
      assert.ok(!existsSync(holdFile(id)), 'its entry is gone');
      const again = await runCli(['thaw', id]);
      assert.equal(again.code, 1);
      assert.match(again.stderr, new RegExp(`no hold ${id}`));
      tree.kill();
    },
  );

  test('thaw <id> of a run: its command is asked to end (SIGTERM), then the tree is thawed', T, async () => {
    const tree = await startTree('tree', 2, 1);
    const cli = startCli(['run', String(tree.root), '--json', '--json-fd', '3', '--', 'sleep', '60']);
    const frozenEvent = () =>
      cli
        .fd3()
        .split('\n')
        .find((line) => line.includes('"frozen"'));
    assert.ok(await eventually(() => frozenEvent() !== undefined, 15_000), cli.stderr());
    const id = JSON.parse(frozenEvent() as string).hold as string;
    assert.ok(allStopped(tree.pids), 'held while the command runs');
    const thawed = await runCli(['thaw', id, '--json']);
    assert.equal(thawed.code, 0, thawed.stderr);
    assert.equal(JSON.parse(thawed.stdout).reason, 'command');
    const result = await cli.done;
    assert.equal(result.code, 143, 'the command ended on SIGTERM (128 + 15)');
    assert.ok(noneStopped(tree.pids), 'thawed');
    tree.kill();
  });

  test('the lease ends a detached hold nobody thaws', T, async () => {
    const tree = await startTree('tree', 2, 1);
    // A lease long enough to outlast this command's own return on a loaded machine (at 600 ms,
    // two copies of the suite at once once found it over before the command had returned).
    const { id, holder } = await detach([String(tree.root), '--max-hold', '3s']);
    assert.ok(allStopped(tree.pids), 'held until the lease ends');
    assert.ok(await eventually(() => noneStopped(tree.pids), 10_000), 'the lease thawed it');
    assert.ok(await eventually(() => runningHolders([holder]).length === 0, 10_000), 'the holder exited');
    assert.ok(!(await statusJson()).holds.some((hold: { id: string }) => hold.id === id), 'status forgot it');
    tree.kill();
  });

  test(
    'thaw <id> says what it sees afterwards: a process stopped before the freeze stays stopped',
    T,
    async () => {
      const tree = await startTree('tree', 3, 1);
      const [, before] = tree.pids as [number, number];
      process.kill(before, 'SIGSTOP');
      assert.ok(await eventually(() => allStopped([before])));
      const { id } = await detach([String(tree.root), '--max-hold', '1m']);
      const thawed = await runCli(['thaw', id]);
      assert.equal(thawed.code, 0, thawed.stderr);
      assert.match(
        thawed.stderr,
        new RegExp(
          `^ended hold ${id} after .*, intact; 1 of its 3 processes still stopped \\(${before}\\): stopped before the freeze`,
        ),
      );
      assert.ok(allStopped([before]) && noneStopped(tree.pids.filter((pid) => pid !== before)));
      process.kill(before, 'SIGCONT');
      tree.kill();
    },
  );

  test('thaw takes a hold id in any case; a malformed one is no hold, not a process name', T, async () => {
    const tree = await startTree('tree', 1, 1);
    const { id } = await detach([String(tree.root), '--max-hold', '1m']);
    const mistyped = await runCli(['thaw', 'tf-zzzzzz']);
    assert.equal(mistyped.code, 1);
    assert.match(
      mistyped.stderr,
      /^treefreeze: no hold tf-zzzzzz: a hold id is tf- and 6 hex digits \(treefreeze status lists/,
    );
    assert.ok(allStopped(tree.pids), 'nothing was thawed');
    const shouted = await runCli(['thaw', id.toUpperCase()]);
    assert.equal(shouted.code, 0, shouted.stderr);
    assert.match(shouted.stderr, new RegExp(`^ended hold ${id} `));
    assert.ok(await eventually(() => noneStopped(tree.pids), 5000));
    tree.kill();
  });

  test("status says where each hold's safety net lives", T, async (t) => {
    if (!isRoot) {
      assert.ok(!inCI, 'CI runs as root');
      t.skip('as root, the watchdogs leave the holder cgroup');
      return;
    }
    const [one, two] = [await startTree('tree', 1, 1), await startTree('tree', 1, 1)];
    const guarded = await detach([String(one.root), '--max-hold', '1m']);
    const bare = await detach([String(two.root), '--max-hold', '1m', '--no-watchdog']);
    const holds = (await statusJson()).holds as { id: string; safetyNet?: string }[];
    assert.equal(holds.find((hold) => hold.id === guarded.id)?.safetyNet, 'outside-cgroup');
    assert.equal(holds.find((hold) => hold.id === bare.id)?.safetyNet, 'none');
    const human = await runCli(['status']);
    assert.match(
      human.stdout,
      new RegExp(`${bare.id} .*; no watchdog: if its holder dies, it stays frozen;`),
    );
    assert.doesNotMatch(human.stdout, new RegExp(`${guarded.id} .*watchdog`));
    for (const { id } of [guarded, bare]) assert.equal((await runCli(['thaw', id])).code, 0);
    one.kill();
    two.kill();
  });

  test(
    'a hold whose whole tree exits ends within a second, detached or not (reason "exited")',
    T,
    async () => {
      // Detached: the holder ends its hold and exits; status no longer lists it.
      const tree = await startTree('tree', 3, 2);
      const { id, holder } = await detach([String(tree.root), '--max-hold', '2m']);
      const killedAt = performance.now();
      tree.kill(); // SIGKILL to its group: stopped processes die too
      assert.ok(await eventually(() => runningHolders([holder]).length === 0, 5000), 'the holder ended');
      const endedMs = performance.now() - killedAt;
      assert.ok(
        !(await statusJson()).holds.some((hold: { id: string }) => hold.id === id),
        'status lists it no more',
      );
      // In the foreground: the thawed event says why, and the command exits 0 at once.
      const other = await startTree('tree', 2, 1);
      const cli = startCli(['freeze', String(other.root), '--for', '2m', '--json']);
      assert.ok(await eventually(() => cli.stdout().includes('"frozen"'), 15_000), cli.stderr());
      other.kill();
      const result = await cli.done;
      assert.equal(result.code, 0, result.stderr);
      const thawed = only(parseEvents(result.stdout), 'thawed');
      assert.equal(thawed.thawReason, 'exited');
      const third = await startTree('tree', 1, 1);
      const human = startCli(['freeze', String(third.root), '--for', '2m']);
      // Once the freeze has resolved (all stopped is not enough: a last rescan may be under way).
      assert.ok(await eventually(() => human.stderr().includes('froze'), 15_000), human.stderr());
      third.kill();
      const ended = await human.done;
      assert.equal(ended.code, 0, ended.stderr);
      assert.match(ended.stderr, /hold ended after .*: every process of the tree exited\n/);
      console.log(`# a detached hold ended ${endedMs.toFixed(0)} ms after its tree was killed`);
      assert.ok(endedMs < 1000 + LOAD_DELAY_MS, `ended within a second: ${endedMs} ms`);
    },
  );

  test('SIGKILL of the holder thaws the tree; status reports the hold stale once', T, async () => {
    const tree = await startTree('tree', 3, 1);
    const { id, holder } = await detach([String(tree.root), '--max-hold', '2m']);
    process.kill(holder, 'SIGKILL');
    assert.ok(await eventually(() => noneStopped(tree.pids), 10_000), 'its watchdog resumed the tree');
    const first = await statusJson();
    const stale = first.holds.find((hold: { id: string }) => hold.id === id);
    assert.equal(stale?.state, 'stale');
    assert.deepEqual(stale.seen, { stopped: 0, running: 3, gone: 0 }, 'as /proc shows them');
    assert.ok(!(await statusJson()).holds.some((hold: { id: string }) => hold.id === id), 'then forgotten');
    const thaw = await runCli(['thaw', id]);
    assert.equal(thaw.code, 1);
    tree.kill();
  });

  test('status says what a dead holder left stopped, from /proc, never that it was resumed', T, async () => {
    const tree = await startTree('tree', 3, 1);
    // No watchdog: nothing resumes the tree when its holder dies (as after a kill of its cgroup).
    const { id, holder } = await detach([String(tree.root), '--max-hold', '2m', '--no-watchdog']);
    process.kill(holder, 'SIGKILL');
    assert.ok(await eventually(() => !existsSync(`/proc/${holder}`), 10_000));
    const status = await runCli(['status']);
    assert.equal(status.code, 0, status.stderr);
    const line = status.stdout.split('\n').find((text) => text.startsWith(id)) ?? '';
    assert.match(line, /its holder \(pid \d+\) is gone; 3 of its 3 processes still stopped/);
    assert.doesNotMatch(line, /resumed|run again/);
    assert.match(status.stdout, new RegExp(`stopped: ${tree.root} .*treefreeze thaw ${tree.root}`));
    assert.ok(allStopped(tree.pids), 'still stopped, as status said');
    const resumed = await runCli(['thaw', String(tree.root)]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.ok(await eventually(() => noneStopped(tree.pids)));
    tree.kill();
  });

  test('a freeze that fails in the holder fails the command; nothing is held', T, async () => {
    const result = await runCliAlone(['freeze', '1', '--detach', '--max-hold', '1m']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /pid 1/);
    assert.equal(result.stdout, '');
  });

  test(
    'status lists stopped trees and frozen cgroups no hold owns, with the command that resumes each',
    T,
    async (t) => {
      const tree = await startTree('tree', 2, 1);
      for (const pid of tree.pids) process.kill(pid, 'SIGSTOP');
      assert.ok(await eventually(() => allStopped(tree.pids)));
      const status = await statusJson();
      const stray = status.stoppedTrees.find((entry: { root: number }) => entry.root === tree.root);
      assert.deepEqual([...(stray?.pids ?? [])].sort(), [...tree.pids].sort());
      assert.equal(stray.resume, `treefreeze thaw ${tree.root}`);
      const resumed = await runCli(stray.resume.split(' ').slice(1));
      assert.equal(resumed.code, 0, resumed.stderr);
      assert.ok(noneStopped(tree.pids), 'the command status gave resumes it');
      tree.kill();

      const mount = findCgroupMounts().v2;
      if (!isRoot || mount === undefined) {
        assert.ok(!inCI, 'CI runs the cgroup part');
        t.diagnostic('frozen cgroups: skipped (needs root and cgroup v2)');
        return;
      }
      const cgroup = new TestCgroup(mount, false);
      await cgroup.start('tree', 1, 1);
      writeFileSync(join(cgroup.path, 'cgroup.freeze'), '1');
      assert.ok(await eventually(() => cgroup.frozen()));
      const withCgroup = await statusJson();
      const name = `/${cgroup.path.slice(mount.length + 1)}`;
      const frozen = withCgroup.frozenCgroups.find((entry: { path: string }) => entry.path === name);
      assert.equal(frozen?.resume, `treefreeze thaw --cgroup ${name}`);
      const thawed = await runCli(frozen.resume.split(' ').slice(1));
      assert.equal(thawed.code, 0, thawed.stderr);
      assert.ok(!cgroup.frozen());
      await cgroup.remove();
    },
  );
});
