/**
 * How a hold is asked to describe itself or to end: a unix socket the holder listens on, in
 * its user's runtime directory. Both ends know who the other is from the kernel, never from
 * anything written in a file:
 * - the holder answers only its own user or root: its socket is 0600 in a directory nobody else
 *   may write, and where the native binding loads, SO_PEERCRED names the asker's uid
 *   (hold-listener.ts);
 * - the asker reaches the socket without following a symbolic link (it opens the socket file
 *   with O_PATH | O_NOFOLLOW and connects through /proc/self/fd), requires it to belong to the
 *   directory's owner, and, where SO_PEERCRED is there, requires the listening process to run
 *   as that owner before it sends a byte.
 * Nothing is ever signalled: a holder that does not answer is reported, not killed.
 * One request line, one answer line, both JSON and bounded; a `thaw` or a `release` is first
 * acknowledged with `{"accepted":true}`, so that a holder that says nothing is given up on quickly.
 */
import { closeSync, constants, fstatSync, openSync } from 'node:fs';
import { connect } from 'node:net';
import { errnoCode } from '../base/errors.js';
import type { PeerCredentials } from '../kernel/native.js';
import { peerOf } from '../kernel/socket-peer.js';
import { RECORD_MAX_BYTES } from './hold-record.js';

/** describe and thaw reach any hold; release, a prepared one (prepared-orders.ts). */
export type HoldRequest = 'describe' | 'thaw' | 'release';

/** A request's line: release carries when to freeze and by when it must be done (Date.now() ms). */
export interface RequestLine {
  request: HoldRequest;
  at?: number | undefined;
  before?: number | undefined;
}

const O_PATH = 0o10000000;
export const REQUEST_MAX_BYTES = 256;
/** A record (at most RECORD_MAX_BYTES) and its envelope. */
const ANSWER_MAX_BYTES = RECORD_MAX_BYTES + 1024;
/** How long an asker waits for any first word from a holder (`thaw` is acknowledged at once). */
export const FIRST_WORD_DEADLINE_MS = 750;
export const ACCEPTED = { accepted: true };

/** The socket of hold `id` in a runtime directory. */
export const holdSocketPath = (dir: string, id: string): string => `${dir}/${id}.sock`;

export type HolderAnswer =
  | { kind: 'answer'; value: unknown; peer: PeerCredentials | null }
  | { kind: 'gone' }
  | { kind: 'refused'; why: string };

/**
 * The socket file at `path`, opened without following a link (O_PATH: nothing is read or
 * connected yet), if it is a socket of `ownerUid`'s; else what to answer instead.
 */
function openSocketFile(path: string, ownerUid: number): number | HolderAnswer {
  let fd: number;
  try {
    fd = openSync(path, O_PATH | constants.O_NOFOLLOW);
  } catch (error) {
    const code = errnoCode(error);
    return code === 'ENOENT' ? { kind: 'gone' } : { kind: 'refused', why: `cannot open ${path} (${code})` };
  }
  try {
    const stat = fstatSync(fd);
    if (stat.isSocket() && stat.uid === ownerUid) return fd;
    const what = stat.isSocket() ? `owned by uid ${stat.uid}, not ${ownerUid}` : 'not a socket';
    closeSync(fd);
    return { kind: 'refused', why: `${path} is ${what}` };
  } catch (error) {
    closeSync(fd);
    return { kind: 'refused', why: `cannot inspect ${path} (${errnoCode(error)})` };
  }
}

/**
 * Asks the holder listening at `path`, which must belong to `ownerUid`, and waits at most
 * `deadlineMs` for its answer. 'gone': nobody listens there (its holder has exited).
 */
