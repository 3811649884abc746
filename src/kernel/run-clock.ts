/**
 * A task's run clock: /proc/<pid>/task/<tid>/schedstat, "<ns on a CPU> <ns waiting to run>
 * <timeslices>". A stopped task's clock does not move; any change means the task was woken
 * and ran (or was queued to run), however briefly — even if it is stopped again by now,
 * which a look at its state would miss. The file is kept open and re-read with one pread
 * (2-3 µs, against 25 µs for open/read/close); an open file stays bound to the task it was
 * opened for, so a recycled pid can never be read by mistake: the read fails with ESRCH.
 *
 * A baseline is taken only once the task has left the CPU. A task entering a stop reads 'T'
 * while it is still on its way off the CPU, and its clock is brought up to date as it leaves:
 * a baseline taken in that moment "moves" with nothing having resumed the task: a hold
 * reported broken that was not. (Stopping a process and reading its clock as soon as it read
 * 'T', beside six spinning processes on two CPUs: 4 clocks of 5,000 moved afterwards, each one
 * of a task whose wchan, read just before, had said "0"; it did for 161.)
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { errnoCode, isGoneError, procUnreadable } from '../base/errors.js';
import { hasLeftRunQueue } from './procfs.js';

export interface RunClock {
  /**
   * Reads the clock and compares it with the last reading: 'first' when there was none (after
   * opening or reset()), 'moved' or 'still', and 'gone' once the task no longer exists.
   * 'unsettled': there was none, and none was taken, as the task has not been seen off the
   * CPU yet (it may be running, or finishing its stop); the next sample tries again.
   */
  sample(): 'first' | 'unsettled' | 'moved' | 'still' | 'gone';
  /** Forget the last reading: the next sample() is 'first'. */
  reset(): void;
  close(): void;
}

const buffer = Buffer.allocUnsafe(128);
/**
 * After this many unsettled samples in a row a baseline is taken anyway: a wchan that never
 * names anything (no right to inspect the task, a kernel without symbols) must not leave the
 * clock without one. The caller goes by the task's state meanwhile.
 */
const UNSETTLED_SAMPLES = 4;
let supported: boolean | undefined;

/** Whether this kernel has schedstat files (CONFIG_SCHED_INFO). */
export function runClocksSupported(): boolean {
  if (supported === undefined) {
    try {
      closeSync(openSync(`/proc/self/task/${process.pid}/schedstat`, 'r'));
      supported = true;
    } catch {
      supported = false;
    }
  }
  return supported;
}

/**
 * Opens the run clock of task `tid` of `pid`: null when the task is gone or the kernel has
 * no schedstat. When no file descriptor is left (EMFILE), the clock opens the file at each
 * read instead: slower, still correct while the pid is not recycled (the caller holds the
 * process stopped, so it cannot exit by itself).
 */
export function openRunClock(pid: number, tid: number = pid): RunClock | null {
  if (!runClocksSupported()) return null;
  const path = `/proc/${pid}/task/${tid}/schedstat`;
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    if (isGoneError(error)) return null;
    if (errnoCode(error) !== 'EMFILE' && errnoCode(error) !== 'ENFILE') throw procUnreadable(path, error);
  }
  return clockOver(path, fd, pid, tid);
}

/**
 * A clock reading `path` through `fd`, or by opening it at each sample when `fd` is
 * undefined. Readings are compared as bytes, with no string made per sample.
 */
function clockOver(path: string, fd: number | undefined, pid: number, tid: number): RunClock {
  let last: Buffer | undefined;
  let unsettled = 0;
  let closed = false;
  const readNow = (): number | null => {
    if (closed) return null;
    const open = fd ?? openOrNull(path);
    if (open === null) return null;
    try {
      return readSync(open, buffer, 0, buffer.length, 0);
    } catch (error) {
      if (isGoneError(error)) return null;
      throw procUnreadable(path, error);
    } finally {
      if (fd === undefined) closeSync(open);
    }
  };
  return {
    sample() {
      if (last === undefined && unsettled < UNSETTLED_SAMPLES && !closed) {
        // Looked at before the clock: once off the run queue, the task can only get back on by
        // being woken, which the clock would then show.
        const left = hasLeftRunQueue(pid, tid);
        if (left === null) return 'gone';
        if (!left) {
          unsettled++;
          return 'unsettled';
        }
      }
      const length = readNow();
      if (length === null) return 'gone';
      if (last && length === last.length && buffer.compare(last, 0, length, 0, length) === 0) return 'still';
      const first = last === undefined;
      last = Buffer.from(buffer.subarray(0, length));
      return first ? 'first' : 'moved';
    },
    reset() {
      last = undefined;
      unsettled = 0;
    },
    close() {
      if (closed) return;
      closed = true;
      if (fd !== undefined) closeSync(fd);
    },
  };
}

function openOrNull(path: string): number | null {
  try {
    return openSync(path, 'r');
  } catch (error) {
    if (isGoneError(error)) return null;
    throw procUnreadable(path, error);
  }
}
