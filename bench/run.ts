/**
 * `npm run bench`: treefreeze against the kernel's cgroup v2 freezer and the
 * reference (crosvm vmm-swap) algorithm, side by side on the same trees,
 * interleaved. Prints a ratio table and writes docs/bench.md and docs/bench-freeze.svg.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pidtree from 'pidtree';
import { freezeCgroup, freezeTree } from '../src/freeze.js';
import { DEFAULT_CHECK_INTERVAL_MS, type InternalFreezeOptions } from '../src/hold/plan.js';
import { readTaskStates } from '../src/kernel/procfs.js';
import { listTree } from '../src/tree/discovery.js';
import { BenchCgroup, benchCgroupMount, removeLeftCgroups } from './cgroup-v2.js';
import { renderChart } from './chart.js';
import type { ContenderName } from './contender.js';
import { benchShape, latencyShapes, type Sample } from './latency.js';
import { fmt, median, p90, ratio } from './stats.js';
import { allStopped, pause, type Shape, startTree, stopStartedTrees, stopTree } from './trees.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

const QUICK = process.argv.includes('--quick');
const SHAPES = latencyShapes(QUICK);

const isRoot = process.getuid?.() === 0;
const cgroupMount = benchCgroupMount;

function cleanup(): void {
  removeLeftCgroups();
  stopStartedTrees();
}
process.on('exit', cleanup);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    cleanup();
    process.exit(130);
  });
}

async function benchListing() {
  const shape: Shape = { name: '1000x4', processes: 1000, threads: 4, spin: false, reps: 0 };
  const { root } = await startTree(shape);
  const ours: number[] = [];
  const theirs: number[] = [];
  for (let rep = 0; rep < (QUICK ? 3 : 10); rep++) {
    let t = performance.now();
    const nodes = listTree(root);
    ours.push(performance.now() - t);
    t = performance.now();
    const found = await pidtree(root, { root: true });
    theirs.push(performance.now() - t);
    if (nodes.length !== found.length)
      throw new Error(`listTree found ${nodes.length}, pidtree ${found.length}`);
  }
  stopTree(root);
  return { ours, theirs };
}

async function benchRunTrue() {
  const shape: Shape = { name: '1000x4', processes: 1000, threads: 4, spin: false, reps: 0 };
  const { root, pids } = await startTree(shape);
  const wall: number[] = [];
  const rssKb: number[] = [];
  const cli = join(repoRoot, 'dist/cli.js');
  for (let rep = 0; rep < (QUICK ? 2 : 7); rep++) {
    const t = performance.now();
    const result = spawnSync(
      '/usr/bin/time',
      ['-f', '%M', process.execPath, cli, 'run', String(root), '--', 'true'],
      {
        encoding: 'utf8',
      },
    );
    wall.push(performance.now() - t);
    if (result.status !== 0) throw new Error(`run -- true failed: ${result.stderr}`);
    rssKb.push(Number(result.stderr.trim().split('\n').at(-1)));
    if (pids.some((pid) => (readTaskStates(pid) ?? []).some((task) => task.state === 'T'))) {
      throw new Error('run left the tree stopped');
    }
  }
  const nodeAlone: number[] = [];
  for (let rep = 0; rep < (QUICK ? 2 : 7); rep++) {
    const t = performance.now();
    spawnSync(process.execPath, ['-e', '0']);
    nodeAlone.push(performance.now() - t);
  }
  stopTree(root);
  return { wall, rssKb, nodeAlone };
}

/**
 * What verifying a hold costs: this process's CPU time (user + system) per second of hold,
 * checked at the default interval, every 50 ms, and effectively never, interleaved.
 */
const HOLD_SETTINGS = [
  { label: `every ${DEFAULT_CHECK_INTERVAL_MS} ms (default)`, intervalMs: DEFAULT_CHECK_INTERVAL_MS },
  { label: 'every 50 ms', intervalMs: 50 },
  { label: 'checks off', intervalMs: 2 ** 31 - 1 },
];

