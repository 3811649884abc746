import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { FreezeError } from '../../src/base/errors.js';
import { freezeDescendants, freezeTree } from '../../src/freeze.js';
import { type InternalFreezeOptions, internalKnobs } from '../../src/hold/plan.js';
import { defaultPlatform } from '../../src/kernel/platform.js';
import { readProcessStat } from '../../src/kernel/procfs.js';
import { keptWatchdogPids, retireIdleWatchdogs } from '../../src/watchdog/shared.js';
import {
  cleanupTrees,
  descendantsByScan,
  eventually,
  freezeChildScript,
  hasStopped,
  killGroupOf,
  leaseProcesses,
  leftoverWatchdogs,
  recyclePid,
  requireRoot,
  retryWhilePidTaken,
  runningWatchdogs,
  STRAY_SIGNALS,
  sleep,
  startTree,
  taskStates,
  watchdogsOf,
} from '../helpers/index.js';

const freezeChild = freezeChildScript();
const T = { timeout: 60_000 };
const freezers = new Set<ChildProcess>();

after(async () => {
  for (const child of freezers) child.kill('SIGKILL');
  assert.deepEqual(await cleanupTrees(), [], 'no process left behind');
  retireIdleWatchdogs(); // the one this process kept for its next freezes
  // A retired watchdog exits once it reads the end of its pipe: soon, not at once.
  const gone = await eventually(() => leftoverWatchdogs().length === 0);
  assert.ok(gone, `no watchdog left behind: ${leftoverWatchdogs().join(' ')}`);
});

/** This process's watchdogs that were not there `before` (earlier ones may still be exiting). */
const newWatchdogs = (before: number[]) => watchdogsOf().filter((pid) => !before.includes(pid));

/** The watchdog this process keeps for its freezes (one at most). */
function keptWatchdog(): number {
  const kept = keptWatchdogPids();
  assert.equal(kept.length, 1, 'one watchdog serves this process');
  return kept[0] as number;
}

/** Open descriptors of this process, once its kept watchdog is retired. */
function descriptorsWithoutWatchdog(): number {
  retireIdleWatchdogs();
  return readdirSync('/proc/self/fd').length;
}

const noneStopped = (pids: number[]) => () => pids.every((pid) => !hasStopped(taskStates(pid)));

