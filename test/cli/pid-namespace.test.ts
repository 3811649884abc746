/**
 * Inside a pid namespace (a container), pid 2 is an ordinary process: kernel threads are
 * known by their flag, never by pid or parent pid. Every process here lives in a namespace the
 * test creates; when the CLI (its pid 1) exits, the kernel ends everything left in it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, test } from 'node:test';
import { cliPath, freshBuild, only, parseEvents, requireRoot } from '../helpers/index.js';

const T = { timeout: 60_000 };

/**
 * Runs `script` as pid 1 of a new pid namespace with its own /proc. In it, the first
 * background job is pid 2: `sh -c "sleep 300; :"`, whose sleep is pid 3 (parent pid 2).
 */
function inPidNamespace(cliArgs: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  freshBuild();
  const script = `sh -c "sleep 300; :" & sleep 0.3; exec ${JSON.stringify(process.execPath)} ${JSON.stringify(cliPath)} ${cliArgs}`;
  const child = spawn('unshare', ['--pid', '--fork', '--mount-proc', 'sh', '-c', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (data) => {
    stdout += data;
  });
  child.stderr.on('data', (data) => {
    stderr += data;
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  return new Promise((resolve) => {
    child.once('close', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('inside a pid namespace', () => {
  test('pid 2 is frozen and thawed like any process', T, async (t) => {
    if (!requireRoot(t, 'needs root for a pid namespace of its own')) return;
    const result = await inPidNamespace('freeze 2 --for 200ms --json');
    assert.equal(result.code, 0, result.stderr);
    const events = parseEvents(result.stdout);
    const frozen = only(events, 'frozen');
    // pid 2 and its sleep (whose pid depends on the order the shells fork in).
    const shown = frozen.processes.map((p: { pid: number; ppid: number; comm: string }) => [
      p.ppid === 2 ? 'child of 2' : p.pid,
      p.comm,
    ]);
    assert.deepEqual(shown, [
      [2, 'sh'],
      ['child of 2', 'sleep'],
    ]);
    const thawed = only(events, 'thawed');
    assert.equal(thawed.intact, true);
  });

  test('a name whose process has pid 2 for a parent is found', T, async (t) => {
    if (!requireRoot(t, 'needs root for a pid namespace of its own')) return;
    const result = await inPidNamespace('freeze sleep --for 200ms --json');
    assert.equal(result.code, 0, result.stderr);
    const frozen = only(parseEvents(result.stdout), 'frozen');
    const shown = frozen.processes.map((p: { ppid: number; comm: string }) => [p.ppid, p.comm]);
    assert.deepEqual(shown, [[2, 'sleep']]);
  });
});
