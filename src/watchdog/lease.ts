/**
 * Protecting a freeze, the same way for every backend: the watchdog must really run
 * before a freeze resolves, and a lease (maxHoldMs) is kept twice — by the watchdog,
 * which thaws even if this process hangs, and by a timer here, which thaws through the
 * handle so that the caller learns of it.
 */
import { watchdogFailed } from '../base/errors.js';
import { type LongTimer, setLongTimeout } from '../base/timers.js';
import type { Watchdog } from './channel.js';

/**
 * The last step of a successful freeze: waits until the watchdog's exec has succeeded
 * (usually long done), fails with WATCHDOG_FAILED if it could not run, then starts its lease.
 */
export async function sealProtection(
  watchdog: Watchdog | undefined,
  leaseMs: number | undefined,
): Promise<void> {
  if (!watchdog) return;
  await watchdog.confirmRunning();
  if (watchdog.failure) throw watchdog.failure;
  const state = watchdog.state();
  // Stopped by someone during the freeze: continue it (from now on, the keeper does).
  if (state === 'stopped') watchdog.sendContinue();
  if (state === 'dead') throw watchdogFailed(`the watchdog (pid ${watchdog.pid}) died during the freeze`);
  if (leaseMs !== undefined) watchdog.startLease(leaseMs);
}

/** The in-process side of the lease; does not keep the process alive. */
export function startLeaseTimer(leaseMs: number, expire: () => void): LongTimer {
  return setLongTimeout(expire, leaseMs, true);
}
