/**
 * Orders on a hold's standard input (--until-stdin-closes), one a line: "freeze" (a prepared
 * hold: freeze now), "freeze <ms>" (the same, unless it is already past that time, in ms since
 * the epoch: an order held up in a network must not freeze after its sender gave up), and "thaw". The end of the input is an order too: the controller or its
 * connection is gone. Input is someone else's data: a line longer than ORDER_MAX_BYTES, or one
 * that is not an order, is a bad order — reported, never obeyed — and nothing after it is read.
 */
import type { EventSink } from './event-writer.js';
import type { OrderSource, PrepareOrder } from './prepare.js';
import { printable } from './printable.js';

export type Order = 'freeze' | 'thaw' | 'eof' | { freezeBefore: number } | { bad: string };

/** The longest order line accepted, in bytes ("freeze" and "thaw" fit many times). */
export const ORDER_MAX_BYTES = 64;

export interface OrderReader {
  /** The next order, in the order given; 'eof' once the input ended (and ever after). */
  next(): Promise<Order>;
  /** The first order waiting that forbids a freeze (thaw, the end, a bad line), if any. */
  pendingStop(): Order | undefined;
  /** Lets go of the input, so that it no longer keeps the process alive. */
  stop(): void;
}

const isEnd = (order: Order) => order !== 'freeze' && !(typeof order === 'object' && 'freezeBefore' in order);

export function readOrders(input: NodeJS.ReadStream = process.stdin): OrderReader {
  const queue: Order[] = [];
  let waiter: ((order: Order) => void) | undefined;
  let text = '';
  let closed = false;
  const push = (order: Order) => {
    if (closed) return;
    if (order === 'eof' || (typeof order === 'object' && 'bad' in order)) closed = true; // nothing after counts
    if (waiter) {
      const wake = waiter;
      waiter = undefined;
      wake(order);
    } else {
      queue.push(order);
    }
  };
  const onData = (data: Buffer) => {
    text += data.toString('utf8');
    for (let end = text.indexOf('\n'); end >= 0 && !closed; end = text.indexOf('\n')) {
      const line = text.slice(0, end).trim();
      text = text.slice(end + 1);
      const before = /^freeze (\d{1,15})$/.exec(line)?.[1];
      if (line === 'freeze' || line === 'thaw') push(line);
      else if (before !== undefined) push({ freezeBefore: Number(before) });
      else if (line !== '') push({ bad: printable(line.slice(0, ORDER_MAX_BYTES)) });
    }
    if (!closed && Buffer.byteLength(text) > ORDER_MAX_BYTES) {
      push({ bad: `${printable(text.slice(0, ORDER_MAX_BYTES))}… (a line over ${ORDER_MAX_BYTES} bytes)` });
    }
    if (closed) text = '';
  };
  const onEnd = () => push('eof');
  input.on('data', onData);
  input.once('end', onEnd);
  input.once('close', onEnd);
  input.once('error', onEnd); // a broken pipe is a closed one
  input.resume();
  return {
    next: () => {
      const order = queue.shift();
      if (order !== undefined) return Promise.resolve(order);
      if (closed) return Promise.resolve('eof');
      return new Promise((resolve) => {
        waiter = resolve;
      });
    },
    pendingStop: () => queue.find(isEnd),
    stop: () => {
      input.off('data', onData);
      input.off('end', onEnd);
      input.off('close', onEnd);
      input.pause();
      input.destroy();
    },
  };
}

/** A bad order as a one-line reason. */
export function describeBadOrder(order: { bad: string }): string {
  return `standard input: "${order.bad}" is not an order (expected a line "freeze", "freeze <ms since the epoch>" or "thaw")`;
}

/** The same orders as a prepared hold takes them (prepare.ts). */
export function asPrepareOrder(order: Order): PrepareOrder {
  if (order === 'freeze') return { kind: 'freeze' };
  if (typeof order === 'object' && 'freezeBefore' in order)
    return { kind: 'freeze', before: order.freezeBefore };
  if (order === 'thaw' || order === 'eof') return { kind: 'end', reason: 'stdin' };
  return { kind: 'bad', why: 'bad' in order ? describeBadOrder(order) : 'not an order' };
}

/** A prepared hold's orders from its standard input. */
export function stdinOrderSource(reader: OrderReader): OrderSource {
  return {
    next: () => reader.next().then(asPrepareOrder),
    pendingStop: () => {
      const order = reader.pendingStop();
      return order === undefined ? undefined : asPrepareOrder(order);
    },
  };
}

/**
 * --until-stdin-closes: the hold ends at a line "thaw" or the end of the input; a line that
 * is not an order ends it too, and is reported (a repeated "freeze" changes nothing).
 * Returns the remover.
 */
export function watchOrders(orders: OrderReader, end: () => void, bad: (why: string) => void): () => void {
  let watching = true;
  void (async () => {
    for (let order = await orders.next(); watching; order = await orders.next()) {
      if (order === 'freeze' || (typeof order === 'object' && 'freezeBefore' in order)) continue;
      if (typeof order === 'object') bad(describeBadOrder(order));
      end();
      return;
    }
  })();
  return () => {
    watching = false;
  };
}

/** A line on standard input that was not an order ended the hold: one error, after the thaw. */
export function reportBadOrder(why: string, events: EventSink | undefined): void {
  const message = `${why}: the hold was ended`;
  events?.({ event: 'error', code: 'BAD_ORDER', message, pids: [] });
  process.stderr.write(`treefreeze: ${message}\n`);
}
