/**
 * What the bench reports: the latency table, the other measurements, the targets, the phases
 * and the cost of a hold as one markdown text (printed), and docs/bench.md with its chart.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderChart } from './chart.js';
import type { ContenderName } from './contender.js';
import type { LatencyResult, Sample } from './latency.js';
import type { BackendChoice } from './measurements/backend-choice.js';
import { HOLD_SETTINGS, type HoldCostRow } from './measurements/hold-cost.js';
import type { Listing } from './measurements/listing.js';
import { PHASE_NAMES, type PhaseRow } from './measurements/phases.js';
import type { Priority } from './measurements/priority.js';
import type { RunTrue } from './measurements/run-true.js';
import { fmt, median, p90, ratio } from './stats.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Everything one bench run measured. */
export interface BenchResults {
  latency: LatencyResult[];
  listing: Listing;
  runTrue: RunTrue;
  priority: Priority;
  backendChoice: BackendChoice;
  phases: PhaseRow[];
  holdCost: HoldCostRow[];
}

const p50AndP90 = (values: number[]) => `${fmt(median(values))} / ${fmt(p90(values))}`;

/** Freeze latency per shape: each contender's p50 / p90, treefreeze's ratios to the others, and thaws. */
function latencyTable(latency: LatencyResult[]): string[] {
  const rows: string[][] = [
    [
      'tree',
      'treefreeze freeze p50 / p90',
      'cgroup v2 p50 / p90',
      'seed (Rust) p50 / p90',
      'reference p50 / p90',
      'C floor p50 / p90',
      'tf / cgroup (p50)',
      'tf / floor (p50)',
      'tf / seed (p50; p90)',
      'tf / reference (p50; p90)',
      'thaw p50: tf / cgroup / seed / ref / floor',
    ],
  ];
  const cell = (sample: Sample | undefined, show: (s: Sample) => string) => (sample ? show(sample) : '—');
  const ratios = (tf: Sample, other: Sample | undefined) =>
    cell(
      other,
      (o) => `${ratio(median(tf.freezeMs), median(o.freezeMs))}; ${ratio(p90(tf.freezeMs), p90(o.freezeMs))}`,
    );
  for (const { shape, samples } of latency) {
    const tf = samples.get('treefreeze') as Sample;
    const cg = samples.get('cgroup v2');
    const seed = samples.get('seed');
    const ref = samples.get('reference') as Sample;
    const fl = samples.get('floor') as Sample;
    const thaw = (sample: Sample | undefined) => cell(sample, (s) => fmt(median(s.thawMs)));
    rows.push([
      shape.name,
      p50AndP90(tf.freezeMs),
      cell(cg, (s) => p50AndP90(s.freezeMs)),
      cell(seed, (s) => p50AndP90(s.freezeMs)),
      p50AndP90(ref.freezeMs),
      p50AndP90(fl.freezeMs),
      cell(cg, (s) => ratio(median(tf.freezeMs), median(s.freezeMs))),
      ratio(median(tf.freezeMs), median(fl.freezeMs)),
      ratios(tf, seed),
      ratios(tf, ref),
      [tf, cg, seed, ref, fl].map(thaw).join(' / '),
    ]);
  }
  const table = rows.map((row) => `| ${row.join(' | ')} |`);
  table.splice(1, 0, `|${rows[0]?.map(() => ' --- |').join('')}`);
  return table;
}

