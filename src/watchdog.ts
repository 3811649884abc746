/**
 * The watchdog: a dead-man switch for a freeze. A tiny /bin/sh process, in its own
 * session, reads what to resume from a pipe whose write end only the freezing
 * process holds. When that process dies — by any means, SIGKILL included — the
 * kernel closes the write end, `read` sees EOF, and the watchdog resumes exactly
 * what it was told, checking each process's start time right before SIGCONT. The
 * lease (maxHoldMs) fires through the same code. After a normal thaw it is told
 * "done" and exits without touching anything.
 *
 * Why sh and not a second Node: starting Node costs ~40 ms here, dash ~1 ms, and
 * the watchdog must exist before the first SIGSTOP. With koffi, posix_spawn runs
 * on libuv's thread pool and the freeze only waits until the child process exists
 * (well under a millisecond), not for its exec: if the freezer dies meanwhile, the
 * child still finishes exec, reads EOF and resumes. Backend-neutral: "W" lines
 * name a file and a value to write (a cgroup's cgroup.freeze or freezer.state).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, readdirSync, writeSync } from 'node:fs';
import { FreezeError } from './errors.js';
import { native } from './native.js';
import { readProcFile } from './procfs.js';

// Two channels. fd 3 carries what to resume, one line each: "P <pid> <starttime>"
// (resume this process), "W <value> <path>" (write value to path), and "E" once the
// freeze is complete. The watchdog does not read it until it must act: the kernel's
// pipe buffer holds it, and the freeze does not compete with a shell parsing it
// (dash reads a pipe one byte per system call). stdin carries control lines:
// "L <seconds>" starts the lease, "D" means thawed normally (exit quietly).
// EOF on stdin without "D" means the freezer died: resume everything and exit.
const WATCHDOG_SCRIPT = `
trap '' INT HUP
lease=''
resume() {
  sed '/^E$/q' <&3 | while IFS=' ' read -r op a b; do
    case $op in
      P)
        stat=''
        { while IFS= read -r line || [ -n "$line" ]; do stat="$stat$line "; done; } < /proc/$a/stat || continue
        set -- \${stat##*\\) }
        [ "\${20}" = "$b" ] && kill -CONT "$a" ;;
      W) [ -n "$b" ] && printf '%s\\n' "$a" > "$b" ;;
    esac
  done
  [ -n "$lease" ] && kill "$lease"
}
trap 'resume; exit 0' USR1 TERM
while IFS=' ' read -r op a; do
  case $op in
    L) (trap 'kill $s; exit 0' TERM; sleep "$a" & s=$!; wait $s && kill -USR1 $$) & lease=$! ;;
    D) [ -n "$lease" ] && kill "$lease"; exit 0 ;;
  esac
done
resume
`;

let shellPath = '/bin/sh';

/** Internal, for tests: the shell the watchdog runs in (a missing one exercises WATCHDOG_FAILED). */
export function setWatchdogShell(path: string): void {
  shellPath = path;
}

/** fs.pipe-max-size's default: room for ~70,000 identities before a reader is needed. */
const IDENTITY_PIPE_BYTES = 1 << 20;

export interface Watchdog {
  /** The watchdog's pid: keep it (and its lease timer child) out of any tree being frozen. */
  readonly pid: number;
  /** Tell it about processes to resume (before stopping them). */
  guard(processes: readonly { pid: number; startTime: number }[]): void;
  /** Tell it about a file to write on resume (cgroup backends). */
  guardWrite(path: string, value: string): void;
  /** The freeze is complete: nothing more to guard (lets a triggered watchdog stop reading). */
  complete(): void;
  /** Resume on its own after `ms`, even if this process hangs. */
  lease(ms: number): void;
  /** The freeze is over (thawed or rolled back): exit quietly. */
  release(): void;
  /** Resolves once the watchdog really runs (its exec succeeded); rejects with WATCHDOG_FAILED. */
  ready(): Promise<void>;
}

const sleepCell = new Int32Array(new SharedArrayBuffer(4));

