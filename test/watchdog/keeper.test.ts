import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FreezeError } from '../../src/base/errors.js';
import { defaultPlatform } from '../../src/kernel/platform.js';
import type { Watchdog } from '../../src/watchdog/channel.js';
import { keepWatchdog, type WatchdogEvent } from '../../src/watchdog/keeper.js';
import { sleep } from '../helpers/index.js';

/** A watchdog that reads dead; its replacement cannot start (no such shell), so a replace attempt shows as 'lost'. */
function deadWatchdog(): Watchdog {
  return {
    pid: 999_999,
    failure: undefined,
    guardProcesses: () => {},
    guardAncestors: () => {},
    guardFileWrite: () => {},
    startLease: () => {},
    dismiss: () => {},
    confirmRunning: async () => {},
    state: () => 'dead',
    sendContinue: () => {},
    takeContinues: () => 0,
  };
}

async function keep(
  leaseEndsAt: number | undefined,
): Promise<{ events: WatchdogEvent[]; lost: FreezeError[] }> {
  const events: WatchdogEvent[] = [];
  const lost: FreezeError[] = [];
  const keeper = keepWatchdog({
    watchdog: deadWatchdog(),
    platform: { native: defaultPlatform.native, watchdogShell: '/nonexistent/treefreeze-sh' },
    brief: () => {},
    leaseEndsAt,
    onEvent: (event) => events.push(event),
    onLost: (error) => lost.push(error),
  });
  await sleep(300);
  keeper.stop();
  return { events, lost };
}

test('a watchdog found dead before its lease ends is replaced (here: cannot be, so the hold is lost)', async () => {
  const { events, lost } = await keep(performance.now() + 60_000);
  assert.equal(events.at(-1)?.event, 'lost');
  assert.equal(lost[0]?.code, 'WATCHDOG_FAILED');
});

test('a watchdog found dead after its lease ended is not replaced: the lease resumed the tree', async () => {
  const { events, lost } = await keep(performance.now() - 1);
  assert.deepEqual(events, []);
  assert.deepEqual(lost, []);
});
