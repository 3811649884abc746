/**
 * What a rescan may take as known: the processes a freeze tracks, confirmed stopped, need not
 * be read again while none of them can have changed (see SignalFreezer's #discover).
 */
import type { Native } from '../../kernel/native.js';
import type { KnownProcess } from '../../tree/discovery.js';
import type { TrackedProcess } from './wait.js';

/**
 * The tracked processes as discovery would read them, if every process ever tracked has a
 * pidfd (so that noneExited can prove them alive), none was lost before it could be bound,
 * and none is traced (a tracer may resume a task in ptrace stop whenever it likes).
 */
export function knownForRescan(
  tracked: ReadonlyMap<number, TrackedProcess>,
  everTracked: readonly TrackedProcess[],
  calls: Native | null,
  lostBeforeBind: boolean,
): Map<number, KnownProcess> | undefined {
  if (calls === null || tracked.size === 0 || lostBeforeBind) return undefined;
  if (!everTracked.every((process) => process.pidfd !== undefined)) return undefined;
  if ([...tracked.values()].some((process) => process.traced)) return undefined;
  const known = new Map<number, KnownProcess>();
  for (const { pid, ppid, comm, startTime, threads } of tracked.values())
    known.set(pid, { pid, ppid, comm, startTime, numThreads: threads, state: 'T' });
  return known;
}

/**
 * Whether every process a freeze ever tracked is still alive: a pidfd is readable once its
 * process has exited. An exit anywhere may have moved children to another parent.
 */
export function noneExited(everTracked: readonly TrackedProcess[], calls: Native | null): boolean {
  const pidfds = everTracked.map((process) => process.pidfd as number);
  return calls?.countExited(pidfds) === 0;
}
