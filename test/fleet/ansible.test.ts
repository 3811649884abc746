/**
 * The example playbook (examples/ansible), for real: three test hosts (test/helpers/hosts.ts),
 * each a network and pid namespace with its own sshd and a small service, frozen at once by
 * ansible-playbook run from the example's own directory (so with its ansible.cfg). A play
 * passes only when every host's hold covered its snapshot; every fault ends with every
 * host running again.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import {
  allStopped,
  eventually,
  fleetUnavailable,
  freshBuild,
  inCI,
  noneStopped,
  type Play,
  play,
  repoRoot,
  resumedAfter,
  startFleet,
  type TestFleet,
  treefreezeOn,
  watchStates,
} from '../helpers/index.js';

/**
 * A play takes 5-30 s here, but two copies of the suite running their plays at once on a
 * loaded machine have taken more than 120 s: the deadline only guards against a hang.
 */
const PLAY = { timeout: 300_000 };
const reason = fleetUnavailable();
let fleet: TestFleet | undefined;
const plays = new Set<Play>();

before(async () => {
  if (reason !== '') return;
  freshBuild();
  fleet = await startFleet(3);
});

after(async () => {
  await fleet?.teardown();
});

/**
 * After each test: no play of it left running, and no hold left on any host (a failed test
 * may leave one until its lease), so that the next test starts from a fleet that runs.
 */
afterEach(async () => {
  for (const run of plays) {
    try {
      process.kill(-(run.child.pid as number), 'SIGKILL');
    } catch {
      // ended
    }
    await run.done;
  }
  plays.clear();
  if (fleet === undefined) return;
  for (const host of fleet.hosts) {
    const status = JSON.parse(treefreezeOn(fleet, host, ['status', '--json'])) as { holds: { id: string }[] };
    for (const { id } of status.holds) treefreezeOn(fleet, host, ['thaw', id]);
  }
});

/** Every host's whole service is stopped (and there is one: two processes each). */
const fleetFrozen = () =>
  hostsOf().every((host) => host.servicePids().length === 2 && allStopped(host.servicePids()));

function skipUnlessFleet(t: { skip: (message: string) => void }): boolean {
  if (reason === '') return true;
  assert.ok(!inCI, `CI must run the fleet tests: ${reason}`);
  t.skip(reason);
  return false;
}

const hostsOf = () => (fleet as TestFleet).hosts;
const started = (options: Parameters<typeof play>[1] = {}) => {
  const run = play(fleet as TestFleet, options);
  plays.add(run);
  return run;
};
const snapshot = (file: string, seconds = 0) =>
  `${join(repoRoot, 'test/fleet/snapshot.sh')} ${(fleet as TestFleet).service} ${file} ${seconds}`;
const snapshotsIn = (file: string) =>
  existsSync(file)
    ? readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((line) => line.split(' '))
    : [];
/** Every host runs again (or is made to: a test that failed may have left a hold). */
async function assertAllRunAgain(deadlineMs: number, since = performance.now()): Promise<void> {
  for (const host of hostsOf()) {
    const ms = await resumedAfter(host.servicePids(), since, deadlineMs);
    assert.ok(ms !== null, `${host.name} runs again`);
  }
}

/**
 * A login of its own for the test: a fresh user (password '*': no password login, but not a
 * locked account, which sshd refuses) who may become root through sudo. Removed by `remove()`.
 */
function becomeUser(): { user: string; remove: () => Promise<void> } {
  const user = `tfb${process.pid % 100_000}`;
  const sudoers = `/etc/sudoers.d/treefreeze-test-${process.pid}`;
  execFileSync('useradd', ['-M', '-s', '/bin/sh', '-p', '*', user]);
  writeFileSync(sudoers, `${user} ALL=(ALL) NOPASSWD: ALL\n`, { mode: 0o440 });
  const remove = async () => {
    rmSync(sudoers, { force: true });
    // Its sessions on the hosts outlive the play (ssh's ControlPersist): end them, then the user.
    const uid = execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim();
    await eventually(() => {
      try {
        execFileSync('pkill', ['-KILL', '-U', uid]);
      } catch {
        // none left
      }
      try {
        execFileSync('userdel', [user], { stdio: 'ignore' });
        return true;
      } catch {
        return false;
      }
    }, 10_000);
  };
  return { user, remove };
}

