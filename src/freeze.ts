/** The public freeze entry points: argument checks and safety rules, then a backend. */
import { freezeWithCgroup } from './backends/cgroup.js';
import { freezeWithSignals } from './backends/signal.js';
import { cgroupPids, cgroupsOf, type ResolvedCgroup, resolveCgroup } from './cgroup.js';
import { listTree } from './discovery.js';
import { FreezeError } from './errors.js';
import type { FrozenTree, FrozenTreeHandle } from './frozen-tree.js';
import { readProcessStat } from './procfs.js';
import { bestIdentityMethod } from './signals.js';
import { isKernelThreadStat } from './stat.js';

export type BackendChoice = 'signal' | 'cgroup' | 'auto';

export interface FreezeOptions {
  /** Pids whose whole subtree stays running (a monitor, a log shipper). */
  exclude?: Iterable<number>;
  /** One overall deadline for the whole freeze, in ms (default 5000). */
  timeoutMs?: number;
  /** Aborting rejects with ABORTED after resuming everything already stopped. */
  signal?: AbortSignal;
  /** Default true: the tree is thawed even if this process dies. */
  watchdog?: boolean;
  /** Lease: the tree is thawed automatically after this many ms, even if the caller hangs. */
  maxHoldMs?: number;
  /**
   * freezeTree only. 'signal' (default): SIGSTOP/SIGCONT. 'cgroup': the kernel freezer on
   * the root's own cgroup, which must hold exactly the root's tree. 'auto': the cgroup when
   * that holds, signals otherwise.
   */
  backend?: BackendChoice;
  /**
   * How signals are bound to the right process: 'pidfd' (default where available)
   * or 'starttime' (force the fallback: a (pid, start time) check before each signal).
   */
  identity?: 'pidfd' | 'starttime';
  /** Internal, for tests: force the discovery method. */
  discovery?: 'children-files' | 'scan';
  /** Internal, for the benchmark: false keeps the freezing thread's priority as it is. */
  raisePriority?: boolean;
  /** Internal, for tests: called after each discovery, before anything found is signalled. */
  afterDiscovery?: (pids: number[]) => void;
}

export const DEFAULT_TIMEOUT_MS = 5000;

/** Freezes `root` and all its descendants. */
export function freezeTree(root: number, options: FreezeOptions = {}): Promise<FrozenTree> {
  return freeze(root, true, options);
}

/** Freezes the descendants of `root` (default: this process, e.g. a supervisor's workers). */
export function freezeDescendants(
  root: number = process.pid,
  options: FreezeOptions = {},
): Promise<FrozenTree> {
  return freeze(root, false, options);
}

/** Freezes a cgroup (absolute path, or relative to the cgroup v2 mount) with the kernel's freezer. */
export async function freezeCgroup(path: string, options: FreezeOptions = {}): Promise<FrozenTree> {
  const { timeoutMs, maxHoldMs } = validateCommonOptions(options);
  return freezeThisCgroup(resolveCgroup(path), options, timeoutMs, maxHoldMs);
}

async function freezeThisCgroup(
  cgroup: ResolvedCgroup,
  options: FreezeOptions,
  timeoutMs: number,
  maxHoldMs: number | undefined,
): Promise<FrozenTree> {
  // Every way to a cgroup freeze passes here: this process (and so its watchdog and the
  // command of `run`, which start in its cgroup) must never be inside.
  if (cgroupPids(cgroup.path).includes(process.pid)) {
    throw new FreezeError(
      'UNSAFE_TARGET',
      `cgroup ${cgroup.path} holds this process: it cannot freeze itself`,
      [process.pid],
    );
  }
  if (options.signal?.aborted)
    throw new FreezeError('ABORTED', 'freeze aborted before it started; nothing was frozen');
  const frozen = await freezeWithCgroup({
    cgroup,
    timeoutMs,
    signal: options.signal,
    watchdog: options.watchdog ?? true,
    maxHoldMs,
  });
  if (maxHoldMs !== undefined) startLease(frozen, maxHoldMs);
  return frozen;
}

