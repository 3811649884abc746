/** Trial kind: a detached hold (`freeze --detach`), ended by `thaw <id>` or by killing its holder. */
import { sleep, startCli, startTree } from '../../test/helpers/index.js';
import { resumed, stoppedOf } from '../checks.js';
import { type Kind, random } from '../kind.js';

/** A detached hold (freeze --detach): ended by thaw <id>, or its holder SIGKILLed at a random moment. */
export function detachedHold(ending: 'thaw <id>' | 'holder SIGKILL'): Kind {
  return {
    name: `detached hold, ${ending}`,
    what:
      ending === 'thaw <id>'
        ? '`freeze --detach` then `thaw <id>`: frozen when the command returns, running after the thaw, its registry entry gone'
        : '`freeze --detach`, then its background holder SIGKILLed at a random moment: the tree runs again, `status` never lists it as holding',
    runs: 30,
    async run() {
      const tree = await startTree('tree', 5, 2);
      const violations: string[] = [];
      const figures: Record<string, number> = {};
      const detached = await startCli(['freeze', String(tree.root), '--detach', '--max-hold', '1m', '--json'])
        .done;
      const frozen = detached.stdout.split('\n').find((line) => line.includes('"frozen"'));
      if (detached.code !== 0 || !frozen) {
        violations.push(`freeze --detach failed: ${detached.stderr.trim()}`);
        tree.kill();
        return { violations, figures };
      }
      const { hold, holder } = JSON.parse(frozen) as { hold: string; holder: number };
      if (stoppedOf(tree.pids).length !== tree.pids.length)
        violations.push('not frozen when the command returned');
      const endedAt = performance.now();
      if (ending === 'thaw <id>') {
        const thaw = await startCli(['thaw', hold, '--json']).done;
        if (thaw.code !== 0) violations.push(`thaw ${hold} exited ${thaw.code}: ${thaw.stderr.trim()}`);
        if (stoppedOf(tree.pids).length > 0) violations.push('left stopped after thaw <id>');
        else figures['thaw <id>, command to running'] = performance.now() - endedAt;
      } else {
        await sleep(random(50));
        process.kill(holder, 'SIGKILL');
        const result = await resumed(tree.root, endedAt);
        if ('left' in result) violations.push(`left stopped: ${result.left.join(', ')}`);
        else figures['resume after holder SIGKILL'] = result.ms;
      }
      const status = JSON.parse((await startCli(['status', '--json']).done).stdout || '{"holds":[]}');
      const listed = (status.holds as { id: string; state: string }[]).find((entry) => entry.id === hold);
      if (listed?.state === 'holding') violations.push(`status still lists ${hold} as holding`);
      tree.kill();
      return { violations, figures };
    },
  };
}
