/**
 * Waiting until every task of every tracked process is stopped, under one deadline.
 * Polls adaptively: the first check is immediate, then the checks back off from
 * "next turn of the event loop" to at most 10 ms; only tasks not yet seen stopped
 * are read again.
 */
import { aborted, alreadyFrozen, count, FreezeError } from '../../base/errors.js';
import { frozenCgroupOf, likelyFreezer } from '../../kernel/cgroupfs.js';
import type { NativeCore } from '../../kernel/native-core.js';
import { listTaskIds, readTaskStat, readTracerPid, type TaskState } from '../../kernel/procfs.js';
import { isVforkWait } from '../../kernel/vfork.js';
import { type ProcessIdentity, readIdentifiedStat } from '../../tree/identity.js';
import type { ProcessRecord } from '../../tree/process.js';

/** A process the signal backend froze: its record, and how to signal it. */
export type TrackedProcess = ProcessRecord & ProcessIdentity;

type Verdict = 'stopped' | 'pending' | 'gone';

/**
 * Thread ids per process, listed again only when the thread count changes. (A stopped
 * process cannot create threads, and a thread cloned while a group stop is pending
 * joins the stop.) Kept here: nobody else needs it.
 */
const taskIds = new WeakMap<TrackedProcess, number[]>();

export interface WaitContext {
  tracked: Map<number, TrackedProcess>;
  deadline: number;
  signal?: AbortSignal | undefined;
  /** Re-sends SIGSTOP to a process that has not stopped yet (something may have continued it). */
  restop: (process: TrackedProcess) => void;
  /** Called for each tracked process found to have exited (it is dropped, not an error). */
  onExit?: ((process: TrackedProcess) => void) | undefined;
  /**
   * A process that does not stop because a cgroup freezer holds it (podman pause, say): fail
   * at once with ALREADY_FROZEN ('refuse', the default), or count it as held ('join').
   */
  inFrozenCgroup?: 'refuse' | 'join' | undefined;
  /** The native core: looks at many processes in one call (see classifyAll). */
  core?: NativeCore | null | undefined;
}

interface Laggard {
  process: TrackedProcess;
  tasks: TaskState[];
}

/**
 * Resolves when every tracked process is stopped; drops processes that exited.
 * Rejects with TIMED_OUT (naming the laggards and their task states) or ABORTED.
 */
export async function waitUntilStopped(context: WaitContext): Promise<void> {
  const { tracked } = context;
  let pending = [...tracked.values()];
  const confirmed = new Set<number>(); // pids seen fully stopped
  // A task in ptrace stop ('t') may be resumed by its tracer at once (a tracer can
  // swallow SIGSTOP): it counts only when still 't' after TRACED_CONFIRM_MS.
  const tracedSince = new Map<number, number>();
  let attempt = 0;
  let lastRestop = performance.now();
  let laggards: Laggard[] = [];
  const cgroupChecked = new Set<number>();
  const waitStarted = performance.now();
  for (;;) {
    laggards = [];
    const vforkCandidates: Laggard[] = [];
    for (const [process, { verdict, tasks }] of classifyAll(pending, context.core)) {
      if (verdict === 'gone') {
        tracked.delete(process.pid);
        context.onExit?.(process);
      } else if (verdict === 'stopped' && process.traced && !tracedLongEnough(tracedSince, process.pid)) {
        laggards.push({ process, tasks });
      } else if (verdict === 'stopped') confirmed.add(process.pid);
      else if (tasks.length > 0 && tasks.every((task) => isStoppedLetter(task.state) || task.state === 'D')) {
        vforkCandidates.push({ process, tasks });
      } else laggards.push({ process, tasks });
    }
    // A vfork parent stays in D while its child runs, and forever if the child is
    // frozen: it counts as stopped when a child of it in the tree is confirmed stopped.
    for (const candidate of vforkCandidates) {
      if (isFrozenVforkParent(candidate, tracked, confirmed)) confirmed.add(candidate.process.pid);
      else laggards.push(candidate);
    }
    for (const pid of tracedSince.keys()) {
      if (!laggards.some((laggard) => laggard.process.pid === pid && laggard.process.traced))
        tracedSince.delete(pid);
    }
    // Still running after a few looks and CGROUP_LOOK_AFTER_MS: a cgroup freezer may hold it, and
    // then SIGSTOP waits. Not sooner: in a large freeze most processes are still on their way
    // to T at the first looks, and reading every one's cgroups would lengthen it.
    if (laggards.length > 0 && attempt >= 2 && performance.now() - waitStarted >= CGROUP_LOOK_AFTER_MS) {
      laggards = laggards.filter((laggard) => !heldByCgroup(laggard, cgroupChecked, context, confirmed));
    }
    if (laggards.length === 0) return;
    pending = laggards.map((laggard) => laggard.process);

    if (context.signal?.aborted)
      throw aborted(
        context.signal.reason,
        pending.map((p) => p.pid),
      );
    const now = performance.now();
    if (now >= context.deadline)
      throw timeoutError(laggards.map(({ process }) => ({ process, tasks: classify(process).tasks })));
    if (now - lastRestop >= 100) {
      for (const process of pending) context.restop(process);
      lastRestop = now;
    }
    await pause(backoff(attempt++), context.deadline - now, context.signal);
  }
}

