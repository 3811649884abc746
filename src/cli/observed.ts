/**
 * What became of a hold's processes, as /proc and the cgroup files show them now: what `status`
 * and `thaw <id>` report, rather than what should have happened (a holder's death does not
 * prove its watchdogs resumed anything: a cgroup kill can take them along).
 */
import { startedAtMs } from '../kernel/boot-time.js';
import { findCgroupMounts, frozenCgroupOf } from '../kernel/cgroupfs.js';
import { readProcessStat, readTaskStates } from '../kernel/procfs.js';
import type { ProcStat } from '../kernel/stat.js';

export interface Observed {
  /** Every task stopped (T, t), or in a frozen cgroup. */
  stopped: number[];
  /** Alive, and not stopped. */
  running: number[];
  /** Exited, a zombie, or its pid now names a process started after the hold began. */
  gone: number[];
}

/** btime is whole seconds: a process started up to this long after `since` may still be the one held. */
const START_SLACK_MS = 1_500;

/** Counts, for JSON: how many of a hold's processes are stopped, running and gone. */
export function observedCounts(seen: Observed): { stopped: number; running: number; gone: number } {
  return { stopped: seen.stopped.length, running: seen.running.length, gone: seen.gone.length };
}

/**
 * Looks at each pid: gone, stopped or running. `since`: Date.now() when the hold began, to tell
 * a reused pid from the process held. `statOf` lets a caller pass a scan it already took.
 */
export function observeProcesses(
  pids: readonly number[],
  since: number,
  statOf: (pid: number) => ProcStat | null = readProcessStat,
): Observed {
  const seen: Observed = { stopped: [], running: [], gone: [] };
  let mounts: ReturnType<typeof findCgroupMounts> | undefined;
  for (const pid of pids) {
    const stat = statOf(pid);
    const startedAt = stat === null ? null : startedAtMs(stat.startTime);
    if (
      stat === null ||
      stat.state === 'Z' ||
      stat.state === 'X' ||
      (startedAt ?? 0) > since + START_SLACK_MS
    ) {
      seen.gone.push(pid);
      continue;
    }
    if (/[Tt]/.test(stat.state)) {
      const tasks = readTaskStates(pid);
      if (tasks === null) {
        seen.gone.push(pid);
        continue;
      }
      if (tasks.every((task) => /[Tt]/.test(task.state))) {
        seen.stopped.push(pid);
        continue;
      }
    }
    mounts ??= findCgroupMounts();
    if (frozenCgroupOf(pid, mounts) !== null) seen.stopped.push(pid);
    else seen.running.push(pid);
  }
  return seen;
}
