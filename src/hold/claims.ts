/**
 * Every hold is known machine-wide to treefreeze's other holders: while it holds, a hold
 * listens on an abstract unix socket named "treefreeze-hold/<holder pid>/<n>" and answers
 * which of the processes it is asked about it holds (those it stopped; not those it found
 * stopped). A freeze that finds processes of its tree already stopped asks every such socket
 * (listed in /proc/net/unix) and, if another live hold holds one, fails with ALREADY_HELD
 * naming it, before stopping anything more. Abstract sockets need no file: the kernel
 * removes the name when the holder closes it or dies, so no claim outlives its hold.
 *
 * An answer is data from another process: bounded, parsed strictly, and believed only from a
 * peer the kernel says is root or the owner of the process it claims (SO_PEERCRED); another
 * user's socket can never make a freeze fail on processes that are not theirs. A claim only
 * ever refuses a freeze: nothing is signalled on its word. The caller's own holds never
 * refuse each other (a program nesting its freezes knows what it holds).
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { SafetyNet } from '../backends/contract.js';
import { alreadyHeld } from '../base/errors.js';
import { native } from '../kernel/native.js';
import { readProcessStat, readProcFile } from '../kernel/procfs.js';

const PREFIX = 'treefreeze-hold/';
const ANSWER_MAX_BYTES = 1 << 20;
/** How long one holder may take to answer; one that does not is not believed to hold anything. */
const ASK_TIMEOUT_MS = 500;

export interface ClaimedProcess {
  pid: number;
  startTime: number;
}

const key = (process: ClaimedProcess) => `${process.pid}:${process.startTime}`;
let nextClaim = 0;

/** A hold's claim: what it is responsible for, answered to any holder that asks. */
export class HoldClaim {
  readonly #held = new Map<string, ClaimedProcess>();
  readonly #server: Server;
  readonly #label: () => string;

  /** `label`: how a refused freezer names this hold (read when it asks). */
  constructor(label: () => string) {
    this.#label = label;
    this.#server = createServer((socket) => this.#answer(socket));
    this.#server.on('error', () => {}); // a claim that cannot listen only makes the hold unknown
    this.#server.listen(`\0${PREFIX}${process.pid}/${++nextClaim}`);
    this.#server.unref();
  }

  /** Processes this hold is now responsible for (it is about to stop them, or adopted them). */
  add(processes: readonly ClaimedProcess[]): void {
    for (const process of processes) this.#held.set(key(process), process);
  }

  /** The hold is over. */
  close(): void {
    this.#server.close();
  }

  #answer(socket: Socket): void {
    socket.setTimeout(ASK_TIMEOUT_MS, () => socket.destroy());
    socket.on('error', () => socket.destroy());
    let text = '';
    socket.on('data', (data) => {
      text += data;
      if (text.length > ANSWER_MAX_BYTES) return socket.destroy();
      const end = text.indexOf('\n');
      if (end < 0) return;
      const asked = parseProcesses(text.slice(0, end));
      const held = asked.filter((process) => this.#held.has(key(process)));
      socket.end(
        `${JSON.stringify({ label: this.#label(), held: held.map((p) => [p.pid, p.startTime]) })}\n`,
      );
    });
  }
}

/** [[pid, startTime], ...] as sent over a claim socket; anything else reads as nothing. */
function parseProcesses(text: string): ClaimedProcess[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return [];
  }
  const fields = value as { held?: unknown; ask?: unknown } | null;
  const list = fields?.held ?? fields?.ask;
  if (!Array.isArray(list)) return [];
  return list.flatMap((entry) =>
    Array.isArray(entry) && entry.length === 2 && entry.every((n) => Number.isSafeInteger(n) && n > 0)
      ? [{ pid: entry[0] as number, startTime: entry[1] as number }]
      : [],
  );
}

/** The claim sockets of other processes' holds, from /proc/net/unix. */
function otherHoldSockets(): string[] {
  const names = new Set<string>();
  const own = `@${PREFIX}${process.pid}/`;
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
}

/** Asks one hold which of `processes` it holds; null if it does not answer in time or is not believed. */
function ask(name: string, processes: readonly ClaimedProcess[], until: number): Promise<Answer | null> {
  return new Promise((resolve) => {
    const socket = connect(`\0${name}`);
    let text = '';
    const done = (answer: Answer | null) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const timer = setTimeout(
      () => done(null),
      Math.max(1, Math.min(ASK_TIMEOUT_MS, until - performance.now())),
    );
    socket.on('error', () => done(null));
    socket.on('connect', () =>
      socket.write(`${JSON.stringify({ ask: processes.map((p) => [p.pid, p.startTime]) })}\n`),
    );
    socket.on('data', (data) => {
      text += data;
      if (text.length > ANSWER_MAX_BYTES) return done(null);
      const end = text.indexOf('\n');
      if (end < 0) return;
      const peer = peerOf(socket);
      let label = '';
      try {
        const value = JSON.parse(text.slice(0, end)) as { label?: unknown };
        if (typeof value.label === 'string') label = value.label.slice(0, 200);
      } catch {
        return done(null);
      }
      // Only what was asked, and only what this peer could hold.
      const asked = new Set(processes.map(key));
      const held = parseProcesses(text.slice(0, end)).filter(
        (claimed) => asked.has(key(claimed)) && believed(claimed, peer),
      );
      done({ label, holder: peer?.pid ?? null, held });
    });
  });
}

function peerOf(socket: Socket): { pid: number; uid: number } | null {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (fd === undefined || fd < 0) return null;
  return native()?.peerCredentials(fd) ?? null;
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

/**
 * Fails with ALREADY_HELD if another live hold holds any of `stopped` (processes a freeze
 * found stopped), naming that hold. Resolves quietly otherwise, by `deadline` at the latest.
 */
export async function refuseHeldElsewhere(
  stopped: readonly ClaimedProcess[],
  deadline: number,
): Promise<void> {
  if (stopped.length === 0) return;
  const sockets = otherHoldSockets();
  if (sockets.length === 0) return;
  const answers = await Promise.all(sockets.map((name) => ask(name, stopped, deadline)));
  const holding = answers.find((answer) => answer !== null && answer.held.length > 0);
  if (!holding) return;
  const pids = holding.held.map((process) => process.pid);
  const comm = readProcessStat(pids[0] as number)?.comm ?? '?';
  throw alreadyHeld(pids, comm, holding.label || 'a hold', holding.holder);
}

/**
 * The safety net a backend sees: the hold's watchdogs (none with `watchdog: false`), and its
 * claim, which learns every process the backend becomes responsible for, as the watchdogs do.
 */
export function claimingNet(claim: HoldClaim, watchdogs: () => SafetyNet | undefined): SafetyNet {
  return {
    get failure() {
      return watchdogs()?.failure;
    },
    guardProcesses(processes) {
      watchdogs()?.guardProcesses(processes);
      claim.add(processes);
    },
    guardAncestors(processes) {
      watchdogs()?.guardAncestors(processes);
    },
    guardFileWrite(path, value) {
      watchdogs()?.guardFileWrite(path, value);
    },
  };
}