/**
 * Whether a laggard sits in a frozen cgroup (looked at once per process): refused with
 * ALREADY_FROZEN, or, joining, counted as held (its SIGSTOP stays pending: the thaw's SIGCONT
 * clears it).
 */
function heldByCgroup(
  laggard: Laggard,
  checked: Set<number>,
  context: WaitContext,
  confirmed: Set<number>,
): boolean {
  const { pid } = laggard.process;
  if (checked.has(pid)) return confirmed.has(pid);
  checked.add(pid);
  const frozen = frozenCgroupOf(pid);
  if (frozen === null) return false;
  if (context.inFrozenCgroup !== 'join') {
    throw alreadyFrozen(frozen.inside, frozen.cgroup.version, likelyFreezer(frozen.inside), [pid]);
  }
  confirmed.add(pid);
  return true;
}

const TRACED_CONFIRM_MS = 20;
/** When a process that has not stopped is first looked for in a frozen cgroup. */
const CGROUP_LOOK_AFTER_MS = 50;

function tracedLongEnough(tracedSince: Map<number, number>, pid: number): boolean {
  const now = performance.now();
  const since = tracedSince.get(pid);
  if (since === undefined) {
    tracedSince.set(pid, now);
    return false;
  }
  return now - since >= TRACED_CONFIRM_MS;
}

function isStoppedLetter(state: string): boolean {
  return state === 'T' || state === 't' || state === 'Z' || state === 'X';
}

/**
 * classify() for each process: through the native core in one call when there are many (a
 * process it cannot judge plainly, traced or in D, is classified here), one by one otherwise.
 * A process the core finds pending gets no task list: its tasks are read only if it is still
 * pending at the deadline, to name them.
 */
function* classifyAll(
  processes: TrackedProcess[],
  core: NativeCore | null | undefined,
): Generator<[TrackedProcess, { verdict: Verdict; tasks: TaskState[] }]> {
  if (!core || processes.length < core.minBatch) {
    for (const process of processes) yield [process, classify(process)];
    return;
  }
  const { verdicts, threads } = core.confirm(processes);
  for (let i = 0; i < processes.length; i++) {
    const process = processes[i] as TrackedProcess;
    const verdict = verdicts[i];
    if (verdict === 'look closer') {
      yield [process, classify(process)];
      continue;
    }
    if (verdict !== 'gone') {
      process.threads = threads[i] as number;
      process.traced = false; // a traced task is one to look closer at
    }
    yield [process, { verdict: verdict as Verdict, tasks: [] }];
  }
}