/** The rows of "other measurements": listing, `run -- true`, and the priority raise. */
function otherMeasurementRows({ listing, runTrue, priority, backendChoice: choice }: BenchResults): string[] {
  return [
    `| listing 1000x4: listTree p50 | ${fmt(median(listing.ours))} ms |`,
    `| listing 1000x4: pidtree p50 | ${fmt(median(listing.theirs))} ms (pidtree / listTree = ${ratio(median(listing.theirs), median(listing.ours))}) |`,
    `| \`treefreeze run <root> -- true\`, 1000x4: wall p50 / p90 | ${fmt(median(runTrue.wall))} / ${fmt(p90(runTrue.wall))} ms |`,
    `| the same: peak RSS p50 | ${(median(runTrue.rssKb) / 1024).toFixed(1)} MiB |`,
    `| the same, the tree alone in a cgroup (the default takes the kernel's freezer): wall p50 / p90; peak RSS | ${runTrue.ownCgroupWall.length > 0 ? `${fmt(median(runTrue.ownCgroupWall))} / ${fmt(p90(runTrue.ownCgroupWall))} ms; ${(median(runTrue.ownCgroupRssKb) / 1024).toFixed(1)} MiB` : 'no cgroup v2'} |`,
    `| a fresh process's first freeze of 1000x4 (signals), against its warm ones: p50 | ${fmt(median(runTrue.firstFreeze))} / ${fmt(median(runTrue.warmFreeze))} ms |`,
    `| \`node -e 0\` alone: wall p50 | ${fmt(median(runTrue.nodeAlone))} ms |`,
    `| spinning 20x2 in the freezer's session: freeze p50 / p90, priority raised | ${fmt(median(priority.raised))} / ${fmt(p90(priority.raised))} ms |`,
    `| the same, priority not raised | ${fmt(median(priority.plain))} / ${fmt(p90(priority.plain))} ms |`,
    `| 10x1 sharing the bench's cgroup: freeze p50 / p90, default (\`auto\`: looks, then signals) | ${fmt(median(choice.sharedAuto))} / ${fmt(p90(choice.sharedAuto))} ms (${ratio(median(choice.sharedAuto), median(choice.sharedSignal))} of forced signals) |`,
    `| the same, \`backend: 'signal'\` | ${fmt(median(choice.sharedSignal))} / ${fmt(p90(choice.sharedSignal))} ms |`,
    `| 1000x4 alone in a cgroup: freeze p50, default (took ${choice.ownBackend}) | ${fmt(median(choice.ownAuto))} ms (${ratio(median(choice.ownAuto), median(choice.ownBare))} of the bare cgroup v2 freeze, ${fmt(median(choice.ownBare))} ms) |`,
  ];
}

/** Each tree and backend: CPU per second of hold at each interval, and what the checks add to checks off. */
function holdCostRows(holdCost: HoldCostRow[]): string[] {
  return holdCost.map(({ name, cpuMsPerSecond }) => {
    const off = median(cpuMsPerSecond[HOLD_SETTINGS.length - 1] ?? []);
    const cells = cpuMsPerSecond.slice(0, -1).map((values) => {
      const cost = median(values) - off;
      return `${fmt(median(values))} ms (checks: ${fmt(cost)} ms = ${(cost / 10).toFixed(2)} % of a core)`;
    });
    return `| ${name} | ${cells.join(' | ')} | ${fmt(off)} ms |`;
  });
}

const verdict = (met: boolean) => (met ? 'met' : 'not met');

