/**
 * The native core: a small C library (native/core.c, built into dist/native/ by `npm run
 * build`) that runs the per-process loops of a large freeze in one call each, loaded through
 * koffi. It is optional: without koffi, without the library (no C compiler at build time,
 * another architecture) or with TREEFREEZE_NATIVE_CORE=0, the TypeScript twins run, and a
 * freeze is the same, only slower on large trees. TREEFREEZE_NATIVE_CORE=all uses the core
 * even for a handful of processes, so that the whole test suite can run through it. See docs/performance.md for what it saves.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { type ProcStat, parseStatBytes } from './stat.js';

/** What tf_confirm says of one process. */
export const CONFIRM_VERDICTS = ['stopped', 'pending', 'gone', 'look closer'] as const;
export type ConfirmVerdict = (typeof CONFIRM_VERDICTS)[number];

export interface ConfirmLook {
  /** Per process, in the order given. */
  verdicts: ConfirmVerdict[];
  /** Per process: its thread count as its stat said, 0 when it was not read. */
  threads: Int32Array;
}

export interface NativeCore {
  /**
   * The fewest processes worth one call: below it, a call per process costs no more than the
   * core's own setup (tests set 1 to run the core on small trees).
   */
  readonly minBatch: number;
  /**
   * One look at whether each process is stopped: its stat through its kept file (or by
   * path without one), gone unless it shows its start time; every task read when the main
   * thread is stopped. 'look closer': a traced task, a task in D, or anything unusual, for
   * the TypeScript path to judge.
   */
  confirm(processes: readonly { pid: number; statFd?: number | undefined; startTime: number }[]): ConfirmLook;
  /** pidfd_send_signal to each pidfd: 0 or -errno per pidfd. */
  signalPidfds(pidfds: readonly number[], signal: number): Int32Array;
  /**
   * Each process's /proc/<pid>/stat, read in one call: a stat, null when the process is gone,
   * undefined when the caller should read it itself (an unusual error, a line that does not
   * fit). `keep`: each file read stays open, its descriptor in `fds` (-1 when none) for the
   * caller to take or close. `withPidfds`: a pidfd is opened for each pid before its file
   * is read (-errno in `pidfds` when none): while that process is alive after the read, the
   * stat read is its own, so binding needs no second read (see KeptStatFiles).
   */
  readStats(
    pids: readonly number[],
    keep: boolean,
    withPidfds?: boolean,
  ): { stats: (ProcStat | null | undefined)[]; fds: Int32Array; pidfds: Int32Array };
  /** readStats through files kept open (one pread each). */
  preadStats(fds: readonly number[]): (ProcStat | null | undefined)[];
  /** pidfd_open for each pid: the pidfd or -errno. */
  pidfdOpenMany(pids: readonly number[]): Int32Array;
  /** kill(pid, signal) for each pid (0: may we signal it?): 0 or -errno. */
  killMany(pids: readonly number[], signal: number): Int32Array;
}

const CORE_VERSION = 4;
const TF_KEEP = 1;
const TF_PIDFD = 2;
const MIN_BATCH = 16;
const ENOENT = 2;
const ESRCH = 3;
let loaded: NativeCore | null | undefined;

/** The native core, loaded once; null where it cannot load or is turned off. */
export function nativeCore(): NativeCore | null {
  if (loaded === undefined) loaded = load();
  return loaded;
}

/**
 * The native core if something loaded it already, else null: loading koffi costs 15-25 ms,
 * more than the core saves a listing that does not freeze (a freeze loads it anyway).
 */
export function loadedNativeCore(): NativeCore | null {
  return loaded ?? null;
}

/** Where the library is looked for: beside the compiled code (dist/kernel -> dist/native), or from src/. */
function candidates(): string[] {
  const name = `libtreefreeze-core-${process.platform}-${process.arch}.so`;
  return [
    new URL(`../native/${name}`, import.meta.url),
    new URL(`../../dist/native/${name}`, import.meta.url),
  ].map((url) => fileURLToPath(url));
}

/** Why the native core did not load, or null when it did (the benchmark and the tests say it). */
export let nativeCoreMissing: string | null = null;

function load(): NativeCore | null {
  if (process.env.TREEFREEZE_NATIVE_CORE === '0') {
    nativeCoreMissing = 'turned off (TREEFREEZE_NATIVE_CORE=0)';
    return null;
  }
  const path = candidates().find((candidate) => existsSync(candidate));
  if (path === undefined) {
    nativeCoreMissing = 'not built (npm run build needs a C compiler)';
    return null;
  }
  try {
    const koffi = createRequire(import.meta.url)('koffi') as Koffi;
    const library = koffi.load(path);
    if (library.func('int tf_core_version(void)')() !== CORE_VERSION) {
      nativeCoreMissing = `${path} is of another version`;
      return null;
    }
    nativeCoreMissing = null;
    return coreOver(library);
  } catch (error) {
    nativeCoreMissing = `cannot load ${path}: ${(error as Error).message}`;
    return null;
  }
}

