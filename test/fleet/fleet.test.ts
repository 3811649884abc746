/**
 * The fleet, for real on one machine: three test hosts, each a network and pid namespace
 * with its own sshd on a private address and a small service (test/helpers/hosts.ts),
 * frozen at once by the Node helper over the system's ssh client, and by Ansible.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  allStopped,
  childrenOf,
  cliPath,
  eventually,
  fleetUnavailable,
  freshBuild,
  inCI,
  noneStopped,
  repoRoot,
  startFleet,
  type TestFleet,
} from '../helpers/index.js';

const T = { timeout: 120_000 };
/**
 * A play takes 15-30 s here, but two copies of the suite running their plays at once on a
 * loaded machine have taken more than 120 s: the deadline only guards against a hang.
 */
const PLAY = { timeout: 300_000 };
const reason = fleetUnavailable();
let fleet: TestFleet | undefined;
const controllers = new Set<ChildProcess>();

before(async () => {
  if (reason !== '') return;
  freshBuild();
  fleet = await startFleet(3);
});

/** SIGKILL to a controller; its ssh clients (which outlive it) are ended by pid once `settled`. */
function killController(child: ChildProcess): number[] {
  const pid = child.pid as number;
  const clients = childrenOf(pid); // [] when it is gone already
  child.kill('SIGKILL');
  sshClients.push(...clients);
  return clients;
}
const sshClients: number[] = [];

after(async () => {
  for (const child of controllers) child.kill('SIGKILL');
  for (const pid of sshClients) {
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'ssh') process.kill(pid, 'SIGKILL');
    } catch {
      // exited
    }
  }
  await fleet?.teardown();
});

function skipUnlessFleet(t: { skip: (message: string) => void }): boolean {
  if (reason === '') return true;
  assert.ok(!inCI, `CI must run the fleet tests: ${reason}`);
  t.skip(reason);
  return false;
}

const treefreezeCommand = () => `${process.execPath} ${cliPath}`;

