/**
 * The stat files one discovery opened, kept open for the processes a freeze goes on to bind
 * (see openStatHandle in procfs.ts): binding then reads the file discovery opened, with one
 * pread, instead of opening it again. Whatever is not taken is closed.
 */
import { closeSync, readFileSync } from 'node:fs';
import { closeQuietly } from './descriptors.js';
import type { NativeCore } from './native-core.js';
import { openStatHandle, readProcessStat, readStatHandle } from './procfs.js';
import type { ProcStat } from './stat.js';

export class KeptStatFiles {
  readonly #open = new Map<number, number>();
  /** Pidfds opened before their process's stat was read (readMany): see takePidfd. */
  readonly #pidfds = new Map<number, number>();
  readonly #core: NativeCore | null;

  /** `core`: the native core, which reads many files in one call (see readMany). */
  constructor(core: NativeCore | null = null) {
    this.#core = core;
  }

  /**
   * read() for many pids: through the native core in one call when there is one and the
   * files fit the budget; a file it could not judge is read the TypeScript way.
   */
  readMany = (pids: readonly number[]): (ProcStat | null)[] => {
    const core = this.#core;
    const kept = this.#open.size + this.#pidfds.size;
    if (core === null || pids.length < core.minBatch || kept + 2 * pids.length > keptFilesBudget()) {
      return pids.map((pid) => this.read(pid));
    }
    for (const pid of pids) this.#close(pid); // read again (a rescan that starts over): the newer file wins
    const { stats, fds, pidfds } = core.readStats(pids, true, true);
    return pids.map((pid, i) => {
      const stat = stats[i];
      const fd = fds[i] as number;
      const pidfd = pidfds[i] as number;
      if (stat === undefined || stat === null) {
        if (fd >= 0) closeQuietly(fd);
        if (pidfd >= 0) closeQuietly(pidfd);
        return stat === null ? null : this.read(pid);
      }
      if (fd >= 0) this.#open.set(pid, fd);
      if (pidfd >= 0) this.#pidfds.set(pid, pidfd);
      return stat;
    });
  };

  /**
   * The pidfd readMany opened for `pid` before reading its stat, now the caller's; undefined
   * when none. It names the process whose stat was read only if that process is still alive
   * after the read (a pidfd turns readable once its process exits): the caller checks.
   */
  takePidfd(pid: number): number | undefined {
    const pidfd = this.#pidfds.get(pid);
    this.#pidfds.delete(pid);
    return pidfd;
  }

  /**
   * Reads a process's stat through a file kept open; by path when no descriptor is left, or
   * once a quarter of this process's descriptors would be spent on kept files (a scan opens
   * one per process of the system until it knows which ones are in the tree).
   */
  read = (pid: number): ProcStat | null => {
    this.#close(pid); // read again (a rescan that starts over): the newer file wins
    if (this.#open.size >= keptFilesBudget()) return readProcessStat(pid);
    const fd = openStatHandle(pid);
    if (fd === undefined) return readProcessStat(pid);
    if (fd === null) return null;
    const stat = readStatHandle(fd);
    if (stat === null) closeSync(fd);
    else this.#open.set(pid, fd);
    return stat;
  };

  /** The file read for `pid`, now the caller's to close; undefined when none is kept. */
  take(pid: number): number | undefined {
    const fd = this.#open.get(pid);
    this.#open.delete(pid);
    return fd;
  }

  /** Closes every file nobody took. */
  closeRest(): void {
    for (const pid of [...this.#open.keys(), ...this.#pidfds.keys()]) this.#close(pid);
  }

  #close(pid: number): void {
    const fd = this.#open.get(pid);
    const pidfd = this.#pidfds.get(pid);
    this.#open.delete(pid);
    this.#pidfds.delete(pid);
    if (fd !== undefined) closeQuietly(fd);
    if (pidfd !== undefined) closeQuietly(pidfd);
  }
}

let budget: number | undefined;

/** A quarter of this process's soft limit on open files (1024 when it cannot be read). */
function keptFilesBudget(): number {
  if (budget === undefined) {
    let limit = 1024;
    try {
      const line = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
      if (line) limit = Number(line[1]);
    } catch {
      // keep the conservative default
    }
    budget = Math.floor(limit / 4);
  }
  return budget;
}
