/**
 * `status`: every hold the registry knows (running, or stale: its holder is gone), and what
 * is frozen or stopped on the machine that no hold owns, with the command that resumes each.
 * `thaw <hold id>`: ends a hold through its holder.
 */
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { count, FreezeError, listPids } from '../errors.js';
import { findCgroupMounts, readCgroupFile } from '../kernel/cgroupfs.js';
import { readTaskStates, scanAllProcesses } from '../kernel/procfs.js';
import { formatDuration } from './duration.js';
import {
  clearOutcomeRequest,
  findHold,
  type HoldRecord,
  holderRuns,
  listHolds,
  removeHold,
  requestOutcome,
} from './registry.js';

export interface StatusReport {
  holds: (HoldRecord & { state: 'holding' | 'stale' })[];
  frozenCgroups: { path: string; resume: string }[];
  stoppedTrees: { root: number; comm: string; pids: number[]; resume: string }[];
}

export function collectStatus(): StatusReport {
  const holds = listHolds().map((record) => ({
    ...record,
    state: holderRuns(record) ? ('holding' as const) : ('stale' as const),
  }));
  // A stale record's holder died: its watchdog resumed the tree. Report it once, then forget it.
  for (const hold of holds) if (hold.state === 'stale') removeHold(hold.id);
  const live = holds.filter((hold) => hold.state === 'holding');
  const heldCgroups = new Set(
    live.flatMap((hold) => hold.targets.flatMap((t) => (t.cgroup ? [t.cgroup] : []))),
  );
  const heldPids = new Set(live.flatMap((hold) => hold.pids));
  return {
    holds,
    frozenCgroups: frozenCgroups()
      .filter((cgroup) => !heldCgroups.has(cgroup.directory))
      .map(({ path }) => ({
        path,
        resume: `treefreeze thaw --cgroup ${path}`,
      })),
    stoppedTrees: stoppedTrees(heldPids),
  };
}

/** Every cgroup whose freezer is set to frozen (v2 cgroup.freeze, v1 freezer.self_freezing). */
function frozenCgroups(): { path: string; directory: string }[] {
  const mounts = findCgroupMounts();
  const found: { path: string; directory: string }[] = [];
  const walk = (mount: string, dir: string, file: string, depth: number) => {
    if (dir !== mount && (readCgroupFile(join(dir, file)) ?? '').trim() === '1') {
      found.push({ path: `/${relative(mount, dir)}`, directory: dir });
      return; // its descendants are frozen with it
    }
    if (depth > 12) return;
    let names: string[] = [];
    try {
      names = readdirSync(dir, { withFileTypes: true })
        .filter((entry) => entry.isDirectory())
        .map((entry) => entry.name);
    } catch {
      return;
    }
    for (const name of names) walk(mount, join(dir, name), file, depth + 1);
  };
  if (mounts.v2) walk(mounts.v2, mounts.v2, 'cgroup.freeze', 0);
  if (mounts.v1Freezer) walk(mounts.v1Freezer, mounts.v1Freezer, 'freezer.self_freezing', 0);
  return found;
}

/** Processes every task of which is stopped (T), outside every hold, grouped into trees. */
function stoppedTrees(held: Set<number>): StatusReport['stoppedTrees'] {
  const all = scanAllProcesses();
  const byPid = new Map(all.map((stat) => [stat.pid, stat]));
  const stopped = new Set(
    all
      .filter((stat) => stat.state === 'T' && !held.has(stat.pid))
      .filter((stat) => (readTaskStates(stat.pid) ?? []).every((task) => task.state === 'T'))
      .map((stat) => stat.pid),
  );
  const rootOf = (pid: number): number => {
    let root = pid;
    for (let parent = byPid.get(pid)?.ppid; parent !== undefined && stopped.has(parent); ) {
      root = parent;
      parent = byPid.get(parent)?.ppid;
    }
    return root;
  };
  const trees = new Map<number, number[]>();
  for (const pid of stopped) {
    const root = rootOf(pid);
    trees.set(root, [...(trees.get(root) ?? []), pid]);
  }
  return [...trees].map(([root, pids]) => ({
    root,
    comm: byPid.get(root)?.comm ?? '?',
    pids: pids.sort((a, b) => a - b),
    resume: `treefreeze thaw ${root}`,
  }));
}

