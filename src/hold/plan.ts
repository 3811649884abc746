/** The options of the public entry points, and their checks. */
import { type BreachPolicy, eventEmitter, type HoldEvent } from '../backends/breach.js';
import type { HoldSettings } from '../backends/frozen-tree.js';
import { invalidArgument } from '../base/errors.js';
import { defaultPlatform, type Platform } from '../kernel/platform.js';

export type BackendChoice = 'signal' | 'cgroup' | 'auto';

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
   * freezeTree only. 'signal' (default): SIGSTOP/SIGCONT. 'cgroup': the kernel freezer on
   * the root's own cgroup, which must hold exactly the root's tree. 'auto': the cgroup when
   * that holds, signals otherwise.
   */
  backend?: BackendChoice | undefined;
  /**
   * How signals are bound to the right process: 'pidfd' (default where available)
   * or 'starttime' (force the fallback: a (pid, start time) check before each signal).
   */
  identity?: 'pidfd' | 'starttime' | undefined;
}

/**
 * Knobs for tests and the benchmark, never published: pass an object of this type where
 * FreezeOptions is expected.
 * @internal
 */
export interface InternalFreezeOptions extends FreezeOptions {
  /** Force the discovery method. */
  discovery?: 'children-files' | 'scan' | undefined;
  /** false keeps the freezer's priority as it is (the benchmark measures the raise). */
  raisePriority?: boolean | undefined;
  /** Called after each discovery, before anything found is signalled. */
  afterDiscovery?: ((pids: number[]) => void) | undefined;
  /** Signal backend: called once frozen with the milliseconds spent in each phase (the benchmark). */
  profile?: ((phases: Record<string, number>) => void) | undefined;
  /** The machine as this freeze sees it (no koffi, another watchdog shell). */
  platform?: Platform | undefined;
}

export const DEFAULT_TIMEOUT_MS = 5000;
export const DEFAULT_CHECK_INTERVAL_MS = 100;

/** The longest duration any option accepts: about 285,000 years, far beyond any real hold. */
export const MAX_DURATION_MS = Number.MAX_SAFE_INTEGER;

function checkDuration(name: string, value: unknown): number {
  if (typeof value !== 'number' || !(value > 0) || !(value <= MAX_DURATION_MS)) {
    throw invalidArgument(
      `${name} must be a positive number of milliseconds up to ${MAX_DURATION_MS}, got ${String(value)}`,
    );
  }
  return value;
}

/** @internal */
export interface CommonOptions {
  /** performance.now() when the caller called: durationMs counts from there. */
  started: number;
  timeoutMs: number;
  maxHoldMs: number | undefined;
  watchdog: boolean;
  signal: AbortSignal | undefined;
  platform: Platform;
  hold: HoldSettings;
}

/** Checks the options every backend shares. */
/** @internal */
export function commonOptions(options: InternalFreezeOptions, started: number): CommonOptions {
  return {
    started,
    timeoutMs: checkDuration('timeoutMs', options.timeoutMs ?? DEFAULT_TIMEOUT_MS),
    maxHoldMs: options.maxHoldMs === undefined ? undefined : checkDuration('maxHoldMs', options.maxHoldMs),
    watchdog: options.watchdog ?? true,
    signal: options.signal,
    platform: options.platform ?? defaultPlatform,
    hold: holdSettings(options),
  };
}

function holdSettings(options: FreezeOptions): HoldSettings {
  const policy = options.onBreach ?? 'refreeze';
  if (policy !== 'refreeze' && policy !== 'report') {
    throw invalidArgument(`onBreach must be 'refreeze' or 'report', got ${String(policy)}`);
  }
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
    onEvent: eventEmitter(options.onHoldEvent),
  };
}
