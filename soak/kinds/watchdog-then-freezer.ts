/** Trial kind: the watchdog killed or stopped while holding, then the freezer SIGKILLed. */

import { WATCHDOG_TWINS } from '../../src/watchdog/shared.js';
import {
  eventually,
  runningWatchdogs,
  sleep,
  startTree,
  taskStates,
  watchdogsOf,
} from '../../test/helpers/index.js';
import { resumed, stoppedOf } from '../checks.js';
import { startFreezer } from '../freezer-process.js';
import type { Kind } from '../kind.js';

/** The watchdog SIGKILLed or SIGSTOPped while holding, then the freezer SIGKILLed. */
export function watchdogThenFreezer(signal: 'SIGKILL' | 'SIGSTOP'): Kind {
  return {
    name: `watchdog ${signal}, then freezer SIGKILL`,
    what: `the watchdog ${signal === 'SIGKILL' ? 'killed' : 'stopped'} while holding, the freezer SIGKILLed 100 ms later`,
    runs: 30,
    async run() {
      const tree = await startTree('tree', 6, 2);
      const freezer = startFreezer(['hold', String(tree.root), '{}']);
      const violations: string[] = [];
      if (!(await eventually(() => freezer.lines.length >= 2, 10_000))) violations.push('never froze');
      const [watchdog] = JSON.parse(freezer.lines[1] ?? '{"watchdogs":[]}').watchdogs as number[];
      await sleep(30); // past its first milliseconds (its traps are set)
      if (watchdog) process.kill(watchdog, signal);
      await sleep(100);
      const restored = watchdogsOf(freezer.child.pid as number).filter((pid) => !/T/.test(taskStates(pid)));
      const figures: Record<string, number> = {};
      if (restored.length !== WATCHDOG_TWINS)
        violations.push(`watchdogs not restored within 100 ms (${restored.length} running)`);
      if (stoppedOf(tree.pids).length !== tree.pids.length)
        violations.push('the tree was resumed behind the freezer');
      const killedAt = performance.now();
      freezer.child.kill('SIGKILL');
      await freezer.closed;
      const result = await resumed(tree.root, killedAt);
      if ('left' in result) violations.push(`left stopped: ${result.left.join(', ')}`);
      else figures['resume after freezer SIGKILL'] = result.ms;
      const all = [...(watchdog ? [watchdog] : []), ...restored];
      if (!(await eventually(() => runningWatchdogs(all).length === 0, 3000)))
        violations.push(`watchdog left running: ${runningWatchdogs(all).join(', ')}`);
      tree.kill();
      return { violations, figures };
    },
  };
}
