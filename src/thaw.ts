/** Recovery: resume every stopped process of a tree that something else left stopped. */
import { assertPid } from './errors.js';
import { readCgroupFile, resolveCgroup, writeCgroupFile } from './kernel/cgroupfs.js';
import { defaultPlatform } from './kernel/platform.js';
import { readTaskStates } from './kernel/procfs.js';
import { listTree } from './tree/discovery.js';
import { sendSignal } from './tree/identity.js';

export interface ThawTreeOptions {
  /** Include the root itself (default true). */
  includeRoot?: boolean | undefined;
  exclude?: Iterable<number> | undefined;
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
  assertPid(root);
  const calls = defaultPlatform.native();
  const resumed: ResumedProcess[] = [];
  for (const node of listTree(root, { includeRoot: options.includeRoot ?? true, exclude: options.exclude })) {
    const states = readTaskStates(node.pid) ?? [];
    if (!states.some((task) => task.state === 'T')) continue;
    if (sendSignal(node, 'SIGCONT', calls) === 'sent') resumed.push({ pid: node.pid, comm: node.comm });
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
  const before = (readCgroupFile(cgroup.control) ?? '').trim();
  writeCgroupFile(cgroup.control, cgroup.version === 'cgroup-v2' ? '0' : 'THAWED');
  return { path: cgroup.path, backend: cgroup.version, wasFrozen: before !== '0' && before !== 'THAWED' };
}
