/** Where the tests run: the repository, root or not, CI or not; small timing helpers. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '../..');

export const isRoot = process.getuid?.() === 0;
export const inCI = process.env.CI === 'true';

/**
 * Every test file keeps the command line's registry of holds in a directory of its own, so a
 * second copy of the suite (or a user's `treefreeze freeze`) never sees, reports as stale or
 * removes the records of this one. Private (0700), as the command line requires of it: a test
 * that runs the command line as another user gives that user a directory of its own.
 */
export const testRuntimeDir = mkdtempSync(join(tmpdir(), 'treefreeze-registry-'));
process.env.TREEFREEZE_RUNTIME_DIR = testRuntimeDir;
process.on('exit', () => rmSync(testRuntimeDir, { recursive: true, force: true }));

/** For root-only tests: skips with the reason when not root, but fails under CI=true (CI runs as root). */
export function requireRoot(t: { skip: (message: string) => void }, why: string): boolean {
  if (isRoot) return true;
  if (inCI) throw new Error(`CI runs as root, but this is not root: ${why}`);
  t.skip(why);
  return false;
}

/**
 * How late a process may get a CPU on a loaded machine (a CI runner, a second copy of the suite
 * with CPU-bound trees of its own): a timer fires, or a woken process runs, up to this much
 * after it is due. A timing bound is what the code promises plus this, once for each wait on a
 * CPU the measurement contains; it stays far below the gaps the bounds must tell apart.
 */
export const LOAD_DELAY_MS = 400;

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `condition` until it holds or the deadline passes (then returns false). */
export async function eventually(condition: () => boolean, deadlineMs = 10_000): Promise<boolean> {
  const until = Date.now() + deadlineMs;
  while (!condition()) {
    if (Date.now() > until) return false;
    await sleep(5);
  }
  return true;
}
