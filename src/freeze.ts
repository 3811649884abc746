/** The public freeze entry points: the options checked into a plan, then a hold. */
import { abortedBeforeStart, assertPid } from './base/errors.js';
import type { FrozenTree } from './hold/frozen-tree.js';
import { holdCgroup, holdProcessTree } from './hold/hold-tree.js';
import { type FreezeOptions, type InternalFreezeOptions, knobsOf, planHold, planTree } from './hold/plan.js';
import { resolveCgroup } from './kernel/cgroupfs.js';
import { raisePriority } from './kernel/priority.js';
import { refuseUnsafeRoot } from './tree/root-check.js';

/** Freezes `root` and all its descendants. */
export function freezeTree(root: number, options: FreezeOptions = {}): Promise<FrozenTree> {
  return entered(options, (started) => freezeProcesses(root, true, options, started));
}

/** Freezes the descendants of `root` (default: this process, e.g. a supervisor's workers). */
export function freezeDescendants(
  root: number = process.pid,
  options: FreezeOptions = {},
): Promise<FrozenTree> {
  return entered(options, (started) => freezeProcesses(root, false, options, started));
}

/** Freezes a cgroup (a directory under a cgroup mount, or its path in its hierarchy: "/system.slice/db.service") with the kernel's freezer. */
export function freezeCgroup(path: string, options: FreezeOptions = {}): Promise<FrozenTree> {
  return entered(options, async (started) => {
    const plan = planHold(options, started); // the options first, as for pid trees
    return holdCgroup(resolveCgroup(path), plan);
  });
}

/**
 * Every public freeze starts here, with the clock and the priority raise before anything
 * else: beside a spinning tree in this session, whatever runs before the raise (even V8
 * compiling the next functions) crawls, and would be missing from durationMs. The priority is restored once the freeze settles.
 */
function entered(
  options: InternalFreezeOptions,
  run: (started: number) => Promise<FrozenTree>,
): Promise<FrozenTree> {
  const started = performance.now();
  const restorePriority = knobsOf(options).raisePriority === false ? () => {} : raisePriority();
  return run(started).finally(restorePriority);
}

async function freezeProcesses(
  root: number,
  includeRoot: boolean,
  options: InternalFreezeOptions,
  started: number,
): Promise<FrozenTree> {
  assertPid(root);
  const plan = planHold(options, started);
  const tree = planTree(root, includeRoot, options);
  refuseUnsafeRoot(root, includeRoot);
  if (plan.signal?.aborted) throw abortedBeforeStart();
  return holdProcessTree(root, includeRoot, plan, tree);
}
