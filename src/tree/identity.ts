/**
 * Signalling exactly the process that was discovered, never a recycled pid.
 *
 * With pidfd (Linux 5.3+, koffi loaded): a pidfd is opened for the discovered pid,
 * the start time is confirmed right after, and every signal goes through the pidfd,
 * which can only ever name that process. Without: the (pid, start time) pair is
 * checked right before each kill(); the window between check and kill is the
 * residual risk, and a recycled pid with the same start time (10 ms clock) passes.
 */
import { closeSync } from 'node:fs';
import { constants } from 'node:os';
import { errnoCode, isGoneError, notPermittedToSignal, signalFailed } from '../base/errors.js';
import { closeQuietly } from '../kernel/descriptors.js';
import type { Native } from '../kernel/native.js';
import type { NativeCore } from '../kernel/native-core.js';
import { openStatHandle, readProcessStat, readStatHandle } from '../kernel/procfs.js';
import type { ProcStat } from '../kernel/stat.js';

/** How signals are bound to the right process: a pidfd, or a (pid, start time) check before each signal. */
export const IDENTITY_METHODS = ['pidfd', 'starttime'] as const;
export type IdentityMethod = (typeof IDENTITY_METHODS)[number];

export interface ProcessIdentity {
  pid: number;
  startTime: number;
  /** Open pidfd for this process, when identity is bound by pidfd. */
  pidfd?: number | undefined;
  /** Its stat file, kept open beside the pidfd (see openStatHandle): read again with one pread. */
  statFd?: number | undefined;
}

export type SignalName = 'SIGSTOP' | 'SIGCONT';
export type SignalOutcome = 'sent' | 'gone';

const ESRCH = 3;
const EPERM = 1;

/** Whether `identity` still names a live (or zombie) process, by pid and start time. */
export function isSameProcess(identity: ProcessIdentity): boolean {
  return readIdentifiedStat(identity) !== null;
}

/** The process's stat now, or null when it is gone (or its pid names another process now). */
export function readIdentifiedStat(identity: ProcessIdentity): ProcStat | null {
  const stat =
    identity.statFd !== undefined ? readStatHandle(identity.statFd) : readProcessStat(identity.pid);
  return stat === null || stat.startTime !== identity.startTime ? null : stat;
}

/**
 * Binds an identity to a pidfd: open it, then confirm the start time (the pid may
 * have been recycled between discovery and open). Returns false when the process
 * is gone. Keeps the start-time fallback for this process if no pidfd can be opened.
 */
export function bindPidfd(identity: ProcessIdentity, calls: Native | null): boolean {
  if (!calls) return isSameProcess(identity);
  const fd = calls.pidfdOpen(identity.pid);
  if (fd === -ESRCH) return false;
  if (fd < 0) return isSameProcess(identity); // EMFILE and the like: fall back for this one
  // Read after the pidfd was opened, a stat file that names the discovered process (kept
  // open since discovery, or opened now and showing the discovered start time) proves that
  // process held the pid from discovery to now, so the pidfd names it too.
  const statFd = identity.statFd ?? openStatHandle(identity.pid);
  if (typeof statFd === 'number') identity.statFd = statFd;
  if (statFd === null || !isSameProcess(identity)) {
    closeSync(fd);
    releaseStatHandle(identity);
    return false;
  }
  identity.pidfd = fd;
  return true;
}

function releaseStatHandle(identity: ProcessIdentity): void {
  if (identity.statFd === undefined) return;
  closeQuietly(identity.statFd);
  identity.statFd = undefined;
}

/** Closes the pidfd and the stat file bound to a process (see bindPidfd). */
export function releaseIdentity(identity: ProcessIdentity): void {
  releaseStatHandle(identity);
  if (identity.pidfd === undefined) return;
  closeQuietly(identity.pidfd);
  identity.pidfd = undefined;
}

/** Sends `signal` to exactly this process: through its pidfd, else after a start-time check. */
export function sendSignal(
  identity: ProcessIdentity,
  signal: SignalName,
  calls: Native | null,
): SignalOutcome {
  if (identity.pidfd !== undefined && calls) {
    return signalOutcome(identity, signal, calls.pidfdSendSignal(identity.pidfd, constants.signals[signal]));
  }
  if (!isSameProcess(identity)) return 'gone';
  try {
    process.kill(identity.pid, signal);
    return 'sent';
  } catch (error) {
    if (isGoneError(error)) return 'gone';
    if (errnoCode(error) === 'EPERM') throw notPermittedToSignal([identity.pid], error);
    throw signalFailed(identity.pid, signal, (error as Error).message, error);
  }
}

/** What pidfd_send_signal's result `rc` (0 or -errno) means: sent, gone, or an error thrown. */
export function signalOutcome(identity: ProcessIdentity, signal: SignalName, rc: number): SignalOutcome {
  if (rc === 0) return 'sent';
  if (rc === -ESRCH) return 'gone';
  if (rc === -EPERM) throw notPermittedToSignal([identity.pid]);
  throw signalFailed(identity.pid, signal, `pidfd_send_signal failed with errno ${-rc}`);
}

/**
 * sendSignal through each process's pidfd, all in one call to the native core (every process
 * must have a pidfd). Every process is tried; returns the ones signalled and the first error.
 */
export function sendSignalInBulk<T extends ProcessIdentity>(
  identities: readonly T[],
  signal: SignalName,
  core: NativeCore,
): { sent: T[]; firstError: unknown } {
  const results = core.signalPidfds(
    identities.map((identity) => identity.pidfd as number),
    constants.signals[signal],
  );
  const sent: T[] = [];
  let firstError: unknown;
  identities.forEach((identity, i) => {
    try {
      if (signalOutcome(identity, signal, results[i] as number) === 'sent') sent.push(identity);
    } catch (error) {
      firstError ??= error;
    }
  });
  return { sent, firstError };
}

/** kill(pid, 0): may we signal it? Returns the pids we may not (many at once through the native core). */
export function findUnsignallable(pids: Iterable<number>, core: NativeCore | null = null): number[] {
  const all = [...pids];
  if (core && all.length >= core.minBatch) {
    const results = core.killMany(all, 0);
    return all.filter((_, i) => results[i] === -EPERM);
  }
  const denied: number[] = [];
  for (const pid of all) {
    try {
      process.kill(pid, 0);
    } catch (error) {
      if (errnoCode(error) === 'EPERM') denied.push(pid);
    }
  }
  return denied;
}
