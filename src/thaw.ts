/** Recovery: resume every stopped process of a tree that something else left stopped. */
import { assertPid, FreezeError } from './base/errors.js';
import {
  counterpartOf,
  type ResolvedCgroup,
  readCgroupFile,
  resolveCgroup,
  writeCgroupFile,
} from './kernel/cgroupfs.js';
import { defaultPlatform } from './kernel/platform.js';
import { readTaskStates } from './kernel/procfs.js';
import { listTree } from './tree/discovery.js';
import { sendSignal } from './tree/identity.js';
import { readRootStat, refuseKernelThread } from './tree/root-check.js';

export interface ThawTreeOptions {
  /** Include the root itself (default true). */
  includeRoot?: boolean | undefined;
  exclude?: Iterable<number> | undefined;
  /** List what would be resumed; send nothing. */
  dryRun?: boolean | undefined;
  /**
   * Allow root 1: every stopped process on the machine, including ones other programs
   * stopped on purpose. Refused (UNSAFE_TARGET) without it.
   */
  machineWide?: boolean | undefined;
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
  checkThawRoot(root, options.machineWide === true);
  const calls = options.dryRun ? null : defaultPlatform.native();
  const resumed: ResumedProcess[] = [];
  for (const node of listTree(root, { includeRoot: options.includeRoot ?? true, exclude: options.exclude })) {
    const states = readTaskStates(node.pid) ?? [];
    if (!states.some((task) => task.state === 'T')) continue;
    if (options.dryRun || sendSignal(node, 'SIGCONT', calls) === 'sent') {
      resumed.push({ pid: node.pid, comm: node.comm });
    }
  }
  return resumed;
}

/** pid 1 means the whole machine: only when asked. Kernel threads never stop: always a mistake. */
function checkThawRoot(root: number, machineWide: boolean): void {
  if (root === 1 && !machineWide) {
    throw new FreezeError(
      'UNSAFE_TARGET',
      'refusing to thaw pid 1: that would resume every stopped process on the machine, including ones stopped on purpose (to mean it: machineWide: true, or --machine-wide)',
      [root],
    );
  }
  refuseKernelThread(readRootStat(root), ': nothing under it stops');
}

export interface ThawedCgroup {
  path: string;
  backend: 'cgroup-v2' | 'cgroup-v1';
  /** Whether it read frozen (or freezing) before this call. */
  wasFrozen: boolean;
}

/**
 * Recovery for a cgroup something left frozen: writes the thawed value (0, or THAWED for v1),
 * to the cgroup and, where both hierarchies are mounted, to the same path in the other one
 * (podman pause and docker pause freeze the v1 freezer of a container whose v2 cgroup a
 * target names). `dryRun`: only says whether it is frozen. Reports the one that was frozen.
 */
export function thawCgroup(path: string, options: { dryRun?: boolean | undefined } = {}): ThawedCgroup {
  const cgroup = resolveCgroup(path);
  const both = [cgroup, counterpartOf(cgroup)].filter((c): c is ResolvedCgroup => c !== null);
  const results = both.map((each) => {
    const before = (readCgroupFile(each.control) ?? '').trim();
    const wasFrozen = before !== '' && before !== '0' && before !== 'THAWED';
    if (!options.dryRun && (wasFrozen || each === cgroup)) {
      writeCgroupFile(each.control, each.version === 'cgroup-v2' ? '0' : 'THAWED');
    }
    return { path: each.path, backend: each.version, wasFrozen };
  });
  return results.find((result) => result.wasFrozen) ?? (results[0] as ThawedCgroup);
}
