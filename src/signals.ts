/**
 * Sending a signal to exactly the process that was discovered.
 * The (pid, start time) check right before kill() guards against signalling a
 * recycled pid; the window between the check and the kill is the residual risk.
 */
import { FreezeError, isGoneError } from './errors.js';
import { readProcessStat } from './procfs.js';

export interface ProcessIdentity {
  pid: number;
  startTime: number;
}

export type SignalOutcome = 'sent' | 'gone';

/** Whether `identity` still names a live (or zombie) process. */
export function isSameProcess(identity: ProcessIdentity): boolean {
  const stat = readProcessStat(identity.pid);
  return stat !== null && stat.startTime === identity.startTime;
}

export function sendSignal(identity: ProcessIdentity, signal: 'SIGSTOP' | 'SIGCONT'): SignalOutcome {
  if (!isSameProcess(identity)) return 'gone';
  try {
    process.kill(identity.pid, signal);
    return 'sent';
  } catch (error) {
    if (isGoneError(error)) return 'gone';
    if ((error as NodeJS.ErrnoException).code === 'EPERM') {
      throw new FreezeError(
        'NOT_PERMITTED',
        `not permitted to signal process ${identity.pid} (it belongs to another user; run as its owner or as root)`,
        [identity.pid],
        { cause: error },
      );
    }
    throw error;
  }
}

/** kill(pid, 0): may we signal it? Returns the pids we may not. */
export function findUnsignallable(pids: Iterable<number>): number[] {
  const denied: number[] = [];
  for (const pid of pids) {
    try {
      process.kill(pid, 0);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EPERM') denied.push(pid);
    }
  }
  return denied;
}
