/** The one record of a process that every part of treefreeze passes around, and where it comes from. */
import type { ProcStat } from '../kernel/stat.js';

/** What identifies and describes a process, as one stat record shows it. */
export interface ProcessInfo {
  pid: number;
  ppid: number;
  comm: string;
  /** Clock ticks after boot: with the pid, identifies the process. */
  startTime: number;
  threads: number;
}

/** A process a freeze holds: what it is, and what it was before the freeze. */
export interface ProcessRecord extends ProcessInfo {
  /** Stopped before the freeze: thaw leaves it stopped. */
  wasStopped: boolean;
  /** A task was in ptrace stop: its tracer, not treefreeze, decides when it runs. */
  traced: boolean;
}

/** The only place a stat record becomes a process record. */
export function processInfo(
  stat: Pick<ProcStat, 'pid' | 'ppid' | 'comm' | 'startTime' | 'numThreads'>,
): ProcessInfo {
  return {
    pid: stat.pid,
    ppid: stat.ppid,
    comm: stat.comm,
    startTime: stat.startTime,
    threads: stat.numThreads,
  };
}

/** A record from what is known of a process (a stat, a discovered node) and its state before the freeze. */
export function processRecord(
  info: ProcessInfo,
  before: { wasStopped: boolean; traced: boolean },
): ProcessRecord {
  return {
    pid: info.pid,
    ppid: info.ppid,
    comm: info.comm,
    startTime: info.startTime,
    threads: info.threads,
    wasStopped: before.wasStopped,
    traced: before.traced,
  };
}
