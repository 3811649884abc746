/**
 * Talking to a running watchdog (see script.ts): one watchdog process serves any number
 * of freezes, each a session with an id of its own.
 */
import { ftruncateSync, writeSync } from 'node:fs';
import { errnoCode, type FreezeError, watchdogFailed } from '../base/errors.js';
import { closeQuietly } from '../kernel/descriptors.js';
import { line } from './script.js';

/** One freeze's view of its watchdog. */
export interface Watchdog {
  /** The watchdog's pid: keep it (and its lease timers) out of any tree being frozen. */
  readonly pid: number;
  /** Set once it is known that the watchdog could not run: the freeze is unprotected. */
  readonly failure: FreezeError | undefined;
  /**
   * Whether it lives outside the freezer's cgroups (known once it runs): then killing or
   * freezing the freezer's cgroup leaves it guarding (see cgroup-escape.ts).
   */
  readonly outsideCgroup: boolean;
  /** Tells it about processes to resume (before stopping them). */
  guardProcesses(processes: readonly { pid: number; startTime: number }[]): void;
  /** Tells it about ancestors outside the tree to continue, after the tree, if they are stopped then. */
  guardAncestors(processes: readonly { pid: number; startTime: number }[]): void;
  /** Tells it about a file to write on resume (the cgroup backends' thaw). */
  guardFileWrite(path: string, value: string): void;
  /**
   * Resume this freeze on its own once `ms` and then WATCHDOG_LEASE_GRACE_MS have passed,
   * even if this process hangs. `ms` is when the caller's own lease timer thaws.
   */
  startLease(ms: number): void;
  /** This freeze is over (thawed or rolled back): never resume it; the watchdog stays for the next one. */
  dismiss(): void;
  /** Resolves once the watchdog really runs (its exec succeeded); rejects with WATCHDOG_FAILED. */
  confirmRunning(): Promise<void>;
  /** Whether it runs, was stopped (SIGSTOP), or died. Its pid is ours while it serves: never recycled. */
  state(): WatchdogState;
  /** SIGCONT to the watchdog (after someone stopped it). */
  sendContinue(): void;
  /**
   * How many times the watchdog was continued after a stop since this freeze last asked:
   * every freeze it guards learns of each stop, whichever freeze's keeper saw it first.
   */
  takeContinues(): number;
}

export type WatchdogState = 'running' | 'stopped' | 'dead';

export interface WatchdogEnds {
  /** Its pid: a guess until posix_spawn has returned (see spawn.ts), exact from then on. */
  readonly pid: number;
  /** Our end of the control pipe (non-blocking). */
  controlFd: number;
  /** The identity file (shared with the watchdog as its fd 3). */
  identityFd: number;
  /** Releases what the spawner holds (pipes, a child_process handle) and collects the process. */
  close: () => void;
  confirmRunning: () => Promise<void>;
  failure: () => FreezeError | undefined;
  /** Whether it was moved out of the freezer's cgroups. */
  escaped: () => boolean;
  state: () => WatchdogState;
  /** Sends a signal to the watchdog's whole process group (it, its leases and their sleeps), while that is ours. */
  signalGroup: (signal: 'SIGCONT' | 'SIGKILL') => void;
}

/**
 * How much longer the watchdog's copy of a lease runs than the caller's own timer. The
 * watchdog is there for a caller that hangs; a live caller thaws at `maxHoldMs` itself and
 * tells it so. Both due at once, the watchdog's would sometimes come first (its clock is read
 * in hundredths of a second, and the caller's timer may be a little late), resuming the tree
 * under the caller's hold, which the caller then reported as broken.
 */
export const WATCHDOG_LEASE_GRACE_MS = 1000;

/** Writes all of `text` at `position` (or appends to a pipe when null). */
function writeAll(fd: number, text: string, position: number | null): number {
  let data = Buffer.from(text);
  let at = position;
  while (data.length > 0) {
    try {
      const written = writeSync(fd, data, 0, data.length, at);
      data = data.subarray(written);
      if (at !== null) at += written;
    } catch (error) {
      // The control pipe carries a few short lines per freeze, and the watchdog reads it all
      // the time: if it is full (EAGAIN) or closed (EPIPE), the watchdog is not listening.
      throw watchdogFailed(`the watchdog stopped listening (${errnoCode(error) ?? 'write failed'})`, error);
    }
  }
  return Buffer.byteLength(text);
}

