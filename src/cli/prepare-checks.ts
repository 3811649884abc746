/**
 * What freeze --prepare checks before it reports ready, so that a fleet learns of a host that
 * cannot freeze before any host freezes: the targets are safe to freeze, and this process may
 * signal every process of each tree (kill(pid, 0)) or write each cgroup's freezer file, and no
 * other live hold holds a process of a tree (the freeze would refuse it: ALREADY_HELD).
 * Nothing is signalled or written.
 */
import { accessSync, constants } from 'node:fs';
import { errnoCode, FreezeError, listPids } from '../base/errors.js';
import { JoinedHolds } from '../hold/claim-query.js';
import { resolveCgroup } from '../kernel/cgroupfs.js';
import { listTree } from '../tree/discovery.js';
import { refuseUnsafeRoot } from '../tree/root-check.js';
import type { ResolvedTarget } from '../tree/targets.js';

/** The pids each target names now; throws the error its freeze would throw at its start. */
export function checkTargets(targets: readonly ResolvedTarget[], childrenOnly: boolean): number[][] {
  return targets.map((target) => {
    if (target.cgroup !== undefined) {
      const cgroup = resolveCgroup(target.cgroup);
      mayWrite(cgroup.control, target.pids);
      return target.pids;
    }
    const root = target.root as number;
    refuseUnsafeRoot(root, !childrenOnly);
    const pids = listTree(root)
      .map((node) => node.pid)
      .filter((pid) => !childrenOnly || pid !== root);
    maySignal(pids);
    return pids;
  });
}

function mayWrite(path: string, pids: readonly number[]): void {
  try {
    accessSync(path, constants.W_OK);
  } catch (error) {
    throw new FreezeError(
      'NOT_PERMITTED',
      `may not write ${path} (${errnoCode(error)}): cannot freeze that cgroup`,
      pids,
    );
  }
}

/** kill(pid, 0) asks the kernel whether a signal would be allowed, and sends none. */
function maySignal(pids: readonly number[]): void {
  const refused = pids.filter((pid) => {
    try {
      process.kill(pid, 0);
      return false;
    } catch (error) {
      return errnoCode(error) === 'EPERM'; // ESRCH: gone since the listing, dropped as a freeze would
    }
  });
  if (refused.length > 0) {
    throw new FreezeError(
      'NOT_PERMITTED',
      `may not signal ${listPids(refused)}: run as their user or as root`,
      refused,
    );
  }
}

/** How long the holds asked may take to answer, together. */
const HELD_CHECK_MS = 1_000;

/**
 * Refuses (ALREADY_HELD, naming the hold) a tree of which another live hold holds a process: a
 * freeze finds such processes stopped and asks their holds, as this does now. --join skips it.
 */
export async function refuseHeld(targets: readonly ResolvedTarget[], childrenOnly: boolean): Promise<void> {
  const stopped = targets.flatMap((target) =>
    target.root === undefined
      ? []
      : listTree(target.root, { includeRoot: !childrenOnly }).filter((node) => /^[Tt]$/.test(node.state)),
  );
  await new JoinedHolds().settle(stopped, Date.now() + HELD_CHECK_MS, false);
}
