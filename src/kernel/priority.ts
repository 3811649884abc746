/**
 * Raising the freezing thread's priority for the duration of a freeze, when
 * permitted: a CPU-bound tree in the freezer's own session (same autogroup) would
 * otherwise get nearly all the CPU while the freezer tries to stop it.
 */
import { getPriority, setPriority } from 'node:os';

const FREEZING_NICE = -20;

/** Raises the calling thread's priority; returns a function that restores it. */
export function raisePriority(): () => void {
  let original: number;
  try {
    original = getPriority(0);
  } catch {
    return () => {};
  }
  if (original <= FREEZING_NICE) return () => {};
  try {
    setPriority(0, FREEZING_NICE); // Linux nice values are per thread: this is the freezing thread
  } catch {
    return () => {}; // not permitted (no CAP_SYS_NICE): freeze at the normal priority
  }
  return () => {
    try {
      setPriority(0, original);
    } catch {
      // cannot happen: lowering priority is always permitted
    }
  };
}