/** Writes all of `text` to a non-blocking pipe, waiting briefly when it is full. */
function writeAll(fd: number, text: string): void {
  let data = Buffer.from(text);
  const until = performance.now() + 5000;
  while (data.length > 0) {
    try {
      data = data.subarray(writeSync(fd, data));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'EAGAIN' || performance.now() > until) {
        throw new FreezeError(
          'WATCHDOG_FAILED',
          `the watchdog stopped listening (${code}); the freeze is unprotected`,
          [],
        );
      }
      Atomics.wait(sleepCell, 0, 0, 1); // the pipe is full: let the watchdog read
    }
  }
}

/** Exact pids of this process's watchdogs that may still be its children (until reaped or exited). */
const ownWatchdogs = new Set<number>();

/** Pids of this process's watchdogs that may still run: never part of a tree being frozen. */
export function ownWatchdogPids(): number[] {
  return [...ownWatchdogs];
}

/** Children of this process's non-main threads: where a thread-pool posix_spawn child appears. */
function nonMainThreadChildren(): Set<number> {
  const children = new Set<number>();
  for (const tid of readdirSync('/proc/self/task')) {
    if (Number(tid) === process.pid) continue;
    for (const pid of (readProcFile(`/proc/self/task/${tid}/children`) ?? '').split(' ')) {
      if (pid.trim() !== '') children.add(Number(pid));
    }
  }
  return children;
}

function secondsText(ms: number): string {
  return (ms / 1000).toFixed(3);
}

function makeWatchdog(
  pid: number,
  controlFd: number,
  dataFd: number,
  close: () => void,
  ready: () => Promise<void>,
): Watchdog {
  let open = true;
  const send = (fd: number, text: string) => {
    if (open) writeAll(fd, text);
  };
  return {
    pid,
    ready,
    guard(processes) {
      if (processes.length > 0) send(dataFd, processes.map((p) => `P ${p.pid} ${p.startTime}\n`).join(''));
    },
    guardWrite(path, value) {
      send(dataFd, `W ${value} ${path}\n`);
    },
    complete() {
      send(dataFd, 'E\n');
    },
    lease(ms) {
      send(controlFd, `L ${secondsText(ms)}\n`);
    },
    release() {
      if (!open) return;
      try {
        writeAll(controlFd, 'D\n');
      } catch {
        // it is gone already: nothing to tell
      }
      open = false;
      close();
    },
  };
}

/** Rejects with WATCHDOG_FAILED if `promise` has not settled by `deadline` (a performance.now() time). */
function beforeDeadline<T>(promise: Promise<T>, deadline: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new FreezeError(
            'WATCHDOG_FAILED',
            'the watchdog did not start before the deadline (is the thread pool busy, e.g. with blocked file reads?)',
          ),
        ),
      Math.max(0, deadline - performance.now()),
    );
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/**
 * Starts a watchdog; resolves once its process exists, never later than `deadline`.
 * `onLost` is called if it turns out it could not run (the freeze must then fail).
 * `exactPid`: wait for the exec, so the pid is exact (needed when the watchdog could be
 * inside the tree being frozen: our own descendants).
 */
