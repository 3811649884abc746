/**
 * The built library (dist/), for tests that run it in another process: rebuilt first
 * when any source file is newer, so such a test never runs a stale build (running one
 * test file by hand after an edit, without `npm test`'s pretest build).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './env.js';

let checked = false;

function newestMtime(dir: string, suffix: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(path, suffix));
    else if (entry.name.endsWith(suffix)) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

function oldestMtime(dir: string, suffix: string): number {
  let oldest = Number.POSITIVE_INFINITY;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) oldest = Math.min(oldest, oldestMtime(path, suffix));
    else if (entry.name.endsWith(suffix)) oldest = Math.min(oldest, statSync(path).mtimeMs);
  }
  return oldest;
}

/** The dist/ directory, built from the current sources. */
export function freshBuild(): string {
  const dist = join(repoRoot, 'dist');
  if (checked) return dist;
  const stale =
    !existsSync(join(dist, 'index.js')) ||
    newestMtime(join(repoRoot, 'src'), '.ts') > oldestMtime(dist, '.js') ||
    statSync(join(repoRoot, 'package.json')).mtimeMs > oldestMtime(dist, '.js');
  if (stale) execFileSync('npm', ['run', 'build', '--silent'], { cwd: repoRoot, stdio: 'inherit' });
  checked = true;
  return dist;
}

/** The test's separate freezing process (it imports dist/). */
export function freezeChildScript(): string {
  freshBuild();
  return join(repoRoot, 'test/scripts/freeze-child.mjs');
}
