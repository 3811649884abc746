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
      'reference p50 / p90',
      'C floor p50 / p90',
      'tf / cgroup (p50)',
      'tf / floor (p50)',
      'tf / reference (p50; p90)',
      'thaw p50: tf / cgroup / ref / floor',
    ],
  ];
  for (const { shape, samples } of latency) {
    const tf = samples.get('treefreeze') as Sample;
    const cg = samples.get('cgroup v2');
    const ref = samples.get('reference') as Sample;
    const fl = samples.get('floor') as Sample;
    rows.push([
      shape.name,
      p50AndP90(tf.freezeMs),
      cg ? p50AndP90(cg.freezeMs) : '—',
      p50AndP90(ref.freezeMs),
      p50AndP90(fl.freezeMs),
      cg ? ratio(median(tf.freezeMs), median(cg.freezeMs)) : '—',
      ratio(median(tf.freezeMs), median(fl.freezeMs)),
      `${ratio(median(tf.freezeMs), median(ref.freezeMs))}; ${ratio(p90(tf.freezeMs), p90(ref.freezeMs))}`,
      `${fmt(median(tf.thawMs))} / ${cg ? fmt(median(cg.thawMs)) : '—'} / ${fmt(median(ref.thawMs))} / ${fmt(median(fl.thawMs))}`,
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
function targetRows({ latency, listing, runTrue }: BenchResults): string[] {
  const sampleOf = (name: string, contender: ContenderName) =>
    latency.find((r) => r.shape.name === name)?.samples.get(contender);
  const targets: string[] = [];
  for (const { shape, samples } of latency.filter((r) => !r.shape.spin)) {
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
the default would take the kernel's freezer) with its other defaults (watchdog on, pidfd identity). "reference" is a TypeScript rendition of
crosvm vmm-swap's freezer (\`bench/reference.ts\`). "cgroup v2" moves the tree into a fresh cgroup, writes
\`cgroup.freeze\` and polls \`cgroup.events\`. "C floor" (\`test/fixture/floor.c\`) is the fastest a signal
freezer can be: a warm C process given the tree's pids in advance that sends \`SIGSTOP\` to each and reads every
task until all read stopped, timing itself. "cpu" trees spin on every thread, in their own session.

${output}

![freeze latency against tree size](bench-freeze.svg)

Where the time goes and what stands between treefreeze and each target: [performance.md](performance.md).
`;
  writeFileSync(join(repoRoot, 'docs/bench.md'), doc);
}
