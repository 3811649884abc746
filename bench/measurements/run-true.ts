/** `treefreeze run <root> -- true` on a 1000 x 4 tree: the CLI's wall time and peak RSS, beside `node -e 0`'s. */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readTaskStates } from '../../src/kernel/procfs.js';
import { type Shape, startTree, stopTree } from '../trees.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '../..');

export interface RunTrue {
  wall: number[];
  rssKb: number[];
  /** `node -e 0`'s wall time: the part of the CLI's that is Node starting. */
  nodeAlone: number[];
}

export async function benchRunTrue(quick: boolean): Promise<RunTrue> {
  const shape: Shape = { name: '1000x4', processes: 1000, threads: 4, spin: false, reps: 0 };
  const { root, pids } = await startTree(shape);
  const wall: number[] = [];
  const rssKb: number[] = [];
  const cli = join(repoRoot, 'dist/cli.js');
  for (let rep = 0; rep < (quick ? 2 : 7); rep++) {
    const t = performance.now();
    const result = spawnSync(
      '/usr/bin/time',
      ['-f', '%M', process.execPath, cli, 'run', String(root), '--', 'true'],
      {
        encoding: 'utf8',
      },
    );
    wall.push(performance.now() - t);
    if (result.status !== 0) throw new Error(`run -- true failed: ${result.stderr}`);
    rssKb.push(Number(result.stderr.trim().split('\n').at(-1)));
    if (pids.some((pid) => (readTaskStates(pid) ?? []).some((task) => task.state === 'T'))) {
      throw new Error('run left the tree stopped');
    }
  }
  const nodeAlone: number[] = [];
  for (let rep = 0; rep < (quick ? 2 : 7); rep++) {
    const t = performance.now();
    spawnSync(process.execPath, ['-e', '0']);
    nodeAlone.push(performance.now() - t);
  }
  stopTree(root);
  return { wall, rssKb, nodeAlone };
}