/** Starts a separate Node freezer; resolves with it and a reader of its JSON lines. */
function startFreezer(root: number, options: object = {}) {
  const child = spawn(process.execPath, [freezeChild, 'hold', String(root), JSON.stringify(options)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  freezers.add(child);
  let buffered = '';
  const lines: string[] = [];
  child.stdout.on('data', (data) => {
    buffered += data;
    let end = buffered.indexOf('\n');
    while (end >= 0) {
      lines.push(buffered.slice(0, end));
      buffered = buffered.slice(end + 1);
      end = buffered.indexOf('\n');
    }
  });
  return { child, lines };
}

/** A freezer that freezes `first`, then `second` once told (`next()`); see freeze-child.mjs. */
function startTwoHolds(first: number, second: number, firstOptions: object, secondOptions: object) {
  const child = spawn(
    process.execPath,
    [
      freezeChild,
      'two-holds',
      String(first),
      String(second),
      JSON.stringify(firstOptions),
      JSON.stringify(secondOptions),
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  freezers.add(child);
  const lines: string[] = [];
  let buffered = '';
  child.stdout.on('data', (data) => {
    buffered += data;
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    lines.push(...parts);
  });
  return { child, lines, next: () => child.stdin.write('next\n') };
}

describe('watchdog', () => {
  test('the freezer SIGKILLed while holding: the watchdog resumes the tree', T, async () => {
    const tree = await startTree('tree', 10, 4);
    const { child, lines } = startFreezer(tree.root);
    assert.ok(await eventually(() => lines.length >= 2, 15_000), 'the freezer froze the tree');
    const report = JSON.parse(lines[1] as string);
    assert.equal(report.pids.length, 10);
    for (const pid of tree.pids) assert.equal(taskStates(pid), 'TTTT');
    const watchdogs = watchdogsOf(child.pid as number);
    assert.equal(watchdogs.length, 1, 'the freezer has its watchdog');
    const killedAt = performance.now();
    child.kill('SIGKILL');
    // Poll tightly: the figure is the point of this test.
    while (!noneStopped(tree.pids)() && performance.now() - killedAt < 5000) await new Promise(setImmediate);
    const resumedAfter = performance.now() - killedAt;
    console.log(`# watchdog resumed 10 processes x 4 threads ${resumedAfter.toFixed(1)} ms after SIGKILL`);
    assert.ok(noneStopped(tree.pids)(), 'every process runs again');
    assert.ok(resumedAfter < 1000, `resumed after ${resumedAfter} ms`);
    assert.ok(
      await eventually(() => runningWatchdogs(watchdogs).length === 0, 10_000),
      'the watchdog exited',
    );
    tree.kill();
  });

  test(
    'the freezer SIGKILLed in the middle of a freeze (large tree, growing tree): nothing left stopped',
    T,
    async () => {
      // Kill the freezer as soon as the root reads stopped (the freeze is then under way),
      // or a little later. The control run without a watchdog shows the kill strands processes.
      const runs = [
        { shape: ['tree', 200, 2], extraMs: 0, watchdog: true },
        { shape: ['tree', 200, 2], extraMs: 2, watchdog: true },
        { shape: ['forkstorm', 3000, 10_000], extraMs: 0, watchdog: true },
        { shape: ['forkstorm', 3000, 10_000], extraMs: 2, watchdog: true },
        { shape: ['tree', 200, 2], extraMs: 0, watchdog: false },
      ] as const;
      const watchdogs: number[] = [];
      for (const { shape, extraMs, watchdog } of runs) {
        const [mode, ...args] = shape;
        const tree = await startTree(mode, ...args);
        const { child, lines } = startFreezer(tree.root, { watchdog });
        assert.ok(await eventually(() => lines.length >= 1, 15_000), 'the freezer started');
        const until = performance.now() + 10_000;
        while (!hasStopped(taskStates(tree.root)) && performance.now() < until) {
          // tight poll: the freeze is fast
        }
        if (extraMs) await sleep(extraMs);
        watchdogs.push(...watchdogsOf(child.pid as number));
        child.kill('SIGKILL');
        await new Promise((resolve) => child.once('close', resolve));
        const when = lines.length >= 2 ? 'after the freeze completed' : 'mid-freeze';
        const stoppedNow = () => descendantsByScan(tree.root).filter((pid) => hasStopped(taskStates(pid)));
        const settled = await eventually(() => stoppedNow().length === 0, watchdog ? 10_000 : 300);
        const left = stoppedNow().length;
        console.log(
          `# ${shape[0]} ${watchdog ? 'with' : 'WITHOUT'} watchdog, freezer killed ${extraMs} ms after the root stopped (${when}): ${left} left stopped`,
        );
        if (watchdog) assert.ok(settled, 'nothing of the tree is left stopped');
        else {
          assert.ok(left > 0, 'control: without the watchdog the kill leaves processes stopped');
          for (const pid of descendantsByScan(tree.root)) process.kill(pid, 'SIGCONT');
        }
        tree.kill();
      }
      assert.ok(await eventually(() => runningWatchdogs(watchdogs).length === 0, 10_000), 'no watchdog left');
    },
  );

  test('maxHoldMs: 300 with a caller that never thaws: the lease resumes the tree', T, async () => {
    const tree = await startTree('tree', 4, 2);
    // The lease runs from inside the freeze: no earlier than 300 ms after the call, and not
    // much later than 300 ms after the freeze resolved.
    const calledAt = performance.now();
    const frozen = await freezeTree(tree.root, { maxHoldMs: 300 });
    const frozenAt = performance.now();
    for (const pid of tree.pids) assert.equal(taskStates(pid), 'TT');
    assert.equal(await frozen.thawed, 'lease');
    const thawedAt = performance.now();
    console.log(`# lease thawed after ${(thawedAt - frozenAt).toFixed(0)} ms (maxHoldMs 300)`);
    assert.ok(thawedAt - calledAt >= 300, `thawed ${thawedAt - calledAt} ms after the call`);
    assert.ok(thawedAt - frozenAt < 2000, `held ${thawedAt - frozenAt} ms`);
    assert.ok(await eventually(noneStopped(tree.pids), 10_000));
    assert.equal(frozen.frozen, false);
    await frozen.thaw(); // harmless
    assert.ok(noneStopped(tree.pids)());
    tree.kill();
  });

  test('maxHoldMs with a hung caller: the watchdog’s lease resumes the tree', T, async () => {
    const tree = await startTree('tree', 4, 2);
    const { child, lines } = startFreezer(tree.root, { maxHoldMs: 300, hang: true });
    assert.ok(await eventually(() => lines.length >= 2, 15_000), 'frozen');
    const frozenAt = performance.now();
    assert.ok(await eventually(noneStopped(tree.pids), 10_000), 'resumed while the caller hangs');
    const heldMs = performance.now() - frozenAt;
    console.log(
      `# watchdog lease resumed a hung caller's tree after ${heldMs.toFixed(0)} ms (maxHoldMs 300)`,
    );
    // The watchdog leaves a live caller's own timer a second to thaw first (its resume would
    // otherwise break the caller's hold); a hung one it resumes at 300 + 1000 ms.
    assert.ok(heldMs >= 800, `resumed after ${heldMs} ms: before a live caller's own timer could thaw`);
    assert.ok(heldMs < 5000);
    child.kill('SIGKILL');
    tree.kill();
  });

  test(
    'freezes in a row share one watchdog, idle in between; retired, it leaves nothing open',
    T,
    async () => {
      const tree = await startTree('tree', 10, 2);
      const fdsBefore = descriptorsWithoutWatchdog();
      const used = new Set<number>();
      for (let i = 0; i < 5; i++) {
        const frozen = await freezeTree(tree.root, { maxHoldMs: 60_000 });
        used.add(keptWatchdog());
        assert.deepEqual(watchdogsOf(), [...used], 'no other watchdog');
        await frozen.thaw();
      }
      assert.equal(used.size, 1, 'the first freeze started it, the next four reused it');
      const [watchdog] = used as Set<number> & { [Symbol.iterator](): Iterator<number> };
      // Idle: its leases are gone (a killed lease's last sleep ends within a second), and it sleeps.
      assert.ok(
        await eventually(() => leaseProcesses(watchdog as number).length === 0, 10_000),
        'no lease left',
      );
      assert.match(taskStates(watchdog as number), /^S$/, 'idle in a read');
      for (const pid of tree.pids) assert.doesNotMatch(taskStates(pid), /T/);
      assert.deepEqual(retireIdleWatchdogs(), [watchdog]);
      assert.ok(await eventually(() => watchdogsOf().length === 0, 10_000), 'retired, it exited');
      assert.ok(
        await eventually(() => !childPids().some((pid) => taskStates(pid).includes('Z')), 10_000),
        'all reaped',
      );
      assert.equal(readdirSync('/proc/self/fd').length, fdsBefore, 'no pidfd, pipe or file left open');
      for (const pid of tree.pids) assert.doesNotMatch(taskStates(pid), /T/, 'its exit resumed nothing');
      tree.kill();
    },
  );

  test('a rejected freeze leaves nothing stopped and only the idle watchdog', T, async () => {
    const tree = await startTree('tracer');
    const [root, tracee, tracer] = tree.pids as [number, number, number];
    const fdsBefore = descriptorsWithoutWatchdog();
    await assert.rejects(
      freezeTree(root, { exclude: [tracer], timeoutMs: 500, maxHoldMs: 60_000 }),
      (error: unknown) => {
        assert.ok(error instanceof FreezeError && error.code === 'TIMED_OUT');
        return true;
      },
    );
    assert.ok(noneStopped([root, tracee, tracer])());
    const watchdog = keptWatchdog();
    assert.deepEqual(watchdogsOf(), [watchdog], 'no other watchdog');
    assert.ok(await eventually(() => leaseProcesses(watchdog).length === 0, 10_000), 'no lease');
    retireIdleWatchdogs();
    assert.ok(await eventually(() => watchdogsOf().length === 0, 10_000), 'no watchdog once retired');
    assert.equal(readdirSync('/proc/self/fd').length, fdsBefore);
    tree.kill();
  });

  test('nested freezes of our own descendants never stop an earlier freeze’s watchdog', T, async () => {
    const tree = await startTree('tree', 2, 1); // a child of this test process
    const before = watchdogsOf();
    // This freezes every descendant of the test process (tsx's esbuild included): thaw
    // whatever an assertion does.
    const outer = await freezeDescendants();
    try {
      const inner = await freezeDescendants();
      try {
        const watchdogs = newWatchdogs(before);
        assert.ok(watchdogs.length <= 1, 'both freezes share one watchdog');
        watchdogs.splice(0, watchdogs.length, keptWatchdog());
        for (const pid of watchdogs) assert.doesNotMatch(taskStates(pid), /T/, `watchdog ${pid} runs`);
        assert.ok(!inner.processes.some((p) => watchdogs.includes(p.pid)));
        assert.ok(
          inner.processes.every((p) => p.wasStopped),
          'the inner freeze found the tree already stopped',
        );
      } finally {
        await inner.thaw();
      }
      assert.ok(
        tree.pids.every((pid) => hasStopped(taskStates(pid))),
        'still held by the outer freeze',
      );
    } finally {
      await outer.thaw();
    }
    assert.ok(await eventually(noneStopped(tree.pids), 10_000));
    tree.kill();
  });

  test(
    'the watchdog and the lease do not keep the caller alive; exiting without thaw resumes the tree',
    T,
    async () => {
      const tree = await startTree('tree', 3, 2);
      const started = performance.now();
      const { stdout } = await new Promise<{ stdout: string }>((resolve, reject) => {
        const child = spawn(
          process.execPath,
          [freezeChild, 'forget', String(tree.root), JSON.stringify({ maxHoldMs: 60_000 })],
          { stdio: ['ignore', 'pipe', 'inherit'] },
        );
        let out = '';
        child.stdout.on('data', (data) => {
          out += data;
        });
        const killer = setTimeout(() => {
          child.kill('SIGKILL');
          reject(new Error('the caller was kept alive'));
        }, 10_000);
        child.once('close', () => {
          clearTimeout(killer);
          resolve({ stdout: out });
        });
      });
      const report = JSON.parse(stdout);
      assert.equal(report.frozen, true);
      assert.equal(report.watchdogs.length, 1, 'it had a watchdog');
      console.log(
        `# a caller that froze and returned exited after ${(performance.now() - started).toFixed(0)} ms`,
      );
      assert.ok(await eventually(noneStopped(tree.pids), 10_000), 'its watchdog resumed the tree');
      assert.ok(await eventually(() => runningWatchdogs(report.watchdogs).length === 0, 10_000));
      tree.kill();
    },
  );

  test(
    'a watchdog that cannot start fails the freeze with WATCHDOG_FAILED, nothing left stopped',
    T,
    async () => {
      const tree = await startTree('tree', 4, 1);
      for (const withKoffi of [true, false]) {
        const options: InternalFreezeOptions = {
          [internalKnobs]: {
            platform: {
              native: withKoffi ? defaultPlatform.native : () => null,
              watchdogShell: '/nonexistent/treefreeze-sh',
            },
          },
        };
        // Many times: the failure arrives at a different moment of the freeze each time. (A
        // descriptor closed twice once closed a pidfd the freeze had just opened, and the
        // process it named was left stopped: 6 of 200 tries.)
        for (let attempt = 0; attempt < (withKoffi ? 200 : 5); attempt++) {
          await assert.rejects(freezeTree(tree.root, options), (error: unknown) => {
            assert.ok(error instanceof FreezeError && error.code === 'WATCHDOG_FAILED', String(error));
            return true;
          });
          const states = tree.pids.map(taskStates);
          assert.ok(
            noneStopped(tree.pids)(),
            `nothing stopped (koffi ${withKoffi}, try ${attempt}): ${states}`,
          );
        }
      }
      const fine = await freezeTree(tree.root);
      await fine.thaw();
      tree.kill();
    },
  );

  test(
    'a watchdog that cannot start in time (thread pool busy) ends the freeze by its deadline',
    T,
    async () => {
      const tree = await startTree('tree', 3, 1);
      const fifo = join(mkdtempSync(join(tmpdir(), 'treefreeze-pool-')), 'never-written');
      execFileSync('mkfifo', [fifo]);
      const child = spawn(process.execPath, [freezeChild, 'busy-pool', String(tree.root), fifo], {
        stdio: ['ignore', 'pipe', 'inherit'],
        env: { ...process.env, UV_THREADPOOL_SIZE: '1' },
      });
      freezers.add(child);
      let out = '';
      child.stdout.on('data', (data) => {
        out += data;
      });
      const finished = await eventually(() => out.includes('elapsedMs'), 10_000);
      writeFileSync(fifo, 'x'); // release the pool thread so the child can exit
      rmSync(dirname(fifo), { recursive: true, force: true });
      assert.ok(finished, 'the freeze ended');
      const [result, timing] = out
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line));
      console.log(
        `# busy thread pool: ${result.code} after ${timing.elapsedMs.toFixed(0)} ms (timeoutMs 500)`,
      );
      assert.equal(result.ok, false);
      assert.equal(result.code, 'WATCHDOG_FAILED');
      assert.ok(timing.elapsedMs < 2000, `bounded by the deadline: ${timing.elapsedMs} ms`);
      assert.ok(noneStopped(tree.pids)(), 'nothing left stopped');
      tree.kill();
    },
  );

  test('a freeze with more identities than a pipe holds stays protected and never blocks', T, async () => {
    const tree = await startTree('tree', 4, 1);
    // 60,000 lines (1.1 MiB) is more than the largest pipe buffer (1 MiB): a watchdog fed
    // through a pipe it does not read blocked the freezer for 5 s, then failed.
    const child = spawn(process.execPath, [freezeChild, 'guard-many', '60000', JSON.stringify(tree.pids)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    freezers.add(child);
    let out = '';
    child.stdout.on('data', (data) => {
      out += data;
    });
    assert.ok(await eventually(() => out.includes('\n'), 15_000), 'the freezer reported');
    const report = JSON.parse(out);
    console.log(`# 60,000 identities handed to the watchdog in ${report.guardMs?.toFixed(1)} ms`);
    assert.equal(report.ok, true, report.message);
    assert.ok(report.guardMs < 1000, `no blocking: ${report.guardMs} ms`);
    assert.ok(
      await eventually(() => tree.pids.every((pid) => hasStopped(taskStates(pid))), 10_000),
      'stopped',
    );
    const killedAt = performance.now();
    child.kill('SIGKILL');
    assert.ok(
      await eventually(noneStopped(tree.pids), 15_000),
      'the watchdog read past the long list and resumed',
    );
    console.log(
      `# resumed ${(performance.now() - killedAt).toFixed(0)} ms after SIGKILL, behind 60,000 lines`,
    );
    assert.ok(await eventually(() => runningWatchdogs([report.watchdog]).length === 0, 10_000), 'it exited');
    tree.kill();
  });

  test('freezes with a lease, thawed at once, leave no lease timer behind', T, async () => {
    const tree = await startTree('tree', 2, 1);
    for (let i = 0; i < 20; i++) {
      const frozen = await freezeTree(tree.root, { maxHoldMs: 3_600_000 + i });
      await frozen.thaw();
    }
    const watchdog = keptWatchdog();
    // A lease killed at its thaw may leave its current sleep (at most a second) behind; on a
    // loaded machine that sleep may end seconds late. A lease left running would sleep for an
    // hour, so a 10 s deadline still tells the two apart.
    const gone = await eventually(() => leaseProcesses(watchdog).length === 0, 10_000);
    const left = leaseProcesses(watchdog).map((pid) => `${pid} (${readProcessStat(pid)?.comm ?? 'gone'})`);
    assert.ok(gone, `lease timers left in the watchdog's group: ${left.join(' ')}`);
    tree.kill();
  });

  test(
    'the watchdog SIGKILLed while holding is replaced: a SIGKILL of the freezer then still thaws',
    T,
    async () => {
      const tree = await startTree('tree', 4, 2);
      const { child, lines } = startFreezer(tree.root);
      assert.ok(await eventually(() => lines.length >= 2, 15_000), 'frozen');
      const [first] = JSON.parse(lines[1] as string).watchdogs as number[];
      assert.ok(first, 'the freezer has a watchdog');
      process.kill(first, 'SIGKILL');
      const replaced = () => watchdogsOf(child.pid as number).filter((pid) => pid !== first);
      assert.ok(await eventually(() => replaced().length === 1, 10_000), 'a new watchdog took over');
      assert.ok(
        tree.pids.every((pid) => hasStopped(taskStates(pid))),
        'still held meanwhile',
      );
      const killedAt = performance.now();
      child.kill('SIGKILL');
      assert.ok(await eventually(noneStopped(tree.pids), 10_000), 'the replacement resumed the tree');
      console.log(
        `# replaced watchdog resumed the tree ${(performance.now() - killedAt).toFixed(0)} ms after SIGKILL`,
      );
      assert.ok(await eventually(() => runningWatchdogs([first, ...replaced()]).length === 0, 10_000));
      tree.kill();
    },
  );

  test(
    'the watchdog SIGSTOPped while holding is continued: a SIGKILL of the freezer then still thaws',
    T,
    async () => {
      const tree = await startTree('tree', 4, 2);
      const { child, lines } = startFreezer(tree.root);
      assert.ok(await eventually(() => lines.length >= 2, 15_000), 'frozen');
      const [watchdog] = JSON.parse(lines[1] as string).watchdogs as number[];
      process.kill(watchdog as number, 'SIGSTOP');
      // The keeper reacts at SIGCHLD (at the latest within 50 ms); give it a realistic gap
      // before the freezer dies. (Killed within that gap, the tree waits for the watchdog to
      // be continued: a documented residual risk.)
      await sleep(200);
      assert.doesNotMatch(taskStates(watchdog as number), /T/, 'continued by the freezer');
      child.kill('SIGKILL');
      assert.ok(await eventually(noneStopped(tree.pids), 10_000), 'the watchdog resumed the tree');
      tree.kill();
    },
  );

  test(
    'signals other than KILL and STOP never make the watchdog resume the tree behind the freezer',
    T,
    async () => {
      const tree = await startTree('tree', 3, 1);
      const frozen = await freezeTree(tree.root);
      const watchdog = keptWatchdog();
      // Once its traps are set (a signal in its first milliseconds kills it: then it is
      // replaced, which another test covers): SigIgn has SIGTERM's bit.
      const ignoresTerm = () =>
        (BigInt(
          `0x${/SigIgn:\s*([0-9a-f]+)/.exec(readFileSync(`/proc/${watchdog}/status`, 'utf8'))?.[1] ?? '0'}`,
        ) &
          (1n << 14n)) !==
        0n;
      assert.ok(await eventually(ignoresTerm, 10_000), 'the watchdog set its traps');
      for (const signal of STRAY_SIGNALS) {
        process.kill(watchdog as number, signal);
      }
      await sleep(200);
      assert.ok(
        tree.pids.every((pid) => hasStopped(taskStates(pid))),
        'still frozen',
      );
      assert.deepEqual(runningWatchdogs([watchdog as number]), [watchdog], 'the watchdog still runs');
      assert.deepEqual(frozen.watchdogEvents, []);
      await frozen.thaw();
      assert.ok(noneStopped(tree.pids)());
      tree.kill();
    },
  );

  test('a watchdog stopped and thawed normally is not left stopped; each stop is recorded', T, async () => {
    const tree = await startTree('tree', 2, 1);
    const frozen = await freezeTree(tree.root);
    const watchdog = keptWatchdog();
    process.kill(watchdog as number, 'SIGSTOP');
    assert.ok(await eventually(() => frozen.watchdogEvents.length > 0, 10_000), 'noticed');
    assert.equal(frozen.watchdogEvents[0]?.event, 'continued');
    assert.equal(frozen.watchdogEvents[0]?.pid, watchdog);
    // Stopped again right before the thaw, too fast for the keeper: the thaw continues it.
    process.kill(watchdog as number, 'SIGSTOP');
    await frozen.thaw();
    assert.ok(noneStopped(tree.pids)());
    assert.ok(await eventually(() => !/T/.test(taskStates(watchdog)), 10_000), 'it was continued, idle');
    assert.deepEqual(runningWatchdogs([watchdog]), [watchdog], 'and kept for the next freeze');
    tree.kill();
  });

  test(
    'a watchdog that dies and cannot be replaced ends the hold: WATCHDOG_FAILED, tree thawed',
    T,
    async () => {
      const tree = await startTree('tree', 3, 1);
      let shell = '/bin/sh';
      const platform = {
        native: defaultPlatform.native,
        get watchdogShell() {
          return shell;
        },
      };
      const options: InternalFreezeOptions = { [internalKnobs]: { platform } };
      const frozen = await freezeTree(tree.root, options);
      const watchdog = keptWatchdog();
      shell = '/nonexistent/treefreeze-sh';
      process.kill(watchdog as number, 'SIGKILL');
      await assert.rejects(
        Promise.race([frozen.thawed, sleep(3000).then(() => 'still held')]),
        (error: unknown) => error instanceof FreezeError && error.code === 'WATCHDOG_FAILED',
      );
      assert.equal(frozen.frozen, false);
      assert.ok(await eventually(noneStopped(tree.pids), 10_000), 'the tree was thawed');
      assert.equal(frozen.watchdogEvents.at(-1)?.event, 'lost');
      await assert.rejects(frozen.thaw(), { code: 'WATCHDOG_FAILED' });
      tree.kill();
    },
  );

  test("another freezer's watchdog inside a tree being frozen keeps running", T, async () => {
    const inner = await startTree('tree', 2, 1);
    // Freezer A holds `inner`; A and its watchdog form a tree of their own (A leads its session).
    const { child, lines } = startFreezer(inner.root);
    assert.ok(await eventually(() => lines.length >= 2, 15_000), 'A froze its tree');
    const [theirs] = JSON.parse(lines[1] as string).watchdogs as number[];
    const outer = await freezeTree(child.pid as number);
    assert.ok(hasStopped(taskStates(child.pid as number)), 'the freezer A itself is frozen');
    assert.ok(!outer.processes.some((p) => p.pid === theirs), 'its watchdog is not part of the freeze');
    assert.doesNotMatch(taskStates(theirs as number), /T/, 'and keeps running');
    // A dies while frozen: its watchdog, never stopped, still resumes A's tree at once.
    child.kill('SIGKILL');
    assert.ok(await eventually(noneStopped(inner.pids), 10_000), "A's watchdog resumed A's tree");
    await outer.thaw();
    inner.kill();
  });

  test('a dozen holds at once in one process: every watchdog kept, no listener warning', T, async () => {
    const tree = await startTree('tree', 2, 1);
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.name);
    process.on('warning', onWarning);
    const holds = [];
    try {
      for (let i = 0; i < 12; i++) holds.push(await freezeTree(tree.root));
      await sleep(20);
    } finally {
      for (const hold of holds.reverse()) await hold.thaw();
      process.off('warning', onWarning);
    }
    assert.deepEqual(warnings, []);
    assert.ok(noneStopped(tree.pids)());
    tree.kill();
  });

  test(
    'a second freeze while the first holds: one watchdog, each lease resumes only its own tree',
    T,
    async () => {
      const first = await startTree('tree', 3, 2);
      const second = await startTree('tree', 3, 2);
      const freezer = startTwoHolds(first.root, second.root, { maxHoldMs: 400 }, { hang: true });
      assert.ok(await eventually(() => freezer.lines.length >= 1, 15_000), 'first freeze');
      freezer.next();
      assert.ok(await eventually(() => freezer.lines.length >= 3, 15_000), 'second freeze');
      const [one, two] = [JSON.parse(freezer.lines[0] as string), JSON.parse(freezer.lines[2] as string)];
      assert.equal(one.watchdogs.length, 1);
      assert.deepEqual(two.watchdogs, one.watchdogs, 'the second freeze reused the first one’s watchdog');
      // The freezer hangs now: only the watchdog can end the first lease, and it must not touch the second tree.
      assert.ok(await eventually(noneStopped(first.pids), 10_000), 'the first lease resumed the first tree');
      await sleep(100);
      assert.ok(
        second.pids.every((pid) => hasStopped(taskStates(pid))),
        'the second tree is still held',
      );
      freezer.child.kill('SIGKILL');
      assert.ok(
        await eventually(noneStopped(second.pids), 10_000),
        'the freezer’s death resumed the second tree',
      );
      assert.ok(
        await eventually(() => runningWatchdogs(one.watchdogs).length === 0, 10_000),
        'the watchdog exited',
      );
      first.kill();
      second.kill();
    },
  );

  test('the freezer SIGKILLed in the middle of its second freeze: both trees resumed', T, async () => {
    for (const extraMs of [0, 2]) {
      const first = await startTree('tree', 4, 2);
      const second = await startTree('tree', 200, 2);
      const freezer = startTwoHolds(first.root, second.root, {}, {});
      assert.ok(await eventually(() => freezer.lines.length >= 1, 15_000), 'first freeze');
      const { watchdogs } = JSON.parse(freezer.lines[0] as string);
      freezer.next();
      assert.ok(await eventually(() => freezer.lines.length >= 2, 15_000), 'second freeze started');
      const until = performance.now() + 10_000;
      while (!hasStopped(taskStates(second.root)) && performance.now() < until) {
        // tight poll: the freeze is fast
      }
      if (extraMs) await sleep(extraMs);
      freezer.child.kill('SIGKILL');
      const when = freezer.lines.length >= 3 ? 'after it completed' : 'mid-freeze';
      const stopped = () =>
        [...first.pids, ...descendantsByScan(second.root)].filter((pid) => hasStopped(taskStates(pid)));
      const settled = await eventually(() => stopped().length === 0, 10_000);
      console.log(
        `# second freeze killed ${extraMs} ms after its root stopped (${when}): ${stopped().length} left stopped`,
      );
      assert.ok(settled, 'nothing of either tree is left stopped');
      assert.ok(
        await eventually(() => runningWatchdogs(watchdogs).length === 0, 10_000),
        'the watchdog exited',
      );
      first.kill();
      second.kill();
    }
  });

  test(
    'a process that exits with its watchdog idle leaves no watchdog behind; idle, it used no CPU',
    T,
    async () => {
      const tree = await startTree('tree', 3, 1);
      const child = spawn(process.execPath, [freezeChild, 'freeze-thaw-exit', String(tree.root)], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      freezers.add(child);
      let out = '';
      child.stdout.on('data', (data) => {
        out += data;
      });
      const [watchdog] = await new Promise<number[]>((resolve) => {
        const poll = setInterval(() => {
          if (!out.includes('\n')) return;
          clearInterval(poll);
          resolve(JSON.parse(out).watchdogs);
        }, 5);
      });
      assert.ok(watchdog, 'it had a watchdog');
      // Its CPU time while idle (it may already be gone, which is fine).
      const cpu = () => {
        try {
          const fields = readFileSync(`/proc/${watchdog}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
          return Number(fields[11]) + Number(fields[12]);
        } catch {
          return undefined;
        }
      };
      const before = cpu();
      await new Promise((resolve) => child.once('close', resolve));
      assert.ok(
        await eventually(() => runningWatchdogs([watchdog]).length === 0, 10_000),
        'gone with its process',
      );
      assert.ok(before === undefined || (cpu() ?? before) - before <= 1, 'idle: no CPU time');
      for (const pid of tree.pids) assert.doesNotMatch(taskStates(pid), /T/, 'nothing stopped by its exit');
      tree.kill();
    },
  );

  test('watchdog: false starts none', T, async () => {
    const tree = await startTree('tree', 2, 1);
    const before = watchdogsOf();
    const frozen = await freezeTree(tree.root, { watchdog: false });
    assert.equal(newWatchdogs(before).length, 0);
    await frozen.thaw();
    tree.kill();
  });
});

function childPids(): number[] {
  return readdirSync('/proc/self/task').flatMap((tid) =>
    readFileSync(`/proc/self/task/${tid}/children`, 'utf8').split(' ').filter(Boolean).map(Number),
  );
}

describe('exact identity', () => {
  test('pidfd is in force where available, and the fallback can be forced', T, async () => {
    const tree = await startTree('tree', 3, 1);
    const exact = await freezeTree(tree.root);
    assert.equal(exact.identity, 'pidfd');
    await exact.thaw();
    const fallback = await freezeTree(tree.root, { identity: 'starttime' });
    assert.equal(fallback.identity, 'starttime');
    await fallback.thaw();
    {
      const before = watchdogsOf();
      const withoutKoffi = await freezeTree(tree.root, {
        [internalKnobs]: { platform: { ...defaultPlatform, native: () => null } },
      } as InternalFreezeOptions);
      assert.equal(
        withoutKoffi.identity,
        'starttime',
        'no koffi: start-time identity, child_process watchdog',
      );
      assert.equal(newWatchdogs(before).length, 1);
      await withoutKoffi.thaw();
    }
    assert.ok(noneStopped(tree.pids)());
    tree.kill();
  });

  for (const identity of ['pidfd', 'starttime'] as const) {
    test(
      `pid reuse (${identity}): a recycled pid is never stopped, and thaw never signals it`,
      T,
      async (t) => {
        if (!requireRoot(t, 'needs root to write /proc/sys/kernel/ns_last_pid')) return;
        let impostor: ChildProcess | undefined;
        const { tree, victim, frozen } = await retryWhilePidTaken(async () => {
          const tree = await startTree('reaper', 3);
          const [root, victim] = tree.pids as [number, number];
          const options: InternalFreezeOptions = {
            identity,
            [internalKnobs]: {
              afterDiscovery: (pids) => {
                if (impostor || !pids.includes(victim)) return;
                impostor = recyclePid(victim);
              },
            },
          };
          try {
            return { tree, victim, frozen: await freezeTree(root, options) };
          } catch (error) {
            tree.kill(); // another process took the pid first: a new tree for the next attempt
            throw error;
          }
        });
        assert.ok(impostor, 'the pid was recycled between discovery and signal');
        const impostorPid = impostor.pid as number;
        assert.equal(impostorPid, victim);
        const victimGone = !frozen.processes.some((p) => p.pid === victim);
        console.log(
          `# ${identity}: victim ${victim} dropped: ${victimGone}; impostor state ${taskStates(impostorPid)}`,
        );
        assert.ok(victimGone, 'the exited victim is not in the result');
        assert.doesNotMatch(taskStates(impostorPid), /T/, 'the impostor was never stopped');
        // Now the impostor is stopped by someone else: thaw must not resume it.
        process.kill(impostorPid, 'SIGSTOP');
        assert.ok(await eventually(() => taskStates(impostorPid) === 'T'));
        await frozen.thaw();
        await sleep(20);
        assert.equal(taskStates(impostorPid), 'T', 'thaw did not signal the impostor');
        killGroupOf(impostor);
        tree.kill();
      },
    );
  }

  test('thaw never signals a pid recycled while the tree was frozen (both identities)', T, async (t) => {
    if (!requireRoot(t, 'needs root to write /proc/sys/kernel/ns_last_pid')) return;
    for (const identity of ['pidfd', 'starttime'] as const) {
      const { tree, victim, frozen, impostor } = await retryWhilePidTaken(async () => {
        const tree = await startTree('reaper', 3);
        const [root, victim] = tree.pids as [number, number];
        // 'report': the root continued below must stay running (to reap the victim), not be refrozen.
        const frozen = await freezeTree(root, { identity, onBreach: 'report' });
        // The victim dies while frozen; its stopped parent must run to reap it.
        process.kill(root, 'SIGCONT');
        // Start times count 10 ms ticks: an impostor born in the victim's tick would carry its
        // start time, which only a pidfd tells apart (a documented limit of 'starttime').
        await sleep(30);
        try {
          return { tree, victim, frozen, impostor: recyclePid(victim) };
        } catch (error) {
          await frozen.thaw(); // another process took the pid first: a new tree for the next attempt
          tree.kill();
          throw error;
        }
      });
      assert.equal(impostor.pid, victim);
      process.kill(victim, 'SIGSTOP');
      assert.ok(await eventually(() => taskStates(victim) === 'T'));
      await frozen.thaw();
      await sleep(20);
      assert.equal(taskStates(victim), 'T', `${identity}: thaw left the impostor alone`);
      impostor.kill('SIGKILL');
      tree.kill();
    }
  });
});

/** Kills `pid`, waits until it is reaped, then starts an unrelated process that gets the same pid. */
