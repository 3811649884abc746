/** Discovering a process tree from /proc. Never relies on pid order: pids wrap. */
import { FreezeError } from './errors.js';
import { childrenFilesSupported, readChildren, readProcessStat, scanAllProcesses } from './procfs.js';
import type { ProcStat } from './stat.js';

export interface ProcessNode {
  pid: number;
  ppid: number;
  comm: string;
  /** The state letter of /proc/<pid>/stat (the main thread's: see readTaskStates for all). */
  state: string;
  threads: number;
  startTime: number;
  /** Pids of the children that are part of this listing. */
  children: number[];
}

export interface ListTreeOptions {
  /** Include the root itself (default true). */
  includeRoot?: boolean;
  /** Pids whose whole subtree is left out. */
  exclude?: Iterable<number>;
  /**
   * How to find children: 'children-files' reads every thread's task/<tid>/children,
   * 'scan' reads every /proc/<pid>/stat once and groups by ppid. Default: children
   * files when the kernel has them. Internal: exists so both paths can be tested.
   */
  method?: 'children-files' | 'scan';
}

function toNode(stat: ProcStat): ProcessNode {
  return {
    pid: stat.pid,
    ppid: stat.ppid,
    comm: stat.comm,
    state: stat.state,
    threads: stat.numThreads,
    startTime: stat.startTime,
    children: [],
  };
}

/**
 * The tree under `root`, parents before children (breadth first).
 * Throws NO_SUCH_PROCESS when the root does not exist.
 */
export function listTree(root: number, options: ListTreeOptions = {}): ProcessNode[] {
  const rootStat = readProcessStat(root);
  if (rootStat === null) throw new FreezeError('NO_SUCH_PROCESS', `no process with pid ${root}`, [root]);
  const exclude = new Set(options.exclude ?? []);
  const method = options.method ?? (childrenFilesSupported() ? 'children-files' : 'scan');
  const childrenOf = method === 'scan' ? childrenFromScan() : childrenFromFiles;

  const nodes: ProcessNode[] = [];
  const seen = new Set<number>([root]);
  const queue: ProcessNode[] = [toNode(rootStat)];
  for (let i = 0; i < queue.length; i++) {
    const node = queue[i] as ProcessNode;
    for (const child of childrenOf(node.pid)) {
      // A pid can be listed under a parent and reused before we read it: check the ppid.
      if (seen.has(child.pid) || exclude.has(child.pid) || child.ppid !== node.pid) continue;
      seen.add(child.pid);
      node.children.push(child.pid);
      queue.push(toNode(child));
    }
    nodes.push(node);
  }
  return options.includeRoot === false ? nodes.slice(1) : nodes;
}

function childrenFromFiles(pid: number): ProcStat[] {
  const stats: ProcStat[] = [];
  for (const child of readChildren(pid) ?? []) {
    const stat = readProcessStat(child);
    if (stat !== null) stats.push(stat);
  }
  return stats;
}

function childrenFromScan(): (pid: number) => ProcStat[] {
  const byParent = new Map<number, ProcStat[]>();
  for (const stat of scanAllProcesses()) {
    const siblings = byParent.get(stat.ppid);
    if (siblings) siblings.push(stat);
    else byParent.set(stat.ppid, [stat]);
  }
  return (pid) => byParent.get(pid) ?? [];
}
