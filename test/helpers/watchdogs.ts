/**
 * Finding the watchdogs this test started — never every watchdog on the machine: another
 * treefreeze (another copy of the suite, a user's \`treefreeze freeze\`) may run meanwhile.
 * A freezer's watchdog is its child; once found, a watchdog is remembered by pid, so it
 * can still be checked after its freezer died and it was reparented.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { parseStat } from '../../src/kernel/stat.js';

const seen = new Set<number>();

function isWatchdog(pid: number): boolean {
  try {
    if (parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8')).state === 'Z') return false;
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('treefreeze-watchdog');
  } catch {
    return false; // exited
  }
}

/** The live watchdogs whose parent is \`parent\` (default: this test process). */
export function watchdogsOf(parent = process.pid): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (parseStat(readFileSync(`/proc/${name}/stat`, 'utf8')).ppid !== parent) continue;
    } catch {
      continue;
    }
    if (isWatchdog(Number(name))) found.push(Number(name));
  }
  for (const pid of found) seen.add(pid);
  return found;
}

/** Watchdogs of this test process, and every watchdog seen before, that still run. */
export function leftoverWatchdogs(): number[] {
  watchdogsOf();
  return [...seen].filter(isWatchdog);
}

/** Those of `pids` that are still running watchdogs. */
export function runningWatchdogs(pids: readonly number[]): number[] {
  return pids.filter(isWatchdog);
}

/** Signals a watchdog must ignore (only SIGKILL and SIGSTOP may affect it). */
export const STRAY_SIGNALS = [
  'SIGTERM',
  'SIGUSR1',
  'SIGUSR2',
  'SIGHUP',
  'SIGINT',
  'SIGQUIT',
  'SIGALRM',
] as const;

/**
 * Whether the watchdog has set its traps: it ignores every one of STRAY_SIGNALS (SigIgn of
 * /proc/<pid>/status). Before that, in its first milliseconds, such a signal kills it.
 */
export function ignoresStraySignals(watchdog: number): boolean {
  let ignored: bigint;
  try {
    const mask = /^SigIgn:\s*([0-9a-f]+)$/m.exec(readFileSync(`/proc/${watchdog}/status`, 'utf8'))?.[1];
    ignored = BigInt(`0x${mask ?? '0'}`);
  } catch {
    return false; // exited
  }
  return STRAY_SIGNALS.every((name) => ((ignored >> BigInt(constants.signals[name] - 1)) & 1n) === 1n);
}

/** The processes in a watchdog's process group besides itself: its lease timers and their sleeps. */
export function leaseProcesses(watchdog: number): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === watchdog) continue;
    try {
      if (parseStat(readFileSync(`/proc/${name}/stat`, 'utf8')).pgrp === watchdog) found.push(Number(name));
    } catch {
      // exited
    }
  }
  return found;
}
