import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { completionScript, SHELLS } from '../../src/cli/completion.js';
import { buildProgram } from '../../src/cli/program.js';
import { cliPath, freshBuild } from '../helpers/index.js';

/** What bash completes for these words, with the script `treefreeze completion bash` prints. */
function completeInBash(...words: string[]): string[] {
  freshBuild();
  const script = `source <("$NODE" "$CLI" completion bash)
COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMPREPLY=(); _treefreeze
printf '%s\\n' "\${COMPREPLY[@]}"`;
  const out = execFileSync('bash', ['-c', script, 'bash', 'treefreeze', ...words], {
    encoding: 'utf8',
    env: { ...process.env, NODE: process.execPath, CLI: cliPath },
  });
  return out.split('\n').filter(Boolean);
}

test('bash completes subcommands, options, option values and operands', () => {
  assert.deepEqual(completeInBash('fr'), ['freeze']);
  assert.deepEqual(completeInBash('freeze', '--on-b'), ['--on-breach']);
  assert.deepEqual(completeInBash('freeze', '--on-breach', ''), ['refreeze', 'report']);
  assert.deepEqual(completeInBash('run', '--backend', 'a'), ['auto']);
  assert.deepEqual(completeInBash('thaw', '--dr'), ['--dry-run']);
  assert.deepEqual(completeInBash('completion', ''), ['bash', 'zsh', 'fish']);
  assert.ok(completeInBash('tree', String(process.pid)).includes(String(process.pid)), 'a pid completes');
});

test('every shell script names every subcommand and option --help shows', () => {
  const program = buildProgram(() => {});
  for (const shell of SHELLS) {
    const script = completionScript(shell, program);
    for (const command of program.commands) {
      assert.ok(script.includes(command.name()), `${shell}: ${command.name()}`);
      for (const option of command.options) {
        const flag = shell === 'fish' ? `-l ${(option.long as string).slice(2)}` : (option.long as string);
        assert.ok(script.includes(flag), `${shell}: ${command.name()} ${option.long}`);
      }
    }
  }
  // Each script is valid for bash at least (zsh's is bash's behind bashcompinit).
  execFileSync('bash', ['-n'], { input: completionScript('bash', program) });
});
