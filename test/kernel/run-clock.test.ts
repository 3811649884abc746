import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { onTick, TICK_MS } from '../../src/base/timers.js';
import { hasLeftRunQueue } from '../../src/kernel/procfs.js';
import { openRunClock, runClocksSupported } from '../../src/kernel/run-clock.js';
import { eventually, sleep, startTree, taskStates } from '../helpers/index.js';

test('a run clock stays still while its task is stopped and moves when it runs, even briefly', async () => {
  assert.ok(runClocksSupported(), 'this kernel has schedstat (the CI machine does)');
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  const pid = child.pid as number;
  try {
    process.kill(pid, 'SIGSTOP');
    assert.ok(await eventually(() => taskStates(pid) === 'T'));
    const clock = openRunClock(pid);
    assert.ok(clock);
    // 'unsettled' until the stopped task is seen off the CPU (usually at once)
    assert.ok(await eventually(() => clock.sample() === 'first'));
    await sleep(50);
    assert.equal(clock.sample(), 'still', 'a stopped task does not run');
    process.kill(pid, 'SIGCONT');
    process.kill(pid, 'SIGSTOP');
    assert.ok(await eventually(() => taskStates(pid) === 'T'));
    assert.equal(clock.sample(), 'moved', 'resumed and stopped again: it ran');
    assert.equal(clock.sample(), 'still');
    clock.reset();
    assert.equal(clock.sample(), 'first');
    child.kill('SIGKILL');
    assert.ok(await eventually(() => clock.sample() === 'gone'), 'gone once it exits');
    clock.close();
    assert.equal(clock.sample(), 'gone', 'and after close');
  } finally {
    child.kill('SIGKILL');
  }
  assert.equal(openRunClock(pid), null, 'no clock for a process that is gone');
});

test('a task on a CPU gives its clock no baseline, for a few samples; a sleeping or stopped one does', async () => {
  // A process that never sleeps is always on a CPU or queued for one: it has not "left".
  const busy = await startTree('tree', 1, 1, 'spin');
  const asleep = await startTree('tree', 1, 1);
  const [spinner, sleeper] = [busy.root, asleep.root];
  try {
    assert.equal(hasLeftRunQueue(spinner), false, 'spinning');
    // (it has said it is ready; it may not have gone to sleep yet)
    assert.ok(
      await eventually(() => hasLeftRunQueue(sleeper) === true),
      `asleep: wchan ${readWchan(sleeper)}`,
    );
    const spinning = openRunClock(spinner);
    assert.ok(spinning);
    const samples = Array.from({ length: 5 }, () => spinning.sample());
    assert.deepEqual(
      samples,
      ['unsettled', 'unsettled', 'unsettled', 'unsettled', 'first'],
      'then a baseline anyway, as for a wchan that says nothing',
    );
    spinning.reset();
    assert.equal(spinning.sample(), 'unsettled', 'reset starts the count again');
    spinning.close();
    process.kill(spinner, 'SIGSTOP');
    assert.ok(await eventually(() => hasLeftRunQueue(spinner) === true), 'stopped: off the CPU');
    const stopped = openRunClock(spinner);
    assert.ok(stopped);
    assert.equal(stopped.sample(), 'first');
    assert.equal(stopped.sample(), 'still');
    stopped.close();
  } finally {
    busy.kill();
    asleep.kill();
  }
  assert.ok(await eventually(() => hasLeftRunQueue(spinner) === null), 'gone');
});

function readWchan(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/wchan`, 'utf8');
  } catch (error) {
    return String(error);
  }
}

test('onTick: periods that are multiples of TICK_MS share one timer and keep their own rhythm', async () => {
  let fast = 0;
  let slow = 0;
  let odd = 0;
  const stops = [
    onTick(TICK_MS, () => fast++),
    onTick(2 * TICK_MS, () => slow++),
    onTick(TICK_MS + 1, () => odd++),
  ];
  await sleep(10 * TICK_MS + 20);
  for (const stop of stops) stop();
  assert.ok(fast >= 6 && fast <= 11, `every tick: ${fast}`);
  assert.ok(slow >= 3 && slow <= 6 && slow < fast, `every other tick: ${slow}`);
  assert.ok(odd >= 5, `its own timer: ${odd}`);
  const after = [fast, slow, odd];
  await sleep(3 * TICK_MS);
  assert.deepEqual([fast, slow, odd], after, 'stopped means stopped');
});
