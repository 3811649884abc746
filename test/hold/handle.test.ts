import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { BackendFreeze } from '../../src/backends/contract.js';
import { FreezeError } from '../../src/base/errors.js';
import { JoinedHolds } from '../../src/hold/claim-query.js';
import { HoldClaim } from '../../src/hold/claims.js';
import { FrozenTreeHandle } from '../../src/hold/handle.js';
import { defaultPlatform } from '../../src/kernel/platform.js';
import { sleep } from '../helpers/index.js';

const record = {
  pid: 4242,
  ppid: 1,
  comm: 'worker',
  startTime: 7,
  threads: 2,
  wasStopped: false,
  traced: false,
};

function handle(resume: () => unknown, extra: { maxHoldMs?: number } = {}): FrozenTreeHandle {
  const backend: BackendFreeze = {
    stop: () => Promise.reject(new Error('not used')),
    resume: () => {
      resume();
      return [];
    },
    rollback: () => {},
    brief: () => {},
    handOver: () => {},
    startHoldCheck: () => ({ stop: () => {} }),
  };
  return new FrozenTreeHandle({
    plan: {
      started: performance.now(),
      maxHoldMs: extra.maxHoldMs,
      check: { policy: 'refreeze', intervalMs: 50, spaceByCost: false, onEvent: () => {} },
      platform: defaultPlatform,
    },
    backend,
    stopped: {
      backend: 'signal',
      identity: 'pidfd',
      processes: [{ ...record, pidfd: 9 } as typeof record],
      rounds: 1,
      exited: 0,
    },
    stoppedAt: Date.now(),
    watchdog: undefined,
    claim: new HoldClaim(() => 'test', defaultPlatform),
    joined: new JoinedHolds(),
    net: { failure: undefined, guardProcesses() {}, guardAncestors() {}, guardFileWrite() {} },
  });
}

/** Collects unhandled rejections while `body` runs (a failed thaw must never become one). */
async function withoutUnhandledRejections(body: () => Promise<void>): Promise<unknown[]> {
  const seen: unknown[] = [];
  const listener = (reason: unknown) => seen.push(reason);
  process.on('unhandledRejection', listener);
  try {
    await body();
    await sleep(20); // let any stray rejection surface
  } finally {
    process.off('unhandledRejection', listener);
  }
  return seen;
}

describe('the FrozenTree handle', () => {
  test('publishes frozen copies of the records, without internal fields', () => {
    const frozen = handle(() => {});
    assert.deepEqual(frozen.processes, [record]);
    assert.ok(Object.isFrozen(frozen.processes[0]));
  });

  test('thaw resumes once, settles thawed with the caller as reason, and is idempotent', async () => {
    let resumed = 0;
    const frozen = handle(() => resumed++);
    assert.equal(frozen.frozen, true);
    await frozen.thaw();
    await frozen.thaw();
    frozen[Symbol.dispose]();
    await frozen[Symbol.asyncDispose]();
    assert.equal(resumed, 1);
    assert.equal(frozen.frozen, false);
    assert.equal(await frozen.thawed, 'caller');
  });

  test('a thaw that fails at the end of a `using` block throws to the caller, never crashes it', async () => {
    const stray = await withoutUnhandledRejections(async () => {
      const frozen = handle(() => {
        throw new Error('EIO on SIGCONT');
      });
      assert.throws(
        () => frozen[Symbol.dispose](),
        (error: unknown) =>
          error instanceof FreezeError &&
          error.code === 'THAW_FAILED' &&
          error.pids.includes(4242) &&
          /EIO on SIGCONT/.test(error.message),
      );
      await assert.rejects(frozen.thawed, { code: 'THAW_FAILED' });
      await assert.rejects(frozen.thaw(), { code: 'THAW_FAILED' });
    });
    assert.deepEqual(stray, []);
  });

  test("a backend's own THAW_FAILED reaches the caller as it is: one message, one recovery hint", () => {
    const own = new FreezeError(
      'THAW_FAILED',
      'could not thaw 1 process: EIO; run `treefreeze thaw` to resume it',
      [4242],
    );
    const frozen = handle(() => {
      throw own;
    });
    assert.throws(
      () => frozen[Symbol.dispose](),
      (error: unknown) => error === own && (own.message.match(/treefreeze thaw/g) ?? []).length === 1,
    );
  });

  test('a thaw that fails when the lease runs out rejects `thawed`, never crashes the caller', async () => {
    const stray = await withoutUnhandledRejections(async () => {
      const frozen = handle(
        () => {
          throw new Error('cgroup.freeze: EBUSY');
        },
        { maxHoldMs: 30 },
      );
      // Nobody listens to `thawed` until after the lease fired.
      await sleep(80);
      assert.equal(frozen.frozen, false);
      await assert.rejects(frozen.thawed, (error: unknown) => {
        assert.ok(error instanceof FreezeError && error.code === 'THAW_FAILED');
        return true;
      });
    });
    assert.deepEqual(stray, []);
  });

  test('the lease thaws by itself and says so; thaw first and the lease never fires', async () => {
    let resumed = 0;
    const leased = handle(() => resumed++, { maxHoldMs: 20 });
    // The lease timer never keeps a process alive: this test's own sleep does.
    const [reason] = await Promise.all([leased.thawed, sleep(60)]);
    assert.equal(reason, 'lease');
    const early = handle(() => resumed++, { maxHoldMs: 40 });
    await early.thaw();
    await sleep(80);
    assert.equal(resumed, 2, 'each resumed exactly once');
    assert.equal(await early.thawed, 'caller');
  });

  test('a lease longer than a Node timer can hold (2^31 ms) does not fire early', async () => {
    let resumed = 0;
    const frozen = handle(() => resumed++, { maxHoldMs: 3e9 });
    await sleep(50);
    assert.equal(resumed, 0, 'not thawed after 50 ms of a 35-day lease');
    assert.equal(frozen.frozen, true);
    await frozen.thaw();
  });
});
