/** Running code as another user, whatever the checkout's permissions. */
import { chmodSync, cpSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { freshBuild } from './build.js';
import { repoRoot } from './env.js';

/**
 * A copy of the built library and the test's freezing script that another user can read:
 * the checkout may sit in a private directory (mode 0700, as `mktemp -d` or root's home
 * make it), where a process running as `nobody` could not even load the script.
 * Returns the script's path in the copy; `remove()` deletes the copy.
 */
export function stageForOtherUser(): { script: string; cli: string; remove: () => void } {
  freshBuild();
  const stage = mkdtempSync(join(worldTraversableTmp(), 'treefreeze-stage-'));
  try {
    cpSync(join(repoRoot, 'dist'), join(stage, 'dist'), { recursive: true });
    cpSync(join(repoRoot, 'package.json'), join(stage, 'package.json'));
    cpSync(join(repoRoot, 'test/scripts'), join(stage, 'test/scripts'), { recursive: true });
    // The optional native binding, so the other user takes the same (pidfd) path as the tests.
    const koffi = join(repoRoot, 'node_modules/koffi');
    if (existsSync(koffi)) cpSync(koffi, join(stage, 'node_modules/koffi'), { recursive: true });
    // The command line's one runtime dependency, so the other user can run dist/cli.js too.
    cpSync(join(repoRoot, 'node_modules/commander'), join(stage, 'node_modules/commander'), {
      recursive: true,
    });
    makeWorldReadable(stage);
  } catch (error) {
    rmSync(stage, { recursive: true, force: true });
    throw error;
  }
  return {
    script: join(stage, 'test/scripts/freeze-child.mjs'),
    cli: join(stage, 'dist/cli.js'),
    remove: () => rmSync(stage, { recursive: true, force: true }),
  };
}

/** os.tmpdir() when every user can reach into it (TMPDIR may be private), else /tmp. */
export function worldTraversableTmp(): string {
  const candidate = tmpdir();
  let dir = candidate;
  for (;;) {
    if ((statSync(dir).mode & 0o001) === 0) return '/tmp';
    const parent = dirname(dir);
    if (parent === dir) return candidate;
    dir = parent;
  }
}

function makeWorldReadable(path: string): void {
  const stat = statSync(path);
  chmodSync(path, stat.isDirectory() || (stat.mode & 0o100) !== 0 ? 0o755 : 0o644);
  if (stat.isDirectory()) for (const name of readdirSync(path)) makeWorldReadable(join(path, name));
}
