/**
 * The watchdog's program and the lines it understands. A tiny /bin/sh process, in its
 * own session, holding a dead-man switch for every freeze of the process that started it:
 * one watchdog serves all the freezes of a process, each under an id of its own (a number
 * never reused), and stays idle between them.
 *
 * Two channels. fd 3 is an anonymous file (a memfd, or an unlinked temporary file) to
 * which the freezer appends what to resume, one line each, tagged with the freeze's id:
 * "P <id> <pid> <starttime>" (resume this process), "W <id> <value> <path>" (write value
 * to path) or "A <id> <pid> <starttime>" (an ancestor outside the tree: continue it, after
 * the tree, if it is stopped then — it stopped itself when its child stopped, as su does).
 * The watchdog reads it only when it must act, reopening it through /proc/self/fd/3 to
 * start from the beginning; a file never fills up, so the freezer never waits on it (a pipe
 * did, once its buffer was full, while the watchdog was not reading). When no freeze is
 * left, the freezer empties the file. stdin is the control pipe, read line by line:
 * "L <id> <centiseconds>" starts that freeze's lease, "D <id>" means that freeze ended
 * normally (never resume it; its lease is cancelled), "E" means the file was emptied (every
 * id so far is done). EOF on stdin means the freezer died: the kernel closed its end,
 * whatever killed it. Then the watchdog resumes every freeze not done, checking each
 * process's start time right before SIGCONT, and exits.
 *
 * No signal but SIGKILL and SIGSTOP reaches it (it ignores the rest), so nothing can make
 * it resume a tree behind the freezer's back; the freezer notices a watchdog that was
 * killed or stopped (see keeper.ts).
 *
 * A lease is a subshell that resumes its freeze by itself when its time is up, rather than
 * signalling the watchdog. "D" ends it with SIGKILL and collects it at once (a TERM could
 * arrive before its trap is set, and be lost). It sleeps at most a second at a time, so
 * the `sleep` a killed lease leaves behind ends within a second; the time left is read from
 * /proc/uptime (no fork), so the short sleeps add no drift; it is read in hundredths of a
 * second, truncated, so a lease waits one more to never end early.
 *
 * It always ends with SIGKILL to its own process group: it leads it (it runs in a new
 * session), and the group holds only it, its leases and their `sleep`s.
 */
export const WATCHDOG_SCRIPT = `
trap '' INT HUP TERM USR1 USR2 QUIT PIPE ALRM
ended=' '
fields() {
  stat=''
  { while IFS= read -r line || [ -n "$line" ]; do stat="$stat$line "; done; } < /proc/$1/stat || return 1
}
wanted() {
  if [ -n "$1" ]; then [ "$2" = "$1" ]; else case $ended in *" $2 "*) return 1 ;; esac; fi
}
resume() {
  only=$1
  while IFS=' ' read -r op id a b; do
    wanted "$only" "$id" || continue
    case $op in
      P)
        fields "$a" || continue
        set -- \${stat##*\\) }
        [ "\${20}" = "$b" ] && kill -CONT "$a" ;;
      W) [ -n "$b" ] && printf '%s\\n' "$a" > "$b" ;;
    esac
  done < /proc/self/fd/3
  while IFS=' ' read -r op id a b; do
    [ "$op" = A ] || continue
    wanted "$only" "$id" || continue
    fields "$a" || continue
    set -- \${stat##*\\) }
    [ "$1" = T ] && [ "\${20}" = "$b" ] && kill -CONT "$a"
  done < /proc/self/fd/3
}
uptime() {
  read -r up rest < /proc/uptime
  now=\${up%.*}\${up#*.}
}
lease() {
  uptime
  end=$((now + $2 + 1))
  while :; do
    uptime
    left=$((end - now))
    [ "$left" -gt 0 ] || break
    [ "$left" -gt 100 ] && left=100
    cs=$((left % 100))
    [ "$cs" -lt 10 ] && cs=0$cs
    sleep "$((left / 100)).$cs"
  done
  resume "$1"
}
finish() {
  kill -KILL -$$ 2>/dev/null
  exit 0
}
while IFS=' ' read -r op id a; do
  case $op in
    L) lease "$id" "$a" & eval "lease_$id=\\$!" ;;
    D)
      ended="$ended$id "
      eval "timer=\\\${lease_$id-}"
      if [ -n "$timer" ]; then
        kill -KILL "$timer" 2>/dev/null
        wait "$timer" 2>/dev/null
        unset "lease_$id"
      fi ;;
    E) ended=' ' ;;
  esac
done
resume ''
finish
`;

/** The watchdog's argv[0]-after-script: how it names itself in `ps`. */
export const WATCHDOG_NAME = 'treefreeze-watchdog';

/** The lines of the protocol above; `id` is the freeze's number. */
export const line = {
  resumeProcess: (id: number, pid: number, startTime: number) => `P ${id} ${pid} ${startTime}\n`,
  continueIfStopped: (id: number, pid: number, startTime: number) => `A ${id} ${pid} ${startTime}\n`,
  writeFile: (id: number, path: string, value: string) => `W ${id} ${value} ${path}\n`,
  lease: (id: number, ms: number) => `L ${id} ${Math.max(1, Math.ceil(ms / 10))}\n`,
  done: (id: number) => `D ${id}\n`,
  emptied: 'E\n',
} as const;
