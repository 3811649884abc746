/**
 * A failed spawn's ChildProcess.kill() signals pid 0, the caller's own process group: the
 * helper never does. Run in a process of its own session, so a regression kills only that one.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { repoRoot } from '../helpers/index.js';

test('signalChild on a spawn that failed signals nothing (raw kill() would hit our own group)', () => {
  const script = (kill: string) => `
    import { spawn } from 'node:child_process';
    import { signalChild } from './dist/kernel/child-signal.js';
    const child = spawn('/nonexistent/treefreeze-test', [], { detached: true });
    child.on('error', () => {});
    ${kill};
    setTimeout(() => console.log('alive'), 50);`;
  const run = (kill: string) =>
    spawnSync('setsid', ['-w', process.execPath, '--input-type=module', '-e', script(kill)], {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 10_000,
    });
  const helped = run("signalChild(child, 'SIGKILL')");
  assert.equal(helped.stdout, 'alive\n', helped.stderr);
  // The control: Node's own kill() on that child is kill(0, SIGKILL), the script's own group.
  const raw = run("child.kill('SIGKILL')");
  assert.equal(raw.signal ?? raw.status, 'SIGKILL', `raw kill(): ${raw.stdout}${raw.stderr}`);
});
