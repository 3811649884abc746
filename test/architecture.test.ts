/**
 * The shape of src/, read with the TypeScript compiler: layers, imports (static, re-exports
 * and dynamic), no circle, small functions and files, options declared once.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';
import { repoRoot } from './helpers/index.js';

// The layers, lowest first. A module may import from its own layer or a lower one, never
// from a higher one: base <- kernel <- tree <- watchdog <- backends <- hold <- protocol <- fleet <-
// entry points <- cli.
const LAYERS: [string, (path: string) => boolean][] = [
  ['base', (path) => path.startsWith('base/')],
  ['kernel', (path) => path.startsWith('kernel/')],
  ['tree', (path) => path.startsWith('tree/')],
  ['watchdog', (path) => path.startsWith('watchdog/')],
  ['backends', (path) => path.startsWith('backends/')],
  ['hold', (path) => path.startsWith('hold/')],
  ['protocol', (path) => path.startsWith('protocol/')],
  ['fleet', (path) => path.startsWith('fleet/')],
  ['entry points', (path) => !path.includes('/') && path !== 'cli.ts'],
  ['cli', (path) => path.startsWith('cli/') || path === 'cli.ts'],
];

const MAX_FUNCTION_LINES = 80;
const MAX_FILE_LINES = 300;
const MAX_TOP_LEVEL_FILES = 6;

function layerOf(path: string): number {
  const index = LAYERS.findIndex(([, matches]) => matches(path));
  assert.ok(index >= 0, `${path} belongs to no layer: add it to LAYERS`);
  return index;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sourceFiles(join(dir, entry.name))
      : entry.name.endsWith('.ts')
        ? [join(dir, entry.name)]
        : [],
  );
}

const src = join(repoRoot, 'src');
const files = sourceFiles(src).map((file) => ({
  path: relative(src, file),
  text: readFileSync(file, 'utf8'),
  source: ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true),
}));

/** Every module a file names: import and export ... from, import type, and import('...'). */
function importsOf(source: ts.SourceFile): { specifier: string; dynamic: boolean }[] {
  const found: { specifier: string; dynamic: boolean }[] = [];
  const visit = (node: ts.Node) => {
    if (
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      found.push({ specifier: node.moduleSpecifier.text, dynamic: false });
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] !== undefined
    ) {
      const [argument] = node.arguments;
      // A computed specifier cannot be checked: say so rather than let it pass.
      found.push({ specifier: ts.isStringLiteral(argument) ? argument.text : '<computed>', dynamic: true });
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      const literal = node.argument.literal;
      if (ts.isStringLiteral(literal)) found.push({ specifier: literal.text, dynamic: false });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** The src-relative paths a file imports (its own modules only). */
const graph = new Map(
  files.map((file) => [
    file.path,
    importsOf(file.source)
      .filter(({ specifier }) => specifier.startsWith('.') || specifier === '<computed>')
      .map(({ specifier, dynamic }) => ({
        to:
          specifier === '<computed>'
            ? specifier
            : relative(src, resolve(dirname(join(src, file.path)), specifier.replace(/\.js$/, '.ts'))),
        dynamic,
      })),
  ]),
);

test('no import points from a lower layer up, dynamic imports included', () => {
  const upward: string[] = [];
  for (const [from, imports] of graph) {
    for (const { to, dynamic } of imports) {
      if (to === '<computed>') {
        upward.push(`${from} imports a computed path`);
        continue;
      }
      if (layerOf(to) > layerOf(from)) {
        const how = dynamic ? 'dynamically imports' : 'imports';
        upward.push(`${from} (${LAYERS[layerOf(from)]?.[0]}) ${how} ${to} (${LAYERS[layerOf(to)]?.[0]})`);
      }
    }
  }
  assert.deepEqual(upward, []);
});

test('the check sees a dynamic import and an import type', () => {
  const probe = ts.createSourceFile(
    'probe.ts',
    "const m = await import('../cli/program.js');\ntype T = import('../hold/plan.js').HoldPlan;",
    ts.ScriptTarget.ES2022,
    true,
  );
  assert.deepEqual(
    importsOf(probe).map(({ specifier }) => specifier),
    ['../cli/program.js', '../hold/plan.js'],
  );
});

test('backends know neither the watchdog nor the hold: one contract, backends/contract.ts', () => {
  const crossing = [...graph]
    .filter(([from]) => from.startsWith('backends/'))
    .flatMap(([from, imports]) =>
      imports
        .filter(({ to }) => to.startsWith('watchdog/') || to.startsWith('hold/'))
        .map(({ to }) => `${from} imports ${to}`),
    );
  assert.deepEqual(crossing, []);
});

test('no import circle among the modules of src/', () => {
  const circles: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const walk = (path: string, trail: string[]) => {
    if (state.get(path) === 'done') return;
    if (state.get(path) === 'visiting') {
      circles.push([...trail.slice(trail.indexOf(path)), path].join(' -> '));
      return;
    }
    state.set(path, 'visiting');
    for (const { to } of graph.get(path) ?? []) if (graph.has(to)) walk(to, [...trail, path]);
    state.set(path, 'done');
  };
  for (const path of graph.keys()) walk(path, []);
  assert.deepEqual(circles, []);
});

test(`src/'s top level holds only entry points, at most ${MAX_TOP_LEVEL_FILES}`, () => {
  const topLevel = files.map((file) => file.path).filter((path) => !path.includes('/'));
  assert.ok(topLevel.length <= MAX_TOP_LEVEL_FILES, `top level: ${topLevel.join(', ')}`);
});

test('no two modules of src/ share a name', () => {
  const byName = new Map<string, string[]>();
  for (const { path } of files) {
    const name = path.split('/').at(-1) as string;
    byName.set(name, [...(byName.get(name) ?? []), path]);
  }
  assert.deepEqual(
    [...byName.values()].filter((paths) => paths.length > 1),
    [],
  );
});

test(`no function in src/ is over ${MAX_FUNCTION_LINES} lines, no file over ${MAX_FILE_LINES}`, () => {
  const long: string[] = [];
  for (const { path, source, text } of files) {
    const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
    if (lines > MAX_FILE_LINES) long.push(`${path}: ${lines} lines`);
    const visit = (node: ts.Node) => {
      if (ts.isFunctionLike(node) && 'body' in node && node.body) {
        const first = source.getLineAndCharacterOfPosition(node.getStart()).line;
        const last = source.getLineAndCharacterOfPosition(node.end).line;
        if (last - first + 1 > MAX_FUNCTION_LINES) {
          const name = node.name?.getText(source) ?? '(anonymous)';
          long.push(`${path}:${first + 1} ${name}: ${last - first + 1} lines`);
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  assert.deepEqual(long, []);
});

test('an option is declared once: maxHoldMs in FreezeOptions and the checked plan only', () => {
  const declarations: string[] = [];
  for (const { path, source } of files) {
    const visit = (node: ts.Node) => {
      if (
        (ts.isPropertySignature(node) || ts.isPropertyDeclaration(node)) &&
        node.name.getText(source) === 'maxHoldMs'
      ) {
        const line = source.getLineAndCharacterOfPosition(node.getStart()).line + 1;
        declarations.push(`${path}:${line}`);
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  assert.equal(declarations.length, 2, declarations.join(', '));
  assert.ok(
    declarations.every((where) => where.startsWith('hold/plan.ts:')),
    declarations.join(', '),
  );
});