/** The targets treefreeze sets itself (see performance.md), each with what was measured and met or not. */
function targetRows({ latency, listing, runTrue, backendChoice: choice, holdCost }: BenchResults): string[] {
  const sampleOf = (name: string, contender: ContenderName) =>
    latency.find((r) => r.shape.name === name)?.samples.get(contender);
  const targets: string[] = [];
  const below = (tf: Sample, other: Sample | undefined) =>
    other === undefined ||
    (median(tf.freezeMs) < median(other.freezeMs) && p90(tf.freezeMs) < p90(other.freezeMs));
  for (const { shape, samples } of latency.filter((r) => !r.shape.spin)) {
    const tf = samples.get('treefreeze') as Sample;
    const ref = samples.get('reference') as Sample;
    const seed = samples.get('seed');
    const seedText = seed
      ? `seed p50 ${ratio(median(tf.freezeMs), median(seed.freezeMs))}, p90 ${ratio(p90(tf.freezeMs), p90(seed.freezeMs))}; `
      : 'seed not run; ';
    targets.push(
      `| ${shape.name}: p50 and p90 below the seed's and the reference's | ${seedText}reference p50 ${ratio(median(tf.freezeMs), median(ref.freezeMs))}, p90 ${ratio(p90(tf.freezeMs), p90(ref.freezeMs))} | ${verdict(below(tf, seed) && below(tf, ref))} |`,
    );
  }
  const tf10 = sampleOf('10x1', 'treefreeze') as Sample;
  const tf1000 = sampleOf('1000x4', 'treefreeze') as Sample;
  const floor1000 = sampleOf('1000x4', 'floor') as Sample;
  const beyondNode = median(runTrue.wall) - median(runTrue.nodeAlone);
  const ownBeyondNode =
    runTrue.ownCgroupWall.length > 0 ? median(runTrue.ownCgroupWall) - median(runTrue.nodeAlone) : undefined;
  const firstRatio = median(runTrue.firstFreeze) / median(runTrue.warmFreeze);
  const checkRatio = median(choice.sharedAuto) / median(choice.sharedSignal);
  const ownRatio = choice.ownAuto.length > 0 ? median(choice.ownAuto) / median(choice.ownBare) : undefined;
  const holdRow = holdCost.find((row) => row.name === '1000x4 signal');
  const holdShare = holdRow
    ? (median(holdRow.cpuMsPerSecond[0] ?? []) - median(holdRow.cpuMsPerSecond.at(-1) ?? [])) / 10
    : undefined;
  targets.push(
    `| 10x1: p90 under 2 ms | ${fmt(p90(tf10.freezeMs))} ms | ${verdict(p90(tf10.freezeMs) < 2)} |`,
    `| 1000x4: at most 1.3x the C floor (p50) | ${ratio(median(tf1000.freezeMs), median(floor1000.freezeMs))} | ${verdict(median(tf1000.freezeMs) <= 1.3 * median(floor1000.freezeMs))} |`,
    `| a tree that is exactly its cgroup: the default takes the kernel's freezer, within 1.5x of the bare cgroup v2 freeze (p50) | ${ownRatio === undefined ? 'no cgroup v2' : `took ${choice.ownBackend}, ${ownRatio.toFixed(2)}x`} | ${ownRatio === undefined ? '—' : verdict(choice.ownBackend !== 'signal' && ownRatio <= 1.5)} |`,
    `| the signal path no slower for the default's look (10x1, A/B, p50 within 5 %) | ${checkRatio.toFixed(2)}x | ${verdict(checkRatio <= 1.05)} |`,
    `| \`run <root> -- true\` on 1000x4: wall minus \`node -e 0\` under 150 ms | signals: ${fmt(beyondNode)} ms; alone in a cgroup: ${ownBeyondNode === undefined ? '—' : `${fmt(ownBeyondNode)} ms`} | signals: ${verdict(beyondNode < 150)}; cgroup: ${ownBeyondNode === undefined ? '—' : verdict(ownBeyondNode < 150)} |`,
    `| the same: peak RSS under 60 MiB | ${(median(runTrue.rssKb) / 1024).toFixed(1)} MiB | ${verdict(median(runTrue.rssKb) / 1024 < 60)} |`,
    `| the first freeze of a process (1000x4) within 1.5x of a warm one | ${fmt(median(runTrue.firstFreeze))} against ${fmt(median(runTrue.warmFreeze))} ms: ${firstRatio.toFixed(2)}x | ${verdict(firstRatio <= 1.5)} |`,
    `| holding 1000x4 (signals, default checks) under 1 % of a core | ${holdShare === undefined ? '—' : `${holdShare.toFixed(2)} %`} | ${holdShare === undefined ? '—' : verdict(holdShare < 1)} |`,
    `| listing 1000 processes at least 3x faster than pidtree | ${ratio(median(listing.theirs), median(listing.ours))} | ${verdict(median(listing.theirs) >= 3 * median(listing.ours))} |`,
  );
  return targets;
}

