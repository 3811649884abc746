/** Checks on the pid a person gave as the root of a tree, shared by freeze, thaw and listing. */
import { FreezeError, noSuchProcess, threadNotProcess } from '../base/errors.js';
import { readProcessStat, readThreadGroup } from '../kernel/procfs.js';
import { isKernelThreadStat, type ProcStat } from '../kernel/stat.js';

/**
 * The root's stat: it must exist and be a process. /proc/<tid> answers for a thread's id
 * too, so a thread's id is refused naming its process (NO_SUCH_PROCESS, INVALID_ARGUMENT).
 */
export function readRootStat(root: number): ProcStat {
  const stat = readProcessStat(root);
  if (stat === null) throw noSuchProcess(root);
  const group = readThreadGroup(root);
  if (group !== null && group !== root) throw threadNotProcess(root, group);
  return stat;
}

/**
 * Kernel threads (kthreadd included) ignore SIGSTOP: naming one is UNSAFE_TARGET, `why` says
 * for what. Known by their flag, never by pid: inside a pid namespace (a container), pid 2 is
 * an ordinary process.
 */
export function refuseKernelThread(stat: ProcStat, why: string): void {
  if (isKernelThreadStat(stat)) {
    throw new FreezeError('UNSAFE_TARGET', `pid ${stat.pid} (${stat.comm}) is a kernel thread${why}`, [
      stat.pid,
    ]);
  }
}

/** pid 1, kernel threads and (for freezeTree) this process itself are never frozen. */
export function refuseUnsafeRoot(root: number, includeRoot: boolean): void {
  if (root === 1) {
    throw new FreezeError('UNSAFE_TARGET', 'refusing to freeze pid 1 (init) or the whole system under it', [
      root,
    ]);
  }
  refuseKernelThread(readRootStat(root), ', which ignores SIGSTOP');
  if (includeRoot && root === process.pid) {
    throw new FreezeError(
      'UNSAFE_TARGET',
      `pid ${root} is this process: a process cannot freeze itself (use freezeDescendants to freeze its children)`,
      [root],
    );
  }
}
