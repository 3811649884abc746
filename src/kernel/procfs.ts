/**
 * Reading /proc. Every reader returns `null` when the process or task is gone
 * (ENOENT/ESRCH): a process that exits while we look at it is normal, not an error.
 */
import { closeSync, openSync, readdirSync, readSync } from 'node:fs';
import { errnoCode, isGoneError, procUnreadable } from '../base/errors.js';
import { type ProcStat, parseStatBytes } from './stat.js';

// One buffer for all reads: stat lines are short, and reading into a reused
// buffer with open/read/close is the cheapest way Node offers to read a /proc file.
let buffer = Buffer.allocUnsafe(16384);

/**
 * Reads a whole /proc file, to EOF (a single read() may return less than the file).
 * `singleRecord`: the file is one newline-terminated record produced whole by the
 * kernel (a stat file), so a short read ending in a newline is all of it and the
 * extra read() that would return 0 is skipped — /proc reads dominate a freeze.
 */
export function readProcFile(path: string, singleRecord = false): string | null {
  const length = readIntoBuffer(path, singleRecord);
  return length === null ? null : buffer.toString('utf8', 0, length);
}

/** Reads a whole file into the shared buffer (growing it if needed); its length, or null if gone. */
function readIntoBuffer(path: string, singleRecord: boolean): number | null {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    if (isGoneError(error)) return null;
    throw procUnreadable(path, error);
  }
  try {
    let length = 0;
    for (;;) {
      if (length === buffer.length) {
        const bigger = Buffer.allocUnsafe(buffer.length * 2);
        buffer.copy(bigger, 0, 0, length);
        buffer = bigger;
      }
      const space = buffer.length - length;
      const n = readSync(fd, buffer, length, space, null);
      if (n === 0) break;
      length += n;
      if (singleRecord && n < space && buffer[length - 1] === 10) break;
    }
    return length;
  } catch (error) {
    if (isGoneError(error)) return null;
    throw procUnreadable(path, error);
  } finally {
    closeSync(fd);
  }
}

function listDirectory(path: string): string[] | null {
  try {
    return readdirSync(path);
  } catch (error) {
    if (isGoneError(error)) return null;
    throw procUnreadable(path, error);
  }
}

/** Reads a stat file into the shared buffer and parses it there; null if gone. */
function readStatFile(path: string): ProcStat | null {
  const length = readIntoBuffer(path, true);
  if (length === null || length === 0) return null;
  const stat = parseStatBytes(buffer, length);
  if (stat === null) throw procUnreadable(path, new Error('unexpected format'));
  return stat;
}

export function readProcessStat(pid: number): ProcStat | null {
  return readStatFile(`/proc/${pid}/stat`);
}

/**
 * Opens a process's stat file and keeps it: the open file names that process for good (a
 * later process with the same pid has a file of its own), and reading it again costs one
 * pread instead of an open, a read and a close. Returns the descriptor, null when the process
 * is gone, or undefined when no descriptor is left (EMFILE): then read by path.
 */
export function openStatHandle(pid: number): number | null | undefined {
  const path = `/proc/${pid}/stat`;
  try {
    return openSync(path, 'r');
  } catch (error) {
    if (isGoneError(error)) return null;
    if (errnoCode(error) === 'EMFILE' || errnoCode(error) === 'ENFILE') return undefined;
    throw procUnreadable(path, error);
  }
}

/** Reads a kept stat file again (see openStatHandle); null once its process is gone (reaped). */
export function readStatHandle(fd: number): ProcStat | null {
  let length: number;
  try {
    length = readSync(fd, buffer, 0, buffer.length, 0); // one record, far shorter than the buffer
  } catch (error) {
    if (isGoneError(error)) return null;
    throw procUnreadable(`stat file (descriptor ${fd})`, error);
  }
  if (length === 0) return null;
  const stat = parseStatBytes(buffer, length);
  if (stat === null) throw procUnreadable(`stat file (descriptor ${fd})`, new Error('unexpected format'));
  return stat;
}

export function readTaskStat(pid: number, tid: number): ProcStat | null {
  return readStatFile(`/proc/${pid}/task/${tid}/stat`);
}

/** The thread ids of a process, or null if it is gone. */
export function listTaskIds(pid: number): number[] | null {
  const names = listDirectory(`/proc/${pid}/task`);
  return names === null ? null : names.map(Number);
}

export interface TaskState {
  tid: number;
  state: string;
}

/** The state letter of every task of a process, or null if the process is gone. */
export function readTaskStates(pid: number): TaskState[] | null {
  const tids = listTaskIds(pid);
  if (tids === null) return null;
  const states: TaskState[] = [];
  for (const tid of tids) {
    const stat = readTaskStat(pid, tid);
    if (stat !== null) states.push({ tid, state: stat.state });
  }
  return states.length === 0 ? null : states;
}

function parsePidList(text: string): number[] {
  const pids: number[] = [];
  for (const word of text.split(' ')) {
    const trimmed = word.trim();
    if (trimmed !== '') pids.push(Number(trimmed));
  }
  return pids;
}

let childrenFilesExist: boolean | undefined;

/** Whether the kernel has CONFIG_PROC_CHILDREN (the task/<tid>/children files). */
export function childrenFilesSupported(): boolean {
  if (childrenFilesExist === undefined) {
    childrenFilesExist = readProcFile(`/proc/self/task/${process.pid}/children`) !== null;
  }
  return childrenFilesExist;
}

