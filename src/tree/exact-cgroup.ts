/**
 * Whether a process tree is exactly the membership of one cgroup: then the kernel's freezer
 * can hold it (one write, invisible to the processes) instead of signals. The answer is asked
 * before every default freeze, so the common "no" costs almost nothing: one read of the root's
 * cgroups and one of that cgroup's process list, then, only while it still looks like a yes,
 * one stat per member and one per process outside it.
 */
import { count, listPids } from '../base/errors.js';
import {
  type CgroupMounts,
  cgroupPids,
  cgroupsOf,
  findCgroupMounts,
  type ResolvedCgroup,
  resolveCgroup,
} from '../kernel/cgroupfs.js';
import type { NativeCore } from '../kernel/native-core.js';
import { readProcessStat, scanAllProcesses } from '../kernel/procfs.js';
import type { ProcStat } from '../kernel/stat.js';
import { bulkStatReaderOf } from './discovery.js';

/**
 * The root's own cgroup (v2 first, then the v1 freezer) when its members are exactly the
 * root and its descendants, none of them this process; otherwise why not.
 */
export function cgroupHoldingExactly(
  root: number,
  mounts: CgroupMounts = recentCgroupMounts(),
  /** The native core, asked for only when there are many members to read. */
  core: () => NativeCore | null = () => null,
): { cgroup: ResolvedCgroup; stats: Map<number, ProcStat> } | { reason: string } {
  const { v2, v1 } = cgroupsOf(root, mounts);
  const reasons: string[] = [];
  for (const path of [v2, v1]) {
    if (path === undefined) continue;
    // A hierarchy's root (where a machine without systemd keeps everything) cannot be frozen:
    // said without resolving it, which costs an error's stack.
    const dir = path.replace(/(.)\/+$/, '$1'); // join(mount, '/') ends with a slash
    if (dir === mounts.v2 || dir === mounts.v1Freezer) {
      reasons.push(`process ${root} is in the root cgroup of ${dir}, which cannot be frozen`);
      continue;
    }
    let cgroup: ResolvedCgroup;
    try {
      cgroup = resolveCgroup(path, mounts);
    } catch (error) {
      reasons.push((error as Error).message); // a hierarchy's root cannot be frozen
      continue;
    }
    const stats = new Map<number, ProcStat>();
    const why = differenceFromTree(root, cgroup.path, stats, core);
    if (why === null) return { cgroup, stats };
    reasons.push(why);
  }
  return { reason: reasons.join('; ') || `process ${root} is in no cgroup with a freezer` };
}

/** Below this many members the look reads them one by one, and never loads the native core for it. */
const MANY_MEMBERS = 16;

/** The cgroup mounts, read again at most once a second: mounts rarely change, and a freeze asks each time. */
let mountsRead: { at: number; mounts: CgroupMounts } | undefined;
function recentCgroupMounts(): CgroupMounts {
  const now = performance.now();
  if (mountsRead === undefined || now - mountsRead.at > 1000)
    mountsRead = { at: now, mounts: findCgroupMounts() };
  return mountsRead.mounts;
}

/**
 * null when the cgroup holds exactly the tree of `root`; else what differs. `stats` gets every
 * member's stat as read: the freeze's process list needs them, and need not read them again.
 */
function differenceFromTree(
  root: number,
  path: string,
  stats: Map<number, ProcStat>,
  core: () => NativeCore | null,
): string | null {
  const members = new Set(cgroupPids(path));
  if (members.has(process.pid)) return `cgroup ${path} holds this process, which is never frozen`;
  if (!members.has(root)) return `cgroup ${path} no longer holds ${root}`;
  // Every member but the root must have its parent among the members: then they are one tree,
  // the root's (only the root's parent is outside). The first outsider ends the look. Many
  // members are read in one call by the native core (then all of them, before the first check).
  const many = members.size >= MANY_MEMBERS ? core() : null;
  const readStats = many && members.size >= many.minBatch ? bulkStatReaderOf(many) : undefined;
  const bulk = readStats ? readStats([...members]) : undefined;
  let index = 0;
  for (const pid of members) {
    const stat = bulk ? (bulk[index++] ?? null) : readProcessStat(pid);
    if (stat === null) continue; // exited meanwhile
    stats.set(pid, stat);
    if (pid !== root && !members.has(stat.ppid)) {
      return `cgroup ${path} also holds processes outside the tree (${pid})`;
    }
  }
  // And no descendant may live elsewhere (a child moved to a cgroup of its own): a process
  // outside the cgroup whose parent is a member. Only the rest of the system is read for it,
  // one stat each: cheaper than every member's children files (a listing and a file per thread).
  const missing = scanAllProcesses(members, readProcessStat, undefined, readStats)
    .filter((stat) => members.has(stat.ppid))
    .map((stat) => stat.pid);
  if (missing.length > 0) {
    return `cgroup ${path} lacks ${count(missing.length, 'process', 'processes')} of the tree (${listPids(missing, 5)})`;
  }
  return null;
}