/** The whole report as markdown: printed by every run, and the body of docs/bench.md. */
export function renderReport(results: BenchResults): string {
  return [
    '## Freeze latency (ms): call to every task confirmed stopped; thaw: call to return (cgroup: to `frozen 0`)',
    '',
    ...latencyTable(results.latency),
    '',
    '| other measurements | |',
    '| --- | --- |',
    ...otherMeasurementRows(results),
    '',
    '| target | measured | |',
    '| --- | --- | --- |',
    ...targetRows(results),
    '',
    '## Where the time goes now: a treefreeze freeze phase by phase (ms, medians; from the call to the handle)',
    '',
    `| tree | freeze (durationMs) | ${PHASE_NAMES.join(' | ')} |`,
    `| --- | --- |${PHASE_NAMES.map(() => ' --- |').join('')}`,
    ...results.phases.map(
      (row) =>
        `| ${row.name} | ${fmt(row.total)} | ${PHASE_NAMES.map((name) => fmt(row.phases[name] ?? 0)).join(' | ')} |`,
    ),
    '',
    '## The cost of verifying a hold: CPU time of the holding process per second of hold (p50)',
    '',
    `| tree | ${HOLD_SETTINGS.map((setting) => setting.label).join(' | ')} |`,
    `|${HOLD_SETTINGS.map(() => ' --- |').join('')} --- |`,
    ...holdCostRows(results.holdCost),
  ].join('\n');
}

/** docs/bench-freeze.svg (median freeze latency of the sleeping trees) and docs/bench.md around `output`. */
export function writeBenchDocs(
  latency: LatencyResult[],
  output: string,
  seconds: string,
  isRoot: boolean,
): void {
  const chart = renderChart(
    latency
      .filter((r) => !r.shape.spin)
      .map((r) => ({
        processes: r.shape.processes,
        threads: r.shape.threads,
        medians: Object.fromEntries([...r.samples].map(([name, s]) => [name, median(s.freezeMs)])),
      })),
  );
  writeFileSync(join(repoRoot, 'docs/bench-freeze.svg'), chart);
  const machine = `${readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/)?.[1] ?? 'unknown CPU'}, ${
    cpus().length
  } cores; Linux ${release()}; Node ${process.version}; ${isRoot ? 'root' : 'not root'}`;
  const doc = `# Benchmark

Produced by \`npm run bench\` (as root, so the cgroup v2 contender runs) on ${new Date().toISOString().slice(0, 10)}, in ${seconds} s.
Machine: ${machine}.

Every contender freezes the same tree (built by \`test/fixture/treefix.c\`), interleaved, rotating who goes first.
treefreeze runs its signal path (\`backend: 'signal'\`: the tree sits in the cgroup v2 contender's cgroup, where
the default would take the kernel's freezer) with its other defaults (watchdog on, pidfd identity, the native core).
"seed (Rust)" is the algorithm of crosvm vmm-swap's freezer, the code treefreeze replaces, written in Rust
(\`bench/seed/seed.rs\`, built with rustc when there is one) and run warm like the C floor, timing itself: it reads
the tree from each main thread's \`children\` file, sends \`SIGSTOP\` to each process and polls every task's state,
napping 50 ms whenever a task is not stopped yet. "reference" is the same algorithm in TypeScript
(\`bench/reference.ts\`), run in the bench's own process. "cgroup v2" moves the tree into a fresh cgroup, writes
\`cgroup.freeze\` and polls \`cgroup.events\`. "C floor" (\`test/fixture/floor.c\`) is the fastest a signal
freezer can be: a warm C process given the tree's pids in advance that sends \`SIGSTOP\` to each and reads every
task until all read stopped, timing itself. "cpu" trees spin on every thread, in their own session.

${output}

![freeze latency against tree size](bench-freeze.svg)

Where the time goes and what stands between treefreeze and each target: [performance.md](performance.md).
`;
  writeFileSync(join(repoRoot, 'docs/bench.md'), doc);
}
