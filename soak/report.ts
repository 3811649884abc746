/** What a soak run reports: each kind's figures in a cell, the table, and docs/reliability.md. */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Kind } from './kind.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

const fmt = (ms: number) => (ms >= 100 ? ms.toFixed(0) : ms.toFixed(1));

/** A kind's figures, one cell: percentages as p50 / min, MiB as p50 / max, a count, or ms as p50 / p90 / max. */
export function summarizeFigures(figures: Record<string, number[]>): string {
  return Object.entries(figures)
    .map(([key, values]) =>
      key.endsWith('(%)')
        ? `${key} p50 ${percentile(values, 50).toFixed(0)} / min ${Math.min(...values).toFixed(0)}`
        : key.endsWith('(MiB)')
          ? `${key} p50 ${percentile(values, 50).toFixed(1)} / max ${Math.max(...values).toFixed(1)}`
          : key === 'cases'
            ? `${values[0]} cases`
            : `${key} p50 ${fmt(percentile(values, 50))} / p90 ${fmt(percentile(values, 90))} / max ${fmt(Math.max(...values))} ms`,
    )
    .join('; ');
}

/** The markdown table of every kind's row, as printed and as written to docs/reliability.md. */
export function renderTable(rows: string[][]): string {
  return [
    '| trial | runs | violations | figures (ms: p50 / p90 / max) |',
    '| --- | --- | --- | --- |',
    ...rows.map((row) => `| ${row.join(' | ')} |`),
  ].join('\n');
}

/** docs/reliability.md: the run's table, what each kind does, and how to reproduce it. */
export function writeReport(
  kinds: Kind[],
  table: string,
  seconds: number,
  factor: number,
  violations: number,
): void {
  const descriptions = kinds.map((kind) => `- **${kind.name}**: ${kind.what}.`).join('\n');
  const node = process.version;
  const cpus = spawnSync('nproc', { encoding: 'utf8' }).stdout.trim();
  const doc = `# Reliability

\`npm run soak\` (as root; not part of \`npm test\`) puts treefreeze under faults by the hundred and checks
every outcome from \`/proc\` with its own reader, never from treefreeze's own report. A violation is a broken
promise: a process left stopped, a process outside the tree (or a recycled pid) signalled, a watchdog or lease
timer left running, a freeze that resolved with a task still running, a failure that is not a \`FreezeError\`.

Latest run: ${new Date().toISOString().slice(0, 10)}, ${cpus} CPUs, Linux ${release()}, Node ${node}; ${factor === 1 ? 'default runs' : `runs scaled by ${factor}`};
${seconds.toFixed(0)} s in all; **${violations} violations**.

${table}

"Resume after SIGKILL" is the time from the SIGKILL of the freezing process to every process of the tree running
again, measured by polling \`/proc\` (trials where nothing was stopped yet when the kill landed are not counted).
Most of it is the kernel tearing down the dead Node process: only then is its end of the watchdog's pipe closed.

"durationMs / wall" compares the freeze's own report with the wall time measured around the call, for the first
freeze of a fresh process beside a spinning tree in its own session. Work before the clock starts used to hide
there (loading the native library: a ratio of 0.25); a ratio under 0.5 is a violation. A gap of 50–130 ms
remained in about 1 run in 10: the caller's thread, still at normal priority, crawled through the call's entry
before the raise. The raise is now the entry's first step; about 1 run in 20 still shows such a gap, spent
before treefreeze's first statement runs.

"command wall" (registry attack) is one command of root's from the spawn of \`unshare\` (a mount namespace whose
\`/run/user\` and \`/run/treefreeze\` are the run's own directories) to its exit: about 200 ms of it is that and
Node's start, and a \`status\` or \`thaw\` beside a holder that never answers waits out its 750 ms. "peak RSS" is that
command's maxRSS. A command killed at 10 s counts as a violation, not in the figures.

## The trials

${descriptions}

## Reproduce

\`\`\`
npm ci
npm run soak                  # every kind, default runs
npm run soak -- --trials 0.2  # a quick pass
npm run soak -- --only lease  # one kind
\`\`\`
`;
  writeFileSync(join(repoRoot, 'docs/reliability.md'), doc);
}
