/**
 * The cgroup backends: the kernel freezes every task of a cgroup atomically and
 * invisibly (no SIGCHLD, no job-control change, forks included by construction).
 * v2: write 1 to cgroup.freeze, confirm "frozen 1" in cgroup.events (never /proc:
 * frozen tasks read S). v1: write FROZEN to freezer.state and read it back; when it
 * sticks in FREEZING, thaw and freeze again in a bounded loop.
 * Same guarantees as the signal backend: one deadline, abort, rollback before
 * rejecting, a watchdog that thaws if the freezer dies, the lease.
 */
import { type FSWatcher, readFileSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cgroupPids, type ResolvedCgroup } from '../cgroup.js';
import { FreezeError } from '../errors.js';
import { FrozenTreeHandle } from '../frozen-tree.js';
import { readProcessStat } from '../procfs.js';
import type { TrackedProcess } from '../wait.js';
import { startWatchdog, type Watchdog } from '../watchdog.js';

export interface CgroupFreezeRequest {
  cgroup: ResolvedCgroup;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  watchdog: boolean;
  maxHoldMs?: number | undefined;
}

const FROZEN_VALUE = { 'cgroup-v2': '1', 'cgroup-v1': 'FROZEN' } as const;
const THAWED_VALUE = { 'cgroup-v2': '0', 'cgroup-v1': 'THAWED' } as const;

function readTrimmed(path: string): string {
  return readFileSync(path, 'utf8').trim();
}

function write(path: string, value: string): void {
  try {
    writeFileSync(path, value);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') {
      throw new FreezeError(
        'NOT_PERMITTED',
        `not permitted to write ${path}: run as root or as the cgroup's owner`,
      );
    }
    if (code === 'ENOENT') throw new FreezeError('NO_SUCH_CGROUP', `the cgroup of ${path} no longer exists`);
    throw error;
  }
}

/** Whether the cgroup itself asked to be frozen before we came (it then stays frozen after thaw). */
function frozenBefore(cgroup: ResolvedCgroup): boolean {
  if (cgroup.version === 'cgroup-v2') return readTrimmed(cgroup.control) === '1';
  // v1: self_freezing says this cgroup was asked to freeze (not merely inherited from a parent).
  try {
    return readTrimmed(join(cgroup.path, 'freezer.self_freezing')) === '1';
  } catch {
    return readTrimmed(cgroup.control) !== 'THAWED';
  }
}

function isFrozen(cgroup: ResolvedCgroup): boolean {
  if (cgroup.version === 'cgroup-v2')
    return /^frozen 1$/m.test(readFileSync(join(cgroup.path, 'cgroup.events'), 'utf8'));
  return readTrimmed(cgroup.control) === 'FROZEN';
}

function describeProcesses(pids: number[]): string {
  const shown = pids.slice(0, 8).map((pid) => `${pid} (${readProcessStat(pid)?.comm ?? '?'})`);
  return pids.length === 0
    ? 'no processes'
    : `${shown.join(', ')}${pids.length > 8 ? ` and ${pids.length - 8} more` : ''}`;
}

