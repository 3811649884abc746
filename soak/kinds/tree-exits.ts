/** Trial kind: a held tree killed while held; the hold ends by itself ("exited") within a second. */
import { freezeTree } from '../../src/index.js';
import { sleep, startTree } from '../../test/helpers/index.js';
import type { Kind } from '../kind.js';

export const treeExits: Kind = {
  name: 'a held tree exits',
  what: 'every process of a held tree SIGKILLed: the hold ends by itself, thawed reason "exited", within a second',
  runs: 50,
  async run() {
    const tree = await startTree('tree', 4, 2);
    const frozen = await freezeTree(tree.root);
    const killedAt = performance.now();
    tree.kill();
    const why = await Promise.race([frozen.thawed, sleep(1000).then(() => 'still held after 1 s')]);
    const violations = why === 'exited' ? [] : [`the hold did not end: ${why}`];
    if (frozen.frozen) violations.push('still reported frozen');
    await frozen.thaw();
    return { violations, figures: { 'hold ended after the kill': performance.now() - killedAt } };
  },
};
