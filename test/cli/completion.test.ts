import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { completionScript, SHELLS } from '../../src/cli/completion.js';
import { buildProgram } from '../../src/cli/program.js';
import { cliPath, freshBuild, inCI, runCli, startTree } from '../helpers/index.js';

// A `treefreeze` on PATH, as an installed one would be: the scripts ask it for targets.
const bin = mkdtempSync(join(tmpdir(), 'treefreeze-completion-'));
writeFileSync(join(bin, 'treefreeze'), `#!/bin/sh\nexec '${process.execPath}' '${cliPath}' "$@"\n`, {
  mode: 0o755,
});
const env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
after(() => rmSync(bin, { recursive: true, force: true }));

/** What bash completes for these words, with the script `treefreeze completion bash` prints. */
function completeInBash(...words: string[]): string[] {
  freshBuild();
  const script = `source <(treefreeze completion bash)
COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMPREPLY=(); _treefreeze
printf '%s\\n' "\${COMPREPLY[@]}"`;
  const out = execFileSync('bash', ['-c', script, 'bash', 'treefreeze', ...words], {
    encoding: 'utf8',
    env,
    cwd: bin,
  });
  return out.split('\n').filter(Boolean);
}

const hasFish = (() => {
  try {
    execFileSync('fish', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** What fish completes for this command line, with the script `treefreeze completion fish` prints. */
function completeInFish(line: string): string[] {
  freshBuild();
  const script = 'treefreeze completion fish | source; complete -C $argv[1]';
  const out = execFileSync('fish', ['-c', script, line], { encoding: 'utf8', env, cwd: bin });
  return out
    .split('\n')
    .filter(Boolean)
    .map((entry) => entry.split('\t')[0] as string);
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

test('targets complete with process names as well as pids, and thaw with hold ids', async () => {
  const tree = await startTree('comm', 'tfcompl_named');
  const { stdout, code } = await runCli(['freeze', String(tree.root), '--detach', '--max-hold', '1m']);
  assert.equal(code, 0);
  const id = stdout.trim();
  try {
    assert.deepEqual(completeInBash('freeze', 'tfcompl_'), ['tfcompl_named']);
    assert.deepEqual(completeInBash('thaw', 'tf-'), [id], 'a live hold id');
    assert.deepEqual(completeInBash('thaw', 'tfcompl_n'), ['tfcompl_named'], 'thaw takes targets too');
    if (hasFish) {
      assert.ok(completeInFish('treefreeze tree tfcompl_').includes('tfcompl_named'));
      assert.deepEqual(completeInFish('treefreeze thaw tf-'), [id]);
    }
  } finally {
    await runCli(['thaw', id]);
    tree.kill();
  }
});

test('a hostile process name is never offered, nor run by the shell', async () => {
  // Bash expands a compgen -W word list: a name with `...` in it would run as a command.
  const hostile = `\`touch\${IFS}pw\``;
  const tree = await startTree('comm', hostile);
  try {
    const offered = completeInBash('freeze', '');
    assert.ok(offered.includes(String(tree.root)), 'its pid is offered');
    assert.ok(!offered.some((word) => /[`$]/.test(word)), offered.join(' '));
    assert.ok(!existsSync(join(bin, 'pw')), 'the name ran as a command');
  } finally {
    tree.kill();
  }
});

test("after run's --: the command to run, then its own completion (file names here)", () => {
  assert.ok(completeInBash('run', '1', '--', 'ech').includes('echo'));
  assert.deepEqual(completeInBash('run', '1', '--', 'ls', '/et'), ['/etc']);
  assert.deepEqual(completeInBash('run', '1', '--', 'ls', '--on-b'), [], "not run's own options");
  if (!hasFish) {
    assert.ok(!inCI, 'fish is installed by setup-system.sh');
    return;
  }
  assert.ok(completeInFish('treefreeze run 1 -- ech').includes('echo'));
  assert.deepEqual(completeInFish('treefreeze run 1 -- ls /et'), ['/etc/']);
  assert.ok(completeInFish('treefreeze freeze --on-b').includes('--on-breach'));
  assert.ok(!completeInFish('treefreeze run 1 -- ls --on-b').includes('--on-breach'));
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
