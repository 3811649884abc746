/** Trial kind: two nested freezes of one tree, thawed in a random order. */
import { freezeTree } from '../../src/index.js';
import { eventually, sleep, startTree } from '../../test/helpers/index.js';
import { stoppedOf } from '../checks.js';
import type { Kind } from '../kind.js';

export const twoFreezes: Kind = {
  name: 'two freezes of one tree',
  what: 'nested freezes of the same tree, thawed in a random order: held while either holds (the inner one refreezes when the outer thaws first), running after both',
  runs: 20,
  async run() {
    const tree = await startTree('tree', 6, 2);
    const first = await freezeTree(tree.root);
    const second = await freezeTree(tree.root);
    const violations: string[] = [];
    const figures: Record<string, number> = {};
    const outerFirst = Math.random() < 0.5;
    const [a, b] = outerFirst ? [first, second] : [second, first];
    const thawedAt = performance.now();
    await a.thaw();
    if (!outerFirst && stoppedOf(tree.pids).length !== tree.pids.length)
      violations.push('thawing the inner hold broke the outer one');
    if (outerFirst) {
      // The inner hold sees its processes run and stops them again (the default policy).
      if (await eventually(() => stoppedOf(tree.pids).length === tree.pids.length, 2000))
        figures['inner refroze after outer thaw'] = performance.now() - thawedAt;
      else violations.push('the inner hold did not refreeze within 2 s');
    }
    await b.thaw();
    if (outerFirst === second.intact) violations.push(`the inner hold reported intact: ${second.intact}`);
    await sleep(5);
    if (stoppedOf(tree.pids).length > 0) violations.push('left stopped after both thaws');
    tree.kill();
    return { violations, figures };
  },
};
