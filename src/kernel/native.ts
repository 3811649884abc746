/**
 * Optional native calls through koffi (an optional dependency): pidfd_open and
 * pidfd_send_signal for exact process identity, and posix_spawn for a cheap
 * watchdog start. Everything here degrades to `null` when koffi or a call is
 * unavailable; callers fall back to portable code.
 */

import { createRequire } from 'node:module';
import { FreezeError } from '../base/errors.js';
import { closeQuietly } from './descriptors.js';

const SYS_PIDFD_SEND_SIGNAL = 424; // the same number on every architecture since Linux 5.1
const SYS_PIDFD_OPEN = 434;
const O_CLOEXEC = 0o2000000;
const O_NONBLOCK = 0o4000;
const F_GETFL = 3;
const F_SETFL = 4;
const WNOHANG = 1;
const MFD_CLOEXEC = 1;
const POSIX_SPAWN_SETSID = 0x80;
const POLLIN = 1;
const POLLFD_SIZE = 8; // struct pollfd { int fd; short events; short revents; }
const SOL_SOCKET = 1;
const SO_PEERCRED = 17;
const UCRED_SIZE = 12; // struct ucred { pid_t pid; uid_t uid; gid_t gid; }

export interface Native {
  /** A pidfd for `pid`, or -errno. */
  pidfdOpen(pid: number): number;
  /** 0, or -errno (ESRCH = 3 when the process has exited). */
  pidfdSendSignal(pidfd: number, signal: number): number;
  /** [read, write], both close-on-exec; the write end is non-blocking. */
  pipe(): [number, number];
  /** An anonymous in-memory file (close-on-exec), or -errno. */
  memfd(name: string): number;
  /** Starts `argv` in a new session with `fds[i]` as its descriptor i (stdout/stderr on /dev/null). */
  spawnDetached(path: string, argv: string[], fds: { [target: number]: number }): Promise<number>;
  /** Reaps a child without blocking: its pid when it has exited, 0 while it runs, -1 if not ours. */
  reap(pid: number): number;
  /**
   * How many of these pidfds report their process exited (or are not open), with one poll()
   * and no waiting; -errno on failure. A pidfd turns readable when its process has exited.
   */
  countExited(pidfds: readonly number[]): number;
  /** The kernel's record of who is at the other end of a connected unix socket (SO_PEERCRED), or null. */
  peerCredentials(socketFd: number): PeerCredentials | null;
}

/** Filled in by the kernel at connect() or listen(): the peer cannot choose them. */
export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

let loaded: Native | null | undefined;

/** The native calls, loaded once; null where koffi or the kernel cannot provide them. */
export function native(): Native | null {
  if (loaded === undefined) loaded = load();
  return loaded;
}

/** The part of koffi used here: it is loaded untyped, being an optional dependency. */
interface Koffi {
  load(path: string): { func(declaration: string): ForeignFunction };
  errno(): number;
}
type ForeignFunction = ((...args: unknown[]) => number) & { async(...args: unknown[]): void };

function load(): Native | null {
  if (process.platform !== 'linux') return null;
  try {
    // A synchronous require keeps freezeTree free of a first-call await; koffi is CommonJS.
    const libc = bindLibc(createRequire(import.meta.url)('koffi'));
    const probe = libc.result(libc.syscall2(SYS_PIDFD_OPEN, process.pid, 0));
    if (probe < 0) return null; // kernel older than 5.3, or seccomp forbids it
    closeQuietly(probe);
    return nativeCalls(libc);
  } catch {
    return null; // koffi not installed or cannot load here
  }
}

/** The libc functions the native calls are made of; `result` turns a failure into -errno. */
function bindLibc(koffi: Koffi) {
  const libc = koffi.load('libc.so.6');
  const errno = (): number => koffi.errno();
  return {
    syscall2: libc.func('long syscall(long nr, int a, unsigned int b)'),
    syscall4: libc.func('long syscall(long nr, int a, int b, void *c, unsigned int d)'),
    pipe2: libc.func('int pipe2(_Out_ int *fds, int flags)'),
    fcntl: libc.func('int fcntl(int fd, int cmd, int arg)'),
    memfdCreate: libc.func('int memfd_create(const char *name, unsigned int flags)'),
    waitpid: libc.func('int waitpid(int pid, _Out_ int *status, int options)'),
    faInit: libc.func('int posix_spawn_file_actions_init(void *fa)'),
    faDup2: libc.func('int posix_spawn_file_actions_adddup2(void *fa, int fd, int newfd)'),
    faOpen: libc.func(
      'int posix_spawn_file_actions_addopen(void *fa, int fd, const char *path, int oflag, int mode)',
    ),
    faDestroy: libc.func('int posix_spawn_file_actions_destroy(void *fa)'),
    attrInit: libc.func('int posix_spawnattr_init(void *attr)'),
    attrSetFlags: libc.func('int posix_spawnattr_setflags(void *attr, short flags)'),
    attrDestroy: libc.func('int posix_spawnattr_destroy(void *attr)'),
    posixSpawn: libc.func(
      'int posix_spawn(_Out_ int *pid, const char *path, void *fa, void *attr, const char **argv, const char **envp)',
    ),
    poll: libc.func('int poll(void *fds, unsigned long nfds, int timeout)'),
    getsockopt: libc.func(
      'int getsockopt(int fd, int level, int name, _Out_ void *value, _Inout_ uint32_t *length)',
    ),
    errno,
    result: (rc: number): number => (rc < 0 ? -errno() : rc),
  };
}
type Libc = ReturnType<typeof bindLibc>;