async function freeze(root: number, includeRoot: boolean, options: FreezeOptions): Promise<FrozenTree> {
  validatePid(root);
  const { timeoutMs, maxHoldMs } = validateCommonOptions(options);
  const backend = options.backend ?? 'signal';
  if (backend !== 'signal' && backend !== 'cgroup' && backend !== 'auto') {
    throw new FreezeError(
      'INVALID_ARGUMENT',
      `backend must be 'signal', 'cgroup' or 'auto', got ${String(backend)}`,
    );
  }
  const exclude = new Set<number>();
  for (const pid of options.exclude ?? []) {
    validatePid(pid, 'excluded pid');
    exclude.add(pid);
  }
  if (includeRoot && exclude.has(root)) {
    throw new FreezeError('INVALID_ARGUMENT', `the root ${root} is excluded: nothing would be frozen`, [
      root,
    ]);
  }
  if (options.identity !== undefined && options.identity !== 'pidfd' && options.identity !== 'starttime') {
    throw new FreezeError(
      'INVALID_ARGUMENT',
      `identity must be 'pidfd' or 'starttime', got ${String(options.identity)}`,
    );
  }
  checkSafeRoot(root, includeRoot);
  if (options.signal?.aborted) {
    throw new FreezeError('ABORTED', 'freeze aborted before it started; nothing was stopped', []);
  }

  if (backend !== 'signal') {
    const choice = !includeRoot
      ? { reason: 'the cgroup backend freezes whole trees (freezeTree), not descendants only' }
      : exclude.size > 0
        ? { reason: 'a cgroup is frozen whole, so exclude needs the signal backend' }
        : cgroupHoldingExactly(root);
    if ('cgroup' in choice) return freezeThisCgroup(choice.cgroup, options, timeoutMs, maxHoldMs);
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
  const frozen = await freezeWithSignals({
    root,
    includeRoot,
    exclude,
    timeoutMs,
    signal: options.signal,
    watchdog: options.watchdog ?? true,
    maxHoldMs,
    identity: options.identity ?? bestIdentityMethod(),
    discovery: options.discovery,
    afterDiscovery: options.afterDiscovery,
    raisePriority: options.raisePriority ?? true,
  });
  if (maxHoldMs !== undefined) startLease(frozen, maxHoldMs);
  return frozen;
}

/** Checks the options every backend shares. */
function validateCommonOptions(options: FreezeOptions): { timeoutMs: number; maxHoldMs: number | undefined } {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!(typeof timeoutMs === 'number' && timeoutMs > 0 && Number.isFinite(timeoutMs))) {
    throw new FreezeError(
      'INVALID_ARGUMENT',
      `timeoutMs must be a positive number of milliseconds, got ${timeoutMs}`,
    );
  }
  const maxHoldMs = options.maxHoldMs;
  if (maxHoldMs !== undefined && !(typeof maxHoldMs === 'number' && maxHoldMs > 0 && maxHoldMs < 2 ** 31)) {
    throw new FreezeError(
      'INVALID_ARGUMENT',
      `maxHoldMs must be a positive number of milliseconds, got ${maxHoldMs}`,
    );
  }
  return { timeoutMs, maxHoldMs };
}

/**
 * The root's own cgroup when it holds exactly the root's tree (never the caller),
 * preferring v2; otherwise the reason it does not.
 */
function cgroupHoldingExactly(root: number): { cgroup: ResolvedCgroup } | { reason: string } {
  const tree = new Set(listTree(root).map((node) => node.pid));
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
    const members = cgroupPids(cgroup.path);
    if (members.includes(process.pid)) {
      reasons.push(`cgroup ${cgroup.path} holds this process, which is never frozen`);
      continue;
    }
    const outsiders = members.filter((pid) => !tree.has(pid));
    const missing = [...tree].filter((pid) => !members.includes(pid));
    if (outsiders.length === 0 && missing.length === 0) return { cgroup };
    reasons.push(
      outsiders.length > 0
        ? `cgroup ${cgroup.path} also holds ${outsiders.length} process(es) outside the tree (${outsiders.slice(0, 5).join(', ')})`
        : `cgroup ${cgroup.path} lacks ${missing.length} process(es) of the tree (${missing.slice(0, 5).join(', ')})`,
    );
  }
  return { reason: reasons.join('; ') || `process ${root} is in no cgroup with a freezer` };
}

/** The lease: thaw after maxHoldMs even if the caller never does. Does not keep the process alive. */
function startLease(frozen: FrozenTreeHandle, maxHoldMs: number): void {
  const timer = setTimeout(() => void frozen.thawBecause('lease'), maxHoldMs);
  timer.unref();
  void frozen.thawed.then(() => clearTimeout(timer));
}

export function validatePid(pid: unknown, what = 'pid'): asserts pid is number {
  if (typeof pid !== 'number' || !Number.isSafeInteger(pid) || pid <= 0) {
    throw new FreezeError('INVALID_ARGUMENT', `${what} must be a positive integer, got ${String(pid)}`);
  }
}

function checkSafeRoot(root: number, includeRoot: boolean): void {
  if (root === 1) {
    throw new FreezeError('UNSAFE_TARGET', 'refusing to freeze pid 1 (init) or the whole system under it', [
      root,
    ]);
  }
  const stat = readProcessStat(root);
  if (stat === null) throw new FreezeError('NO_SUCH_PROCESS', `no process with pid ${root}`, [root]);
  if (isKernelThreadStat(stat) || root === 2) {
    throw new FreezeError(
      'UNSAFE_TARGET',
      `pid ${root} (${stat.comm}) is a kernel thread, which ignores SIGSTOP`,
      [root],
    );
  }
  if (includeRoot && root === process.pid) {
    throw new FreezeError(
      'UNSAFE_TARGET',
      `pid ${root} is this process: a process cannot freeze itself (use freezeDescendants to freeze its children)`,
      [root],
    );
  }
}
