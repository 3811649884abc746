/** The public freeze entry points: argument checks and safety rules, then a backend. */
import { freezeWithCgroup } from './backends/cgroup.js';
import type { FrozenTree } from './backends/frozen-tree.js';
import { freezeWithSignals } from './backends/signal/freeze-loop.js';
import {
  abortedBeforeStart,
  assertPid,
  count,
  FreezeError,
  invalidArgument,
  listPids,
} from './base/errors.js';
import {
  type CommonOptions,
  commonOptions,
  type FreezeOptions,
  type InternalFreezeOptions,
} from './hold/plan.js';
import { cgroupPids, cgroupsOf, type ResolvedCgroup, resolveCgroup } from './kernel/cgroupfs.js';
import { raisePriority } from './kernel/priority.js';
import { discoverTree } from './tree/discovery.js';
import { readRootStat, refuseKernelThread } from './tree/root-check.js';

/** Freezes `root` and all its descendants. */
export function freezeTree(root: number, options: FreezeOptions = {}): Promise<FrozenTree> {
  return entered(options, (started) => freeze(root, true, options, started));
}

/** Freezes the descendants of `root` (default: this process, e.g. a supervisor's workers). */
export function freezeDescendants(
  root: number = process.pid,
  options: FreezeOptions = {},
): Promise<FrozenTree> {
  return entered(options, (started) => freeze(root, false, options, started));
}

/** Freezes a cgroup (a directory under a cgroup mount, or its path in its hierarchy: "/system.slice/db.service") with the kernel's freezer. */
export function freezeCgroup(path: string, options: FreezeOptions = {}): Promise<FrozenTree> {
  return entered(options, async (started) => {
    const common = commonOptions(options, started); // the options first, as for pid trees
    return freezeThisCgroup(resolveCgroup(path), common);
  });
}

/**
 * Every public freeze starts here, with the clock and the priority raise before anything
 * else: beside a spinning tree in this session, whatever runs before the raise (even V8
 * compiling the next functions) crawls — 50-130 ms measured — and would be missing from
 * durationMs. The priority is restored once the freeze settles.
 */
function entered(
  options: InternalFreezeOptions,
  run: (started: number) => Promise<FrozenTree>,
): Promise<FrozenTree> {
  const started = performance.now();
  const restorePriority = options.raisePriority === false ? () => {} : raisePriority();
  return run(started).finally(restorePriority);
}

async function freezeThisCgroup(cgroup: ResolvedCgroup, common: CommonOptions): Promise<FrozenTree> {
  // Every way to a cgroup freeze passes here: this process (and so its watchdog and the
  // command of `run`, which start in its cgroup) must never be inside.
  if (cgroupPids(cgroup.path).includes(process.pid)) {
    throw new FreezeError(
      'UNSAFE_TARGET',
      `cgroup ${cgroup.path} holds this process: it cannot freeze itself`,
      [process.pid],
    );
  }
  if (common.signal?.aborted) throw abortedBeforeStart();
  return freezeWithCgroup({ cgroup, ...common });
}

async function freeze(
  root: number,
  includeRoot: boolean,
  options: InternalFreezeOptions,
  started: number,
): Promise<FrozenTree> {
  assertPid(root);
  const common = commonOptions(options, started);
  const backend = options.backend ?? 'signal';
  if (backend !== 'signal' && backend !== 'cgroup' && backend !== 'auto') {
    throw invalidArgument(`backend must be 'signal', 'cgroup' or 'auto', got ${String(backend)}`);
  }
  const exclude = new Set<number>();
  for (const pid of options.exclude ?? []) {
    assertPid(pid, 'excluded pid');
    exclude.add(pid);
  }
  if (includeRoot && exclude.has(root)) {
    throw new FreezeError('INVALID_ARGUMENT', `the root ${root} is excluded: nothing would be frozen`, [
      root,
    ]);
  }
  if (options.identity !== undefined && options.identity !== 'pidfd' && options.identity !== 'starttime') {
    throw invalidArgument(`identity must be 'pidfd' or 'starttime', got ${String(options.identity)}`);
  }
  checkSafeRoot(root, includeRoot);
  if (common.signal?.aborted) throw abortedBeforeStart();

  if (backend !== 'signal') {
    const choice = !includeRoot
      ? { reason: 'the cgroup backend freezes whole trees (freezeTree), not descendants only' }
      : exclude.size > 0
        ? { reason: 'a cgroup is frozen whole, so exclude needs the signal backend' }
        : cgroupHoldingExactly(root);
    if ('cgroup' in choice) return freezeThisCgroup(choice.cgroup, common);
    if (backend === 'cgroup') {
      throw new FreezeError(
        'CGROUP_MISMATCH',
        `cannot use the cgroup backend for ${root}: ${choice.reason}`,
        [root],
      );
    }
  }

  // The caller and its own descendants are never frozen: when the root is an ancestor
  // of the caller, the caller's subtree is simply left out.
  exclude.add(process.pid);
  return freezeWithSignals({
    root,
    includeRoot,
    exclude,
    ...common,
    identity: options.identity, // decided after the priority raise: loading koffi is slow on a busy CPU
    discovery: options.discovery,
    afterDiscovery: options.afterDiscovery,
    profile: options.profile,
  });
}

/**
 * The root's own cgroup when it holds exactly the root's tree (never the caller),
 * preferring v2; otherwise the reason it does not.
 */
function cgroupHoldingExactly(root: number): { cgroup: ResolvedCgroup } | { reason: string } {
  const tree = new Set(discoverTree(root).map((node) => node.pid));
  const { v2, v1 } = cgroupsOf(root);
  const reasons: string[] = [];
  for (const path of [v2, v1]) {
    if (path === undefined) continue;
    let cgroup: ResolvedCgroup;
    try {
      cgroup = resolveCgroup(path);
    } catch (error) {
      reasons.push((error as Error).message);
      continue;
    }
    const members = new Set(cgroupPids(cgroup.path));
    if (members.has(process.pid)) {
      reasons.push(`cgroup ${cgroup.path} holds this process, which is never frozen`);
      continue;
    }
    const outsiders = [...members].filter((pid) => !tree.has(pid));
    const missing = [...tree].filter((pid) => !members.has(pid));
    if (outsiders.length === 0 && missing.length === 0) return { cgroup };
    reasons.push(
      outsiders.length > 0
        ? `cgroup ${cgroup.path} also holds ${count(outsiders.length, 'process', 'processes')} outside the tree (${listPids(outsiders, 5)})`
        : `cgroup ${cgroup.path} lacks ${count(missing.length, 'process', 'processes')} of the tree (${listPids(missing, 5)})`,
    );
  }
  return { reason: reasons.join('; ') || `process ${root} is in no cgroup with a freezer` };
}

/** pid 1, kernel threads and (for freezeTree) this process itself are never frozen. */
function checkSafeRoot(root: number, includeRoot: boolean): void {
  if (root === 1) {
    throw new FreezeError('UNSAFE_TARGET', 'refusing to freeze pid 1 (init) or the whole system under it', [
      root,
    ]);
  }
  refuseKernelThread(readRootStat(root), ', which ignores SIGSTOP');
  if (includeRoot && root === process.pid) {
    throw new FreezeError(
      'UNSAFE_TARGET',
      `pid ${root} is this process: a process cannot freeze itself (use freezeDescendants to freeze its children)`,
      [root],
    );
  }
}
