/**
 * How the example playbook (examples/ansible) scales: test hosts on this machine (network and
 * pid namespaces, each with its own sshd and service: test/helpers/hosts.ts, root only),
 * frozen by ansible-playbook run from the example's directory (its ansible.cfg: pipelining,
 * ControlPersist), with forks set to the number of hosts and a snapshot that takes no time
 * ("true"), several runs per size. Every host's clock is this machine's, so the hosts' own
 * stamps compare directly:
 * - spread: first to last host frozen (each host's frozenAt: its last task confirmed stopped);
 * - held: how long each host was held (its heldMs, from frozenAt to its thaw), the longest;
 * - window: first host frozen to last host resumed;
 * - wall: ansible-playbook's start to its exit.
 * The figures come from the play's own results (the oneline stdout callback): the release
 * task's frozen event and the thaw task's outcome on each host.
 *
 * The mode is the playbook's treefreeze_mode: barrier (the default), or time (one task per host
 * holds by itself: window TREEFREEZE_WINDOW_MS, default 1000, and snapshot time
 * TREEFREEZE_SNAPSHOT_MS, default 200, agreed on the controller).
 *
 *   node --import tsx bench/measurements/ansible-scale.ts [sizes, default 10,20] [runs, default 3] [mode]
 */
import { join } from 'node:path';
import { play } from '../../test/helpers/fleet-play.js';
import { startFleet, type TestFleet } from '../../test/helpers/hosts.js';

const sizes = (process.argv[2] ?? '10,20').split(',').map(Number);
const runs = Number(process.argv[3] ?? 3);
const mode = process.argv[4] ?? 'barrier';
const modeVars =
  mode === 'time'
    ? {
        treefreeze_mode: 'time',
        treefreeze_window_ms: process.env.TREEFREEZE_WINDOW_MS ?? '1000',
        treefreeze_snapshot_ms: process.env.TREEFREEZE_SNAPSHOT_MS ?? '200',
      }
    : { treefreeze_mode: mode };

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
};

/**
 * Each host's stdout (parsed) of the command tasks whose stdout is a JSON line `matching`, from
 * the oneline callback's lines ("host1 | CHANGED | rc=0 | (stdout) {...}").
 */
function resultsOf(output: string, matching: (value: Record<string, unknown>) => boolean) {
  const found = new Map<string, Record<string, unknown>>();
  for (const line of output.split('\n')) {
    const match = /^(\S+) \| (?:SUCCESS|CHANGED) \| rc=0 \| \(stdout\) (\{.*\})\s*$/.exec(line);
    if (!match) continue;
    // A task that prints several lines (time mode's hold) has them joined by a literal \n.
    for (const text of (match[2] as string).split('\\n')) {
      const value = JSON.parse(text) as Record<string, unknown>;
      if (matching(value)) found.set(match[1] as string, value);
    }
  }
  return found;
}

async function measure(fleet: TestFleet, run: number) {
  const started = performance.now();
  const playing = play(fleet, {
    vars: { snapshot_command: 'true', treefreeze_lease: '2m', ...modeVars },
    env: {
      ANSIBLE_FORKS: String(fleet.hosts.length),
      ANSIBLE_STDOUT_CALLBACK: 'oneline',
      ANSIBLE_SSH_CONTROL_PATH_DIR: join(fleet.dir, 'cp'), // reused across runs, as a controller would
    },
  });
  const code = await playing.done;
  const wallMs = performance.now() - started;
  const output = playing.output();
  if (code !== 0) throw new Error(`run ${run}: the play failed (${code}):\n${output.slice(-3000)}`);
  const released = resultsOf(output, (value) => value.event === 'frozen');
  const thawed = resultsOf(output, (value) => value.command === 'thaw');
  const hosts = fleet.hosts.map((host) => {
    const frozen = released.get(host.name) as { frozenAt: number } | undefined;
    const outcome = thawed.get(host.name) as { heldMs: number; intact: boolean } | undefined;
    if (!frozen || !outcome?.intact) throw new Error(`run ${run}: ${host.name} has no intact hold`);
    return { frozenAt: frozen.frozenAt, heldMs: outcome.heldMs };
  });
  const frozenAt = hosts.map((h) => h.frozenAt);
  const resumedAt = hosts.map((h) => h.frozenAt + h.heldMs);
  return {
    spreadMs: Math.max(...frozenAt) - Math.min(...frozenAt),
    heldMs: Math.max(...hosts.map((h) => h.heldMs)),
    medianHeldMs: median(hosts.map((h) => h.heldMs)),
    windowMs: Math.max(...resumedAt) - Math.min(...frozenAt),
    wallMs,
  };
}

for (const size of sizes) {
  const fleet = await startFleet(size);
  try {
    // The first run opens the connections (ControlPersist keeps them); a failure is reported too.
    const first = await measure(fleet, 0).catch((error: Error) => {
      const why = /FAILED! => .*?"msg": "([^"]{0,400})/.exec(error.message)?.[1] ?? '';
      console.log(`  the first run failed: ${error.message.split('\n')[0]} ${why}`);
      return {
        spreadMs: Number.NaN,
        heldMs: Number.NaN,
        medianHeldMs: Number.NaN,
        windowMs: Number.NaN,
        wallMs: Number.NaN,
      };
    });
    const rows: Awaited<ReturnType<typeof measure>>[] = [];
    const failures: string[] = [];
    for (let run = 1; run <= runs; run++) {
      try {
        rows.push(await measure(fleet, run));
      } catch (error) {
        // A failed run is a result: its first line and the play's reason.
        const { message } = error as Error;
        const why = /FAILED! => .*?"msg": "([^"]{0,400})/.exec(message)?.[1] ?? '';
        failures.push(`${message.split('\n')[0]} ${why}`);
      }
    }
    if (failures.length > 0)
      console.log(`  ${failures.length} of ${runs} runs failed: ${failures.join(' | ')}`);
    const pick = (key: keyof (typeof rows)[number]) => median(rows.map((row) => row[key])).toFixed(0);
    console.log(
      `${size} hosts, ${mode} mode, forks ${size}, median of ${rows.length} runs (connections reused): spread ${pick('spreadMs')} ms, longest held ${pick('heldMs')} ms (median host ${pick('medianHeldMs')} ms), window ${pick('windowMs')} ms, play wall ${pick('wallMs')} ms` +
        `; first run (connections opened): spread ${first.spreadMs.toFixed(0)} ms, longest held ${first.heldMs.toFixed(0)} ms, wall ${first.wallMs.toFixed(0)} ms`,
    );
    console.log(
      `  spreads: ${rows.map((r) => r.spreadMs.toFixed(0)).join(', ')} ms; longest held: ${rows.map((r) => r.heldMs.toFixed(0)).join(', ')} ms; walls: ${rows.map((r) => r.wallMs.toFixed(0)).join(', ')} ms`,
    );
  } finally {
    await fleet.teardown(); // its hosts' sshd go with it, and so do the controller's masters' peers
  }
}