/** Resolves when the cgroup reads frozen; rejects at the deadline or on abort. */
async function waitFrozen(request: CgroupFreezeRequest, deadline: number): Promise<void> {
  const { cgroup, signal } = request;
  let wake: (() => void) | undefined;
  let watcher: FSWatcher | undefined;
  if (cgroup.version === 'cgroup-v2') {
    try {
      // cgroup.events raises a modify event when "frozen" flips: wake at once instead of polling.
      watcher = watch(join(cgroup.path, 'cgroup.events'), () => wake?.());
      watcher.unref();
    } catch {
      watcher = undefined; // polling alone
    }
  }
  const onAbort = () => wake?.();
  signal?.addEventListener('abort', onAbort);
  try {
    let attempt = 0;
    let refreezeAt = performance.now() + 20;
    for (;;) {
      if (isFrozen(cgroup)) return;
      if (signal?.aborted) {
        throw new FreezeError(
          'ABORTED',
          `freeze of cgroup ${cgroup.path} aborted; it was thawed`,
          cgroupPids(cgroup.path),
        );
      }
      const now = performance.now();
      if (now >= deadline) {
        const pids = cgroupPids(cgroup.path);
        throw new FreezeError(
          'TIMED_OUT',
          `timed out waiting for cgroup ${cgroup.path} to freeze (${describeProcesses(pids)}); it was thawed`,
          pids,
        );
      }
      // v1 can stick in FREEZING (a task the freezer cannot catch, e.g. a vfork parent):
      // thaw and freeze again, a bounded number of times within the deadline.
      if (cgroup.version === 'cgroup-v1' && now >= refreezeAt && readTrimmed(cgroup.control) === 'FREEZING') {
        write(cgroup.control, 'THAWED');
        write(cgroup.control, 'FROZEN');
        refreezeAt = now + 20;
      }
      const delay = [0, 0, 1, 1, 2, 5][attempt++] ?? 10;
      await new Promise<void>((resolve) => {
        const timer = delay === 0 ? undefined : setTimeout(resolve, Math.min(delay, deadline - now));
        wake = () => {
          if (timer) clearTimeout(timer);
          resolve();
        };
        if (delay === 0) setImmediate(resolve);
      });
      wake = undefined;
    }
  } finally {
    watcher?.close();
    signal?.removeEventListener('abort', onAbort);
  }
}

function snapshotProcesses(pids: number[], wasStopped: boolean): TrackedProcess[] {
  const processes: TrackedProcess[] = [];
  for (const pid of pids) {
    const stat = readProcessStat(pid);
    if (stat === null) continue;
    processes.push({
      pid,
      ppid: stat.ppid,
      comm: stat.comm,
      startTime: stat.startTime,
      threads: stat.numThreads,
      wasStopped,
      traced: false,
    });
  }
  return processes;
}

export async function freezeWithCgroup(request: CgroupFreezeRequest): Promise<FrozenTreeHandle> {
  const started = performance.now();
  const deadline = started + request.timeoutMs;
  const { cgroup } = request;
  const wasFrozen = frozenBefore(cgroup);
  let watchdog: Watchdog | undefined;
  let wrote = false;
  const thaw = () => {
    if (!wrote || wasFrozen) return;
    try {
      write(cgroup.control, THAWED_VALUE[cgroup.version]);
    } catch (error) {
      // Removed while frozen (its processes gone): nothing is left frozen.
      if (!(error instanceof FreezeError && error.code === 'NO_SUCH_CGROUP')) throw error;
    }
  };
  try {
    if (request.watchdog) {
      watchdog = await startWatchdog(() => {}, deadline);
      // Before the first write, so no moment leaves the cgroup frozen without a guard.
      if (!wasFrozen) watchdog.guardWrite(cgroup.control, THAWED_VALUE[cgroup.version]);
    }
    if (request.signal?.aborted)
      throw new FreezeError('ABORTED', 'freeze aborted before it started; nothing was frozen');
    wrote = true;
    write(cgroup.control, FROZEN_VALUE[cgroup.version]);
    await waitFrozen(request, deadline);
    await watchdog?.ready(); // never resolve unprotected
    watchdog?.complete();
    if (request.maxHoldMs !== undefined) watchdog?.lease(request.maxHoldMs);
    return new FrozenTreeHandle({
      backend: cgroup.version,
      identity: 'starttime',
      processes: snapshotProcesses(cgroupPids(cgroup.path), wasFrozen),
      durationMs: performance.now() - started,
      rounds: 1,
      exited: 0,
      resume: () => {
        thaw();
        watchdog?.release();
      },
    });
  } catch (error) {
    try {
      thaw(); // guarantee 2: nothing left frozen by a rejected freeze
    } finally {
      watchdog?.release();
    }
    throw error;
  }
}
