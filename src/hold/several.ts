/**
 * Several holds held as one: frozen one after the other (if one fails, the ones already
 * frozen are thawed, and the first error is reported), thawed in reverse order, so a tree
 * inside an earlier one is resumed by the earlier, outer freeze.
 */
import { spanCovered } from './coverage.js';
import type { FrozenTree } from './frozen-tree.js';

/** Freezes each item in turn with `freezeOne`; one hold, or several combined. */
export async function holdInTurn<T>(
  items: readonly T[],
  freezeOne: (item: T) => Promise<FrozenTree>,
): Promise<FrozenTree> {
  const started = performance.now();
  const held: FrozenTree[] = [];
  try {
    for (const item of items) held.push(await freezeOne(item));
  } catch (error) {
    // Guarantee 2: what was frozen is thawed. A rollback that could not thaw (THAW_FAILED,
    // naming what is left stopped) matters more than why the later item failed.
    let rollbackFailure: unknown;
    for (const frozen of held.reverse()) {
      await frozen.thaw().catch((failure: unknown) => {
        rollbackFailure ??= failure;
      });
    }
    throw rollbackFailure ?? error;
  }
  return held.length === 1 ? (held[0] as FrozenTree) : combineHolds(held, performance.now() - started);
}

/** Several holds seen as one: everything they froze, every breach, one thaw. */
function combineHolds(holds: FrozenTree[], durationMs: number): FrozenTree {
  const all = <T>(pick: (hold: FrozenTree) => readonly T[]): T[] => holds.flatMap(pick);
  const thaw = async () => {
    let failure: unknown;
    for (const hold of [...holds].reverse()) {
      try {
        await hold.thaw();
      } catch (error) {
        failure ??= error;
      }
    }
    if (failure !== undefined) throw failure;
  };
  const first = holds[0] as FrozenTree;
  return {
    backend: first.backend,
    identity: first.identity,
    get processes() {
      return all((hold) => hold.processes);
    },
    durationMs,
    rounds: Math.max(...holds.map((hold) => hold.rounds)),
    exited: holds.reduce((sum, hold) => sum + hold.exited, 0),
    get frozen() {
      return holds.some((hold) => hold.frozen);
    },
    get watchdogEvents() {
      return all((hold) => hold.watchdogEvents);
    },
    get watchdogOutsideCgroup() {
      return holds.every((hold) => hold.watchdogOutsideCgroup);
    },
    get breaches() {
      return all((hold) => hold.breaches);
    },
    get intact() {
      return holds.every((hold) => hold.intact);
    },
    get resumedAncestors() {
      return all((hold) => hold.resumedAncestors);
    },
    // Held together from the last freeze to the first end.
    frozenAt: Math.max(...holds.map((hold) => hold.frozenAt)),
    get endedAt() {
      const ends = holds.flatMap((hold) => (hold.endedAt === null ? [] : [hold.endedAt]));
      return ends.length === 0 ? null : Math.min(...ends);
    },
    covered(since: number, until = Date.now()) {
      return spanCovered(this, since, until);
    },
    thaw,
    // The first hold to end (a lease, a lost watchdog) ends them all.
    get thawed() {
      return Promise.race(holds.map((hold) => hold.thawed));
    },
    [Symbol.dispose]: () => {
      let failure: unknown;
      for (const hold of [...holds].reverse()) {
        try {
          hold[Symbol.dispose]();
        } catch (error) {
          failure ??= error;
        }
      }
      if (failure !== undefined) throw failure;
    },
    [Symbol.asyncDispose]: thaw,
  };
}