export function askHolder(
  path: string,
  ownerUid: number,
  request: HoldRequest | RequestLine,
  deadlineMs: number,
  /** Shared by several asks: the bytes their answers may take together, charged in this order. */
  budgets: readonly { bytes: number }[] = [],
): Promise<HolderAnswer> {
  const asked: RequestLine = typeof request === 'string' ? { request } : request;
  const fd = openSocketFile(path, ownerUid);
  if (typeof fd !== 'number') return Promise.resolve(fd);
  return new Promise((resolve) => {
    const socket = connect(`/proc/self/fd/${fd}`);
    const closeFd = closeOnce(fd); // once connected, or when the ask ends before that
    let settled = false;
    const finish = (result: HolderAnswer) => {
      if (settled) return;
      settled = true;
      deadline.clear();
      closeFd();
      socket.destroy();
      resolve(result);
    };
    const deadline = answerDeadline(deadlineMs, (ms) =>
      finish({ kind: 'refused', why: `its holder did not answer within ${ms} ms` }),
    );
    let peer: PeerCredentials | null = null;
    let connected = false;
    let text = '';
    socket.once('connect', () => {
      connected = true;
      closeFd();
      peer = peerOf(socket);
      if (peer !== null && peer.uid !== ownerUid) {
        return finish({ kind: 'refused', why: `its listener runs as uid ${peer.uid}, not ${ownerUid}` });
      }
      socket.write(`${JSON.stringify(asked)}\n`);
    });
    socket.on('data', (data) => {
      text += data.toString('utf8');
      if (text.length > ANSWER_MAX_BYTES) return finish({ kind: 'refused', why: 'its answer is too long' });
      if (overspent(budgets, data.length)) {
        return finish({ kind: 'refused', why: 'the holders asked have said too much' });
      }
      for (let end = text.indexOf('\n'); end >= 0 && !settled; end = text.indexOf('\n')) {
        const line = text.slice(0, end);
        text = text.slice(end + 1);
        const said = parseAnswerLine(line, asked.request);
        if (said === 'not JSON') return finish({ kind: 'refused', why: 'its answer is not JSON' });
        if (said === 'accepted') deadline.accepted();
        else finish({ kind: 'answer', value: said.value, peer });
      }
    });
    socket.once('end', () =>
      finish({ kind: 'refused', why: 'its holder closed the connection without answering' }),
    );
    socket.once('error', (error) => finish(socketFailure(error, connected)));
  });
}

/**
 * How long an asker waits: a holder that says nothing at all is given little time; one that
 * accepted a thaw, the rest of one deadline counted from the start (a second acceptance gains
 * nothing). `silent` hears how long the holder was given.
 */
function answerDeadline(
  deadlineMs: number,
  silent: (ms: number) => void,
): { accepted(): void; clear(): void } {
  const started = performance.now();
  const firstWordMs = Math.min(deadlineMs, FIRST_WORD_DEADLINE_MS);
  let timer = setTimeout(() => silent(firstWordMs), firstWordMs);
  let accepted = false;
  return {
    accepted() {
      if (!accepted) {
        clearTimeout(timer);
        timer = setTimeout(() => silent(deadlineMs), deadlineMs - (performance.now() - started));
      }
      accepted = true;
    },
    clear: () => clearTimeout(timer),
  };
}

/**
 * Charges `bytes` to each budget in order, and to none after one is spent: a user's flood
 * spends their own budget, not the one they share with everyone else. True once one is spent.
 */
function overspent(budgets: readonly { bytes: number }[], bytes: number): boolean {
  for (const budget of budgets) {
    budget.bytes -= bytes;
    if (budget.bytes < 0) return true;
  }
  return false;
}

/** One line of a holder's answer: a thaw's acknowledgement, or the answer itself. */
function parseAnswerLine(line: string, request: HoldRequest): 'accepted' | 'not JSON' | { value: unknown } {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return 'not JSON';
  }
  if (request !== 'describe' && (value as { accepted?: unknown } | null)?.accepted === true)
    return 'accepted';
  return { value };
}

/** What a socket error says of the holder. */
function socketFailure(error: Error, connected: boolean): HolderAnswer {
  const code = errnoCode(error);
  // Refused at connect: a socket file nobody listens on any more, left by a holder that died.
  if (!connected && (code === 'ECONNREFUSED' || code === 'ENOENT')) return { kind: 'gone' };
  return { kind: 'refused', why: code ?? error.message };
}

/** A closer for `fd` that closes it at its first call only (a second close could hit a file that took the number). */
function closeOnce(fd: number): () => void {
  let open = true;
  return () => {
    if (open) closeSync(fd);
    open = false;
  };
}
