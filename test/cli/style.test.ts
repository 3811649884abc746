import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fitLine, type Segment } from '../../src/cli/style.js';

const segments: Segment[] = [
  { text: '❄ frozen 4 processes, 8 threads of 123456', style: 'cyan', elastic: true },
  { text: 'held 1.2 s' },
  { text: '28.8 s left', optional: true },
  { text: 'hold broken 1 time', style: 'red' },
  { text: 'Ctrl-C to thaw', style: 'bold', optional: true },
];
const full =
  '❄ frozen 4 processes, 8 threads of 123456 · held 1.2 s · 28.8 s left · hold broken 1 time · Ctrl-C to thaw';

test('fitLine keeps the whole line when it fits, and paints it', () => {
  assert.equal(fitLine(segments, 200, false), full);
  const painted = fitLine(segments, 200, true);
  assert.ok(painted.startsWith('\u001b[36m❄ frozen '), painted);
  assert.ok(painted.includes('\u001b[0m · held 1.2 s'), painted);
});

test('fitLine drops optional segments from the end first, then cuts with an ellipsis', () => {
  for (const width of [100, 79, 60, 40, 20, 1]) {
    const line = fitLine(segments, width, false);
    assert.ok([...line].length <= width, `${width}: ${line}`);
  }
  assert.equal(
    fitLine(segments, 79, false),
    '❄ frozen 4 processes, 8 threads of 123456 · held 1.2 s · hold broken 1 time',
  );
  assert.equal(fitLine(segments, 60, false), '❄ frozen 4 processes, 8 t… · held 1.2 s · hold broken 1 time');
  assert.equal(fitLine(segments, 20, false), '❄ frozen… · held 1.…');
});

test('fitLine shrinks the elastic label so that the held time shows down to 40 columns', () => {
  for (let width = 40; width <= 120; width++) {
    const line = fitLine(segments, width, false);
    assert.ok([...line].length <= width, `${width}: ${line}`);
    assert.ok(line.includes(' · held 1.2 s'), `${width}: ${line}`);
  }
  const long = [
    { ...segments[0], text: `❄ frozen 4 processes of ${'x'.repeat(300)}` },
    { text: 'held 3 min' },
  ];
  assert.equal(fitLine(long as Segment[], 40, false), `❄ frozen 4 processes of xx… · held 3 min`);
});
