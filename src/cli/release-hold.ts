/**
 * `release <hold id> [--at T]`: orders a prepared hold in the background (freeze --prepare
 * --detach) to freeze — now, or at T by its own clock — over its socket, and waits for the
 * outcome. The order carries its deadline (T, or now, plus --within): the holder refuses an
 * order that reaches it later and rolls back a freeze not done by then, so a fleet's
 * controller that gave up never has a host freeze behind its back. A user releases their own
 * prepared holds.
 */
import { constants as osConstants } from 'node:os';
import { count, FreezeError, FreezeErrorCode } from '../base/errors.js';
import { until } from '../base/timers.js';
import { EXIT } from './exit-codes.js';
import { MAX_TIME_MS } from './hold-record.js';
import { HOLD_ID } from './hold-registry.js';
import { askHolder, holdSocketPath } from './hold-socket.js';
import { jsonLine } from './printable.js';
import { existingRuntimeDir } from './runtime-dir.js';
import { onStopSignals, type StopSignal } from './stop-signals.js';
import { refuseFarAhead, thawHoldById, waitUntil } from './thaw-hold.js';
import type { ReleaseCliOptions } from './usage.js';

/** How long `release` waits beyond the order's deadline: the holder registers the hold and answers. */
const ANSWER_GRACE_MS = 5_000;

/** What the holder answers once frozen: its frozen event (event-writer.ts), bounded and checked. */
export interface ReleasedHold {
  hold: string;
  frozenAt: number;
  freezeMs: number;
  processes: unknown[];
  [field: string]: unknown;
}

type SetExitCode = (code: number) => void;

const noPrepared = (id: string, why: string) =>
  new FreezeError('NO_MATCH', `no prepared hold ${id} of yours: ${why}`);

export async function releaseHold(
  id: string,
  atMs: number | undefined,
  withinMs: number,
  thawAtMs?: number,
): Promise<ReleasedHold> {
  if (!HOLD_ID.test(id)) {
    throw new FreezeError('INVALID_ARGUMENT', `no hold ${id}: a hold id is tf- and 6 hex digits`);
  }
  if (atMs !== undefined && !(Number.isSafeInteger(atMs) && atMs >= 0 && atMs + withinMs <= MAX_TIME_MS)) {
    throw new FreezeError('INVALID_ARGUMENT', `--at ${atMs}: not a time in ms since the epoch`);
  }
  if (thawAtMs !== undefined) refuseFarAhead(thawAtMs, '--thaw-at');
  if (thawAtMs !== undefined && thawAtMs < (atMs ?? Date.now()) + withinMs) {
    throw new FreezeError(
      'INVALID_ARGUMENT',
      `--thaw-at ${thawAtMs}: before the freeze's deadline ${(atMs ?? Date.now()) + withinMs} (--at plus --within); nothing was frozen`,
    );
  }
  const own = existingRuntimeDir();
  if (own === null) throw noPrepared(id, 'this user has no runtime directory (no hold was made)');
  const before = (atMs ?? Date.now()) + withinMs;
  const answer = await askHolder(
    holdSocketPath(own.path, id),
    own.uid,
    { request: 'release', at: atMs, before },
    Math.max(0, before - Date.now()) + ANSWER_GRACE_MS,
  );
  if (answer.kind === 'gone')
    throw noPrepared(id, 'nobody listens for it (dismissed, expired, or never made)');
  if (answer.kind === 'refused') throw new FreezeError('RELEASE_FAILED', `hold ${id}: ${answer.why}`);
  return released(id, answer.value);
}

/** The holder's answer: the frozen hold, or its error (with the holder's code when it is one of ours). */
function released(id: string, value: unknown): ReleasedHold {
  const { frozen, error } = (value ?? {}) as { frozen?: ReleasedHold; error?: unknown };
  if (typeof error === 'string') throw new FreezeError('BAD_ORDER', `hold ${id}: ${error.slice(0, 200)}`);
  if (typeof error === 'object' && error !== null) {
    const { code, message } = error as { code?: unknown; message?: unknown };
    const known = Object.values(FreezeErrorCode).find((c) => c === code);
    const text = typeof message === 'string' ? message.slice(0, 500) : `hold ${id}: the freeze failed`;
    // The holder's own words, as the same freeze in the foreground would have said them.
    throw new FreezeError(known ?? 'RELEASE_FAILED', known ? text : `hold ${id}: ${text}`);
  }
  const valid =
    typeof frozen === 'object' &&
    frozen !== null &&
    frozen.hold === id &&
    typeof frozen.frozenAt === 'number' &&
    typeof frozen.freezeMs === 'number' &&
    Array.isArray(frozen.processes);
  if (!valid) throw new FreezeError('RELEASE_FAILED', `hold ${id}: its holder's answer is not valid`);
  return frozen;
}

/**
 * The command: release, then print the frozen event (--json) or one line. With --thaw-at this
 * command owns the hold's end: it thaws at that time, and a stop signal (Ctrl-C) at any point
 * ends the hold at once (a hold not frozen yet is dismissed: it never freezes), as freeze --for does.
 */
export async function release(
  id: string,
  options: ReleaseCliOptions,
  setExitCode: SetExitCode,
): Promise<void> {
  const hold = id.toLowerCase();
  const json = Boolean(options.json);
  const stop = new AbortController();
  let signal: StopSignal | undefined;
  const removeHandlers =
    options.thawAt === undefined
      ? () => {}
      : onStopSignals((received) => {
          signal ??= received;
          stop.abort();
        });
  try {
    const releasing = releaseHold(hold, options.at, options.within, options.thawAt);
    // No deadline here: releaseHold has its own (the order's, plus the holder's answer).
    const first = await until(releasing, undefined, stop.signal);
    if (first === 'signal' || first === 'late') {
      // The order is with the holder already: ask it to end, which dismisses a prepared hold.
      await thawHoldById(hold, false, json);
      await releasing.catch(() => {}); // its answer: dismissed (or frozen, then ended by that thaw)
    } else {
      reportFrozen(first, json);
      setExitCode(EXIT.OK);
      if (options.thawAt !== undefined) {
        await waitUntil(options.thawAt, stop.signal);
        const outcomes = await thawHoldById(first.hold, false, json);
        if (outcomes.some((outcome) => !outcome.intact)) setExitCode(EXIT.HOLD_BROKEN);
      }
    }
  } finally {
    removeHandlers();
  }
  if (signal) setExitCode(EXIT.SIGNAL_BASE + osConstants.signals[signal]);
}

function reportFrozen(frozen: ReleasedHold, json: boolean): void {
  if (json) {
    process.stdout.write(jsonLine({ ...frozen, event: 'frozen', at: Date.now() }));
  } else {
    process.stderr.write(
      `froze ${count(frozen.processes.length, 'process', 'processes')} in ${frozen.freezeMs.toFixed(1)} ms as hold ${frozen.hold}; treefreeze thaw ${frozen.hold} ends it\n`,
    );
  }
}
