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
  if (open < 0 || close < open)
    throw new SyntaxError(`not a /proc stat line: ${JSON.stringify(text.slice(0, 80))}`);
  const pid = Number(text.slice(0, open).trim());
  // After ") " come the fields from 3 (state) on.
  const rest = text
    .slice(close + 2)
    .trimEnd()
    .split(' ');
  if (!Number.isInteger(pid) || rest.length < 20) {
    throw new SyntaxError(`not a /proc stat line: ${JSON.stringify(text.slice(0, 80))}`);
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

export function isKernelThreadStat(stat: ProcStat): boolean {
  return (stat.flags & PF_KTHREAD) !== 0;
}
