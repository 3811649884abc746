import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FreezeError } from '../../src/base/errors.js';
import { defaultPlatform } from '../../src/kernel/platform.js';
import type { Watchdog } from '../../src/watchdog/channel.js';
import { keepWatchdog, type WatchdogEvent } from '../../src/watchdog/keeper.js';
import { TwinWatchdogs } from '../../src/watchdog/twins.js';
import { eventually } from '../helpers/index.js';

/**
 * A watchdog that reads dead; its replacement cannot start (no such shell), so a replace
 * attempt shows as 'lost'. It counts the keeper's looks at it, and its dismissals: a
 * replacement begins by dismissing the dead one.
 */
function deadWatchdog() {
  const seen = { looks: 0, dismissals: 0 };
  const watchdog: Watchdog = {
    pid: 999_999,
    failure: undefined,
    outsideCgroup: false,
    guardProcesses: () => {},
    guardAncestors: () => {},
    guardFileWrite: () => {},
    startLease: () => {},
    dismiss: () => {
      seen.dismissals++;
    },
    confirmRunning: async () => {},
    state: () => {
      seen.looks++;
      return 'dead';
    },
    sendContinue: () => {},
    takeContinues: () => 0,
  };
  return { watchdog, seen };
}

/** A keeper of a dead watchdog whose lease ends at `leaseEndsAt`; stop it when done. */
function keep(leaseEndsAt: number | undefined) {
  const events: WatchdogEvent[] = [];
  const lost: FreezeError[] = [];
  const { watchdog, seen } = deadWatchdog();
  const keeper = keepWatchdog({
    watchdogs: new TwinWatchdogs([watchdog]),
    platform: { native: defaultPlatform.native, watchdogShell: '/nonexistent/treefreeze-sh' },
    brief: () => {},
    leaseEndsAt,
    onEvent: (event) => events.push(event),
    onLost: (error) => lost.push(error),
  });
  return { events, lost, seen, keeper };
}

test('a watchdog found dead before its lease ends is replaced (here: cannot be, so the hold is lost)', async () => {
  const { events, lost, seen, keeper } = keep(performance.now() + 60_000);
  try {
    assert.ok(await eventually(() => lost.length > 0, 10_000), 'the hold was lost');
  } finally {
    keeper.stop();
  }
  assert.ok(seen.dismissals > 0, 'the replacement began by dismissing the dead watchdog');
  assert.equal(events.at(-1)?.event, 'lost');
  assert.equal(lost[0]?.code, 'WATCHDOG_FAILED');
});

test('a watchdog found dead after its lease ended is not replaced: the lease resumed the tree', async () => {
  const { events, lost, seen, keeper } = keep(performance.now() - 1);
  try {
    // Three checks found it dead. A keeper that replaced it would have dismissed it at the
    // first, and looked again only once the replacement had failed, as 'lost'.
    assert.ok(await eventually(() => seen.looks >= 3, 10_000), `the keeper looked ${seen.looks} times`);
  } finally {
    keeper.stop();
  }
  assert.equal(seen.dismissals, 0, 'no replacement was begun');
  assert.deepEqual(events, []);
  assert.deepEqual(lost, []);
});
