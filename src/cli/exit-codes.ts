/** The command line's documented exit codes (docs/cli.md, "Exit codes"). */
export const EXIT = {
  OK: 0,
  /** The freeze (or thaw) failed; nothing was left frozen. */
  FAILED: 1,
  /** Bad command line. */
  USAGE: 2,
  /**
   * freeze, run: the hold was broken — a frozen process ran again (someone sent SIGCONT,
   * another freezer thawed it, the cgroup was thawed) before treefreeze thawed it.
   */
  HOLD_BROKEN: 3,
  /**
   * run: the hold ended before the command did — --max-hold ran out, or every process of the
   * tree exited — so part of what the command did saw a tree that was not held.
   */
  HOLD_ENDED_EARLY: 4,
  /** run: the command could not be executed. */
  NOT_EXECUTABLE: 126,
  /** run: the command was not found. */
  NOT_FOUND: 127,
  /** Killed by signal n (run: its command was; the demo: it was interrupted): this plus n. */
  SIGNAL_BASE: 128,
} as const;
