/** Talking to a running watchdog: the identity file and the control pipe (see script.ts). */
import { closeSync, writeSync } from 'node:fs';
import { errnoCode, type FreezeError, watchdogFailed } from '../errors.js';
import { line } from './script.js';

export interface Watchdog {
  /** The watchdog's pid: keep it (and its lease timer child) out of any tree being frozen. */
  readonly pid: number;
  /** Set once it is known that the watchdog could not run: the freeze is unprotected. */
  readonly failure: FreezeError | undefined;
  /** Tells it about processes to resume (before stopping them). */
  guardProcesses(processes: readonly { pid: number; startTime: number }[]): void;
  /** Tells it about ancestors outside the tree to continue, after the tree, if they are stopped then. */
  guardAncestors(processes: readonly { pid: number; startTime: number }[]): void;
  /** Tells it about a file to write on resume (the cgroup backends' thaw). */
  guardFileWrite(path: string, value: string): void;
  /** Resume on its own after `ms`, even if this process hangs. */
  startLease(ms: number): void;
  /** The freeze is over (thawed or rolled back): it exits without resuming anything. */
  dismiss(): void;
  /** Resolves once the watchdog really runs (its exec succeeded); rejects with WATCHDOG_FAILED. */
  confirmRunning(): Promise<void>;
  /** Whether it runs, was stopped (SIGSTOP), or died. Its pid is ours until dismissed: never recycled. */
  state(): WatchdogState;
  /** SIGCONT to the watchdog (after someone stopped it). */
  sendContinue(): void;
}

export type WatchdogState = 'running' | 'stopped' | 'dead';

export interface WatchdogEnds {
  pid: number;
  /** Our end of the control pipe (non-blocking). */
  controlFd: number;
  /** The identity file (shared with the watchdog as its fd 3). */
  identityFd: number;
  /** Releases what the spawner holds (pipes, a child_process handle). */
  close: () => void;
  confirmRunning: () => Promise<void>;
  failure: () => FreezeError | undefined;
  state: () => WatchdogState;
  /** Sends a signal to the watchdog's whole process group (it, its lease subshell and sleep), while that is ours. */
  signalGroup: (signal: 'SIGCONT' | 'SIGKILL') => void;
}

/** Writes all of `text`; a full or broken control pipe means the watchdog stopped listening. */
function writeAll(fd: number, text: string): void {
  let data = Buffer.from(text);
  while (data.length > 0) {
    try {
      data = data.subarray(writeSync(fd, data));
    } catch (error) {
      // The control pipe carries two short lines per freeze, and the watchdog reads it all
      // the time: if it is full (EAGAIN) or closed (EPIPE), the watchdog is not listening.
      throw watchdogFailed(`the watchdog stopped listening (${errnoCode(error) ?? 'write failed'})`, error);
    }
  }
}

export function watchdogChannel(ends: WatchdogEnds): Watchdog {
  let open = true;
  const send = (fd: number, text: string) => {
    if (open) writeAll(fd, text);
  };
  return {
    pid: ends.pid,
    get failure() {
      return ends.failure();
    },
    confirmRunning: ends.confirmRunning,
    guardProcesses(processes) {
      if (processes.length > 0)
        send(ends.identityFd, processes.map((p) => line.resumeProcess(p.pid, p.startTime)).join(''));
    },
    guardAncestors(processes) {
      if (processes.length > 0)
        send(ends.identityFd, processes.map((p) => line.continueIfStopped(p.pid, p.startTime)).join(''));
    },
    guardFileWrite(path, value) {
      send(ends.identityFd, line.writeFile(path, value));
    },
    startLease(ms) {
      send(ends.controlFd, line.lease(ms));
    },
    state: ends.state,
    sendContinue: () => ends.signalGroup('SIGCONT'),
    dismiss() {
      if (!open) return;
      const state = ends.state();
      if (state === 'dead') {
        // Killed: its lease timer may live on in its process group; end it too.
        ends.signalGroup('SIGKILL');
      } else {
        try {
          writeAll(ends.controlFd, line.done);
        } catch {
          // it stopped listening: it is ended below
        }
        // If someone stopped it (even a stop still on its way), it must go on to read "done"
        // and exit: continue it whatever its state reads now.
        ends.signalGroup('SIGCONT');
      }
      open = false;
      closeQuietly(ends.identityFd);
      ends.close();
    },
  };
}

export function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}
