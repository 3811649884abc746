import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseStat, parseStatBytes } from '../../src/kernel/stat.js';

// A real line from this kernel, with the comm swapped for each case.
const TAIL =
  'S 2116 2116 1874 34816 2116 4194560 99 0 0 0 0 0 0 0 20 0 3 0 123456 2850816 218 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0';

describe('parseStat', () => {
  const cases: { name: string; comm: string }[] = [
    { name: 'plain', comm: 'bash' },
    { name: 'a paren and a fake state', comm: 'a) R (b' },
    { name: 'a fake field list', comm: 'x) T 1 2 3' },
    { name: 'a newline and a closing paren', comm: 'nl\nx) S' },
    { name: 'only parens', comm: ')))' },
    { name: 'spaces', comm: '  two  words ' },
    { name: 'empty', comm: '' },
    { name: 'unicode', comm: 'wörker ✓' },
  ];
  for (const { name, comm } of cases) {
    test(`comm with ${name}`, () => {
      const stat = parseStat(`4242 (${comm}) ${TAIL}\n`);
      assert.equal(stat.pid, 4242);
      assert.equal(stat.comm, comm);
      assert.equal(stat.state, 'S');
      assert.equal(stat.ppid, 2116);
      assert.equal(stat.pgrp, 2116);
      assert.equal(stat.session, 1874);
      assert.equal(stat.flags, 4194560);
      assert.equal(stat.numThreads, 3);
      assert.equal(stat.startTime, 123456);
      // The byte parser of the hot path agrees field for field.
      const bytes = Buffer.from(`4242 (${comm}) ${TAIL}\n`);
      assert.deepEqual(parseStatBytes(bytes, bytes.length), stat);
    });
  }

  test('reads its own live stat line', async () => {
    const { readFileSync } = await import('node:fs');
    const stat = parseStat(readFileSync('/proc/self/stat', 'utf8'));
    assert.equal(stat.pid, process.pid);
    assert.equal(stat.ppid, process.ppid);
    assert.equal(stat.state, 'R');
    assert.ok(stat.startTime > 0);
  });

  const malformed = [
    '',
    'garbage',
    '12 (x',
    '12 (x) S 1',
    `abc (x) ${TAIL}`,
    `1a2 (x) ${TAIL}`,
    `(x) ${TAIL}`,
  ];
  for (const text of malformed) {
    test(`rejects malformed ${JSON.stringify(text.slice(0, 20))}`, () => {
      assert.throws(() => parseStat(text), { name: 'FreezeError', code: 'INVALID_ARGUMENT' });
      const bytes = Buffer.from(text);
      assert.equal(parseStatBytes(bytes, bytes.length), null);
    });
  }
});
