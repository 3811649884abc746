/** Whether a span of work ran under a hold: the question `run` and `FrozenTree.covered` answer. */
import type { HoldBreach } from '../backends/breach.js';

/** What coverage is judged from: when the hold began and ended, and when it was broken. */
export interface HoldSpan {
  readonly frozenAt: number;
  readonly endedAt: number | null;
  readonly breaches: readonly Pick<HoldBreach, 'intactAt' | 'endedAt'>[];
}

/**
 * Work from `since` to `until` (Date.now() values) was covered when the hold had begun by
 * `since`, had not ended by `until`, and no breach overlaps the span. A breach counts from the
 * last check that found the hold intact (the tree may have run from then) to its end, or
 * without end while it lasts: a doubt is never counted as covered.
 */
export function spanCovered(hold: HoldSpan, since: number, until: number): boolean {
  if (!(since <= until) || since < hold.frozenAt) return false;
  if (hold.endedAt !== null && until > hold.endedAt) return false;
  return hold.breaches.every(
    (breach) => breach.intactAt >= until || (breach.endedAt !== null && breach.endedAt <= since),
  );
}
