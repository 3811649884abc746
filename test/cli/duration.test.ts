import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  durationOptionText,
  formatDuration,
  MAX_CLI_DURATION_MS,
  parseDuration,
} from '../../src/cli/duration.js';

test('parseDuration: units, compounds from the largest down, decimals, bare seconds', () => {
  const table: [string, number | null][] = [
    ['500ms', 500],
    ['30s', 30_000],
    ['1.5s', 1500],
    ['.5s', 500],
    ['2m', 120_000],
    ['1m30s', 90_000],
    ['1h30m', 5_400_000],
    ['2h', 7_200_000],
    ['3d', 259_200_000],
    ['2d12h', 216_000_000],
    ['1m30s250ms', 90_250],
    ['10', 10_000],
    [' 5s ', 5000],
    ['600h', 2_160_000_000],
    ['0', null],
    ['0s', null],
    ['', null],
    ['s', null],
    ['5x', null],
    ['30s1m', null],
    ['1m1m', null],
    ['-5s', null],
    ['1e3', null],
    ['5 s', null],
  ];
  for (const [text, expected] of table) assert.equal(parseDuration(text), expected, JSON.stringify(text));
  assert.equal(MAX_CLI_DURATION_MS, 365 * 86_400_000);
});

test('formatDuration: a human unit at every scale', () => {
  const table: [number, string][] = [
    [0.25, '0.25 ms'],
    [4.56, '4.6 ms'],
    [850, '850 ms'],
    [2500, '2.5 s'],
    [200_000, '3 m 20 s'],
    [120_000, '2 m'],
    [360_000_000, '4 d 4 h'],
    [36_000_000, '10 h'],
    [5_400_000, '1 h 30 m'],
    [2_160_000_000, '25 d'],
    [187_200_000, '2 d 4 h'],
  ];
  for (const [ms, expected] of table) assert.equal(formatDuration(ms), expected, String(ms));
});

test('durationOptionText: a default as --help shows it, in a form the option parses back', () => {
  for (const [ms, expected] of [
    [5000, '5s'],
    [100, '100ms'],
    [1500, '1500ms'],
  ] as const) {
    assert.equal(durationOptionText(ms), expected);
    assert.equal(parseDuration(expected), ms);
  }
});
