/**
 * `thaw <hold id>`: asks the hold's holder, over its socket, to end the hold, and reports what
 * it answers once the tree runs again. Never a signal: a pid read from a record could name
 * anyone's process by the time it is signalled, and a record can be written by anyone who can
 * write its directory. A user reaches their own holds; root, everyone's.
 */
import { count, FreezeError } from '../errors.js';
import { formatDuration } from './duration.js';
import { askHolder, holdSocketPath } from './hold-socket.js';
import { findHold, HOLD_ID, holderRuns, otherUsersHoldSockets, removeHold } from './registry.js';
import { existingRuntimeDir, looksAtOtherUsers } from './runtime-dir.js';

export interface ThawOutcome {
  id: string;
  intact: boolean;
  breaches: number;
  heldMs: number;
  reason: string;
}

const noHold = (id: string) =>
  new FreezeError('NO_MATCH', `no hold ${id} (treefreeze status lists the holds)`);

/** The holder's answer as a ThawOutcome, or null when it is not one. */
function toOutcome(id: string, value: unknown): ThawOutcome | null {
  const outcome = (value as { outcome?: Record<string, unknown> } | null)?.outcome;
  if (typeof outcome !== 'object' || outcome === null) return null;
  const { intact, breaches, heldMs, reason } = outcome;
  if (typeof intact !== 'boolean' || !Number.isSafeInteger(breaches) || (breaches as number) < 0) return null;
  if (typeof heldMs !== 'number' || !Number.isFinite(heldMs) || heldMs < 0) return null;
  if (typeof reason !== 'string' || reason.length > 64) return null;
  return { id, intact, breaches: breaches as number, heldMs, reason };
}

/** Ends hold `id` through its holder; resolves once its tree runs again. */
export async function thawHold(id: string, deadlineMs = 15_000): Promise<ThawOutcome> {
  if (!HOLD_ID.test(id)) throw noHold(id);
  const own = existingRuntimeDir();
  const places = [
    ...(own === null ? [] : [{ path: holdSocketPath(own.path, id), uid: own.uid }]),
    ...(looksAtOtherUsers() ? otherUsersHoldSockets().sockets.filter((socket) => socket.id === id) : []),
  ];
  for (const place of places) {
    const answer = await askHolder(place.path, place.uid, 'thaw', deadlineMs);
    if (answer.kind === 'gone') continue;
    if (answer.kind === 'refused') {
      throw new FreezeError(
        'THAW_FAILED',
        `hold ${id}: ${answer.why}; nothing was signalled (treefreeze status shows what it still holds)`,
      );
    }
    const { refused, error } = (answer.value ?? {}) as { refused?: unknown; error?: unknown };
    if (typeof refused === 'string') throw new FreezeError('NOT_PERMITTED', `hold ${id}: ${refused}`);
    if (typeof error === 'string') throw new FreezeError('THAW_FAILED', `hold ${id}: ${error}`);
    const outcome = toOutcome(id, answer.value);
    if (outcome === null)
      throw new FreezeError('THAW_FAILED', `hold ${id}: its holder's answer is not valid`);
    return outcome;
  }
  const record = own === null ? undefined : findHold(own, id);
  if (own === null || record === undefined) throw noHold(id);
  if (holderRuns(record)) {
    throw new FreezeError(
      'THAW_FAILED',
      `hold ${id}: its holder (pid ${record.holder.pid}) runs but does not listen for requests; it ends at its lease or when that process ends`,
      record.pids,
    );
  }
  removeHold(own, id); // ours, and its holder is provably gone
  throw new FreezeError(
    'NO_MATCH',
    `hold ${id} has already ended: its holder (pid ${record.holder.pid}) is gone`,
  );
}

/** "ended hold tf-1a2b3c after 4.2 s, intact". */
export function describeThaw(outcome: ThawOutcome): string {
  const verdict = outcome.intact ? 'intact' : `hold broken ${count(outcome.breaches, 'time')}`;
  return `ended hold ${outcome.id} after ${formatDuration(outcome.heldMs)}, ${verdict}`;
}
