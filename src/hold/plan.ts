/**
 * A hold's plan: the options of the public entry points, checked once. This is the only
 * place an option is declared, validated and defaulted; each choice is one constant that
 * feeds the types, the checks, and the command line's choices and help.
 */
import { BREACH_POLICIES, type BreachPolicy } from '../backends/breach.js';
import { assertPid, FreezeError, invalidArgument } from '../base/errors.js';
import { defaultPlatform, type Platform } from '../kernel/platform.js';
import { IDENTITY_METHODS, type IdentityMethod } from '../tree/identity.js';
import type { HoldEvent } from './frozen-tree.js';

/** freezeTree's backends: SIGSTOP/SIGCONT, the kernel's freezer, or the freezer when it fits. */
export const BACKEND_CHOICES = ['signal', 'cgroup', 'auto'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

export const DEFAULT_BACKEND: BackendChoice = 'auto';
export const DEFAULT_BREACH_POLICY: BreachPolicy = 'refreeze';
export const DEFAULT_TIMEOUT_MS = 5000;
export const DEFAULT_CHECK_INTERVAL_MS = 100;
/** The longest duration any option accepts: about 285,000 years, far beyond any real hold. */
export const MAX_DURATION_MS = Number.MAX_SAFE_INTEGER;

export interface FreezeOptions {
  /** Pids whose whole subtree stays running (a monitor, a log shipper). */
  exclude?: Iterable<number> | undefined;
  /** One overall deadline for the whole freeze, in ms (default 5000). */
  timeoutMs?: number | undefined;
  /** Aborting rejects with ABORTED after resuming everything already stopped. */
  signal?: AbortSignal | undefined;
  /** Default true: the tree is thawed even if this process dies. */
  watchdog?: boolean | undefined;
  /** Lease: the tree is thawed automatically after this many ms, even if the caller hangs. */
  maxHoldMs?: number | undefined;
  /**
   * A process of the tree is held by another live hold (of another process): hold it too,
   * instead of failing with ALREADY_HELD. It stays stopped until the last hold on it ends.
   */
  join?: boolean | undefined;
  /**
   * What the hold does when a frozen process runs again (someone sent SIGCONT, another
   * freezer thawed it, the cgroup was thawed): 'refreeze' (default) stops it again and
   * confirms; 'report' only records it. Either way it is in `breaches` and `intact` is false.
   */
  onBreach?: BreachPolicy | undefined;
  /** How often the hold is verified, in ms (default 100): a breach is noticed within about this long. */
  checkIntervalMs?: number | undefined;
  /** Called as things happen during the hold: a breach, its end, a watchdog event. */
  onHoldEvent?: ((event: HoldEvent) => void) | undefined;
  /**
   * freezeTree only. 'auto' (default): the kernel freezer on the root's own cgroup when that
   * cgroup holds exactly the root's tree (a service in a unit or container of its own), signals
   * otherwise; the look costs two reads when the answer is no. 'signal': SIGSTOP/SIGCONT.
   * 'cgroup': the kernel freezer, or CGROUP_MISMATCH.
   */
  backend?: BackendChoice | undefined;
  /**
   * How signals are bound to the right process: 'pidfd' (default where available)
   * or 'starttime' (force the fallback: a (pid, start time) check before each signal).
   */
  identity?: IdentityMethod | undefined;
}

/** Options a caller must give, with the types FreezeOptions declares for them. */
export type RequiredOptions<K extends keyof FreezeOptions> = { [P in K]-?: NonNullable<FreezeOptions[P]> };

/**
 * The key of the knobs tests and the benchmark use. Never published (the package exports
 * only its index): the public entry points read nothing else that is not in FreezeOptions.
 * @internal
 */
export const internalKnobs = Symbol('treefreeze internal knobs');

/** @internal */
export interface InternalKnobs {
  /** Force the discovery method. */
  discovery?: 'children-files' | 'scan' | undefined;
  /** false keeps the freezer's priority as it is (the benchmark measures the raise). */
  raisePriority?: boolean | undefined;
  /** Called after each discovery, before anything found is signalled. */
  afterDiscovery?: ((pids: number[]) => void) | undefined;
  /** How other freezers refused by this hold name it (the command line: its hold id, once known). */
  claimLabel?: (() => string) | undefined;
  /** Signal backend: called once frozen with the milliseconds spent in each phase (the benchmark). */
  profile?: ((phases: Record<string, number>) => void) | undefined;
  /** The machine as this freeze sees it (no koffi, another watchdog shell). */
  platform?: Platform | undefined;
  /** Signal backend: the share of a core the default checks may spend (tests shrink it). */
  lookBudget?: number | undefined;
  /** Signal backend: called after each periodic look at the hold with what it cost (tests). */
  onLook?: ((lookMs: number) => void) | undefined;
}

/** FreezeOptions with the internal knobs. @internal */
export interface InternalFreezeOptions extends FreezeOptions {
  [internalKnobs]?: InternalKnobs | undefined;
}

/** How a hold is verified, checked. */
export interface HoldCheckPlan {
  policy: BreachPolicy;
  intervalMs: number;
  /**
   * The interval is the default: a look that costs much (a large tree) is spaced out so that
   * looking costs at most LOOK_BUDGET of a core. An interval the caller chose is kept as asked.
   */
  spaceByCost: boolean;
  onEvent: (event: HoldEvent) => void;
}

/** What every hold needs, checked and defaulted. @internal */
export interface HoldPlan {
  /** performance.now() when the caller called: durationMs counts from there. */
  started: number;
  timeoutMs: number;
  /** performance.now() by which the tree must be frozen. */
  deadline: number;
  maxHoldMs: number | undefined;
  watchdog: boolean;
  join: boolean;
  signal: AbortSignal | undefined;
  platform: Platform;
  check: HoldCheckPlan;
  knobs: InternalKnobs;
}

/** What a process tree's freeze needs besides. @internal */
export interface TreePlan {
  backend: BackendChoice;
  /** The user's exclusions (the caller is added by the freeze). */
  exclude: Set<number>;
  identity: IdentityMethod | undefined;
}

/** Checks and defaults the options every freeze shares. @internal */
export function planHold(options: InternalFreezeOptions, started: number): HoldPlan {
  const timeoutMs = checkDuration('timeoutMs', options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  return {
    started,
    timeoutMs,
    deadline: started + timeoutMs,
    maxHoldMs: options.maxHoldMs === undefined ? undefined : checkDuration('maxHoldMs', options.maxHoldMs),
    watchdog: options.watchdog ?? true,
    join: options.join === true,
    signal: options.signal,
    platform: knobsOf(options).platform ?? defaultPlatform,
    check: planCheck(options),
    knobs: knobsOf(options),
  };
}

/** Checks the options only a process tree's freeze has. @internal */
export function planTree(root: number, includeRoot: boolean, options: FreezeOptions): TreePlan {
  const backend = checkChoice('backend', options.backend ?? DEFAULT_BACKEND, BACKEND_CHOICES);
  const exclude = new Set<number>();
  for (const pid of options.exclude ?? []) {
    assertPid(pid, 'excluded pid');
    exclude.add(pid);
  }
  if (includeRoot && exclude.has(root)) {
    throw new FreezeError('INVALID_ARGUMENT', `the root ${root} is excluded: nothing would be frozen`, [
      root,
    ]);
  }
  const identity =
    options.identity === undefined ? undefined : checkChoice('identity', options.identity, IDENTITY_METHODS);
  return { backend, exclude, identity };
}

/** The knobs, read only from their own key. @internal */
export function knobsOf(options: InternalFreezeOptions): InternalKnobs {
  return options[internalKnobs] ?? {};
}

/** A positive number of milliseconds up to MAX_DURATION_MS. @internal */
export function checkDuration(name: string, value: unknown): number {
  if (typeof value !== 'number' || !(value > 0) || !(value <= MAX_DURATION_MS)) {
    throw invalidArgument(
      `${name} must be a positive number of milliseconds up to ${MAX_DURATION_MS}, got ${String(value)}`,
    );
  }
  return value;
}

function checkChoice<T extends string>(name: string, value: unknown, choices: readonly T[]): T {
  if (!choices.includes(value as T)) {
    const named = choices.map((choice) => `'${choice}'`);
    throw invalidArgument(
      `${name} must be ${named.slice(0, -1).join(', ')} or ${named.at(-1)}, got ${String(value)}`,
    );
  }
  return value as T;
}

function planCheck(options: FreezeOptions): HoldCheckPlan {
  const policy = checkChoice('onBreach', options.onBreach ?? DEFAULT_BREACH_POLICY, BREACH_POLICIES);
  if (options.onHoldEvent !== undefined && typeof options.onHoldEvent !== 'function') {
    throw invalidArgument('onHoldEvent must be a function');
  }
  return {
    policy,
    // Beyond 2^31 ms a timer fires at once; a check every 24.8 days is "almost never" already.
    intervalMs: Math.min(
      checkDuration('checkIntervalMs', options.checkIntervalMs ?? DEFAULT_CHECK_INTERVAL_MS),
      2 ** 31 - 1,
    ),
    spaceByCost: options.checkIntervalMs === undefined,
    onEvent: eventEmitter(options.onHoldEvent),
  };
}

/** Calls the caller's event listener; a listener that throws must not break the hold. */
function eventEmitter(listener: ((event: HoldEvent) => void) | undefined): (event: HoldEvent) => void {
  if (!listener) return () => {};
  return (event) => {
    try {
      listener(event);
    } catch (error) {
      process.emitWarning(
        `treefreeze: the onHoldEvent listener threw: ${(error as Error)?.message ?? error}`,
      );
    }
  };
}
