/** Trial kind: part of a held tree sent SIGCONT, under each breach policy. */
import { freezeTree } from '../../src/index.js';
import { eventually, sleep, startTree, taskStates } from '../../test/helpers/index.js';
import { stoppedOf, treeNow } from '../checks.js';
import { type Kind, random } from '../kind.js';

/** Someone resumes part of a held tree at a random moment: noticed, refrozen (or only reported). */
export function holdBreach(policy: 'refreeze' | 'report'): Kind {
  return {
    name: `hold breach: SIGCONT (${policy})`,
    what:
      policy === 'refreeze'
        ? 'a random part of a held 6 x 2 tree is sent SIGCONT at a random moment (half the time stopped again at once): every process stopped again within 1 s, the breach reported, all running after the thaw'
        : 'a random part of a held tree is sent SIGCONT: left running (onBreach report), the breach reported, nothing stopped after the thaw',
    runs: policy === 'refreeze' ? 60 : 20,
    async run() {
      const tree = await startTree('tree', 6, 2);
      const frozen = await freezeTree(tree.root, { onBreach: policy });
      const violations: string[] = [];
      const figures: Record<string, number> = {};
      await sleep(random(300));
      const victims = tree.pids.filter(() => Math.random() < 0.5);
      if (victims.length === 0) victims.push(tree.pids[0] as number);
      const brief = policy === 'refreeze' && Math.random() < 0.5;
      const sentAt = performance.now();
      for (const pid of victims) process.kill(pid, 'SIGCONT');
      if (brief) for (const pid of victims) process.kill(pid, 'SIGSTOP');
      if (policy === 'refreeze') {
        if (!brief) {
          if (await eventually(() => stoppedOf(tree.pids).length === tree.pids.length, 1000))
            figures['stopped again after SIGCONT'] = performance.now() - sentAt;
          else violations.push(`not stopped again within 1 s: ${tree.pids.map(taskStates).join(' ')}`);
        }
        await eventually(() => frozen.breaches.length > 0, 1000);
      } else {
        await sleep(250);
        if (stoppedOf(victims).length > 0) violations.push('report policy stopped something again');
      }
      await frozen.thaw();
      if (frozen.intact) violations.push('the breach was not reported');
      else if (!frozen.breaches.some((breach) => victims.every((pid) => breach.pids.includes(pid))))
        violations.push('the breach does not name every process that ran');
      await sleep(5);
      const left = stoppedOf(treeNow(tree.root));
      if (left.length > 0) violations.push(`left stopped after the thaw: ${left.join(', ')}`);
      tree.kill();
      return { violations, figures };
    },
  };
}
