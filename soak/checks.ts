/** What the trials read from /proc with their own reader: who is stopped, the tree now, when it runs again. */
import { descendantsByScan, taskStates } from '../test/helpers/index.js';

/** The pids among `pids` with a stopped task. */
export const stoppedOf = (pids: number[]) => pids.filter((pid) => /T/.test(taskStates(pid)));

/** Every process of a tree now, by an independent ppid scan. */
export const treeNow = (root: number) => descendantsByScan(root).filter((pid) => taskStates(pid) !== '');

/** Waits until nothing in the tree is stopped; the time it took, or a violation. */
export async function resumed(
  root: number,
  since: number,
  deadlineMs = 5000,
): Promise<{ ms: number } | { left: number[] }> {
  const until = performance.now() + deadlineMs;
  for (;;) {
    const left = stoppedOf(treeNow(root));
    if (left.length === 0) return { ms: performance.now() - since };
    if (performance.now() > until) return { left };
    await new Promise((resolve) => setImmediate(resolve));
  }
}
