/**
 * Asking the other holds about processes a freeze found stopped (see claims.ts): refuse the
 * freeze (ALREADY_HELD) if another live hold holds one, or join that hold.
 *
 * An answer is data from another process: bounded, parsed strictly, only about what was
 * asked, and believed only from a peer the kernel says is root or the owner of the process it
 * claims (SO_PEERCRED): another user's socket can never make a freeze fail on processes that
 * are not theirs, nor be joined. A claim only refuses a freeze or keeps joined processes
 * stopped while a hold that could stop them anyway holds them: nothing is signalled on its word.
 */
import { closeSync, constants, fstatSync, openSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { alreadyHeld } from '../base/errors.js';
import { readProcessStat, readProcFile } from '../kernel/procfs.js';
import { peerOf } from '../kernel/socket-peer.js';
import { ANSWER_MAX_BYTES, CLAIM_PREFIX, type ClaimedProcess, claimKey, parseQuestion } from './claims.js';

/** How long one holder may take to answer; one that does not is not believed to hold anything. */
const ASK_TIMEOUT_MS = 500;

/** The claim sockets of other processes' holds, from /proc/net/unix. */
function otherHoldSockets(): string[] {
  const names = new Set<string>();
  const own = `@${CLAIM_PREFIX}${process.pid}/`;
  for (const line of (readProcFile('/proc/net/unix') ?? '').split('\n')) {
    // Node binds an abstract name padded with NULs to the full address, shown as '@'s.
    const path = (line.split(' ').at(-1) ?? '').replace(/(?<=.)@+$/, '');
    if (/^@treefreeze-hold\/\d+\/\d+$/.test(path) && !path.startsWith(own)) names.add(path.slice(1));
  }
  return [...names];
}

interface Answer {
  label: string;
  holder: number | null;
  held: ClaimedProcess[];
  /** join: the pipe's write end to keep open while holding, already opened. */
  pipeFd?: number;
  /** join: the connection that stays open while holding. */
  socket?: Socket;
}

/** Asks one hold which of `processes` it holds (or joins it); null if it does not answer in time. */
function ask(
  name: string,
  processes: readonly ClaimedProcess[],
  until: number,
  join: boolean,
): Promise<Answer | null> {
  return new Promise((resolve) => {
    const socket = connect(`\0${name}`);
    let text = '';
    let settled = false;
    const done = (answer: Answer | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (!answer?.socket) socket.destroy();
      resolve(answer);
    };
    const wait = Math.max(1, Math.min(ASK_TIMEOUT_MS, until - performance.now()));
    const timer = setTimeout(() => done(null), wait);
    socket.on('error', () => done(null));
    socket.on('connect', () => {
      const list = processes.map((p) => [p.pid, p.startTime]);
      socket.write(`${JSON.stringify(join ? { join: list } : { ask: list })}\n`);
    });
    socket.on('data', (data) => {
      text += data;
      if (text.length > ANSWER_MAX_BYTES) return done(null);
      const end = text.indexOf('\n');
      if (end >= 0) done(readAnswer(text.slice(0, end), socket, processes, join));
    });
  });
}

function readAnswer(
  line: string,
  socket: Socket,
  asked: readonly ClaimedProcess[],
  join: boolean,
): Answer | null {
  const peer = peerOf(socket);
  let fields: { label?: unknown; pipe?: unknown };
  try {
    fields = JSON.parse(line) as typeof fields;
  } catch {
    return null;
  }
  const label = typeof fields.label === 'string' ? fields.label.slice(0, 200) : '';
  // Only what was asked, and only what this peer could hold.
  const keys = new Set(asked.map(claimKey));
  const held = parseQuestion(line).processes.filter(
    (claimed) => keys.has(claimKey(claimed)) && believed(claimed, peer),
  );
  const answer: Answer = { label, holder: peer?.pid ?? null, held };
  if (!join || held.length === 0 || peer === null) return answer;
  const pipeFd = openJointPipe(fields.pipe, peer.pid);
  return pipeFd === undefined ? answer : { ...answer, pipeFd, socket };
}

/**
 * Opens the joint guard's pipe for writing, by the path the holder gave: only its own
 * /proc/<pid>/fd/<n> (the kernel's word for its pid), and only if that is a pipe.
 */
function openJointPipe(path: unknown, holder: number): number | undefined {
  if (typeof path !== 'string' || !new RegExp(`^/proc/${holder}/fd/\\d+$`).test(path)) return undefined;
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  if (fstatSync(fd).isFIFO()) return fd;
  closeSync(fd);
  return undefined;
}

/** A claim is believed from root, or from the owner of the claimed process. */
function believed(claimed: ClaimedProcess, peer: { uid: number } | null): boolean {
  if (peer === null) return false; // unverifiable (no koffi): never a reason to refuse
  if (peer.uid === 0) return true;
  try {
    return ownerOf(claimed.pid) === peer.uid;
  } catch {
    return false;
  }
}

function ownerOf(pid: number): number | null {
  const status = readProcFile(`/proc/${pid}/status`);
  const match = status === null ? null : /^Uid:\s+(\d+)/m.exec(status);
  return match ? Number(match[1]) : null;
}

/** The holds a hold joined: each one's pipe end and connection stay open until release(). */
export class JoinedHolds {
  readonly #ends: { pipeFd: number; socket: Socket }[] = [];

  /**
   * Fails with ALREADY_HELD if another live hold holds any of `stopped` (processes a freeze
   * found stopped), naming that hold; with `join`, joins every such hold instead (failing
   * with ALREADY_HELD if one cannot be joined). Resolves by `deadline` at the latest.
   */
  async settle(stopped: readonly ClaimedProcess[], deadline: number, join: boolean): Promise<void> {
    if (stopped.length === 0) return;
    const sockets = otherHoldSockets();
    if (sockets.length === 0) return;
    const answers = await Promise.all(sockets.map((name) => ask(name, stopped, deadline, join)));
    for (const answer of answers) {
      if (answer?.pipeFd !== undefined && answer.socket) {
        this.#ends.push({ pipeFd: answer.pipeFd, socket: answer.socket });
      }
    }
    const refusing = answers.find(
      (answer) => answer !== null && answer.held.length > 0 && answer.pipeFd === undefined,
    );
    if (!refusing) return;
    const pids = refusing.held.map((process) => process.pid);
    const comm = readProcessStat(pids[0] as number)?.comm ?? '?';
    throw alreadyHeld(pids, comm, refusing.label || 'a hold', refusing.holder, join);
  }

  /** This hold has ended: the joined holds' guards may act once theirs have too. */
  release(): void {
    for (const { pipeFd, socket } of this.#ends.splice(0)) {
      closeSync(pipeFd);
      socket.destroy();
    }
  }
}
