import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { repoRoot } from './helpers/index.js';

// The layers, lowest first. A module may import from its own layer or a lower one, never
// from a higher one: base <- kernel <- tree <- watchdog <- backends <- hold <- entry points <- cli.
const LAYERS: [string, (path: string) => boolean][] = [
  ['base', (path) => path.startsWith('base/')],
  ['kernel', (path) => path.startsWith('kernel/')],
  ['tree', (path) => path.startsWith('tree/')],
  ['watchdog', (path) => path.startsWith('watchdog/')],
  ['backends', (path) => path.startsWith('backends/')],
  ['hold', (path) => path.startsWith('hold/')],
  ['entry points', (path) => !path.includes('/') && path !== 'cli.ts'],
  ['cli', (path) => path.startsWith('cli/') || path === 'cli.ts'],
];

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

test('no import points from a lower layer up', () => {
  const src = join(repoRoot, 'src');
  const upward: string[] = [];
  for (const file of sourceFiles(src)) {
    const from = relative(src, file);
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(/^(?:import|export)[^'"]*from '(\.[^']+)'/gm)) {
      const to = relative(src, resolve(dirname(file), (match[1] as string).replace(/\.js$/, '.ts')));
      if (layerOf(to) > layerOf(from)) {
        upward.push(`${from} (${LAYERS[layerOf(from)]?.[0]}) imports ${to} (${LAYERS[layerOf(to)]?.[0]})`);
      }
    }
  }
  assert.deepEqual(upward, []);
});
