/**
 * The freezer guards its watchdog as the watchdog guards the freezer. While a tree is
 * held, the watchdog (a child of this process) is checked whenever a child of this
 * process changes state (SIGCHLD: it was stopped, continued or killed) and at least every
 * CHECK_MS: a stopped watchdog is continued; a dead one is replaced by a new watchdog
 * that is told everything the old one knew, lease included. Each of these is recorded.
 * If protection cannot be restored, `onLost` is called: the holder then thaws the tree
 * and ends the hold as WATCHDOG_FAILED.
 */
import { FreezeError, watchdogFailed } from '../base/errors.js';
import { onTick, TICK_MS } from '../base/timers.js';
import type { Platform } from '../kernel/platform.js';
import type { Watchdog } from './channel.js';
import { acquireWatchdog } from './shared.js';

/** Something that happened to a hold's watchdog, and what treefreeze did about it. */
export interface WatchdogEvent {
  /** Date.now() when it was noticed. */
  readonly at: number;
  /** The watchdog it happened to. */
  readonly pid: number;
  /** 'continued': it had been stopped; 'replaced': it had died; 'lost': it could not be replaced. */
  readonly event: 'continued' | 'replaced' | 'lost';
  /** The new watchdog's pid, for 'replaced'. */
  readonly replacement?: number;
}

export interface WatchdogKeeper {
  /** The watchdog in charge now (a replacement after the first one died). */
  readonly current: Watchdog;
  /** Stops checking (the hold is over). */
  stop(): void;
}

/** The bound on how late a stopped or killed watchdog is noticed when SIGCHLD says nothing. */
const CHECK_MS = TICK_MS;
/** How long a replacement may take to start. */
const REPLACE_TIMEOUT_MS = 5000;

/** One SIGCHLD listener for all the holds of this process (one per hold would trip Node's listener limit). */
const checks = new Set<() => void>();
const onChildSignal = () => {
  for (const check of checks) check();
};

function watchChildren(check: () => void): () => void {
  if (checks.size === 0) process.on('SIGCHLD', onChildSignal);
  checks.add(check);
  return () => {
    checks.delete(check);
    if (checks.size === 0) process.off('SIGCHLD', onChildSignal);
  };
}

/** @internal */
export interface KeeperOptions {
  watchdog: Watchdog;
  platform: Platform;
  /** Tells a replacement everything the first watchdog was told (what to resume or write). */
  brief: (watchdog: Watchdog) => void;
  /** When the lease ends (a performance.now() time), so a replacement keeps the same lease. */
  leaseEndsAt: number | undefined;
  onEvent: (event: WatchdogEvent) => void;
  onLost: (error: FreezeError) => void;
}

/** @internal */
export function keepWatchdog(options: KeeperOptions): WatchdogKeeper {
  let current = options.watchdog;
  let stopped = false;
  let busy = false;

  const replace = async (dead: Watchdog): Promise<void> => {
    dead.dismiss(); // ends its orphaned lease timer, closes its channel, reaps it
    const fresh = await acquireWatchdog(options.platform, performance.now() + REPLACE_TIMEOUT_MS);
    try {
      options.brief(fresh);
      if (options.leaseEndsAt !== undefined) {
        fresh.startLease(Math.max(1, options.leaseEndsAt - performance.now()));
      }
      await fresh.confirmRunning();
      if (fresh.failure) throw fresh.failure;
    } catch (error) {
      fresh.dismiss();
      throw error;
    }
    if (stopped) {
      fresh.dismiss(); // the hold ended meanwhile
      return;
    }
    current = fresh;
    options.onEvent({ at: Date.now(), pid: dead.pid, event: 'replaced', replacement: fresh.pid });
  };

  const check = () => {
    if (stopped || busy) return;
    const state = current.state();
    // The watchdog serves every freeze of this process: whichever keeper finds it stopped
    // continues it, and every freeze it guards records the stop.
    if (state === 'stopped') current.sendContinue();
    for (let stops = current.takeContinues(); stops > 0; stops--) {
      options.onEvent({ at: Date.now(), pid: current.pid, event: 'continued' });
    }
    if (state === 'dead') {
      // Past the lease's end the caller's own timer thaws the tree now (this check runs on the
      // same event loop, so the caller is not hung): a replacement would only be dismissed.
      if (options.leaseEndsAt !== undefined && performance.now() >= options.leaseEndsAt) return;
      busy = true;
      const dead = current;
      replace(dead)
        .catch((error: unknown) => {
          if (stopped) return;
          options.onEvent({ at: Date.now(), pid: dead.pid, event: 'lost' });
          const reason = error instanceof FreezeError ? error.message : String(error);
          options.onLost(
            watchdogFailed(
              `the watchdog (pid ${dead.pid}) died and could not be replaced (${reason})`,
              error,
            ),
          );
        })
        .finally(() => {
          busy = false;
        });
    }
  };

  const unwatch = watchChildren(check);
  const untick = onTick(CHECK_MS, check);
  return {
    get current() {
      return current;
    },
    stop() {
      stopped = true;
      unwatch();
      untick();
    },
  };
}
