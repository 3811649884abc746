import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { repoRoot } from './helpers/index.js';

// A consumer package that depends on treefreeze the way `npm install ../treefreeze`
// would link it: node_modules/treefreeze -> this repository (built by `npm test`'s pretest).
const consumer = mkdtempSync(join(tmpdir(), 'treefreeze-consumer-'));
after(() => rmSync(consumer, { recursive: true, force: true }));

mkdirSync(join(consumer, 'node_modules'));
symlinkSync(repoRoot, join(consumer, 'node_modules/treefreeze'));
writeFileSync(
  join(consumer, 'package.json'),
  JSON.stringify({ name: 'consumer', type: 'module', dependencies: { treefreeze: `file:${repoRoot}` } }),
);

test('the built package resolves by name from another package', () => {
  writeFileSync(
    join(consumer, 'main.mjs'),
    `import { freezeTree, freezeDescendants, listTree, parseStat, FreezeError } from 'treefreeze';
const kinds = [freezeTree, freezeDescendants, listTree, parseStat, FreezeError].map((f) => typeof f);
const self = listTree(process.pid)[0];
console.log(JSON.stringify({ kinds, self: self.pid === process.pid, isError: new FreezeError('ABORTED', 'x') instanceof Error }));
`,
  );
  const out = JSON.parse(execFileSync(process.execPath, ['main.mjs'], { cwd: consumer, encoding: 'utf8' }));
  assert.deepEqual(out, { kinds: Array(5).fill('function'), self: true, isError: true });
});

test('the package types resolve for a TypeScript consumer', { timeout: 60_000 }, () => {
  writeFileSync(
    join(consumer, 'main.ts'),
    `import { type FrozenTree, freezeTree, FreezeError } from 'treefreeze';
export async function hold(pid: number): Promise<number> {
  try {
    const frozen: FrozenTree = await freezeTree(pid, { timeoutMs: 1000, exclude: [1] });
    await frozen.thaw();
    return frozen.processes.length;
  } catch (error) {
    if (error instanceof FreezeError) return -error.pids.length;
    throw error;
  }
}
`,
  );
  const tsc = join(repoRoot, 'node_modules/typescript/bin/tsc');
  execFileSync(
    process.execPath,
    [tsc, '--noEmit', '--strict', '--module', 'nodenext', '--target', 'es2022', '--skipLibCheck', 'main.ts'],
    { cwd: consumer, encoding: 'utf8' },
  );
});

test('the published declarations hold no internal option', () => {
  const dist = join(repoRoot, 'dist');
  const declarations = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
      entry.isDirectory()
        ? declarations(join(dir, entry.name))
        : entry.name.endsWith('.d.ts')
          ? [join(dir, entry.name)]
          : [],
    );
  const internal = /\b(afterDiscovery|raisePriority|sizeHint|discovery|platform|method|profile)\??:/;
  const found = declarations(dist)
    .filter((file) => internal.test(readFileSync(file, 'utf8')))
    .map((file) => file.slice(dist.length + 1));
  assert.deepEqual(found, []);
});

/**
 * Whether `text` has a code span that starts with exactly the name: `name`, `name(...)`,
 * `name[]` count; `nameSuffix` does not (a prefix of a longer documented name is not documented).
 */
function namesInCode(text: string, name: string): boolean {
  const escaped = name.replace(/[$]/g, '\\$&');
  return new RegExp(`\`${escaped}(?![\\w$])`).test(text);
}

