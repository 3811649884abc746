/**
 * Raising this process's priority for the duration of a freeze, when permitted: a
 * CPU-bound tree in the freezer's own session (same autogroup) would otherwise get nearly
 * all the CPU while the freezer tries to stop it. Every thread is raised, not only the
 * freezing one: libuv's pool runs the watchdog's posix_spawn, and V8's compiler and GC
 * threads starve otherwise, leaving the main thread in unoptimised code for seconds
 * (docs/performance.md).
 */
import { readdirSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

const FREEZING_NICE = -20;

/** Raises every thread of this process; returns a function that restores each one's priority. */
export function raisePriority(): () => void {
  const raised: [tid: number, original: number][] = [];
  let tids: number[];
  try {
    tids = readdirSync('/proc/self/task').map(Number);
  } catch {
    tids = [0]; // 0: the calling thread
  }
  for (const tid of tids) {
    try {
      const original = getPriority(tid === process.pid ? 0 : tid); // nice values are per thread on Linux
      if (original <= FREEZING_NICE) continue;
      setPriority(tid === process.pid ? 0 : tid, FREEZING_NICE);
      raised.push([tid, original]);
    } catch {
      if (tid === process.pid || tid === 0) return () => {}; // not permitted (no CAP_SYS_NICE)
      // a thread that exited meanwhile
    }
  }
  return () => {
    for (const [tid, original] of raised) {
      try {
        setPriority(tid === process.pid ? 0 : tid, original);
      } catch {
        // exited meanwhile; lowering priority is always permitted otherwise
      }
    }
  };
}