async function benchHoldCost() {
  const HOLD_MS = QUICK ? 1000 : 2000;
  const results: { name: string; cpuMsPerSecond: number[][] }[] = [];
  for (const shape of [
    { name: '10x1', processes: 10, threads: 1, spin: false, reps: 0 },
    { name: '1000x4', processes: 1000, threads: 4, spin: false, reps: 0 },
  ]) {
    const { root } = await startTree(shape);
    const backends: ('signal' | 'cgroup v2')[] = ['signal'];
    let cgroup: BenchCgroup | undefined;
    if (cgroupMount && shape.processes >= 1000) {
      cgroup = new BenchCgroup(cgroupMount, `treefreeze-bench-hold-${process.pid}`);
      cgroup.adopt(listTree(root).map((node) => node.pid));
      backends.push('cgroup v2');
    }
    for (const backend of backends) {
      const row = {
        name: `${shape.name} ${backend}`,
        cpuMsPerSecond: HOLD_SETTINGS.map(() => [] as number[]),
      };
      for (let rep = 0; rep < (QUICK ? 1 : 3); rep++) {
        for (let i = 0; i < HOLD_SETTINGS.length; i++) {
          const which = (rep + i) % HOLD_SETTINGS.length; // rotate who goes first
          const options = { checkIntervalMs: HOLD_SETTINGS[which]?.intervalMs };
          const frozen =
            backend === 'signal'
              ? await freezeTree(root, options)
              : await freezeCgroup(cgroup?.path as string, options);
          await pause(100); // past the first check, which opens the clocks
          const before = process.cpuUsage();
          await pause(HOLD_MS);
          const used = process.cpuUsage(before);
          await frozen.thaw();
          row.cpuMsPerSecond[which]?.push((used.user + used.system) / 1000 / (HOLD_MS / 1000));
          await pause(60);
        }
      }
      results.push(row);
    }
    cgroup?.remove();
    stopTree(root);
  }
  return results;
}

/** Where a freeze spends its time, phase by phase (median over the runs), at 10x1 and 1000x4. */
async function benchPhases() {
  const rows: { name: string; total: number; phases: Record<string, number> }[] = [];
  for (const shape of [
    { name: '10x1', processes: 10, threads: 1, spin: false, reps: QUICK ? 5 : 30 },
    { name: '1000x4', processes: 1000, threads: 4, spin: false, reps: QUICK ? 2 : 7 },
  ]) {
    const { root } = await startTree(shape);
    const runs: Record<string, number>[] = [];
    const totals: number[] = [];
    for (let rep = 0; rep < shape.reps; rep++) {
      const options: InternalFreezeOptions = { profile: (phases) => runs.push({ ...phases }) };
      const frozen = await freezeTree(root, options);
      totals.push(frozen.durationMs);
      await frozen.thaw();
      await pause(shape.processes >= 1000 ? 60 : 15);
    }
    const names = [...new Set(runs.flatMap((run) => Object.keys(run)))];
    rows.push({
      name: shape.name,
      total: median(totals),
      phases: Object.fromEntries(names.map((name) => [name, median(runs.map((run) => run[name] ?? 0))])),
    });
    stopTree(root);
  }
  return rows;
}

/** A spinning tree in the freezer's own session: the priority raise against none. */
async function benchPriority() {
  const shape: Shape = { name: '20x2 cpu, same session', processes: 20, threads: 2, spin: true, reps: 0 };
  const { root, pids } = await startTree(shape, false);
  const raised: number[] = [];
  const plain: number[] = [];
  for (let rep = 0; rep < (QUICK ? 3 : 12); rep++) {
    for (const raise of rep % 2 ? [true, false] : [false, true]) {
      const t = performance.now();
      const options: InternalFreezeOptions = { raisePriority: raise };
      const frozen = await freezeTree(root, options);
      (raise ? raised : plain).push(performance.now() - t);
      if (!allStopped(pids)) throw new Error('not stopped');
      await frozen.thaw();
      await pause(20);
    }
  }
  stopTree(root);
  return { raised, plain };
}

/** The signal backend's phases, in the order a freeze goes through them. */
const PHASE_NAMES = [
  'native library',
  'watchdog spawn',
  'discover',
  'watchdog wait',
  'bind',
  'watchdog write',
  'SIGSTOP',
  'wait',
  'other',
  'handle',
];

