/** Recognising a vfork parent: a task blocked (state D) until its vfork child execs or exits. */
import { readTaskSyscall } from './procfs.js';

// System calls in which a task waits for its vfork child (x86_64 and arm64 numbers).
const VFORK_SYSCALLS: Record<string, { vfork?: number; clone: number; clone3: number }> = {
  x64: { vfork: 58, clone: 56, clone3: 435 },
  arm64: { clone: 220, clone3: 435 },
};
const CLONE_VFORK = 0x4000;

/** Whether task `tid` of `pid` is a parent blocked in vfork (state D until its child execs or exits). */
export function isVforkWait(pid: number, tid: number): boolean {
  const numbers = VFORK_SYSCALLS[process.arch];
  const line = numbers ? readTaskSyscall(pid, tid) : null;
  if (!numbers || line === null) return false;
  const [nr, flags] = line.trim().split(' ');
  const syscall = Number(nr);
  if (syscall === numbers.vfork || syscall === numbers.clone3) return true;
  return syscall === numbers.clone && (Number(flags) & CLONE_VFORK) !== 0;
}
