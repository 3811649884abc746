/**
 * Verifying a signal-backend hold. Every `intervalMs` it looks for frozen processes that
 * ran since the last look (run-watch.ts). Then the breach is recorded and, by policy, the
 * processes are stopped again and confirmed, with a rescan for any process they forked
 * meanwhile. A stopped tree cannot fork, so the tree is rescanned only when something ran.
 * Once every process has exited (killed: SIGKILL ends a stopped process), the hold has
 * nothing left to hold and says so.
 */
import { onTick } from '../../base/timers.js';
import type { BreachLog, BreachPolicy, HoldCheck } from '../breach.js';
import type { SafetyNet } from '../contract.js';
import type { SignalFreezer } from './freezer.js';
import { RunWatch, stateOf, type Watched } from './run-watch.js';

/** @internal */
export interface SignalHoldCheckOptions {
  freezer: SignalFreezer;
  policy: BreachPolicy;
  intervalMs: number;
  /** Space looks out so that looking costs at most LOOK_BUDGET of a core (see #due). */
  spaceByCost: boolean;
  /** The share of a core looking may spend when spaced: LOOK_BUDGET unless a test says otherwise. */
  lookBudget?: number | undefined;
  /** Called after each look with what it cost (tests). */
  onLook?: ((lookMs: number) => void) | undefined;
  /** The bound on one refreeze (the freeze's own timeout). */
  timeoutMs: number;
  log: BreachLog;
  net: () => SafetyNet | undefined;
  /** Every process of the tree has exited: nothing is left to hold. */
  onExited: () => void;
}

/**
 * The share of a core the default checks may spend looking. A look reads one clock per
 * process: about 5 µs each, so 5 ms at 1,000 processes — every 100 ms that is 5 % of a core.
 * Spaced to 200 times its own cost, the look at 1,000 processes comes about once a second
 * (0.5 %), while a tree of 10 is still looked at every interval. A resume is still caught,
 * just later: a clock that moved stays moved.
 */
export const LOOK_BUDGET = 0.005;
/** However large the tree, a resume is noticed within about this long. */
export const MAX_LOOK_SPACING_MS = 2000;

const pidsOf = (entries: Iterable<Watched>) => [...entries].map((entry) => entry.process.pid);

/** @internal */
export class SignalHoldCheck implements HoldCheck {
  readonly #options: SignalHoldCheckOptions;
  readonly #watch: RunWatch;
  readonly #abort = new AbortController();
  /** The processes of the open breach, until they are all stopped again. */
  readonly #episode = new Set<Watched>();
  #stopped = false;
  #busy = false;
  /** performance.now() before which the next look would overspend LOOK_BUDGET. */
  #nextLookAt = 0;
  /** Looks so far: the first opens every clock and costs several times a later one. */
  #looks = 0;
  readonly #first: NodeJS.Immediate;
  readonly #untick: () => void;

  constructor(options: SignalHoldCheckOptions) {
    this.#options = options;
    this.#watch = new RunWatch(options.freezer.tracked.values());
    // The first check (its readings are the baselines) runs as soon as the freeze has resolved,
    // not during it (a thousand opens would lengthen it by tens of ms), so that even a resume
    // stopped again before the next check is caught; the tasks have long left the CPU by then.
    this.#first = setImmediate(() => this.#tick());
    this.#first.unref();
    this.#untick = onTick(options.intervalMs, () => this.#tick());
  }

  #tick(): void {
    if (this.#stopped || this.#busy) return; // one check at a time: a refreeze may take a while
    // An open breach is looked at every interval: its end is what the caller waits for.
    if (performance.now() < this.#nextLookAt && !this.#options.log.open) return;
    this.#busy = true;
    this.#check()
      .catch(() => {
        // A refreeze that failed (a tracer keeps resuming its tracee, the deadline passed):
        // the breach stays open and the next check tries again.
      })
      .finally(() => {
        this.#busy = false;
      });
  }

  async #check(): Promise<void> {
    const { log } = this.#options;
    const lookStarted = performance.now();
    const ran = this.#watch.findRan();
    const lookMs = performance.now() - lookStarted;
    this.#options.onLook?.(lookMs);
    if (this.#options.spaceByCost && this.#looks++ > 0) {
      const budget = this.#options.lookBudget ?? LOOK_BUDGET;
      this.#nextLookAt = lookStarted + Math.min(lookMs / budget, MAX_LOOK_SPACING_MS);
    }
    if (this.#watch.size === 0) {
      // Told after this check has returned: the hold's end stops this check.
      setImmediate(() => this.#stopped || this.#options.onExited());
      return;
    }
    if (ran.length === 0 && !log.open) {
      log.markIntact();
      return;
    }
    const fresh = this.#episode.size === 0;
    if (ran.length > 0) log.record('resumed', pidsOf(ran));
    for (const entry of ran) this.#episode.add(entry);
    if (this.#options.policy === 'refreeze') await this.#refreeze();
    else this.#report(fresh);
  }

  /**
   * Every process of the episode still running (a refreeze that failed is tried again at
   * every check); then rounds until nothing new appears, as they may have forked.
   */
  async #refreeze(): Promise<void> {
    const { freezer, log } = this.#options;
    const running = [...this.#episode].filter((entry) => stateOf(entry.process) === 'running');
    const added = await freezer.refreeze(
      running.map((entry) => entry.process),
      {
        deadline: performance.now() + this.#options.timeoutMs,
        signal: this.#abort.signal,
        net: this.#options.net,
      },
    );
    if (this.#stopped) return;
    log.addNew(added.map((process) => process.pid));
    for (const process of added) this.#watch.watch(process);
    this.#endEpisode(running.length > 0 || added.length > 0);
  }

  /** report: the episode ends when every process of it is stopped again by someone else. */
  #report(fresh: boolean): void {
    const { freezer, log } = this.#options;
    if (fresh) log.addNew(freezer.findNewcomers().map((node) => node.pid));
    if ([...this.#episode].every((entry) => stateOf(entry.process) !== 'running')) {
      log.addNew(freezer.findNewcomers().map((node) => node.pid));
      this.#endEpisode(false);
    }
  }

  #endEpisode(refrozen: boolean): void {
    for (const entry of this.#episode) entry.clock?.reset(); // re-read once the stop has settled
    this.#episode.clear();
    this.#options.log.end(refrozen);
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    clearImmediate(this.#first);
    this.#untick();
    this.#abort.abort(new Error('the hold ended'));
    const { log } = this.#options;
    try {
      const ran = this.#watch.findRan(true);
      if (ran.length > 0) log.record('resumed', pidsOf(ran), 'thaw');
    } catch {
      // the thaw goes on whatever this last look could not read
    }
    log.end(false);
    // Closed once the thaw has returned: the resume must not wait for a thousand closes.
    this.#watch.clear();
  }
}
