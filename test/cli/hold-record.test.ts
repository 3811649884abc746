/** Reading what another process wrote: a hold's record, and whether a runtime directory is safe. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parseHoldRecord, readRecordFile, toHoldRecord } from '../../src/cli/hold-record.js';
import { runtimeDirProblem } from '../../src/cli/runtime-dir.js';

const scratch = mkdtempSync(join(tmpdir(), 'treefreeze-records-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
const me = process.geteuid?.() ?? 0;

const valid = {
  id: 'tf-0a1b2c',
  holder: { pid: 4321, startTime: 99 },
  command: 'freeze',
  detached: false,
  targets: [{ spec: '812', kind: 'pid', root: 812, cgroup: null, label: 'postgres (pid 812)' }],
  backend: 'signal',
  pids: [812, 813],
  threads: 3,
  since: 1_700_000_000_000,
  leaseEndsAt: null,
  forEndsAt: 1_700_000_030_000,
  intact: true,
  breaches: 0,
};

describe('toHoldRecord', () => {
  test('a valid record comes back with only the schema’s fields', () => {
    const record = toHoldRecord({ ...valid, extra: 'dropped', holder: { ...valid.holder, more: 1 } });
    assert.deepEqual(record, valid);
    // Where its safety net lives: kept when it is one of the three places, dropped otherwise.
    assert.deepEqual(toHoldRecord({ ...valid, safetyNet: 'in-cgroup' }), {
      ...valid,
      safetyNet: 'in-cgroup',
    });
    assert.deepEqual(toHoldRecord({ ...valid, safetyNet: '../x' }), valid);
  });

  const cases: [string, unknown, RegExp][] = [
    ['null', null, /not a JSON object/],
    ['an array', [valid], /not a JSON object/],
    ['a string', 'tf-0a1b2c', /not a JSON object/],
    ['an id that is a path', { ...valid, id: '../../etc/important' }, /id/],
    ['an id with a suffix', { ...valid, id: 'tf-0a1b2c/../x' }, /id/],
    ['no holder', { ...valid, holder: undefined }, /holder/],
    ['a holder pid of 0', { ...valid, holder: { pid: 0, startTime: 1 } }, /holder/],
    ['a holder pid that is text', { ...valid, holder: { pid: '1', startTime: 1 } }, /holder/],
    ['another command', { ...valid, command: 'rm' }, /command/],
    ['a label that is not text', { ...valid, targets: [{ ...valid.targets[0], label: 7 }] }, /targets/],
    ['a huge label', { ...valid, targets: [{ ...valid.targets[0], label: 'x'.repeat(5000) }] }, /targets/],
    ['a negative pid', { ...valid, pids: [-1] }, /pids/],
    ['a fractional thread count', { ...valid, threads: 1.5 }, /thread/],
    ['an infinite lease', { ...valid, leaseEndsAt: 'never' }, /times/],
    ['a lease past the year 3000', { ...valid, leaseEndsAt: 1.7e308 }, /times/],
    ['a start before 1970', { ...valid, since: -1 }, /times/],
    ['no verdict', { ...valid, intact: 'yes' }, /verdict/],
  ];
  for (const [what, value, why] of cases) {
    test(`refuses ${what}`, () => {
      const result = toHoldRecord(value);
      assert.equal(typeof result, 'string');
      assert.match(result as string, why);
    });
  }

  test('parseHoldRecord never throws', () => {
    for (const text of ['', '{', 'null', '[]', '"x"', '{"__proto__": {"id": "tf-000000"}}']) {
      assert.equal(typeof parseHoldRecord(text), 'string', text);
    }
  });
});

describe('readRecordFile', () => {
  test('reads a regular file of the expected owner', () => {
    const path = join(scratch, 'ok.json');
    writeFileSync(path, JSON.stringify(valid));
    assert.deepEqual(readRecordFile(path, me), { text: JSON.stringify(valid) });
    assert.match((readRecordFile(path, me + 1) as { problem: string }).problem, /owned by uid/);
  });

  test('a missing file is null; a link, a FIFO, a directory or a large file is a problem, at once', () => {
    assert.equal(readRecordFile(join(scratch, 'missing.json'), me), null);
    symlinkSync('/dev/zero', join(scratch, 'zero.json'));
    assert.match(
      (readRecordFile(join(scratch, 'zero.json'), me) as { problem: string }).problem,
      /symbolic link/,
    );
    assert.equal(spawnSync('mkfifo', [join(scratch, 'fifo.json')]).status, 0);
    const started = performance.now();
    assert.match(
      (readRecordFile(join(scratch, 'fifo.json'), me) as { problem: string }).problem,
      /regular file/,
    );
    assert.ok(performance.now() - started < 1000, 'a FIFO is not waited on');
    mkdirSync(join(scratch, 'dir.json'));
    assert.match(
      (readRecordFile(join(scratch, 'dir.json'), me) as { problem: string }).problem,
      /regular file/,
    );
    writeFileSync(join(scratch, 'big.json'), 'x'.repeat(70_000));
    assert.match(
      (readRecordFile(join(scratch, 'big.json'), me) as { problem: string }).problem,
      /larger than/,
    );
  });
});

describe('runtimeDirProblem', () => {
  const dir = (name: string, mode: number) => {
    const path = join(scratch, name);
    mkdirSync(path);
    chmodSync(path, mode);
    return path;
  };

  test('a private directory of the user is safe', () => {
    assert.equal(runtimeDirProblem(dir('private', 0o700), me), null);
    assert.equal(runtimeDirProblem(dir('readable', 0o755), me), null);
  });

  test('refuses what others could write, a link, a file, another owner, a swappable parent', () => {
    assert.match(runtimeDirProblem(dir('open', 0o777), me) ?? '', /writable by others \(mode 0777\)/);
    assert.match(runtimeDirProblem(dir('group', 0o770), me) ?? '', /writable by others/);
    symlinkSync(join(scratch, 'private'), join(scratch, 'link'));
    assert.match(runtimeDirProblem(join(scratch, 'link'), me) ?? '', /symbolic link/);
    writeFileSync(join(scratch, 'file'), '');
    assert.match(runtimeDirProblem(join(scratch, 'file'), me) ?? '', /not a directory/);
    assert.match(runtimeDirProblem(join(scratch, 'private'), me + 1) ?? '', /belongs to uid/);
    assert.match(runtimeDirProblem(join(scratch, 'missing'), me) ?? '', /does not exist/);
    const parent = dir('shared-parent', 0o777);
    mkdirSync(join(parent, 'mine'), { mode: 0o700 });
    assert.match(runtimeDirProblem(join(parent, 'mine'), me) ?? '', /lets others rename or replace/);
    chmodSync(parent, 0o1777); // sticky, as /tmp: others cannot rename what is not theirs
    assert.equal(runtimeDirProblem(join(parent, 'mine'), me), null);
    if (me === 0) {
      // A parent of another user's (TMPDIR inside their directory): they could swap it in later.
      chownSync(parent, 65534, 65534);
      chmodSync(parent, 0o755);
      assert.match(
        runtimeDirProblem(join(parent, 'mine'), me) ?? '',
        /belongs to uid 65534, who could replace/,
      );
    }
  });
});
