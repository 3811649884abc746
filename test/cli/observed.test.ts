/** observeProcesses: what a hold's processes are now, from /proc, whatever anyone says. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { observeProcesses } from '../../src/cli/observed.js';
import { bootTimeMs, startedAtMs } from '../../src/kernel/boot-time.js';
import { readProcessStat } from '../../src/kernel/procfs.js';
import type { ProcStat } from '../../src/kernel/stat.js';

const self = readProcessStat(process.pid) as ProcStat;
const since = startedAtMs(self.startTime) as number;

test('the boot time is read from /proc/stat, and this process started after it, before now', () => {
  const boot = bootTimeMs() as number;
  assert.ok(boot > 0 && boot <= Date.now());
  assert.ok(since >= boot && since <= Date.now() + 1000);
});

test('a running process is running; a stopped state is checked task by task', () => {
  assert.deepEqual(observeProcesses([process.pid], since), { stopped: [], running: [process.pid], gone: [] });
  // Its stat says T, but its tasks (read from /proc) are not stopped: running, not stopped.
  const claimsStopped = () => ({ ...self, state: 'T' });
  assert.deepEqual(observeProcesses([process.pid], since, claimsStopped).running, [process.pid]);
});

const cases: [string, ProcStat | null][] = [
  ['exited', null],
  ['a zombie', { ...self, state: 'Z' }],
  ['dead', { ...self, state: 'X' }],
  ['a later process with its pid', { ...self, startTime: self.startTime + 60 * 100 }],
];
for (const [what, stat] of cases) {
  test(`a process that is ${what} is gone`, () => {
    assert.deepEqual(observeProcesses([process.pid], since, () => stat).gone, [process.pid]);
  });
}
