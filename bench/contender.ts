/**
 * What every freezer the bench compares is: given one tree, a freeze and a thaw it can time,
 * over and over, interleaved with the others. One file per contender: treefreeze.ts, cgroup-v2.ts,
 * reference.ts, floor.ts.
 */
import { allStopped } from './trees.js';

/** The contenders' names, as the table, the chart and docs/bench.md name them. */
export type ContenderName = 'treefreeze' | 'cgroup v2' | 'reference' | 'seed' | 'floor';

/** One freeze and its thaw, in milliseconds. */
export interface Timing {
  freezeMs: number;
  thawMs: number;
}

/** A contender ready for one tree. */
export interface Entrant {
  freezeAndThaw(): Promise<Timing>;
  /** Ends what it set up for the tree (a process, a cgroup). */
  close(): void;
}

export interface Contender {
  name: ContenderName;
  /** Sets up for a tree whose pids are known in advance; null when it cannot run here. */
  enter(root: number, pids: number[]): Promise<Entrant | null>;
}

/**
 * Times a freeze from the call to its return and the thaw likewise. With `pids`, the freeze's
 * claim is checked before the thaw: a freezer that returns early would otherwise win.
 */
export async function timeFreezeAndThaw(
  name: ContenderName,
  freeze: () => Promise<{ thaw(): Promise<void> | void }>,
  pids?: number[],
): Promise<Timing> {
  const t0 = performance.now();
  const frozen = await freeze();
  const freezeMs = performance.now() - t0;
  if (pids && !allStopped(pids)) throw new Error(`${name} resolved before every task stopped`);
  const t1 = performance.now();
  await frozen.thaw();
  return { freezeMs, thawMs: performance.now() - t1 };
}
