/**
 * Reading a thread's children file, where a posix_spawn child appears before its pid is known.
 * A pid read as 0 once became kill(0, SIGKILL): the test runner's whole process group.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseChildrenFile } from '../../src/watchdog/own-watchdogs.js';

describe('parseChildrenFile', () => {
  const table: [string, string, number[]][] = [
    ['empty', '', []],
    ['one child, trailing space', '4711 ', [4711]],
    ['several', '12 345 6789 ', [12, 345, 6789]],
    ['a child being reaped reads 0', '0 ', []],
    ['0 among real pids', '812 0 813 ', [812, 813]],
    ['newline and tabs', '5\n6\t7', [5, 6, 7]],
    ['negative or signed', '-1 +2 3', [3]],
    ['garbage', 'x 1e3 0x10 4.5 9', [9]],
    ['beyond a safe integer', '9007199254740993 10', [10]],
  ];
  for (const [name, text, pids] of table) {
    test(name, () => assert.deepEqual(parseChildrenFile(text), pids));
  }
});
