/**
 * Verifying a signal-backend hold. Every `intervalMs` it reads each frozen process's run
 * clock (kernel/run-clock.ts: one pread per process); a clock that moved means the
 * process ran — resumed by SIGCONT, another freezer's thaw, a debugger — even if it is
 * stopped again by now. Then the breach is recorded and, by policy, the processes are
 * stopped again and confirmed, with a rescan for any process they forked meanwhile.
 * A stopped tree cannot fork, so the tree is rescanned only when something ran.
 */

import { onTick } from '../../base/timers.js';
import { isDying, readTaskStates } from '../../kernel/procfs.js';
import { openRunClock, type RunClock } from '../../kernel/run-clock.js';
import type { ProcStat } from '../../kernel/stat.js';
import { readIdentifiedStat } from '../../tree/identity.js';
import type { Watchdog } from '../../watchdog/channel.js';
import type { BreachLog, BreachPolicy, HoldCheck } from '../breach.js';
import type { SignalFreezer } from './freezer.js';
import type { TrackedProcess } from './wait.js';

/** @internal */
export interface SignalHoldCheckOptions {
  freezer: SignalFreezer;
  policy: BreachPolicy;
  intervalMs: number;
  /** The bound on one refreeze (the freeze's own timeout). */
  timeoutMs: number;
  log: BreachLog;
  watchdog: () => Watchdog | undefined;
}

interface Watched {
  process: TrackedProcess;
  /** Opened at the first check, not during the freeze (1000 opens would lengthen it by tens of ms). */
  clock: RunClock | null | undefined;
  /** Without schedstat: the state letter last seen stands in for the clock. */
  lastState?: string;
}

type Now = 'stopped' | 'running' | 'gone';

/** @internal */
export function startSignalHoldCheck(options: SignalHoldCheckOptions): HoldCheck {
  const { freezer, log } = options;
  const watched = new Map<number, Watched>();
  const watch = (process: TrackedProcess) => {
    watched.get(process.pid)?.clock?.close();
    watched.set(process.pid, { process, clock: undefined });
  };
  for (const process of freezer.tracked.values()) watch(process);
  const unwatch = (entry: Watched) => {
    entry.clock?.close();
    watched.delete(entry.process.pid);
  };
  const abort = new AbortController();
  /** The processes of the open breach, until they are all stopped again. */
  const episode = new Set<Watched>();
  let stopped = false;
  let busy = false;

  /**
   * Whether the process ran since the last look; null when it is gone. `last`: the thaw's
   * look, where a clock never read has no baseline to compare with: the state alone decides,
   * without opening it (a thaw right after the freeze would otherwise open them all).
   */
  const ranSinceLastLook = (entry: Watched, last = false): boolean | null => {
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
      if (stat === null) return null;
      const moved = entry.lastState !== undefined && stat.state !== entry.lastState;
      entry.lastState = stat.state;
      return moved || stateFrom(process, stat) === 'running';
    }
    const sample = entry.clock.sample();
    if (sample !== 'first' && sample !== 'unsettled') return sample === 'gone' ? null : sample === 'moved';
    // Without an earlier reading (or with none taken yet) the clock says nothing about the
    // past: then the state decides. One stat read
    // serves identity, state and the rare leader that exited while its threads live on.
    const stat = readIdentifiedStat(process);
    if (stat === null) return null;
    if (stat.state === 'Z' && stat.numThreads > 1) {
      entry.clock.close(); // the exited leader's clock never moves: watch a live thread's
      entry.clock = liveThreadClock(process);
      entry.clock?.sample();
    }
    return stateFrom(process, stat) === 'running';
  };

  /** The processes that ran since the last check (the gone ones are dropped). */
  const findRan = (last = false): Watched[] => {
    const ran: Watched[] = [];
    for (const entry of watched.values()) {
      const result = ranSinceLastLook(entry, last);
      if (result === null) unwatch(entry);
      else if (result) ran.push(entry);
    }
    // A process that ran to its death (SIGKILL wakes a stopped process so that it can exit) is
    // gone, or about to be: not a breach.
    return ran.filter((entry) => {
      if (stateOf(entry.process) !== 'gone' && isDying(entry.process.pid) === false) return true;
      unwatch(entry);
      return false;
    });
  };
  const pidsOf = (entries: Watched[]) => entries.map((entry) => entry.process.pid);

  const check = async (): Promise<void> => {
    const ran = findRan();
    if (ran.length === 0 && !log.open) {
      log.markIntact();
      return;
    }
    const fresh = episode.size === 0;
    if (ran.length > 0) log.record('resumed', pidsOf(ran));
    for (const entry of ran) episode.add(entry);
    if (options.policy === 'refreeze') {
      // Every process of the episode still running (a refreeze that failed is tried again at
      // every check); then rounds until nothing new appears, as they may have forked.
      const running = [...episode].filter((entry) => stateOf(entry.process) === 'running');
      const added = await freezer.refreeze(
        running.map((entry) => entry.process),
        { deadline: performance.now() + options.timeoutMs, signal: abort.signal, watchdog: options.watchdog },
      );
      if (stopped) return;
      log.addNew(added.map((process) => process.pid));
      for (const process of added) watch(process);
      for (const entry of episode) entry.clock?.reset(); // re-read once the stop has settled
      episode.clear();
      log.end(running.length > 0 || added.length > 0);
      return;
    }
    // report: the episode ends when every process of it is stopped again by someone else.
    if (fresh) log.addNew(freezer.findNewcomers().map((node) => node.pid));
    if ([...episode].every((entry) => stateOf(entry.process) !== 'running')) {
      log.addNew(freezer.findNewcomers().map((node) => node.pid));
      for (const entry of episode) entry.clock?.reset();
      episode.clear();
      log.end(false);
    }
  };

  const tick = () => {
    if (stopped || busy) return; // one check at a time: a refreeze may take a while
    busy = true;
    check()
      .catch(() => {
        // A refreeze that failed (a tracer keeps resuming its tracee, the deadline passed):
        // the breach stays open and the next check tries again.
      })
      .finally(() => {
        busy = false;
      });
  };
  // The first check (its readings are the baselines) runs as soon as the freeze has resolved,
  // not during it (a thousand opens would lengthen it by tens of ms), so that even a resume
  // stopped again before the next check is caught; the tasks have long left the CPU by then.
  const first = setImmediate(tick);
  first.unref();
  const untick = onTick(options.intervalMs, tick);

  return {
    stop() {
      if (stopped) return;
      stopped = true;
      clearImmediate(first);
      untick();
      abort.abort(new Error('the hold ended'));
      try {
        const ran = findRan(true);
        if (ran.length > 0) log.record('resumed', pidsOf(ran), 'thaw');
      } catch {
        // the thaw goes on whatever this last look could not read
      }
      log.end(false);
      // Closed once the thaw has returned: the resume must not wait for a thousand closes.
      const clocks = [...watched.values()].map((entry) => entry.clock);
      watched.clear();
      setImmediate(() => {
        for (const clock of clocks) clock?.close();
      });
    },
  };
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

function stateOf(process: TrackedProcess): Now {
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
