/** Discovering a process tree from /proc. Never relies on pid order: pids wrap. */
import { assertPid, noSuchProcess } from '../base/errors.js';
import { loadedNativeCore, type NativeCore } from '../kernel/native-core.js';
import {
  type BulkStatReader,
  childrenFilesSupported,
  listProcessIds,
  readChildren,
  readProcessStat,
  scanAllProcesses,
} from '../kernel/procfs.js';
import type { ProcStat } from '../kernel/stat.js';
import { type ProcessInfo, processInfo } from './process.js';
import { readRootStat } from './root-check.js';

export interface ProcessNode extends ProcessInfo {
  /** The state letter of /proc/<pid>/stat (the main thread's: see readTaskStates for all). */
  state: string;
  /** Pids of the children that are part of this listing. */
  children: number[];
}

export interface ListTreeOptions {
  /** Include the root itself (default true). */
  includeRoot?: boolean | undefined;
  /** Pids whose whole subtree is left out. */
  exclude?: Iterable<number> | undefined;
}

/** How discovery finds children; internal (tests force each path, rescans give a size hint). */
/** @internal */
export interface DiscoveryOptions extends ListTreeOptions {
  /**
   * 'children-files' reads every thread's task/<tid>/children; 'scan' reads every
   * /proc/<pid>/stat once and groups by ppid (a child's ppid is its parent's tgid,
   * whichever thread forked it). 'auto': children files, switching to a scan once the
   * tree proves large.
   */
  method?: 'children-files' | 'scan' | 'auto' | undefined;
  /** The tree's size when known (a rescan): lets 'auto' choose the scan at once. */
  sizeHint?: number | undefined;
  /**
   * Processes whose stat is known already and still true (a rescan of a frozen tree: the
   * caller proves every one of them alive, so its pid, ppid and start time are current).
   * They are not read again: a scan reads only the other processes, children files only
   * the other children. Their children are still looked for.
   */
  known?: ReadonlyMap<number, KnownProcess> | undefined;
  /** How each process's stat is read (a freeze keeps the files open: see KeptStatFiles). */
  readStat?: ((pid: number) => ProcStat | null) | undefined;
  /** How a scan reads every process's stat at once (the native core); by default, one by one. */
  readStats?: BulkStatReader | undefined;
}

/** What discovery needs of a process: the part of its stat a rescan may know already. */
export type KnownProcess = Pick<ProcStat, 'pid' | 'ppid' | 'comm' | 'state' | 'numThreads' | 'startTime'>;

function toNode(stat: KnownProcess): ProcessNode {
  // Extended in place rather than spread into a new object: cheaper per node, and the hot path.
  const node = processInfo(stat) as ProcessNode;
  node.state = stat.state;
  node.children = [];
  return node;
}

/**
 * The tree under `root`, parents before children (breadth first).
 * Throws NO_SUCH_PROCESS when the root does not exist.
 */
export function listTree(root: number, options: ListTreeOptions = {}): ProcessNode[] {
  assertPid(root);
  readRootStat(root);
  return discoverTree(root, { includeRoot: options.includeRoot, exclude: options.exclude });
}

