/** When a process started, as a wall-clock time: to tell a hold's process from a later one with its pid. */
import { readProcFile } from './procfs.js';

/**
 * The unit of /proc/<pid>/stat's start time. Linux reports it in USER_HZ, which is 100 on every
 * architecture it runs on (the kernel's own HZ may differ; USER_HZ is fixed for user space).
 */
const USER_HZ = 100;

let bootMs: number | null | undefined;

/** Date.now() of the boot, from /proc/stat's btime (whole seconds); null if unreadable. */
export function bootTimeMs(): number | null {
  if (bootMs === undefined) {
    const match = /^btime (\d+)$/m.exec(readProcFile('/proc/stat') ?? '');
    bootMs = match ? Number(match[1]) * 1000 : null;
  }
  return bootMs;
}

/** Date.now() when a process started (to within a second: btime is whole seconds), or null. */
export function startedAtMs(startTime: number): number | null {
  const boot = bootTimeMs();
  return boot === null ? null : boot + (startTime * 1000) / USER_HZ;
}
