/** The handle a successful freeze returns: what was frozen, and the one way to thaw it. */
import { FreezeError, thawFailed } from '../base/errors.js';
import type { LongTimer } from '../base/timers.js';
import type { Platform } from '../kernel/platform.js';
import type { IdentityMethod } from '../tree/identity.js';
import type { ProcessInfo } from '../tree/process.js';
import { type ProcessRecord, processRecord } from '../tree/process.js';
import type { Watchdog } from '../watchdog/channel.js';
import { keepWatchdog, type WatchdogEvent, type WatchdogKeeper } from '../watchdog/keeper.js';
import { startLeaseTimer } from '../watchdog/lease.js';
import { BreachLog, type BreachPolicy, type HoldBreach, type HoldCheck, type HoldEvent } from './breach.js';

export type FreezeBackend = 'signal' | 'cgroup-v2' | 'cgroup-v1';
export type { BreachPolicy, HoldBreach, HoldEvent, IdentityMethod, ProcessInfo, WatchdogEvent };

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
   * Every time the hold was found broken (a frozen process ran again, the cgroup was
   * thawed), in order; each entry is updated in place until its episode ends.
   */
  readonly breaches: readonly HoldBreach[];
  /** Whether the tree stayed frozen from the freeze to the thaw (no breach was found). */
  readonly intact: boolean;
  /**
   * Ancestors outside the tree that the thaw continued: they were running before the
   * freeze and had stopped themselves because their child stopped (su, sudo do).
   * Empty until the thaw, and always for the cgroup backends.
   */
  readonly resumedAncestors: readonly ProcessInfo[];
  /** Resumes exactly what the freeze stopped. Idempotent; rejects with THAW_FAILED if it could not. */
  thaw(): Promise<void>;
  /**
   * Settles once the tree is thawed: by thaw()/dispose ('caller') or because maxHoldMs ran
   * out ('lease'). Rejects with THAW_FAILED when that thaw failed, and with WATCHDOG_FAILED
   * when the hold ended because its watchdog died and could not be replaced.
   */
  readonly thawed: Promise<ThawReason>;
}

export type ThawReason = 'caller' | 'lease';

/** How a hold is verified: the caller's options, checked. @internal */
export interface HoldSettings {
  policy: BreachPolicy;
  intervalMs: number;
  onEvent: (event: HoldEvent) => void;
}

/** @internal */
export interface HoldCheckContext {
  log: BreachLog;
  /** The watchdog in charge now (the keeper may have replaced the first). */
  watchdog: () => Watchdog | undefined;
}

/** @internal */
export interface FrozenTreeParts {
  backend: FreezeBackend;
  identity: IdentityMethod;
  processes: readonly ProcessRecord[];
  /** performance.now() when the caller called: durationMs runs until the handle is ready. */
  started: number;
  rounds: number;
  exited: number;
  /** The lease: thaw by itself after this many ms. */
  maxHoldMs?: number | undefined;
  /**
   * Resumes what was stopped, synchronously; called at most once; throws if it could not.
   * Returns the ancestors outside the tree it continued.
   */
  resume: () => ProcessInfo[];
  hold: HoldSettings;
  /** Starts verifying the hold (see breach.ts). */
  startHoldCheck?: ((context: HoldCheckContext) => HoldCheck) | undefined;
  /** The hold's watchdog, kept running (or replaced) until the thaw, then dismissed. */
  watchdog?: Watchdog | undefined;
  /** Tells a replacement watchdog what to resume or write. */
  brief?: ((watchdog: Watchdog) => void) | undefined;
  platform?: Platform | undefined;
}

