/** Trial kind: bad input to every public function and CLI command, beside a canary tree. */
import { FreezeError } from '../../src/base/errors.js';
import { freezeCgroup, freezeTree, listTree, parseStat, thawCgroup, thawTree } from '../../src/index.js';
import { startCli, startTree, type TestTree, unusedPid } from '../../test/helpers/index.js';
import { stoppedOf } from '../checks.js';
import type { Kind } from '../kind.js';

/** Library calls given bad input: each must fail with a FreezeError. */
function badCalls(canary: TestTree, missing: number): [string, () => unknown][] {
  // biome-ignore lint/suspicious/noExplicitAny: bad input on purpose
  const bad = (value: unknown): any => value;
  return [
    ['freezeTree("x")', () => freezeTree(bad('x'))],
    ['freezeTree(-1)', () => freezeTree(-1)],
    ['freezeTree(1)', () => freezeTree(1)],
    ['freezeTree(2)', () => freezeTree(2)],
    ['freezeTree(self)', () => freezeTree(process.pid)],
    ['freezeTree(missing)', () => freezeTree(missing)],
    ['freezeTree timeoutMs NaN', () => freezeTree(canary.root, { timeoutMs: Number.NaN })],
    ['freezeTree exclude root', () => freezeTree(canary.root, { exclude: [canary.root] })],
    ['freezeCgroup("")', () => freezeCgroup('')],
    ['freezeCgroup(/proc)', () => freezeCgroup('/proc')],
    ['listTree(0)', () => listTree(0)],
    ['parseStat("")', () => parseStat('')],
    ['thawTree(-5)', () => thawTree(-5)],
    ['thawCgroup("/nope")', () => thawCgroup('/treefreeze-nope')],
  ];
}

/** CLI commands given bad input, and the exit code each must end with. */
function badCommands(canary: TestTree, missing: number): [string[], number][] {
  return [
    [['freeze'], 2],
    [['freeze', 'abc'], 1], // a name no process has: NO_MATCH
    [['freeze', '12abc'], 2],
    [['freeze', '-3'], 2],
    [['freeze', '1'], 1],
    [['freeze', String(missing)], 1],
    [['run', String(canary.root)], 2],
    [['thaw', 'x'], 1],
    [['thaw', 'tf-000000'], 1], // no such hold
    [['tree', '0'], 2],
    [['freeze', '--cgroup', '/treefreeze-nope'], 1],
    [['nonsense'], 2],
  ];
}

/** Bad input to every public function and CLI command: a FreezeError (exit 1) or a usage error (exit 2). */
export const badInput: Kind = {
  name: 'bad input',
  what: 'every public function and CLI command given bad input; a canary tree must stay untouched',
  runs: 1,
  async run() {
    const canary = await startTree('tree', 3, 1);
    const missing = unusedPid();
    const violations: string[] = [];
    const calls = badCalls(canary, missing);
    for (const [label, call] of calls) {
      try {
        await call();
        violations.push(`${label} did not fail`);
      } catch (error) {
        if (!(error instanceof FreezeError)) violations.push(`${label}: not a FreezeError: ${String(error)}`);
      }
    }
    const commands = badCommands(canary, missing);
    for (const [args, code] of commands) {
      const result = await startCli(args).done;
      if (result.code !== code)
        violations.push(`treefreeze ${args.join(' ')} exited ${result.code}, not ${code}`);
      if (/unexpected error|\n\s+at /.test(result.stderr))
        violations.push(`treefreeze ${args.join(' ')}: a stack trace`);
    }
    if (stoppedOf(canary.pids).length > 0) violations.push('the canary tree was stopped');
    canary.kill();
    return { violations, figures: { cases: calls.length + commands.length } };
  },
};
