/**
 * Which frozen processes ran since the last look. Each process's run clock
 * (kernel/run-clock.ts: one pread) moves whenever it runs — resumed by SIGCONT, another
 * freezer's thaw, a debugger — even if it is stopped again by now; without schedstat the
 * state letter stands in for the clock.
 */
import { isDying, readTaskStates } from '../../kernel/procfs.js';
import { openRunClock, type RunClock } from '../../kernel/run-clock.js';
import type { ProcStat } from '../../kernel/stat.js';
import { readIdentifiedStat } from '../../tree/identity.js';
import type { TrackedProcess } from './wait.js';

export interface Watched {
  process: TrackedProcess;
  /** Opened at the first check, not during the freeze (1000 opens would lengthen it by tens of ms). */
  clock: RunClock | null | undefined;
  /** Without schedstat: the state letter last seen stands in for the clock. */
  lastState?: string;
}

export type Now = 'stopped' | 'running' | 'gone';

/** The processes of a hold and their clocks. */
export class RunWatch {
  readonly #watched = new Map<number, Watched>();

  /** How many processes are watched: 0 once every one of them has exited. */
  get size(): number {
    return this.#watched.size;
  }

  constructor(processes: Iterable<TrackedProcess>) {
    for (const process of processes) this.watch(process);
  }

  watch(process: TrackedProcess): void {
    this.#watched.get(process.pid)?.clock?.close();
    this.#watched.set(process.pid, { process, clock: undefined });
  }

  #unwatch(entry: Watched): void {
    entry.clock?.close();
    this.#watched.delete(entry.process.pid);
  }

  /**
   * The processes that ran since the last look (the gone ones are dropped). `last`: the
   * thaw's look, where a clock never read has no baseline: the state alone decides.
   */
  findRan(last = false): Watched[] {
    const ran: Watched[] = [];
    for (const entry of this.#watched.values()) {
      const result = ranSinceLastLook(entry, last);
      if (result === null) this.#unwatch(entry);
      else if (result) ran.push(entry);
    }
    // A process that ran to its death (SIGKILL wakes a stopped process so that it can exit) is
    // gone, or about to be: not a breach.
    return ran.filter((entry) => {
      if (stateOf(entry.process) !== 'gone' && isDying(entry.process.pid) === false) return true;
      this.#unwatch(entry);
      return false;
    });
  }

  /** Forgets every process; their clocks are closed on the next turn (a thaw must not wait for them). */
  clear(): void {
    const clocks = [...this.#watched.values()].map((entry) => entry.clock);
    this.#watched.clear();
    setImmediate(() => {
      for (const clock of clocks) clock?.close();
    });
  }
}

/**
 * Whether the process ran since the last look; null when it is gone. `last`: the thaw's
 * look, where a clock never read has no baseline to compare with: the state alone decides,
 * without opening it (a thaw right after the freeze would otherwise open them all).
 */
function ranSinceLastLook(entry: Watched, last: boolean): boolean | null {
  const { process } = entry;
  if (entry.clock === undefined && last) {
    const now = stateOf(process);
    return now === 'gone' ? null : now === 'running';
  }
  // The main thread's clock, opened by pid: the stat read after the first sample confirms
  // that it is this process's (an fd stays bound to the task it was opened for).
  if (entry.clock === undefined) entry.clock = openRunClock(process.pid);
  if (entry.clock === null) {
    const stat = readIdentifiedStat(process);
    if (stat === null || stateFrom(process, stat) === 'gone') return null;
    const moved = entry.lastState !== undefined && stat.state !== entry.lastState;
    entry.lastState = stat.state;
    return moved || stateFrom(process, stat) === 'running';
  }
  const sample = entry.clock.sample();
  if (sample !== 'first' && sample !== 'unsettled') return sample === 'gone' ? null : sample === 'moved';
  // Without an earlier reading (or with none taken yet) the clock says nothing about the
  // past: then the state decides. One stat read serves identity, state and the rare leader
  // that exited while its threads live on.
  const stat = readIdentifiedStat(process);
  // A zombie is gone: it may wait a long time for its parent (or init) to collect it.
  if (stat === null || stateFrom(process, stat) === 'gone') return null;
  if (stat.state === 'Z' && stat.numThreads > 1) {
    entry.clock.close(); // the exited leader's clock never moves: watch a live thread's
    entry.clock = liveThreadClock(process);
    entry.clock?.sample();
  }
  return stateFrom(process, stat) === 'running';
}

/** The clock of a live thread of a process whose main thread has exited. */
function liveThreadClock(process: TrackedProcess): RunClock | null {
  for (const task of readTaskStates(process.pid) ?? []) {
    if (task.state === 'Z') continue;
    const clock = openRunClock(process.pid, task.tid);
    if (clock) return clock;
  }
  return null;
}

export function stateOf(process: TrackedProcess): Now {
  const stat = readIdentifiedStat(process);
  return stat === null ? 'gone' : stateFrom(process, stat);
}

function stateFrom(process: TrackedProcess, stat: ProcStat): Now {
  if (stat.state === 'X' || (stat.state === 'Z' && stat.numThreads <= 1)) return 'gone';
  // T/t: stopped; D: a frozen vfork parent (it can only be in D while its child is frozen).
  if (stat.state === 'T' || stat.state === 't' || stat.state === 'D') return 'stopped';
  if (stat.state === 'Z') {
    const tasks = readTaskStates(process.pid) ?? [];
    return tasks.every((task) => task.state !== 'R' && task.state !== 'S') ? 'stopped' : 'running';
  }
  return 'running';
}
