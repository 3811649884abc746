/**
 * Every failure of treefreeze is a FreezeError with a stable `code`, and every message
 * is built here, so the same situation reads the same wherever it is detected.
 * Codes are part of the public interface: never rename one, only add.
 */
export const FreezeErrorCode = {
  /** The root pid (or a pid the caller named) does not exist. */
  NO_SUCH_PROCESS: 'NO_SUCH_PROCESS',
  /** The caller may not signal a process of the tree, or write a cgroup's files (EPERM/EACCES). */
  NOT_PERMITTED: 'NOT_PERMITTED',
  /** pid 1, a kernel thread, or the calling process itself. */
  UNSAFE_TARGET: 'UNSAFE_TARGET',
  /** Some task did not reach a stopped state before the deadline; `pids` names the laggards. */
  TIMED_OUT: 'TIMED_OUT',
  /** New processes kept appearing after the bounded number of rescans. */
  TREE_KEEPS_CHANGING: 'TREE_KEEPS_CHANGING',
  /** The caller's AbortSignal fired. */
  ABORTED: 'ABORTED',
  /** An argument is not valid (not a positive integer pid, bad option value, not a stat line). */
  INVALID_ARGUMENT: 'INVALID_ARGUMENT',
  /** The watchdog could not be started or stopped listening: the freeze would be unprotected. */
  WATCHDOG_FAILED: 'WATCHDOG_FAILED',
  /** freezeCgroup: nothing at that path. */
  NO_SUCH_CGROUP: 'NO_SUCH_CGROUP',
  /** freezeCgroup: the path exists but is not a cgroup. */
  NOT_A_CGROUP: 'NOT_A_CGROUP',
  /** freezeCgroup: the cgroup cannot be frozen (a hierarchy root, or no freezer controller). */
  NO_FREEZER: 'NO_FREEZER',
  /** backend 'cgroup': the root's cgroup does not hold exactly the root's tree. */
  CGROUP_MISMATCH: 'CGROUP_MISMATCH',
  /** /proc could not be read for a reason other than the process being gone. */
  PROC_UNREADABLE: 'PROC_UNREADABLE',
  /** A cgroup's files could not be read or written for a reason other than permission. */
  CGROUP_IO_ERROR: 'CGROUP_IO_ERROR',
  /** The kernel refused a signal for a reason other than permission or the process being gone. */
  SIGNAL_FAILED: 'SIGNAL_FAILED',
  /** A thaw could not resume everything; `pids` names what may still be stopped. */
  THAW_FAILED: 'THAW_FAILED',
  /** resolveTargets: no process, socket, unit or container matches a target (a name, :PORT, unit:, container:). */
  NO_MATCH: 'NO_MATCH',
  /** resolveTargets: a target matches several separate trees or cgroups; `pids` names their roots. */
  AMBIGUOUS_TARGET: 'AMBIGUOUS_TARGET',
  /** freezeFleet: a host could not be reached or could not freeze; every host that had frozen was thawed. */
  FLEET_FAILED: 'FLEET_FAILED',
  /**
   * The command line's runtime directory (where holds are registered) is not safe to use: not
   * owned by the user, writable by others, a symbolic link, or not a directory.
   */
  UNSAFE_RUNTIME_DIR: 'UNSAFE_RUNTIME_DIR',
  /**
   * A process of the tree is held by another live treefreeze hold (of another process);
   * `pids` names the held ones. Nothing was left frozen: end that hold first.
   */
  ALREADY_HELD: 'ALREADY_HELD',
  /**
   * The cgroup, or the cgroup of a process of the tree, is already frozen by a freezer that is
   * not a treefreeze hold (podman or docker pause, systemctl freeze, a freezer written by hand);
   * `pids` names the processes found there. Nothing was left changed: thaw it there, or join it.
   */
  ALREADY_FROZEN: 'ALREADY_FROZEN',
  /**
   * A prepared hold (freeze --prepare) heard no order to freeze within its prepare deadline:
   * it exited without freezing anything.
   */
  PREPARE_EXPIRED: 'PREPARE_EXPIRED',
  /**
   * A line on a hold's standard input (or a request to its socket) that is not an order it
   * knows ("freeze", "thaw"), or an order for a time that had already passed: nothing was
   * frozen on it, and a hold it reached was thawed.
   */
  BAD_ORDER: 'BAD_ORDER',
  /**
   * treefreeze release: the prepared hold did not answer its order (its holder is stuck or its
   * answer is not valid). Whether it froze is unknown: its lease bounds it; treefreeze status shows it.
   */
  RELEASE_FAILED: 'RELEASE_FAILED',
} as const;

