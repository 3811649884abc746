/** Where a treefreeze freeze spends its time, phase by phase (median over the runs), at 10x1 and 1000x4. */
import { freezeTree } from '../../src/freeze.js';
import { type InternalFreezeOptions, internalKnobs } from '../../src/hold/plan.js';
import { median } from '../stats.js';
import { pause, startTree, stopTree } from '../trees.js';

/** The signal backend's phases, in the order a freeze goes through them. */
export const PHASE_NAMES = [
  'watchdog spawn',
  'native library',
  'discover',
  'watchdog wait',
  'bind',
  'watchdog write',
  'SIGSTOP',
  'wait',
  'other',
  'handle',
];

export interface PhaseRow {
  name: string;
  total: number;
  phases: Record<string, number>;
}

export async function benchPhases(quick: boolean): Promise<PhaseRow[]> {
  const rows: PhaseRow[] = [];
  for (const shape of [
    { name: '10x1', processes: 10, threads: 1, spin: false, reps: quick ? 5 : 30 },
    { name: '1000x4', processes: 1000, threads: 4, spin: false, reps: quick ? 2 : 7 },
  ]) {
    const { root } = await startTree(shape);
    const runs: Record<string, number>[] = [];
    const totals: number[] = [];
    for (let rep = 0; rep < shape.reps; rep++) {
      const options: InternalFreezeOptions = {
        backend: 'signal', // the signal backend's phases, wherever the tree lives
        [internalKnobs]: { profile: (phases) => runs.push({ ...phases }) },
      };
      const frozen = await freezeTree(root, options);
      totals.push(frozen.durationMs);
      await frozen.thaw();
      await pause(shape.processes >= 1000 ? 60 : 15);
    }
    const names = [...new Set(runs.flatMap((run) => Object.keys(run)))];
    rows.push({
      name: shape.name,
      total: median(totals),
      phases: Object.fromEntries(names.map((name) => [name, median(runs.map((run) => run[name] ?? 0))])),
    });
    stopTree(root);
  }
  return rows;
}
