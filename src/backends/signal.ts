/**
 * The signal backend: SIGSTOP every process of the tree, parents before children,
 * confirm every task stopped, rescan until a rescan finds nothing new; SIGCONT on thaw.
 */

import { listTree, type ProcessNode } from '../discovery.js';
import { FreezeError } from '../errors.js';
import { FrozenTreeHandle } from '../frozen-tree.js';
import { readTaskStates } from '../procfs.js';
import { findUnsignallable, sendSignal } from '../signals.js';
import { abortError, type TrackedProcess, waitUntilStopped } from '../wait.js';

/** A tree that still shows newcomers after this many rounds is "keeps changing". */
export const MAX_ROUNDS = 32;

export interface SignalFreezeRequest {
  root: number;
  includeRoot: boolean;
  /** Pids whose subtrees stay running (the caller, the watchdog, the user's exclusions). */
  exclude: Set<number>;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  /** Internal: force the discovery method (tests). */
  discovery?: 'children-files' | 'scan' | undefined;
}

export async function freezeWithSignals(request: SignalFreezeRequest): Promise<FrozenTreeHandle> {
  const started = performance.now();
  const deadline = started + request.timeoutMs;
  // Insertion order is stop order: parents before children.
  const tracked = new Map<number, TrackedProcess>();
  // Insertion-ordered, so resume can walk it backwards (children first).
  const stoppedByUs = new Set<TrackedProcess>();

  const discover = (): ProcessNode[] =>
    listTree(request.root, {
      includeRoot: request.includeRoot,
      exclude: request.exclude,
      method: request.discovery,
    });
  const stop = (process: TrackedProcess): void => {
    if (sendSignal(process, 'SIGSTOP') === 'sent') stoppedByUs.add(process);
  };

  try {
    let rounds = 0;
    let exited = 0;
    for (;;) {
      if (request.signal?.aborted) throw abortError(request.signal);
      const nodes = discover();
      const newcomers = nodes.filter((node) => tracked.get(node.pid)?.startTime !== node.startTime);
      if (rounds > 0 && newcomers.length === 0) break;
      if (rounds >= MAX_ROUNDS) {
        throw new FreezeError(
          'TREE_KEEPS_CHANGING',
          `the tree kept changing: ${newcomers.length} new process(es) still appeared after ${MAX_ROUNDS} rescans; everything stopped was resumed`,
          newcomers.map((node) => node.pid),
        );
      }
      if (rounds === 0) refuseUnsignallable(nodes);
      rounds++;
      for (const node of newcomers) {
        const process = track(node);
        tracked.set(node.pid, process);
        stop(process);
      }
      await waitUntilStopped({
        tracked,
        deadline,
        signal: request.signal,
        restop: stop,
        onExit: () => exited++,
      });
    }
    const processes = [...tracked.values()];
    return new FrozenTreeHandle({
      backend: 'signal',
      identity: 'starttime',
      processes,
      durationMs: performance.now() - started,
      rounds,
      exited,
      resume: () => resume(stoppedByUs),
    });
  } catch (error) {
    resume(stoppedByUs); // guarantee 2: a rejected freeze leaves nothing stopped
    throw error;
  }
}

/** Records what a process looked like before the freeze touched it. */
function track(node: ProcessNode): TrackedProcess {
  const tasks = readTaskStates(node.pid) ?? [];
  return {
    pid: node.pid,
    ppid: node.ppid,
    comm: node.comm,
    startTime: node.startTime,
    threads: tasks.length || node.threads,
    wasStopped: tasks.length > 0 && tasks.every((task) => task.state === 'T'),
    traced: tasks.some((task) => task.state === 't'),
  };
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