export type FreezeErrorCode = (typeof FreezeErrorCode)[keyof typeof FreezeErrorCode];

export class FreezeError extends Error {
  readonly code: FreezeErrorCode;
  readonly pids: number[];

  constructor(code: FreezeErrorCode, message: string, pids: readonly number[] = [], options?: ErrorOptions) {
    super(message, options);
    this.name = 'FreezeError';
    this.code = code;
    this.pids = [...pids];
  }
}

/** errno codes that mean "the process or task is gone": not an error while freezing. */
export function isGoneError(error: unknown): boolean {
  const code = errnoCode(error);
  return code === 'ENOENT' || code === 'ESRCH';
}

export function errnoCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

/** "1 process", "1,204 processes": plural forms and thousands separators for every message. */
export function count(n: number, singular: string, pluralForm = `${singular}s`): string {
  // Not toLocaleString: its first call loads ICU data, ~20 ms of a CLI's start.
  const digits = String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${digits} ${n === 1 ? singular : pluralForm}`;
}

/** The first few pids of a list, for a message: "12, 13, 14 and 5 more". */
export function listPids(pids: readonly number[], shown = 8): string {
  const more = pids.length > shown ? ` and ${pids.length - shown} more` : '';
  return `${pids.slice(0, shown).join(', ')}${more}`;
}

// The messages. Each says what happened and what state things were left in.

export const invalidArgument = (message: string): FreezeError => new FreezeError('INVALID_ARGUMENT', message);

export const noSuchProcess = (pid: number): FreezeError =>
  new FreezeError('NO_SUCH_PROCESS', `no process with pid ${pid}`, [pid]);

export const threadNotProcess = (tid: number, process: number): FreezeError =>
  new FreezeError(
    'INVALID_ARGUMENT',
    `${tid} is a thread of process ${process}, not a process: give ${process} (its threads are always frozen together)`,
    [tid],
  );

export const abortedBeforeStart = (): FreezeError =>
  new FreezeError('ABORTED', 'freeze aborted before it started; nothing was frozen');

export function aborted(reason: unknown, pids: readonly number[] = []): FreezeError {
  const why = reason instanceof Error ? `: ${reason.message}` : '';
  return new FreezeError('ABORTED', `freeze aborted${why}; everything it froze was thawed`, pids, {
    cause: reason,
  });
}

export function notPermittedToSignal(pids: readonly number[], cause?: unknown): FreezeError {
  const which =
    pids.length === 1
      ? `process ${pids[0]}`
      : `${count(pids.length, 'process', 'processes')} of the tree (${listPids(pids)})`;
  return new FreezeError(
    'NOT_PERMITTED',
    `not permitted to signal ${which}: ${pids.length === 1 ? 'it belongs' : 'they belong'} to another user; run as ${pids.length === 1 ? 'its' : 'their'} owner or as root`,
    pids,
    { cause },
  );
}

export const notPermittedCgroup = (path: string, cause?: unknown): FreezeError =>
  new FreezeError(
    'NOT_PERMITTED',
    `not permitted to write ${path}: run as root or as the cgroup's owner`,
    [],
    {
      cause,
    },
  );

export const cgroupIoError = (path: string, cause: unknown): FreezeError =>
  new FreezeError('CGROUP_IO_ERROR', `cannot access ${path}: ${(cause as Error).message}`, [], { cause });