/** The native calls, made of `libc`'s functions. */
function nativeCalls(libc: Libc): Native {
  const { syscall2, syscall4, pipe2, fcntl, memfdCreate, waitpid, poll, getsockopt, errno, result } = libc;
  return {
    pidfdOpen: (pid) => result(syscall2(SYS_PIDFD_OPEN, pid, 0)),
    pidfdSendSignal: (pidfd, signal) => result(syscall4(SYS_PIDFD_SEND_SIGNAL, pidfd, signal, null, 0)),
    pipe() {
      const fds = new Int32Array(2);
      if (pipe2(fds, O_CLOEXEC) !== 0) {
        throw new FreezeError('WATCHDOG_FAILED', `cannot create the watchdog's pipe: errno ${errno()}`);
      }
      const [readEnd, writeEnd] = [fds[0] as number, fds[1] as number];
      fcntl(writeEnd, F_SETFL, fcntl(writeEnd, F_GETFL, 0) | O_NONBLOCK);
      return [readEnd, writeEnd];
    },
    memfd: (name) => result(memfdCreate(name, MFD_CLOEXEC)),
    spawnDetached: (path, argv, fds) => spawnDetached(libc, path, argv, fds),
    reap(pid) {
      const status = new Int32Array(1);
      return waitpid(pid, status, WNOHANG);
    },
    countExited(pidfds) {
      if (pidfds.length === 0) return 0;
      const fds = Buffer.alloc(pidfds.length * POLLFD_SIZE);
      for (const [i, fd] of pidfds.entries()) {
        fds.writeInt32LE(fd, i * POLLFD_SIZE);
        fds.writeInt16LE(POLLIN, i * POLLFD_SIZE + 4);
      }
      // Every revents that is not 0 counts: POLLIN (exited), POLLNVAL (not open), POLLERR.
      return result(poll(fds, pidfds.length, 0));
    },
    peerCredentials(socketFd) {
      const value = Buffer.alloc(UCRED_SIZE);
      const length = new Uint32Array([UCRED_SIZE]);
      if (getsockopt(socketFd, SOL_SOCKET, SO_PEERCRED, value, length) !== 0) return null;
      return { pid: value.readInt32LE(0), uid: value.readUInt32LE(4), gid: value.readUInt32LE(8) };
    },
  };
}

/** Native['spawnDetached']: posix_spawn in a new session, off the main thread. */
function spawnDetached(
  libc: Libc,
  path: string,
  argv: string[],
  fds: { [target: number]: number },
): Promise<number> {
  const { faInit, faDup2, faOpen, faDestroy, attrInit, attrSetFlags, attrDestroy, posixSpawn } = libc;
  const actions = Buffer.alloc(256); // posix_spawn_file_actions_t is 80 bytes on glibc
  const attributes = Buffer.alloc(512); // posix_spawnattr_t is 336
  faInit(actions);
  attrInit(attributes);
  attrSetFlags(attributes, POSIX_SPAWN_SETSID);
  faOpen(actions, 1, '/dev/null', 1, 0);
  faDup2(actions, 1, 2);
  for (const [target, source] of Object.entries(fds)) faDup2(actions, source, Number(target));
  const pid = new Int32Array(1);
  // A minimal environment: converting all of process.env costs more than the rest of the call.
  const env = [`PATH=${process.env.PATH ?? '/usr/bin:/bin'}`];
  // Runs on libuv's thread pool: posix_spawn blocks its caller until exec, and
  // exec is slow (milliseconds); the freezing thread goes on meanwhile.
  return new Promise((resolve, reject) => {
    posixSpawn.async(
      pid,
      path,
      actions,
      attributes,
      [...argv, null],
      [...env, null],
      (error: unknown, rc: number) => {
        faDestroy(actions);
        attrDestroy(attributes);
        if (error) reject(error);
        else if (rc !== 0)
          reject(new FreezeError('WATCHDOG_FAILED', `posix_spawn ${path} failed: errno ${rc}`));
        else resolve(pid[0] as number);
      },
    );
  });
}
