/**
 * `status`: every hold this user may see (running, or stale: its holder is gone), and what is
 * frozen or stopped on the machine that no hold owns, with the command that resumes each.
 * A user sees their own holds from their records; root also sees other users' holds, as their
 * holders describe them over their sockets (registry.ts says why only that way).
 */
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { count, listPids } from '../base/errors.js';
import { findCgroupMounts, readCgroupFile } from '../kernel/cgroupfs.js';
import { readTaskStates, scanAllProcesses } from '../kernel/procfs.js';
import type { ProcStat } from '../kernel/stat.js';
import { formatDuration } from './duration.js';
import { toHoldRecord } from './hold-record.js';
import {
  type HoldRecord,
  holderRuns,
  listHolds,
  type OtherUsersSocket,
  otherUsersHoldSockets,
  removeHold,
} from './hold-registry.js';
import { askHolder, FIRST_WORD_DEADLINE_MS, type HolderAnswer } from './hold-socket.js';
import { observedCounts, observeProcesses } from './observed.js';
import { jsonLine, printable } from './printable.js';
import { existingRuntimeDir, looksAtOtherUsers, myUid } from './runtime-dir.js';

export interface StatusHold extends HoldRecord {
  state: 'holding' | 'stale';
  /** The holder's user: the owner of the directory it was found in, as the kernel says. */
  uid: number;
  /** What its processes are now, as /proc and the cgroup files show them (not as its holder says). */
  seen: { stopped: number; running: number; gone: number };
}

export interface StatusReport {
  holds: StatusHold[];
  frozenCgroups: { path: string; resume: string }[];
  stoppedTrees: { root: number; comm: string; pids: number[]; resume: string }[];
  /** Entries that were skipped, one line each (a bad record, a holder that did not answer). */
  warnings: string[];
}

/** This user's holds, from their records; the records of holders that are gone are removed. */
function ownHolds(warnings: string[]): Omit<StatusHold, 'seen'>[] {
  let dir: ReturnType<typeof existingRuntimeDir>;
  try {
    dir = existingRuntimeDir();
  } catch (error) {
    warnings.push(`not listing your holds: ${(error as Error).message}`);
    return [];
  }
  if (dir === null) return [];
  const listed = listHolds(dir);
  warnings.push(...listed.warnings);
  const holds = listed.records.map((record) => ({
    ...record,
    state: holderRuns(record) ? ('holding' as const) : ('stale' as const),
    uid: dir.uid,
  }));
  // A stale record's holder is provably gone (no process has its pid and start time): report it once.
  for (const hold of holds) if (hold.state === 'stale') removeHold(dir, hold.id);
  return holds;
}

/**
 * What other users' descriptions may take, each user's and all together: answers are counted as
 * they arrive and dropped past a budget, so a flood of large descriptions costs root's status a
 * bounded amount of time and memory, and one user's flood cannot crowd out another's holds.
 */
const DESCRIBED = { bytes: 2 * 1024 * 1024, pids: 100_000 };
const DESCRIBED_PER_USER = { bytes: 256 * 1024, pids: 25_000 };

/** Other users' live holds, as their holders describe them (root only). */
async function otherUsersHolds(warnings: string[]): Promise<Omit<StatusHold, 'seen'>[]> {
  const found = otherUsersHoldSockets();
  warnings.push(...found.warnings);
  const holds: Omit<StatusHold, 'seen'>[] = [];
  const all = { ...DESCRIBED };
  const perUser = new Map<number, { bytes: number; pids: number }>();
  const budgetOf = (uid: number) => {
    if (!perUser.has(uid)) perUser.set(uid, { ...DESCRIBED_PER_USER });
    return perUser.get(uid) as { bytes: number; pids: number };
  };
  const take = (socket: OtherUsersSocket, answer: HolderAnswer): void => {
    const skip = (why: string) => warnings.push(`skipped hold ${socket.id} of uid ${socket.uid}: ${why}`);
    if (answer.kind === 'gone') return; // its holder has exited: not ours to remove
    if (answer.kind === 'refused') return void skip(answer.why);
    const record = toHoldRecord((answer.value as { record?: unknown } | null)?.record);
    if (typeof record === 'string' || record.id !== socket.id)
      return void skip('its description is not valid');
    for (const budget of [budgetOf(socket.uid), all]) {
      budget.pids -= record.pids.length;
      if (budget.pids < 0) return void skip('the holds described name too many processes');
    }
    // The holder's pid as the kernel knows it, not as it says.
    const holder = answer.peer === null ? record.holder : { ...record.holder, pid: answer.peer.pid };
    holds.push({ ...record, holder, state: 'holding', uid: socket.uid });
  };
  await Promise.all(
    found.sockets.map(async (socket) => {
      const budgets = [budgetOf(socket.uid), all]; // the user's own first
      take(socket, await askHolder(socket.path, socket.uid, 'describe', FIRST_WORD_DEADLINE_MS, budgets));
    }),
  ).finally(found.close);
  return holds;
}

/** Whether `path` (a process in /proc, a cgroup directory) belongs to `uid`. */
function ownedBy(path: string, uid: number): boolean {
  try {
    return statSync(path).uid === uid;
  } catch {
    return false;
  }
}

/**
 * What live holds hold, among what is stopped or frozen, to leave out of the stray listing.
 * Another user's description counts only for their own processes and cgroups: it cannot hide
 * anything of anyone else's. Only stopped pids and frozen cgroups are looked up, each once, so
 * a description of thousands of pids costs no more than the stopped processes there are.
 */
