/** Trial kind: the freezer (library or CLI) SIGKILLed mid-freeze or holding. */
import type { ChildProcess } from 'node:child_process';
import {
  eventually,
  runningWatchdogs,
  sleep,
  startCli,
  startTree,
  watchdogsOf,
} from '../../test/helpers/index.js';
import { resumed, stoppedOf, treeNow } from '../checks.js';
import { startFreezer } from '../freezer-process.js';
import { type Kind, random } from '../kind.js';

/** The freezer SIGKILLed at a random moment; the tree must run again by itself. */
export function freezerKilled(kind: 'library' | 'cli'): Kind {
  return {
    name: `freezer SIGKILL (${kind})`,
    what: `the ${kind === 'cli' ? '`treefreeze freeze`' : 'library'} freezer SIGKILLed at a random moment, mid-freeze or holding`,
    runs: kind === 'library' ? 100 : 60,
    async run() {
      const tree = await startTree('tree', 10, 2);
      let child: ChildProcess;
      let closed: Promise<void>;
      if (kind === 'library') {
        const freezer = startFreezer(['hold', String(tree.root), '{}']);
        ({ child, closed } = freezer);
        await eventually(() => freezer.lines.length >= 1, 10_000); // "go": about to freeze
        await sleep(random(25));
      } else {
        const cli = startCli(['freeze', String(tree.root), '--for', '30s']);
        child = cli.child;
        closed = cli.done.then(() => {});
        await sleep(80 + random(250)); // Node's start is ~100 ms: before, during or after the freeze
      }
      const watchdogs = watchdogsOf(child.pid as number);
      const anyStopped = stoppedOf(treeNow(tree.root)).length > 0;
      const killedAt = performance.now();
      child.kill('SIGKILL');
      await closed;
      const result = await resumed(tree.root, killedAt);
      const violations: string[] = [];
      if ('left' in result) violations.push(`left stopped: ${result.left.join(', ')}`);
      if (!(await eventually(() => runningWatchdogs(watchdogs).length === 0, 3000)))
        violations.push(`watchdog left running: ${runningWatchdogs(watchdogs).join(', ')}`);
      tree.kill();
      return {
        violations,
        figures: anyStopped && 'ms' in result ? { 'resume after SIGKILL': result.ms } : {},
      };
    },
  };
}
