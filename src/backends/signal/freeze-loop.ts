/**
 * The signal backend: SIGSTOP every process of the tree, confirm every task stopped,
 * rescan until a rescan finds nothing new; SIGCONT on thaw. See docs/design.md.
 */
import { aborted, count, FreezeError, notPermittedToSignal, thawFailed } from '../../errors.js';
import type { Platform } from '../../kernel/platform.js';
import { readTaskStates } from '../../kernel/procfs.js';
import { discoverTree, type ProcessNode } from '../../tree/discovery.js';
import {
  bindPidfd,
  findUnsignallable,
  type IdentityMethod,
  releasePidfd,
  sendSignal,
} from '../../tree/identity.js';
import { processRecord } from '../../tree/process.js';
import type { Watchdog } from '../../watchdog/channel.js';
import { sealProtection } from '../../watchdog/lease.js';
import { isWatchdogProcess, ownWatchdogPids } from '../../watchdog/registry.js';
import { startWatchdog } from '../../watchdog/spawn.js';
import { FrozenTreeHandle } from '../frozen-tree.js';
import { type TrackedProcess, waitUntilStopped } from './wait.js';

/** A tree that still shows newcomers after this many rounds is "keeps changing". */
export const MAX_ROUNDS = 32;

/** @internal */
export interface SignalFreezeRequest {
  /** performance.now() when the caller called: durationMs counts from there. */
  started: number;
  root: number;
  includeRoot: boolean;
  /** Pids whose subtrees stay running (the caller, the user's exclusions). */
  exclude: Set<number>;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  watchdog: boolean;
  maxHoldMs?: number | undefined;
  /** Forced identity; by default pidfd where the native calls load. */
  identity?: IdentityMethod | undefined;
  platform: Platform;
  /** Force the discovery method (tests). */
  discovery?: 'children-files' | 'scan' | undefined;
  /** Called after each discovery, before anything found is signalled (tests). */
  afterDiscovery?: ((pids: number[]) => void) | undefined;
}

/** TREEFREEZE_PROFILE=1: print where a freeze spends its time, phase by phase, on stderr. */
const PROFILE = process.env.TREEFREEZE_PROFILE === '1';

