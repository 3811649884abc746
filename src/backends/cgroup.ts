/**
 * The cgroup backends: the kernel freezes every task of a cgroup atomically and
 * invisibly (no SIGCHLD, no job-control change, forks included by construction).
 * v2: write 1 to cgroup.freeze, confirm "frozen 1" in cgroup.events (never /proc:
 * frozen tasks read S). v1: write FROZEN to freezer.state and read it back; when it
 * sticks in FREEZING, thaw and freeze again in a bounded loop.
 * Same guarantees as the signal backend: one deadline, abort, rollback before
 * rejecting, a watchdog that thaws if the freezer dies, the lease.
 */
import { type FSWatcher, watch } from 'node:fs';
import { join } from 'node:path';
import { abortedBeforeStart, FreezeError } from '../base/errors.js';
import { onTick } from '../base/timers.js';
import { cgroupPids, type ResolvedCgroup, readCgroupFile, writeCgroupFile } from '../kernel/cgroupfs.js';
import type { Platform } from '../kernel/platform.js';
import { readProcessStat } from '../kernel/procfs.js';
import { type ProcessRecord, processInfo, processRecord } from '../tree/process.js';
import type { Watchdog } from '../watchdog/channel.js';
import { sealProtection } from '../watchdog/lease.js';
import { acquireWatchdog } from '../watchdog/shared.js';
import type { BreachLog, BreachPolicy, HoldCheck } from './breach.js';
import { FrozenTreeHandle, type HoldSettings } from './frozen-tree.js';

/** @internal */
export interface CgroupFreezeRequest {
  /** performance.now() when the caller called: durationMs counts from there. */
  started: number;
  cgroup: ResolvedCgroup;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  watchdog: boolean;
  maxHoldMs?: number | undefined;
  hold: HoldSettings;
  platform: Platform;
}

const FROZEN_VALUE = { 'cgroup-v2': '1', 'cgroup-v1': 'FROZEN' } as const;
const THAWED_VALUE = { 'cgroup-v2': '0', 'cgroup-v1': 'THAWED' } as const;

/** A cgroup file's trimmed text; '' once the cgroup is gone. */
function readTrimmed(path: string): string {
  return (readCgroupFile(path) ?? '').trim();
}

/** Whether the cgroup itself asked to be frozen before we came (it then stays frozen after thaw). */
function frozenBefore(cgroup: ResolvedCgroup): boolean {
  if (cgroup.version === 'cgroup-v2') return readTrimmed(cgroup.control) === '1';
  // v1: self_freezing says this cgroup was asked to freeze (not merely inherited from a parent).
  const self = readCgroupFile(join(cgroup.path, 'freezer.self_freezing'));
  if (self !== null) return self.trim() === '1';
  return readTrimmed(cgroup.control) !== 'THAWED';
}

function isFrozen(cgroup: ResolvedCgroup): boolean {
  if (cgroup.version === 'cgroup-v2')
    return /^frozen 1$/m.test(readCgroupFile(join(cgroup.path, 'cgroup.events')) ?? '');
  return readTrimmed(cgroup.control) === 'FROZEN';
}

function describeProcesses(pids: number[]): string {
  if (pids.length === 0) return 'no processes';
  const named = pids.slice(0, 8).map((pid) => `${pid} (${readProcessStat(pid)?.comm ?? '?'})`);
  return `${named.join(', ')}${pids.length > 8 ? ` and ${pids.length - 8} more` : ''}`;
}

