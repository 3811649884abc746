/**
 * Timers for any duration. Node's setTimeout fires after 1 ms for a delay of 2^31 ms
 * (24.8 days) or more, so a long deadline or lease is chained from shorter timers.
 */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface LongTimer {
  clear(): void;
}

/** Calls `callback` once `ms` have passed. `unref`: the timer alone does not keep the process alive. */
export function setLongTimeout(callback: () => void, ms: number, unref = false): LongTimer {
  const until = performance.now() + Math.max(0, ms);
  let timer: NodeJS.Timeout;
  const arm = () => {
    const left = until - performance.now();
    if (left <= 0) {
      callback();
      return;
    }
    timer = setTimeout(arm, Math.min(left, MAX_TIMER_MS));
    if (unref) timer.unref();
  };
  timer = setTimeout(arm, Math.min(Math.max(0, ms), MAX_TIMER_MS));
  if (unref) timer.unref();
  return { clear: () => clearTimeout(timer) };
}
