/**
 * `npm run soak`: treefreeze under faults, by the hundred. Every trial builds a real tree,
 * injects a fault (a SIGKILL of the freezer or of its watchdog at a random moment, a fork
 * storm, a recycled pid, a permission wall, a spinning tree, a tracer …) and then checks the
 * outcome from /proc with its own reader — never from treefreeze's report. A violation is
 * a broken promise: a process left stopped, a foreign process signalled, a helper left
 * running, a freeze that resolved with a task still running, an error that is not a
 * FreezeError. Prints a table and writes docs/reliability.md.
 *
 * Each kind of trial is a file of soak/kinds/, listed in the order they run in soak/kinds/index.ts;
 * soak/report.ts renders the table and the report.
 *
 *   npm run soak                       every kind, default runs (about 10 minutes on 2 cores)
 *   npm run soak -- --trials 0.2       scale every kind's runs (at least 1 each)
 *   npm run soak -- --only lease       kinds whose name contains "lease"
 */
import { cleanupTrees, TestCgroup } from '../test/helpers/index.js';
import type { Kind, Outcome } from './kind.js';
import { KINDS } from './kinds/index.js';
import { renderTable, summarizeFigures, writeReport } from './report.js';

const isRoot = process.getuid?.() === 0;

/** The command line: `--trials <factor>` scales every kind's runs, `--only <text>` picks kinds by name. */
function parseArgs(argv: string[]): { factor: number; only: string | undefined } {
  const scale = Number(argv[argv.indexOf('--trials') + 1] ?? 1);
  const only = argv.includes('--only') ? argv[argv.indexOf('--only') + 1] : undefined;
  const factor = argv.includes('--trials') && Number.isFinite(scale) && scale > 0 ? scale : 1;
  return { factor, only };
}

/** One run of a kind; a crash is a violation, not the end of the soak. */
async function runOnce(kind: Kind, index: number): Promise<Outcome> {
  try {
    return await kind.run(index);
  } catch (error) {
    const outcome: Outcome = {
      violations: [`trial crashed: ${(error as Error)?.stack ?? error}`],
      figures: {},
    };
    // What the crashed trial started must not outlive it (or keep this runner from exiting).
    const left = await cleanupTrees();
    if (left.length > 0) outcome.violations.push(`processes of the crashed trial would not die: ${left}`);
    return outcome;
  }
}

/** Every run of one kind, then its final checks: the kind's table row and its violations. */
async function runKind(kind: Kind, factor: number): Promise<{ row: string[]; violations: string[] }> {
  const runs = Math.max(1, Math.round(kind.runs * factor));
  const violations: string[] = [];
  const figures: Record<string, number[]> = {};
  let skipped = false;
  for (let i = 0; i < runs; i++) {
    const outcome = await runOnce(kind, i);
    if (outcome.skipped) skipped = true;
    violations.push(...outcome.violations.map((v) => `run ${i + 1}: ${v}`));
    for (const [key, value] of Object.entries(outcome.figures)) {
      figures[key] = [...(figures[key] ?? []), ...(Array.isArray(value) ? value : [value])];
    }
  }
  violations.push(...((await kind.finally?.()) ?? []));
  const row = [
    kind.name,
    skipped ? '0' : String(runs),
    skipped ? 'skipped: hierarchy not mounted' : String(violations.length),
    summarizeFigures(figures),
  ];
  return { row, violations };
}

async function main(): Promise<number> {
  const { factor, only } = parseArgs(process.argv.slice(2));
  const rows: string[][] = [];
  let totalViolations = 0;
  const started = Date.now();
  for (const kind of KINDS) {
    if (only && !kind.name.includes(only)) continue;
    if (kind.needsRoot && !isRoot) {
      rows.push([kind.name, '0', 'skipped: needs root', '']);
      continue;
    }
    const kindStarted = Date.now();
    const { row, violations } = await runKind(kind, factor);
    totalViolations += violations.length;
    rows.push(row);
    process.stderr.write(
      `${row[0]}: ${row[1]} runs, ${row[2]} violations ${row[3] ? `(${row[3]}) ` : ''}[${((Date.now() - kindStarted) / 1000).toFixed(0)} s]\n`,
    );
    for (const violation of violations.slice(0, 5)) process.stderr.write(`  ${violation}\n`);
  }
  const seconds = (Date.now() - started) / 1000;
  const table = renderTable(rows);
  process.stdout.write(`\n${table}\n\n${totalViolations} violations in ${seconds.toFixed(0)} s\n`);
  if (!only) writeReport(KINDS, table, seconds, factor, totalViolations);
  return totalViolations === 0 ? 0 : 1;
}

process.exitCode = await main();
// What the cgroup trials made or started must not outlive the soak.
for (const cgroup of TestCgroup.made) await cgroup.remove();
for (const child of TestCgroup.spawned) if (child.pid) child.kill('SIGKILL');