export function printStatus(report: StatusReport, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify({ command: 'status', ...report })}\n`);
    return;
  }
  const now = Date.now();
  const lines: string[] = [];
  if (report.holds.length === 0) lines.push('no treefreeze holds');
  for (const hold of report.holds) {
    const what = hold.targets.map((t) => t.label).join(', ');
    if (hold.state === 'stale') {
      lines.push(
        `${hold.id}  ${what}: its holder (pid ${hold.holder.pid}) is gone; its watchdog resumed what it held`,
      );
      continue;
    }
    const lease =
      hold.leaseEndsAt === null
        ? 'no lease'
        : `lease ${formatDuration(Math.max(0, hold.leaseEndsAt - now))} left`;
    const verdict = hold.intact ? 'intact' : `hold broken ${count(hold.breaches, 'time')}`;
    lines.push(
      `${hold.id}  ${what}: ${count(hold.pids.length, 'process', 'processes')}, ${hold.backend}, held ${formatDuration(now - hold.since)}, ${lease}, ${verdict}; holder pid ${hold.holder.pid}${hold.detached ? ' (detached)' : ''}; treefreeze thaw ${hold.id}`,
    );
  }
  for (const cgroup of report.frozenCgroups) {
    lines.push(`frozen cgroup ${cgroup.path}, not held by treefreeze; ${cgroup.resume}`);
  }
  for (const tree of report.stoppedTrees) {
    lines.push(
      `stopped: ${tree.root} (${tree.comm}), ${count(tree.pids.length, 'process', 'processes')} (${listPids(tree.pids, 6)}), not held by treefreeze; ${tree.resume}`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

export interface HoldOutcome {
  id: string;
  intact: boolean | null;
  breaches: number | null;
  heldMs: number | null;
  reason: string | null;
}

/** Ends a hold by its id: asks its holder (SIGTERM) and waits until it has thawed and exited. */
export async function thawHold(id: string, deadlineMs = 15_000): Promise<HoldOutcome> {
  const record = findHold(id);
  if (!record) throw new FreezeError('NO_MATCH', `no hold ${id} (treefreeze status lists the holds)`);
  if (!holderRuns(record)) {
    removeHold(id);
    throw new FreezeError(
      'NO_MATCH',
      `hold ${id} has already ended: its holder (pid ${record.holder.pid}) is gone, and its watchdog resumed what it held`,
    );
  }
  requestOutcome(id);
  try {
    process.kill(record.holder.pid, 'SIGTERM');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EPERM') {
      throw new FreezeError(
        'NOT_PERMITTED',
        `hold ${id} belongs to another user: ask them, or thaw it as root`,
        [record.holder.pid],
      );
    }
  }
  const until = performance.now() + deadlineMs;
  while (holderRuns(record) && performance.now() < until)
    await new Promise((resolve) => setTimeout(resolve, 10));
  if (holderRuns(record)) {
    throw new FreezeError(
      'THAW_FAILED',
      `hold ${id}: its holder (pid ${record.holder.pid}) did not end within ${formatDuration(deadlineMs)}; it still holds ${listPids(record.pids)}`,
      record.pids,
    );
  }
  const ended = findHold(id)?.ended;
  removeHold(id);
  clearOutcomeRequest(id);
  return {
    id,
    intact: ended?.intact ?? null,
    breaches: ended?.breaches ?? null,
    heldMs: ended?.heldMs ?? null,
    reason: ended?.reason ?? null,
  };
}
