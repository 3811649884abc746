/**
 * The watchdogs of this process: two (twins.ts) serve every freeze. Starting one costs a process start
 * (2-4 ms, most of a small freeze), so it is started at the first freeze (or by warmUp),
 * kept idle between freezes, and reused. Idle it sleeps in a read of its control pipe:
 * no timer, no CPU. It ends when this process ends (its control pipe reads EOF, and no
 * freeze is left to resume). A watchdog that died or stopped listening is replaced at the
 * next freeze; freezes it was guarding are handed to the replacement by their keepers.
 *
 * Kept per place (a hold has two twins, see twins.ts) and per platform variant (shell and
 * spawn method), so that a test's variant never borrows the default one.
 */
import type { Platform } from '../kernel/platform.js';
import type { Watchdog, WatchdogProcess } from './channel.js';
import { beforeDeadline, startWatchdog } from './spawn.js';

interface Slot {
  process?: WatchdogProcess | undefined;
  starting?: Promise<WatchdogProcess> | undefined;
}

/** How many watchdogs guard a hold (see twins.ts). */
export const WATCHDOG_TWINS = 2;

const slots = new Map<string, Slot>();
/** Freeze ids: never reused within this process, so a late line can never name a later freeze. */
let lastId = 0;

const slotKey = (platform: Platform, place: number) =>
  `${platform.native() ? 'spawn' : 'child_process'} ${platform.watchdogShell} #${place}`;

/**
 * @internal
 * A watchdog for one freeze: the shared one, started if there is none (or it died).
 * Resolves once its process exists, never later than `deadline`. `exactPid`: wait for its
 * exec, so the pid is exact (needed when the watchdog could be inside the tree being
 * frozen: our own descendants). `place`: which of the kept watchdogs (twins.ts keeps two).
 */
export async function acquireWatchdog(
  platform: Platform,
  deadline: number,
  exactPid = false,
  place = 0,
): Promise<Watchdog> {
  const key = slotKey(platform, place);
  for (;;) {
    let slot = slots.get(key);
    if (!slot) {
      slot = {};
      slots.set(key, slot);
    }
    const current = slot.process;
    if (current) {
      if (current.usable()) {
        if (exactPid) await beforeDeadline(current.confirmRunning(), deadline);
        return current.open(++lastId);
      }
      current.close();
      slot.process = undefined;
      continue;
    }
    if (slot.starting) {
      await beforeDeadline(slot.starting, deadline);
      continue;
    }
    const starting = startWatchdog(platform, deadline, exactPid);
    slot.starting = starting;
    let started: WatchdogProcess;
    try {
      started = await starting;
    } finally {
      slot.starting = undefined;
    }
    slot.process = started;
    // One that exists but cannot run (its exec failed) is dropped as soon as that is known,
    // not kept until the next freeze.
    started.confirmRunning().catch(() => {
      if (slot.process !== started) return;
      started.close();
      slot.process = undefined;
    });
  }
}

/**
 * @internal
 * Starts this process's watchdog now, so that the first freeze does not pay for it (and
 * loads the native calls). Optional: a freeze starts it when there is none.
 */
export async function warmUpWatchdog(platform: Platform, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  const places = Array.from({ length: WATCHDOG_TWINS }, (_, place) => place);
  await Promise.all(
    places.map(async (place) => {
      const watchdog = await acquireWatchdog(platform, deadline, false, place);
      try {
        await watchdog.confirmRunning();
      } finally {
        watchdog.dismiss();
      }
    }),
  );
}

/**
 * @internal
 * Ends every idle (or broken) watchdog of this process now (a busy one is left to its
 * freezes); the next freeze starts a new one. Returns the pids it ended.
 */
export function retireIdleWatchdogs(): number[] {
  const ended: number[] = [];
  for (const slot of slots.values()) {
    const process = slot.process;
    if (process && (process.idle || !process.usable())) {
      process.close();
      slot.process = undefined;
      ended.push(process.pid);
    }
  }
  return ended;
}

/** @internal The pid of each working watchdog this process keeps now (idle or busy). */
export function keptWatchdogPids(): number[] {
  return [...slots.values()].flatMap((slot) => (slot.process?.usable() ? [slot.process.pid] : []));
}
