/** Trial kind: a process someone stopped before the freeze, which the thaw must leave stopped. */
import { freezeTree } from '../../src/index.js';
import { eventually, sleep, startTree, taskStates } from '../../test/helpers/index.js';
import { stoppedOf } from '../checks.js';
import type { Kind } from '../kind.js';

export const stoppedBefore: Kind = {
  name: 'edge: stopped before the freeze',
  what: 'a process someone stopped before the freeze stays stopped after the thaw; the rest resume',
  runs: 10,
  async run() {
    const tree = await startTree('tree', 4, 2);
    const [, held] = tree.pids as [number, number];
    process.kill(held, 'SIGSTOP');
    await eventually(() => taskStates(held) === 'TT', 1000);
    const frozen = await freezeTree(tree.root);
    await frozen.thaw();
    await sleep(5);
    const violations: string[] = [];
    if (taskStates(held) !== 'TT') violations.push('thaw resumed a process stopped before the freeze');
    if (stoppedOf(tree.pids.filter((pid) => pid !== held)).length > 0) violations.push('left stopped');
    tree.kill();
    return { violations, figures: {} };
  },
};
