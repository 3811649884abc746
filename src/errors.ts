/**
 * Every failure of treefreeze is a FreezeError with a stable `code`.
 * Codes are part of the public interface: never rename one, only add.
 */
export const FreezeErrorCode = {
  /** The root pid (or a pid the caller named) does not exist. */
  NO_SUCH_PROCESS: 'NO_SUCH_PROCESS',
  /** The caller may not signal a process of the tree (EPERM). */
  NOT_PERMITTED: 'NOT_PERMITTED',
  /** pid 1, a kernel thread, or the calling process itself. */
  UNSAFE_TARGET: 'UNSAFE_TARGET',
  /** Some task did not reach a stopped state before the deadline; `pids` names the laggards. */
  TIMED_OUT: 'TIMED_OUT',
  /** New processes kept appearing after the bounded number of rescans. */
  TREE_KEEPS_CHANGING: 'TREE_KEEPS_CHANGING',
  /** The caller's AbortSignal fired. */
  ABORTED: 'ABORTED',
  /** An argument is not valid (not a positive integer pid, bad option value). */
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
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ESRCH';
}
