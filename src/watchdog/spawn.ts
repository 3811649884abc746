/**
 * Starting a watchdog (see script.ts for what it does). Why sh and not a second Node: starting Node costs ~40 ms here, dash ~1 ms, and the
 * watchdog must exist before the first SIGSTOP. With koffi, posix_spawn runs on libuv's
 * thread pool and the freeze only waits until the child process exists (well under a
 * millisecond), not for its exec: if the freezer dies meanwhile, the child still
 * finishes exec, reads EOF and resumes.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { openSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { asFreezeError, type FreezeError, watchdogFailed } from '../base/errors.js';
import { setLongTimeout } from '../base/timers.js';
import { signalChild } from '../kernel/child-signal.js';
import { closeQuietly } from '../kernel/descriptors.js';
import type { Native } from '../kernel/native.js';
import type { Platform } from '../kernel/platform.js';
import { readProcessStat } from '../kernel/procfs.js';
import { moveToRootCgroups } from './cgroup-escape.js';
import { WatchdogProcess, type WatchdogState } from './channel.js';
import {
  forgetWatchdog,
  isOwnWatchdog,
  nonMainThreadChildren,
  reapLater,
  registerWatchdog,
} from './own-watchdogs.js';
import { WATCHDOG_NAME, WATCHDOG_SCRIPT } from './script.js';

/** Rejects with WATCHDOG_FAILED if `promise` has not settled by `deadline` (a performance.now() time). */
export function beforeDeadline<T>(promise: Promise<T>, deadline: number): Promise<T> {
  let timer: { clear(): void } | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setLongTimeout(
      () =>
        reject(
          watchdogFailed(
            'the watchdog did not start before the deadline (is the thread pool busy, e.g. with blocked file reads?)',
          ),
        ),
      deadline - performance.now(),
    );
  });
  return Promise.race([promise, late]).finally(() => timer?.clear());
}

/** The identity file: anonymous, so nothing is left behind whatever happens to either process. */
export function openIdentityFile(calls: Native | null): number {
  const fd = calls ? calls.memfd(WATCHDOG_NAME) : -1;
  if (fd >= 0) return fd;
  const path = join(tmpdir(), `${WATCHDOG_NAME}-${process.pid}-${Math.random().toString(36).slice(2)}`);
  try {
    const file = openSync(path, 'wx+', 0o600); // Node opens it close-on-exec
    unlinkSync(path);
    return file;
  } catch (error) {
    throw watchdogFailed(`cannot create the watchdog's identity file in ${tmpdir()}`, error);
  }
}

/**
 * @internal
 * Starts a watchdog process (see shared.ts for how freezes share one); resolves once its
 * process exists, never later than `deadline`.
 * `exactPid`: wait for the exec, so the pid is exact (needed when the watchdog could be
 * inside the tree being frozen: our own descendants).
 */
export async function startWatchdog(
  platform: Platform,
  deadline: number,
  exactPid = false,
): Promise<WatchdogProcess> {
  const calls = platform.native();
  const identityFd = openIdentityFile(calls);
  try {
    return calls
      ? await startWithPosixSpawn(platform.watchdogShell, calls, identityFd, deadline, exactPid)
      : startWithChildProcess(platform.watchdogShell, identityFd);
  } catch (error) {
    closeQuietly(identityFd);
    throw error;
  }
}

/** What is known of a posix_spawn under way: the child's pid once it returned, or why it failed. */
interface SpawnProgress {
  pid?: number;
  failure?: FreezeError;
  /** Moved out of the freezer's cgroups (cgroup-escape.ts), once its exact pid was known. */
  escaped?: boolean;
}

async function startWithPosixSpawn(
  shell: string,
  calls: Native,
  identityFd: number,
  deadline: number,
  exactPid: boolean,
): Promise<WatchdogProcess> {
  const [controlRead, controlWrite] = calls.pipe();
  const control = {
    readFd: controlRead,
    closeRead: closeOnce(controlRead),
    closeWrite: closeOnce(controlWrite),
  };
  // Closing our end makes a watchdog that is (or will be) running see EOF; its identity
  // file is empty or dismissed, so it exits; it is reaped once its exec is done.
  const abandon = () => {
    control.closeWrite();
    void spawned.then(
      (pid) => reapLater(pid, calls),
      () => {},
    );
  };
  // Children that other threads (a worker thread, a module loader) already have: not ours.
  const before = exactPid ? new Set<number>() : nonMainThreadChildren();
  const progress: SpawnProgress = {};
  const spawned = spawnWatchdog(shell, calls, identityFd, control, progress);
  let guessed: number;
  try {
    guessed = exactPid
      ? await beforeDeadline(spawned, deadline)
      : await childPid(spawned, progress, before, deadline);
  } catch (error) {
    abandon();
    throw error;
  }
  // Exact once posix_spawn has returned: a guess may be the twin's child, spawned at the same moment.
  const pid = () => progress.pid ?? guessed;
  void spawned.then(
    () => guesses.delete(guessed),
    () => guesses.delete(guessed),
  );
  return new WatchdogProcess({
    get pid() {
      return pid();
    },
    controlFd: controlWrite,
    identityFd,
    close: abandon,
    confirmRunning: async () => {
      await beforeDeadline(spawned, deadline);
    },
    failure: () => progress.failure,
    escaped: () => progress.escaped === true,
    // Never reaped before it is dismissed, so its pid (and its group id) stay ours. Unless
    // its exec failed: the pid was then a guess at a child that posix_spawn reaped itself, and
    // may be anyone's by now.
    state: () => (progress.failure ? 'dead' : stateFromStat(pid())),
    signalGroup: (signal) => {
      if (!progress.failure) signalGroupQuietly(pid(), signal);
    },
  });
}

