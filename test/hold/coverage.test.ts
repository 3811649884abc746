/** spanCovered: the rule behind FrozenTree.covered, as a table. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type HoldSpan, spanCovered } from '../../src/hold/coverage.js';

const held: HoldSpan = { frozenAt: 100, endedAt: null, breaches: [] };
const ended: HoldSpan = { ...held, endedAt: 500 };
const broken: HoldSpan = { ...held, breaches: [{ intactAt: 200, endedAt: 300 }] };
const stillBroken: HoldSpan = { ...held, breaches: [{ intactAt: 200, endedAt: null }] };

const cases: [string, HoldSpan, number, number, boolean][] = [
  ['work inside a hold that lasts', held, 150, 400, true],
  ['work from the very moment of the freeze', held, 100, 100, true],
  ['work begun before the freeze', held, 99, 400, false],
  ['a span that ends before it begins', held, 400, 150, false],
  ['work that ended with the hold', ended, 150, 500, true],
  ['work that outlasted the hold', ended, 150, 501, false],
  ['work across a breach', broken, 150, 400, false],
  ['work that ended at the last intact check', broken, 150, 200, true],
  ['work begun when the tree was stopped again', broken, 300, 400, true],
  ['work inside the breach', broken, 210, 290, false],
  ['work after a breach that has not ended', stillBroken, 400, 450, false],
  ['work before a breach that has not ended', stillBroken, 150, 200, true],
  ['a NaN bound is never covered', held, Number.NaN, 400, false],
];

for (const [what, span, since, until, expected] of cases) {
  test(`spanCovered: ${what}`, () => {
    assert.equal(spanCovered(span, since, until), expected);
  });
}