/** A watchdog process and the freezes it serves. */
export class WatchdogProcess {
  readonly #ends: WatchdogEnds;
  /** Where the next identity line goes: the file is emptied whenever no freeze is left. */
  #fileEnd = 0;
  readonly #sessions = new Set<number>();
  #closed = false;
  /** Times it was found stopped and continued. */
  #continues = 0;

  constructor(ends: WatchdogEnds) {
    this.#ends = ends;
  }

  get pid(): number {
    return this.#ends.pid;
  }

  /** Whether no freeze uses it now. */
  get idle(): boolean {
    return this.#sessions.size === 0;
  }

  /** Whether a new freeze may use it: not closed, not dead, started without error. */
  usable(): boolean {
    return !this.#closed && this.#ends.failure() === undefined && this.#ends.state() !== 'dead';
  }

  confirmRunning(): Promise<void> {
    return this.#ends.confirmRunning();
  }

  /** A new freeze's view, under a fresh id. */
  open(id: number): Watchdog {
    this.#sessions.add(id);
    let open = true;
    let continuesSeen = this.#continues;
    const ends = this.#ends;
    const append = (text: string) => {
      if (open && !this.#closed) this.#fileEnd += writeAll(ends.identityFd, text, this.#fileEnd);
    };
    const control = (text: string) => {
      if (open && !this.#closed) writeAll(ends.controlFd, text, null);
    };
    return {
      get pid() {
        return ends.pid;
      },
      get failure() {
        return ends.failure();
      },
      get outsideCgroup() {
        return ends.escaped();
      },
      confirmRunning: ends.confirmRunning,
      guardProcesses(processes) {
        if (processes.length > 0)
          append(processes.map((p) => line.resumeProcess(id, p.pid, p.startTime)).join(''));
      },
      guardAncestors(processes) {
        if (processes.length > 0)
          append(processes.map((p) => line.continueIfStopped(id, p.pid, p.startTime)).join(''));
      },
      guardFileWrite(path, value) {
        append(line.writeFile(id, path, value));
      },
      startLease(ms) {
        control(line.lease(id, ms + WATCHDOG_LEASE_GRACE_MS));
      },
      state: () => (this.#closed ? 'dead' : ends.state()),
      sendContinue: () => {
        if (this.#closed) return;
        this.#continues++;
        ends.signalGroup('SIGCONT');
      },
      takeContinues: () => {
        const count = this.#continues - continuesSeen;
        continuesSeen = this.#continues;
        return count;
      },
      dismiss: () => {
        if (!open) return;
        open = false;
        this.#sessions.delete(id);
        this.#end(id);
      },
    };
  }

  /** A freeze ended: tell the watchdog, and empty its file once no freeze is left. */
  #end(id: number): void {
    if (this.#closed) return;
    const ends = this.#ends;
    if (ends.state() === 'dead') {
      this.close(); // killed: its leases may live on in its process group; end them too
      return;
    }
    try {
      writeAll(ends.controlFd, line.done(id), null);
      if (this.#sessions.size === 0) {
        // Every id in the file is done: start again from an empty file.
        ftruncateSync(ends.identityFd, 0);
        this.#fileEnd = 0;
        writeAll(ends.controlFd, line.emptied, null);
      }
    } catch {
      this.close(); // it stopped listening: the next freeze starts a new one
      return;
    }
    // If someone stopped it (even a stop still on its way), it must go on to read "D" and
    // cancel the lease: continue it whatever its state reads now.
    ends.signalGroup('SIGCONT');
  }

  /**
   * Ends the watchdog. Idle and alive, it reads EOF with nothing left to resume and exits;
   * otherwise (dead, or deaf) its process group is killed, leases included. Either way it is
   * collected, and the freezes it still served read it as dead (their keepers replace it).
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const ends = this.#ends;
    if (!this.idle || ends.state() === 'dead') ends.signalGroup('SIGKILL');
    else ends.signalGroup('SIGCONT'); // a stopped one must run to read EOF
    closeQuietly(ends.identityFd);
    ends.close();
  }
}
