/**
 * A hold's record: what it holds, as its holder describes it. Records are read from files and
 * from holders' sockets, so every one is treated as data from someone else: read bounded,
 * never through a symbolic link, never from a FIFO or a device (which would block or never
 * end), only from a regular file of the expected owner, and checked field by field against
 * the schema before anything uses it.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { errnoCode } from '../base/errors.js';

export interface HoldTargetSummary {
  spec: string;
  kind: string;
  root: number | null;
  cgroup: string | null;
  label: string;
}

export interface HoldRecord {
  /** "tf-" and 6 hex digits: what `thaw` and `status` take. */
  id: string;
  /** The process that holds (the CLI, or its detached holder). */
  holder: { pid: number; startTime: number };
  command: 'freeze' | 'run';
  detached: boolean;
  targets: HoldTargetSummary[];
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
  /**
   * Where the hold's watchdogs live: outside the holder's cgroup (a kill of that cgroup cannot
   * take them along), in it (not root), or none (--no-watchdog). Absent from older records.
   */
  safetyNet?: SafetyNetPlace | undefined;
}

export const SAFETY_NET_PLACES = ['outside-cgroup', 'in-cgroup', 'none'] as const;
export type SafetyNetPlace = (typeof SAFETY_NET_PLACES)[number];

export const HOLD_ID = /^tf-[0-9a-f]{6}$/;

/** A record is a few hundred bytes; a few thousand pids still fit. Anything larger is not one. */
export const RECORD_MAX_BYTES = 64 * 1024;

/** The text of a record file, or why it is not one; null when it is gone. */
export function readRecordFile(
  path: string,
  ownerUid: number,
): { text: string } | { problem: string } | null {
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO would otherwise wait for a writer forever.
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'ENOENT') return null;
    return { problem: code === 'ELOOP' ? 'a symbolic link' : `unreadable (${code ?? error})` };
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) return { problem: 'not a regular file' };
    if (stat.uid !== ownerUid) return { problem: `owned by uid ${stat.uid}, not ${ownerUid}` };
    if (stat.size > RECORD_MAX_BYTES) return { problem: `larger than ${RECORD_MAX_BYTES} bytes` };
    const buffer = Buffer.alloc(RECORD_MAX_BYTES + 1);
    let length = 0;
    for (let n = 1; n > 0 && length < buffer.length; length += n) {
      n = readSync(fd, buffer, length, buffer.length - length, null);
    }
    if (length > RECORD_MAX_BYTES) return { problem: `larger than ${RECORD_MAX_BYTES} bytes` };
    return { text: buffer.toString('utf8', 0, length) };
  } catch (error) {
    return { problem: `unreadable (${errnoCode(error) ?? error})` };
  } finally {
    closeSync(fd);
  }
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;
const isPid = (value: unknown): value is number => isCount(value) && (value as number) > 0;
/** Times (milliseconds since the epoch, or durations) beyond the year 3000 are no record's. */
export const MAX_TIME_MS = 32_503_680_000_000;
const isTime = (value: unknown): value is number =>
  typeof value === 'number' && value >= 0 && value <= MAX_TIME_MS;
const isText = (value: unknown, max = 4096): value is string =>
  typeof value === 'string' && value.length <= max;
const isTimeOrNull = (value: unknown) => value === null || isTime(value);

function isTarget(value: unknown): value is HoldTargetSummary {
  return (
    isObject(value) &&
    isText(value.spec) &&
    isText(value.kind, 32) &&
    (value.root === null || isPid(value.root)) &&
    (value.cgroup === null || isText(value.cgroup)) &&
    isText(value.label)
  );
}

/** `value` as a HoldRecord, or why it is not one. Only the fields of the schema are kept. */
export function toHoldRecord(value: unknown): HoldRecord | string {
  if (!isObject(value)) return 'not a JSON object';
  const { id, holder, command, detached, targets, backend, pids, threads } = value;
  if (!isText(id, 16) || !HOLD_ID.test(id)) return 'no valid id';
  if (!isObject(holder) || !isPid(holder.pid) || !isCount(holder.startTime)) return 'no valid holder';
  if (command !== 'freeze' && command !== 'run') return 'no valid command';
  if (typeof detached !== 'boolean') return 'no valid detached flag';
  if (!Array.isArray(targets) || targets.length > 64 || !targets.every(isTarget)) return 'no valid targets';
  if (!isText(backend, 32)) return 'no valid backend';
  if (!Array.isArray(pids) || !pids.every(isPid)) return 'no valid pids';
  if (!isCount(threads)) return 'no valid thread count';
  if (!isTime(value.since) || !isTimeOrNull(value.leaseEndsAt) || !isTimeOrNull(value.forEndsAt)) {
    return 'no valid times';
  }
  if (typeof value.intact !== 'boolean' || !isCount(value.breaches)) return 'no valid verdict';
  return {
    id,
    holder: { pid: holder.pid, startTime: holder.startTime },
    command,
    detached,
    targets: targets.map(({ spec, kind, root, cgroup, label }) => ({ spec, kind, root, cgroup, label })),
    backend,
    pids,
    threads,
    since: value.since,
    leaseEndsAt: value.leaseEndsAt as number | null,
    forEndsAt: value.forEndsAt as number | null,
    intact: value.intact,
    breaches: value.breaches,
    ...safetyNetOf(value.safetyNet),
  };
}

/** The record's safetyNet when it is one of the places, else nothing (an older holder's record). */
function safetyNetOf(value: unknown): { safetyNet?: SafetyNetPlace } {
  const place = SAFETY_NET_PLACES.find((known) => known === value);
  return place === undefined ? {} : { safetyNet: place };
}

/** JSON text as a HoldRecord, or why it is not one (never throws). */
export function parseHoldRecord(text: string): HoldRecord | string {
  try {
    return toHoldRecord(JSON.parse(text));
  } catch {
    return 'not JSON';
  }
}
