import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { FreezeError } from '../../src/base/errors.js';
import { freezeDescendants, freezeTree } from '../../src/freeze.js';
import { type InternalFreezeOptions, internalKnobs } from '../../src/hold/plan.js';
import { defaultPlatform } from '../../src/kernel/platform.js';
import { readProcessStat } from '../../src/kernel/procfs.js';
import { WATCHDOG_LEASE_GRACE_MS } from '../../src/watchdog/channel.js';
import { keptWatchdogPids, retireIdleWatchdogs, WATCHDOG_TWINS } from '../../src/watchdog/shared.js';
import {
  allStopped,
  childrenOf,
  cleanupTrees,
  type Descriptor,
  descendantsByScan,
  descriptorChanges,
  eventually,
  freezeChildScript,
  hasStopped,
  ignoresStraySignals,
  killGroupOf,
  LOAD_DELAY_MS,
  leaseProcesses,
  leftoverWatchdogs,
  noneStopped,
  openDescriptors,
  recyclePid,
  requireRoot,
  retryWhilePidTaken,
  runningWatchdogs,
  STRAY_SIGNALS,
  sleep,
  startTree,
  stoppedAmong,
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

/** The twin watchdogs this process keeps for its freezes. */
function keptWatchdogs(): number[] {
  const kept = keptWatchdogPids();
  assert.equal(kept.length, WATCHDOG_TWINS, 'two watchdogs serve this process');
  return kept.sort((a, b) => a - b);
}

/** One of the twins, to stop or kill. */
const keptWatchdog = (): number => keptWatchdogs()[0] as number;

const sorted = (pids: Iterable<number>) => [...pids].sort((a, b) => a - b);

/** Open descriptors of this process, once its kept watchdog is retired. */
function descriptorsWithoutWatchdog(): Descriptor[] {
  retireIdleWatchdogs();
  return openDescriptors();
}

/**
 * Fails if a descriptor opened since `before` is still open, once a thaw has had time to
 * release its clocks and pidfds (just after it returns), or if one other than a socket was
 * closed meanwhile. Sockets are earlier tests' child processes' stdio (Node makes a child's
 * pipes of socket pairs), each closed once that child's end is seen, which a loaded machine
 * can delay into this test: a count of all descriptors was off by one that way.
 */
async function assertNothingLeftOpen(before: readonly Descriptor[]): Promise<void> {
  await eventually(() => descriptorChanges(before).opened.length === 0, 10_000);
  const { opened, closed } = descriptorChanges(before);
  const show = (list: Descriptor[]) => list.map((descriptor) => `${descriptor.fd} ${descriptor.target}`);
  assert.deepEqual(show(opened), [], 'no pidfd, pipe or file left open');
  const notSockets = closed.filter((descriptor) => !descriptor.target.startsWith('socket:'));
  assert.deepEqual(show(notSockets), [], 'nothing but an ended child’s stdio closed meanwhile');
}

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

/** How soon the watchdog resumes 10 processes once their freezer is dead, on an idle machine. */
const RESUME_AFTER_DEATH_MS = 100;

describe('watchdog', () => {
  test('the freezer SIGKILLed while holding: the watchdog resumes the tree', T, async () => {
    const tree = await startTree('tree', 10, 4);
    const { child, lines } = startFreezer(tree.root);
    assert.ok(await eventually(() => lines.length >= 2, 15_000), 'the freezer froze the tree');
    const report = JSON.parse(lines[1] as string);
    assert.equal(report.pids.length, 10);
    for (const pid of tree.pids) assert.equal(taskStates(pid), 'TTTT');
    const watchdogs = watchdogsOf(child.pid as number);
    assert.equal(watchdogs.length, WATCHDOG_TWINS, 'the freezer has its twin watchdogs');
    const killedAt = performance.now();
    child.kill('SIGKILL');
    // Poll tightly: the figure is the point of this test.
    while (!noneStopped(tree.pids) && performance.now() - killedAt < 5000) await new Promise(setImmediate);
    const resumedAfter = performance.now() - killedAt;
    console.log(`# watchdog resumed 10 processes x 4 threads ${resumedAfter.toFixed(1)} ms after SIGKILL`);
    assert.ok(noneStopped(tree.pids), 'every process runs again');
    // Guarantee 6: the kernel tears the dead freezer down (closing the watchdog's pipe), then the
    // watchdog continues the tree: tens of ms (docs/guarantees.md). Each of the two waits for a CPU.
    const boundMs = RESUME_AFTER_DEATH_MS + 2 * LOAD_DELAY_MS;
    assert.ok(resumedAfter <= boundMs, `resumed after ${resumedAfter} ms, bound ${boundMs} ms`);
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
        const stoppedNow = () => stoppedAmong(descendantsByScan(tree.root));
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
    // The caller's own timer thaws at 300 ms, late by as much as a loaded machine delays it, but
    // well before the watchdog's copy of the lease would (a second later): never that one.
    assert.ok(LOAD_DELAY_MS < WATCHDOG_LEASE_GRACE_MS);
    const boundMs = 300 + LOAD_DELAY_MS;
    assert.ok(thawedAt - frozenAt <= boundMs, `held ${thawedAt - frozenAt} ms, bound ${boundMs} ms`);
    assert.ok(await eventually(() => noneStopped(tree.pids), 10_000));
    assert.equal(frozen.frozen, false);
    await frozen.thaw(); // harmless
    assert.ok(noneStopped(tree.pids));
    tree.kill();
  });

  test('maxHoldMs with a hung caller: the watchdog’s lease resumes the tree', T, async () => {
    const tree = await startTree('tree', 4, 2);
    const { child, lines } = startFreezer(tree.root, { maxHoldMs: 300, hang: true });
    assert.ok(await eventually(() => lines.length >= 2, 15_000), 'frozen');
    const frozenAt = performance.now();
    assert.ok(await eventually(() => noneStopped(tree.pids), 10_000), 'resumed while the caller hangs');
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
    'freezes in a row share two watchdogs, idle in between; retired, they leave nothing open',
    T,
    async () => {
      const tree = await startTree('tree', 10, 2);
      const descriptorsBefore = descriptorsWithoutWatchdog();
      const used = new Set<number>();
      for (let i = 0; i < 5; i++) {
        const frozen = await freezeTree(tree.root, { maxHoldMs: 60_000 });
        for (const pid of keptWatchdogs()) used.add(pid);
        assert.deepEqual(sorted(watchdogsOf()), sorted(used), 'no other watchdog');
        await frozen.thaw();
      }
      assert.equal(used.size, WATCHDOG_TWINS, 'the first freeze started them, the next four reused them');
      // Idle: their leases are gone (a killed lease's last sleep ends within a second), and they sleep.
      for (const watchdog of used) {
        assert.ok(await eventually(() => leaseProcesses(watchdog).length === 0, 10_000), 'no lease left');
        assert.match(taskStates(watchdog), /^S$/, 'idle in a read');
      }
      for (const pid of tree.pids) assert.doesNotMatch(taskStates(pid), /T/);
      assert.deepEqual(sorted(retireIdleWatchdogs()), sorted(used));
      assert.ok(await eventually(() => watchdogsOf().length === 0, 10_000), 'retired, it exited');
      assert.ok(
        await eventually(() => !childrenOf().some((pid) => taskStates(pid).includes('Z')), 10_000),
        'all reaped',
      );
      await assertNothingLeftOpen(descriptorsBefore);
      for (const pid of tree.pids) assert.doesNotMatch(taskStates(pid), /T/, 'its exit resumed nothing');
      tree.kill();
    },
  );

  test('a rejected freeze leaves nothing stopped and only the idle watchdogs', T, async () => {
    const tree = await startTree('tracer');
    const [root, tracee, tracer] = tree.pids as [number, number, number];
    const descriptorsBefore = descriptorsWithoutWatchdog();
    await assert.rejects(
      freezeTree(root, { exclude: [tracer], timeoutMs: 500, maxHoldMs: 60_000 }),
      (error: unknown) => {
        assert.ok(error instanceof FreezeError && error.code === 'TIMED_OUT');
        return true;
      },
    );
    assert.ok(noneStopped([root, tracee, tracer]));
    const watchdogs = keptWatchdogs();
    assert.deepEqual(sorted(watchdogsOf()), watchdogs, 'no other watchdog');
    for (const watchdog of watchdogs) {
      assert.ok(await eventually(() => leaseProcesses(watchdog).length === 0, 10_000), 'no lease');
    }
    retireIdleWatchdogs();
    assert.ok(await eventually(() => watchdogsOf().length === 0, 10_000), 'no watchdog once retired');
    await assertNothingLeftOpen(descriptorsBefore);
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
        assert.ok(watchdogs.length <= WATCHDOG_TWINS, 'both freezes share the twins');
        watchdogs.splice(0, watchdogs.length, ...keptWatchdogs());
        for (const pid of watchdogs) assert.doesNotMatch(taskStates(pid), /T/, `watchdog ${pid} runs`);
        assert.ok(!inner.processes.some((p) => watchdogs.includes(p.pid)));
        assert.ok(
          inner.processes.every((p) => p.wasStopped),
          'the inner freeze found the tree already stopped',
        );
      } finally {
        await inner.thaw();
      }
      assert.ok(allStopped(tree.pids), 'still held by the outer freeze');
    } finally {
      await outer.thaw();
    }
    assert.ok(await eventually(() => noneStopped(tree.pids), 10_000));
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
      assert.equal(report.watchdogs.length, WATCHDOG_TWINS, 'it had its watchdogs');
      console.log(
        `# a caller that froze and returned exited after ${(performance.now() - started).toFixed(0)} ms`,
      );
      assert.ok(await eventually(() => noneStopped(tree.pids), 10_000), 'its watchdog resumed the tree');
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
            noneStopped(tree.pids),
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
    'a watchdog that cannot start in time (thread pool busy) ends the freeze by its deadline: TIMED_OUT',
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
      // The deadline wins: TIMED_OUT, with what held it up in the message.
      assert.equal(result.code, 'TIMED_OUT', result.message);
      assert.match(result.message, /watchdog did not start/);
      assert.ok(timing.elapsedMs < 2000, `bounded by the deadline: ${timing.elapsedMs} ms`);
      assert.ok(noneStopped(tree.pids), 'nothing left stopped');
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
    assert.ok(await eventually(() => allStopped(tree.pids), 10_000), 'stopped');
    const killedAt = performance.now();
    child.kill('SIGKILL');
    assert.ok(
      await eventually(() => noneStopped(tree.pids), 15_000),
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
    // A lease killed at its thaw may leave its current sleep (at most a second) behind; on a
    // loaded machine that sleep may end seconds late. A lease left running would sleep for an
    // hour, so a 10 s deadline still tells the two apart.
    for (const watchdog of keptWatchdogs()) {
      const gone = await eventually(() => leaseProcesses(watchdog).length === 0, 10_000);
      const left = leaseProcesses(watchdog).map((pid) => `${pid} (${readProcessStat(pid)?.comm ?? 'gone'})`);
      assert.ok(gone, `lease timers left in the watchdog's group: ${left.join(' ')}`);
    }
    tree.kill();
  });

  test(
    'the watchdog SIGKILLed while holding is replaced: a SIGKILL of the freezer then still thaws',
    T,
    async () => {
      const tree = await startTree('tree', 4, 2);
      const { child, lines } = startFreezer(tree.root);
      assert.ok(await eventually(() => lines.length >= 2, 15_000), 'frozen');
      const twins = JSON.parse(lines[1] as string).watchdogs as number[];
      const [first] = twins;
      assert.ok(first, 'the freezer has its watchdogs');
      process.kill(first, 'SIGKILL');
      const replaced = () => watchdogsOf(child.pid as number).filter((pid) => !twins.includes(pid));
      assert.ok(await eventually(() => replaced().length === 1, 10_000), 'a new watchdog took over');
      assert.ok(allStopped(tree.pids), 'still held meanwhile');
      const killedAt = performance.now();
      child.kill('SIGKILL');
      assert.ok(await eventually(() => noneStopped(tree.pids), 10_000), 'the replacement resumed the tree');
      console.log(
        `# replaced watchdog resumed the tree ${(performance.now() - killedAt).toFixed(0)} ms after SIGKILL`,
      );
      assert.ok(await eventually(() => runningWatchdogs([first, ...replaced()]).length === 0, 10_000));
      tree.kill();
    },
  );

  test('a watchdog SIGKILLed and then the freezer 0 to 10 ms later: its twin resumes the tree, every time', {
    timeout: 120_000,
  }, async () => {
    const tree = await startTree('tree', 3, 1);
    const stuck: string[] = [];
    for (const gapMs of [0, 1, 2, 5, 10]) {
      for (let run = 0; run < 3; run++) {
        const { child, lines } = startFreezer(tree.root);
        assert.ok(await eventually(() => lines.length >= 2, 15_000), 'frozen');
        const [first] = JSON.parse(lines[1] as string).watchdogs as number[];
        process.kill(first as number, 'SIGKILL');
        const until = performance.now() + gapMs;
        while (performance.now() < until) {
          // a tight wait: the gap is milliseconds
        }
        child.kill('SIGKILL');
        if (!(await eventually(() => noneStopped(tree.pids), 3000))) {
          stuck.push(`${gapMs} ms (run ${run})`);
          for (const pid of tree.pids) process.kill(pid, 'SIGCONT'); // for the next run
        }
      }
    }
    // With one watchdog, a freezer killed before the replacement was briefed left the tree
    // stopped for good: nearly every run at 0-2 ms.
    assert.deepEqual(stuck, [], 'left stopped');
    tree.kill();
  });

  test(
    'the watchdog SIGSTOPped while holding is continued: a SIGKILL of the freezer then still thaws',
    T,
    async () => {
      const tree = await startTree('tree', 4, 2);
      const { child, lines } = startFreezer(tree.root, { reportWatchdogEvents: true });
      assert.ok(await eventually(() => lines.length >= 2, 15_000), 'frozen');
      const [watchdog] = JSON.parse(lines[1] as string).watchdogs as number[];
      process.kill(watchdog as number, 'SIGSTOP');
      // The freezer dies only once its keeper has continued the watchdog, as it reports. (Killed
      // before, the tree waits for the watchdog to be continued: a documented residual risk.)
      const continued = () => lines.slice(2).some((line) => JSON.parse(line).watchdog?.event === 'continued');
      assert.ok(await eventually(continued, 10_000), `the freezer continued it: ${lines.slice(2)}`);
      assert.doesNotMatch(taskStates(watchdog as number), /T/, 'continued by the freezer');
      child.kill('SIGKILL');
      assert.ok(await eventually(() => noneStopped(tree.pids), 10_000), 'the watchdog resumed the tree');
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
      // replaced, which another test covers).
      assert.ok(await eventually(() => ignoresStraySignals(watchdog), 10_000), 'the watchdog set its traps');
      for (const signal of STRAY_SIGNALS) {
        process.kill(watchdog as number, signal);
      }
      // Proof that the watchdog went on past the signals: it reads a later line and acts on it (a
      // second hold's lease starts a lease process in its group). A signal it did not ignore
      // would have been acted on, or killed it, before it read on.
      const other = await startTree('tree', 1, 1);
      const leasesBefore = leaseProcesses(watchdog);
      const second = await freezeTree(other.root, { maxHoldMs: 60_000 });
      const newLease = () => leaseProcesses(watchdog).some((pid) => !leasesBefore.includes(pid));
      const leased = await eventually(newLease, 10_000);
      await second.thaw();
      other.kill();
      assert.ok(leased, 'the watchdog read the next hold’s lease and started it');
      assert.ok(allStopped(tree.pids), 'still frozen');
      assert.deepEqual(runningWatchdogs([watchdog as number]), [watchdog], 'the watchdog still runs');
      assert.deepEqual(frozen.watchdogEvents, []);
      await frozen.thaw();
      assert.ok(noneStopped(tree.pids));
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
    assert.ok(noneStopped(tree.pids));
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
      assert.ok(await eventually(() => noneStopped(tree.pids), 10_000), 'the tree was thawed');
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
    assert.ok(await eventually(() => noneStopped(inner.pids), 10_000), "A's watchdog resumed A's tree");
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
    assert.ok(noneStopped(tree.pids));
    tree.kill();
  });

  test(
    'a second freeze while the first holds: the same twins, each lease resumes only its own tree',
    T,
    async () => {
      const first = await startTree('tree', 3, 2);
      const second = await startTree('tree', 3, 2);
      const freezer = startTwoHolds(first.root, second.root, { maxHoldMs: 400 }, { hang: true });
      assert.ok(await eventually(() => freezer.lines.length >= 1, 15_000), 'first freeze');
      freezer.next();
      assert.ok(await eventually(() => freezer.lines.length >= 3, 15_000), 'second freeze');
      const [one, two] = [JSON.parse(freezer.lines[0] as string), JSON.parse(freezer.lines[2] as string)];
      assert.equal(one.watchdogs.length, WATCHDOG_TWINS);
      assert.deepEqual(sorted(two.watchdogs), sorted(one.watchdogs), 'the second freeze reused the twins');
      // The freezer hangs now: only the watchdog can end the first lease, and it must not touch the second tree.
      assert.ok(
        await eventually(() => noneStopped(first.pids), 10_000),
        'the first lease resumed the first tree',
      );
      await sleep(100);
      assert.ok(allStopped(second.pids), 'the second tree is still held');
      freezer.child.kill('SIGKILL');
      assert.ok(
        await eventually(() => noneStopped(second.pids), 10_000),
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
      const stopped = () => stoppedAmong([...first.pids, ...descendantsByScan(second.root)]);
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
      assert.equal(newWatchdogs(before).length, WATCHDOG_TWINS);
      await withoutKoffi.thaw();
    }
    assert.ok(noneStopped(tree.pids));
    tree.kill();
  });

  for (const identity of ['pidfd', 'starttime'] as const) {
    test(
      `pid reuse (${identity}): a recycled pid is never stopped, and thaw never signals it`,
      T,
      async (t) => {
        if (!requireRoot(t, 'needs root to write /proc/sys/kernel/ns_last_pid')) return;
        let impostor: ChildProcess | undefined;
        // The test stops the impostor itself below: whatever fails, it is ended, not left stopped.
        t.after(() => {
          if (impostor) killGroupOf(impostor);
        });
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
      t.after(() => killGroupOf(impostor)); // stopped below: ended whatever fails
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
