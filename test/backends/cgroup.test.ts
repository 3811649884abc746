import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { FreezeError } from '../../src/base/errors.js';
import { freezeCgroup, freezeTree } from '../../src/freeze.js';
import { findCgroupMounts } from '../../src/kernel/cgroupfs.js';
import {
  cleanupTrees,
  eventually,
  freezeChildScript,
  inCI,
  isRoot,
  only,
  parseEvents,
  runCli,
  sleep,
  stageForOtherUser,
  startTree,
  TestCgroup,
  taskStates,
} from '../helpers/index.js';

const T = { timeout: 60_000 };
const runAs = promisify(execFile);
const mounts = findCgroupMounts();
const scratch = mkdtempSync(join(tmpdir(), 'treefreeze-cgroup-'));
const spawned: ChildProcess[] = [];

/** Skips (with the reason) only outside CI: CI runs as root on a machine with both hierarchies. */
function requireHierarchy(t: { skip: (reason: string) => void }, which: 'v2' | 'v1Freezer'): boolean {
  const reason = !isRoot
    ? 'needs root to create cgroups'
    : mounts[which]
      ? ''
      : `no ${which} hierarchy mounted`;
  if (reason === '') return true;
  // Skipping is allowed where the hierarchy is absent; CI itself always runs as root.
  assert.ok(!(inCI && !isRoot), `CI must run this test as root: ${reason}`);
  t.skip(reason);
  return false;
}

after(async () => {
  try {
    for (const cgroup of TestCgroup.made) await cgroup.remove();
    for (const child of [...spawned, ...TestCgroup.spawned]) if (child.pid) child.kill('SIGKILL');
  } finally {
    rmSync(scratch, { recursive: true, force: true }); // even when a cleanup step throws
  }
  assert.deepEqual(
    TestCgroup.made.filter((cgroup) => existsSync(cgroup.path)).map((cgroup) => cgroup.path),
    [],
    'no cgroup left behind',
  );
  assert.deepEqual(await cleanupTrees(), [], 'no process left behind');
});

/** utime + stime of every process (fields 14 and 15 of stat). */
function cpuTicks(pids: number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
      total += Number(fields[11]) + Number(fields[12]);
    } catch {
      // exited
    }
  }
  return total;
}

function isFreezeError(code: string) {
  return (error: unknown) => {
    assert.ok(error instanceof FreezeError, String(error));
    assert.equal(error.code, code, error.message);
    return true;
  };
}

