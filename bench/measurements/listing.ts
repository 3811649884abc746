/** Listing a 1000 x 4 tree: treefreeze's listTree against pidtree, the npm package that does the same. */
import pidtree from 'pidtree';
import { listTree } from '../../src/tree/discovery.js';
import { type Shape, startTree, stopTree } from '../trees.js';

export interface Listing {
  ours: number[];
  theirs: number[];
}

export async function benchListing(quick: boolean): Promise<Listing> {
  const shape: Shape = { name: '1000x4', processes: 1000, threads: 4, spin: false, reps: 0 };
  const { root } = await startTree(shape);
  const ours: number[] = [];
  const theirs: number[] = [];
  for (let rep = 0; rep < (quick ? 3 : 10); rep++) {
    let t = performance.now();
    const nodes = listTree(root);
    ours.push(performance.now() - t);
    t = performance.now();
    const found = await pidtree(root, { root: true });
    theirs.push(performance.now() - t);
    if (nodes.length !== found.length)
      throw new Error(`listTree found ${nodes.length}, pidtree ${found.length}`);
  }
  stopTree(root);
  return { ours, theirs };
}