/** Starts the controller script; its JSON lines as they come. */
function startController(hosts: string[], options: object) {
  const child = spawn(
    process.execPath,
    [join(repoRoot, 'test/scripts/fleet-controller.mjs'), JSON.stringify({ hosts, ...options })],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  controllers.add(child);
  const lines: Record<string, unknown>[] = [];
  let buffered = '';
  child.stdout.on('data', (data) => {
    buffered += data;
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    for (const part of parts) lines.push(JSON.parse(part));
  });
  return { child, lines };
}

/** Waits until every pid runs again; how long that took from `since`, or null. */
async function resumedAfter(pids: number[], since: number, deadlineMs: number): Promise<number | null> {
  const until = performance.now() + deadlineMs;
  while (performance.now() < until) {
    if (noneStopped(pids)) return performance.now() - since;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return null;
}

describe('freezeFleet (the Node helper, over ssh)', () => {
  const options = (extra: object = {}) => ({
    target: (fleet as TestFleet).service,
    maxHoldMs: 60_000,
    ssh: ['ssh', ...(fleet as TestFleet).sshOptions],
    remoteCommand: treefreezeCommand(),
    ...extra,
  });
  const destinations = () => (fleet as TestFleet).hosts.map((host) => `root@${host.address}`);

  test('freezes the service on three hosts at once, then thaws them all, each intact', T, async (t) => {
    if (!skipUnlessFleet(t)) return;
    const hosts = (fleet as TestFleet).hosts;
    const controller = startController(destinations(), options());
    assert.ok(await eventually(() => controller.lines.length >= 1, 30_000), 'the controller reported');
    const report = controller.lines[0] as { ok: boolean; hosts: { pids: number[]; freezeMs: number }[] };
    assert.equal(report.ok, true, JSON.stringify(report));
    for (const host of hosts)
      assert.ok(allStopped(host.servicePids()), `${host.name} is frozen when it resolves`);
    for (const [i, hold] of report.hosts.entries()) {
      assert.equal(hold.pids.length, 2, 'two processes, as the host sees them');
      console.log(`# ${hosts[i]?.name}: froze ${hold.pids.length} processes in ${hold.freezeMs} ms`);
    }
    controller.child.stdin.write('thaw\n');
    assert.ok(await eventually(() => controller.lines.length >= 2, 30_000), 'thawed');
    const { thawed } = controller.lines[1] as { thawed: { intact: boolean; reason: string }[] };
    assert.deepEqual(
      thawed.map((host) => [host.intact, host.reason]),
      hosts.map(() => [true, 'stdin']),
    );
    for (const host of hosts) assert.ok(noneStopped(host.servicePids()), `${host.name} runs again`);
  });

  test(
    'one host whose target is missing: the others are thawed and it rejects naming that host',
    T,
    async (t) => {
      if (!skipUnlessFleet(t)) return;
      const hosts = (fleet as TestFleet).hosts;
      const broken = hosts[1] as (typeof hosts)[number];
      await broken.stopService();
      try {
        const controller = startController(destinations(), options());
        assert.ok(await eventually(() => controller.lines.length >= 1, 30_000), 'the controller reported');
        const report = controller.lines[0] as { ok: boolean; code: string; message: string; at: number };
        assert.equal(report.ok, false);
        assert.equal(report.code, 'FLEET_FAILED');
        assert.match(report.message, new RegExp(`${broken.address}: no process is named`));
        for (const host of hosts)
          assert.ok(noneStopped(host.servicePids()), `${host.name} runs (thawed, or never frozen)`);
      } finally {
        await broken.startService();
      }
    },
  );

  test(
    'the controller SIGKILLed, or a link cut, while the fleet is frozen: every host runs again',
    T,
    async (t) => {
      if (!skipUnlessFleet(t)) return;
      const hosts = (fleet as TestFleet).hosts;
      // SIGKILL: the ssh clients lose their stdin, each host's session reads EOF and thaws.
      const killed = startController(destinations(), options());
      assert.ok(await eventually(() => killed.lines.length >= 1, 30_000));
      assert.equal((killed.lines[0] as { ok: boolean }).ok, true, JSON.stringify(killed.lines[0]));
      const killedAt = performance.now();
      killController(killed.child);
      for (const host of hosts) {
        const ms = await resumedAfter(host.servicePids(), killedAt, 10_000);
        console.log(`# controller SIGKILLed: ${host.name} running again after ${ms?.toFixed(0)} ms`);
        assert.ok(ms !== null, `${host.name} thawed at EOF`);
      }
      // A cut link: nobody notices, the lease (3 s here) thaws each host.
      const leaseMs = 3000;
      const cut = startController(destinations(), options({ maxHoldMs: leaseMs }));
      assert.ok(await eventually(() => cut.lines.length >= 1, 30_000));
      assert.equal((cut.lines[0] as { ok: boolean }).ok, true);
      const frozenAt = performance.now();
      for (const host of hosts) execFileSync('ip', ['link', 'set', host.link, 'down']);
      try {
        for (const host of hosts) {
          const ms = await resumedAfter(host.servicePids(), frozenAt, leaseMs + 10_000);
          console.log(
            `# link cut: ${host.name} running again ${ms?.toFixed(0)} ms after the freeze (lease ${leaseMs} ms)`,
          );
          assert.ok(ms !== null, `${host.name} thawed by its lease`);
        }
      } finally {
        for (const host of hosts) execFileSync('ip', ['link', 'set', host.link, 'up']);
        killController(cut.child);
      }
    },
  );
});

describe('the Ansible playbook (examples/ansible)', () => {
  const playbook = join(repoRoot, 'examples/ansible/playbook.yml');

  /** Runs ansible-playbook against the test hosts; `onFrozen` is called once every host reads frozen. */
  function play(extraVars: Record<string, string>) {
    const f = fleet as TestFleet;
    const inventory = join(f.dir, 'inventory.ini');
    writeFileSync(
      inventory,
      [
        '[fleet]',
        ...f.hosts.map((host) => `${host.name} ansible_host=${host.address}`),
        '[fleet:vars]',
        'ansible_user=root',
        `ansible_ssh_private_key_file=${f.key}`,
        'ansible_python_interpreter=/usr/bin/python3',
        "ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -F /dev/null'",
        '',
      ].join('\n'),
    );
    const vars = {
      treefreeze_hosts: 'fleet',
      treefreeze_target: f.service,
      treefreeze_command: treefreezeCommand(),
      ...extraVars,
    };
    const child = spawn('ansible-playbook', ['-i', inventory, playbook, '-e', JSON.stringify(vars)], {
      detached: true, // its own process group: a SIGKILL to the group takes its ssh clients too
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        ANSIBLE_HOME: join(f.dir, 'ansible'),
        ANSIBLE_LOCAL_TEMP: join(f.dir, 'ansible-local'),
        ANSIBLE_REMOTE_TEMP: join(f.dir, 'ansible-remote'),
        ANSIBLE_SSH_CONTROL_PATH_DIR: join(f.dir, 'ansible-cp'),
        ANSIBLE_HOST_KEY_CHECKING: 'False',
        ANSIBLE_RETRY_FILES_ENABLED: 'False',
        ANSIBLE_NOCOLOR: '1',
        ANSIBLE_FORKS: '10',
        ANSIBLE_PIPELINING: 'True', // one ssh operation per task instead of three or four
      },
    });
    let output = '';
    child.stdout.on('data', (data) => {
      output += data;
    });
    child.stderr.on('data', (data) => {
      output += data;
    });
    const done = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    return { child, done, output: () => output };
  }

  /** Polls every host's service from outside: when each was first seen frozen, and running again. */
  function watchStates() {
    const hosts = (fleet as TestFleet).hosts;
    const firstFrozen = new Map<string, number>();
    const timer = setInterval(() => {
      for (const host of hosts) {
        if (!firstFrozen.has(host.name) && allStopped(host.servicePids()))
          firstFrozen.set(host.name, Date.now());
      }
    }, 2);
    return { firstFrozen, stop: () => clearInterval(timer) };
  }

  const snapshot = (file: string, seconds = 0) =>
    `${join(repoRoot, 'test/fleet/snapshot.sh')} ${(fleet as TestFleet).service} ${file} ${seconds}`;

  test(
    'freezes 3 hosts, snapshots only once all are frozen, thaws all, prints per-host figures',
    PLAY,
    async (t) => {
      if (!skipUnlessFleet(t)) return;
      const hosts = (fleet as TestFleet).hosts;
      const log = join((fleet as TestFleet).dir, 'snapshots.txt');
      const states = watchStates();
      const run = play({ snapshot_command: snapshot(log), treefreeze_lease: '2m' });
      const code = await run.done;
      states.stop();
      assert.equal(code, 0, run.output());
      const snapshots = readFileSync(log, 'utf8')
        .trim()
        .split('\n')
        .map((line) => line.split(' '));
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
      for (const host of hosts) {
        assert.ok(noneStopped(host.servicePids()), `${host.name} thawed`);
        assert.match(
          run.output(),
          new RegExp(`${host.name}: froze 2 processes in [\\d.]+ ms; hold intact for [\\d.]+ ms`),
        );
      }
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
    },
  );

  test(
    'one host that cannot freeze: the others are thawed at once, the play fails naming it',
    PLAY,
    async (t) => {
      if (!skipUnlessFleet(t)) return;
      const hosts = (fleet as TestFleet).hosts;
      const broken = hosts[2] as (typeof hosts)[number];
      await broken.stopService();
      try {
        const log = join((fleet as TestFleet).dir, 'never.txt');
        const run = play({ snapshot_command: snapshot(log), treefreeze_lease: '2m' });
        const code = await run.done;
        assert.notEqual(code, 0, 'the play fails');
        assert.match(
          run.output(),
          new RegExp(
            `could not freeze .* on ${broken.name}: ${broken.name}: treefreeze: no process is named`,
          ),
        );
        assert.throws(() => readFileSync(log), 'no snapshot ran');
        for (const host of hosts) assert.ok(noneStopped(host.servicePids()), `${host.name} runs`);
        assert.match(run.output(), /host1: froze 2 processes in [\d.]+ ms; hold intact/);
      } finally {
        await broken.startService();
      }
    },
  );

  for (const fault of ['SIGKILL to ansible-playbook', 'the links cut'] as const) {
    test(
      `the controller lost while the fleet is frozen (${fault}): every host thaws within its lease`,
      PLAY,
      async (t) => {
        if (!skipUnlessFleet(t)) return;
        const hosts = (fleet as TestFleet).hosts;
        const leaseMs = 4000;
        const log = join((fleet as TestFleet).dir, `long-${fault.length}.txt`);
        const run = play({ snapshot_command: snapshot(log, 60), treefreeze_lease: `${leaseMs}ms` });
        assert.ok(
          await eventually(() => hosts.every((host) => allStopped(host.servicePids())), 60_000),
          run.output(),
        );
        const frozenAt = performance.now();
        if (fault === 'SIGKILL to ansible-playbook') process.kill(-(run.child.pid as number), 'SIGKILL');
        else for (const host of hosts) execFileSync('ip', ['link', 'set', host.link, 'down']);
        try {
          for (const host of hosts) {
            const ms = await resumedAfter(host.servicePids(), frozenAt, leaseMs + 15_000);
            console.log(
              `# ${fault}: ${host.name} running again ${ms?.toFixed(0)} ms later (lease ${leaseMs} ms)`,
            );
            assert.ok(ms !== null, `${host.name} thawed by its lease`);
          }
        } finally {
          if (fault === 'the links cut') {
            for (const host of hosts) execFileSync('ip', ['link', 'set', host.link, 'up']);
            process.kill(-(run.child.pid as number), 'SIGKILL');
          }
          await run.done;
        }
      },
    );
  }
});
