/** Trial kind: a tree that keeps changing (a fork storm, or exit churn) while it is frozen. */
import { FreezeError } from '../../src/base/errors.js';
import { freezeTree } from '../../src/index.js';
import { sleep, startTree, taskStates } from '../../test/helpers/index.js';
import { stoppedOf, treeNow } from '../checks.js';
import type { Kind } from '../kind.js';

/** A tree that keeps changing: resolve with everything stopped, or reject with nothing stopped. */
export function changingTree(mode: 'forkstorm' | 'churn'): Kind {
  return {
    name: mode === 'forkstorm' ? 'fork storm' : 'exit churn',
    what:
      mode === 'forkstorm'
        ? 'a root forking every 200 µs, children forking once: converge or fail, never a running leftover'
        : 'four children that each live 1–3 ms, replaced as they die',
    runs: 40,
    async run() {
      const tree = await (mode === 'forkstorm'
        ? startTree('forkstorm', 3000, 10_000)
        : startTree('churn', 10_000));
      const violations: string[] = [];
      const figures: Record<string, number> = {};
      try {
        const frozen = await freezeTree(tree.root, { timeoutMs: 5000 });
        figures.freeze = frozen.durationMs;
        const running = treeNow(tree.root).filter((pid) => !/^[TZX]+$/.test(taskStates(pid) || 'X'));
        if (running.length > 0) violations.push(`resolved with running processes: ${running.join(', ')}`);
        await frozen.thaw();
      } catch (error) {
        if (!(error instanceof FreezeError)) violations.push(`not a FreezeError: ${String(error)}`);
      }
      await sleep(5);
      const left = stoppedOf(treeNow(tree.root));
      if (left.length > 0) violations.push(`left stopped: ${left.join(', ')}`);
      tree.kill();
      return { violations, figures };
    },
  };
}
