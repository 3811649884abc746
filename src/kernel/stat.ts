import { FreezeError } from '../base/errors.js';

/** One parsed line of /proc/<pid>/stat or /proc/<pid>/task/<tid>/stat (see proc(5)). */
export interface ProcStat {
  pid: number;
  /** The command name, which may hold ')', spaces and newlines. */
  comm: string;
  /** One letter: R S D T t Z X I P W K ... */
  state: string;
  ppid: number;
  pgrp: number;
  session: number;
  /** PF_* flags; PF_KTHREAD (0x00200000) marks kernel threads. */
  flags: number;
  numThreads: number;
  /** Start time after boot, in clock ticks: with the pid, identifies a process. */
  startTime: number;
}

const PF_KTHREAD = 0x00200000;

/**
 * Parses a stat line. The comm field is delimited by the FIRST '(' and the LAST ')':
 * a comm like "a) R (b" would fool a parser that stops at the first ')'.
 */
export function parseStat(text: string): ProcStat {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) throw notAStatLine(text);
  const pidText = text.slice(0, open).trim();
  const pid = /^\d+$/.test(pidText) ? Number(pidText) : Number.NaN;
  // After ") " come the fields from 3 (state) on.
  const rest = text
    .slice(close + 2)
    .trimEnd()
    .split(' ');
  if (!Number.isInteger(pid) || rest.length < 20) {
    throw notAStatLine(text);
  }
  // rest[i] is field (i + 3) in proc(5)'s 1-based numbering.
  const field = (n: number): number => Number(rest[n - 3]);
  return {
    pid,
    comm: text.slice(open + 1, close),
    state: rest[0] ?? '?',
    ppid: field(4),
    pgrp: field(5),
    session: field(6),
    flags: field(9),
    numThreads: field(20),
    startTime: field(22),
  };
}

/**
 * The same parse, straight from the bytes of a read buffer: no decoding of the whole
 * line, no split. Returns null if the bytes are not a stat line. Only the comm is
 * decoded. This is the hot path of discovery and of waiting.
 */
export function parseStatBytes(bytes: Uint8Array, length: number): ProcStat | null {
  let close = length - 1;
  while (close >= 0 && bytes[close] !== 41) close--; // the LAST ')'
  let open = 0;
  while (open < length && bytes[open] !== 40) open++; // the first '('
  if (close < open || close + 2 >= length) return null;
  // The pid: digits, then the one space before '(' — anything else is not a stat line.
  let pid = 0;
  if (open < 2 || bytes[open - 1] !== 32) return null;
  for (let i = 0; i < open - 1; i++) {
    const digit = (bytes[i] as number) - 48;
    if (digit < 0 || digit > 9) return null;
    pid = pid * 10 + digit;
  }
  const state = String.fromCharCode(bytes[close + 2] as number);
  // Fields 4..22, each a (possibly negative) integer separated by one space.
  const numbers: number[] = [];
  let i = close + 4;
  while (numbers.length < 19 && i < length) {
    let value = 0;
    let negative = false;
    if (bytes[i] === 45) {
      negative = true;
      i++;
    }
    let digits = 0;
    while (i < length) {
      const digit = (bytes[i] as number) - 48;
      if (digit < 0 || digit > 9) break;
      value = value * 10 + digit;
      digits++;
      i++;
    }
    if (digits === 0) return null;
    numbers.push(negative ? -value : value);
    i++; // the space
  }
  if (numbers.length < 19) return null;
  return {
    pid,
    comm: Buffer.from(bytes.buffer, bytes.byteOffset + open + 1, close - open - 1).toString('utf8'),
    state,
    ppid: numbers[0] as number,
    pgrp: numbers[1] as number,
    session: numbers[2] as number,
    flags: numbers[5] as number,
    numThreads: numbers[16] as number,
    startTime: numbers[18] as number,
  };
}

function notAStatLine(text: string): FreezeError {
  return new FreezeError('INVALID_ARGUMENT', `not a /proc stat line: ${JSON.stringify(text.slice(0, 80))}`);
}

export function isKernelThreadStat(stat: ProcStat): boolean {
  return (stat.flags & PF_KTHREAD) !== 0;
}
