/**
 * The steps of a signal-backend round around the signals themselves: leaving the safety
 * nets out of what was discovered, refusing a tree that cannot be signalled, binding each
 * newcomer's identity and recording its state before the freeze, and the order of the stops.
 */
import { notPermittedToSignal } from '../../base/errors.js';
import type { Native } from '../../kernel/native.js';
import { readTaskStates } from '../../kernel/procfs.js';
import type { KeptStatFiles } from '../../kernel/stat-files.js';
import type { ProcessNode } from '../../tree/discovery.js';
import { bindPidfd, findUnsignallable, type IdentityMethod, releaseIdentity } from '../../tree/identity.js';
import { processRecord } from '../../tree/process.js';
import type { SafetyNetProcesses } from '../contract.js';
import type { TrackedProcess } from './wait.js';

/**
 * The nodes minus every safety net among them and its subtree (read from the nodes' own
 * children lists: no second discovery); each such net joins `exclude` for later rounds.
 */
export function withoutSafetyNets(
  nodes: ProcessNode[],
  exclude: Set<number>,
  safetyNets: SafetyNetProcesses,
): ProcessNode[] {
  const watchdogs = nodes.filter((node) => safetyNets.isOne(node.pid, node.comm));
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
export function bindNewcomers(
  nodes: ProcessNode[],
  identity: IdentityMethod,
  calls: Native | null,
  kept: KeptStatFiles,
): TrackedProcess[] {
  const batch: TrackedProcess[] = [];
  let current: TrackedProcess | undefined;
  try {
    for (const node of nodes) {
      const process: TrackedProcess = processRecord(node, { wasStopped: false, traced: false });
      current = process;
      // The stat file discovery read it from, when kept: it names this process for good.
      process.statFd = kept.take(node.pid);
      // With start-time identity, discovery has just read the identity and sendSignal checks it
      // again right before each signal: nothing to bind. A pidfd is confirmed after opening.
      if (identity === 'pidfd' && !bindPidfd(process, calls)) {
        releaseIdentity(process); // closes the stat file discovery kept for it
        continue; // exited (or its pid was recycled)
      }
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
  } catch (error) {
    // A /proc read that failed outright: none of these is tracked yet, so nobody else would
    // close what was opened for them.
    for (const process of [...batch, current]) if (process) releaseIdentity(process);
    throw error;
  }
  return batch;
}

/**
 * Running processes first (they hold the CPU the freezer needs), then the rest;
 * each group keeps discovery order, parents before children. A child forked in
 * the gap is caught by the rescan.
 */
export function stopOrder(batch: TrackedProcess[], nodes: ProcessNode[]): TrackedProcess[] {
  const running = new Set(nodes.filter((node) => node.state === 'R').map((node) => node.pid));
  return [...batch.filter((p) => running.has(p.pid)), ...batch.filter((p) => !running.has(p.pid))];
}

/** Checks permission for the whole first scan before stopping anything, so EPERM stops nothing. */
export function refuseUnsignallable(nodes: ProcessNode[]): void {
  const denied = findUnsignallable(nodes.map((node) => node.pid));
  if (denied.length > 0) throw notPermittedToSignal(denied);
}