function classify(process: TrackedProcess): { verdict: Verdict; tasks: TaskState[] } {
  const stat = readIdentifiedStat(process);
  // Gone, or the pid now names another process: the one we knew has exited.
  if (stat === null) return { verdict: 'gone', tasks: [] };
  process.threads = stat.numThreads;
  const main = { tid: process.pid, state: stat.state };
  // The main thread still running: pending, no need to read the other tasks yet.
  // Single-threaded: the process line is the only task.
  if (stat.numThreads <= 1 || !(isStoppedLetter(main.state) || main.state === 'D')) {
    process.traced = main.state === 't';
    return { verdict: isStoppedLetter(main.state) ? 'stopped' : 'pending', tasks: [main] };
  }
  const tasks = readTasks(process, stat.numThreads, main);
  if (tasks === null) return { verdict: 'gone', tasks: [] };
  process.traced = tasks.some((task) => task.state === 't');
  const stopped = tasks.every((task) => isStoppedLetter(task.state));
  return { verdict: stopped ? 'stopped' : 'pending', tasks };
}

/**
 * Every task's state (see taskIds). The main thread's comes from the process's own stat,
 * just read: the same task, so its task file is not read again (1000 reads at 1000 x 4).
 */
function readTasks(process: TrackedProcess, numThreads: number, main: TaskState): TaskState[] | null {
  let tids = taskIds.get(process);
  if (tids?.length !== numThreads) {
    tids = listTaskIds(process.pid) ?? undefined;
    if (tids === undefined) return null;
    taskIds.set(process, tids);
  }
  const tasks: TaskState[] = [];
  for (const tid of tids) {
    if (tid === main.tid) {
      tasks.push(main);
      continue;
    }
    const stat = readTaskStat(process.pid, tid);
    if (stat === null) {
      taskIds.delete(process); // a thread exited: list again next time
      continue;
    }
    tasks.push({ tid, state: stat.state });
  }
  return tasks.length === 0 ? null : tasks;
}

function isFrozenVforkParent(
  candidate: Laggard,
  tracked: Map<number, TrackedProcess>,
  confirmed: Set<number>,
): boolean {
  const { process, tasks } = candidate;
  const waiting = tasks.filter((task) => task.state === 'D');
  if (!waiting.every((task) => isVforkWait(process.pid, task.tid))) return false;
  for (const other of tracked.values()) {
    if (other.ppid === process.pid && confirmed.has(other.pid)) return true;
  }
  return false;
}

/** Delays between checks, in ms: 0 means "next turn of the event loop". */
const BACKOFF_MS = [0, 0, 0, 0.25, 0.5, 1, 1, 2, 2, 4, 5];

function backoff(attempt: number): number {
  return BACKOFF_MS[attempt] ?? 10;
}

function pause(ms: number, remaining: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (ms === 0) {
      setImmediate(resolve);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(
      () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      },
      Math.max(0, Math.min(ms, remaining)),
    );
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function timeoutError(laggards: Laggard[]): FreezeError {
  const described = laggards.slice(0, 8).map(({ process, tasks }) => {
    const running = tasks.filter((task) => !isStoppedLetter(task.state));
    const states = running.map((task) => `${task.tid}:${task.state}`).join(',');
    const tracer = readTracerPid(process.pid);
    const traced = tracer ? `, traced by ${tracer} which may be swallowing SIGSTOP` : '';
    return `${process.pid} (${process.comm}) tasks ${states}${traced}`;
  });
  const more = laggards.length > 8 ? ` and ${laggards.length - 8} more` : '';
  const pids = laggards.map((laggard) => laggard.process.pid);
  return new FreezeError(
    'TIMED_OUT',
    `timed out waiting for ${count(pids.length, 'process', 'processes')} to stop: ${described.join('; ')}${more}; everything it froze was thawed`,
    pids,
  );
}
