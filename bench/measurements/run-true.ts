/**
 * The command line and the first freeze of a process, on a 1000 x 4 tree:
 * - `treefreeze run <root> -- true`: wall time and peak RSS, beside `node -e 0`'s; on the tree
 *   as it is (sharing the bench's cgroup: signals), and once it is alone in a cgroup (the
 *   default then takes the kernel's freezer);
 * - a fresh Node process that freezes the tree four times: the first freeze (cold: nothing
 *   compiled, koffi and the native core not loaded) against the warm ones.
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readTaskStates } from '../../src/kernel/procfs.js';
import { BenchCgroup, benchCgroupMount } from '../cgroup-v2.js';
import { type Shape, startTree, stopTree } from '../trees.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '../..');

export interface RunTrue {
  wall: number[];
  rssKb: number[];
  /** The same with the tree alone in a cgroup (empty without cgroup v2), and the backend it took. */
  ownCgroupWall: number[];
  ownCgroupRssKb: number[];
  /** `node -e 0`'s wall time: the part of the CLI's that is Node starting. */
  nodeAlone: number[];
  /** Per fresh process: its first freeze's durationMs, and the median of the three after it. */
  firstFreeze: number[];
  warmFreeze: number[];
}

/** Frozen four times by a fresh process, printing each durationMs (the library as a user loads it). */
const FOUR_FREEZES = `
const { freezeTree } = await import(${JSON.stringify(join(repoRoot, 'dist/index.js'))});
const root = Number(process.argv[1]);
const times = [];
for (let i = 0; i < 4; i++) {
  const frozen = await freezeTree(root, { backend: 'signal' });
  times.push(frozen.durationMs);
  await frozen.thaw();
  await new Promise((resolve) => setTimeout(resolve, 100));
}
console.log(JSON.stringify(times));
`;

function runTrue(root: number, pids: number[]): { wall: number; rssKb: number } {
  const cli = join(repoRoot, 'dist/cli.js');
  const t = performance.now();
  const result = spawnSync('/usr/bin/time', ['-f', '%M', cli, 'run', String(root), '--', 'true'], {
    encoding: 'utf8',
  });
  const wall = performance.now() - t;
  if (result.status !== 0) throw new Error(`run -- true failed: ${result.stderr}`);
  if (pids.some((pid) => (readTaskStates(pid) ?? []).some((task) => task.state === 'T'))) {
    throw new Error('run left the tree stopped');
  }
  return { wall, rssKb: Number(result.stderr.trim().split('\n').at(-1)) };
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;

export async function benchRunTrue(quick: boolean): Promise<RunTrue> {
  const shape: Shape = { name: '1000x4', processes: 1000, threads: 4, spin: false, reps: 0 };
  const { root, pids } = await startTree(shape);
  const result: RunTrue = {
    wall: [],
    rssKb: [],
    ownCgroupWall: [],
    ownCgroupRssKb: [],
    nodeAlone: [],
    firstFreeze: [],
    warmFreeze: [],
  };
  const reps = quick ? 2 : 7;
  for (let rep = 0; rep < reps; rep++) {
    const { wall, rssKb } = runTrue(root, pids);
    result.wall.push(wall);
    result.rssKb.push(rssKb);
    const t = performance.now();
    spawnSync(process.execPath, ['-e', '0']);
    result.nodeAlone.push(performance.now() - t);
  }
  for (let rep = 0; rep < (quick ? 1 : 3); rep++) {
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', FOUR_FREEZES, String(root)], {
      encoding: 'utf8',
    });
    if (child.status !== 0) throw new Error(`four freezes failed: ${child.stderr}`);
    const [first, ...warm] = JSON.parse(child.stdout) as number[];
    result.firstFreeze.push(first as number);
    result.warmFreeze.push(median(warm));
  }
  if (benchCgroupMount !== null) {
    const cgroup = new BenchCgroup(benchCgroupMount, `treefreeze-bench-run-${process.pid}`);
    cgroup.adopt(pids);
    try {
      for (let rep = 0; rep < reps; rep++) {
        const { wall, rssKb } = runTrue(root, []);
        result.ownCgroupWall.push(wall);
        result.ownCgroupRssKb.push(rssKb);
      }
    } finally {
      cgroup.remove();
    }
  }
  stopTree(root);
  return result;
}
