/**
 * Verifying a signal-backend hold. Every `intervalMs` it reads each frozen process's run
 * clock (kernel/run-clock.ts: one pread per process); a clock that moved means the
 * process ran — resumed by SIGCONT, another freezer's thaw, a debugger — even if it is
 * stopped again by now. Then the breach is recorded and, by policy, the processes are
 * stopped again and confirmed, with a rescan for any process they forked meanwhile.
 * A stopped tree cannot fork, so the tree is rescanned only when something ran.
 */
import { readProcessStat, readTaskStates } from '../../kernel/procfs.js';
import { openRunClock, type RunClock } from '../../kernel/run-clock.js';
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
  clock: RunClock | null;
  /** The clock's last reading (or, without schedstat, the state letter); null: take it at the next check. */
  baseline: string | null;
}

type Now = 'stopped' | 'running' | 'gone';

/** @internal */
export function startSignalHoldCheck(options: SignalHoldCheckOptions): HoldCheck {
  const { freezer, log } = options;
  const watched = new Map<number, Watched>();
  const watch = (process: TrackedProcess) => {
    watched.get(process.pid)?.clock?.close();
    watched.set(process.pid, { process, clock: openClock(process), baseline: null });
  };
  for (const process of freezer.tracked.values()) watch(process);
  const unwatch = (entry: Watched) => {
    entry.clock?.close();
    watched.delete(entry.process.pid);
  };
  const abort = new AbortController();
  /** report policy: processes of the open breach, until they are all stopped again. */
  const running = new Set<Watched>();
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  /** The processes whose clock moved since the last check (the gone ones are dropped). */
  const findRan = (): Watched[] => {
    const ran: Watched[] = [];
    for (const entry of watched.values()) {
      const reading = entry.clock ? entry.clock.read() : stateLetter(entry.process);
      if (reading === null) {
        unwatch(entry);
        continue;
      }
      const first = entry.baseline === null;
      const moved = !first && reading !== entry.baseline;
      entry.baseline = reading;
      // A fresh baseline says nothing about the past: then the state decides.
      if (moved || (first && stateOf(entry.process) === 'running')) ran.push(entry);
    }
    // A process that ran to its death (SIGKILL) is gone, not a breach.
    return ran.filter((entry) => {
      if (stateOf(entry.process) !== 'gone') return true;
      unwatch(entry);
      return false;
    });
  };

  const check = async (): Promise<void> => {
    const ran = findRan();
    if (ran.length === 0 && !log.open) {
      log.markIntact();
      return;
    }
    if (ran.length > 0)
      log.record(
        'resumed',
        ran.map((entry) => entry.process.pid),
      );
    if (options.policy === 'refreeze') {
      if (ran.length === 0) return; // a refreeze in progress failed: the next check retries
      const added = await freezer.refreeze(
        ran.map((entry) => entry.process),
        {
          deadline: performance.now() + options.timeoutMs,
          signal: abort.signal,
          watchdog: options.watchdog,
        },
      );
      if (stopped) return;
      log.addNew(added.map((process) => process.pid));
      for (const process of added) watch(process);
      for (const entry of ran) entry.baseline = null; // re-read once the stop has settled
      log.end(true);
      return;
    }
    // report: record, touch nothing; the breach ends when someone stops them all again.
    const fresh = running.size === 0;
    for (const entry of ran) running.add(entry);
    if (fresh) log.addNew(freezer.findNewcomers().map((node) => node.pid));
    if ([...running].every((entry) => stateOf(entry.process) !== 'running')) {
      log.addNew(freezer.findNewcomers().map((node) => node.pid));
      for (const entry of running) entry.baseline = null;
      running.clear();
      log.end(false);
    }
  };

  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      check()
        .catch(() => {
          // A refreeze that failed (a tracer keeps resuming its tracee, the deadline passed):
          // the breach stays open and the next check tries again.
        })
        .finally(schedule);
    }, options.intervalMs);
    timer.unref(); // never keeps the caller alive: its watchdog thaws the tree if it exits
  };
  schedule();

  return {
    stop() {
      if (stopped) return;
      stopped = true;
      clearTimeout(timer);
      abort.abort(new Error('the hold ended'));
      try {
        const ran = findRan();
        if (ran.length > 0)
          log.record(
            'resumed',
            ran.map((entry) => entry.process.pid),
          );
      } catch {
        // the thaw goes on whatever this last look could not read
      }
      log.end(false);
      for (const entry of watched.values()) entry.clock?.close();
      watched.clear();
    },
  };
}

/**
 * The run clock of a task that will show a resume: the main thread's, or, when it has
 * exited (the process lives on in its other threads), another thread's.
 */
function openClock(process: TrackedProcess): RunClock | null {
  const stat = readProcessStat(process.pid);
  if (stat === null || stat.startTime !== process.startTime) return null;
  if (stat.state !== 'Z' || stat.numThreads <= 1) return openRunClock(process.pid);
  for (const task of readTaskStates(process.pid) ?? []) {
    if (task.state === 'Z') continue;
    const clock = openRunClock(process.pid, task.tid);
    if (clock) return clock;
  }
  return null;
}

/** Without schedstat: the main thread's state letter stands in for the clock. */
function stateLetter(process: TrackedProcess): string | null {
  const stat = readProcessStat(process.pid);
  return stat === null || stat.startTime !== process.startTime ? null : stat.state;
}

function stateOf(process: TrackedProcess): Now {
  const stat = readProcessStat(process.pid);
  if (stat === null || stat.startTime !== process.startTime) return 'gone';
  if (stat.state === 'Z' && stat.numThreads <= 1) return 'gone';
  if (stat.state === 'X') return 'gone';
  // T/t: stopped; D: a frozen vfork parent (it can only be in D while its child is frozen).
  if (stat.state === 'T' || stat.state === 't' || stat.state === 'D') return 'stopped';
  if (stat.state === 'Z') {
    const tasks = readTaskStates(process.pid) ?? [];
    return tasks.every((task) => task.state !== 'R' && task.state !== 'S') ? 'stopped' : 'running';
  }
  return 'running';
}
