/**
 * `thaw <hold id>`: asks the hold's holder, over its socket, to end the hold, and reports what
 * it answers once the tree runs again. Never a signal: a pid read from a record could name
 * anyone's process by the time it is signalled, and a record can be written by anyone who can
 * write its directory. A user reaches their own holds; root, everyone's.
 */
import { existsSync } from 'node:fs';
import { count, FreezeError } from '../errors.js';
import { formatDuration } from './duration.js';
import { MAX_TIME_MS } from './hold-record.js';
import { askHolder, holdSocketPath } from './hold-socket.js';
import { findHold, HOLD_ID, holderRuns, otherUsersHoldSockets, removeHold } from './registry.js';
import { existingRuntimeDir, looksAtOtherUsers, type RuntimeDir } from './runtime-dir.js';

export interface ThawOutcome {
  id: string;
  /** The holder's user, as the kernel says (the owner of its directory and socket). */
  uid: number;
  intact: boolean;
  breaches: number;
  heldMs: number;
  reason: string;
}

const noHold = (id: string) =>
  new FreezeError('NO_MATCH', `no hold ${id} (treefreeze status lists the holds)`);

/** The holder's answer as a ThawOutcome, or null when it is not one. */
function toOutcome(id: string, uid: number, value: unknown): ThawOutcome | null {
  const outcome = (value as { outcome?: Record<string, unknown> } | null)?.outcome;
  if (typeof outcome !== 'object' || outcome === null) return null;
  const { intact, breaches, heldMs, reason } = outcome;
  if (typeof intact !== 'boolean' || !Number.isSafeInteger(breaches) || (breaches as number) < 0) return null;
  if (typeof heldMs !== 'number' || !(heldMs >= 0 && heldMs <= MAX_TIME_MS)) return null;
  if (typeof reason !== 'string' || reason.length > 64) return null;
  return { id, uid, intact, breaches: breaches as number, heldMs, reason };
}

/** One holder's answer to `thaw`: its outcome, or why there is none (null: nobody listens there). */
async function askToThaw(
  id: string,
  place: { path: string; uid: number },
  deadlineMs: number,
): Promise<ThawOutcome | FreezeError | null> {
  const answer = await askHolder(place.path, place.uid, 'thaw', deadlineMs);
  const whose = `hold ${id} of uid ${place.uid}`;
  if (answer.kind === 'gone') return null;
  if (answer.kind === 'refused') {
    return new FreezeError('THAW_FAILED', `${whose}: ${answer.why}; nothing was signalled`);
  }
  const { refused, error } = (answer.value ?? {}) as { refused?: unknown; error?: unknown };
  if (typeof refused === 'string')
    return new FreezeError('NOT_PERMITTED', `${whose}: ${refused.slice(0, 200)}`);
  if (typeof error === 'string') return new FreezeError('THAW_FAILED', `${whose}: ${error.slice(0, 200)}`);
  const outcome = toOutcome(id, place.uid, answer.value);
  return outcome ?? new FreezeError('THAW_FAILED', `${whose}: its holder's answer is not valid`);
}

/**
 * Ends hold `id` through its holder; resolves once its tree runs again. The caller's own hold of
 * that id, if it has one, is the only one asked. Otherwise (root) other users' holders of it are:
 * ids are random but not secret (socket paths show in /proc/net/unix), so another user may have
 * made a decoy of the same id; each is asked at once, and each answer is reported with its uid.
 */
export async function thawHold(
  id: string,
  deadlineMs = 15_000,
): Promise<{ outcomes: ThawOutcome[]; failures: FreezeError[] }> {
  if (!HOLD_ID.test(id)) throw noHold(id);
  const own = existingRuntimeDir();
  const ownPlace = own === null ? null : { path: holdSocketPath(own.path, id), uid: own.uid };
  const mine =
    own !== null && ownPlace !== null && (existsSync(ownPlace.path) || findHold(own, id) !== undefined);
  const others = mine || !looksAtOtherUsers() ? null : otherUsersHoldSockets(id);
  const places = mine && ownPlace ? [ownPlace] : (others?.sockets ?? []);
  const answers = await Promise.all(places.map((place) => askToThaw(id, place, deadlineMs))).finally(() =>
    others?.close(),
  );
  const outcomes = answers.filter(
    (answer): answer is ThawOutcome => answer !== null && !(answer instanceof FreezeError),
  );
  const failures = answers.filter((answer): answer is FreezeError => answer instanceof FreezeError);
  if (outcomes.length > 0 || failures.length > 0) return { outcomes, failures };
  throw endedOrMissing(id, own);
}

/** Nobody answered for `id`: a hold of ours whose holder died (its entries are removed), or none. */
function endedOrMissing(id: string, own: RuntimeDir | null): FreezeError {
  const record = own === null ? undefined : findHold(own, id);
  if (own === null || record === undefined) return noHold(id);
  if (holderRuns(record)) {
    return new FreezeError(
      'THAW_FAILED',
      `hold ${id}: its holder (pid ${record.holder.pid}) runs but does not listen for requests; it ends at its lease or when that process ends`,
      record.pids,
    );
  }
  removeHold(own, id); // ours, and its holder is provably gone
  return new FreezeError(
    'NO_MATCH',
    `hold ${id} has already ended: its holder (pid ${record.holder.pid}) is gone`,
  );
}

/** "ended hold tf-1a2b3c after 4.2 s, intact"; another user's is named as theirs, in its holder's words. */
export function describeThaw(outcome: ThawOutcome): string {
  const verdict = outcome.intact ? 'intact' : `hold broken ${count(outcome.breaches, 'time')}`;
  const whose =
    outcome.uid === (process.geteuid?.() ?? 0) ? '' : ` of uid ${outcome.uid} (as its holder says)`;
  return `ended hold ${outcome.id}${whose} after ${formatDuration(outcome.heldMs)}, ${verdict}`;
}
