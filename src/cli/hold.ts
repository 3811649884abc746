/**
 * `freeze`: freeze, hold (for a time, until a signal, `thaw <id>` or the end of stdin), always
 * thaw. Also what `freeze` and `run` (run-frozen.ts) share: their options and their freeze.
 */
import { type LongTimer, setLongTimeout } from '../base/timers.js';
import type { FrozenTree, HoldEvent } from '../hold/frozen-tree.js';
import type { HoldEndReason } from '../protocol/events.js';
import type { ResolvedTarget } from '../tree/targets.js';
import { errorFields, reportToParent } from './detach.js';
import { formatDuration } from './duration.js';
import { type EventSink, eventSink, frozenEvent, heldMs as heldFor, thawedEvent } from './event-writer.js';
import { EXIT } from './exit-codes.js';
import {
  breachPrinter,
  reportHoldEnd,
  reportWatchdogEvents,
  startStatusLine,
  summary,
} from './hold-output.js';
import { preparePhase } from './prepare-phase.js';
import type { SocketOrders } from './prepared-orders.js';
import { type RegisteredHold, registerHold } from './registered-hold.js';
import { openRuntimeDir } from './runtime-dir.js';
import { type OrderReader, readOrders, reportBadOrder, watchOrders } from './stdin-orders.js';
import { onStopSignals, type StopSignal } from './stop-signals.js';
import { count } from './style.js';
import { freezeTargets, type TargetFreezeOptions } from './targets-hold.js';

export interface HoldOptions extends TargetFreezeOptions {
  /** What to freeze, resolved (see tree/targets.ts): one or more trees or cgroups. */
  targets: ResolvedTarget[];
  json: boolean;
  /** freeze: hold this long (default: until a signal). */
  forMs?: number | undefined;
  /** run: exit with the command's code even when the hold was broken. */
  keepExitCode?: boolean | undefined;
  /** --json: where the JSON Lines events go (freeze: stdout by default; run: --json-fd only). */
  jsonFd?: number | undefined;
  /** freeze: hold while standard input stays open; thaw at EOF or on a line "thaw". */
  untilStdinCloses?: boolean | undefined;
  /** freeze --detach, in the background holder: where to report the freeze (one JSON line), then hold silently. */
  reportFd?: number | undefined;
  /** freeze --prepare: get ready, then freeze only on an order that comes within this long. */
  prepareWithinMs?: number | undefined;
}

/**
 * Freezes every target as one hold (targets-hold.ts). Each event of the hold is printed and
 * updates the registered record; `registered()` is the hold once registered, whose id also
 * names it to a freezer it refuses.
 */
export function freeze(
  options: HoldOptions,
  signal: AbortSignal,
  print: (event: HoldEvent) => void,
  registered: () => RegisteredHold | undefined,
): Promise<FrozenTree> {
  const onHoldEvent = (event: HoldEvent) => {
    print(event);
    registered()?.update();
  };
  const label = () => {
    const hold = registered();
    return hold ? `hold ${hold.id}` : `treefreeze (pid ${process.pid})`;
  };
  return freezeTargets(options.targets, options, signal, onHoldEvent, label);
}

/**
 * Thaws a held tree; a failed thaw is the hold's end (whoever asked it to end hears why).
 * `settle` runs first either way, before the watchdog's events are reported.
 */
export async function thawHeld(
  frozen: FrozenTree,
  hold: RegisteredHold,
  options: HoldOptions,
  settle: () => void = () => {},
): Promise<void> {
  try {
    await frozen.thaw();
  } catch (error) {
    hold.fail(error);
    throw error;
  } finally {
    settle();
    if (!options.json) reportWatchdogEvents(frozen);
  }
}

/**
 * What asks a freeze's hold to end early: a stop signal or `thaw <id>`. Either may come while
 * the freeze is still under way, before anything waits for it, so each is also remembered.
 */
interface EndRequests {
  signal: StopSignal | undefined;
  thaw: boolean;
  /** A line on standard input that is not an order: it ended the hold, and is reported. */
  badOrder?: string;
  /** Tells the wait (waitForThaw) of a request; nothing until the wait begins. */
  notify: (reason: 'signal' | 'request') => void;
}

