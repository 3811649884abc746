/** Trial kind: stray signals (TERM, USR1, HUP …) sent to the watchdog while it holds. */
import { freezeTree } from '../../src/index.js';
import { keptWatchdogPids } from '../../src/watchdog/shared.js';
import { runningWatchdogs, STRAY_SIGNALS, sleep, startTree } from '../../test/helpers/index.js';
import { stoppedOf } from '../checks.js';
import type { Kind } from '../kind.js';

export const strayWatchdogSignals: Kind = {
  name: 'watchdog SIGTERM and other signals',
  what: 'TERM, USR1, USR2, HUP, INT, QUIT, ALRM to the watchdog while holding: nothing resumed behind the freezer',
  runs: 30,
  async run() {
    const tree = await startTree('tree', 4, 1);
    const frozen = await freezeTree(tree.root);
    const [watchdog] = keptWatchdogPids(); // the one watchdog this process keeps for its freezes
    await sleep(20);
    for (const signal of STRAY_SIGNALS) {
      if (watchdog) process.kill(watchdog, signal);
    }
    await sleep(100);
    const violations: string[] = [];
    if (stoppedOf(tree.pids).length !== tree.pids.length) violations.push('resumed behind the freezer');
    await frozen.thaw();
    if (stoppedOf(tree.pids).length > 0) violations.push('left stopped after thaw');
    if (watchdog === undefined || runningWatchdogs([watchdog]).length === 0)
      violations.push('the watchdog did not survive the signals');
    tree.kill();
    return { violations, figures: {} };
  },
};
