/** A spinning tree in the freezer's own session: a freeze with the priority raise against one without. */
import { freezeTree } from '../../src/freeze.js';
import { type InternalFreezeOptions, internalKnobs } from '../../src/hold/plan.js';
import { allStopped, pause, type Shape, startTree, stopTree } from '../trees.js';

export interface Priority {
  raised: number[];
  plain: number[];
}

export async function benchPriority(quick: boolean): Promise<Priority> {
  const shape: Shape = { name: '20x2 cpu, same session', processes: 20, threads: 2, spin: true, reps: 0 };
  const { root, pids } = await startTree(shape, false);
  const raised: number[] = [];
  const plain: number[] = [];
  for (let rep = 0; rep < (quick ? 3 : 12); rep++) {
    for (const raise of rep % 2 ? [true, false] : [false, true]) {
      const t = performance.now();
      const options: InternalFreezeOptions = { backend: 'signal', [internalKnobs]: { raisePriority: raise } };
      const frozen = await freezeTree(root, options);
      (raise ? raised : plain).push(performance.now() - t);
      if (!allStopped(pids)) throw new Error('not stopped');
      await frozen.thaw();
      await pause(20);
    }
  }
  stopTree(root);
  return { raised, plain };
}
