/**
 * The holds made by the command line. Each holder keeps two entries in its user's runtime
 * directory (runtime-dir.ts, the user's alone): `<id>.json`, its record, replaced whole (write,
 * then rename) as the hold changes; and `<id>.sock`, where it answers `describe` and `thaw`
 * (hold-socket.ts). A holder that dies leaves both behind; they are removed by the next
 * command of the same user that finds the holder gone.
 *
 * What each reader trusts: a user reads records only from their own directory. Root learns of
 * other users' holds only by asking their holders over their sockets (the kernel says who
 * listens), never from their files, and never removes anything of theirs.
 */

import { randomBytes } from 'node:crypto';
import { type Dir, opendirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readProcessStat } from '../kernel/procfs.js';
import { HOLD_ID, type HoldRecord, parseHoldRecord, readRecordFile } from './hold-record.js';
import { holdSocketPath } from './hold-socket.js';
import { openDirectoryOf, type RuntimeDir, runtimeDirProblem, USERS_RUNTIME_BASE } from './runtime-dir.js';

export { HOLD_ID, type HoldRecord } from './hold-record.js';

/** At most this many entries of one directory are looked at: a planted flood costs nothing more. */
const MAX_ENTRIES = 4096;
/**
 * Root asks at most this many holders of one user, and of all users together, to describe
 * themselves: each answer may be 65 KiB, and all are asked at once.
 */
const MAX_SOCKETS_PER_USER = 64;
const MAX_SOCKETS = 256;

export function newHoldId(): string {
  return `tf-${randomBytes(3).toString('hex')}`;
}

/** Writes (or replaces) a hold's record; false when it could not (the hold goes on). */
export function writeHold(dir: RuntimeDir, record: HoldRecord): boolean {
  const temporary = join(dir.path, `.${record.id}.${process.pid}.tmp`);
  try {
    writeFileSync(temporary, `${JSON.stringify(record)}\n`, { mode: 0o600 });
    renameSync(temporary, join(dir.path, `${record.id}.json`));
    return true;
  } catch {
    rmSync(temporary, { force: true });
    return false;
  }
}

/** Removes a hold's record and socket from this user's own directory. */
export function removeHold(dir: RuntimeDir, id: string): void {
  if (!HOLD_ID.test(id)) return; // never a path built from anything else
  rmSync(join(dir.path, `${id}.json`), { force: true });
  rmSync(holdSocketPath(dir.path, id), { force: true });
}

/** Whether the process that made a record still runs (same pid and start time). */
export function holderRuns(record: HoldRecord): boolean {
  const stat = readProcessStat(record.holder.pid);
  return stat !== null && stat.startTime === record.holder.startTime && stat.state !== 'Z';
}

/** The first MAX_ENTRIES names in a directory, read in batches: a huge directory costs no more. */
function entryNames(path: string): string[] {
  let dir: Dir;
  try {
    dir = opendirSync(path);
  } catch {
    return [];
  }
  const names: string[] = [];
  try {
    for (let entry = dir.readSync(); entry !== null && names.length < MAX_ENTRIES; entry = dir.readSync()) {
      names.push(entry.name);
    }
  } catch {
    // removed meanwhile
  } finally {
    dir.closeSync();
  }
  return names;
}

/** The ids of the entries with `suffix` in a directory (names that are no hold id are ignored). */
function idsWithSuffix(path: string, suffix: string): string[] {
  return entryNames(path)
    .filter((name) => name.endsWith(suffix) && HOLD_ID.test(name.slice(0, -suffix.length)))
    .map((name) => name.slice(0, -suffix.length));
}

/** Hold `id`'s record in this user's directory, or why it is not a valid one; null when there is none. */
function readHold(dir: RuntimeDir, id: string): HoldRecord | string | null {
  const read = readRecordFile(join(dir.path, `${id}.json`), dir.uid);
  if (read === null) return null;
  const record = 'text' in read ? parseHoldRecord(read.text) : read.problem;
  return typeof record !== 'string' && record.id !== id ? 'it names another hold' : record;
}

/** This user's records; each one that is not a valid record is skipped with a warning. */
export function listHolds(dir: RuntimeDir): { records: HoldRecord[]; warnings: string[] } {
  const records: HoldRecord[] = [];
  const warnings: string[] = [];
  for (const id of idsWithSuffix(dir.path, '.json')) {
    const record = readHold(dir, id);
    if (typeof record === 'string') warnings.push(`skipped ${join(dir.path, `${id}.json`)}: ${record}`);
    else if (record !== null) records.push(record); // null: ended meanwhile
  }
  return { records: records.sort((a, b) => a.since - b.since), warnings };
}

export function findHold(dir: RuntimeDir, id: string): HoldRecord | undefined {
  const record = HOLD_ID.test(id) ? readHold(dir, id) : null;
  return record === null || typeof record === 'string' ? undefined : record;
}

export interface OtherUsersSocket {
  id: string;
  uid: number;
  path: string;
}

/**
 * For root: the hold sockets in other users' runtime directories (/run/user/<uid>/treefreeze),
 * only where that directory is safely the user's own (only those of hold `onlyId`, if given).
 * Nothing in them is read but the names.
 */
export function otherUsersHoldSockets(onlyId?: string): {
  sockets: OtherUsersSocket[];
  warnings: string[];
  /** Lets go of the directories the sockets' paths go through: after the holders were asked. */
  close: () => void;
} {
  const base = USERS_RUNTIME_BASE;
  const sockets: OtherUsersSocket[] = [];
  const warnings: string[] = [];
  const opened: (() => void)[] = [];
  for (const name of entryNames(base)) {
    if (!/^[1-9]\d{0,9}$/.test(name)) continue;
    const uid = Number(name);
    if (runtimeDirProblem(join(base, name), uid) !== null) continue; // not a runtime directory of uid's
    const dir = openDirectoryOf(join(base, name, 'treefreeze'), uid);
    if ('problem' in dir) {
      if (!dir.missing) warnings.push(`skipped the holds of uid ${uid}: ${dir.problem}`);
      continue;
    }
    opened.push(dir.close);
    const ids = idsWithSuffix(dir.path, '.sock').filter((id) => onlyId === undefined || id === onlyId);
    const room = Math.min(MAX_SOCKETS_PER_USER, MAX_SOCKETS - sockets.length);
    if (ids.length > room)
      warnings.push(`asked only ${room} of the ${ids.length} hold sockets of uid ${uid}`);
    for (const id of ids.slice(0, room)) sockets.push({ id, uid, path: holdSocketPath(dir.path, id) });
  }
  const close = () => {
    for (const closeOne of opened.splice(0)) closeOne();
  };
  return { sockets, warnings, close };
}