describe('freezeCgroup (cgroup v2)', () => {
  test('a cgroup freeze that times out says it was thawed only once it is, and it is', T, async (t) => {
    if (!requireHierarchy(t, 'v2')) return;
    const cgroup = new TestCgroup(mounts.v2 as string, false);
    // Many spinning threads: the kernel takes a moment to freeze them all, so the first check
    // (already past the deadline) usually finds the cgroup still freezing. Three single-thread
    // spinners were frozen at once in 10 attempts out of 10 on one CI run, and 4 x 6 threads in
    // 40 out of 40 on an idle machine: 8 x 8.
    await cgroup.start('tree', 8, 8, 'spin');
    let error: unknown;
    let attempts = 0;
    // No watchdog: its start would meet the deadline first (WATCHDOG_FAILED, tested elsewhere).
    for (let attempt = 0; attempt < 40 && !error; attempt++) {
      attempts = attempt + 1;
      try {
        const frozen = await freezeCgroup(cgroup.path, { timeoutMs: 0.001, watchdog: false });
        await frozen.thaw(); // froze at once: try again
      } catch (caught) {
        error = caught;
      }
    }
    console.log(`# the kernel was still freezing at the first check after ${attempts} attempt(s)`);
    assert.ok(error instanceof FreezeError && error.code === 'TIMED_OUT', String(error));
    assert.match(error.message, /; it was thawed$/);
    assert.ok(!cgroup.frozen(), 'and it is thawed');
    assert.equal(readFileSync(join(cgroup.path, 'cgroup.freeze'), 'utf8').trim(), '0');
  });

  test(
    'freezes a worker invisibly (freezeCgroup, and freezeTree by default): no appends while held, no SIGCHLD stop notice; signals by contrast',
    T,
    async (t) => {
      if (!requireHierarchy(t, 'v2')) return;
      const file = join(scratch, 'ticks');
      const tree = await startTree('stopwatch', file);
      const worker = tree.pids[1] as number;
      const notices: string[] = [];
      tree.child.stdout?.on('data', (data: Buffer) =>
        notices.push(...data.toString().split('\n').filter(Boolean)),
      );
      const cgroup = new TestCgroup(mounts.v2 as string, false);
      writeFileSync(join(cgroup.path, 'cgroup.procs'), String(worker));
      assert.ok(await eventually(() => existsSync(file) && statSync(file).size > 0));

      const frozen = await freezeCgroup(cgroup.path);
      assert.equal(frozen.backend, 'cgroup-v2');
      assert.deepEqual(
        frozen.processes.map((p) => p.pid),
        [worker],
      );
      assert.ok(cgroup.frozen());
      const sizeAtFreeze = statSync(file).size;
      await sleep(300);
      assert.equal(statSync(file).size, sizeAtFreeze, 'no append while frozen');
      assert.match(taskStates(worker), /^[SD]$/, 'a cgroup-frozen task reads S or D, not T');
      await frozen.thaw();
      assert.ok(await eventually(() => statSync(file).size > sizeAtFreeze, 10_000), 'appends resume');
      await sleep(50);
      assert.equal(notices.length, 0, `the parent saw no stop notice: ${notices.join()}`);

      // freezeTree's default on a tree that is exactly its cgroup: the kernel's freezer, unseen.
      const byDefault = await freezeTree(worker);
      assert.equal(byDefault.backend, 'cgroup-v2', 'the default chose the cgroup freezer');
      assert.ok(cgroup.frozen());
      await sleep(100);
      await byDefault.thaw();
      assert.ok(!cgroup.frozen());
      await sleep(50);
      assert.equal(notices.length, 0, `the parent saw no stop notice: ${notices.join()}`);

      // The signal backend on the same worker: its parent is told.
      const stopped = await freezeTree(worker, { backend: 'signal' });
      assert.equal(stopped.backend, 'signal');
      // Held until the parent's waitid() has collected the stop: a stop continued before the
      // parent looks is reported as "continued" only.
      assert.ok(
        await eventually(() => notices.includes('stopped'), 10_000),
        `stop notice: ${notices.join()}`,
      );
      await stopped.thaw();
      assert.ok(await eventually(() => notices.includes('continued'), 10_000), notices.join());
      tree.kill();
    },
  );

  test('a tree that keeps forking inside the cgroup is frozen completely', T, async (t) => {
    if (!requireHierarchy(t, 'v2')) return;
    const cgroup = new TestCgroup(mounts.v2 as string, false);
    await cgroup.start('forkstorm', 4000, 15_000);
    await sleep(100);
    const frozen = await freezeCgroup(cgroup.path, { timeoutMs: 10_000 });
    const members = cgroup.pids();
    const ticks = cpuTicks(members);
    await sleep(300);
    assert.deepEqual(cgroup.pids(), members, 'no process was born or died while frozen');
    assert.equal(cpuTicks(members), ticks, 'no task used CPU while frozen');
    console.log(
      `# forkstorm cgroup: ${members.length} processes frozen in ${frozen.durationMs.toFixed(1)} ms`,
    );
    await frozen.thaw();
    assert.ok(await eventually(() => !cgroup.frozen()));
  });

  test('the freezer SIGKILLed while holding a cgroup: the watchdog thaws it', T, async (t) => {
    if (!requireHierarchy(t, 'v2')) return;
    const cgroup = new TestCgroup(mounts.v2 as string, false);
    await cgroup.start('tree', 3, 2);
    const freezer = spawn(process.execPath, [freezeChildScript(), 'hold-cgroup', cgroup.path], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    spawned.push(freezer);
    let out = '';
    freezer.stdout.on('data', (data) => {
      out += data;
    });
    assert.ok(await eventually(() => out.includes('"frozen":true'), 15_000), 'frozen by the child');
    assert.ok(cgroup.frozen());
    const killedAt = performance.now();
    freezer.kill('SIGKILL');
    assert.ok(await eventually(() => !cgroup.frozen(), 10_000), 'thawed by the watchdog');
    console.log(
      `# cgroup thawed ${(performance.now() - killedAt).toFixed(1)} ms after the freezer was SIGKILLed`,
    );
  });

  test('maxHoldMs thaws a cgroup by itself', T, async (t) => {
    if (!requireHierarchy(t, 'v2')) return;
    const cgroup = new TestCgroup(mounts.v2 as string, false);
    await cgroup.start('tree', 2, 1);
    const frozen = await freezeCgroup(cgroup.path, { maxHoldMs: 200 });
    assert.ok(cgroup.frozen());
    assert.equal(await frozen.thawed, 'lease');
    assert.ok(await eventually(() => !cgroup.frozen(), 10_000));
  });

  test(
    'a cgroup frozen by another freezer is refused (ALREADY_FROZEN), or joined and left frozen',
    T,
    async (t) => {
      if (!requireHierarchy(t, 'v2')) return;
      const cgroup = new TestCgroup(mounts.v2 as string, false);
      await cgroup.start('tree', 2, 1);
      writeFileSync(join(cgroup.path, 'cgroup.freeze'), '1');
      assert.ok(await eventually(() => cgroup.frozen()));
      await assert.rejects(freezeCgroup(cgroup.path), (error: unknown) => {
        assert.ok(error instanceof FreezeError && error.code === 'ALREADY_FROZEN', String(error));
        assert.match(
          error.message,
          /is already frozen \(cgroup\.freeze, likely by someone writing its freezer by hand/,
        );
        return true;
      });
      assert.ok(cgroup.frozen(), 'the refusal changed nothing');
      const frozen = await freezeCgroup(cgroup.path, { join: true });
      assert.ok(frozen.processes.every((p) => p.wasStopped));
      await frozen.thaw();
      await sleep(50);
      assert.ok(cgroup.frozen(), 'still frozen');
      assert.equal(readFileSync(join(cgroup.path, 'cgroup.freeze'), 'utf8').trim(), '1');
    },
  );

  test('thaw of a cgroup removed while frozen resolves (nothing is left to thaw)', T, async (t) => {
    if (!requireHierarchy(t, 'v2')) return;
    const cgroup = new TestCgroup(mounts.v2 as string, false);
    await cgroup.start('tree', 2, 1);
    const frozen = await freezeCgroup(cgroup.path);
    for (const pid of cgroup.pids()) process.kill(pid, 'SIGKILL'); // frozen v2 tasks still die
    assert.ok(await eventually(() => cgroup.pids().length === 0, 10_000));
    rmdirSync(cgroup.path);
    await frozen.thaw();
    assert.equal(frozen.frozen, false);
  });

  test(
    'a cgroup hold ends by itself ("exited") once its processes are gone, not when empty from the start',
    T,
    async (t) => {
      if (!requireHierarchy(t, 'v2')) return;
      const empty = new TestCgroup(mounts.v2 as string, false);
      const waiting = await freezeCgroup(empty.path);
      assert.equal(
        await Promise.race([waiting.thawed, sleep(500).then(() => 'held')]),
        'held',
        'empty from the start: held',
      );
      await waiting.thaw();
      const cgroup = new TestCgroup(mounts.v2 as string, false);
      await cgroup.start('tree', 3, 1);
      const frozen = await freezeCgroup(cgroup.path);
      for (const pid of cgroup.pids()) process.kill(pid, 'SIGKILL');
      assert.equal(await Promise.race([frozen.thawed, sleep(5000).then(() => 'still held')]), 'exited');
      assert.ok(!cgroup.frozen(), 'the empty cgroup was thawed');
    },
  );

  test('bad paths give clear errors', async (t) => {
    if (!requireHierarchy(t, 'v2')) return;
    await assert.rejects(
      freezeCgroup('/sys/fs/cgroup/unified/no-such-treefreeze-cgroup'),
      isFreezeError('NO_SUCH_CGROUP'),
    );
    await assert.rejects(freezeCgroup('no-such-treefreeze-cgroup'), isFreezeError('NO_SUCH_CGROUP'));
    await assert.rejects(freezeCgroup(scratch), isFreezeError('NOT_A_CGROUP'));
    await assert.rejects(freezeCgroup(mounts.v2 as string), (error: unknown) => {
      isFreezeError('NO_FREEZER')(error);
      assert.match((error as Error).message, /root of the cgroup v2 hierarchy/);
      return true;
    });
    await assert.rejects(freezeCgroup(''), isFreezeError('INVALID_ARGUMENT'));
    // "/" is the hierarchy's root, as /proc/<pid>/cgroup prints it: not the file system's root.
    await assert.rejects(freezeCgroup('/'), (error: unknown) => {
      isFreezeError('NO_FREEZER')(error);
      assert.match((error as Error).message, /root of the cgroup v2 hierarchy/);
      return true;
    });
  });

  test('thaw <pid> of a tree held by a frozen cgroup names the cgroup to thaw instead', T, async (t) => {
    if (!requireHierarchy(t, 'v2')) return;
    const cgroup = new TestCgroup(mounts.v2 as string, false);
    const { root } = await cgroup.start('tree', 2, 1);
    const frozen = await freezeCgroup(cgroup.path);
    try {
      const name = `/${basename(cgroup.path)}`;
      const human = await runCli(['thaw', String(root)]);
      assert.equal(human.code, 0);
      assert.equal(
        human.stderr,
        `nothing to resume: no process in the tree of ${root} is stopped; it is in frozen cgroup ${name}: treefreeze thaw --cgroup ${name}\n`,
      );
      const json = JSON.parse((await runCli(['thaw', String(root), '--json'])).stdout);
      assert.equal(json.frozenCgroup, name);
      assert.ok(cgroup.frozen(), 'nothing was thawed');
    } finally {
      await frozen.thaw();
    }
  });

  test(
    'a path as /proc/<pid>/cgroup and `tree --cgroups` print it ("/name") is found in its hierarchy',
    T,
    async (t) => {
      if (!requireHierarchy(t, 'v2') || !requireHierarchy(t, 'v1Freezer')) return;
      const v2 = new TestCgroup(mounts.v2 as string, false);
      const { root } = await v2.start('tree', 2, 1);
      const printed = JSON.parse((await runCli(['tree', String(root), '--cgroups', '--json'])).stdout)
        .processes[0].cgroup as string;
      assert.equal(printed, `/${basename(v2.path)}`);
      const frozen = await freezeCgroup(printed);
      assert.equal(frozen.backend, 'cgroup-v2');
      assert.ok(v2.frozen());
      await frozen.thaw();
      // Only in the v1 freezer hierarchy: found there.
      const v1 = new TestCgroup(mounts.v1Freezer as string, true);
      await v1.start('tree', 2, 1);
      const v1Frozen = await freezeCgroup(`/${basename(v1.path)}`);
      assert.equal(v1Frozen.backend, 'cgroup-v1');
      await v1Frozen.thaw();
    },
  );
});

describe('freezeCgroup (cgroup v1 freezer)', () => {
  test('freezes and thaws a v1 freezer cgroup', T, async (t) => {
    if (!requireHierarchy(t, 'v1Freezer')) return;
    const cgroup = new TestCgroup(mounts.v1Freezer as string, true);
    const { pids } = await cgroup.start('tree', 4, 2);
    const frozen = await freezeCgroup(cgroup.path);
    assert.equal(frozen.backend, 'cgroup-v1');
    assert.equal(frozen.processes.length, 4);
    assert.ok(cgroup.frozen());
    const ticks = cpuTicks(pids);
    await sleep(100);
    assert.equal(cpuTicks(pids), ticks);
    await frozen.thaw();
    assert.equal(readFileSync(join(cgroup.path, 'freezer.state'), 'utf8').trim(), 'THAWED');
  });

  test('freezes a v1 cgroup holding a vfork parent and child', T, async (t) => {
    if (!requireHierarchy(t, 'v1Freezer')) return;
    const cgroup = new TestCgroup(mounts.v1Freezer as string, true);
    const { pids } = await cgroup.start('vfork');
    assert.ok(await eventually(() => cgroup.pids().length === 3), 'root, vfork parent and child');
    assert.equal(taskStates(pids[1] as number), 'D');
    const frozen = await freezeCgroup(cgroup.path, { timeoutMs: 5000 });
    assert.ok(cgroup.frozen());
    console.log(`# v1 vfork cgroup frozen in ${frozen.durationMs.toFixed(1)} ms`);
    await frozen.thaw();
    assert.ok(!cgroup.frozen());
  });
});

describe('cgroup hold integrity', () => {
  for (const version of ['v2', 'v1'] as const) {
    const control = version === 'v2' ? 'cgroup.freeze' : 'freezer.state';
    const thawed = version === 'v2' ? '0' : 'THAWED';
    test(
      `${version}: a write of the thawed value during the hold is noticed; refrozen or reported`,
      T,
      async (t) => {
        if (!requireHierarchy(t, version === 'v2' ? 'v2' : 'v1Freezer')) return;
        const cgroup = new TestCgroup(
          mounts[version === 'v2' ? 'v2' : 'v1Freezer'] as string,
          version === 'v1',
        );
        await cgroup.start('tree', 3, 1);
        for (const policy of ['refreeze', 'report'] as const) {
          const frozen = await freezeCgroup(cgroup.path, { onBreach: policy });
          assert.ok(cgroup.frozen());
          await sleep(60);
          const sentAt = Date.now();
          writeFileSync(join(cgroup.path, control), thawed);
          assert.ok(await eventually(() => frozen.breaches.length > 0, 10_000), `${policy}: noticed`);
          const [breach] = frozen.breaches;
          assert.equal(breach?.kind, 'cgroup-thawed');
          assert.deepEqual([...(breach?.pids ?? [])].sort(), cgroup.pids().sort());
          t.diagnostic(
            `${version} ${policy}: noticed ${(breach?.detectedAt ?? 0) - sentAt} ms after the write`,
          );
          if (policy === 'refreeze') {
            assert.ok(await eventually(() => breach?.refrozen === true, 10_000), 'refrozen');
            assert.ok(cgroup.frozen(), 'frozen again');
          } else {
            await sleep(150);
            assert.ok(!cgroup.frozen(), 'report: left thawed');
            assert.equal(breach?.endedAt, null);
          }
          assert.equal(frozen.intact, false);
          await frozen.thaw();
          assert.ok(!cgroup.frozen(), 'thawed at the end either way');
        }
      },
    );
  }
});

describe("freezeTree's backend option", () => {
  test('a cgroup that holds the freezer itself is never frozen by the cgroup backend', T, async (t) => {
    if (!requireHierarchy(t, 'v2')) return;
    const cgroup = new TestCgroup(mounts.v2 as string, false);
    const freezer = `${JSON.stringify(process.execPath)} ${JSON.stringify(freezeChildScript())}`;
    const results: Record<
      string,
      { ok: boolean; backend?: string; code?: string; pids?: number[]; self?: number }
    > = {};
    for (const backend of ['auto', 'cgroup']) {
      // sh (the root) -> a sleeper and a freezer that freezes its parent's tree: all in the cgroup.
      const inner = `sleep 30 & a=$!; ${freezer} ancestor '{"backend":"${backend}","timeoutMs":2000}'; kill $a`;
      const script = `echo $$ > ${JSON.stringify(join(cgroup.path, 'cgroup.procs'))} && exec sh -c "$0"`;
      const stdout = await new Promise<string>((resolve) => {
        const child = spawn('setsid', ['sh', '-c', script, inner], { stdio: ['ignore', 'pipe', 'inherit'] });
        spawned.push(child);
        let out = '';
        child.stdout.on('data', (data) => {
          out += data;
        });
        const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
        child.once('close', () => {
          clearTimeout(killer);
          resolve(out);
        });
      });
      assert.ok(!cgroup.frozen(), `${backend}: the cgroup is not left frozen`);
      results[backend] = JSON.parse(stdout || '{"ok":false,"code":"no output: the freezer froze itself?"}');
    }
    const auto = results.auto as {
      ok: boolean;
      backend?: string;
      pids?: number[];
      self?: number;
      code?: string;
    };
    assert.equal(auto.ok, true, auto.code);
    assert.equal(auto.backend, 'signal', "'auto' falls back to signals");
    assert.ok(!auto.pids?.includes(auto.self as number));
    assert.equal(results.cgroup?.code, 'CGROUP_MISMATCH');
  });

  test(
    "'auto', the default, uses the cgroup for a tree that is exactly its members, signals otherwise",
    T,
    async (t) => {
      if (!requireHierarchy(t, 'v2')) return;
      const cgroup = new TestCgroup(mounts.v2 as string, false);
      const alone = await cgroup.start('tree', 3, 1);
      const viaCgroup = await freezeTree(alone.root); // the default
      assert.equal(viaCgroup.backend, 'cgroup-v2');
      assert.ok(cgroup.frozen());
      await viaCgroup.thaw();
      assert.ok(await eventually(() => !cgroup.frozen()));
      assert.equal(
        await freezeTree(alone.root, { backend: 'signal' }).then(async (held) => {
          await held.thaw();
          return held.backend;
        }),
        'signal',
        '--backend signal still forces signals',
      );

      // A descendant moved to a cgroup of its own: the cgroup lacks part of the tree.
      const elsewhere = new TestCgroup(mounts.v2 as string, false);
      const moved = alone.pids[2] as number;
      writeFileSync(join(elsewhere.path, 'cgroup.procs'), String(moved));
      const partial = await freezeTree(alone.root);
      assert.equal(partial.backend, 'signal', 'a tree split over two cgroups takes signals');
      assert.ok(
        partial.processes.some((p) => p.pid === moved),
        'the moved process is frozen too',
      );
      await partial.thaw();
      writeFileSync(join(cgroup.path, 'cgroup.procs'), String(moved));

      // A process of no relation in the cgroup: freezing the cgroup would stop it too.
      const outsider = spawn('sleep', ['30'], { stdio: 'ignore' });
      spawned.push(outsider);
      writeFileSync(join(cgroup.path, 'cgroup.procs'), String(outsider.pid));
      const shared = await freezeTree(alone.root);
      assert.equal(shared.backend, 'signal', 'a cgroup with an outsider takes signals');
      assert.ok(!shared.processes.some((p) => p.pid === outsider.pid));
      await shared.thaw();
      outsider.kill('SIGKILL');

      const sharing = await startTree('tree', 3, 1); // in the test runner's cgroup, with everything else
      const viaSignals = await freezeTree(sharing.root, { backend: 'auto' });
      assert.equal(viaSignals.backend, 'signal');
      await viaSignals.thaw();
      await assert.rejects(freezeTree(sharing.root, { backend: 'cgroup' }), isFreezeError('CGROUP_MISMATCH'));
      sharing.kill();
    },
  );
});

describe('the CLI with cgroups', () => {
  test('freeze --cgroup, run --cgroup, thaw --cgroup and tree --cgroups', T, async (t) => {
    if (!requireHierarchy(t, 'v2')) return;
    const cgroup = new TestCgroup(mounts.v2 as string, false);
    const { root } = await cgroup.start('tree', 3, 1);
    const relativePath = cgroup.path.slice((mounts.v2 as string).length + 1);

    const held = await runCli(['freeze', '--cgroup', relativePath, '--for', '200ms', '--json']);
    assert.equal(held.code, 0, held.stderr);
    const report = only(parseEvents(held.stdout), 'frozen');
    assert.equal(report.backend, 'cgroup-v2');
    assert.equal(report.cgroup, cgroup.path, 'the directory the path resolved to');
    assert.equal(report.root, null);
    assert.equal(report.processes.length, 3);
    assert.ok(!cgroup.frozen());

    const check = `grep -qx 'frozen 1' ${join(cgroup.path, 'cgroup.events')} && exit 5`;
    const ran = await runCli(['run', '--cgroup', cgroup.path, '--', 'sh', '-c', check]);
    assert.equal(ran.code, 5, `the command saw the cgroup frozen: ${ran.stderr}`);
    assert.ok(!cgroup.frozen());

    writeFileSync(join(cgroup.path, 'cgroup.freeze'), '1');
    const thawed = await runCli(['thaw', '--cgroup', cgroup.path, '--json']);
    assert.equal(thawed.code, 0, thawed.stderr);
    assert.deepEqual(JSON.parse(thawed.stdout), {
      command: 'thaw',
      dryRun: false,
      path: cgroup.path,
      backend: 'cgroup-v2',
      wasFrozen: true,
    });
    assert.ok(await eventually(() => !cgroup.frozen()));

    const shown = await runCli(['tree', String(root), '--cgroups']);
    assert.equal(shown.code, 0);
    assert.ok(
      shown.stdout
        .trimEnd()
        .split('\n')
        .every((line) => line.endsWith(`/${relativePath}`)),
      shown.stdout,
    );

    const viaBackend = await runCli([
      'freeze',
      String(root),
      '--backend',
      'cgroup',
      '--for',
      '100ms',
      '--json',
    ]);
    assert.equal(only(parseEvents(viaBackend.stdout), 'frozen').backend, 'cgroup-v2');
    const missing = await runCli(['freeze', '--cgroup', 'treefreeze-no-such-cgroup']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^treefreeze: no cgroup at /);
  });

  test(
    'thaw --cgroup by a user who may not write it: NOT_PERMITTED in one line, no stack trace',
    T,
    async (t) => {
      if (!requireHierarchy(t, 'v2')) return;
      const cgroup = new TestCgroup(mounts.v2 as string, false);
      await cgroup.start('tree', 2, 1);
      writeFileSync(join(cgroup.path, 'cgroup.freeze'), '1');
      assert.ok(await eventually(() => cgroup.frozen()), 'frozen by hand');
      const staged = stageForOtherUser();
      t.after(staged.remove);
      const asNobody = { uid: 65534, gid: 65534, cwd: '/', timeout: 20_000, encoding: 'utf8' } as const;
      const library = await runAs(process.execPath, [staged.script, 'thaw-cgroup', cgroup.path], asNobody);
      const result = JSON.parse(library.stdout);
      assert.equal(result.ok, false);
      assert.equal(result.name, 'FreezeError');
      assert.equal(result.code, 'NOT_PERMITTED');
      const cli = await runAs(
        process.execPath,
        [staged.cli, 'thaw', '--cgroup', cgroup.path],
        asNobody,
      ).catch((error: { code: number; stderr: string }) => error);
      assert.equal((cli as { code: number }).code, 1);
      const stderr = (cli as { stderr: string }).stderr;
      assert.match(
        stderr,
        /^treefreeze: not permitted to write .*cgroup\.freeze: run as root or as the cgroup's owner\n$/,
      );
      assert.doesNotMatch(stderr, /unexpected error|at /);
      assert.ok(cgroup.frozen(), 'still frozen: nothing was changed');
    },
  );
});
