/**
 * The freezer guards its watchdog as the watchdog guards the freezer. While a tree is
 * held, each of its twin watchdogs (children of this process) is checked whenever a child of
 * this process changes state (SIGCHLD: it was stopped, continued or killed) and at least every
 * CHECK_MS: a stopped watchdog is continued; a dead one is replaced by a new watchdog
 * that is told everything the old one knew, lease included, while its twin guards. Each of
 * these is recorded.
 * If protection cannot be restored, `onLost` is called: the holder then thaws the tree
 * and ends the hold as WATCHDOG_FAILED.
 */
import { FreezeError, watchdogFailed } from '../base/errors.js';
import { onTick, TICK_MS } from '../base/timers.js';
import type { Platform } from '../kernel/platform.js';
import type { Watchdog } from './channel.js';
import { acquireWatchdog } from './shared.js';
import type { TwinWatchdogs } from './twins.js';

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
  /** The hold's twins: a dead one is replaced in place, so the hold always dismisses the live ones. */
  watchdogs: TwinWatchdogs;
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
  const { watchdogs } = options;
  let stopped = false;
  const busy = new Set<number>();

  // The other twin guards all along, so no moment has fewer than one watchdog that knows the
  // hold. The replacement takes the dead one's place (acquireWatchdog clears away what is left
  // of its process group, its lease timers); the dead one's channel is closed once it is done.
  const replace = async (index: number, dead: Watchdog): Promise<void> => {
    let fresh: Watchdog | undefined;
    try {
      fresh = await acquireWatchdog(options.platform, performance.now() + REPLACE_TIMEOUT_MS, false, index);
      options.brief(fresh);
      if (options.leaseEndsAt !== undefined) {
        fresh.startLease(Math.max(1, options.leaseEndsAt - performance.now()));
      }
      await fresh.confirmRunning();
      if (fresh.failure) throw fresh.failure;
    } catch (error) {
      fresh?.dismiss();
      throw error;
    } finally {
      dead.dismiss(); // ends its orphaned lease timer, closes its channel, reaps it
    }
    if (stopped) {
      fresh.dismiss(); // the hold ended meanwhile
      return;
    }
    watchdogs.replace(index, fresh);
    options.onEvent({ at: Date.now(), pid: dead.pid, event: 'replaced', replacement: fresh.pid });
  };

  const checkOne = (index: number, current: Watchdog) => {
    const state = current.state();
    // A watchdog serves every freeze of this process: whichever keeper finds it stopped
    // continues it, and every freeze it guards records the stop.
    if (state === 'stopped') current.sendContinue();
    for (let stops = current.takeContinues(); stops > 0; stops--) {
      options.onEvent({ at: Date.now(), pid: current.pid, event: 'continued' });
    }
    if (state !== 'dead') return;
    // Past the lease's end the caller's own timer thaws the tree now (this check runs on the
    // same event loop, so the caller is not hung): a replacement would only be dismissed.
    if (options.leaseEndsAt !== undefined && performance.now() >= options.leaseEndsAt) return;
    busy.add(index);
    replace(index, current)
      .catch((error: unknown) => {
        if (stopped) return;
        options.onEvent({ at: Date.now(), pid: current.pid, event: 'lost' });
        const reason = error instanceof FreezeError ? error.message : String(error);
        options.onLost(
          watchdogFailed(
            `the watchdog (pid ${current.pid}) died and could not be replaced (${reason})`,
            error,
          ),
        );
      })
      .finally(() => busy.delete(index));
  };

  const check = () => {
    if (stopped) return;
    watchdogs.members.forEach((member, index) => {
      if (!busy.has(index)) checkOne(index, member);
    });
  };

  const unwatch = watchChildren(check);
  const untick = onTick(CHECK_MS, check);
  return {
    stop() {
      stopped = true;
      unwatch();
      untick();
    },
  };
}
