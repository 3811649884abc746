/**
 * `npm run bench`: treefreeze against the kernel's cgroup v2 freezer and the
 * reference (crosvm vmm-swap) algorithm, side by side on the same trees,
 * interleaved. Prints a ratio table and writes docs/bench.md and docs/bench-freeze.svg.
 *
 *   npm run bench                 every measurement, full repetitions; writes the docs
 *   npm run bench -- --quick      fewer repetitions; prints only
 *
 * The contenders are one file each (contender.ts says what one is); latency.ts interleaves
 * them, measurements/ holds the other measurements, report.ts renders and writes the results.
 */
import { benchCgroupMount, removeLeftCgroups } from './cgroup-v2.js';
import { benchShape, type LatencyResult, latencyShapes } from './latency.js';
import { benchBackendChoice } from './measurements/backend-choice.js';
import { benchHoldCost } from './measurements/hold-cost.js';
import { benchListing } from './measurements/listing.js';
import { benchPhases } from './measurements/phases.js';
import { benchPriority } from './measurements/priority.js';
import { benchRunTrue } from './measurements/run-true.js';
import { type BenchResults, renderReport, writeBenchDocs } from './report.js';
import { stopStartedTrees } from './trees.js';

const QUICK = process.argv.includes('--quick');
const isRoot = process.getuid?.() === 0;

/** Nothing the bench made may outlive it: not on a normal exit, not on Ctrl-C. */
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

/** Every measurement in turn, each announced on stderr. */
async function measureAll(): Promise<BenchResults> {
  const latency: LatencyResult[] = [];
  for (const shape of latencyShapes(QUICK)) {
    console.error(`  ${shape.name} (${shape.reps} reps) ...`);
    latency.push({ shape, samples: await benchShape(shape) });
  }
  console.error('  listing 1000x4: listTree vs pidtree ...');
  const listing = await benchListing(QUICK);
  console.error('  treefreeze run <root> -- true on 1000x4 ...');
  const runTrue = await benchRunTrue(QUICK);
  console.error('  priority: a spinning 20x2 tree in the freezer’s own session ...');
  const priority = await benchPriority(QUICK);
  console.error('  where the time goes, phase by phase ...');
  const phases = await benchPhases(QUICK);
  console.error('  the cost of verifying a hold ...');
  const holdCost = await benchHoldCost(QUICK);
  console.error('  the default backend: its look on a shared tree (A/B), and a tree that is its cgroup ...');
  const backendChoice = await benchBackendChoice(QUICK);
  return { latency, listing, runTrue, priority, phases, holdCost, backendChoice };
}

async function main() {
  const benchStarted = performance.now();
  console.error(
    `treefreeze bench${QUICK ? ' (quick)' : ''}: ${benchCgroupMount ? `cgroup v2 at ${benchCgroupMount}` : 'no cgroup v2 (needs root and a cgroup2 mount)'}`,
  );
  const results = await measureAll();
  const seconds = ((performance.now() - benchStarted) / 1000).toFixed(0);
  const output = renderReport(results);
  console.log(output);
  console.error(`bench finished in ${seconds} s`);
  if (!QUICK) {
    writeBenchDocs(results.latency, output, seconds, isRoot);
    console.error('wrote docs/bench.md and docs/bench-freeze.svg');
  }
  cleanup();
}

await main();