function heldByLiveHolds(
  holds: StatusHold[],
  stopped: ReadonlySet<number>,
  frozen: ReadonlySet<string>,
): { pids: Set<number>; cgroups: Set<string> } {
  const me = myUid();
  const pids = new Set<number>();
  const cgroups = new Set<string>();
  for (const hold of holds) {
    if (hold.state !== 'holding') continue;
    const trusted = (path: string) => hold.uid === me || ownedBy(path, hold.uid);
    for (const pid of hold.pids) {
      if (stopped.has(pid) && !pids.has(pid) && trusted(`/proc/${pid}`)) pids.add(pid);
    }
    for (const { cgroup } of hold.targets) {
      if (cgroup !== null && frozen.has(cgroup) && trusted(cgroup)) cgroups.add(cgroup);
    }
  }
  return { pids, cgroups };
}

export async function collectStatus(): Promise<StatusReport> {
  const warnings: string[] = [];
  const described = [
    ...ownHolds(warnings),
    ...(looksAtOtherUsers() ? await otherUsersHolds(warnings) : []),
  ].sort((a, b) => a.since - b.since);
  const processes = scanAllProcesses();
  const byPid = new Map(processes.map((stat) => [stat.pid, stat]));
  const holds: StatusHold[] = described.map((hold) => ({
    ...hold,
    seen: observedCounts(observeProcesses(hold.pids, hold.since, (pid) => byPid.get(pid) ?? null)),
  }));
  const frozen = frozenCgroups();
  const held = heldByLiveHolds(
    holds,
    new Set(processes.filter((stat) => stat.state === 'T').map((stat) => stat.pid)),
    new Set(frozen.map((cgroup) => cgroup.directory)),
  );
  return {
    holds,
    frozenCgroups: frozen
      .filter((cgroup) => !held.cgroups.has(cgroup.directory))
      .map(({ path }) => ({ path, resume: `treefreeze thaw --cgroup ${path}` })),
    stoppedTrees: stoppedTrees(processes, held.pids),
    warnings,
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
function stoppedTrees(all: readonly ProcStat[], held: Set<number>): StatusReport['stoppedTrees'] {
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
  for (const warning of report.warnings) process.stderr.write(`treefreeze: ${printable(warning)}\n`);
  if (json) {
    process.stdout.write(jsonLine({ command: 'status', ...report }));
    return;
  }
  const me = myUid();
  const lines: string[] = [];
  if (report.holds.length === 0) lines.push('no treefreeze holds');
  for (const hold of report.holds) lines.push(holdLine(hold, hold.uid === me));
  for (const cgroup of report.frozenCgroups) {
    lines.push(
      `frozen cgroup ${printable(cgroup.path)}, not held by treefreeze; ${printable(cgroup.resume)}`,
    );
  }
  for (const tree of report.stoppedTrees) {
    lines.push(
      `stopped: ${tree.root} (${printable(tree.comm)}), ${count(tree.pids.length, 'process', 'processes')} (${listPids(tree.pids, 6)}), not held by treefreeze; ${tree.resume}`,
    );
  }
  // A skipped hold may own what is listed as stray: say so before anyone resumes it.
  if (report.warnings.length > 0 && (report.stoppedTrees.length > 0 || report.frozenCgroups.length > 0)) {
    lines.push(
      'some entries were skipped (see the warnings): a hold among them may own what is listed as not held',
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** One hold, one line; another user's is marked as theirs, in their holder's own words. */
function holdLine(hold: StatusHold, mine: boolean): string {
  const what = printable(hold.targets.map((t) => t.label).join(', '));
  if (hold.state === 'stale') {
    return `${hold.id}  ${what}: ended, its holder (pid ${hold.holder.pid}) is gone; ${afterHolder(hold.seen)}`;
  }
  const now = Date.now();
  const lease =
    hold.leaseEndsAt === null
      ? 'no lease'
      : `lease ${formatDuration(Math.max(0, hold.leaseEndsAt - now))} left`;
  const verdict = hold.intact ? 'intact' : `hold broken ${count(hold.breaches, 'time')}`;
  const whose = mine ? '' : `, of uid ${hold.uid} (as its holder describes it)`;
  // Said only when the safety net would not survive a kill of the holder's cgroup.
  const net =
    hold.safetyNet === 'in-cgroup'
      ? "; its watchdogs share the holder's cgroup (not root): a kill of that cgroup leaves it frozen"
      : hold.safetyNet === 'none'
        ? '; no watchdog: if its holder dies, it stays frozen'
        : '';
  const seen = hold.seen.stopped === hold.pids.length ? 'all stopped' : seenParts(hold.seen);
  return `${hold.id}  ${what}: ${count(hold.pids.length, 'process', 'processes')} (${seen}), ${printable(hold.backend)}, held ${formatDuration(now - hold.since)}, ${lease}, ${verdict}${net}; holder pid ${hold.holder.pid}${hold.detached ? ' (detached)' : ''}${whose}; treefreeze thaw ${hold.id}`;
}

/** "3 stopped, 2 running": the non-zero counts. */
function seenParts(seen: StatusHold['seen']): string {
  const parts = [
    [seen.stopped, 'stopped'],
    [seen.running, 'running'],
    [seen.gone, 'gone'],
  ] as const;
  return parts.flatMap(([n, what]) => (n > 0 ? [`${n} ${what}`] : [])).join(', ') || 'none left';
}

/** What a hold whose holder died left behind, as seen now: never assumed resumed. */
function afterHolder(seen: StatusHold['seen']): string {
  const total = seen.stopped + seen.running + seen.gone;
  if (seen.stopped > 0) {
    return `${seen.stopped} of its ${count(total, 'process', 'processes')} still stopped (${seenParts(seen)}): resume them as listed below`;
  }
  if (seen.gone === total) return total === 1 ? 'its process is gone' : `its ${total} processes are gone`;
  return `none of its ${count(total, 'process', 'processes')} is stopped (${seenParts(seen)})`;
}
