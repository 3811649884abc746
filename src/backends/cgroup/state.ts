/**
 * A cgroup's freezer state: the values to write, whether it reads frozen, whether it was
 * frozen before us, and waiting until the kernel says it is frozen. v2 confirms with
 * "frozen 1" in cgroup.events (never /proc: frozen tasks read S); v1 reads freezer.state
 * back and, when it sticks in FREEZING, thaws and freezes again in a bounded loop.
 */
import { type FSWatcher, watch } from 'node:fs';
import { join } from 'node:path';
import { FreezeError } from '../../base/errors.js';
import { cgroupPids, type ResolvedCgroup, readCgroupFile, writeCgroupFile } from '../../kernel/cgroupfs.js';
import { readProcessStat } from '../../kernel/procfs.js';

export const FROZEN_VALUE = { 'cgroup-v2': '1', 'cgroup-v1': 'FROZEN' } as const;
export const THAWED_VALUE = { 'cgroup-v2': '0', 'cgroup-v1': 'THAWED' } as const;

/** A cgroup file's trimmed text; '' once the cgroup is gone. */
export function readTrimmed(path: string): string {
  return (readCgroupFile(path) ?? '').trim();
}

/** Whether the cgroup itself asked to be frozen before we came (it then stays frozen after thaw). */
export function frozenBefore(cgroup: ResolvedCgroup): boolean {
  if (cgroup.version === 'cgroup-v2') return readTrimmed(cgroup.control) === '1';
  // v1: self_freezing says this cgroup was asked to freeze (not merely inherited from a parent).
  const self = readCgroupFile(join(cgroup.path, 'freezer.self_freezing'));
  if (self !== null) return self.trim() === '1';
  return readTrimmed(cgroup.control) !== 'THAWED';
}

export function isFrozen(cgroup: ResolvedCgroup): boolean {
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
export async function waitFrozen(
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
