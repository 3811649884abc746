/**
 * Every hold is known machine-wide to treefreeze's other holders: while it holds, a hold
 * listens on an abstract unix socket named "treefreeze-hold/<holder pid>/<n>" and answers
 * which of the processes it is asked about it holds (those it stopped; not those it found
 * stopped). A freeze that finds processes of its tree already stopped asks every such socket
 * (claim-query.ts): if another live hold holds one, it fails with ALREADY_HELD naming that
 * hold, or, asked to join, holds them too. Abstract sockets need no file: the kernel removes
 * the name when the holder closes it or dies, so no claim outlives its hold.
 *
 * Joined processes are guarded by a joint guard (watchdog/joint-guard.ts) that resumes them
 * once every hold on them has ended: this hold's thaw leaves them to it while a joining hold
 * is connected, and resumes them itself otherwise.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { SafetyNet } from '../backends/contract.js';
import type { Platform } from '../kernel/platform.js';
import { peerOf } from '../kernel/socket-peer.js';
import { JointGuard } from '../watchdog/joint-guard.js';

export const CLAIM_PREFIX = 'treefreeze-hold/';
export const ANSWER_MAX_BYTES = 1 << 20;
/** How long a claim waits for a question; a joining hold's connection stays open instead. */
const QUESTION_TIMEOUT_MS = 500;

export interface ClaimedProcess {
  pid: number;
  startTime: number;
}

export const claimKey = (process: ClaimedProcess) => `${process.pid}:${process.startTime}`;
let nextClaim = 0;

/** A hold's claim: what it is responsible for, answered to any holder that asks. @internal */
export class HoldClaim {
  readonly #held = new Map<string, ClaimedProcess>();
  readonly #server: Server;
  readonly #label: () => string;
  readonly #platform: Platform;
  /** Started at the first join: resumes the joined processes once every hold on them has ended. */
  #guard: JointGuard | undefined;
  /** Each joining hold's connection (open while it holds) and the processes it joined. */
  readonly #joiners = new Map<Socket, string[]>();

  /** `label`: how a refused freezer names this hold (read when it asks). */
  constructor(label: () => string, platform: Platform) {
    this.#label = label;
    this.#platform = platform;
    this.#server = createServer((socket) => this.#answer(socket));
    this.#server.on('error', () => {}); // a claim that cannot listen only makes the hold unknown
    this.#server.listen(`\0${CLAIM_PREFIX}${process.pid}/${++nextClaim}`);
    this.#server.unref();
  }

  /** Processes this hold is now responsible for (it is about to stop them, or adopted them). */
  add(processes: readonly ClaimedProcess[]): void {
    for (const process of processes) this.#held.set(claimKey(process), process);
  }

  /**
   * The processes that holds still holding have joined, while their guard runs: at the thaw
   * they are left to the guard (the last hold to end resumes them), not resumed.
   */
  sharedNow(): ClaimedProcess[] {
    if (!this.#guard?.alive) return [];
    const keys = new Set([...this.#joiners.values()].flat());
    return [...this.#held.values()].filter((process) => keys.has(claimKey(process)));
  }

  /** The hold is over: no more answers; its end of the joint guard's pipe closes. */
  close(): void {
    this.#server.close();
    this.#guard?.release();
    for (const socket of this.#joiners.keys()) socket.destroy();
  }

  #answer(socket: Socket): void {
    socket.setTimeout(QUESTION_TIMEOUT_MS, () => socket.destroy());
    socket.on('error', () => socket.destroy());
    let text = '';
    socket.on('data', (data) => {
      text += data;
      if (text.length > ANSWER_MAX_BYTES) return socket.destroy();
      const end = text.indexOf('\n');
      if (end < 0) return;
      const question = parseQuestion(text.slice(0, end));
      text = text.slice(end + 1);
      const held = question.processes.filter((process) => this.#held.has(claimKey(process)));
      const answer: Record<string, unknown> = {
        label: this.#label(),
        held: held.map((process) => [process.pid, process.startTime]),
      };
      if (!question.join || held.length === 0) return void socket.end(`${JSON.stringify(answer)}\n`);
      const pipe = this.#join(socket, held);
      if (pipe !== undefined) answer.pipe = pipe;
      socket.write(`${JSON.stringify(answer)}\n`);
    });
  }

  /**
   * Another hold joins `held`: guarded from now on until it and this hold have ended. Only a
   * peer of this user (or root) may join: another could not open the pipe anyway, and must not
   * make this hold hand its processes to a guard.
   */
  #join(socket: Socket, held: ClaimedProcess[]): string | undefined {
    const calls = this.#platform.native();
    if (!calls) return undefined; // no pipe without the native calls: the joiner is refused
    const peer = peerOf(socket);
    if (peer === null || (peer.uid !== 0 && peer.uid !== process.geteuid?.())) return undefined;
    try {
      this.#guard ??= JointGuard.start(this.#platform, calls);
      this.#guard.guard(held);
    } catch {
      return undefined;
    }
    socket.setTimeout(0); // open for as long as the joining hold holds
    this.#joiners.set(socket, [...(this.#joiners.get(socket) ?? []), ...held.map(claimKey)]);
    socket.once('close', () => this.#joiners.delete(socket));
    return this.#guard.path;
  }
}

/** A question or an answer: its [[pid, startTime], ...] ("ask", "join" or "held"); anything else reads as nothing. */
export function parseQuestion(text: string): { processes: ClaimedProcess[]; join: boolean } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { processes: [], join: false };
  }
  const fields = value as { held?: unknown; ask?: unknown; join?: unknown } | null;
  const join = Array.isArray(fields?.join);
  const list = fields?.held ?? fields?.ask ?? fields?.join;
  if (!Array.isArray(list)) return { processes: [], join };
  const processes = list.flatMap((entry) =>
    Array.isArray(entry) && entry.length === 2 && entry.every((n) => Number.isSafeInteger(n) && n > 0)
      ? [{ pid: entry[0] as number, startTime: entry[1] as number }]
      : [],
  );
  return { processes, join };
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
