/**
 * The guard of processes that several holds hold at once (a hold joined by another: see
 * hold/claims.ts). A tiny /bin/sh in a session of its own waits for the end of a pipe whose
 * write ends only the holds keep — the first hold's, and one each joining hold opens through
 * /proc/<pid>/fd — then resumes those processes (checking each one's start time) and exits.
 * The kernel closes a hold's write end when that hold ends or its process dies, whatever
 * kills it, so the last hold to end resumes them: no message between the holds, no race
 * between two thaws. Write ends are close-on-exec: no child of a holder inherits one.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeSync } from 'node:fs';
import { watchdogFailed } from '../base/errors.js';
import { closeQuietly } from '../kernel/descriptors.js';
import type { Native } from '../kernel/native.js';
import type { Platform } from '../kernel/platform.js';
import { moveToRootCgroups } from './cgroup-escape.js';
import { openIdentityFile } from './spawn.js';

const JOINT_GUARD_SCRIPT = `
trap '' INT HUP TERM USR1 USR2 QUIT PIPE ALRM
while IFS= read -r _ <&3; do :; done
while IFS=' ' read -r pid start; do
  stat=''
  { while IFS= read -r line || [ -n "$line" ]; do stat="$stat$line "; done; } < /proc/$pid/stat || continue
  set -- \${stat##*\\) }
  [ "\${20}" = "$start" ] && kill -CONT "$pid"
done < /proc/self/fd/4
`;

export const JOINT_GUARD_NAME = 'treefreeze-joint-guard';

/** @internal */
export class JointGuard {
  readonly #child: ChildProcess;
  #writeFd: number;
  readonly #identityFd: number;
  #identityEnd = 0;

  private constructor(child: ChildProcess, writeFd: number, identityFd: number) {
    this.#child = child;
    this.#writeFd = writeFd;
    this.#identityFd = identityFd;
  }

  /** Starts a guard; its pipe's write end stays with this process until release(). */
  static start(platform: Platform, calls: Native): JointGuard {
    const [readFd, writeFd] = calls.pipe();
    const identityFd = openIdentityFile(calls);
    let child: ChildProcess;
    try {
      child = spawn(platform.watchdogShell, ['-c', JOINT_GUARD_SCRIPT, JOINT_GUARD_NAME], {
        detached: true,
        stdio: ['ignore', 'ignore', 'ignore', readFd, identityFd],
      });
    } catch (error) {
      closeQuietly(writeFd);
      closeQuietly(identityFd);
      throw watchdogFailed(`could not start the joint guard: ${(error as Error).message}`, error);
    } finally {
      closeQuietly(readFd); // the guard alone reads it
    }
    child.once('error', () => {});
    if (child.pid === undefined) {
      closeQuietly(writeFd);
      closeQuietly(identityFd);
      throw watchdogFailed('could not start the joint guard');
    }
    moveToRootCgroups(child.pid); // a kill of this process's cgroup must not take it along
    child.unref();
    return new JointGuard(child, writeFd, identityFd);
  }

  /** What a joining hold opens for writing: this process's write end, through /proc. */
  get path(): string {
    return `/proc/${process.pid}/fd/${this.#writeFd}`;
  }

  /** Whether the guard still runs (then it will resume what it guards). */
  get alive(): boolean {
    return this.#writeFd >= 0 && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** Processes to resume once every hold sharing them has ended. */
  guard(processes: readonly { pid: number; startTime: number }[]): void {
    const text = Buffer.from(processes.map((p) => `${p.pid} ${p.startTime}\n`).join(''));
    this.#identityEnd += writeSync(this.#identityFd, text, 0, text.length, this.#identityEnd);
  }

  /** This hold has ended: its write end closes (the guard acts once every joined hold's has too). */
  release(): void {
    if (this.#writeFd < 0) return;
    closeQuietly(this.#writeFd);
    closeQuietly(this.#identityFd);
    this.#writeFd = -1;
  }
}
