import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, describe, test } from 'node:test';
import { FreezeError, FreezeErrorCode } from '../src/base/errors.js';
import {
  freezeCgroup,
  freezeDescendants,
  freezeFleet,
  freezeTree,
  listTree,
  parseStat,
  thawCgroup,
  thawTree,
} from '../src/index.js';
import { killGroupOf, unusedPid } from './helpers/index.js';

const codes = new Set<string>(Object.values(FreezeErrorCode));
const aborted = AbortSignal.abort(new Error('not today'));
// biome-ignore lint/suspicious/noExplicitAny: bad input on purpose, as an untyped caller would pass it
const bad = (value: unknown): any => value;

/**
 * A valid root of this test's own, so that only the option is wrong: never a process it did not
 * start (with an option check gone, the freeze would go ahead and stop it).
 */
const target = spawn('sleep', ['600'], { detached: true, stdio: 'ignore' });
const ours = target.pid as number;
after(() => killGroupOf(target));

/**
 * Targets this test did not start (pid 1, kthreadd, the runner itself) are named with an
 * aborted signal: refused they must be, and were the refusal ever broken, the freeze would
 * stop at the abort check (ABORTED) before anything is signalled.
 */
const neverStarts = { signal: AbortSignal.abort() };

const fleet = { target: 'x', ssh: ['false'] };

/** Every error path of the public API a caller can reach with bad input, and the code it must give. */
const missing = unusedPid();
const cases: [string, () => unknown, string][] = [
  ['freezeTree("abc")', () => freezeTree(bad('abc')), 'INVALID_ARGUMENT'],
  ['freezeTree(-1)', () => freezeTree(-1), 'INVALID_ARGUMENT'],
  ['freezeTree(1.5)', () => freezeTree(1.5), 'INVALID_ARGUMENT'],
  ['freezeTree(NaN)', () => freezeTree(Number.NaN), 'INVALID_ARGUMENT'],
  ['freezeTree(1)', () => freezeTree(1, neverStarts), 'UNSAFE_TARGET'],
  ['freezeTree(2)', () => freezeTree(2, neverStarts), 'UNSAFE_TARGET'],
  ['freezeTree(self)', () => freezeTree(process.pid, neverStarts), 'UNSAFE_TARGET'],
  ['freezeTree(missing)', () => freezeTree(missing), 'NO_SUCH_PROCESS'],
  ['timeoutMs "5s"', () => freezeTree(ours, { timeoutMs: bad('5s') }), 'INVALID_ARGUMENT'],
  ['timeoutMs Infinity', () => freezeTree(ours, { timeoutMs: Infinity }), 'INVALID_ARGUMENT'],
  ['maxHoldMs 0', () => freezeTree(ours, { maxHoldMs: 0 }), 'INVALID_ARGUMENT'],
  ['backend "x"', () => freezeTree(ours, { backend: bad('x') }), 'INVALID_ARGUMENT'],
  ['identity "x"', () => freezeTree(ours, { identity: bad('x') }), 'INVALID_ARGUMENT'],
  ['exclude ["a"]', () => freezeTree(ours, { exclude: bad(['a']) }), 'INVALID_ARGUMENT'],
  ['an aborted signal', () => freezeTree(ours, { signal: aborted }), 'ABORTED'],
  ['freezeDescendants(0)', () => freezeDescendants(0), 'INVALID_ARGUMENT'],
  ['freezeDescendants(missing)', () => freezeDescendants(missing), 'NO_SUCH_PROCESS'],
  ['freezeCgroup("")', () => freezeCgroup(''), 'INVALID_ARGUMENT'],
  ['freezeCgroup(42)', () => freezeCgroup(bad(42)), 'INVALID_ARGUMENT'],
  ['freezeCgroup(no such path)', () => freezeCgroup('/treefreeze-no-such-cgroup'), 'NO_SUCH_CGROUP'],
  ['freezeCgroup(not a cgroup)', () => freezeCgroup('/proc'), 'NOT_A_CGROUP'],
  ['freezeCgroup bad timeout', () => freezeCgroup('/proc', { timeoutMs: -1 }), 'INVALID_ARGUMENT'],
  ['listTree(-3)', () => listTree(-3), 'INVALID_ARGUMENT'],
  ['listTree(missing)', () => listTree(missing), 'NO_SUCH_PROCESS'],
  ['parseStat("garbage")', () => parseStat('garbage'), 'INVALID_ARGUMENT'],
  ['parseStat(no pid)', () => parseStat(`(x) S ${'1 '.repeat(50)}`), 'INVALID_ARGUMENT'],
  ['thawTree(0)', () => thawTree(0), 'INVALID_ARGUMENT'],
  ['thawTree(missing)', () => thawTree(missing), 'NO_SUCH_PROCESS'],
  ['thawCgroup("")', () => thawCgroup(''), 'INVALID_ARGUMENT'],
  ['thawCgroup(no such path)', () => thawCgroup('/treefreeze-no-such-cgroup'), 'NO_SUCH_CGROUP'],
  // The fleet's options are checked before any session starts; were a check broken, the
  // "ssh" here is `false`, which reaches nothing.
  ['freezeFleet no hosts', () => freezeFleet([], { ...fleet, maxHoldMs: 1000 }), 'INVALID_ARGUMENT'],
  ['freezeFleet no lease', () => freezeFleet(['h'], bad({ ...fleet })), 'INVALID_ARGUMENT'],
  ['freezeFleet lease 0', () => freezeFleet(['h'], { ...fleet, maxHoldMs: 0 }), 'INVALID_ARGUMENT'],
  [
    'freezeFleet timeout -1',
    () => freezeFleet(['h'], { ...fleet, maxHoldMs: 1, timeoutMs: -1 }),
    'INVALID_ARGUMENT',
  ],
];

describe('every error of the public API is a FreezeError with a documented code', () => {
  for (const [label, call, code] of cases) {
    test(label, async () => {
      let caught: unknown;
      try {
        const wrongly = (await call()) as { thaw?: () => Promise<void> } | undefined;
        await wrongly?.thaw?.(); // a freeze that went ahead leaves nothing stopped
      } catch (error) {
        caught = error;
      }
      assert.ok(caught instanceof FreezeError, `${label} threw ${String(caught)}`);
      assert.ok(codes.has(caught.code), `documented code: ${caught.code}`);
      assert.equal(caught.code, code, caught.message);
      assert.ok(caught.message.length > 10 && !caught.message.includes('\n'), 'a one-line message');
    });
  }
});