export async function startWatchdog(
  onLost: (error: FreezeError) => void,
  deadline: number,
  exactPid = false,
): Promise<Watchdog> {
  const calls = native();
  if (!calls) return startWithChildProcess(onLost);
  const [controlRead, controlWrite] = calls.pipe();
  const [dataRead, dataWrite] = calls.pipe(IDENTITY_PIPE_BYTES);
  const closeReadEnds = () => {
    closeQuietly(controlRead);
    closeQuietly(dataRead);
  };
  // Closing our ends makes a watchdog that is (or will be) running see EOF with nothing
  // to resume, so it exits; it is reaped once its exec is done.
  const abandon = () => {
    closeQuietly(controlWrite);
    closeQuietly(dataWrite);
    void spawned.then(reapLater, () => {});
  };
  // Children that other threads (a worker thread, a module loader) already have: not ours.
  const before = exactPid ? new Set<number>() : nonMainThreadChildren();
  let spawnedPid: number | undefined;
  let failed: FreezeError | undefined;
  const argv = ['sh', '-c', WATCHDOG_SCRIPT, 'treefreeze-watchdog'];
  const spawned: Promise<number> = calls.spawnDetached(shellPath, argv, { 0: controlRead, 3: dataRead }).then(
    (pid) => {
      spawnedPid = pid;
      ownWatchdogs.add(pid);
      closeReadEnds();
      return pid;
    },
    (error: unknown) => {
      closeReadEnds();
      closeQuietly(controlWrite); // nobody will ever read them
      closeQuietly(dataWrite);
      failed = new FreezeError(
        'WATCHDOG_FAILED',
        `could not start the watchdog: ${(error as Error).message}`,
      );
      onLost(failed);
      throw failed;
    },
  );
  spawned.catch(() => {}); // observed through onLost and ready(); never an unhandled rejection
  // Wait until the child exists (not until its exec is done). The pid seen this way is a
  // good guess, not a proof (another thread may spawn at the same moment).
  let pid: number | undefined;
  const spinUntil = performance.now() + 2; // then back off: a stuck thread pool must not cost a CPU
  try {
    if (exactPid) pid = await beforeDeadline(spawned, deadline);
    while (pid === undefined) {
      if (failed) throw failed;
      if (spawnedPid !== undefined) pid = spawnedPid;
      else {
        for (const child of nonMainThreadChildren())
          if (!before.has(child) && !ownWatchdogs.has(child)) pid = child;
      }
      if (pid === undefined) {
        if (performance.now() >= deadline) await beforeDeadline(spawned, deadline); // rejects
        await new Promise((resolve) =>
          performance.now() < spinUntil ? setImmediate(resolve) : setTimeout(resolve, 1),
        );
      }
    }
  } catch (error) {
    abandon();
    throw error;
  }
  return makeWatchdog(pid, controlWrite, dataWrite, abandon, async () => {
    await beforeDeadline(spawned, deadline);
  });
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}

/** The watchdog exits right after "D"; collect its exit status without blocking or holding the event loop. */
function reapLater(pid: number): void {
  const calls = native();
  if (!calls) return;
  const delays = [1, 5, 20, 100, 500, 2000];
  const attempt = (index: number) => {
    if (calls.reap(pid) !== 0) {
      ownWatchdogs.delete(pid); // reaped (or not ours any more): its pid may be reused
      return;
    }
    const delay = delays[index];
    if (delay !== undefined) setTimeout(() => attempt(index + 1), delay).unref();
  };
  setTimeout(() => attempt(0), 0).unref();
}

/** Portable start (no koffi): child_process.spawn, which returns after the exec. */
function startWithChildProcess(onLost: (error: FreezeError) => void): Watchdog {
  let child: ChildProcess;
  try {
    child = spawn(shellPath, ['-c', WATCHDOG_SCRIPT, 'treefreeze-watchdog'], {
      detached: true,
      stdio: ['pipe', 'ignore', 'ignore', 'pipe'],
    });
  } catch (error) {
    throw new FreezeError('WATCHDOG_FAILED', `could not start the watchdog: ${(error as Error).message}`);
  }
  // Before any check: spawn reports a missing shell by an 'error' event, later.
  child.once('error', (error) =>
    onLost(new FreezeError('WATCHDOG_FAILED', `watchdog error: ${error.message}`)),
  );
  const fdOf = (stream: unknown) => (stream as { _handle?: { fd?: number } } | null)?._handle?.fd;
  const controlFd = fdOf(child.stdin);
  const dataFd = fdOf(child.stdio[3]);
  if (
    child.pid === undefined ||
    controlFd === undefined ||
    dataFd === undefined ||
    controlFd < 0 ||
    dataFd < 0
  ) {
    child.kill('SIGKILL');
    throw new FreezeError('WATCHDOG_FAILED', `could not start the watchdog (${shellPath} did not start)`);
  }
  ownWatchdogs.add(child.pid);
  child.once('exit', () => ownWatchdogs.delete(child.pid as number));
  child.unref();
  for (const stream of [child.stdin, child.stdio[3]]) (stream as unknown as { unref?: () => void }).unref?.();
  return makeWatchdog(
    child.pid,
    controlFd,
    dataFd,
    () => {
      child.stdin?.destroy();
      (child.stdio[3] as unknown as { destroy?: () => void }).destroy?.();
    },
    async () => {}, // child_process.spawn returns after the exec
  );
}
