/** Trial kind: a pid recycled to an impostor during the freeze or while frozen. */
import type { ChildProcess } from 'node:child_process';
import { type InternalFreezeOptions, internalKnobs } from '../../src/hold/plan.js';
import { type FrozenTree, freezeTree } from '../../src/index.js';
import {
  eventually,
  killGroupOf,
  recyclePid,
  retryWhilePidTaken,
  sleep,
  startTree,
  taskStates,
} from '../../test/helpers/index.js';
import type { Kind } from '../kind.js';

/** A pid recycled (through ns_last_pid) at the worst moments: the impostor is never signalled. */
export function pidReuse(when: 'during the freeze' | 'while frozen'): Kind {
  return {
    name: `pid reuse ${when}`,
    what:
      when === 'during the freeze'
        ? 'a discovered process dies and its pid is given to an impostor (born at least 20 ms after it) before it is signalled'
        : 'a frozen process dies, its pid goes to an impostor that someone else stops; thaw must not resume it',
    runs: 25,
    needsRoot: true,
    async run(index) {
      let impostor: ChildProcess | undefined;
      const violations: string[] = [];
      // Another process may take the pid first on a busy machine: then a new tree, a new try.
      const { tree, frozen } = await retryWhilePidTaken(async () => {
        const tree = await startTree('reaper', 3);
        const [root, victim] = tree.pids as [number, number];
        // Start times tick every 10 ms: an impostor born in the victim's own tick has the same
        // (pid, start time), which only pidfd tells apart (a documented limit of the fallback).
        // Here the impostor is always born at least two ticks later.
        await sleep(25);
        const options: InternalFreezeOptions = {
          identity: index % 2 === 0 ? 'pidfd' : 'starttime',
          [internalKnobs]: {
            afterDiscovery: (pids) => {
              if (when === 'during the freeze' && !impostor && pids.includes(victim))
                impostor = recyclePid(victim);
            },
          },
        };
        let frozen: FrozenTree | undefined;
        try {
          frozen = await freezeTree(root, options);
          if (when === 'while frozen') {
            process.kill(root, 'SIGCONT'); // the victim's stopped parent must run to reap it
            impostor = recyclePid(victim);
          }
          return { tree, frozen };
        } catch (error) {
          await frozen?.thaw();
          tree.kill();
          throw error;
        }
      });
      const impostorPid = impostor?.pid as number;
      if (/T/.test(taskStates(impostorPid))) violations.push('the impostor was stopped by the freeze');
      process.kill(impostorPid, 'SIGSTOP');
      await eventually(() => taskStates(impostorPid) === 'T', 1000);
      await frozen.thaw();
      await sleep(10);
      if (taskStates(impostorPid) !== 'T') violations.push('thaw resumed the impostor');
      if (impostor) killGroupOf(impostor);
      tree.kill();
      return { violations, figures: {} };
    },
  };
}
