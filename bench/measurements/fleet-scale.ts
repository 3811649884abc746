/**
 * How a fleet hold grows with the number of hosts: test hosts on this machine (network and pid
 * namespaces, each with its own sshd and service: test/helpers/hosts.ts, root only), frozen by
 * freezeFleet with an immediate thaw, several runs per size. Every host's clock is this
 * machine's, so the hosts' own stamps compare directly:
 * - spread: first to last host frozen (each host's frozenAt: its last task confirmed stopped);
 * - window: first host frozen to last host resumed (frozenAt + heldMs, for a thaw called at once);
 * - call: freezeFleet's call to its resolution; thaw: thaw()'s call to its resolution.
 * Connections are reused across runs (controlPath) with curve25519 key exchange, as
 * docs/fleet.md advises; the first run of each size opens them and is reported apart.
 *
 *   node --import tsx bench/measurements/fleet-scale.ts [sizes, default 3,10,20] [runs, default 5]
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freezeFleet } from '../../src/fleet.js';
import { treefreezeCommand } from '../../test/helpers/fleet-play.js';
import { startFleet, type TestFleet } from '../../test/helpers/hosts.js';

const sizes = (process.argv[2] ?? '3,10,20').split(',').map(Number);
const runs = Number(process.argv[3] ?? 5);

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
};

/** CPU this process and its waited-for children (the ssh clients) used so far, in ms. */
function controllerCpuMs(): number {
  const fields = (readFileSync('/proc/self/stat', 'utf8').split(') ')[1] ?? '').split(' ');
  const ticks = [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0); // utime stime cutime cstime
  return (ticks * 1000) / 100;
}

async function measure(fleet: TestFleet, controlPath: string) {
  const hosts = fleet.hosts.map((host) => `root@${host.address}`);
  const cpuBefore = controllerCpuMs();
  const called = performance.now();
  const frozen = await freezeFleet(hosts, {
    target: fleet.service,
    maxHoldMs: 60_000,
    ssh: ['ssh', ...fleet.sshOptions, '-o', 'KexAlgorithms=curve25519-sha256'],
    controlPath,
    controlPersist: '2m',
    remoteCommand: treefreezeCommand(),
  });
  const callMs = performance.now() - called;
  const thawCalled = performance.now();
  const thawed = await frozen.thaw();
  const thawMs = performance.now() - thawCalled;
  const frozenAt = frozen.hosts.map((host) => host.frozenAt);
  const resumedAt = frozen.hosts.map((host, i) => host.frozenAt + (thawed[i]?.heldMs ?? Number.NaN));
  if (!thawed.every((host) => host.intact))
    throw new Error(`a hold was not intact: ${JSON.stringify(thawed)}`);
  return {
    callMs,
    thawMs,
    spreadMs: Math.max(...frozenAt) - Math.min(...frozenAt),
    windowMs: Math.max(...resumedAt) - Math.min(...frozenAt),
    heldMs: Math.max(...thawed.map((host) => host.heldMs ?? 0)),
    cpuMs: controllerCpuMs() - cpuBefore,
  };
}

for (const size of sizes) {
  const fleet = await startFleet(size);
  const controlPath = join(fleet.dir, 'cm-%C');
  try {
    const first = await measure(fleet, controlPath);
    const rows: Awaited<ReturnType<typeof measure>>[] = [];
    const failures: string[] = [];
    for (let run = 0; run < runs; run++) {
      try {
        rows.push(await measure(fleet, controlPath));
      } catch (error) {
        failures.push((error as Error).message); // reported, not hidden: a failed run is a result
      }
    }
    if (failures.length > 0)
      console.log(`  ${failures.length} of ${runs} runs failed: ${failures.join(' | ')}`);
    const pick = (key: keyof (typeof rows)[number]) => median(rows.map((row) => row[key])).toFixed(0);
    console.log(
      `${size} hosts, median of ${runs} runs (connections reused): call ${pick('callMs')} ms, spread ${pick('spreadMs')} ms, window ${pick('windowMs')} ms, longest held ${pick('heldMs')} ms, thaw() ${pick('thawMs')} ms, controller CPU ${pick('cpuMs')} ms` +
        `; first run (connections opened): call ${first.callMs.toFixed(0)} ms, spread ${first.spreadMs.toFixed(0)} ms, window ${first.windowMs.toFixed(0)} ms, CPU ${first.cpuMs.toFixed(0)} ms`,
    );
    console.log(
      `  spreads: ${rows.map((row) => row.spreadMs.toFixed(0)).join(', ')} ms; windows: ${rows.map((row) => row.windowMs.toFixed(0)).join(', ')} ms`,
    );
  } finally {
    for (const host of fleet.hosts) {
      try {
        execFileSync(
          'ssh',
          [...fleet.sshOptions, '-o', `ControlPath=${controlPath}`, '-O', 'exit', `root@${host.address}`],
          {
            stdio: 'ignore',
          },
        );
      } catch {
        // no master for that host
      }
    }
    await fleet.teardown();
  }
}