/** Resolves when the cgroup reads frozen; rejects at the deadline or on abort (the caller rolls back). */
async function waitFrozen(
  cgroup: ResolvedCgroup,
  signal: AbortSignal | undefined,
  deadline: number,
): Promise<void> {
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
        const why = signal.reason instanceof Error ? `: ${signal.reason.message}` : '';
        throw new FreezeError(
          'ABORTED',
          `freeze of cgroup ${cgroup.path} aborted${why}`,
          cgroupPids(cgroup.path),
          { cause: signal.reason },
        );
      }
      const now = performance.now();
      if (now >= deadline) {
        const pids = cgroupPids(cgroup.path);
        throw new FreezeError(
          'TIMED_OUT',
          `timed out waiting for cgroup ${cgroup.path} to freeze (${describeProcesses(pids)})`,
          pids,
        );
      }
      // v1 can stick in FREEZING (a task the freezer cannot catch, e.g. a vfork parent):
      // thaw and freeze again, a bounded number of times within the deadline.
      if (cgroup.version === 'cgroup-v1' && now >= refreezeAt && readTrimmed(cgroup.control) === 'FREEZING') {
        writeCgroupFile(cgroup.control, 'THAWED');
        writeCgroupFile(cgroup.control, 'FROZEN');
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

function snapshotProcesses(pids: number[], wasStopped: boolean): ProcessRecord[] {
  const processes: ProcessRecord[] = [];
  for (const pid of pids) {
    const stat = readProcessStat(pid);
    if (stat !== null) processes.push(processRecord(processInfo(stat), { wasStopped, traced: false }));
  }
  return processes;
}

/** @internal */
export async function freezeWithCgroup(request: CgroupFreezeRequest): Promise<FrozenTreeHandle> {
  const { started } = request;
  const deadline = started + request.timeoutMs;
  const { cgroup } = request;
  // Mutable: a cgroup frozen before us that someone thaws during the hold and that we
  // refreeze is ours from then on, and the thaw thaws it.
  let wasFrozen = frozenBefore(cgroup);
  let watchdog: Watchdog | undefined;
  let wrote = false;
  const thaw = () => {
    if (!wrote || wasFrozen) return;
    try {
      writeCgroupFile(cgroup.control, THAWED_VALUE[cgroup.version]);
    } catch (error) {
      // Removed while frozen (its processes gone): nothing is left frozen.
      if (!(error instanceof FreezeError && error.code === 'NO_SUCH_CGROUP')) throw error;
    }
  };
  try {
    if (request.watchdog) {
      watchdog = await acquireWatchdog(request.platform, deadline);
      // Before the first write, so no moment leaves the cgroup frozen without a guard.
      if (!wasFrozen) watchdog.guardFileWrite(cgroup.control, THAWED_VALUE[cgroup.version]);
    }
    if (request.signal?.aborted) throw abortedBeforeStart();
    wrote = true;
    writeCgroupFile(cgroup.control, FROZEN_VALUE[cgroup.version]);
    await waitFrozen(cgroup, request.signal, deadline);
    if (watchdog?.failure) throw watchdog.failure;
    await sealProtection(watchdog, request.maxHoldMs);
    return new FrozenTreeHandle({
      backend: cgroup.version,
      identity: 'starttime',
      processes: snapshotProcesses(cgroupPids(cgroup.path), wasFrozen),
      started,
      rounds: 1,
      exited: 0,
      maxHoldMs: request.maxHoldMs,
      hold: request.hold,
      resume: () => {
        thaw();
        return []; // the kernel freezer is invisible to parents: no ancestor stopped
      },
      watchdog,
      platform: request.platform,
      brief: (fresh) => {
        if (!wasFrozen) fresh.guardFileWrite(cgroup.control, THAWED_VALUE[cgroup.version]);
      },
      startHoldCheck: (context) =>
        startCgroupHoldCheck({
          cgroup,
          policy: request.hold.policy,
          intervalMs: request.hold.intervalMs,
          timeoutMs: request.timeoutMs,
          log: context.log,
          adopt: () => {
            if (!wasFrozen) return;
            wasFrozen = false;
            context.watchdog()?.guardFileWrite(cgroup.control, THAWED_VALUE[cgroup.version]);
          },
        }),
    });
  } catch (error) {
    // guarantee 2: nothing left frozen by a rejected freeze. The freeze's own error is
    // kept (it says why it failed), and says what the rollback did, once it has run.
    let outcome = wasFrozen ? 'it was frozen before this freeze and stays frozen' : 'it was thawed';
    try {
      thaw();
    } catch (rollbackError) {
      outcome = `the thaw failed too (${(rollbackError as Error).message}): run \`treefreeze thaw --cgroup ${cgroup.path}\``;
    } finally {
      watchdog?.dismiss();
    }
    if (wrote && error instanceof FreezeError) error.message += `; ${outcome}`;
    throw error;
  }
}

interface CgroupHoldCheckOptions {
  cgroup: ResolvedCgroup;
  policy: BreachPolicy;
  intervalMs: number;
  timeoutMs: number;
  log: BreachLog;
  /** The hold refreezes a cgroup that was frozen before it: from then on the thaw thaws it. */
  adopt: () => void;
}

/**
 * Verifying a cgroup hold: the freezer's control file must keep its frozen value. Read at
 * every interval (one small read) and, on v2, at once whenever cgroup.events changes (the
 * kernel raises a modify event when "frozen" flips). A process that moves into a frozen
 * cgroup is frozen by the kernel: not a breach.
 */
function startCgroupHoldCheck(options: CgroupHoldCheckOptions): HoldCheck {
  const { cgroup, log } = options;
  const abort = new AbortController();
  let stopped = false;
  let busy = false;
  /** Whether the open breach's refreeze was written (its wait may have run out before it took). */
  let refreezeWritten = false;
  const thawedNow = () => readTrimmed(cgroup.control) === THAWED_VALUE[cgroup.version];

  const check = async () => {
    if (stopped || busy) return;
    busy = true;
    try {
      if (thawedNow()) {
        refreezeWritten = false;
        log.record('cgroup-thawed', cgroupPids(cgroup.path));
        if (options.policy !== 'refreeze') return;
        options.adopt();
        writeCgroupFile(cgroup.control, FROZEN_VALUE[cgroup.version]);
        refreezeWritten = true;
        await waitFrozen(cgroup, abort.signal, performance.now() + options.timeoutMs);
        if (!stopped) log.end(true);
      } else if (log.open && isFrozen(cgroup)) {
        // Frozen again: by our write, once a refreeze outlived its wait, or by someone else.
        log.end(refreezeWritten);
      } else if (!log.open) {
        log.markIntact();
      }
    } catch {
      // Removed, unreadable, or the refreeze timed out: the next check looks again.
    } finally {
      busy = false;
    }
  };

  let watcher: FSWatcher | undefined;
  if (cgroup.version === 'cgroup-v2') {
    try {
      watcher = watch(join(cgroup.path, 'cgroup.events'), () => void check());
      watcher.unref();
    } catch {
      watcher = undefined; // the interval alone
    }
  }
  const untick = onTick(options.intervalMs, () => void check());

  return {
    stop() {
      if (stopped) return;
      stopped = true;
      untick();
      watcher?.close();
      abort.abort(new Error('the hold ended'));
      try {
        if (thawedNow()) log.record('cgroup-thawed', cgroupPids(cgroup.path), 'thaw');
      } catch {
        // the thaw goes on whatever this last look could not read
      }
      log.end(false);
    },
  };
}