/** @internal */
export class FrozenTreeHandle implements FrozenTree {
  readonly backend: FreezeBackend;
  readonly identity: IdentityMethod;
  readonly processes: readonly FrozenProcess[];
  readonly durationMs: number;
  readonly rounds: number;
  readonly exited: number;
  readonly thawed: Promise<ThawReason>;
  readonly watchdogEvents: WatchdogEvent[] = [];
  #resumedAncestors: readonly ProcessInfo[] = [];
  readonly #log: BreachLog;
  readonly #check: HoldCheck | undefined;
  #resume: () => ProcessInfo[];
  #keeper: WatchdogKeeper | undefined;
  #watchdog: Watchdog | undefined;
  #lease: LongTimer | undefined;
  /** Set by the first thaw: undefined while frozen, null when it succeeded, else its error. */
  #outcome: FreezeError | null | undefined;
  #settle!: (reason: ThawReason) => void;
  #fail!: (error: FreezeError) => void;

  constructor(parts: FrozenTreeParts) {
    this.backend = parts.backend;
    this.identity = parts.identity;
    this.processes = Object.freeze(
      parts.processes.map((record) => Object.freeze(processRecord(record, record))),
    );
    this.rounds = parts.rounds;
    this.exited = parts.exited;
    this.#resume = parts.resume;
    this.thawed = new Promise((resolve, reject) => {
      this.#settle = resolve;
      this.#fail = reject;
    });
    // A failed thaw nobody awaits must not crash the caller as an unhandled rejection.
    this.thawed.catch(() => {});
    if (parts.maxHoldMs !== undefined) {
      this.#lease = startLeaseTimer(parts.maxHoldMs, () => void this.#thawNow('lease'));
    }
    this.#watchdog = parts.watchdog;
    const emit = parts.hold.onEvent;
    this.#log = new BreachLog(emit);
    if (parts.watchdog && parts.brief && parts.platform) {
      this.#keeper = keepWatchdog({
        watchdog: parts.watchdog,
        platform: parts.platform,
        brief: parts.brief,
        leaseEndsAt: parts.maxHoldMs === undefined ? undefined : performance.now() + parts.maxHoldMs,
        onEvent: (event) => {
          this.watchdogEvents.push(event);
          emit({ type: 'watchdog', watchdog: event });
        },
        onLost: (error) => void this.#thawNow('caller', error),
      });
    }
    this.#check = parts.startHoldCheck?.({
      log: this.#log,
      watchdog: () => this.#keeper?.current ?? this.#watchdog,
    });
    // Last: the handle, its keeper and its check included, is ready now.
    this.durationMs = performance.now() - parts.started;
  }

  get frozen(): boolean {
    return this.#outcome === undefined;
  }

  get breaches(): readonly HoldBreach[] {
    return this.#log.breaches;
  }

  get intact(): boolean {
    return this.#log.intact;
  }

  get resumedAncestors(): readonly ProcessInfo[] {
    return this.#resumedAncestors;
  }

  thaw(): Promise<void> {
    const error = this.#thawNow('caller');
    return error ? Promise.reject(error) : Promise.resolve();
  }

  /**
   * Thaws once, synchronously, and records why; returns the thaw's error, if any.
   * `ended`: the hold ended for that reason (its watchdog was lost), even if the thaw succeeded.
   */
  #thawNow(reason: ThawReason, ended?: FreezeError): FreezeError | undefined {
    if (this.#outcome === undefined) {
      this.#lease?.clear();
      this.#check?.stop(); // its last look, before anything is resumed
      this.#keeper?.stop();
      const watchdog = this.#keeper?.current ?? this.#watchdog;
      try {
        this.#resumedAncestors = Object.freeze(this.#resume());
        this.#outcome = ended ?? null;
      } catch (error) {
        // A backend's own THAW_FAILED already names what is left stopped: keep it, unwrapped.
        const pids = this.processes.map((p) => p.pid);
        this.#outcome =
          error instanceof FreezeError && error.code === 'THAW_FAILED'
            ? error
            : thawFailed('the frozen tree', pids, error);
      } finally {
        watchdog?.dismiss();
      }
      if (this.#outcome) this.#fail(this.#outcome);
      else this.#settle(reason);
    }
    return this.#outcome ?? undefined;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.thaw();
  }

  /** Synchronous dispose: every backend resumes synchronously, so `using` thaws at once, and throws if it failed. */
  [Symbol.dispose](): void {
    const error = this.#thawNow('caller');
    if (error) throw error;
  }
}
