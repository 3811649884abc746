/** Where the tests run: the repository, root or not, CI or not; small timing helpers. */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '../..');

export const isRoot = process.getuid?.() === 0;
export const inCI = process.env.CI === 'true';

/** For root-only tests: skips with the reason when not root, but fails under CI=true (CI runs as root). */
export function requireRoot(t: { skip: (message: string) => void }, why: string): boolean {
  if (isRoot) return true;
  if (inCI) throw new Error(`CI runs as root, but this is not root: ${why}`);
  t.skip(why);
  return false;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `condition` until it holds or the deadline passes (then returns false). */
export async function eventually(condition: () => boolean, deadlineMs = 3000): Promise<boolean> {
  const until = Date.now() + deadlineMs;
  while (!condition()) {
    if (Date.now() > until) return false;
    await sleep(5);
  }
  return true;
}