interface Koffi {
  load(path: string): { func(declaration: string): (...args: unknown[]) => number };
}

type Library = ReturnType<Koffi['load']>;
type CFunction = (...args: unknown[]) => number;

/** A C loop `int f(int n, const int32_t *in, [int arg,] int32_t *out)` over its inputs: one result each. */
function loopOver(fn: CFunction, withArgument: boolean) {
  return (inputs: readonly number[], argument = 0): Int32Array => {
    const results = new Int32Array(inputs.length);
    if (inputs.length === 0) return results;
    const given = Int32Array.from(inputs);
    if (withArgument) fn(inputs.length, given, argument, results);
    else fn(inputs.length, given, results);
    return results;
  };
}

function coreOver(library: Library): NativeCore {
  const confirm = library.func(
    'int tf_confirm(int n, const int32_t *pids, const int32_t *statFds, const double *startTimes, _Out_ uint8_t *verdicts, _Out_ int32_t *threads)',
  );
  const signal = loopOver(
    library.func('int tf_signal_pidfds(int n, const int32_t *pidfds, int sig, _Out_ int32_t *results)'),
    true,
  );
  const kill = loopOver(
    library.func('int tf_kill_many(int n, const int32_t *pids, int sig, _Out_ int32_t *results)'),
    true,
  );
  const pidfdOpen = loopOver(
    library.func('int tf_pidfd_open_many(int n, const int32_t *pids, _Out_ int32_t *out)'),
    false,
  );
  return {
    // TREEFREEZE_NATIVE_CORE=all runs the core on every batch, however small (the suite runs so).
    minBatch: process.env.TREEFREEZE_NATIVE_CORE === 'all' ? 1 : MIN_BATCH,
    confirm(processes) {
      const n = processes.length;
      const pids = new Int32Array(n);
      const statFds = new Int32Array(n);
      const startTimes = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const process = processes[i] as (typeof processes)[number];
        pids[i] = process.pid;
        statFds[i] = process.statFd ?? -1;
        startTimes[i] = process.startTime;
      }
      const verdictCodes = new Uint8Array(n);
      const threads = new Int32Array(n);
      if (n > 0) confirm(n, pids, statFds, startTimes, verdictCodes, threads);
      const verdicts = Array.from(verdictCodes, (code) => CONFIRM_VERDICTS[code] ?? 'look closer');
      return { verdicts, threads };
    },
    signalPidfds: (pidfds, number) => signal(pidfds, number),
    killMany: (pids, number) => kill(pids, number),
    pidfdOpenMany: (pids) => pidfdOpen(pids),
    ...statReaders(library),
  };
}

/** readStats and preadStats: many stat files read into one reused buffer, parsed here. */
function statReaders(library: Library): Pick<NativeCore, 'readStats' | 'preadStats'> {
  const readStats = library.func(
    'int tf_read_stats(int n, const int32_t *pids, int flags, uint8_t *buffer, _Out_ int32_t *lengths, _Out_ int32_t *fds, _Out_ int32_t *pidfds)',
  );
  const preadStats = library.func(
    'int tf_pread_stats(int n, const int32_t *fds, uint8_t *buffer, _Out_ int32_t *lengths)',
  );
  const slot = library.func('int tf_stat_slot(void)')();
  let slots = Buffer.alloc(0);
  const buffer = (n: number): Buffer => {
    if (slots.length < n * slot) slots = Buffer.alloc(Math.max(n, 256) * slot);
    return slots;
  };
  const parseSlots = (bytes: Buffer, lengths: Int32Array): (ProcStat | null | undefined)[] =>
    Array.from(lengths, (length, i) => {
      if (length === -ENOENT || length === -ESRCH || length === 0) return null;
      if (length < 0 || length >= slot) return undefined; // the caller reads it and reports what failed
      return parseStatBytes(bytes.subarray(i * slot, i * slot + length), length) ?? undefined;
    });
  return {
    readStats(pids, keep, withPidfds = false) {
      const n = pids.length;
      const lengths = new Int32Array(n);
      const fds = new Int32Array(n).fill(-1);
      const pidfds = new Int32Array(n).fill(-1);
      const bytes = buffer(n);
      const flags = (keep ? TF_KEEP : 0) | (withPidfds ? TF_PIDFD : 0);
      if (n > 0) readStats(n, Int32Array.from(pids), flags, bytes, lengths, fds, pidfds);
      return { stats: parseSlots(bytes, lengths), fds, pidfds };
    },
    preadStats(fds) {
      const n = fds.length;
      const lengths = new Int32Array(n);
      const bytes = buffer(n);
      if (n > 0) preadStats(n, Int32Array.from(fds), bytes, lengths);
      return parseSlots(bytes, lengths);
    },
  };
}
