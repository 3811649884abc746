/** Trial kind: a freeze with a lease (maxHoldMs) thawed at once; no lease timer may outlive it. */
import { freezeTree } from '../../src/index.js';
import { keptWatchdogPids } from '../../src/watchdog/shared.js';
import { eventually, leaseProcesses, startTree } from '../../test/helpers/index.js';
import { stoppedOf } from '../checks.js';
import type { Kind } from '../kind.js';

export const leaseThawedAtOnce: Kind = {
  name: 'lease, thawed at once',
  what: 'a freeze with maxHoldMs thawed right away: no lease timer may remain in the watchdog’s group',
  runs: 100,
  async run(index) {
    const tree = await startTree('tree', 2, 1);
    const frozen = await freezeTree(tree.root, { maxHoldMs: 3_600_000 + index });
    await frozen.thaw();
    const violations = stoppedOf(tree.pids).length > 0 ? ['left stopped'] : [];
    tree.kill();
    return { violations, figures: {} };
  },
  async finally() {
    // A killed lease may leave its current sleep (at most a second) behind: then nothing.
    const kept = keptWatchdogPids();
    if (kept.length === 0) return ['no watchdog kept'];
    const leases = () => kept.flatMap((watchdog) => leaseProcesses(watchdog));
    await eventually(() => leases().length === 0, 3000);
    return leases().length > 0 ? [`${leases().length} lease timers left running`] : [];
  },
};