/**
 * posix_spawn of the watchdog with the pipe's read end as its stdin, recorded in `progress` as it
 * settles. Observed through `progress` and confirmRunning(): never an unhandled rejection.
 */
function spawnWatchdog(
  shell: string,
  calls: Native,
  identityFd: number,
  control: { readFd: number; closeRead: () => void; closeWrite: () => void },
  progress: SpawnProgress,
): Promise<number> {
  const argv = ['sh', '-c', WATCHDOG_SCRIPT, WATCHDOG_NAME];
  const spawned = calls.spawnDetached(shell, argv, { 0: control.readFd, 3: identityFd }).then(
    (pid) => {
      progress.pid = pid;
      registerWatchdog(pid);
      progress.escaped = moveToRootCgroups(pid);
      control.closeRead();
      return pid;
    },
    (error: unknown) => {
      control.closeRead();
      control.closeWrite(); // nobody will ever read it
      progress.failure = asFreezeError(error, (cause) =>
        watchdogFailed(`could not start the watchdog: ${(cause as Error).message}`, cause),
      );
      throw progress.failure;
    },
  );
  spawned.catch(() => {});
  return spawned;
}

/** Children guessed by spawns still under way: two watchdogs started at once never guess the same child. */
const guesses = new Set<number>();

/**
 * Waits until the spawned child exists (not until its exec is done): its pid, from posix_spawn
 * or else a new child among `before`'s that no other spawn under way has taken. The pid seen
 * this way is a good guess, not a proof (the twin's spawn may have made the child taken):
 * the watchdog's pid becomes exact once posix_spawn returns.
 */
async function childPid(
  spawned: Promise<number>,
  progress: SpawnProgress,
  before: ReadonlySet<number>,
  deadline: number,
): Promise<number> {
  const spinUntil = performance.now() + 2; // then back off: a stuck thread pool must not cost a CPU
  for (;;) {
    if (progress.failure) throw progress.failure;
    if (progress.pid !== undefined) return progress.pid;
    let pid: number | undefined;
    for (const child of nonMainThreadChildren()) {
      if (!before.has(child) && !isOwnWatchdog(child) && !guesses.has(child)) pid = child;
    }
    if (pid !== undefined) {
      guesses.add(pid);
      return pid;
    }
    if (performance.now() >= deadline) await beforeDeadline(spawned, deadline); // rejects
    await new Promise((resolve) =>
      performance.now() < spinUntil ? setImmediate(resolve) : setTimeout(resolve, 1),
    );
  }
}

/**
 * A closer for `fd` that closes it once, whoever calls it first. A second close of the same
 * number could close whatever file took the number meanwhile: a pidfd of the tree being frozen
 * (whose SIGCONT then failed: a rejected freeze left a process stopped, 6 times in 200).
 */
function closeOnce(fd: number): () => void {
  let open = true;
  return () => {
    if (!open) return;
    open = false;
    closeQuietly(fd);
  };
}

function stateFromStat(pid: number): WatchdogState {
  const stat = readProcessStat(pid);
  if (stat === null || stat.state === 'Z' || stat.state === 'X') return 'dead';
  return stat.state === 'T' || stat.state === 't' ? 'stopped' : 'running';
}

/** Signals the process group `group` leads; never group 0 or 1 (kill(0) is our own group, kill(-1) everyone). */
function signalGroupQuietly(group: number, signal: NodeJS.Signals): void {
  if (!Number.isSafeInteger(group) || group <= 1) return;
  try {
    process.kill(-group, signal);
  } catch {
    // gone
  }
}

/** Portable start (no koffi): child_process.spawn, which returns after the exec. */
function startWithChildProcess(shell: string, identityFd: number): WatchdogProcess {
  let failure: FreezeError | undefined;
  let child: ChildProcess;
  try {
    child = spawn(shell, ['-c', WATCHDOG_SCRIPT, WATCHDOG_NAME], {
      detached: true,
      stdio: ['pipe', 'ignore', 'ignore', identityFd],
    });
  } catch (error) {
    throw watchdogFailed(`could not start the watchdog: ${(error as Error).message}`, error);
  }
  // Before any check: spawn reports a missing shell by an 'error' event, later.
  child.once('error', (error) => {
    failure = watchdogFailed(`could not start the watchdog: ${error.message}`, error);
  });
  const controlFd = (child.stdin as unknown as { _handle?: { fd?: number } } | null)?._handle?.fd;
  if (child.pid === undefined || controlFd === undefined || controlFd < 0) {
    signalChild(child, 'SIGKILL'); // never child.kill(): a failed spawn's kill() is kill(0)
    throw watchdogFailed(`could not start the watchdog (${shell} did not start)`);
  }
  const pid = child.pid;
  registerWatchdog(pid);
  const escaped = moveToRootCgroups(pid);
  child.once('exit', () => forgetWatchdog(pid));
  child.unref();
  (child.stdin as unknown as { unref?: () => void }).unref?.();
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  return new WatchdogProcess({
    pid,
    controlFd,
    identityFd,
    close: () => child.stdin?.destroy(),
    confirmRunning: async () => {
      if (failure) throw failure;
    },
    failure: () => failure,
    escaped: () => escaped,
    // Node reaps it as soon as it exits: its pid is only ours until then.
    state: () => (exited() ? 'dead' : stateFromStat(pid)),
    signalGroup: (signal) => {
      // Once reaped, its group id could be someone else's: then the lease timer is left
      // to end by itself (it checks identities before resuming anything).
      if (!exited()) signalGroupQuietly(pid, signal);
    },
  });
}
