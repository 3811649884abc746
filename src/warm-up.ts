/** Getting ready before the first freeze, so that it does not pay for the start. */
import { invalidArgument } from './base/errors.js';
import { DEFAULT_TIMEOUT_MS } from './hold/plan.js';
import { defaultPlatform, type Platform } from './kernel/platform.js';
import { warmUpWatchdog } from './watchdog/shared.js';

export interface WarmUpOptions {
  /** How long the watchdog may take to start, in ms (default: DEFAULT_TIMEOUT_MS). */
  timeoutMs?: number;
  /** @internal */
  platform?: Platform;
}

/**
 * Starts this process's watchdog and loads the native calls now. The watchdog then serves
 * every later freeze (idle in between, gone when this process exits): the first freeze
 * saves a process start, 2-4 ms. Optional; rejects with WATCHDOG_FAILED if it cannot start.
 */
export async function warmUp(options: WarmUpOptions = {}): Promise<void> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw invalidArgument(`timeoutMs must be a positive number of milliseconds, not ${timeoutMs}`);
  }
  await warmUpWatchdog(options.platform ?? defaultPlatform, timeoutMs);
}
