import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildProgram } from '../../src/cli/program.js';
import { freshBuild, repoRoot } from '../helpers/index.js';

test('the man page is built with the package and lists what --help lists', () => {
  freshBuild();
  const manifest = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8'));
  const [manPage] = manifest.man as string[]; // a list: npm links a man page only then
  const page = join(repoRoot, manPage as string);
  assert.ok(existsSync(page), `${manPage} is built`);
  const source = readFileSync(page, 'utf8');
  const text = source.replace(/\\-/g, '-').replace(/\\e/g, '\\').replace(/\\&/g, '');
  assert.match(source, /^\.TH TREEFREEZE 1 /);
  const program = buildProgram(() => {});
  for (const command of program.commands) {
    assert.ok(text.includes(`treefreeze ${command.name()}\n${command.usage()}`), command.name());
    for (const option of command.options)
      assert.ok(text.includes(option.flags), `${command.name()} ${option.flags}`);
  }
  assert.match(text, /\.SH "EXIT STATUS"[\s\S]*3 the hold was broken/);
  // Where groff is installed (man-db needs it), the page must also render without a warning.
  if (existsSync('/usr/bin/groff')) {
    execFileSync('groff', ['-man', '-Tutf8', '-ww', '-z', page], { stdio: ['ignore', 'ignore', 'pipe'] });
  }
});