// Both modes: barrier (the default: the play checks every host frozen before the snapshot) and
// time (one task per host holds by the clock; the play checks after).
for (const mode of ['barrier', 'time'] as const)
  test(
    `${mode} mode: freezes 3 hosts (per-host targets; a non-root login that becomes root), snapshots once all are frozen, thaws all, prints rounded figures`,
    PLAY,
    async (t) => {
      if (!skipUnlessFleet(t)) return;
      const log = join((fleet as TestFleet).dir, `snapshots-${mode}.txt`);
      const service = (fleet as TestFleet).service;
      const targets = [service, `name:${service}`, service];
      const login = becomeUser();
      try {
        const states = watchStates(fleet as TestFleet);
        const run = started({
          user: login.user,
          become: true,
          hostVars: (host) => ({ treefreeze_target: targets[hostsOf().indexOf(host)] as string }),
          vars: {
            snapshot_command: snapshot(log),
            treefreeze_lease: '2m',
            ...(mode === 'time'
              ? { treefreeze_mode: 'time', treefreeze_window_ms: '1000', treefreeze_snapshot_ms: '1000' }
              : {}),
          },
        });
        const code = await run.done;
        states.stop();
        assert.equal(code, 0, run.output());
        // Time mode: each host thawed itself, inside its one task: the play's thaw had nothing left
        // to end. Barrier mode: the play's thaw ended every hold.
        const thawTask =
          /TASK \[treefreeze : Thaw\][^\n]*\n([\s\S]*?)TASK \[/.exec(run.output())?.[1] ?? 'missing';
        if (mode === 'time')
          assert.doesNotMatch(thawTask, /changed|missing/, 'the play’s thaw task ran on no host');
        else assert.equal(thawTask.match(/changed: /g)?.length, 3, 'the play’s thaw task thawed every host');
        const snapshots = snapshotsIn(log);
        assert.equal(snapshots.length, 3, 'one snapshot per host');
        const lastFrozen = Math.max(...states.firstFrozen.values());
        assert.equal(states.firstFrozen.size, 3, 'every host was seen frozen');
        for (const [at, taskStates] of snapshots) {
          assert.match(taskStates ?? '', /^T{4}$/, 'the host’s own service is frozen during its snapshot');
          assert.ok(
            Number(at) >= lastFrozen - 5,
            `a snapshot at ${at} started before every host was frozen (${lastFrozen})`,
          );
        }
        for (const [i, host] of hostsOf().entries()) {
          assert.ok(noneStopped(host.servicePids()), `${host.name} thawed`);
          assert.match(
            run.output(),
            new RegExp(
              `${host.name} \\(${targets[i]}\\): froze 2 processes in \\d+\\.\\d ms; hold intact for \\d+\\.\\d s`,
            ),
          );
        }
        assert.doesNotMatch(run.output(), /\{\{|\d\.\d{3,} (ms|s)/, 'no raw template, no unrounded time');
        for (const line of run
          .output()
          .split('\n')
          .filter((l) => /froze 2 processes/.test(l))) {
          console.log(
            `# ansible: ${line
              .trim()
              .replace(/^"msg": "/, '')
              .replace(/"$/, '')}`,
          );
        }
      } finally {
        await login.remove();
      }
    },
  );

/** Once every host's prepare result is in, before any release goes out: the first barrier's header. */
const betweenPhases = (run: Play) =>
  eventually(() => run.output().includes('TASK [Barrier — every host prepared'), 60_000);

test(
  'time mode: a host that cannot freeze at T fails the play naming it; every host runs again',
  PLAY,
  async (t) => {
    if (!skipUnlessFleet(t)) return;
    const failing = hostsOf()[2] as TestFleet['hosts'][number];
    const log = join((fleet as TestFleet).dir, 'time-mode-fails.txt');
    const run = started({
      vars: { snapshot_command: snapshot(log), treefreeze_lease: '2m', treefreeze_mode: 'time' },
    });
    // Between the phases, its prepared hold goes away: its release at T finds nobody to order.
    assert.ok(await betweenPhases(run), run.output());
    for (const pid of failing.holderPids()) process.kill(pid, 'SIGKILL');
    const code = await run.done;
    assert.notEqual(code, 0, run.output());
    assert.match(
      run.output(),
      new RegExp(
        `could not freeze on ${failing.name}: ${failing.name} \\(.*\\): treefreeze: no prepared hold`,
      ),
    );
    await assertAllRunAgain(10_000);
    assert.ok(
      await eventually(() => hostsOf().every((host) => host.holderPids().length === 0), 20_000),
      'no holder is left behind',
    );
  },
);

test(
  'time mode: a snapshot that outlasts treefreeze_snapshot_ms fails the play (discard its snapshots), naming the hosts; every host runs again',
  PLAY,
  async (t) => {
    if (!skipUnlessFleet(t)) return;
    const log = join((fleet as TestFleet).dir, 'time-mode-slow.txt');
    const run = started({
      vars: {
        snapshot_command: snapshot(log, 2), // 2 s, against 0.5 s allowed: every host thaws during it
        treefreeze_lease: '2m',
        treefreeze_mode: 'time',
        treefreeze_window_ms: '1000',
        treefreeze_snapshot_ms: '500',
      },
    });
    const code = await run.done;
    assert.notEqual(code, 0, run.output());
    assert.match(
      run.output(),
      /not every host was frozen throughout every snapshot \(discard this play's snapshots\)/,
    );
    for (const host of hostsOf()) {
      assert.match(
        run.output(),
        new RegExp(`${host.name} \\(.*?\\): thawed at \\d+, before the last snapshot ended`),
      );
    }
    assert.equal(snapshotsIn(log).length, 3, 'every host took its snapshot');
    await assertAllRunAgain(10_000);
  },
);

test('check mode runs a dry run: nothing is frozen, no snapshot, exit 0', PLAY, async (t) => {
  if (!skipUnlessFleet(t)) return;
  const log = join((fleet as TestFleet).dir, 'check.txt');
  const states = watchStates(fleet as TestFleet);
  const run = started({
    vars: { snapshot_command: snapshot(log), treefreeze_lease: '2m' },
    args: ['--check'],
  });
  const code = await run.done;
  states.stop();
  assert.equal(code, 0, run.output());
  assert.equal(states.firstFrozen.size, 0, 'no host was ever frozen');
  assert.deepEqual(snapshotsIn(log), [], 'no snapshot ran');
  for (const host of hostsOf()) {
    assert.match(
      run.output(),
      new RegExp(`${host.name} \\(.*\\): would freeze 2 processes; nothing was frozen`),
    );
  }
});

test(
  'a host that fails to prepare: no host is ever stopped (watched every 2 ms), the play fails naming it and its target',
  PLAY,
  async (t) => {
    if (!skipUnlessFleet(t)) return;
    const broken = hostsOf()[2] as TestFleet['hosts'][number];
    await broken.stopService();
    try {
      const log = join((fleet as TestFleet).dir, 'never.txt');
      const states = watchStates(fleet as TestFleet);
      const run = started({ vars: { snapshot_command: snapshot(log), treefreeze_lease: '2m' } });
      const code = await run.done;
      // The prepared holders of the others are dismissed by the play's thaw: none is left to freeze.
      assert.ok(await eventually(() => hostsOf().every((host) => host.holderPids().length === 0), 20_000));
      states.stop();
      assert.notEqual(code, 0, 'the play fails');
      assert.ok(states.looks() > 10, 'the watch ran throughout'); // a look takes long on a loaded machine
      assert.equal(
        states.firstStopped.size,
        0,
        `no host was ever stopped: ${[...states.firstStopped.keys()]}`,
      );
      assert.match(
        run.output(),
        new RegExp(
          `could not prepare on ${broken.name} \\(no host was frozen\\): ${broken.name} \\(${(fleet as TestFleet).service}\\): treefreeze: no process is named`,
        ),
      );
      assert.deepEqual(snapshotsIn(log), [], 'no snapshot ran');
      assert.match(run.output(), /host1 \(.*\): prepared, never frozen: the fleet did not freeze/);
    } finally {
      await broken.startService();
    }
  },
);

test(
  'a host lost between prepare and release: the others freeze and are thawed, the lost one never freezes (or thaws by its lease)',
  PLAY,
  async (t) => {
    if (!skipUnlessFleet(t)) return;
    const [first, second, lost] = hostsOf() as [
      TestFleet['hosts'][number],
      TestFleet['hosts'][number],
      TestFleet['hosts'][number],
    ];
    const leaseMs = 20_000;
    const log = join((fleet as TestFleet).dir, 'lost.txt');
    const states = watchStates(fleet as TestFleet);
    const run = started({
      vars: {
        snapshot_command: snapshot(log),
        treefreeze_lease: `${leaseMs}ms`,
        // Long enough for the agreed freeze time even when the preparation's fan-out crawls (a
        // loaded machine: with 10 s, every holder found the time past its wait and froze nothing).
        treefreeze_prepare_timeout: '25s',
      },
      // A lost host is given up on sooner than ansible.cfg's settings would: the test's time.
      env: {
        ANSIBLE_TIMEOUT: '3',
        ANSIBLE_SSH_ARGS:
          '-o ControlMaster=auto -o ControlPersist=60s -o ServerAliveInterval=1 -o ServerAliveCountMax=2',
      },
    });
    try {
      assert.ok(await betweenPhases(run), run.output());
      execFileSync('ip', ['link', 'set', lost.link, 'down']);
      const code = await run.done;
      const ended = performance.now();
      assert.notEqual(code, 0, run.output());
      assert.match(
        run.output(),
        new RegExp(`could not freeze on ${lost.name}: ${lost.name} \\(.*\\): unreachable`),
      );
      assert.deepEqual(snapshotsIn(log), [], 'no snapshot ran');
      for (const host of [first, second]) {
        assert.ok(states.firstFrozen.has(host.name), `${host.name} froze at the agreed time`);
        assert.ok(noneStopped(host.servicePids()), `${host.name} was thawed by the play`);
      }
      // The lost host's prepared holder hears nothing and exits unfrozen at its prepare timeout.
      assert.ok(await eventually(() => lost.holderPids().length === 0, 45_000), 'its prepared holder exited');
      if (states.firstStopped.has(lost.name)) {
        assert.ok(
          (await resumedAfter(lost.servicePids(), ended, leaseMs + 10_000)) !== null,
          'thawed by its lease',
        );
      }
      console.log(
        `# host lost between the phases: ${lost.name} ${states.firstStopped.has(lost.name) ? 'froze, then thawed by its lease' : 'never stopped'}; the others froze and were thawed`,
      );
    } finally {
      states.stop();
      execFileSync('ip', ['link', 'set', lost.link, 'up']);
    }
  },
);

test(
  'ansible-playbook SIGKILLed between prepare and release: no host ever freezes; every prepared holder exits by its deadline',
  PLAY,
  async (t) => {
    if (!skipUnlessFleet(t)) return;
    const log = join((fleet as TestFleet).dir, 'killed.txt');
    const states = watchStates(fleet as TestFleet);
    const run = started({
      vars: { snapshot_command: snapshot(log), treefreeze_lease: '20s', treefreeze_prepare_timeout: '8s' },
    });
    try {
      assert.ok(await betweenPhases(run), run.output());
      process.kill(-(run.child.pid as number), 'SIGKILL');
      await run.done;
      assert.ok(
        hostsOf().some((host) => host.holderPids().length > 0),
        'prepared holders outlive the controller',
      );
      assert.ok(
        await eventually(() => hostsOf().every((host) => host.holderPids().length === 0), 30_000),
        'every prepared holder exited by its prepare timeout',
      );
      assert.ok(states.looks() > 10, 'the watch ran throughout'); // a look takes long on a loaded machine
      assert.equal(
        states.firstStopped.size,
        0,
        `no host was ever stopped: ${[...states.firstStopped.keys()]}`,
      );
      assert.deepEqual(snapshotsIn(log), []);
    } finally {
      states.stop();
    }
  },
);

test(
  'a lease shorter than the snapshot fails the play, naming every host whose hold ran out',
  PLAY,
  async (t) => {
    if (!skipUnlessFleet(t)) return;
    const log = join((fleet as TestFleet).dir, 'short-lease.txt');
    const run = started({ vars: { snapshot_command: snapshot(log, 4), treefreeze_lease: '2s' } });
    const code = await run.done;
    assert.notEqual(code, 0, run.output());
    assert.equal(snapshotsIn(log).length, 3, 'the snapshots ran (their first moments held)');
    for (const host of hostsOf()) {
      assert.match(
        run.output(),
        new RegExp(`${host.name} \\(.*\\): its hold had ended before the thaw \\(the lease of 2s ran out`),
      );
    }
    assert.match(run.output(), /the snapshot was not taken under an intact hold on host1, host2, host3/);
    await assertAllRunAgain(10_000);
  },
);

test('a SIGCONT behind the hold fails the play, naming the host whose hold broke', PLAY, async (t) => {
  if (!skipUnlessFleet(t)) return;
  const log = join((fleet as TestFleet).dir, 'sigcont.txt');
  const run = started({ vars: { snapshot_command: snapshot(log, 3), treefreeze_lease: '2m' } });
  const victim = hostsOf()[1] as TestFleet['hosts'][number];
  assert.ok(await eventually(fleetFrozen, 60_000), run.output());
  for (const pid of victim.servicePids()) process.kill(pid, 'SIGCONT');
  const code = await run.done;
  assert.notEqual(code, 0, run.output());
  assert.match(
    run.output(),
    new RegExp(
      `not taken under an intact hold on ${victim.name}: ${victim.name} \\(.*\\): hold broken [12] time`,
    ),
  );
  await assertAllRunAgain(10_000);
});

test(
  'a link cut mid-hold ends the play within 30 s; the other hosts are thawed at once, that one by its lease',
  PLAY,
  async (t) => {
    if (!skipUnlessFleet(t)) return;
    const [first, second, cut] = hostsOf() as [
      TestFleet['hosts'][number],
      TestFleet['hosts'][number],
      TestFleet['hosts'][number],
    ];
    const leaseMs = 20_000;
    const snapshotSeconds = 4;
    const log = join((fleet as TestFleet).dir, 'cut.txt');
    const run = started({
      vars: { snapshot_command: snapshot(log, snapshotSeconds), treefreeze_lease: `${leaseMs}ms` },
    });
    // Once every snapshot has begun: the fleet is frozen and every freeze task has returned.
    assert.ok(await eventually(() => snapshotsIn(log).length === 3, 60_000), run.output());
    const frozenAt = performance.now();
    execFileSync('ip', ['link', 'set', cut.link, 'down']);
    try {
      const others = await Promise.all(
        [first, second].map((host) => resumedAfter(host.servicePids(), frozenAt, leaseMs)),
      );
      for (const ms of others)
        assert.ok(ms !== null && ms < leaseMs - 5000, `thawed at once, not by the lease: ${ms} ms`);
      const code = await Promise.race([
        run.done,
        new Promise((resolve) => setTimeout(resolve, 30_000, 'still running')),
      ]);
      const endedMs = performance.now() - frozenAt;
      assert.notEqual(code, 'still running', `the play still ran 30 s after the cut:\n${run.output()}`);
      assert.notEqual(code, 0);
      assert.match(
        run.output(),
        new RegExp(`not taken under an intact hold on ${cut.name}: ${cut.name} \\(.*\\): no answer`),
      );
      console.log(
        `# link cut on ${cut.name}: the others running again after ${others.map((ms) => ms?.toFixed(0)).join(', ')} ms, the play ended after ${endedMs.toFixed(0)} ms (snapshot ${snapshotSeconds} s, lease ${leaseMs} ms)`,
      );
      const cutMs = await resumedAfter(cut.servicePids(), frozenAt, leaseMs + 15_000);
      assert.ok(cutMs !== null, `${cut.name} thawed by its lease`);
    } finally {
      execFileSync('ip', ['link', 'set', cut.link, 'up']);
    }
  },
);

test(
  'ansible-playbook SIGKILLed while frozen: a re-run fails clearly, saying how to end the old hold; the rest thaw by their lease',
  PLAY,
  async (t) => {
    if (!skipUnlessFleet(t)) return;
    const leaseMs = 20_000;
    const log = join((fleet as TestFleet).dir, 'rerun.txt');
    const first = started({
      vars: { snapshot_command: snapshot(log, 60), treefreeze_lease: `${leaseMs}ms` },
    });
    assert.ok(await eventually(fleetFrozen, 60_000), first.output());
    const frozenAt = performance.now();
    process.kill(-(first.child.pid as number), 'SIGKILL');
    await first.done;
    const second = started({ vars: { snapshot_command: snapshot(log), treefreeze_lease: '2m' } });
    const code = await second.done;
    assert.notEqual(code, 0, second.output());
    const ids: string[] = [];
    for (const host of hostsOf()) {
      const match = new RegExp(
        `${host.name} \\(.*?\\): treefreeze: process(es)? [\\d, ]+ (\\(.*?\\) )?(is|are) already held by another treefreeze hold \\(hold (tf-[0-9a-f]{6}).*?end it first \\(treefreeze thaw \\4, or wait for its lease\\)`,
      ).exec(second.output());
      assert.ok(match, `${host.name} refused, naming its old hold:\n${second.output()}`);
      ids.push(match[4] as string);
    }
    const [first1, ...rest] = hostsOf() as TestFleet['hosts'];
    assert.ok(
      rest.every((host) => allStopped(host.servicePids())),
      'the old holds still hold',
    );
    // As the message says: end the old hold on the first host; the others wait for their lease.
    treefreezeOn(fleet as TestFleet, first1 as TestFleet['hosts'][number], ['thaw', ids[0] as string]);
    assert.ok(noneStopped((first1 as TestFleet['hosts'][number]).servicePids()), 'thaw <id> ended it');
    for (const host of rest) {
      const ms = await resumedAfter(host.servicePids(), frozenAt, leaseMs + 15_000);
      console.log(
        `# SIGKILL to ansible-playbook: ${host.name} running again ${ms?.toFixed(0)} ms later (lease ${leaseMs} ms)`,
      );
      assert.ok(ms !== null, `${host.name} thawed by its lease`);
    }
  },
);