/**
 * The children of a process, from the children file of EVERY thread: a child forked
 * by a non-main thread is listed only under that thread. Null if the process is gone.
 */
export function readChildren(pid: number, threads = 0): number[] | null {
  // A single-threaded process has one children file: skip listing its task directory.
  const tids = threads === 1 ? [pid] : listTaskIds(pid);
  if (tids === null) return null;
  const children: number[] = [];
  for (const tid of tids) {
    const text = readProcFile(`/proc/${pid}/task/${tid}/children`);
    if (text !== null) children.push(...parsePidList(text));
  }
  return children;
}

/** The pids in /proc right now (one readdir). */
export function listProcessIds(): number[] {
  const pids: number[] = [];
  for (const name of listDirectory('/proc') ?? []) {
    const code = name.charCodeAt(0);
    if (code >= 48 && code <= 57) pids.push(Number(name)); // only numeric entries are processes
  }
  return pids;
}

/**
 * All processes on the system with their stat, from one /proc scan; the pids in `skip`
 * (processes the caller knows already) are left out, unread. `listing`: a listing of /proc
 * the caller took a moment ago (it is as current as one taken here).
 */
export function scanAllProcesses(
  skip?: ReadonlySet<number> | ReadonlyMap<number, unknown>,
  readStat: (pid: number) => ProcStat | null = readProcessStat,
  listing: readonly number[] = listProcessIds(),
  readStats?: BulkStatReader | undefined,
): ProcStat[] {
  const stats: ProcStat[] = [];
  if (readStats) {
    const pids = skip ? listing.filter((pid) => !skip.has(pid)) : listing;
    for (const stat of readStats(pids)) if (stat !== null) stats.push(stat);
    return stats;
  }
  for (const pid of listing) {
    if (skip?.has(pid)) continue;
    const stat = readStat(pid);
    if (stat !== null) stats.push(stat);
  }
  return stats;
}

/** Reads many processes' stats in one go (the native core): per pid, its stat or null when gone. */
export type BulkStatReader = (pids: readonly number[]) => (ProcStat | null)[];

/** The system-call line of a task ("58 0x... " or "running"), or null. Needs ptrace access. */
export function readTaskSyscall(pid: number, tid: number): string | null {
  try {
    return readProcFile(`/proc/${pid}/task/${tid}/syscall`);
  } catch {
    return null; // EACCES without ptrace rights: treat as unknown
  }
}

/**
 * Whether a task has left its CPU and its run queue: /proc/<pid>/task/<tid>/wchan names the
 * function it sleeps in only then. A task that has just entered a stop reads 'T' a moment
 * before it gets off the CPU (or while it waits on the run queue to get there); its wchan
 * reads "0" until it has. "0" also means "not ours to inspect" (or a kernel without
 * symbols), so false says "not known to have left", never "running". Null when it is gone.
 */
export function hasLeftRunQueue(pid: number, tid: number = pid): boolean | null {
  let text: string | null;
  try {
    text = readProcFile(`/proc/${pid}/task/${tid}/wchan`);
  } catch {
    return false; // unreadable: unknown
  }
  if (text === null) return null;
  return text !== '' && text !== '0';
}

/** The TracerPid line of /proc/<pid>/status (0 when not traced), or null if gone. */
export function readTracerPid(pid: number): number | null {
  const text = readProcFile(`/proc/${pid}/status`);
  if (text === null) return null;
  const match = /^TracerPid:\s*(\d+)/m.exec(text);
  return match ? Number(match[1]) : 0;
}

/**
 * The thread group (process) a task id belongs to, or null if it is gone. /proc/<tid>
 * answers for any thread's id too, though /proc lists processes only: a pid given by a
 * person may be a thread's.
 */
export function readThreadGroup(pid: number): number | null {
  const text = readProcFile(`/proc/${pid}/status`);
  if (text === null) return null;
  const match = /^Tgid:\s*(\d+)/m.exec(text);
  return match ? Number(match[1]) : pid;
}

/** PF_EXITING in stat's flags: the task has begun to exit. */
/** The largest pid_max the kernel allows (2^22 on 64-bit): no pid is ever above it. */
export const PID_MAX_LIMIT = 2 ** 22;

const PF_EXITING = 0x4;
const SIGKILL_BIT = 1n << 8n; // signal 9, in the pending masks of /proc/<pid>/status

/**
 * Whether a process is dying: it has begun to exit, or a SIGKILL is pending for it. A frozen
 * process that is killed runs for a moment (SIGKILL wakes it) before it is gone; that is
 * not a resumed process. Null when it is gone already.
 */
export function isDying(pid: number): boolean | null {
  const stat = readProcessStat(pid);
  if (stat === null) return null;
  if ((stat.flags & PF_EXITING) !== 0 || stat.state === 'Z' || stat.state === 'X') return true;
  const status = readProcFile(`/proc/${pid}/status`);
  if (status === null) return null;
  for (const field of ['ShdPnd', 'SigPnd']) {
    const match = new RegExp(`^${field}:\\s*([0-9a-f]+)`, 'm').exec(status);
    if (match && (BigInt(`0x${match[1]}`) & SIGKILL_BIT) !== 0n) return true;
  }
  return false;
}
