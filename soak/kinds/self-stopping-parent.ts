/** Trial kind: a parent outside the tree that stops itself when its child stops, as su does. */
import { spawn } from 'node:child_process';
import { freezeTree } from '../../src/index.js';
import {
  eventually,
  fixturePath,
  killGroupOf,
  readyLine,
  sleep,
  taskStates,
} from '../../test/helpers/index.js';
import { type Kind, random } from '../kind.js';

/** A su-like parent outside the tree stops itself when its child is frozen: running again after the thaw. */
export const selfStoppingParent: Kind = {
  name: 'parent stops itself (su)',
  what: 'a parent outside the tree that stops itself when its child stops, as su does; held 0-50 ms: the parent runs again after the thaw, and reaps its child',
  runs: 40,
  async run() {
    const fixture = spawn(fixturePath(), ['selfstop'], {
      detached: true,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const violations: string[] = [];
    const figures: Record<string, number> = {};
    try {
      const [parent, child] = (await readyLine(fixture, 'selfstop')).split(' ').slice(1).map(Number) as [
        number,
        number,
      ];
      const frozen = await freezeTree(child);
      await sleep(random(50));
      const thawedAt = performance.now();
      await frozen.thaw();
      if (await eventually(() => !/T/.test(taskStates(parent)) && !/T/.test(taskStates(child)), 1000))
        figures['parent running after thaw'] = performance.now() - thawedAt;
      else violations.push(`left stopped: parent ${taskStates(parent)}, child ${taskStates(child)}`);
      process.kill(child, 'SIGKILL');
      if (!(await eventually(() => taskStates(child) === '', 2000)))
        violations.push('the child was not reaped');
    } finally {
      killGroupOf(fixture);
    }
    return { violations, figures };
  },
};
