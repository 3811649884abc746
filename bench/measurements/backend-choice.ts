/**
 * The default backend's choice, measured both ways: on a tree that shares the bench's cgroup
 * the look must cost the signal path nothing (the default against `backend: 'signal'`, A/B,
 * interleaved); on a tree that is exactly its own cgroup the default takes the kernel's freezer
 * and should come near the bare cgroup v2 contender.
 */
import { freezeTree } from '../../src/freeze.js';
import { BenchCgroup, benchCgroupMount } from '../cgroup-v2.js';
import { allStopped, pause, type Shape, startTree, stopTree } from '../trees.js';

export interface BackendChoice {
  /** 10x1 sharing the bench's cgroup: freeze ms with the default ('auto'), and forced to signals. */
  sharedAuto: number[];
  sharedSignal: number[];
  /** 1000x4 alone in a cgroup: the default's freeze ms, and the bare cgroup v2 freeze's; which backend it took. */
  ownAuto: number[];
  ownBare: number[];
  ownBackend: string;
}

async function timed(
  freeze: () => Promise<{ thaw(): Promise<void> | void }>,
  pids: number[],
): Promise<number> {
  const started = performance.now();
  const frozen = await freeze();
  const ms = performance.now() - started;
  // Signal holds are checked from /proc; a cgroup-frozen task reads S (cgroup.events confirmed it).
  if (pids.length > 0 && !allStopped(pids)) throw new Error('resolved before every task stopped');
  await frozen.thaw();
  return ms;
}

export async function benchBackendChoice(quick: boolean): Promise<BackendChoice> {
  const result: BackendChoice = {
    sharedAuto: [],
    sharedSignal: [],
    ownAuto: [],
    ownBare: [],
    ownBackend: '—',
  };
  const small: Shape = { name: '10x1', processes: 10, threads: 1, spin: false, reps: 0 };
  const shared = await startTree(small);
  for (let rep = 0; rep < (quick ? 10 : 40); rep++) {
    for (const forced of rep % 2 ? [false, true] : [true, false]) {
      const options = forced ? { backend: 'signal' as const } : {};
      (forced ? result.sharedSignal : result.sharedAuto).push(
        await timed(() => freezeTree(shared.root, options), shared.pids),
      );
      await pause(15);
    }
  }
  stopTree(shared.root);
  if (benchCgroupMount === null) return result;
  const large: Shape = { name: '1000x4', processes: 1000, threads: 4, spin: false, reps: 0 };
  const own = await startTree(large);
  const cgroup = new BenchCgroup(benchCgroupMount, `treefreeze-bench-choice-${process.pid}`);
  cgroup.adopt(own.pids);
  try {
    for (let rep = 0; rep < (quick ? 3 : 7); rep++) {
      for (const bare of rep % 2 ? [false, true] : [true, false]) {
        if (bare) {
          result.ownBare.push(
            await timed(async () => {
              await cgroup.freeze();
              return { thaw: () => cgroup.thaw() };
            }, []),
          );
        } else {
          result.ownAuto.push(
            await timed(async () => {
              const frozen = await freezeTree(own.root);
              result.ownBackend = frozen.backend;
              return frozen;
            }, []),
          );
        }
        await pause(60);
      }
    }
  } finally {
    cgroup.remove();
    stopTree(own.root);
  }
  return result;
}
