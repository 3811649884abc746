/**
 * Trial kind: two freezers, in two processes, on one tree, in every order and timing: the
 * second is refused while the first holds (ALREADY_HELD) or holds on its own once the first
 * is over; nothing is left stopped that neither found stopped, and a process stopped before
 * both stays stopped.
 */
import { sleep, startTree, taskStates } from '../../test/helpers/index.js';
import { stoppedOf } from '../checks.js';
import { startFreezer } from '../freezer-process.js';
import { type Kind, random } from '../kind.js';

interface Report {
  frozen?: boolean;
  thawed?: boolean;
  intact?: boolean;
  ok?: boolean;
  code?: string;
}

const reports = (lines: string[]) => lines.map((line) => JSON.parse(line) as Report);

export const twoFreezers: Kind = {
  name: 'two freezers, any order and timing',
  what: 'two freezer processes on one tree (one process stopped before both), the second started 0-300 ms after the first, holds of 50-300 ms, the second joining the first half the time: refused, joined or held alone, nothing stranded',
  runs: 200,
  async run() {
    const tree = await startTree('tree', 5, 1);
    const stoppedBefore = tree.pids.at(-1) as number;
    process.kill(stoppedBefore, 'SIGSTOP');
    const first = startFreezer(['hold-for', String(tree.root), String(50 + random(250))]);
    await sleep(random(300));
    const join = random(2) === 1; // half the time the second joins the first instead of being refused
    const second = startFreezer([
      'hold-for',
      String(tree.root),
      String(50 + random(250)),
      JSON.stringify({ join }),
    ]);
    await Promise.all([first.closed, second.closed]);
    const violations: string[] = [];
    for (const [name, freezer] of [
      ['first', first],
      ['second', second],
    ] as const) {
      const said = reports(freezer.lines);
      const refused = said.find((report) => report.ok === false);
      if (refused && refused.code !== 'ALREADY_HELD') violations.push(`${name}: ${refused.code}`);
      if (!refused && !said.some((report) => report.thawed)) violations.push(`${name} never thawed`);
    }
    await sleep(5);
    const left = stoppedOf(tree.pids).filter((pid) => pid !== stoppedBefore);
    if (left.length > 0) violations.push(`left stopped by neither: ${left.join(', ')}`);
    if (!/T/.test(taskStates(stoppedBefore))) violations.push('the process stopped before both was resumed');
    process.kill(stoppedBefore, 'SIGCONT');
    tree.kill();
    return { violations, figures: {} };
  },
};
