/** Recovery: resume every stopped process of a tree that something else left stopped. */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolveCgroup } from './cgroup.js';
import { listTree } from './discovery.js';
import { validatePid } from './freeze.js';
import { readTaskStates } from './procfs.js';
import { sendSignal } from './signals.js';

export interface ThawTreeOptions {
  /** Include the root itself (default true). */
  includeRoot?: boolean;
  exclude?: Iterable<number>;
}

export interface ResumedProcess {
  pid: number;
  comm: string;
}

/**
 * Sends SIGCONT to every process of the tree that has a stopped task, after
 * checking its identity. Returns what it resumed. Unlike FrozenTree.thaw(), this
 * does not know what was stopped before: it resumes everything stopped.
 */
export function thawTree(root: number, options: ThawTreeOptions = {}): ResumedProcess[] {
  validatePid(root);
  const resumed: ResumedProcess[] = [];
  for (const node of listTree(root, { includeRoot: options.includeRoot ?? true, exclude: options.exclude })) {
    const states = readTaskStates(node.pid) ?? [];
    if (!states.some((task) => task.state === 'T')) continue;
    if (sendSignal(node, 'SIGCONT') === 'sent') resumed.push({ pid: node.pid, comm: node.comm });
  }
  return resumed;
}

export interface ThawedCgroup {
  path: string;
  backend: 'cgroup-v2' | 'cgroup-v1';
  /** Whether it read frozen (or freezing) before this call. */
  wasFrozen: boolean;
}

/** Recovery for a cgroup something left frozen: writes the thawed value (0, or THAWED for v1). */
export function thawCgroup(path: string): ThawedCgroup {
  const cgroup = resolveCgroup(path);
  const before = readFileSync(cgroup.control, 'utf8').trim();
  writeFileSync(cgroup.control, cgroup.version === 'cgroup-v2' ? '0' : 'THAWED');
  return { path: cgroup.path, backend: cgroup.version, wasFrozen: before !== '0' && before !== 'THAWED' };
}
