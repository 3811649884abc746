/**
 * The fleet, for real on one machine: three test hosts, each a network and pid namespace
 * with its own sshd on a private address and a small service (test/helpers/hosts.ts),
 * frozen at once by the Node helper over the system's ssh client (the Ansible example has
 * its own file, ansible.test.ts). Every failure before the order to freeze must leave every
 * host never frozen at all, watched from outside the whole time.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FreezeError } from '../../src/base/errors.js';
import { freezeFleet } from '../../src/fleet.js';
import {
  allStopped,
  childrenOf,
  eventually,
  fleetUnavailable,
  freshBuild,
  inCI,
  LOAD_DELAY_MS,
  noneStopped,
  repoRoot,
  resumedAfter,
  startFleet,
  type TestFleet,
  treefreezeCommand,
  watchStates,
} from '../helpers/index.js';

const T = { timeout: 120_000 };
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

/** Waits until no treefreeze holder runs on any of `hosts` (so none can freeze any more). */
async function holdersGone(hosts: TestFleet['hosts']): Promise<void> {
  for (const host of hosts) {
    assert.ok(await eventually(() => host.holderPids().length === 0, 15_000), `${host.name}'s holder exited`);
  }
}

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
    const report = controller.lines[0] as {
      ok: boolean;
      hosts: { pids: number[]; freezeMs: number; frozenAt: number }[];
    };
    assert.equal(report.ok, true, JSON.stringify(report));
    for (const host of hosts)
      assert.ok(allStopped(host.servicePids()), `${host.name} is frozen when it resolves`);
    for (const [i, hold] of report.hosts.entries()) {
      assert.equal(hold.pids.length, 2, 'two processes, as the host sees them');
      assert.ok(hold.frozenAt <= (report as unknown as { at: number }).at, 'frozen before it resolved');
      console.log(`# ${hosts[i]?.name}: froze ${hold.pids.length} processes in ${hold.freezeMs} ms`);
    }
    const times = report.hosts.map((hold) => hold.frozenAt);
    console.log(`# first to last host frozen: ${Math.max(...times) - Math.min(...times)} ms`);
    controller.child.stdin.write('thaw\n');
    assert.ok(await eventually(() => controller.lines.length >= 2, 30_000), 'thawed');
    const { thawed } = controller.lines[1] as {
      thawed: { intact: boolean; reason: string; endedEarly: boolean }[];
    };
    assert.deepEqual(
      thawed.map((host) => [host.intact, host.reason, host.endedEarly]),
      hosts.map(() => [true, 'stdin', false]),
    );
    for (const host of hosts) assert.ok(noneStopped(host.servicePids()), `${host.name} runs again`);
  });

  test(
    'one host whose target is missing fails the preparation: no host is ever frozen, and it rejects naming that host',
    T,
    async (t) => {
      if (!skipUnlessFleet(t)) return;
      const hosts = (fleet as TestFleet).hosts;
      const broken = hosts[1] as (typeof hosts)[number];
      await broken.stopService();
      const states = watchStates(fleet as TestFleet);
      try {
        const controller = startController(destinations(), options());
        assert.ok(await eventually(() => controller.lines.length >= 1, 30_000), 'the controller reported');
        const report = controller.lines[0] as { ok: boolean; code: string; message: string; at: number };
        assert.equal(report.ok, false);
        assert.equal(report.code, 'FLEET_FAILED');
        assert.match(
          report.message,
          new RegExp(`${broken.address}: no process is named.*nothing was frozen$`),
        );
        await holdersGone(hosts);
        assert.equal(
          states.firstStopped.size,
          0,
          `never frozen anywhere: ${[...states.firstStopped.keys()]}`,
        );
        assert.ok(states.looks() > 10, 'the hosts were watched');
      } finally {
        states.stop();
        await broken.startService();
      }
    },
  );

  test(
    'the controller SIGKILLed, or a link cut, while the fleet is frozen: every host runs again, and thaw() says which did not answer',
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
      // A link cut on one host: thaw() says so for that host (not intact, unreachable), the
      // others are thawed and intact, and the lease (3 s here) thaws the cut host.
      const leaseMs = 3000;
      const cutHost = hosts[2] as (typeof hosts)[number];
      const cut = startController(destinations(), options({ maxHoldMs: leaseMs }));
      assert.ok(await eventually(() => cut.lines.length >= 1, 30_000));
      assert.equal((cut.lines[0] as { ok: boolean }).ok, true);
      const frozenAt = performance.now();
      execFileSync('ip', ['link', 'set', cutHost.link, 'down']);
      try {
        cut.child.stdin.write('thaw\n');
        assert.ok(await eventually(() => cut.lines.length >= 2, 30_000), 'thaw() resolved');
        const answeredMs = performance.now() - frozenAt;
        const { thawed } = cut.lines[1] as {
          thawed: { host: string; intact: boolean; reason: string; heldMs: number | null }[];
        };
        assert.deepEqual(
          thawed.map((host) => [host.intact, host.reason]),
          [
            [true, 'stdin'],
            [true, 'stdin'],
            [false, 'unreachable'],
          ],
        );
        const ms = await resumedAfter(cutHost.servicePids(), frozenAt, leaseMs + 10_000);
        console.log(
          `# link cut: thaw() answered after ${answeredMs.toFixed(0)} ms, ${cutHost.name} unreachable; it runs again (lease ${leaseMs} ms)`,
        );
        assert.ok(ms !== null, `${cutHost.name} thawed by its lease`);
      } finally {
        execFileSync('ip', ['link', 'set', cutHost.link, 'up']);
        killController(cut.child);
      }
    },
  );

  test(
    'a lease that ran out before thaw(): every host is reported not intact, reason "lease"',
    T,
    async (t) => {
      if (!skipUnlessFleet(t)) return;
      const hosts = (fleet as TestFleet).hosts;
      const controller = startController(destinations(), options({ maxHoldMs: 1500 }));
      assert.ok(await eventually(() => controller.lines.length >= 1, 30_000));
      assert.equal((controller.lines[0] as { ok: boolean }).ok, true, JSON.stringify(controller.lines[0]));
      for (const host of hosts) {
        assert.ok(
          (await resumedAfter(host.servicePids(), performance.now(), 15_000)) !== null,
          'the lease thawed it',
        );
      }
      controller.child.stdin.write('thaw\n');
      assert.ok(await eventually(() => controller.lines.length >= 2, 30_000), 'thaw() resolved');
      const { thawed } = controller.lines[1] as {
        thawed: { intact: boolean; reason: string; endedEarly: boolean; heldMs: number }[];
      };
      for (const host of thawed) {
        assert.deepEqual(
          [host.intact, host.reason, host.endedEarly],
          [false, 'lease', true],
          JSON.stringify(controller.lines),
        );
        assert.ok(host.heldMs >= 1400 && host.heldMs < 5000, `held ${host.heldMs} ms`);
      }
    },
  );

  test(
    'a host that never answers the preparation: the rejection names it within prepareTimeoutMs + 1 s; no host is ever frozen',
    T,
    async (t) => {
      if (!skipUnlessFleet(t)) return;
      const hosts = (fleet as TestFleet).hosts;
      const silent = hosts[2] as (typeof hosts)[number];
      silent.silence();
      const states = watchStates(fleet as TestFleet);
      try {
        const prepareTimeoutMs = 3000;
        const started = performance.now();
        const error = await freezeFleet(destinations(), options({ prepareTimeoutMs })).then(
          () => assert.fail('it resolved'),
          (caught: unknown) => caught as FreezeError,
        );
        const elapsedMs = performance.now() - started;
        assert.equal(error.code, 'FLEET_FAILED');
        assert.match(
          error.message,
          new RegExp(
            `not every host was prepared within ${prepareTimeoutMs} ms: no answer from root@${silent.address}; nothing was frozen`,
          ),
        );
        assert.doesNotMatch(error.message, new RegExp(`${(hosts[0] as (typeof hosts)[number]).address}`));
        console.log(
          `# a silent host: rejected after ${elapsedMs.toFixed(0)} ms (prepareTimeoutMs ${prepareTimeoutMs})`,
        );
        // Two waits on a loaded CPU: the deadline's timer, then the 0.8 s given to the others to end.
        assert.ok(
          elapsedMs <= prepareTimeoutMs + 1000 + 2 * LOAD_DELAY_MS,
          `rejected after ${elapsedMs.toFixed(0)} ms`,
        );
        await holdersGone(hosts.slice(0, 2));
        assert.equal(
          states.firstStopped.size,
          0,
          `never frozen anywhere: ${[...states.firstStopped.keys()]}`,
        );
      } finally {
        states.stop();
        silent.speak();
      }
      assert.ok(
        await eventually(() => noneStopped(silent.servicePids()), 10_000),
        'the silent host never stayed frozen',
      );
    },
  );

  test(
    'a host lost between the preparation and the order: it rejects naming it, every other host is thawed, and the lost one never freezes',
    T,
    async (t) => {
      if (!skipUnlessFleet(t)) return;
      const hosts = (fleet as TestFleet).hosts;
      const lost = hosts[2] as (typeof hosts)[number];
      const states = watchStates(fleet as TestFleet);
      const prepareTimeoutMs = 4000;
      const controller = startController(destinations(), {
        ...options({ timeoutMs: 2000, prepareTimeoutMs }),
        pauseBeforeFreeze: true,
      });
      try {
        assert.ok(await eventually(() => controller.lines.length >= 1, 30_000), 'prepared');
        assert.deepEqual(Object.keys(controller.lines[0] as object), ['prepared', 'at']);
        assert.equal(states.firstStopped.size, 0, 'nothing frozen while prepared');
        execFileSync('ip', ['link', 'set', lost.link, 'down']);
        controller.child.stdin.write('go\n');
        assert.ok(await eventually(() => controller.lines.length >= 2, 30_000), 'the controller reported');
        const report = controller.lines[1] as { ok: boolean; code: string; message: string };
        assert.equal(report.ok, false, JSON.stringify(report));
        assert.match(
          report.message,
          new RegExp(
            `reported frozen within 2000 ms: no answer from root@${lost.address}; every host was told to thaw`,
          ),
        );
        for (const host of hosts.slice(0, 2)) {
          assert.ok(states.firstFrozen.has(host.name), `${host.name} froze on the order`);
          assert.ok(await eventually(() => noneStopped(host.servicePids()), 10_000), `${host.name} thawed`);
        }
      } finally {
        execFileSync('ip', ['link', 'set', lost.link, 'up']);
      }
      // Its order never reached it: it waits out its own deadline and exits, unfrozen.
      assert.ok(
        await eventually(() => lost.holderPids().length === 0, prepareTimeoutMs + 10_000),
        "the lost host's holder exited",
      );
      states.stop();
      assert.ok(!states.firstStopped.has(lost.name), 'the lost host never froze');
    },
  );

  test(
    'the controller SIGKILLed between the preparation and the order: no host ever freezes, every holder exits',
    T,
    async (t) => {
      if (!skipUnlessFleet(t)) return;
      const hosts = (fleet as TestFleet).hosts;
      const states = watchStates(fleet as TestFleet);
      const controller = startController(destinations(), { ...options(), pauseBeforeFreeze: true });
      assert.ok(await eventually(() => controller.lines.length >= 1, 30_000), 'prepared');
      assert.ok(
        hosts.every((host) => host.holderPids().length > 0),
        'every host has a prepared holder',
      );
      const killedAt = performance.now();
      killController(controller.child);
      // Its ssh clients lose their input: each host reads the end of it and exits unfrozen.
      await holdersGone(hosts);
      console.log(
        `# controller SIGKILLed while prepared: every holder gone after ${(performance.now() - killedAt).toFixed(0)} ms`,
      );
      states.stop();
      assert.equal(states.firstStopped.size, 0, `never frozen anywhere: ${[...states.firstStopped.keys()]}`);
    },
  );
});
