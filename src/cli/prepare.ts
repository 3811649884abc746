/**
 * freeze --prepare: the first phase of a fleet hold. Everything a freeze needs but the freeze
 * is done now — the targets checked (prepare-checks.ts), the watchdogs started — and announced
 * with a "prepared" event; then the hold waits for its order. Nothing is stopped before the
 * order "freeze", and not even then if an order that forbids it (thaw, the end of the input,
 * a stop signal) is already known, or if none came within the prepare deadline: a fleet that
 * failed or gave up never freezes a host late.
 */
import { FreezeError } from '../base/errors.js';
import { until } from '../base/timers.js';
import type { DismissReason, PreparedLine, UnstampedEvent } from '../protocol/events.js';
import type { ResolvedTarget } from '../tree/targets.js';
import { warmUp } from '../warm-up.js';
import { formatDuration } from './duration.js';
import { type EventSink, targetSummary } from './event-writer.js';
import { checkTargets, refuseHeld } from './prepare-checks.js';
import { printable } from './printable.js';

/** An order to a prepared hold, from its standard input or its socket. */
export type PrepareOrder =
  /** at: freeze at that time (Date.now() ms); before: unless it is past that time already. */
  | { kind: 'freeze'; at?: number | undefined; before?: number | undefined }
  | { kind: 'end'; reason: DismissReason }
  | { kind: 'bad'; why: string };

export interface OrderSource {
  next(): Promise<PrepareOrder>;
  /** The first order waiting that forbids the freeze (an end, a bad order), if any. */
  pendingStop(): PrepareOrder | undefined;
}

/** What a preparation needs of a hold's options. */
export interface PrepareOptions {
  targets: readonly ResolvedTarget[];
  childrenOnly: boolean;
  /** --join: processes another hold holds are joined at the freeze, not refused now. */
  join: boolean;
  watchdog: boolean;
  timeoutMs: number;
  json: boolean;
}

const round = (ms: number) => Math.round(ms * 1000) / 1000;

/** Prepares the freeze of `options.targets`; the "prepared" event (without `at`). */
export async function prepareFreeze(
  options: PrepareOptions,
  withinMs: number,
): Promise<UnstampedEvent<PreparedLine>> {
  const started = performance.now();
  const pids = checkTargets(options.targets, options.childrenOnly);
  if (!options.join) await refuseHeld(options.targets, options.childrenOnly);
  // The watchdogs this process keeps: the freeze takes them instead of starting its own.
  if (options.watchdog) await warmUp({ timeoutMs: options.timeoutMs });
  return {
    event: 'prepared',
    command: 'freeze',
    targets: options.targets.map((target, i) => ({ ...targetSummary(target), pids: pids[i] ?? [] })),
    prepareMs: round(performance.now() - started),
    freezeWithinMs: withinMs,
  };
}

/** The go-ahead: freeze now, finished by `before` (Date.now() ms) if the order set a limit. */
export interface FreezeNow {
  before?: number | undefined;
}

/**
 * Waits for the order to freeze, at most `withinMs`: resolves when the freeze may start now
 * (by when it must be done), or why the hold ended first. Rejects with PREPARE_EXPIRED (no order in time) or
 * BAD_ORDER (an order that is not one, or for a time already past or beyond the deadline).
 */
export async function awaitOrder(
  orders: OrderSource,
  withinMs: number,
  stop: AbortSignal,
): Promise<FreezeNow | DismissReason> {
  const deadline = Date.now() + withinMs;
  let freezeAt: number | undefined;
  let before: number | undefined;
  for (;;) {
    // Before an agreed time, any order that ends the hold still wins; a repeated freeze changes nothing.
    const order = await until(orders.next(), freezeAt ?? deadline, stop);
    if (order === 'signal') return 'signal';
    if (order === 'late' && freezeAt !== undefined) break;
    if (order === 'late') {
      throw new FreezeError(
        'PREPARE_EXPIRED',
        `no order to freeze came within ${formatDuration(withinMs)} of the preparation: nothing was frozen`,
      );
    }
    if (order.kind !== 'freeze') return ended(order);
    if (freezeAt !== undefined) continue;
    before = order.before;
    if (before !== undefined && before <= Date.now()) {
      const late = `the order to freeze arrived ${formatDuration(Date.now() - before)} after its sender's deadline`;
      throw new FreezeError('BAD_ORDER', `${late}: nothing was frozen`);
    }
    // A time already past, but not its deadline: the order came late within its grace, freeze now.
    if (order.at === undefined || order.at <= Date.now()) break;
    const refused = refuseTime(order.at, deadline);
    if (refused) throw new FreezeError('BAD_ORDER', `${refused}: nothing was frozen`);
    freezeAt = order.at;
  }
  // One turn of the event loop first: input already in the pipe behind the order (a "thaw",
  // its end) is read before anything is stopped.
  await new Promise((resolve) => setImmediate(resolve));
  const waiting = orders.pendingStop();
  if (stop.aborted) return 'signal';
  return waiting ? ended(waiting) : { before };
}

/** An order that ends the hold before its freeze: the reason, or the error a bad one is. */
function ended(order: PrepareOrder): DismissReason {
  if (order.kind === 'end') return order.reason;
  throw new FreezeError('BAD_ORDER', `${order.kind === 'bad' ? order.why : 'no order'}: nothing was frozen`);
}

/** freeze --prepare: ready everything but the freeze, say so, and wait for the order. */
export async function prepared(
  options: PrepareOptions,
  withinMs: number,
  orders: OrderSource,
  stop: AbortSignal,
  events: EventSink | undefined,
): Promise<FreezeNow | DismissReason> {
  const event = await prepareFreeze(options, withinMs);
  events?.(event);
  if (!options.json) {
    process.stderr.write(
      `prepared to freeze ${options.targets.map((t) => printable(t.label)).join(', ')}; waiting ${formatDuration(withinMs)} for a line "freeze"\n`,
    );
  }
  return awaitOrder(orders, withinMs, stop);
}

/** Why a freeze time cannot be taken: after the hold stops waiting. */
function refuseTime(at: number, deadline: number): string | undefined {
  if (at > deadline)
    return `the freeze time is ${formatDuration(at - deadline)} after this hold stops waiting`;
  return undefined;
}

/** The prepared hold ended before any order to freeze: say so. */
export function reportDismissed(reason: DismissReason, events: EventSink | undefined): void {
  if (events) {
    events({ event: 'dismissed', reason });
    return;
  }
  const why = reason === 'signal' ? 'a stop signal' : reason === 'request' ? 'treefreeze thaw' : 'its input';
  process.stderr.write(`prepared hold ended by ${why} before any order to freeze: nothing was frozen\n`);
}
