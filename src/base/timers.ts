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

/**
 * The period of the one timer every periodic check of a hold shares. Each wakeup of an idle
 * process costs CPU of its own (more than reading a hundred /proc files), so checks whose interval is a multiple of it ride on the same wakeup.
 */
export const TICK_MS = 50;

interface Ticker {
  every: number;
  countdown: number;
  callback: () => void;
}

const tickers = new Set<Ticker>();
let baseTimer: NodeJS.Timeout | undefined;

function runTickers(): void {
  for (const ticker of [...tickers]) {
    if (--ticker.countdown > 0) continue;
    ticker.countdown = ticker.every;
    ticker.callback();
  }
}

/**
 * Calls `callback` every `ms` (unref'd: never keeps the process alive) until the returned
 * function is called. A multiple of TICK_MS shares the one base timer; any other period
 * gets a timer of its own.
 */
export function onTick(ms: number, callback: () => void): () => void {
  const period = Math.min(Math.max(1, ms), MAX_TIMER_MS);
  if (period % TICK_MS !== 0) {
    const timer = setInterval(callback, period);
    timer.unref();
    return () => clearInterval(timer);
  }
  const ticker: Ticker = { every: period / TICK_MS, countdown: period / TICK_MS, callback };
  tickers.add(ticker);
  if (!baseTimer) {
    baseTimer = setInterval(runTickers, TICK_MS);
    baseTimer.unref();
  }
  return () => {
    tickers.delete(ticker);
    if (tickers.size === 0 && baseTimer) {
      clearInterval(baseTimer);
      baseTimer = undefined;
    }
  };
}

/**
 * `promise`, or 'late' at `deadline` (a Date.now() time; none: never late), or 'signal' when
 * `stop` aborts; whichever comes first. Leaves no timer or listener behind.
 */
export function until<T>(
  promise: Promise<T>,
  deadline: number | undefined,
  stop: AbortSignal,
): Promise<T | 'late' | 'signal'> {
  if (stop.aborted) return Promise.resolve('signal');
  let timer: LongTimer | undefined;
  let onAbort = () => {};
  return Promise.race([
    promise,
    new Promise<'late'>((resolve) => {
      if (deadline !== undefined)
        timer = setLongTimeout(() => resolve('late'), Math.max(0, deadline - Date.now()));
    }),
    new Promise<'signal'>((resolve) => {
      onAbort = () => resolve('signal');
      stop.addEventListener('abort', onAbort, { once: true });
    }),
  ]).finally(() => {
    timer?.clear();
    stop.removeEventListener('abort', onAbort);
  });
}
