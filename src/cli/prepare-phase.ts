/**
 * freeze --prepare, in the process that holds: the preparation and the wait for the order —
 * from standard input (--until-stdin-closes), or, in the background holder (--prepare
 * --detach), from the hold's socket, after telling the waiting command it is prepared.
 */

import { errorFields, reportToParent } from './detach.js';
import type { EventSink } from './event-writer.js';
import { newHoldId } from './hold-registry.js';
import { awaitOrder, type PrepareOptions, prepared, prepareFreeze, reportDismissed } from './prepare.js';
import { listenForOrders, type SocketOrders } from './prepared-orders.js';
import type { RuntimeDir } from './runtime-dir.js';
import { type OrderReader, stdinOrderSource } from './stdin-orders.js';

interface PhaseOptions extends PrepareOptions {
  prepareWithinMs?: number | undefined;
  /** The background holder's report descriptor: cleared once the preparation is reported. */
  reportFd?: number | undefined;
}

/**
 * Prepares and waits for the order: resolves once the freeze may start (with the socket and id
 * of a background hold, which keeps its name), or 'dismissed' (reported) if the hold ended first.
 * Lowers options.timeoutMs to the order's deadline: its sender has given up by then.
 */
export async function preparePhase(
  options: PhaseOptions,
  registry: RuntimeDir,
  orders: OrderReader | undefined,
  stop: AbortSignal,
  events: EventSink | undefined,
): Promise<{ socket: SocketOrders | undefined; id: string | undefined } | 'dismissed'> {
  const within = options.prepareWithinMs as number;
  const id = options.reportFd !== undefined ? newHoldId() : undefined;
  let socket: SocketOrders | undefined;
  try {
    if (id) socket = await prepareInBackground(options, registry, id);
    const go = socket
      ? await awaitOrder(socket, within, stop)
      : await prepared(options, within, stdinOrderSource(orders as OrderReader), stop, events);
    if (typeof go === 'string') {
      socket?.failed({
        error: {
          code: 'NO_MATCH',
          message: `hold ${id} was dismissed before its freeze: nothing was frozen`,
        },
      });
      socket?.close();
      reportDismissed(go, events);
      return 'dismissed';
    }
    if (go.before !== undefined)
      options.timeoutMs = Math.max(1, Math.min(options.timeoutMs, go.before - Date.now()));
    socket?.freezing();
    return { socket, id };
  } catch (error) {
    socket?.failed({ error: errorFields(error) });
    socket?.close();
    if (options.reportFd !== undefined)
      reportToParent(options.reportFd, { ok: false, error: errorFields(error) });
    throw error;
  }
}

/** Listens for the orders (release, thaw) as hold `id`, then tells the waiting command it is prepared. */
async function prepareInBackground(
  options: PhaseOptions,
  registry: RuntimeDir,
  id: string,
): Promise<SocketOrders> {
  const event = await prepareFreeze(options, options.prepareWithinMs as number);
  const socket = await listenForOrders(registry, id, () => ({ ...event, hold: id }));
  reportToParent(options.reportFd as number, { ok: true, prepared: { ...event, hold: id } });
  options.reportFd = undefined; // reported: the descriptor is closed, and its number may be reused
  return socket;
}