async function main() {
  const benchStarted = performance.now();
  console.error(
    `treefreeze bench${QUICK ? ' (quick)' : ''}: ${cgroupMount ? `cgroup v2 at ${cgroupMount}` : 'no cgroup v2 (needs root and a cgroup2 mount)'}`,
  );
  const results: { shape: Shape; samples: Map<ContenderName, Sample> }[] = [];
  for (const shape of SHAPES) {
    console.error(`  ${shape.name} (${shape.reps} reps) ...`);
    results.push({ shape, samples: await benchShape(shape) });
  }
  console.error('  listing 1000x4: listTree vs pidtree ...');
  const listing = await benchListing();
  console.error('  treefreeze run <root> -- true on 1000x4 ...');
  const runTrue = await benchRunTrue();
  console.error('  priority: a spinning 20x2 tree in the freezer’s own session ...');
  const priority = await benchPriority();
  console.error('  where the time goes, phase by phase ...');
  const phases = await benchPhases();
  console.error('  the cost of verifying a hold ...');
  const holdCost = await benchHoldCost();

  const rows: string[][] = [
    [
      'tree',
      'treefreeze freeze p50 / p90',
      'cgroup v2 p50 / p90',
      'reference p50 / p90',
      'C floor p50 / p90',
      'tf / cgroup (p50)',
      'tf / floor (p50)',
      'tf / reference (p50; p90)',
      'thaw p50: tf / cgroup / ref / floor',
    ],
  ];
  for (const { shape, samples } of results) {
    const tf = samples.get('treefreeze') as Sample;
    const cg = samples.get('cgroup v2');
    const ref = samples.get('reference') as Sample;
    const fl = samples.get('floor') as Sample;
    rows.push([
      shape.name,
      `${fmt(median(tf.freezeMs))} / ${fmt(p90(tf.freezeMs))}`,
      cg ? `${fmt(median(cg.freezeMs))} / ${fmt(p90(cg.freezeMs))}` : '—',
      `${fmt(median(ref.freezeMs))} / ${fmt(p90(ref.freezeMs))}`,
      `${fmt(median(fl.freezeMs))} / ${fmt(p90(fl.freezeMs))}`,
      cg ? ratio(median(tf.freezeMs), median(cg.freezeMs)) : '—',
      ratio(median(tf.freezeMs), median(fl.freezeMs)),
      `${ratio(median(tf.freezeMs), median(ref.freezeMs))}; ${ratio(p90(tf.freezeMs), p90(ref.freezeMs))}`,
      `${fmt(median(tf.thawMs))} / ${cg ? fmt(median(cg.thawMs)) : '—'} / ${fmt(median(ref.thawMs))} / ${fmt(median(fl.thawMs))}`,
    ]);
  }
  const table = rows.map((row) => `| ${row.join(' | ')} |`);
  table.splice(1, 0, `|${rows[0]?.map(() => ' --- |').join('')}`);

  const extras = [
    `| listing 1000x4: listTree p50 | ${fmt(median(listing.ours))} ms |`,
    `| listing 1000x4: pidtree p50 | ${fmt(median(listing.theirs))} ms (pidtree / listTree = ${ratio(median(listing.theirs), median(listing.ours))}) |`,
    `| \`treefreeze run <root> -- true\`, 1000x4: wall p50 / p90 | ${fmt(median(runTrue.wall))} / ${fmt(p90(runTrue.wall))} ms |`,
    `| the same: peak RSS p50 | ${(median(runTrue.rssKb) / 1024).toFixed(1)} MiB |`,
    `| \`node -e 0\` alone: wall p50 | ${fmt(median(runTrue.nodeAlone))} ms |`,
    `| spinning 20x2 in the freezer's session: freeze p50 / p90, priority raised | ${fmt(median(priority.raised))} / ${fmt(p90(priority.raised))} ms |`,
    `| the same, priority not raised | ${fmt(median(priority.plain))} / ${fmt(p90(priority.plain))} ms |`,
  ];
  const holdRows = holdCost.map(({ name, cpuMsPerSecond }) => {
    const off = median(cpuMsPerSecond[HOLD_SETTINGS.length - 1] ?? []);
    const cells = cpuMsPerSecond.slice(0, -1).map((values) => {
      const cost = median(values) - off;
      return `${fmt(median(values))} ms (checks: ${fmt(cost)} ms = ${(cost / 10).toFixed(2)} % of a core)`;
    });
    return `| ${name} | ${cells.join(' | ')} | ${fmt(off)} ms |`;
  });
  const sampleOf = (name: string, contender: ContenderName) =>
    results.find((r) => r.shape.name === name)?.samples.get(contender);
  const verdict = (met: boolean) => (met ? 'met' : 'not met');
  const targets: string[] = [];
  for (const { shape, samples } of results.filter((r) => !r.shape.spin)) {
    const tf = samples.get('treefreeze') as Sample;
    const ref = samples.get('reference') as Sample;
    targets.push(
      `| ${shape.name}: p50 below the reference's, p90 at least 1.5x below it | p50 ${ratio(median(tf.freezeMs), median(ref.freezeMs))}, p90 ${ratio(p90(tf.freezeMs), p90(ref.freezeMs))} of the reference | ${verdict(median(tf.freezeMs) < median(ref.freezeMs) && p90(tf.freezeMs) * 1.5 <= p90(ref.freezeMs))} |`,
    );
  }
  const tf10 = sampleOf('10x1', 'treefreeze') as Sample;
  const tf1000 = sampleOf('1000x4', 'treefreeze') as Sample;
  const cg1000 = sampleOf('1000x4', 'cgroup v2');
  const floor1000 = sampleOf('1000x4', 'floor') as Sample;
  const beyondNode = median(runTrue.wall) - median(runTrue.nodeAlone);
  targets.push(
    `| 10x1: p90 under 2 ms | ${fmt(p90(tf10.freezeMs))} ms | ${verdict(p90(tf10.freezeMs) < 2)} |`,
    `| 1000x4: at most 2.0x cgroup v2 (p50) | ${cg1000 ? ratio(median(tf1000.freezeMs), median(cg1000.freezeMs)) : 'no cgroup v2'} | ${cg1000 ? verdict(median(tf1000.freezeMs) <= 2 * median(cg1000.freezeMs)) : '—'} |`,
    `| 1000x4: at most 1.3x the C floor (p50) | ${ratio(median(tf1000.freezeMs), median(floor1000.freezeMs))} | ${verdict(median(tf1000.freezeMs) <= 1.3 * median(floor1000.freezeMs))} |`,
    `| listing 1000 processes at least 3x faster than pidtree | ${ratio(median(listing.theirs), median(listing.ours))} | ${verdict(median(listing.theirs) >= 3 * median(listing.ours))} |`,
    `| \`run <root> -- true\` on 1000x4: wall minus \`node -e 0\` under 150 ms | ${fmt(beyondNode)} ms | ${verdict(beyondNode < 150)} |`,
    `| the same: peak RSS under 60 MiB | ${(median(runTrue.rssKb) / 1024).toFixed(1)} MiB | ${verdict(median(runTrue.rssKb) / 1024 < 60)} |`,
  );
  const seconds = ((performance.now() - benchStarted) / 1000).toFixed(0);
  const machine = `${readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/)?.[1] ?? 'unknown CPU'}, ${
    (await import('node:os')).cpus().length
  } cores; Linux ${release()}; Node ${process.version}; ${isRoot ? 'root' : 'not root'}`;

  const output = [
    '## Freeze latency (ms): call to every task confirmed stopped; thaw: call to return (cgroup: to `frozen 0`)',
    '',
    ...table,
    '',
    '| other measurements | |',
    '| --- | --- |',
    ...extras,
    '',
    '| target | measured | |',
    '| --- | --- | --- |',
    ...targets,
    '',
    '## Where the time goes now: a treefreeze freeze phase by phase (ms, medians; `TREEFREEZE_PROFILE=1` prints the same)',
    '',
    `| tree | freeze (durationMs) | ${PHASE_NAMES.join(' | ')} |`,
    `| --- | --- |${PHASE_NAMES.map(() => ' --- |').join('')}`,
    ...phases.map(
      (row) =>
        `| ${row.name} | ${fmt(row.total)} | ${PHASE_NAMES.map((name) => fmt(row.phases[name] ?? 0)).join(' | ')} |`,
    ),
    '',
    '## The cost of verifying a hold: CPU time of the holding process per second of hold (p50)',
    '',
    `| tree | ${HOLD_SETTINGS.map((setting) => setting.label).join(' | ')} |`,
    `|${HOLD_SETTINGS.map(() => ' --- |').join('')} --- |`,
    ...holdRows,
  ].join('\n');
  console.log(output);
  console.error(`bench finished in ${seconds} s`);

  if (!QUICK) {
    const chart = renderChart(
      results
        .filter((r) => !r.shape.spin)
        .map((r) => ({
          processes: r.shape.processes,
          threads: r.shape.threads,
          medians: Object.fromEntries([...r.samples].map(([name, s]) => [name, median(s.freezeMs)])),
        })),
    );
    writeFileSync(join(repoRoot, 'docs/bench-freeze.svg'), chart);
    const doc = `# Benchmark

Produced by \`npm run bench\` (as root, so the cgroup v2 contender runs) on ${new Date().toISOString().slice(0, 10)}, in ${seconds} s.
Machine: ${machine}.

Every contender freezes the same tree (built by \`test/fixture/treefix.c\`), interleaved, rotating who goes first.
treefreeze runs with its defaults (watchdog on, pidfd identity). "reference" is a TypeScript rendition of
crosvm vmm-swap's freezer (\`bench/reference.ts\`). "cgroup v2" moves the tree into a fresh cgroup, writes
\`cgroup.freeze\` and polls \`cgroup.events\`. "C floor" (\`test/fixture/floor.c\`) is the fastest a signal
freezer can be: a warm C process given the tree's pids in advance that sends \`SIGSTOP\` to each and reads every
task until all read stopped, timing itself. "cpu" trees spin on every thread, in their own session.

${output}

![freeze latency against tree size](bench-freeze.svg)

Where the time goes and what stands between treefreeze and each target: [performance.md](performance.md).
`;
    writeFileSync(join(repoRoot, 'docs/bench.md'), doc);
    console.error('wrote docs/bench.md and docs/bench-freeze.svg');
  }
  cleanup();
}

await main();
