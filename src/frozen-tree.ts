/** The handle a successful freeze returns: what was frozen, and the one way to thaw it. */
import type { TrackedProcess } from './wait.js';

export type FreezeBackend = 'signal' | 'cgroup-v2' | 'cgroup-v1';
export type IdentityMethod = 'pidfd' | 'starttime';

export interface FrozenProcess {
  readonly pid: number;
  readonly ppid: number;
  readonly comm: string;
  /** Clock ticks after boot: with the pid, identifies the process. */
  readonly startTime: number;
  readonly threads: number;
  /** Stopped before the freeze: thaw leaves it stopped. */
  readonly wasStopped: boolean;
  /** A task was in ptrace stop: its tracer, not treefreeze, decides when it runs. */
  readonly traced: boolean;
}

export interface FrozenTree extends Disposable, AsyncDisposable {
  readonly backend: FreezeBackend;
  readonly identity: IdentityMethod;
  readonly processes: readonly FrozenProcess[];
  /** Milliseconds from the call to every task confirmed stopped. */
  readonly durationMs: number;
  /** Discovery rounds the freeze needed (1 + rescans that found newcomers). */
  readonly rounds: number;
  /** Processes that exited while being frozen: dropped from `processes`, not errors. */
  readonly exited: number;
  /** Whether the tree is still frozen (false after thaw, or after the lease ran out). */
  readonly frozen: boolean;
  /** Resumes exactly what the freeze stopped. Idempotent. */
  thaw(): Promise<void>;
  /** Settles once the tree is thawed: by thaw()/dispose ('caller') or because maxHoldMs ran out ('lease'). */
  readonly thawed: Promise<ThawReason>;
}

export type ThawReason = 'caller' | 'lease';

export interface FrozenTreeParts {
  backend: FreezeBackend;
  identity: IdentityMethod;
  processes: TrackedProcess[];
  durationMs: number;
  rounds: number;
  exited: number;
  /** Resumes what was stopped; called at most once. */
  resume: () => Promise<void> | void;
}

export function snapshot(process: TrackedProcess): FrozenProcess {
  return Object.freeze({
    pid: process.pid,
    ppid: process.ppid,
    comm: process.comm,
    startTime: process.startTime,
    threads: process.threads,
    wasStopped: process.wasStopped,
    traced: process.traced,
  });
}

export class FrozenTreeHandle implements FrozenTree {
  readonly backend: FreezeBackend;
  readonly identity: IdentityMethod;
  readonly processes: readonly FrozenProcess[];
  readonly durationMs: number;
  readonly rounds: number;
  readonly exited: number;
  readonly thawed: Promise<ThawReason>;
  #resume: FrozenTreeParts['resume'];
  #thawing: Promise<void> | undefined;
  #settleThawed!: (reason: ThawReason) => void;

  constructor(parts: FrozenTreeParts) {
    this.backend = parts.backend;
    this.identity = parts.identity;
    this.processes = Object.freeze(parts.processes.map(snapshot));
    this.durationMs = parts.durationMs;
    this.rounds = parts.rounds;
    this.exited = parts.exited;
    this.#resume = parts.resume;
    this.thawed = new Promise((resolve) => {
      this.#settleThawed = resolve;
    });
  }

  get frozen(): boolean {
    return this.#thawing === undefined;
  }

  thaw(): Promise<void> {
    return this.thawBecause('caller');
  }

  /** Thaws (once) and records why. */
  thawBecause(reason: ThawReason): Promise<void> {
    // An async IIFE runs the resume synchronously up to its first await, so a
    // synchronous `using` block has really resumed the tree when it ends.
    this.#thawing ??= (async () => {
      try {
        await this.#resume();
      } finally {
        this.#settleThawed(reason);
      }
    })();
    return this.#thawing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.thaw();
  }

  /** Synchronous dispose: the signal backend resumes synchronously, so `using` thaws at once. */
  [Symbol.dispose](): void {
    void this.thaw();
  }
}
