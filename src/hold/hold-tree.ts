/**
 * Holding a process tree or a cgroup: the backend chosen, its request made from the plan,
 * and the rules that keep the caller out of what it freezes.
 */
import { CgroupBackendFreeze } from '../backends/cgroup/cgroup-freeze.js';
import { SignalBackendFreeze } from '../backends/signal/signal-freeze.js';
import { abortedBeforeStart, FreezeError } from '../base/errors.js';
import { cgroupPids, type ResolvedCgroup } from '../kernel/cgroupfs.js';
import { coreOf } from '../kernel/platform.js';
import type { ProcStat } from '../kernel/stat.js';
import { cgroupHoldingExactly } from '../tree/exact-cgroup.js';
import type { FrozenTreeHandle } from './handle.js';
import type { HoldPlan, TreePlan } from './plan.js';
import { holdWith, watchdogProcesses } from './protection.js';

/** Freezes a cgroup with the kernel's freezer. */
export function holdCgroup(
  cgroup: ResolvedCgroup,
  plan: HoldPlan,
  known?: ReadonlyMap<number, ProcStat>,
): Promise<FrozenTreeHandle> {
  // Every way to a cgroup freeze passes here: this process (and so its watchdog and the
  // command of `run`, which start in its cgroup) must never be inside.
  if (cgroupPids(cgroup.path).includes(process.pid)) {
    throw new FreezeError(
      'UNSAFE_TARGET',
      `cgroup ${cgroup.path} holds this process: it cannot freeze itself`,
      [process.pid],
    );
  }
  if (plan.signal?.aborted) throw abortedBeforeStart();
  const { policy, intervalMs } = plan.check;
  return holdWith(
    plan,
    new CgroupBackendFreeze({ cgroup, policy, intervalMs, timeoutMs: plan.timeoutMs, known }),
  );
}

/** Freezes the tree of `root` (without the root itself unless `includeRoot`), by the plan's backend. */
export function holdProcessTree(
  root: number,
  includeRoot: boolean,
  plan: HoldPlan,
  tree: TreePlan,
): Promise<FrozenTreeHandle> {
  if (tree.backend !== 'signal') {
    const choice = !includeRoot
      ? { reason: 'the cgroup backend freezes whole trees (freezeTree), not descendants only' }
      : tree.exclude.size > 0
        ? { reason: 'a cgroup is frozen whole, so exclude needs the signal backend' }
        : cgroupHoldingExactly(root, undefined, () => coreOf(plan.platform));
    if ('cgroup' in choice) return holdCgroup(choice.cgroup, plan, choice.stats);
    if (tree.backend === 'cgroup') {
      throw new FreezeError(
        'CGROUP_MISMATCH',
        `cannot use the cgroup backend for ${root}: ${choice.reason}`,
        [root],
      );
    }
  }
  // The caller and its own descendants are never frozen: when the root is an ancestor
  // of the caller, the caller's subtree is simply left out.
  tree.exclude.add(process.pid);
  const { knobs } = plan;
  const backend = new SignalBackendFreeze({
    root,
    includeRoot,
    exclude: tree.exclude,
    identity: tree.identity, // decided after the priority raise: loading koffi is slow on a busy CPU
    platform: plan.platform,
    safetyNets: watchdogProcesses,
    policy: plan.check.policy,
    intervalMs: plan.check.intervalMs,
    spaceByCost: plan.check.spaceByCost,
    timeoutMs: plan.timeoutMs,
    discovery: knobs.discovery,
    afterDiscovery: knobs.afterDiscovery,
    lookBudget: knobs.lookBudget,
    onLook: knobs.onLook,
  });
  // Only a tree of our own descendants can contain the watchdog: then its exact pid is needed.
  return holdWith(plan, backend, root === process.pid);
}
