/**
 * A watchdog leaves the freezer's cgroup where the system allows it (root, with cgroup v2
 * and the v1 freezer hierarchy mounted). Killing that cgroup — `cgroup.kill`, systemd stopping
 * the unit that ran treefreeze, an OOM group kill, a container torn down — killed the watchdog
 * with the freezer, and the tree stayed frozen for good (5 of 5 runs, lease or not); freezing
 * that cgroup froze the watchdog. Each watchdog is moved to the root of each hierarchy, which
 * can be neither killed nor frozen (it has no cgroup.kill, cgroup.freeze or freezer.state) and
 * leaves nothing to remove. Its leases are its children: they start there too.
 *
 * Not root (or a hierarchy root that refuses processes, as inside a container's cgroup
 * namespace): the watchdog stays where it was started, and the hold says so.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type CgroupMounts, findCgroupMounts } from '../kernel/cgroupfs.js';

let mounts: CgroupMounts | undefined;

/**
 * Moves `pid` to the root cgroup of the v2 hierarchy and of the v1 freezer one (those
 * mounted); true when it is out of the freezer's cgroups in all of them. Never throws.
 */
export function moveToRootCgroups(pid: number): boolean {
  try {
    mounts ??= findCgroupMounts();
  } catch {
    return false;
  }
  const roots = [mounts.v2, mounts.v1Freezer].filter((mount): mount is string => mount !== undefined);
  if (roots.length === 0) return false; // no cgroup can be killed or frozen here either
  let moved = 0;
  for (const root of roots) {
    try {
      writeFileSync(join(root, 'cgroup.procs'), `${pid}\n`);
      moved++;
    } catch {
      // EACCES (not root), EBUSY (a namespace root with controllers), ESRCH (it died)
    }
  }
  return moved === roots.length;
}
