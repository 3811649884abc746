/**
 * The safety net outlives the freezer's cgroup: as root, the watchdogs live in the root
 * cgroup of each hierarchy, so `cgroup.kill` of the cgroup the freezer runs in (what systemd
 * does when it stops the unit that ran treefreeze, an OOM group kill, a container torn down)
 * kills the freezer but not them, and they resume the tree.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { findCgroupMounts } from '../../src/kernel/cgroupfs.js';
import {
  allStopped,
  cleanupTrees,
  eventually,
  freezeChildScript,
  inCI,
  isRoot,
  noneStopped,
  startTree,
  TestCgroup,
} from '../helpers/index.js';

const T = { timeout: 120_000 };
const mounts = findCgroupMounts();
const freezers: ChildProcess[] = [];

after(async () => {
  for (const child of freezers) child.kill('SIGKILL');
  for (const cgroup of [...TestCgroup.made].reverse()) await cgroup.remove();
  assert.deepEqual(await cleanupTrees(), [], 'no process left behind');
});

/** A Node freezer holding `root`, started inside `cgroup`; resolves with its report once frozen. */
async function freezerInside(cgroup: TestCgroup, root: number) {
  const procs = JSON.stringify(join(cgroup.path, 'cgroup.procs'));
  const child = spawn(
    'sh',
    [
      '-c',
      `echo $$ > ${procs} && exec "$0" "$@"`,
      process.execPath,
      freezeChildScript(),
      'hold',
      String(root),
      '{}',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  freezers.push(child);
  let out = '';
  child.stdout.on('data', (data) => {
    out += data;
  });
  const frozenLine = () => out.split('\n').find((line) => line.includes('"frozen"'));
  assert.ok(await eventually(() => frozenLine() !== undefined, 15_000), 'the freezer froze the tree');
  return { child, report: JSON.parse(frozenLine() as string) };
}

/** The v2 cgroup of `pid`, inside the hierarchy ("/" for the root). */
const v2CgroupOf = (pid: number) =>
  /^0::(.*)$/m.exec(readFileSync(`/proc/${pid}/cgroup`, 'utf8'))?.[1] ?? '(none)';

test(
  "cgroup.kill of the freezer's cgroup: the watchdogs live outside it and resume the tree",
  T,
  async (t) => {
    if (!isRoot || !mounts.v2) {
      assert.ok(!inCI, 'CI runs this as root with cgroup v2');
      t.skip('needs root and cgroup v2');
      return;
    }
    const tree = await startTree('tree', 3, 2);
    const resumedAfter: number[] = [];
    for (let run = 0; run < 5; run++) {
      const cgroup = new TestCgroup(mounts.v2, false);
      const { child, report } = await freezerInside(cgroup, tree.root);
      assert.equal(report.watchdogOutsideCgroup, true, 'the hold says its watchdogs are outside');
      for (const watchdog of report.watchdogs as number[]) {
        assert.equal(v2CgroupOf(watchdog), '/', `watchdog ${watchdog} is in the root cgroup`);
      }
      assert.ok(cgroup.pids().includes(child.pid as number), 'the freezer is in the test cgroup');
      assert.ok(allStopped(tree.pids), 'frozen');
      const killedAt = performance.now();
      writeFileSync(join(cgroup.path, 'cgroup.kill'), '1');
      assert.ok(await eventually(() => noneStopped(tree.pids), 5000), `run ${run}: the tree runs again`);
      resumedAfter.push(performance.now() - killedAt);
      await cgroup.remove();
    }
    const sorted = resumedAfter.sort((a, b) => a - b);
    console.log(`# cgroup.kill of the freezer's cgroup: tree resumed after p50 ${sorted[2]?.toFixed(0)} ms`);
    tree.kill();
  },
);
