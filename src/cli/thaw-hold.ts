/**
 * `thaw <hold id>`: asks the hold's holder, over its socket, to end the hold, and reports what
 * it answers once the tree runs again. Never a signal: a pid read from a record could name
 * anyone's process by the time it is signalled, and a record can be written by anyone who can
 * write its directory. A user reaches their own holds; root, everyone's.
 */
import { existsSync } from 'node:fs';
import { count, FreezeError, listPids } from '../base/errors.js';
import { until } from '../base/timers.js';
import { PID_MAX_LIMIT } from '../kernel/procfs.js';
import { formatDuration } from './duration.js';
import { type HoldRecord, MAX_TIME_MS, RECORD_MAX_BYTES, toHoldRecord } from './hold-record.js';
import { findHold, HOLD_ID, holderRuns, otherUsersHoldSockets, removeHold } from './hold-registry.js';
import { askHolder, FIRST_WORD_DEADLINE_MS, holdSocketPath } from './hold-socket.js';
import { observedCounts, observeProcesses } from './observed.js';
import { jsonLine, printable } from './printable.js';
import { existingRuntimeDir, looksAtOtherUsers, myUid, type RuntimeDir } from './runtime-dir.js';

export interface ThawOutcome {
  id: string;
  /** The holder's user, as the kernel says (the owner of its directory and socket). */
  uid: number;
  intact: boolean;
  breaches: number;
  heldMs: number;
  reason: string;
  /**
   * Its processes once the holder answered, as /proc and the cgroup files show them (not as the
   * holder says); absent when the holder did not say which they were.
   */
  seen?: { stopped: number; running: number; gone: number };
  /** The pids of those still stopped (at most 20): stopped before the freeze, or held by another hold. */
  stillStopped?: number[];
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
  return { id, uid, intact, breaches: breaches as number, heldMs, reason, ...observed(outcome) };
}

/** What became of the processes the holder says it held, looked at here; nothing if it did not say. */
function observed(outcome: Record<string, unknown>): Pick<ThawOutcome, 'seen' | 'stillStopped'> {
  const { pids, since } = outcome;
  // As many as a record may name: a holder's answer is someone else's data.
  const valid =
    Array.isArray(pids) &&
    pids.length <= RECORD_MAX_BYTES / 2 &&
    pids.every((pid) => Number.isSafeInteger(pid) && pid > 0 && pid <= PID_MAX_LIMIT) &&
    typeof since === 'number' &&
    since >= 0 &&
    since <= MAX_TIME_MS;
  if (!valid) return {};
  const seen = observeProcesses(pids as number[], since);
  return { seen: observedCounts(seen), stillStopped: seen.stopped.slice(0, 20) };
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
    return new FreezeError(
      'THAW_FAILED',
      `${whose}: ${answer.why}; it may still end (treefreeze status shows whether it holds)`,
    );
  }
  const { refused, error } = (answer.value ?? {}) as { refused?: unknown; error?: unknown };
  if (typeof refused === 'string')
    return new FreezeError('NOT_PERMITTED', `${whose}: ${refused.slice(0, 200)}`);
  if (typeof error === 'string') return new FreezeError('THAW_FAILED', `${whose}: ${error.slice(0, 200)}`);
  const outcome = toOutcome(id, place.uid, answer.value);
  return outcome ?? new FreezeError('THAW_FAILED', `${whose}: its holder's answer is not valid`);
}

/**
 * Whom `thaw <id>` asks: the caller's own holder of that id, if it has one, and no one else.
 * Otherwise (root) every other user's holder of it: ids are random but not secret (socket paths
 * show in /proc/net/unix), so another user may have made a decoy of the same id; each is asked,
 * and each answer is reported with its uid. `done()` lets go of the directories they are in.
 */
function holdersOf(id: string): {
  own: RuntimeDir | null;
  places: { path: string; uid: number }[];
  warnings: string[];
  done: () => void;
} {
  if (!HOLD_ID.test(id)) throw noHold(id);
  const own = existingRuntimeDir();
  if (own !== null) {
    const path = holdSocketPath(own.path, id);
    if (existsSync(path) || findHold(own, id) !== undefined) {
      return { own, places: [{ path, uid: own.uid }], warnings: [], done: () => {} };
    }
  }
  if (!looksAtOtherUsers()) return { own, places: [], warnings: [], done: () => {} };
  const others = otherUsersHoldSockets(id);
  return { own, places: others.sockets, warnings: others.warnings, done: others.close };
}

/** Ends hold `id` through its holder(s); resolves once they have answered (their trees run again). */
export async function thawHold(
  id: string,
  deadlineMs = 15_000,
): Promise<{ outcomes: ThawOutcome[]; failures: FreezeError[]; warnings: string[] }> {
  const { own, places, warnings, done } = holdersOf(id);
  const answers = await Promise.all(places.map((place) => askToThaw(id, place, deadlineMs))).finally(done);
  const outcomes = answers.filter(
    (answer): answer is ThawOutcome => answer !== null && !(answer instanceof FreezeError),
  );
  const failures = answers.filter((answer): answer is FreezeError => answer instanceof FreezeError);
  if (outcomes.length > 0 || failures.length > 0) return { outcomes, failures, warnings };
  throw endedOrMissing(id, own);
}

