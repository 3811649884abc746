/** Getting ready before the first freeze, so that it does not pay for the start. */

import { checkDuration, DEFAULT_TIMEOUT_MS, type InternalFreezeOptions, knobsOf } from './hold/plan.js';
import { defaultPlatform } from './kernel/platform.js';
import { warmUpWatchdog } from './watchdog/shared.js';

export interface WarmUpOptions {
  /** How long the watchdog may take to start, in ms (default: DEFAULT_TIMEOUT_MS). */
  timeoutMs?: number;
}

/**
 * Starts this process's watchdog and loads the native calls now. The watchdog then serves
 * every later freeze (idle in between, gone when this process exits): the first freeze
 * saves a process start, 2-4 ms. Optional; rejects with WATCHDOG_FAILED if it cannot start.
 */
export async function warmUp(options: WarmUpOptions = {}): Promise<void> {
  const timeoutMs = checkDuration('timeoutMs', options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  // Tests may pass another platform, under the internal knobs' key.
  const platform = knobsOf(options as InternalFreezeOptions).platform ?? defaultPlatform;
  await warmUpWatchdog(platform, timeoutMs);
}
