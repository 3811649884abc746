/** Trial kind: a freezer holding one tree, SIGKILLed during its second freeze. */
import { eventually, runningWatchdogs, sleep, startTree, watchdogsOf } from '../../test/helpers/index.js';
import { resumed } from '../checks.js';
import { startFreezer } from '../freezer-process.js';
import { type Kind, random } from '../kind.js';

export const secondFreezeKilled: Kind = {
  name: 'freezer SIGKILL in its second freeze',
  what: 'a freezer holding one tree, SIGKILLed at a random moment of its second freeze (one shared watchdog): both trees run again',
  runs: 60,
  async run() {
    const first = await startTree('tree', 4, 2);
    const second = await startTree('tree', 50, 2);
    const freezer = startFreezer(['two-holds', String(first.root), String(second.root), '{}', '{}'], {
      stdin: true,
    });
    const violations: string[] = [];
    const figures: Record<string, number> = {};
    if (!(await eventually(() => freezer.lines.length >= 1, 10_000)))
      violations.push('first freeze never ended');
    const watchdogs = watchdogsOf(freezer.child.pid as number);
    freezer.child.stdin?.write('next\n');
    await eventually(() => freezer.lines.length >= 2, 10_000); // "go": about to freeze the second tree
    await sleep(random(15));
    const killedAt = performance.now();
    freezer.child.kill('SIGKILL');
    await freezer.closed;
    for (const tree of [first, second]) {
      const result = await resumed(tree.root, killedAt);
      if ('left' in result) violations.push(`left stopped: ${result.left.join(', ')}`);
      else
        figures[tree === first ? 'first tree resumed after SIGKILL' : 'second tree resumed after SIGKILL'] =
          result.ms;
    }
    if (!(await eventually(() => runningWatchdogs(watchdogs).length === 0, 3000)))
      violations.push(`watchdog left running: ${runningWatchdogs(watchdogs).join(', ')}`);
    first.kill();
    second.kill();
    return { violations, figures };
  },
};
