/**
 * The plan: every option checked and defaulted in one place, and the internal knobs out of
 * reach of the public entry points (a caller's stray `platform` or `afterDiscovery` key is
 * ignored, never obeyed).
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { FreezeError } from '../../src/base/errors.js';
import { freezeTree } from '../../src/freeze.js';
import {
  DEFAULT_CHECK_INTERVAL_MS,
  DEFAULT_TIMEOUT_MS,
  type FreezeOptions,
  type InternalFreezeOptions,
  internalKnobs,
  planHold,
  planTree,
} from '../../src/hold/plan.js';
import { defaultPlatform, type Platform } from '../../src/kernel/platform.js';
import { cleanupTrees, startTree } from '../helpers/index.js';

const otherPlatform: Platform = { ...defaultPlatform, native: () => null };

describe('the plan', () => {
  test('defaults', () => {
    const plan = planHold({}, 100);
    assert.equal(plan.timeoutMs, DEFAULT_TIMEOUT_MS);
    assert.equal(plan.deadline, 100 + DEFAULT_TIMEOUT_MS);
    assert.equal(plan.maxHoldMs, undefined);
    assert.equal(plan.watchdog, true);
    assert.equal(plan.check.policy, 'refreeze');
    assert.equal(plan.check.intervalMs, DEFAULT_CHECK_INTERVAL_MS);
    assert.equal(plan.platform, defaultPlatform);
    assert.deepEqual(planTree(5, true, {}), { backend: 'auto', exclude: new Set(), identity: undefined });
  });

  const refused: [string, FreezeOptions, RegExp][] = [
    ['timeoutMs 0', { timeoutMs: 0 }, /^timeoutMs must be a positive number of milliseconds/],
    ['maxHoldMs NaN', { maxHoldMs: Number.NaN }, /^maxHoldMs must be a positive/],
    ['checkIntervalMs -1', { checkIntervalMs: -1 }, /^checkIntervalMs must be a positive/],
    ['onBreach', { onBreach: 'ignore' as never }, /^onBreach must be 'refreeze' or 'report', got ignore$/],
    ['onHoldEvent', { onHoldEvent: 'log' as never }, /^onHoldEvent must be a function$/],
  ];
  for (const [what, options, message] of refused) {
    test(`refuses ${what} (INVALID_ARGUMENT)`, () => {
      assert.throws(
        () => planHold(options, 0),
        (error: unknown) =>
          error instanceof FreezeError && error.code === 'INVALID_ARGUMENT' && message.test(error.message),
      );
    });
  }

  const refusedTree: [string, FreezeOptions, RegExp][] = [
    ['backend', { backend: 'kernel' as never }, /^backend must be 'signal', 'cgroup' or 'auto', got kernel$/],
    ['identity', { identity: 'name' as never }, /^identity must be 'pidfd' or 'starttime', got name$/],
    ['an excluded root', { exclude: [5] }, /^the root 5 is excluded/],
    ['a bad excluded pid', { exclude: [-3] }, /excluded pid/],
  ];
  for (const [what, options, message] of refusedTree) {
    test(`refuses ${what} (INVALID_ARGUMENT)`, () => {
      assert.throws(
        () => planTree(5, true, options),
        (error: unknown) =>
          error instanceof FreezeError && error.code === 'INVALID_ARGUMENT' && message.test(error.message),
      );
    });
  }

  test('reads the knobs only under their own key', () => {
    const stray = { platform: otherPlatform } as FreezeOptions;
    assert.equal(planHold(stray, 0).platform, defaultPlatform);
    const knobbed: InternalFreezeOptions = { [internalKnobs]: { platform: otherPlatform } };
    assert.equal(planHold(knobbed, 0).platform, otherPlatform);
  });
});

describe('the public entry points and the internal knobs', () => {
  after(cleanupTrees);

  test('a stray afterDiscovery key is ignored; under the knobs key it runs', async () => {
    const tree = await startTree('tree', 2, 1);
    try {
      let strayCalls = 0;
      const stray = { afterDiscovery: () => strayCalls++, watchdog: false } as FreezeOptions;
      const ignored = await freezeTree(tree.root, stray);
      await ignored.thaw();
      assert.equal(strayCalls, 0, 'a key of the public options only is obeyed');

      // The same callback under the knobs key runs: the check above could have failed.
      let knobCalls = 0;
      const knobbed: InternalFreezeOptions = {
        watchdog: false,
        [internalKnobs]: { afterDiscovery: () => knobCalls++ },
      };
      const obeyed = await freezeTree(tree.root, knobbed);
      await obeyed.thaw();
      assert.ok(knobCalls >= 1);
    } finally {
      tree.kill();
    }
  });
});
