/**
 * resolveTargets and the command line's targets, against real processes, a real listening
 * socket and real cgroups laid out as systemd and container engines lay them out.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { relative } from 'node:path';
import { after, describe, test } from 'node:test';
import { FreezeError } from '../../src/base/errors.js';
import { findCgroupMounts } from '../../src/kernel/cgroupfs.js';
import { resolveTargets } from '../../src/tree/targets.js';
import {
  allStopped,
  cleanupTrees,
  eventually,
  inCI,
  isRoot,
  noneStopped,
  only,
  parseEvents,
  runCli,
  startCli,
  startTree,
  TestCgroup,
} from '../helpers/index.js';

const T = { timeout: 60_000 };
const servers: ChildProcess[] = [];

after(async () => {
  for (const server of servers) server.kill('SIGKILL');
  for (const cgroup of [...TestCgroup.made].reverse()) await cgroup.remove();
  for (const child of TestCgroup.spawned) if (child.pid) child.kill('SIGKILL');
  assert.deepEqual(
    TestCgroup.made.filter((cgroup) => existsSync(cgroup.path)).map((cgroup) => cgroup.path),
    [],
    'no cgroup left behind',
  );
  assert.deepEqual(await cleanupTrees(), [], 'no process left behind');
});

/** A name no other process on the machine has (comm holds 15 bytes). */
const uniqueName = (tag: string) => `tf${tag}${process.pid % 100_000}`.slice(0, 15);

/** A separate process listening on a loopback port (TCP, or UDP); resolves with it and the port. */
async function startServer(protocol: 'tcp' | 'udp'): Promise<{ pid: number; port: number }> {
  const script =
    protocol === 'tcp'
      ? "const s=require('net').createServer().listen(0,'127.0.0.1',()=>console.log(s.address().port))"
      : "const s=require('dgram').createSocket('udp4');s.bind(0,'127.0.0.1',()=>console.log(s.address().port))";
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  servers.push(child);
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (data) => resolve(Number(String(data).trim())));
    child.once('exit', () => reject(new Error('the server exited')));
  });
  return { pid: child.pid as number, port };
}

const rejectsWith = (code: string, message: RegExp) => (error: unknown) => {
  assert.ok(error instanceof FreezeError, String(error));
  assert.equal(error.code, code);
  assert.match(error.message, message);
  return true;
};

describe('resolveTargets', () => {
  test('a pid is itself; a name resolves to the root of the tree it names', T, async () => {
    const name = uniqueName('name');
    const tree = await startTree('comm', name); // the root and its child both carry the name
    assert.deepEqual(
      resolveTargets([String(tree.root)]).map((t) => [t.kind, t.root]),
      [['pid', tree.root]],
    );
    const [byName] = resolveTargets([name]);
    assert.equal(byName?.kind, 'name');
    assert.equal(byName?.root, tree.root, 'the child matches too, but is part of the root’s tree');
    assert.match(byName?.label ?? '', new RegExp(`${name} \\(pid ${tree.root}\\)`));
    tree.kill();
  });

  test('a name matching separate trees is AMBIGUOUS_TARGET listing them, unless all', T, async () => {
    const name = uniqueName('amb');
    const [one, two] = [await startTree('comm', name), await startTree('comm', name)];
    assert.throws(
      () => resolveTargets([name]),
      (error: unknown) => {
        rejectsWith('AMBIGUOUS_TARGET', /matches 2 separate trees.*--all/)(error);
        assert.deepEqual([...(error as FreezeError).pids].sort(), [one.root, two.root].sort());
        return true;
      },
    );
    const all = resolveTargets([name], { all: true });
    assert.deepEqual(all.map((t) => t.root).sort(), [one.root, two.root].sort());
    one.kill();
    two.kill();
  });

  test('--cmd matches the full command line; this process and its ancestors never match', T, async () => {
    const marker = `tfcmd-${process.pid}-marker`;
    const child = spawn('sh', ['-c', `sleep 30; : ${marker}`], { stdio: 'ignore', detached: true });
    servers.push(child);
    assert.ok(await eventually(() => existsSync(`/proc/${child.pid}`)));
    const [found] = resolveTargets([marker], { cmd: true });
    assert.equal(
      found?.root,
      child.pid,
      'the shell whose command line carries it (its sleep is in its tree)',
    );
    // Our own command line (and the test runner's, our parent's) carries this file's name:
    // neither is ever a candidate (another copy of the suite may be, which is fine).
    const ours = new Set([process.pid, process.ppid]);
    try {
      const found = resolveTargets([String(process.argv[1])], { cmd: true, all: true });
      assert.ok(!found.some((t) => ours.has(t.root as number)), 'never this process or its parent');
    } catch (error) {
      assert.equal((error as FreezeError).code, 'NO_MATCH');
    }
    child.kill('SIGKILL');
  });

  test('no match, bad forms: NO_MATCH or INVALID_ARGUMENT, with what to do', () => {
    assert.throws(() => resolveTargets([uniqueName('none')]), rejectsWith('NO_MATCH', /no process is named/));
    assert.throws(() => resolveTargets([':1']), rejectsWith('NO_MATCH', /nothing listens on port 1/));
    assert.throws(() => resolveTargets([':70000']), rejectsWith('INVALID_ARGUMENT', /1 to 65535/));
    assert.throws(() => resolveTargets([]), rejectsWith('INVALID_ARGUMENT', /at least one target/));
    assert.throws(() => resolveTargets(['unit:']), rejectsWith('INVALID_ARGUMENT', /unit name/));
    assert.throws(() => resolveTargets(['999999999']), rejectsWith('NO_SUCH_PROCESS', /no process with pid/));
  });

  for (const protocol of ['tcp', 'udp'] as const) {
    test(`:PORT names the process listening on it (${protocol})`, T, async () => {
      const server = await startServer(protocol);
      const [target] = resolveTargets([`:${server.port}`]);
      assert.equal(target?.kind, 'port');
      assert.equal(target?.root, server.pid);
    });
  }
});

