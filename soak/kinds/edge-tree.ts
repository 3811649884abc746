/** Trial kind: edge-case trees (a tracer, a zombie, vfork, a hostile comm, many threads or processes). */
import { FreezeError } from '../../src/base/errors.js';
import { freezeTree } from '../../src/index.js';
import { sleep, startTree, taskStates } from '../../test/helpers/index.js';
import { stoppedOf, treeNow } from '../checks.js';
import type { Kind } from '../kind.js';

/** Edge-case trees: freeze must resolve with every task stopped (or fail cleanly), thaw must restore. */
export function edgeTree(
  name: string,
  args: (string | number)[],
  expect: 'frozen' | 'TIMED_OUT',
  runs = 5,
): Kind {
  return {
    name: `edge: ${name}`,
    what: `${args.join(' ')}${expect === 'TIMED_OUT' ? ' (a tracer swallows SIGSTOP: must end as TIMED_OUT)' : ''}`,
    runs,
    async run() {
      const [mode, ...rest] = args;
      const tree = await startTree(String(mode), ...rest);
      const violations: string[] = [];
      const figures: Record<string, number> = {};
      const exclude = mode === 'tracer' ? [tree.pids[2] as number] : [];
      try {
        const frozen = await freezeTree(tree.root, {
          exclude,
          timeoutMs: expect === 'TIMED_OUT' ? 500 : 20_000,
        });
        figures.freeze = frozen.durationMs;
        if (expect === 'TIMED_OUT') violations.push('resolved although a tracer swallows SIGSTOP');
        const running = frozen.processes.filter((p) => !/^[TtZXD]+$/.test(taskStates(p.pid) || 'X'));
        if (running.length > 0)
          violations.push(`resolved with running processes: ${running.map((p) => p.pid)}`);
        await frozen.thaw();
      } catch (error) {
        if (!(error instanceof FreezeError) || error.code !== expect)
          violations.push(`failed: ${String(error)}`);
      }
      await sleep(5);
      const left = stoppedOf(treeNow(tree.root));
      if (left.length > 0) violations.push(`left stopped: ${left.join(', ')}`);
      tree.kill();
      return { violations, figures };
    },
  };
}
