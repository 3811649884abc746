/**
 * The watchdog's program and the lines it understands. A tiny /bin/sh process, in its
 * own session, holding a dead-man switch for a freeze.
 *
 * Two channels. fd 3 is an anonymous file (a memfd, or an unlinked temporary file) to
 * which the freezer appends what to resume, one line each: "P <pid> <starttime>"
 * (resume this process), "W <value> <path>" (write value to path) or "A <pid> <starttime>"
 * (an ancestor outside the tree: continue it, after the tree, if it is stopped then — it
 * stopped itself when its child stopped, as su does). The watchdog reads
 * it only when it must act, reopening it through /proc/self/fd/3 to start from the
 * beginning; a file never fills up, so the freezer never waits on it (a pipe did, once
 * its buffer was full, while the watchdog was not reading). stdin is the control pipe,
 * read line by line: "L <seconds>" starts the lease, "D" means the freeze ended normally
 * (exit without resuming anything). EOF on stdin without "D" means the freezer died:
 * the kernel closed its end, whatever killed it. Then the watchdog resumes everything
 * it was told, checking each process's start time right before SIGCONT, and exits.
 *
 * No signal but SIGKILL and SIGSTOP reaches it (it ignores the rest), so nothing can make
 * it resume the tree behind the freezer's back; the freezer notices a watchdog that was
 * killed or stopped (see keeper.ts). The lease's subshell resumes by itself when its
 * `sleep` ends, rather than signalling the watchdog.
 *
 * It always ends with SIGKILL to its own process group: it leads it (it runs in a new
 * session), and the group holds only it and the lease's subshell and `sleep`. Signalling
 * the lease subshell alone lost the race with its start (a TERM that arrives before the
 * subshell has set its trap is dropped), leaving `sh` and `sleep` running for the whole
 * lease after most freezes thawed right away.
 */
export const WATCHDOG_SCRIPT = `
trap '' INT HUP TERM USR1 USR2 QUIT PIPE ALRM
fields() {
  stat=''
  { while IFS= read -r line || [ -n "$line" ]; do stat="$stat$line "; done; } < /proc/$1/stat || return 1
}
resume() {
  while IFS=' ' read -r op a b; do
    case $op in
      P)
        fields "$a" || continue
        set -- \${stat##*\\) }
        [ "\${20}" = "$b" ] && kill -CONT "$a" ;;
      W) [ -n "$b" ] && printf '%s\\n' "$a" > "$b" ;;
    esac
  done < /proc/self/fd/3
  while IFS=' ' read -r op a b; do
    [ "$op" = A ] || continue
    fields "$a" || continue
    set -- \${stat##*\\) }
    [ "$1" = T ] && [ "\${20}" = "$b" ] && kill -CONT "$a"
  done < /proc/self/fd/3
}
finish() {
  kill -KILL -$$ 2>/dev/null
  exit 0
}
while IFS=' ' read -r op a; do
  case $op in
    L) (sleep "$a" && { resume; finish; }) & ;;
    D) finish ;;
  esac
done
resume
finish
`;

/** The watchdog's argv[0]-after-script: how it names itself in `ps`. */
export const WATCHDOG_NAME = 'treefreeze-watchdog';

/** The lines of the protocol above. */
export const line = {
  resumeProcess: (pid: number, startTime: number) => `P ${pid} ${startTime}\n`,
  continueIfStopped: (pid: number, startTime: number) => `A ${pid} ${startTime}\n`,
  writeFile: (path: string, value: string) => `W ${value} ${path}\n`,
  lease: (ms: number) => `L ${(ms / 1000).toFixed(3)}\n`,
  done: 'D\n',
} as const;