/** listTree with the internal choices of how to discover. */
/** @internal */
export function discoverTree(root: number, options: DiscoveryOptions = {}): ProcessNode[] {
  const readStat = options.readStat ?? readProcessStat;
  const readStats = options.readStats ?? (options.readStat ? undefined : defaultBulkReader());
  const rootStat = readStat(root);
  if (rootStat === null) throw noSuchProcess(root);
  const exclude = new Set(options.exclude ?? []);
  const method = options.method ?? (childrenFilesSupported() ? 'auto' : 'scan');
  const known = options.known;
  // A large tree is cheaper to list with one ppid scan of all of /proc (one stat read per
  // process on the system) than with children files (a task listing, a children file per
  // thread and a stat per child, per process of the tree).
  // The size of the system comes from a listing of /proc less than a second old when there is
  // one (it is only a cost estimate): most discoveries then list /proc once, for the scan, or
  // not at all. A listing taken for this very decision is handed to the scan it decides on.
  const scanDecision = (
    processes: number,
    threads: number,
  ): { scan: boolean; listing: number[] | undefined } => {
    const recent = recentSystemSize();
    const listing = recent === undefined ? rememberSystemSize(listProcessIds()) : undefined;
    const systemSize = recent ?? listing?.length ?? 0;
    // Known processes cost no stat read either way: a scan skips them, children files too.
    const knownCount = known?.size ?? 0;
    const perProcess = knownCount > 0 ? 1 + Math.max(0, threads) : 2 + Math.max(0, threads);
    return { scan: processes * perProcess > systemSize - knownCount, listing };
  };
  const hint =
    method === 'auto' && (options.sizeHint ?? 0) > FIRST_SWITCH_CHECK
      ? scanDecision(options.sizeHint ?? 0, rootStat.numThreads)
      : undefined;
  const hinted = hint?.scan === true;
  let childrenOf =
    method === 'scan' || hinted
      ? childrenFromScan(known, readStat, hint?.listing, readStats)
      : (pid: number, threads: number) => childrenFromFiles(pid, threads, known, readStat);

  const nodes: ProcessNode[] = [];
  const seen = new Set<number>([root]);
  const queue: ProcessNode[] = [toNode(rootStat)];
  let nextCheck = FIRST_SWITCH_CHECK;
  for (let i = 0; i < queue.length; i++) {
    const node = queue[i] as ProcessNode;
    // Switch once the tree proves large. Breadth first, the unvisited part of a growing
    // tree is at least as large again as the queue. (Weighing the children per process seen
    // so far switches sooner on a large tree, but a 100-process tree looks the same at that
    // point and would pay a whole scan.)
    if (method === 'auto' && !hinted && i >= nextCheck) {
      nextCheck += SWITCH_CHECK_EVERY;
      const decision = scanDecision(2 * (queue.length - i), node.threads);
      if (decision.scan) {
        // The processes queued so far were read a moment ago: the scan does not read them again.
        const read = new Map<number, KnownProcess>(known);
        for (const { pid, ppid, comm, state, threads, startTime } of queue) {
          read.set(pid, { pid, ppid, comm, state, numThreads: threads, startTime }); // no spread: see toNode
        }
        childrenOf = childrenFromScan(read, readStat, decision.listing, readStats);
        nextCheck = Number.POSITIVE_INFINITY;
      }
    }
    for (const child of childrenOf(node.pid, node.threads)) {
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

/** The native core's bulk read when it is loaded already (see loadedNativeCore). */
function defaultBulkReader(): BulkStatReader | undefined {
  return bulkStatReaderOf(loadedNativeCore());
}

/** A scan's bulk read through `core` (a stat it could not judge is read the TypeScript way). */
export function bulkStatReaderOf(core: NativeCore | null): BulkStatReader | undefined {
  if (core === null) return undefined;
  return (pids) =>
    core
      .readStats(pids, false)
      .stats.map((stat, i) => (stat === undefined ? readProcessStat(pids[i] as number) : stat));
}

const FIRST_SWITCH_CHECK = 16;
/** A check costs no I/O while the system's size is known (see recentSystemSize): check often. */
const SWITCH_CHECK_EVERY = 8;

/** The number of processes on the system, as the last listing of /proc within a second found it. */
let systemSize: { processes: number; listedAt: number } | undefined;
const SYSTEM_SIZE_TTL_MS = 1000;

function recentSystemSize(): number | undefined {
  if (systemSize === undefined || performance.now() - systemSize.listedAt > SYSTEM_SIZE_TTL_MS)
    return undefined;
  return systemSize.processes;
}

/** @internal Forgets the system's size, so that the next decision lists /proc (tests take that path). */
export function forgetSystemSize(): void {
  systemSize = undefined;
}

function rememberSystemSize(listing: number[]): number[] {
  systemSize = { processes: listing.length, listedAt: performance.now() };
  return listing;
}

function childrenFromFiles(
  pid: number,
  threads: number,
  known: ReadonlyMap<number, KnownProcess> | undefined,
  readStat: (pid: number) => ProcStat | null,
): KnownProcess[] {
  const stats: KnownProcess[] = [];
  for (const child of readChildren(pid, threads) ?? []) {
    const stat = known?.get(child) ?? readStat(child);
    if (stat !== null) stats.push(stat);
  }
  return stats;
}

function childrenFromScan(
  known: ReadonlyMap<number, KnownProcess> | undefined,
  readStat: (pid: number) => ProcStat | null,
  listing: readonly number[] | undefined,
  readStats: BulkStatReader | undefined,
): (pid: number, threads: number) => KnownProcess[] {
  const byParent = new Map<number, KnownProcess[]>();
  const pids = listing ?? rememberSystemSize(listProcessIds());
  const add = (stat: KnownProcess) => {
    const siblings = byParent.get(stat.ppid);
    if (siblings) siblings.push(stat);
    else byParent.set(stat.ppid, [stat]);
  };
  for (const stat of scanAllProcesses(known, readStat, pids, readStats)) add(stat);
  for (const stat of known?.values() ?? []) add(stat);
  return (pid) => byParent.get(pid) ?? [];
}
