/**
 * This process's own watchdogs: they must never be part of a tree this process freezes
 * (they are its children, and may sit inside a tree of its descendants), and their exit
 * status must be collected so their pids are not left as zombies.
 */
import { readdirSync } from 'node:fs';
import type { Native } from '../kernel/native.js';
import { readProcFile } from '../kernel/procfs.js';
import { WATCHDOG_NAME, WATCHDOG_SCRIPT } from './script.js';

/** Exact pids of this process's watchdogs that may still be its children (until reaped or exited). */
const ownWatchdogs = new Set<number>();

export function registerWatchdog(pid: number): void {
  ownWatchdogs.add(pid);
}

export function forgetWatchdog(pid: number): void {
  ownWatchdogs.delete(pid);
}

/** Pids of this process's watchdogs that may still run: never part of a tree being frozen. */
export function ownWatchdogPids(): number[] {
  return [...ownWatchdogs];
}

export function isOwnWatchdog(pid: number): boolean {
  return ownWatchdogs.has(pid);
}

/** Children of this process's non-main threads: where a thread-pool posix_spawn child appears. */
export function nonMainThreadChildren(): Set<number> {
  const children = new Set<number>();
  for (const tid of readdirSync('/proc/self/task')) {
    if (Number(tid) === process.pid) continue;
    for (const pid of parseChildrenFile(readProcFile(`/proc/self/task/${tid}/children`) ?? '')) {
      children.add(pid);
    }
  }
  return children;
}

/**
 * The pids in a /proc/<pid>/task/<tid>/children file. Only real pids: a child being reaped at
 * that moment (a posix_spawn whose exec failed, collected by glibc) is listed as "0", and a
 * watchdog "found" as pid 0 had its process group signalled as -0, that is kill(0, SIGKILL):
 * our own process group, which took down the test runner and everything else in its group.
 */
export function parseChildrenFile(text: string): number[] {
  const pids: number[] = [];
  for (const word of text.split(/\s+/)) {
    if (!/^\d+$/.test(word)) continue;
    const pid = Number(word);
    if (pid > 0 && Number.isSafeInteger(pid)) pids.push(pid);
  }
  return pids;
}

/** A watchdog exits right after "D"; collect its exit status without blocking or holding the event loop. */
export function reapLater(pid: number, calls: Native): void {
  const delays = [1, 5, 20, 100, 500, 2000];
  const attempt = (index: number) => {
    if (calls.reap(pid) !== 0) {
      forgetWatchdog(pid); // reaped (or not ours any more): its pid may be reused
      return;
    }
    const delay = delays[index];
    if (delay !== undefined) setTimeout(() => attempt(index + 1), delay).unref();
  };
  setTimeout(() => attempt(0), 0).unref();
}

const WATCHDOG_COMMAND_TAIL = `\0-c\0${WATCHDOG_SCRIPT}\0${WATCHDOG_NAME}\0`;
const SHELL_NAMES = new Set(['sh', 'dash', 'bash', 'ash', 'busybox']);

/**
 * Whether a process is a treefreeze watchdog (of this process or of any other freezer):
 * a shell running exactly the watchdog's program. Only shells' command lines are read.
 */
export function isWatchdogProcess(pid: number, comm: string): boolean {
  if (!SHELL_NAMES.has(comm)) return false;
  try {
    return readProcFile(`/proc/${pid}/cmdline`)?.endsWith(WATCHDOG_COMMAND_TAIL) === true;
  } catch {
    return false; // unreadable (hidepid): not known to be a watchdog
  }
}
