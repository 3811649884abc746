/**
 * The processes above a tree and outside it. A SIGSTOP of the tree is visible to them:
 * its parent gets SIGCHLD, and some parents (su, sudo, script) stop themselves when their
 * child stops, and stay stopped after the child is continued — a stopped `su` cannot even
 * reap its child. The signal backend records them before it stops anything and, at thaw,
 * continues the ones that were running then and are stopped now.
 */
import { readProcessStat, readTaskStates } from '../kernel/procfs.js';
import { isKernelThreadStat } from '../kernel/stat.js';
import type { ProcessIdentity } from './identity.js';
import { type ProcessInfo, processInfo } from './process.js';

/** An ancestor outside the tree, and whether it was stopped before the freeze. */
export interface Ancestor extends ProcessInfo, ProcessIdentity {
  wasStopped: boolean;
}

/** More than any real chain of ancestors between a tree and its session leader. */
const MAX_DEPTH = 256;

/**
 * The chain of ancestors outside the tree, nearest first: from the root's parent (or the
 * root itself when only its descendants are frozen) up to and including the session
 * leader. It stops below pid 1, below `self` (the freezer: what is above it is not the
 * tree's business) and at kernel threads.
 */
export function outsideAncestors(root: number, includeRoot: boolean, self: number = process.pid): Ancestor[] {
  const chain: Ancestor[] = [];
  let pid = includeRoot ? (readProcessStat(root)?.ppid ?? 0) : root;
  while (pid > 1 && pid !== self && chain.length < MAX_DEPTH) {
    const stat = readProcessStat(pid);
    if (stat === null || isKernelThreadStat(stat)) break;
    chain.push({ ...processInfo(stat), wasStopped: isStopped(pid, stat.state) });
    if (stat.session === pid) break; // the session leader: the job-control boundary
    pid = stat.ppid;
  }
  return chain;
}

/** Whether a process has a task in group stop (SIGCONT would resume it). */
export function hasStoppedTask(pid: number): boolean {
  const stat = readProcessStat(pid);
  return stat !== null && isStopped(pid, stat.state);
}

function isStopped(pid: number, mainState: string): boolean {
  if (mainState === 'T') return true;
  // The main thread may have exited (Z) while the others live: look at every task.
  if (mainState !== 'Z') return false;
  return (readTaskStates(pid) ?? []).some((task) => task.state === 'T');
}