describe('command-line targets', () => {
  test('name:NAME reaches any name: one that looks like a number, an option or another form', T, async () => {
    const tag = String(process.pid % 100_000);
    // Digits first, a dash first, all digits, and one that reads as a port.
    const names = [`7z${tag}`, `-x${tag}`, `${tag}${tag}`.slice(0, 15), `:${tag}`];
    for (const name of names) {
      const tree = await startTree('comm', name);
      const [target] = resolveTargets([`name:${name}`]);
      assert.deepEqual([target?.kind, target?.root], ['name', tree.root], name);
      const cli = startCli(['freeze', `name:${name}`, '--for', '10s', '--json']);
      assert.ok(await eventually(() => cli.stdout().includes('"frozen"'), 15_000), cli.stderr());
      assert.ok(allStopped(tree.pids), `${name}: frozen`);
      cli.child.kill('SIGTERM');
      assert.equal((await cli.done).code, 0);
      assert.ok(noneStopped(tree.pids), `${name}: thawed`);
      tree.kill();
    }
    // Without the prefix, a digit-led name is a bad pid, and the error says how to name it.
    const bare = await runCli(['freeze', `7z${tag}`]);
    assert.equal(bare.code, 2);
    assert.match(bare.stderr, new RegExp(`is not a process id .*; a process with that name: name:7z${tag}`));
    assert.throws(() => resolveTargets(['name:']), rejectsWith('INVALID_ARGUMENT', /name:NAME/));
  });

  test('a single-value option given twice is a usage error; --exclude may repeat', T, async () => {
    const tree = await startTree('tree', 2, 1);
    for (const args of [
      ['freeze', String(tree.root), '--for', '1s', '--for', '2s'],
      ['freeze', String(tree.root), '--timeout=1s', '--timeout', '5s'],
      ['run', String(tree.root), '--max-hold', '1s', '--max-hold', '1s', '--', 'true'],
      ['freeze', '--cgroup', '/a', '--cgroup', '/b'],
    ]) {
      const result = await runCli(args);
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, /^treefreeze: option '--[a-z-]+' given twice: give it once\n/);
      assert.ok(noneStopped(tree.pids), 'nothing stopped');
    }
    const excluded = await runCli([
      'freeze',
      String(tree.root),
      '--exclude',
      '1',
      '--exclude',
      '2',
      '--dry-run',
    ]);
    assert.equal(excluded.code, 0, excluded.stderr);
    tree.kill();
  });

  test('freeze by name and by :PORT, several at once; --dry-run changes nothing', T, async () => {
    const name = uniqueName('cli');
    const tree = await startTree('comm', name);
    const server = await startServer('tcp');
    const dry = await runCli(['freeze', name, `:${server.port}`, '--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, new RegExp(`would freeze ${name} \\(pid ${tree.root}\\): 2 processes`));
    assert.match(dry.stdout, new RegExp(`would freeze node \\(pid ${server.pid}\\): 1 process`));
    assert.ok(noneStopped([...tree.pids, server.pid]), 'a dry run stops nothing');
    const dryJson = await runCli(['freeze', name, '--dry-run', '--json']);
    const event = only(parseEvents(dryJson.stdout), 'dry-run');
    assert.deepEqual((event.targets as { pids: number[] }[])[0]?.pids.sort(), [...tree.pids].sort());

    const cli = startCli(['freeze', name, `:${server.port}`, '--for', '10s', '--json']);
    assert.ok(await eventually(() => cli.stdout().includes('"frozen"'), 15_000), cli.stderr());
    const frozen = only(parseEvents(cli.stdout()), 'frozen');
    assert.deepEqual(
      (frozen.targets as { kind: string }[]).map((t) => t.kind),
      ['name', 'port'],
    );
    assert.ok(allStopped([...tree.pids, server.pid]), 'both targets are frozen');
    cli.child.kill('SIGTERM');
    const { code } = await cli.done;
    assert.equal(code, 0);
    assert.ok(noneStopped([...tree.pids, server.pid]), 'both are thawed');
    tree.kill();
  });

  test('an ambiguous name fails with exit 1 listing the trees; --all freezes them all', T, async () => {
    const name = uniqueName('amc');
    const [one, two] = [await startTree('comm', name), await startTree('comm', name)];
    const refused = await runCli(['freeze', name, '--for', '200ms']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, new RegExp(`matches 2 separate trees .*\\(pid ${one.root}\\).*--all`));
    assert.ok(noneStopped([...one.pids, ...two.pids]));
    const all = await runCli(['thaw', name, '--all', '--dry-run']);
    assert.equal(all.code, 0, all.stderr);
    const tree = await runCli(['tree', name, '--all']);
    assert.equal(tree.code, 0, tree.stderr);
    for (const pid of [...one.pids, ...two.pids]) assert.match(tree.stdout, new RegExp(`\\b${pid}\\b`));
    one.kill();
    two.kill();
  });
});

describe('units, containers and cgroup paths (real cgroups)', () => {
  const mount = findCgroupMounts().v2;
  const usable = (t: { skip: (message: string) => void }) => {
    const reason = !isRoot ? 'needs root' : mount === undefined ? 'no cgroup v2 mount' : '';
    if (reason === '') return true;
    assert.ok(!inCI, `CI must run this test: ${reason}`);
    t.skip(reason);
    return false;
  };

  test(
    'unit:NAME and container:ID resolve to their cgroup and freeze with the kernel freezer',
    T,
    async (t) => {
      if (!usable(t)) return;
      const slice = new TestCgroup(mount as string, false, `tftest-${process.pid}.slice`);
      const unitName = `tfunit-${process.pid}`;
      const unit = new TestCgroup(slice.path, false, `${unitName}.service`);
      const id = `${process.pid.toString(16).padStart(8, '0')}${'ab'.repeat(28)}`;
      const container = new TestCgroup(slice.path, false, `docker-${id}.scope`);
      const inUnit = await unit.start('tree', 3, 1);
      const inContainer = await container.start('tree', 2, 1);

      const [byUnit] = resolveTargets([`unit:${unitName}`]);
      assert.equal(byUnit?.cgroup, unit.path);
      assert.deepEqual(byUnit?.pids.sort(), [...inUnit.pids].sort());
      const [byId] = resolveTargets([`container:${id.slice(0, 12)}`]);
      assert.equal(byId?.cgroup, container.path);
      assert.deepEqual(byId?.pids.sort(), [...inContainer.pids].sort());
      const [byPath] = resolveTargets([`/${relative(mount as string, unit.path)}`]);
      assert.equal(byPath?.cgroup, unit.path);
      assert.throws(() => resolveTargets([`unit:${unitName}x`]), rejectsWith('NO_MATCH', /no running unit/));

      const cli = startCli([
        'freeze',
        `unit:${unitName}`,
        `container:${id.slice(0, 12)}`,
        '--for',
        '10s',
        '--json',
      ]);
      assert.ok(await eventually(() => cli.stdout().includes('"frozen"'), 15_000), cli.stderr());
      assert.ok(unit.frozen() && container.frozen(), 'both cgroups frozen by the kernel freezer');
      const frozen = only(parseEvents(cli.stdout()), 'frozen');
      assert.equal(frozen.backend, 'cgroup-v2');
      cli.child.kill('SIGTERM');
      assert.equal((await cli.done).code, 0);
      assert.ok(!unit.frozen() && !container.frozen(), 'both thawed');
      await unit.remove();
      await container.remove();
      await slice.remove();
    },
  );

  test('a unit of the same name under two slices is ambiguous', T, async (t) => {
    if (!usable(t)) return;
    const name = `tfdup-${process.pid}`;
    const slices = [0, 1].map(
      (i) => new TestCgroup(mount as string, false, `tftest-${process.pid}-${i}.slice`),
    );
    const units = slices.map((slice) => new TestCgroup(slice.path, false, `${name}.service`));
    for (const unit of units) await unit.start('tree', 1, 1);
    assert.throws(
      () => resolveTargets([`unit:${name}`]),
      rejectsWith('AMBIGUOUS_TARGET', /matches 2 cgroups/),
    );
    assert.equal(resolveTargets([`unit:${name}`], { all: true }).length, 2);
    for (const cgroup of [...units, ...slices]) await cgroup.remove();
  });
});