test("docs/api.md's API section names every export of index.ts, and nothing that is not exported", () => {
  const index = readFileSync(join(repoRoot, 'src/index.ts'), 'utf8');
  const exported = new Set(
    [...index.matchAll(/export (?:type )?\{([^}]*)\}/g)].flatMap((match) =>
      (match[1] as string)
        .split(',')
        .map((name) => name.replace(/^\s*type\s+/, '').trim())
        .map((name) => name.split(/\s+as\s+/).at(-1) as string) // `a as b` exports b
        .filter(Boolean),
    ),
  );
  const doc = readFileSync(join(repoRoot, 'docs/api.md'), 'utf8');
  const api = doc.slice(doc.indexOf('## API'), doc.indexOf('## Errors'));
  assert.ok(api.length > 1000, 'docs/api.md has its API section');
  assert.ok(namesInCode(api, 'FreezeError') && !namesInCode(api, 'FreezeErr'), 'names match whole');
  const missing = [...exported].filter((name) => !namesInCode(api, name));
  assert.deepEqual(missing, [], 'exported but not documented');
  const functionTable = api.slice(0, api.indexOf('`FreezeOptions`:'));
  const functions = [...functionTable.matchAll(/^\| `([a-zA-Z]+)\(/gm)].map((match) => match[1] as string);
  const stale = functions.filter((name) => !exported.has(name));
  assert.deepEqual(stale, [], 'documented but not exported');
});

test('npm install -g of the tarball links the command and the man page', { timeout: 120_000 }, () => {
  // npm links a man page only when "man" is a list: a string installed none.
  const dir = mkdtempSync(join(tmpdir(), 'treefreeze-global-'));
  try {
    execFileSync('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', dir], {
      cwd: repoRoot,
    });
    const tarball = readdirSync(dir).find((name) => name.endsWith('.tgz')) as string;
    const prefix = join(dir, 'prefix');
    // The dependencies come from npm's cache, filled by `npm ci`.
    execFileSync(
      'npm',
      [
        'install',
        '-g',
        '--prefix',
        prefix,
        join(dir, tarball),
        '--prefer-offline',
        '--ignore-scripts',
        '--no-audit',
        '--no-fund',
      ],
      { cwd: dir, stdio: 'ignore' },
    );
    const man = join(prefix, 'share/man/man1/treefreeze.1');
    assert.ok(readFileSync(man, 'utf8').startsWith('.TH TREEFREEZE 1'), 'man treefreeze finds it');
    assert.ok(existsSync(join(prefix, 'bin/treefreeze')), 'the command is linked');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('npm pack: the tarball works when installed: import, require, the command; nothing dangles', {
  timeout: 120_000,
}, () => {
  const dir = mkdtempSync(join(tmpdir(), 'treefreeze-pack-'));
  try {
    // dist/ is already built (npm test's pretest): pack it as it is.
    const tarball = execFileSync('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', dir], {
      cwd: repoRoot,
      encoding: 'utf8',
    })
      .trim()
      .split('\n')
      .at(-1) as string;
    const project = join(dir, 'project');
    const installed = join(project, 'node_modules/treefreeze');
    mkdirSync(installed, { recursive: true });
    execFileSync('tar', ['-xzf', join(dir, tarball), '-C', installed, '--strip-components=1']);
    // Its dependencies as npm would install them, from this checkout (no network in tests).
    for (const dependency of ['commander', 'koffi']) {
      symlinkSync(join(repoRoot, 'node_modules', dependency), join(project, 'node_modules', dependency));
    }
    mkdirSync(join(project, 'node_modules/.bin'));
    symlinkSync('../treefreeze/dist/cli.js', join(project, 'node_modules/.bin/treefreeze'));
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));

    const files = readdirSync(installed);
    for (const file of ['LICENSE', 'CHANGELOG.md', 'README.md', 'package.json', 'dist']) {
      assert.ok(files.includes(file), `${file} is in the package`);
    }
    const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8'));
    assert.ok(
      readFileSync(join(installed, manifest.man[0]), 'utf8').startsWith('.TH TREEFREEZE 1'),
      'the man page',
    );
    const run = (args: string[]) =>
      execFileSync(args[0] as string, args.slice(1), { cwd: project, encoding: 'utf8' });
    assert.equal(
      run([
        process.execPath,
        '--input-type=module',
        '-e',
        "import('treefreeze').then((t) => console.log(typeof t.freezeTree))",
      ]).trim(),
      'function',
    );
    assert.equal(
      run([process.execPath, '-e', "console.log(typeof require('treefreeze').freezeTree)"]).trim(),
      'function',
      'require() resolves the package (Node >= 20.19 loads ES modules from require)',
    );
    const version = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).version;
    assert.equal(run(['npx', '--no', '--', 'treefreeze', '--version']).trim(), version);
    // The native core ships built for the machine the package was packed on.
    const core = join(installed, `dist/native/libtreefreeze-core-${process.platform}-${process.arch}.so`);
    assert.ok(existsSync(core), `${core} is in the package`);

    // Every source map carries the sources it points to: src/ is not shipped.
    const maps = (folder: string): string[] =>
      readdirSync(folder, { withFileTypes: true }).flatMap((entry) =>
        entry.isDirectory()
          ? maps(join(folder, entry.name))
          : entry.name.endsWith('.map')
            ? [join(folder, entry.name)]
            : [],
      );
    const dangling = maps(join(installed, 'dist')).filter((file) => {
      const map = JSON.parse(readFileSync(file, 'utf8')) as { sources: string[]; sourcesContent?: string[] };
      return map.sources.some((_, index) => typeof map.sourcesContent?.[index] !== 'string');
    });
    assert.deepEqual(dangling, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
