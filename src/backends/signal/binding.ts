/**
 * The steps of a signal-backend round around the signals themselves: leaving the safety
 * nets out of what was discovered, refusing a tree that cannot be signalled, binding each
 * newcomer's identity and recording its state before the freeze, and the order of the stops.
 */
import { notPermittedToSignal } from '../../base/errors.js';
import { closeQuietly } from '../../kernel/descriptors.js';
import type { Native } from '../../kernel/native.js';
import type { NativeCore } from '../../kernel/native-core.js';
import { readTaskStates } from '../../kernel/procfs.js';
import type { KeptStatFiles } from '../../kernel/stat-files.js';
import type { ProcessNode } from '../../tree/discovery.js';
import {
  bindPidfd,
  findUnsignallable,
  type IdentityMethod,
  readIdentifiedStat,
  releaseIdentity,
} from '../../tree/identity.js';
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
  core: NativeCore | null = null,
): TrackedProcess[] {
  const batch: TrackedProcess[] = [];
  let current: TrackedProcess | undefined;
  const inBulk =
    identity === 'pidfd' && calls !== null && core !== null && nodes.length >= core.minBatch
      ? bindInBulk(nodes, kept, core, calls)
      : undefined;
  try {
    for (const [i, node] of nodes.entries()) {
      if (inBulk?.[i] === null) continue; // gone: bindInBulk released what it had opened
      const process: TrackedProcess =
        inBulk?.[i] ?? processRecord(node, { wasStopped: false, traced: false });
      current = process;
      // The stat file discovery read it from, when kept: it names this process for good.
      if (inBulk === undefined) process.statFd = kept.take(node.pid);
      // With start-time identity, discovery has just read the identity and sendSignal checks it
      // again right before each signal: nothing to bind. A pidfd is confirmed after opening.
      const bound = process.pidfd !== undefined || (identity === 'pidfd' && bindPidfd(process, calls));
      if (identity === 'pidfd' && !bound) {
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
    for (const process of [...batch, current, ...(inBulk ?? [])]) if (process) releaseIdentity(process);
    throw error;
  }
  return batch;
}

const ESRCH = 3;

/**
 * bindPidfd for many processes at once through the native core. Discovery's bulk read
 * opened a pidfd for each process before reading its stat: one poll() proving none of them
 * exited since binds them all with no further read. The others: every pidfd opened in one
 * call, then every kept stat file read again in another, after the pidfds exist (a file that
 * still names the discovered process proves the pidfd does too). Per node: its record,
 * bound or left for bindPidfd to try (undefined pidfd), or null when the process is gone.
 */
function bindInBulk(
  nodes: ProcessNode[],
  kept: KeptStatFiles,
  core: NativeCore,
  calls: Native,
): (TrackedProcess | null)[] {
  const early = new Map<TrackedProcess, number>();
  const processes = nodes.map((node) => {
    const process: TrackedProcess = processRecord(node, { wasStopped: false, traced: false });
    process.statFd = kept.take(node.pid);
    const pidfd = kept.takePidfd(node.pid);
    if (pidfd !== undefined) early.set(process, pidfd);
    return process;
  });
  // Pidfds discovery opened before it read each stat: if none of their processes has exited
  // since (one poll), each names the process whose stat was read, and nothing is read again.
  if (early.size > 0 && calls.countExited([...early.values()]) === 0) {
    for (const [process, pidfd] of early) process.pidfd = pidfd;
  } else {
    for (const pidfd of early.values()) closeQuietly(pidfd);
  }
  const rest = processes.filter((process) => process.pidfd === undefined);
  const pidfds = core.pidfdOpenMany(rest.map((process) => process.pid));
  let checked: (TrackedProcess | null)[];
  try {
    checked = confirmBulkBinding(rest, pidfds, core);
  } catch (error) {
    // A /proc read that failed outright: nothing is tracked yet, so close all that was opened.
    for (const [i, process] of rest.entries()) {
      if ((pidfds[i] as number) >= 0 && process.pidfd === undefined) closeQuietly(pidfds[i] as number);
    }
    for (const process of processes) releaseIdentity(process); // stat files, and pidfds given
    throw error;
  }
  const outcome = new Map(rest.map((process, i) => [process, checked[i]]));
  return processes.map((process) => (outcome.has(process) ? (outcome.get(process) ?? null) : process));
}

/** bindInBulk's second half: each pidfd kept only if the process's stat, read now, shows its start time. */
function confirmBulkBinding(
  processes: TrackedProcess[],
  pidfds: Int32Array,
  core: NativeCore,
): (TrackedProcess | null)[] {
  const withFile = processes.filter(
    (process, i) => (pidfds[i] as number) >= 0 && process.statFd !== undefined,
  );
  const stats = core.preadStats(withFile.map((process) => process.statFd as number));
  const statOf = new Map(withFile.map((process, i) => [process, stats[i]]));
  return processes.map((process, i) => {
    const pidfd = pidfds[i] as number;
    if (pidfd === -ESRCH) {
      releaseIdentity(process);
      return null;
    }
    if (pidfd < 0) return process; // EMFILE and the like: bindPidfd falls back for this one
    // Without a kept file, or a reading the core could not judge: the TypeScript way.
    const stat = statOf.has(process) ? statOf.get(process) : undefined;
    const same =
      stat === undefined ? readIdentifiedStat(process) !== null : stat?.startTime === process.startTime;
    if (!same) {
      closeQuietly(pidfd);
      releaseIdentity(process);
      return null;
    }
    process.pidfd = pidfd;
    return process;
  });
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
export function refuseUnsignallable(nodes: ProcessNode[], core: NativeCore | null = null): void {
  const denied = findUnsignallable(
    nodes.map((node) => node.pid),
    core,
  );
  if (denied.length > 0) throw notPermittedToSignal(denied);
}