/** What `thaw <id>` would end: the holds of that id it would ask, as their holders describe them. */
export async function describeHold(
  id: string,
): Promise<{ holds: (HoldRecord & { uid: number })[]; warnings: string[] }> {
  const { places, warnings, done } = holdersOf(id);
  const answers = await Promise.all(
    places.map((place) => askHolder(place.path, place.uid, 'describe', FIRST_WORD_DEADLINE_MS)),
  ).finally(done);
  const holds: (HoldRecord & { uid: number })[] = [];
  for (const [index, answer] of answers.entries()) {
    if (answer.kind !== 'answer') continue;
    const record = toHoldRecord((answer.value as { record?: unknown } | null)?.record);
    if (typeof record !== 'string' && record.id === id)
      holds.push({ ...record, uid: (places[index] as { uid: number }).uid });
  }
  if (holds.length === 0) throw noHold(id);
  return { holds, warnings };
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
  if (outcome.reason === 'dismissed' && outcome.heldMs === 0)
    return `dismissed prepared hold ${outcome.id} before any order to freeze: nothing was frozen`;
  const verdict = outcome.intact ? 'intact' : `hold broken ${count(outcome.breaches, 'time')}`;
  const whose = outcome.uid === myUid() ? '' : ` of uid ${outcome.uid} (as its holder says)`;
  return `ended hold ${outcome.id}${whose} after ${formatDuration(outcome.heldMs)}, ${verdict}${seenNow(outcome)}`;
}

/** "; its 5 processes run again", or which are still stopped, as seen after the answer. */
function seenNow({ seen, stillStopped }: ThawOutcome): string {
  if (seen === undefined) return '';
  const total = seen.stopped + seen.running + seen.gone;
  const gone = seen.gone > 0 ? `, ${seen.gone} gone` : '';
  if (seen.stopped === 0) {
    if (seen.running === 0)
      return total === 1 ? '; its process is gone' : `; its ${total} processes are gone`;
    if (seen.running === total)
      return total === 1 ? '; its process runs again' : `; its ${total} processes run again`;
    return `; ${seen.running} of its ${count(total, 'process', 'processes')} run again${gone}`;
  }
  const shown = (stillStopped ?? []).slice(0, 6);
  const which = `${shown.join(', ')}${seen.stopped > shown.length ? ` and ${seen.stopped - shown.length} more` : ''}`;
  return `; ${seen.stopped} of its ${count(total, 'process', 'processes')} still stopped (${which}): stopped before the freeze or held by another hold, see treefreeze status${seen.running > 0 ? `; ${seen.running} run again` : ''}${gone}`;
}

/** `thaw <hold id>` (or a dry run of it): the holder's answers, printed one line each. */
export async function thawHoldById(id: string, dryRun: boolean, json: boolean): Promise<ThawOutcome[]> {
  const me = myUid();
  const whose = (uid: number) => (uid === me ? '' : ` of uid ${uid} (as its holder says)`);
  const warn = (text: string) => process.stderr.write(`treefreeze: ${printable(text)}\n`);
  if (dryRun) {
    const { holds, warnings } = await describeHold(id);
    warnings.forEach(warn);
    for (const hold of holds) {
      process.stderr.write(
        `would end hold ${id}${whose(hold.uid)}: ${count(hold.pids.length, 'process', 'processes')} (${listPids(hold.pids)})\n`,
      );
    }
    return [];
  }
  const { outcomes, failures, warnings } = await thawHold(id);
  warnings.forEach(warn);
  for (const outcome of outcomes) {
    if (json) process.stdout.write(jsonLine({ command: 'thaw', ...outcome }));
    else process.stderr.write(`${printable(describeThaw(outcome))}\n`);
  }
  // Every holder was asked; the first failure is the command's error (the rest, one line each).
  for (const failure of failures.slice(1)) warn(failure.message);
  if (failures[0]) throw failures[0];
  return outcomes;
}

/**
 * Waits until `at` (Date.now() ms): a fleet's host starts its thaw before its time (Node's start
 * is most of a thaw's cost), so the hold ends on time. Check the time with refuseFarAhead first.
 */
export async function waitUntil(at: number, stop: AbortSignal = new AbortController().signal): Promise<void> {
  await until(new Promise<never>(() => {}), at, stop);
}

/** A time more than a day ahead is a mistake (seconds for milliseconds?), refused before anything is done. */
export function refuseFarAhead(at: number, option: string): void {
  if (at - Date.now() > 86_400_000)
    throw new FreezeError('INVALID_ARGUMENT', `${option} ${at}: more than a day ahead`);
}
