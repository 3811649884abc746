/**
 * What verifying a hold costs: this process's CPU time (user + system) per second of hold,
 * checked at the default interval, every 50 ms, and effectively never, interleaved; through
 * treefreeze's signal path and, on the large tree, its cgroup v2 path.
 */
import { freezeCgroup, freezeTree } from '../../src/freeze.js';
import { DEFAULT_CHECK_INTERVAL_MS } from '../../src/hold/plan.js';
import { listTree } from '../../src/tree/discovery.js';
import { BenchCgroup, benchCgroupMount } from '../cgroup-v2.js';
import { pause, type Shape, startTree, stopTree } from '../trees.js';

/** The check intervals compared; the last, checks off, is the baseline the others are measured against. */
export const HOLD_SETTINGS = [
  // The default is no interval given: then a costly look (a large tree) is spaced out.
  { label: `default (every ${DEFAULT_CHECK_INTERVAL_MS} ms, spaced by cost)`, intervalMs: undefined },
  { label: `every ${DEFAULT_CHECK_INTERVAL_MS} ms, asked for`, intervalMs: DEFAULT_CHECK_INTERVAL_MS },
  { label: 'every 50 ms', intervalMs: 50 },
  { label: 'checks off', intervalMs: 2 ** 31 - 1 },
];

type Backend = 'signal' | 'cgroup v2';

/** One tree and backend: CPU ms per second of hold, one list per setting of HOLD_SETTINGS. */
export interface HoldCostRow {
  name: string;
  cpuMsPerSecond: number[][];
}

/** Holds the tree under every setting in turn, rotating who goes first. */
async function measureBackend(
  shape: Shape,
  backend: Backend,
  root: number,
  cgroup: BenchCgroup | undefined,
  quick: boolean,
): Promise<HoldCostRow> {
  const holdMs = quick ? 1000 : 2000;
  const row = { name: `${shape.name} ${backend}`, cpuMsPerSecond: HOLD_SETTINGS.map(() => [] as number[]) };
  for (let rep = 0; rep < (quick ? 1 : 3); rep++) {
    for (let i = 0; i < HOLD_SETTINGS.length; i++) {
      const which = (rep + i) % HOLD_SETTINGS.length; // rotate who goes first
      const options = { checkIntervalMs: HOLD_SETTINGS[which]?.intervalMs, backend: 'signal' as const };
      const frozen =
        backend === 'signal'
          ? await freezeTree(root, options)
          : await freezeCgroup(cgroup?.path as string, options);
      await pause(100); // past the first check, which opens the clocks
      const before = process.cpuUsage();
      await pause(holdMs);
      const used = process.cpuUsage(before);
      await frozen.thaw();
      row.cpuMsPerSecond[which]?.push((used.user + used.system) / 1000 / (holdMs / 1000));
      await pause(60);
    }
  }
  return row;
}

export async function benchHoldCost(quick: boolean): Promise<HoldCostRow[]> {
  const results: HoldCostRow[] = [];
  for (const shape of [
    { name: '10x1', processes: 10, threads: 1, spin: false, reps: 0 },
    { name: '1000x4', processes: 1000, threads: 4, spin: false, reps: 0 },
  ]) {
    const { root } = await startTree(shape);
    const backends: Backend[] = ['signal'];
    let cgroup: BenchCgroup | undefined;
    if (benchCgroupMount && shape.processes >= 1000) {
      cgroup = new BenchCgroup(benchCgroupMount, `treefreeze-bench-hold-${process.pid}`);
      cgroup.adopt(listTree(root).map((node) => node.pid));
      backends.push('cgroup v2');
    }
    for (const backend of backends) results.push(await measureBackend(shape, backend, root, cgroup, quick));
    cgroup?.remove();
    stopTree(root);
  }
  return results;
}
