/**
 * The bench's main measurement: every contender freezing and thawing the same trees, shape by
 * shape, interleaved and rotating who goes first, so drift on the machine hits them all alike.
 */
import { listTree } from '../src/tree/discovery.js';
import { cgroupV2Contender } from './cgroup-v2.js';
import type { Contender, ContenderName, Entrant } from './contender.js';
import { floorContender } from './floor.js';
import { referenceContender } from './reference.js';
import { seedContender } from './seed.js';
import { treefreezeContender } from './treefreeze.js';
import { pause, type Shape, startTree, stopTree } from './trees.js';

/** Every contender, in the order they first go (the rotation starts from here). */
const CONTENDERS: Contender[] = [
  treefreezeContender,
  referenceContender,
  seedContender,
  floorContender,
  cgroupV2Contender,
];

const SHAPES: Shape[] = [
  { name: '10x1', processes: 10, threads: 1, spin: false, reps: 60 },
  { name: '100x4', processes: 100, threads: 4, spin: false, reps: 20 },
  { name: '1000x4', processes: 1000, threads: 4, spin: false, reps: 9 },
  { name: '2000x1', processes: 2000, threads: 1, spin: false, reps: 9 },
  { name: '10x1 cpu', processes: 10, threads: 1, spin: true, reps: 30 },
  { name: '100x4 cpu', processes: 100, threads: 4, spin: true, reps: 9 },
];

/** The shapes measured; a quick run gives each a quarter of its repetitions (at least 3). */
export function latencyShapes(quick: boolean): Shape[] {
  return SHAPES.map((shape) => (quick ? { ...shape, reps: Math.max(3, Math.ceil(shape.reps / 4)) } : shape));
}

export interface Sample {
  freezeMs: number[];
  thawMs: number[];
}

/** One shape's samples, by contender, in the order the contenders entered. */
export interface LatencyResult {
  shape: Shape;
  samples: Map<ContenderName, Sample>;
}

export async function benchShape(shape: Shape): Promise<Map<ContenderName, Sample>> {
  const { root } = await startTree(shape);
  const pids = listTree(root).map((node) => node.pid);
  const entrants: { name: ContenderName; entrant: Entrant }[] = [];
  for (const contender of CONTENDERS) {
    const entrant = await contender.enter(root, pids);
    if (entrant) entrants.push({ name: contender.name, entrant });
  }
  const samples = new Map<ContenderName, Sample>(entrants.map((e) => [e.name, { freezeMs: [], thawMs: [] }]));
  for (let rep = 0; rep < shape.reps; rep++) {
    // Interleave, rotating who goes first.
    for (let i = 0; i < entrants.length; i++) {
      const { name, entrant } = entrants[(rep + i) % entrants.length] as (typeof entrants)[number];
      const { freezeMs, thawMs } = await entrant.freezeAndThaw();
      samples.get(name)?.freezeMs.push(freezeMs);
      samples.get(name)?.thawMs.push(thawMs);
      await pause(shape.processes >= 1000 ? 60 : 15); // let the tree settle back to sleep
    }
  }
  for (const { entrant } of entrants) entrant.close();
  stopTree(root);
  return samples;
}
