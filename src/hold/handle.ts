/**
 * The handle of a hold: it keeps the watchdog (replacing one that dies), runs the lease
 * timer and the backend's hold check, and thaws exactly once, by the caller, the lease, or a
 * watchdog lost for good.
 */
import { BreachLog, type HoldBreach, type HoldCheck } from '../backends/breach.js';
import type { BackendFreeze, FreezeBackend, SafetyNet, Stopped } from '../backends/contract.js';
import { FreezeError, thawFailed } from '../base/errors.js';
import type { LongTimer } from '../base/timers.js';
import type { IdentityMethod } from '../tree/identity.js';
import { type ProcessInfo, processRecord } from '../tree/process.js';
import { keepWatchdog, type WatchdogEvent, type WatchdogKeeper } from '../watchdog/keeper.js';
import { startLeaseTimer } from '../watchdog/lease.js';
import type { TwinWatchdogs } from '../watchdog/twins.js';
import type { JoinedHolds } from './claim-query.js';
import type { HoldClaim } from './claims.js';
import { spanCovered } from './coverage.js';
import type { FrozenProcess, FrozenTree, ThawReason } from './frozen-tree.js';
import type { HoldPlan } from './plan.js';

/** What a hold is made of. @internal */
export interface HoldParts {
  plan: Pick<HoldPlan, 'started' | 'maxHoldMs' | 'check' | 'platform'>;
  backend: BackendFreeze;
  stopped: Stopped;
  /** Date.now() when the backend confirmed every task stopped. */
  stoppedAt: number;
  /** The hold's twin watchdogs, kept running (or replaced) until the thaw, then dismissed. */
  watchdog: TwinWatchdogs | undefined;
  /** What tells other freezers this hold holds its processes; closed at the thaw. */
  claim: HoldClaim;
  /** The other holds this one joined; released at the thaw. */
  joined: JoinedHolds;
  /** The safety net the backend's hold check tells what it adopts: the watchdogs and the claim. */
  net: SafetyNet;
}

/** @internal */
export class FrozenTreeHandle implements FrozenTree {
  readonly backend: FreezeBackend;
  readonly identity: IdentityMethod;
  readonly processes: readonly FrozenProcess[];
  readonly durationMs: number;
  readonly rounds: number;
  readonly exited: number;
  readonly frozenAt: number;
  #endedAt: number | null = null;
  readonly #thawed: Promise<ThawReason>;
  /** A referenced timer while someone waits on `thawed`: it keeps the process alive until the hold ends. */
  #keepAlive: NodeJS.Timeout | undefined;
  readonly watchdogEvents: WatchdogEvent[] = [];
  #resumedAncestors: readonly ProcessInfo[] = [];
  readonly #log: BreachLog;
  readonly #check: HoldCheck;
  readonly #backend: BackendFreeze;
  #keeper: WatchdogKeeper | undefined;
  #watchdog: TwinWatchdogs | undefined;
  readonly #claim: HoldClaim;
  readonly #joined: JoinedHolds;
  #lease: LongTimer | undefined;
  /** Set by the first thaw: undefined while frozen, null when it succeeded, else its error. */
  #outcome: FreezeError | null | undefined;
  #settle!: (reason: ThawReason) => void;
  #fail!: (error: FreezeError) => void;

  constructor(parts: HoldParts) {
    const { plan, stopped } = parts;
    this.backend = stopped.backend;
    this.identity = stopped.identity;
    this.processes = Object.freeze(
      stopped.processes.map((record) => Object.freeze(processRecord(record, record))),
    );
    this.rounds = stopped.rounds;
    this.exited = stopped.exited;
    this.#backend = parts.backend;
    this.#thawed = new Promise((resolve, reject) => {
      this.#settle = resolve;
      this.#fail = reject;
    });
    // A failed thaw nobody awaits must not crash the caller as an unhandled rejection.
    this.#thawed.catch(() => {});
    if (plan.maxHoldMs !== undefined) {
      this.#lease = startLeaseTimer(plan.maxHoldMs, () => void this.#thawNow('lease'));
    }
    this.#watchdog = parts.watchdog;
    this.#claim = parts.claim;
    this.#joined = parts.joined;
    this.#log = new BreachLog(plan.check.onEvent);
    this.#keeper = parts.watchdog && this.#keep(parts.watchdog, plan);
    this.#check = parts.backend.startHoldCheck(
      this.#log,
      () => parts.net,
      () => void this.#thawNow('exited'),
    );
    // Last: the handle, its keeper and its check included, is ready now.
    this.durationMs = performance.now() - plan.started;
    this.frozenAt = parts.stoppedAt;
  }

  /**
   * The hold's timers are unreferenced, so that a forgotten hold never keeps a program
   * running: the lease and the watchdogs end it. Whoever reads `thawed` means to wait for it,
   * so a referenced timer keeps the process alive until the hold ends (settled clears it).
   */
  get thawed(): Promise<ThawReason> {
    if (this.#outcome === undefined && !this.#keepAlive) {
      this.#keepAlive = setInterval(() => {}, 2 ** 31 - 1);
    }
    return this.#thawed;
  }

  get endedAt(): number | null {
    return this.#endedAt;
  }

  covered(since: number, until = Date.now()): boolean {
    return spanCovered(this, since, until);
  }

  /** Keeps the watchdogs running: continued if stopped, replaced and briefed if one dies. */
  #keep(watchdogs: TwinWatchdogs, plan: HoldParts['plan']): WatchdogKeeper {
    return keepWatchdog({
      watchdogs,
      platform: plan.platform,
      brief: (fresh) => this.#backend.brief(fresh),
      leaseEndsAt: plan.maxHoldMs === undefined ? undefined : performance.now() + plan.maxHoldMs,
      onEvent: (event) => {
        this.watchdogEvents.push(event);
        plan.check.onEvent({ type: 'watchdog', watchdog: event });
      },
      onLost: (error) => void this.#thawNow('caller', error),
    });
  }

  get frozen(): boolean {
    return this.#outcome === undefined;
  }

  get watchdogOutsideCgroup(): boolean {
    return this.#watchdog?.outsideCgroup ?? false;
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
      this.#check.stop(); // its last look, before anything is resumed
      this.#keeper?.stop();
      const watchdog = this.#watchdog;
      try {
        // Processes another hold joined and still holds: the last hold to end resumes them.
        this.#backend.handOver(this.#claim.sharedNow());
        this.#resumedAncestors = Object.freeze(this.#backend.resume());
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
        this.#claim.close();
        this.#joined.release();
        this.#endedAt = Date.now();
        clearInterval(this.#keepAlive);
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