/** @internal */
export async function freezeWithSignals(request: SignalFreezeRequest): Promise<FrozenTreeHandle> {
  // The caller raised this process's priority before anything else (see freeze.ts).
  const { started } = request;
  const phases: Record<string, number> = {};
  let mark = started;
  const phase = (name: string) => {
    if (!PROFILE) return;
    const now = performance.now();
    phases[name] = (phases[name] ?? 0) + (now - mark);
    mark = now;
  };
  const deadline = started + request.timeoutMs;
  // Loads koffi on the first freeze (20 ms on an idle machine, seconds beside a spinning
  // tree in this session): after the priority raise, and inside durationMs.
  const calls = request.identity === 'starttime' ? null : request.platform.native();
  const identity: IdentityMethod = calls ? 'pidfd' : 'starttime';
  phase('native library');
  // Insertion order is stop order; resume walks it backwards.
  const tracked = new Map<number, TrackedProcess>();
  const stoppedByUs = new Set<TrackedProcess>();
  const everTracked: TrackedProcess[] = [];
  // Started first so that its exec overlaps discovery; awaited before the first SIGSTOP.
  const watchdogStarting = request.watchdog
    ? startWatchdog(
        request.platform,
        deadline,
        // Only a tree of our own descendants can contain the watchdog: then its exact pid is needed.
        request.root === process.pid,
      )
    : undefined;
  watchdogStarting?.catch(() => {}); // awaited below; never an unhandled rejection
  phase('watchdog spawn');
  let watchdog: Watchdog | undefined;

  // Other freezes' watchdogs (our children too) must keep running whatever is frozen.
  const exclude = new Set([...request.exclude, ...ownWatchdogPids()]);
  const stop = (process: TrackedProcess): void => {
    if (sendSignal(process, 'SIGSTOP', calls) === 'sent') stoppedByUs.add(process);
  };
  const releasePidfds = () => {
    for (const process of everTracked) releasePidfd(process);
  };

  try {
    let rounds = 0;
    let exited = 0;
    for (;;) {
      if (request.signal?.aborted) throw aborted(request.signal.reason);
      phase('other');
      const discovered = discoverTree(request.root, {
        includeRoot: request.includeRoot,
        exclude,
        method: request.discovery,
        sizeHint: tracked.size,
      });
      // Another freezer's watchdog inside this tree keeps running, with its lease timer:
      // stopping it would disarm that freezer's safety net. (Its freezer may be frozen.)
      const nodes = withoutForeignWatchdogs(discovered, exclude);
      let newcomers = nodes.filter((node) => tracked.get(node.pid)?.startTime !== node.startTime);
      phase('discover');
      if (rounds > 0 && newcomers.length === 0) break;
      if (rounds >= MAX_ROUNDS) {
        throw new FreezeError(
          'TREE_KEEPS_CHANGING',
          `the tree kept changing: ${count(newcomers.length, 'new process', 'new processes')} still appeared after ${MAX_ROUNDS} rescans; everything it froze was thawed`,
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
      if (watchdog?.failure) throw watchdog.failure;
      rounds++;
      const batch = bindNewcomers(newcomers, identity, calls);
      phase('bind');
      for (const process of batch) {
        tracked.set(process.pid, process);
        everTracked.push(process);
      }
      // The watchdog learns each process before it is stopped, so no window leaves one unguarded.
      watchdog?.guardProcesses(batch.filter((process) => !process.wasStopped));
      phase('watchdog write');
      for (const process of stopOrder(batch, newcomers)) stop(process);
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
    // Never resolve unprotected: the watchdog must really run (usually long done).
    await sealProtection(watchdog, request.maxHoldMs);
    phase('other');
    if (PROFILE) {
      const text = Object.entries(phases)
        .map(([name, ms]) => `${name} ${ms.toFixed(2)}`)
        .join(', ');
      process.stderr.write(
        `treefreeze: ${tracked.size} processes in ${(performance.now() - started).toFixed(2)} ms: ${text}\n`,
      );
    }
    const exact = everTracked.length > 0 && everTracked.every((process) => process.pidfd !== undefined);
    return new FrozenTreeHandle({
      backend: 'signal',
      identity: exact ? 'pidfd' : 'starttime',
      processes: [...tracked.values()],
      started,
      rounds,
      exited,
      maxHoldMs: request.maxHoldMs,
      resume: () => {
        try {
          resume(stoppedByUs, calls);
        } finally {
          releasePidfds();
        }
      },
      watchdog,
      platform: request.platform,
      // A replacement watchdog learns what the first one learnt: what this freeze stopped.
      brief: (fresh) => fresh.guardProcesses([...stoppedByUs].filter((process) => !process.wasStopped)),
    });
  } catch (error) {
    try {
      resume(stoppedByUs, calls); // guarantee 2: a rejected freeze leaves nothing stopped
    } catch {
      // resume() already tried every process; the freeze's own error says what went wrong first
    }
    watchdog ??= await watchdogStarting?.catch(() => undefined);
    watchdog?.dismiss();
    releasePidfds();
    throw error;
  }
}

/**
 * The nodes minus every watchdog among them and its subtree (read from the nodes' own
 * children lists: no second discovery); each such watchdog joins `exclude` for later rounds.
 */
function withoutForeignWatchdogs(nodes: ProcessNode[], exclude: Set<number>): ProcessNode[] {
  const watchdogs = nodes.filter((node) => isWatchdogProcess(node.pid, node.comm));
  if (watchdogs.length === 0) return nodes;
  const byPid = new Map(nodes.map((node) => [node.pid, node]));
  const dropped = new Set<number>();
  const drop = (pid: number) => {
    if (dropped.has(pid)) return;
    dropped.add(pid);
    for (const child of byPid.get(pid)?.children ?? []) drop(child);
  };
  for (const watchdog of watchdogs) {
    exclude.add(watchdog.pid);
    drop(watchdog.pid);
  }
  return nodes.filter((node) => !dropped.has(node.pid));
}

/** Records each newcomer's state before the freeze touches it and binds its identity. */
function bindNewcomers(
  nodes: ProcessNode[],
  identity: IdentityMethod,
  calls: ReturnType<Platform['native']>,
): TrackedProcess[] {
  const batch: TrackedProcess[] = [];
  for (const node of nodes) {
    const process: TrackedProcess = processRecord(node, { wasStopped: false, traced: false });
    // With start-time identity, discovery has just read the identity and sendSignal checks it
    // again right before each signal: nothing to bind. A pidfd is confirmed after opening.
    if (identity === 'pidfd' && !bindPidfd(process, calls)) continue; // exited (or its pid was recycled)
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
function stopOrder(batch: TrackedProcess[], nodes: ProcessNode[]): TrackedProcess[] {
  const running = new Set(nodes.filter((node) => node.state === 'R').map((node) => node.pid));
  return [...batch.filter((p) => running.has(p.pid)), ...batch.filter((p) => !running.has(p.pid))];
}

/** Checks permission for the whole first scan before stopping anything, so EPERM stops nothing. */
function refuseUnsignallable(nodes: ProcessNode[]): void {
  const denied = findUnsignallable(nodes.map((node) => node.pid));
  if (denied.length > 0) throw notPermittedToSignal(denied);
}

/**
 * SIGCONT, children first, to exactly the processes this freeze stopped and that were
 * running before. Tries every process whatever fails; throws THAW_FAILED naming the
 * ones it could not resume.
 */
function resume(stoppedByUs: Set<TrackedProcess>, calls: ReturnType<Platform['native']>): void {
  const failed: number[] = [];
  let firstError: unknown;
  for (const process of [...stoppedByUs].reverse()) {
    if (process.wasStopped) continue;
    try {
      sendSignal(process, 'SIGCONT', calls);
    } catch (error) {
      failed.push(process.pid);
      firstError ??= error;
    }
  }
  if (failed.length > 0) throw thawFailed(count(failed.length, 'process', 'processes'), failed, firstError);
}
