/** What a successful freeze returns: what was frozen, how the hold went, and the one way to thaw it. */
import type { BreachEvent, BreachPolicy, HoldBreach } from '../backends/breach.js';
import type { FreezeBackend } from '../backends/contract.js';
import type { IdentityMethod } from '../tree/identity.js';
import type { ProcessInfo, ProcessRecord } from '../tree/process.js';
import type { WatchdogEvent } from '../watchdog/keeper.js';

export type { BreachPolicy, FreezeBackend, HoldBreach, IdentityMethod, ProcessInfo, WatchdogEvent };

/** Something that happened while a tree was held, as it happens. */
export type HoldEvent = BreachEvent | { readonly type: 'watchdog'; readonly watchdog: WatchdogEvent };

/** One process of a frozen tree, as it was when the freeze confirmed it stopped. */
export type FrozenProcess = Readonly<ProcessRecord>;

export interface FrozenTree extends Disposable, AsyncDisposable {
  readonly backend: FreezeBackend;
  readonly identity: IdentityMethod;
  readonly processes: readonly FrozenProcess[];
  /** Milliseconds from the call to every task confirmed stopped. */
  readonly durationMs: number;
  /** Discovery rounds the freeze needed (1 + rescans that found newcomers). */
  readonly rounds: number;
  /** Processes that exited while being frozen: dropped from `processes`, not errors. */
  readonly exited: number;
  /** Whether the tree is still frozen (false once thawed, or once a thaw was attempted). */
  readonly frozen: boolean;
  /**
   * What happened to the watchdog while the tree was held: stopped and continued, died and
   * replaced, or lost (then the tree was thawed and `thawed` rejects with WATCHDOG_FAILED).
   */
  readonly watchdogEvents: readonly WatchdogEvent[];
  /**
   * Whether the hold's watchdogs live outside the caller's cgroups (root, with cgroups
   * mounted): killing or freezing the caller's cgroup (systemd stopping its unit, an OOM group
   * kill) then leaves the safety net guarding. false without a watchdog, or where the system
   * does not allow the move (not root).
   */
  readonly watchdogOutsideCgroup: boolean;
  /**
   * Every time the hold was found broken (a frozen process ran again, the cgroup was
   * thawed), in order; each entry is updated in place until its episode ends.
   */
  readonly breaches: readonly HoldBreach[];
  /** Whether the tree stayed frozen from the freeze to the thaw (no breach was found). */
  readonly intact: boolean;
  /** Date.now() when every task was confirmed stopped: the hold covers work from here on. */
  readonly frozenAt: number;
  /** Date.now() when the hold ended (thawed for any reason, or failed); null while it lasts. */
  readonly endedAt: number | null;
  /**
   * Whether work done from `since` to `until` (Date.now() values; `until` defaults to now) ran
   * entirely under this hold with its tree stopped: the hold had begun by `since`, had not
   * ended by `until`, and no breach overlaps the span. Ask before the thaw, or give `until`.
   */
  covered(since: number, until?: number): boolean;
  /**
   * Ancestors outside the tree that the thaw continued: they were running before the
   * freeze and had stopped themselves because their child stopped (su, sudo do).
   * Empty until the thaw, and always for the cgroup backends.
   */
  readonly resumedAncestors: readonly ProcessInfo[];
  /** Resumes exactly what the freeze stopped. Idempotent; rejects with THAW_FAILED if it could not. */
  thaw(): Promise<void>;
  /**
   * Settles once the tree is thawed: by thaw()/dispose ('caller'), because maxHoldMs ran
   * out ('lease'), or because every process of the tree exited ('exited': nothing was left to
   * hold; a cgroup is left empty or removed). Rejects with THAW_FAILED when that thaw failed, and with WATCHDOG_FAILED
   * when the hold ended because its watchdog died and could not be replaced.
   * Reading it keeps the process alive until the hold ends, so that `await frozen.thawed`
   * in a script with nothing else to do waits for the thaw instead of exiting.
   */
  readonly thawed: Promise<ThawReason>;
}

/** Why a hold ended: thawed by its caller, its lease ran out, or every process of it exited. */
export type ThawReason = 'caller' | 'lease' | 'exited';
