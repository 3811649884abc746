/**
 * The signal backend: SIGSTOP every process of the tree, confirm every task stopped,
 * rescan until a rescan finds nothing new; SIGCONT on thaw. See docs/design.md.
 */
import { listTree, type ProcessNode } from '../discovery.js';
import { FreezeError } from '../errors.js';
import { FrozenTreeHandle } from '../frozen-tree.js';
import { raisePriority } from '../priority.js';
import { readTaskStates } from '../procfs.js';
import { bindPidfd, findUnsignallable, releasePidfd, sendSignal } from '../signals.js';
import { abortError, type TrackedProcess, waitUntilStopped } from '../wait.js';
import { ownWatchdogPids, startWatchdog, type Watchdog } from '../watchdog.js';

/** A tree that still shows newcomers after this many rounds is "keeps changing". */
export const MAX_ROUNDS = 32;

export interface SignalFreezeRequest {
  root: number;
  includeRoot: boolean;
  /** Pids whose subtrees stay running (the caller, the user's exclusions). */
  exclude: Set<number>;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  watchdog: boolean;
  maxHoldMs?: number | undefined;
  identity: 'pidfd' | 'starttime';
  /** Internal: force the discovery method (tests). */
  discovery?: 'children-files' | 'scan' | undefined;
  afterDiscovery?: ((pids: number[]) => void) | undefined;
  raisePriority: boolean;
}

/** TREEFREEZE_PROFILE=1: print where a freeze spends its time, phase by phase, on stderr. */
const PROFILE = process.env.TREEFREEZE_PROFILE === '1';

export async function freezeWithSignals(request: SignalFreezeRequest): Promise<FrozenTreeHandle> {
  const started = performance.now();
  const phases: Record<string, number> = {};
  let mark = started;
  const phase = (name: string) => {
    if (!PROFILE) return;
    const now = performance.now();
    phases[name] = (phases[name] ?? 0) + (now - mark);
    mark = now;
  };
  const deadline = started + request.timeoutMs;
  // Insertion order is stop order; resume walks it backwards.
  const tracked = new Map<number, TrackedProcess>();
  const stoppedByUs = new Set<TrackedProcess>();
  const everTracked: TrackedProcess[] = [];
  let watchdogLost: FreezeError | undefined;
  // Started first so that its exec overlaps discovery; awaited before the first SIGSTOP.
  const watchdogStarting = request.watchdog
    ? startWatchdog(
        (error) => {
          watchdogLost = error;
        },
        deadline,
        // Only a tree of our own descendants can contain the watchdog: then its exact pid is needed.
        request.root === process.pid,
      )
    : undefined;
  watchdogStarting?.catch(() => {}); // awaited below; never an unhandled rejection
  let watchdog: Watchdog | undefined;
  const restorePriority = request.raisePriority ? raisePriority() : () => {};

  // Other freezes' watchdogs (our children too) must keep running whatever is frozen.
  const exclude = new Set([...request.exclude, ...ownWatchdogPids()]);
  const stop = (process: TrackedProcess): void => {
    if (sendSignal(process, 'SIGSTOP') === 'sent') stoppedByUs.add(process);
  };
  const release = () => {
    for (const process of everTracked) releasePidfd(process);
  };

  try {
    let rounds = 0;
    let exited = 0;
    for (;;) {
      if (request.signal?.aborted) throw abortError(request.signal);
      phase('other');
      const nodes = listTree(request.root, {
        includeRoot: request.includeRoot,
        exclude,
        method: request.discovery,
        sizeHint: tracked.size,
      });
      let newcomers = nodes.filter((node) => tracked.get(node.pid)?.startTime !== node.startTime);
      phase('discover');
      if (rounds > 0 && newcomers.length === 0) break;
      if (rounds >= MAX_ROUNDS) {
        throw new FreezeError(
          'TREE_KEEPS_CHANGING',
          `the tree kept changing: ${newcomers.length} new process(es) still appeared after ${MAX_ROUNDS} rescans; everything stopped was resumed`,
          newcomers.map((node) => node.pid),
        );
      }
      if (rounds === 0) refuseUnsignallable(nodes);
      phase('other');
      if (watchdogStarting && !watchdog) {
        const ready = await watchdogStarting;
        watchdog = ready;
        // The watchdog is our child: when we freeze our own descendants it must stay out.
        exclude.add(ready.pid);
        // It can only be in the tree when we freeze our own descendants: every other tree
        // that holds this process excludes our whole subtree already. It has no children yet.
        newcomers = newcomers.filter((node) => node.pid !== ready.pid);
      }
      phase('watchdog wait');
      // After the watchdog exists (its spawn allocates a pid), before anything found is signalled.
      request.afterDiscovery?.(newcomers.map((node) => node.pid));
      if (watchdogLost) throw watchdogLost;
      rounds++;
      const batch = bindNewcomers(newcomers, request.identity);
      phase('bind');
      for (const process of batch) {
        tracked.set(process.pid, process);
        everTracked.push(process);
      }
      // The watchdog learns each process before it is stopped, so no window leaves one unguarded.
      watchdog?.guard(batch.filter((process) => !process.wasStopped));
      phase('watchdog write');
      for (const process of stopOrder(batch)) stop(process);
      phase('SIGSTOP');
      await waitUntilStopped({
        tracked,
        deadline,
        signal: request.signal,
        restop: stop,
        onExit: () => exited++,
      });
      phase('wait');
    }
    // Never resolve unprotected: the watchdog's exec must have succeeded (usually long done).
    await watchdog?.ready();
    if (watchdogLost) throw watchdogLost;
    watchdog?.complete();
    if (request.maxHoldMs !== undefined) watchdog?.lease(request.maxHoldMs);
    phase('other');
    if (PROFILE) {
      const text = Object.entries(phases)
        .map(([name, ms]) => `${name} ${ms.toFixed(2)}`)
        .join(', ');
      process.stderr.write(
        `treefreeze: ${tracked.size} processes in ${(performance.now() - started).toFixed(2)} ms: ${text}\n`,
      );
    }
    const processes = [...tracked.values()];
    const exact = everTracked.length > 0 && everTracked.every((process) => process.pidfd !== undefined);
    return new FrozenTreeHandle({
      backend: 'signal',
      identity: exact ? 'pidfd' : 'starttime',
      processes,
      durationMs: performance.now() - started,
      rounds,
      exited,
      resume: () => {
        resume(stoppedByUs);
        watchdog?.release();
        release();
      },
    });
  } catch (error) {
    resume(stoppedByUs); // guarantee 2: a rejected freeze leaves nothing stopped
    watchdog ??= await watchdogStarting?.catch(() => undefined);
    watchdog?.release();
    release();
    throw error;
  } finally {
    restorePriority();
  }
}