export async function holdFreeze(options: HoldOptions): Promise<number> {
  const registry = openRuntimeDir(); // before the freeze: an unsafe directory freezes nothing
  const abort = new AbortController();
  const requests: EndRequests = { signal: undefined, thaw: false, notify: () => {} };
  const removeHandlers = onStopSignals((signal) => {
    requests.signal ??= signal;
    abort.abort(new Error(`received ${signal}`));
    requests.notify('signal');
  });
  let stopStatus = () => {};
  let clearStatus = () => {};
  let keepAlive: NodeJS.Timeout | undefined;
  const events = options.json ? eventSink(options.jsonFd ?? 1) : undefined;
  const orders = options.untilStdinCloses ? readOrders() : undefined;
  const detached = options.reportFd !== undefined;
  let socket: SocketOrders | undefined;
  let preparedId: string | undefined;
  try {
    if (options.prepareWithinMs !== undefined) {
      const phase = await preparePhase(options, registry, orders, abort.signal, events);
      if (phase === 'dismissed') return EXIT.OK;
      ({ socket, id: preparedId } = phase);
    }
    let registered: RegisteredHold | undefined;
    const printBreach = breachPrinter(options, () => clearStatus(), events);
    const frozen = await freeze(options, abort.signal, printBreach, () => registered).catch(
      (error: unknown) => {
        if (options.reportFd !== undefined)
          reportToParent(options.reportFd, { ok: false, error: errorFields(error) });
        throw error;
      },
    );
    socket?.handOver();
    registered = await registerHold(registry, 'freeze', options.targets, frozen, {
      onThawRequest: () => {
        requests.thaw = true;
        requests.notify('request');
      },
      detached,
      watchdog: options.watchdog,
      maxHoldMs: options.maxHoldMs,
      forMs: options.forMs,
      id: preparedId,
    });
    const hold = registered;
    announceHold(options, frozen, hold.id, events);
    socket?.frozen(hold, { frozen: { ...frozenEvent('freeze', options, frozen), hold: hold.id } }, () => {
      requests.thaw = true;
      requests.notify('request');
    });
    [stopStatus, clearStatus] = startStatusLine(frozen, options);
    keepAlive = setInterval(() => {}, 1 << 30); // a pending promise alone does not keep Node running
    const reason = await waitForThaw(options, frozen, requests, orders);
    await thawHeld(frozen, hold, options, () => {
      clearInterval(keepAlive);
      stopStatus();
    });
    const heldMs = heldFor(frozen);
    const exitCode = requests.badOrder ? EXIT.FAILED : frozen.intact ? EXIT.OK : EXIT.HOLD_BROKEN;
    hold.end({ reason, heldMs, exitCode });
    reportThawed(frozen, hold.id, { reason, signal: requests.signal, heldMs, exitCode }, events);
    if (requests.badOrder) reportBadOrder(requests.badOrder, events);
    return exitCode;
  } catch (error) {
    socket?.failed({ error: errorFields(error) });
    throw error;
  } finally {
    socket?.close();
    orders?.stop();
    // Also when thaw throws: a live interval would keep the CLI running after its error.
    clearInterval(keepAlive);
    stopStatus();
    removeHandlers();
  }
}

/** The tree is frozen and its hold registered: the "frozen" event, --detach's parent, a log's line. */
function announceHold(
  options: HoldOptions,
  frozen: FrozenTree,
  holdId: string,
  events: EventSink | undefined,
): void {
  events?.({ ...frozenEvent('freeze', options, frozen), hold: holdId });
  if (options.reportFd !== undefined) {
    reportToParent(options.reportFd, {
      ok: true,
      event: { ...frozenEvent('freeze', options, frozen), hold: holdId },
    });
  }
  if (!options.json && !process.stderr.isTTY) {
    const until =
      options.forMs === undefined
        ? 'until SIGINT, SIGTERM or SIGHUP'
        : `for ${formatDuration(options.forMs)}`;
    process.stderr.write(`${summary(frozen)}; holding ${until}\n`);
  }
}

/** Holds until something ends the hold; resolves to what did (the thaw's reason). */
async function waitForThaw(
  options: HoldOptions,
  frozen: FrozenTree,
  requests: EndRequests,
  orders: OrderReader | undefined,
): Promise<HoldEndReason> {
  let timer: LongTimer | undefined;
  let stopStdinWatch = () => {};
  const reason = await new Promise<HoldEndReason>((resolve) => {
    requests.notify = resolve;
    if (requests.thaw) resolve('request');
    if (requests.signal) resolve('signal');
    // Chained for holds of 2^31 ms (24.8 days) or more: a plain timer would fire at once.
    if (options.forMs !== undefined) timer = setLongTimeout(() => resolve('timer'), options.forMs, true);
    // A failed thaw (the lease's included) is reported by the thaw() after the wait.
    frozen.thawed.then(
      (why) => resolve(why === 'caller' ? 'caller' : why),
      () => resolve('lease'),
    );
    if (orders)
      stopStdinWatch = watchOrders(
        orders,
        () => resolve('stdin'),
        (why) => {
          requests.badOrder = why;
        },
      );
  });
  timer?.clear();
  stopStdinWatch();
  return reason;
}

/** After the thaw: the "thawed" event, or the verdict and one end line on stderr. */
function reportThawed(
  frozen: FrozenTree,
  holdId: string,
  end: { reason: HoldEndReason; signal: StopSignal | undefined; heldMs: number; exitCode: number },
  events: EventSink | undefined,
): void {
  const { reason, signal, heldMs, exitCode } = end;
  if (events) {
    events({
      ...thawedEvent('freeze', frozen, heldMs, { thawReason: reason, signal: signal ?? null, exitCode }),
      hold: holdId,
    });
    return;
  }
  reportHoldEnd(frozen);
  // One end line, in a terminal or not: a log shows when the tree ran again.
  const verdict = frozen.intact ? '' : ', hold broken';
  if (reason === 'exited') {
    process.stderr.write(
      `hold ended after ${formatDuration(heldMs)}: every process of the tree exited${verdict}\n`,
    );
    return;
  }
  const why =
    reason === 'signal'
      ? ` (${signal})`
      : reason === 'lease'
        ? ' (--max-hold ran out)'
        : reason === 'request'
          ? ` (treefreeze thaw ${holdId})`
          : '';
  process.stderr.write(
    `thawed ${count(frozen.processes.length, 'process', 'processes')} after ${formatDuration(heldMs)}${why}${verdict}\n`,
  );
}
