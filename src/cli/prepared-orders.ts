/**
 * The orders of a prepared hold in the background (freeze --prepare --detach): it has no
 * standard input, so they come over its socket (hold-socket.ts checks both ends) —
 * `treefreeze release <id> [--at T]`, answered once the freeze is done or has failed, and
 * `treefreeze thaw <id>`, which dismisses it unfrozen. A thaw that comes while the freeze
 * is under way is answered by the hold it becomes, once that hold has ended.
 */
import { FreezeError } from '../base/errors.js';
import { listenForRequests } from './hold-listener.js';
import type { OrderSource, PrepareOrder } from './prepare.js';
import type { RegisteredHold } from './registered-hold.js';
import type { RuntimeDir } from './runtime-dir.js';

type Reply = (answer: unknown) => void;

export interface SocketOrders extends OrderSource {
  /** The order to freeze was taken: from now on a thaw waits for the hold it becomes. */
  freezing(): void;
  /**
   * The freeze is done and registered as `hold` (same id): its release hears `answer`, and a thaw
   * that came meanwhile ends it (`endNow`) and hears its outcome. The socket is the hold's now.
   */
  frozen(hold: RegisteredHold, answer: unknown, endNow: () => void): void;
  /** Nothing was frozen: a waiting release hears why, a waiting thaw that nothing is held. */
  failed(answer: unknown): void;
  /**
   * Lets the hold's own listener take the socket's name (registerHold binds it) while this one
   * still answers the connections it has.
   */
  handOver(): void;
  close(): void;
}

/** What a thaw of a prepared hold answers: it ended before any freeze (thaw-hold.ts reads it). */
const dismissed = (id: string) => ({
  outcome: { id, intact: true, breaches: 0, heldMs: 0, reason: 'dismissed', exitCode: 0 },
});

export async function listenForOrders(
  dir: RuntimeDir,
  id: string,
  describe: () => unknown,
): Promise<SocketOrders> {
  const queue: PrepareOrder[] = [];
  let waiter: ((order: PrepareOrder) => void) | undefined;
  let state: 'waiting' | 'freezing' | 'over' = 'waiting';
  let release: Reply | undefined;
  const thaws: Reply[] = [];
  let handedOver = false;
  const push = (order: PrepareOrder) => {
    if (waiter) {
      const wake = waiter;
      waiter = undefined;
      wake(order);
    } else queue.push(order);
  };
  const listener = await listenForRequests(dir.path, id, (request) => {
    if (request.request === 'describe') return { prepared: describe() };
    if (request.request === 'thaw') {
      if (state === 'waiting') {
        push({ kind: 'end', reason: 'request' });
        return dismissed(id);
      }
      return new Promise((resolve) => thaws.push(resolve));
    }
    if (release !== undefined || state !== 'waiting')
      return { error: 'it has had its order to freeze already' };
    push({ kind: 'freeze', at: request.at, before: request.before });
    return new Promise((resolve) => {
      release = resolve;
    });
  });
  if (listener === null) {
    throw new FreezeError(
      'UNSAFE_RUNTIME_DIR',
      `cannot listen in ${dir.path}: a prepared hold in the background takes its orders only there; nothing was frozen`,
    );
  }
  return {
    next: () => {
      const order = queue.shift();
      if (order !== undefined) return Promise.resolve(order);
      return new Promise((resolve) => {
        waiter = resolve;
      });
    },
    pendingStop: () => queue.find((order) => order.kind !== 'freeze'),
    freezing() {
      state = 'freezing';
    },
    frozen(hold, answer, endNow) {
      state = 'over';
      release?.(answer);
      if (thaws.length > 0) {
        endNow();
        void hold.ended().then((final) => {
          for (const reply of thaws.splice(0)) reply(final);
        });
      }
    },
    failed(answer) {
      state = 'over';
      release?.(answer);
      for (const reply of thaws.splice(0)) reply(dismissed(id));
    },
    handOver() {
      handedOver = true;
      listener.unlink();
    },
    close() {
      listener.close(!handedOver);
    },
  };
}