/** Records each newcomer's state before the freeze touches it and binds its identity. */
function bindNewcomers(nodes: ProcessNode[], identity: 'pidfd' | 'starttime'): TrackedProcess[] {
  const batch: TrackedProcess[] = [];
  for (const node of nodes) {
    const process: TrackedProcess = {
      pid: node.pid,
      ppid: node.ppid,
      comm: node.comm,
      startTime: node.startTime,
      threads: node.threads,
      wasStopped: false,
      traced: false,
      runningAtDiscovery: node.state === 'R',
    };
    // With start-time identity, discovery has just read the identity and sendSignal checks it
    // again right before each signal: nothing to bind. A pidfd is confirmed after opening.
    if (identity === 'pidfd' && !bindPidfd(process)) continue; // exited (or its pid was recycled)
    // Stopped before the freeze only if every task is T; the main thread's state from
    // discovery settles the common case without reading the other tasks.
    if (node.state === 'T' || node.state === 't') {
      const tasks = readTaskStates(node.pid) ?? [];
      process.threads = tasks.length || node.threads;
      process.wasStopped = tasks.length > 0 && tasks.every((task) => task.state === 'T');
      process.traced = tasks.some((task) => task.state === 't');
    }
    batch.push(process);
  }
  return batch;
}

/**
 * Running processes first (they hold the CPU the freezer needs), then the rest;
 * each group keeps discovery order, parents before children. A child forked in
 * the gap is caught by the rescan.
 */
function stopOrder(batch: TrackedProcess[]): TrackedProcess[] {
  return [...batch.filter((p) => p.runningAtDiscovery), ...batch.filter((p) => !p.runningAtDiscovery)];
}

/** Checks permission for the whole first scan before stopping anything, so EPERM stops nothing. */
function refuseUnsignallable(nodes: ProcessNode[]): void {
  const denied = findUnsignallable(nodes.map((node) => node.pid));
  if (denied.length > 0) {
    throw new FreezeError(
      'NOT_PERMITTED',
      `not permitted to signal ${denied.length} process(es) of the tree (${denied.slice(0, 8).join(', ')}): they belong to another user; run as their owner or as root`,
      denied,
    );
  }
}

/** SIGCONT, children first, to exactly the processes this freeze stopped and that were running before. */
function resume(stoppedByUs: Set<TrackedProcess>): void {
  for (const process of [...stoppedByUs].reverse()) {
    if (process.wasStopped) continue;
    try {
      sendSignal(process, 'SIGCONT');
    } catch {
      // Cannot happen for a process we could stop; never let one failure strand the rest.
    }
  }
}
