/**
 * The machine's list of holds made by the command line: one small JSON file per hold in
 * the runtime directory (/run/treefreeze for root, $XDG_RUNTIME_DIR/treefreeze otherwise;
 * both are tmpfs, emptied at boot). Each holder writes only its own file, replacing it
 * whole (write, then rename), so concurrent holders never clash and a reader sees an old
 * or a new version, never half of one. A holder that dies leaves its file behind: every
 * reader checks that the holder (pid and start time) still runs, and calls it stale if not
 * — its watchdog has thawed the tree by then. TREEFREEZE_RUNTIME_DIR names another directory
 * (a registry of its own: holds in it are seen only by commands given the same directory).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readProcessStat } from '../kernel/procfs.js';

export interface HoldRecord {
  /** "tf-" and 6 hex digits: what `thaw` and `status` take. */
  id: string;
  /** The process that holds (the CLI, or its detached holder). */
  holder: { pid: number; startTime: number };
  command: 'freeze' | 'run';
  detached: boolean;
  targets: { spec: string; kind: string; root: number | null; cgroup: string | null; label: string }[];
  backend: string;
  /** The frozen processes' pids. */
  pids: number[];
  threads: number;
  /** Date.now() when the tree was frozen. */
  since: number;
  /** Date.now() when the lease (--max-hold) ends, or null. */
  leaseEndsAt: number | null;
  /** When --for ends, or null. */
  forEndsAt: number | null;
  intact: boolean;
  breaches: number;
  /** Set by the holder as it ends, when `thaw <id>` asked for the outcome. */
  ended?: { at: number; reason: string; intact: boolean; breaches: number; heldMs: number; exitCode: number };
}

export const HOLD_ID = /^tf-[0-9a-f]{6}$/;

/** This user's registry directory (created on demand). */
export function registryDir(): string {
  const chosen = chosenRegistryDir();
  if (chosen !== undefined) return chosen;
  const base = process.getuid?.() === 0 ? '/run' : (process.env.XDG_RUNTIME_DIR ?? '/tmp');
  return join(base, 'treefreeze');
}

/** The directory TREEFREEZE_RUNTIME_DIR names, if it names one. */
function chosenRegistryDir(): string | undefined {
  const chosen = process.env.TREEFREEZE_RUNTIME_DIR;
  return chosen === undefined || chosen === '' ? undefined : chosen;
}

/** Every registry directory this user may read: as root, every user's too. */
function readableDirs(): string[] {
  const dirs = [registryDir()];
  if (process.getuid?.() === 0 && chosenRegistryDir() === undefined) {
    let users: string[] = [];
    try {
      users = readdirSync('/run/user');
    } catch {
      // no per-user runtime directories
    }
    for (const uid of users) dirs.push(join('/run/user', uid, 'treefreeze'));
  }
  return dirs;
}

export function newHoldId(): string {
  return `tf-${randomBytes(3).toString('hex')}`;
}

/** Writes (or replaces) a hold's record; quietly does nothing where the directory cannot be made. */
export function writeHold(record: HoldRecord): boolean {
  const dir = registryDir();
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const temporary = join(dir, `.${record.id}.${process.pid}.tmp`);
    writeFileSync(temporary, `${JSON.stringify(record)}\n`, { mode: 0o600 });
    renameSync(temporary, join(dir, `${record.id}.json`));
    return true;
  } catch {
    return false; // a hold never fails because its registry entry could not be written
  }
}

export function removeHold(id: string): void {
  for (const dir of readableDirs()) rmSync(join(dir, `${id}.json`), { force: true });
}

/** Whether the process that made a record still runs (same pid and start time). */
export function holderRuns(record: HoldRecord): boolean {
  const stat = readProcessStat(record.holder.pid);
  return stat !== null && stat.startTime === record.holder.startTime && stat.state !== 'Z';
}

/** Every readable record; unreadable or half-made files are skipped. */
export function listHolds(): HoldRecord[] {
  const records: HoldRecord[] = [];
  for (const dir of readableDirs()) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      if (!name.endsWith('.json') || !HOLD_ID.test(name.slice(0, -5))) continue;
      try {
        records.push(JSON.parse(readFileSync(join(dir, name), 'utf8')) as HoldRecord);
      } catch {
        // removed meanwhile, or not ours to read
      }
    }
  }
  return records.sort((a, b) => a.since - b.since);
}

export function findHold(id: string): HoldRecord | undefined {
  return listHolds().find((record) => record.id === id);
}

/** A marker `thaw <id>` leaves before it signals the holder: keep the outcome in the record. */
export function requestOutcome(id: string): void {
  const dir = registryDir();
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, `${id}.thawing`), '', { mode: 0o600 });
  } catch {
    // then the holder removes its record; thaw reports what it saw
  }
}

export function outcomeRequested(id: string): boolean {
  try {
    readFileSync(join(registryDir(), `${id}.thawing`));
    return true;
  } catch {
    return false;
  }
}

export function clearOutcomeRequest(id: string): void {
  rmSync(join(registryDir(), `${id}.thawing`), { force: true });
}