export const procUnreadable = (path: string, cause: unknown): FreezeError =>
  new FreezeError('PROC_UNREADABLE', `cannot read ${path}: ${(cause as Error).message}`, [], { cause });

export const watchdogFailed = (what: string, cause?: unknown): FreezeError =>
  new FreezeError('WATCHDOG_FAILED', what, [], { cause });

export const signalFailed = (pid: number, signal: string, detail: string, cause?: unknown): FreezeError =>
  new FreezeError('SIGNAL_FAILED', `could not send ${signal} to process ${pid}: ${detail}`, [pid], { cause });

export const thawFailed = (what: string, pids: readonly number[], cause: unknown): FreezeError =>
  new FreezeError(
    'THAW_FAILED',
    `could not thaw ${what}: ${(cause as Error)?.message ?? String(cause)}; run \`treefreeze thaw\` to resume it`,
    pids,
    { cause },
  );

/**
 * The deadline wins: a freeze that failed after its timeout had passed is TIMED_OUT, whatever
 * else went wrong on the way (a watchdog that could not start in the time left, a descriptor
 * the kernel refused); the other failure is kept as the cause. An abort stays ABORTED.
 */
export function pastDeadline(error: unknown, timeoutMs: number): unknown {
  if (error instanceof FreezeError && (error.code === 'TIMED_OUT' || error.code === 'ABORTED')) return error;
  const why = error instanceof Error ? ` (on the way: ${error.message})` : '';
  const pids = error instanceof FreezeError ? error.pids : [];
  return new FreezeError(
    'TIMED_OUT',
    `timed out: the freeze took longer than its ${timeoutMs} ms timeout${why}; everything it froze was thawed`,
    pids,
    { cause: error },
  );
}

export function alreadyHeld(
  pids: readonly number[],
  firstComm: string,
  label: string,
  holder: number | null,
  joining = false,
): FreezeError {
  const which =
    pids.length === 1 ? `process ${pids[0]} (${firstComm}) is` : `processes ${listPids(pids)} are`;
  const by = `${label}${holder === null ? '' : `, holder pid ${holder}`}`;
  // A command-line hold has an id: say the command that ends it.
  const id = /\btf-[0-9a-f]{6}\b/.exec(label)?.[0];
  const end =
    id === undefined ? 'end that hold first' : `end it first (treefreeze thaw ${id}, or wait for its lease)`;
  const what = joining
    ? 'it could not be joined (its holder cannot start a joint guard)'
    : `${end}, or join it (join: true, --join)`;
  return new FreezeError(
    'ALREADY_HELD',
    `${which} already held by another treefreeze hold (${by}): ${what}; everything this freeze stopped was thawed`,
    pids,
  );
}

/** `inside`: the frozen cgroup's path in its hierarchy; `by`: who most likely froze it. */
export function alreadyFrozen(
  inside: string,
  version: string,
  by: string,
  pids: readonly number[] = [],
): FreezeError {
  const freezer = version === 'cgroup-v1' ? 'its v1 freezer' : 'cgroup.freeze';
  const whose =
    pids.length === 0
      ? ''
      : ` (holding ${count(pids.length, 'process', 'processes')} of the tree: ${listPids(pids)})`;
  return new FreezeError(
    'ALREADY_FROZEN',
    `cgroup ${inside}${whose} is already frozen (${freezer}, likely by ${by}): thaw it there first, or join it (join: true, --join) to hold it as it is; nothing was left changed`,
    pids,
  );
}

/** Wraps anything thrown into a FreezeError (a FreezeError passes unchanged). */
export function asFreezeError(error: unknown, wrap: (cause: unknown) => FreezeError): FreezeError {
  return error instanceof FreezeError ? error : wrap(error);
}

/** Throws INVALID_ARGUMENT unless `pid` is a positive integer. */
export function assertPid(pid: unknown, what = 'pid'): asserts pid is number {
  if (typeof pid !== 'number' || !Number.isSafeInteger(pid) || pid <= 0) {
    throw invalidArgument(`${what} must be a positive integer, got ${String(pid)}`);
  }
}
