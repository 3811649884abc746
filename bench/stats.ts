/** The bench's statistics and number formats: percentiles, and milliseconds and ratios as table cells. */

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN;
}
export const median = (values: number[]) => percentile(values, 0.5);
export const p90 = (values: number[]) => percentile(values, 0.9);

export const fmt = (ms: number) => (Number.isNaN(ms) ? '—' : ms < 10 ? ms.toFixed(2) : ms.toFixed(1));
export const ratio = (a: number, b: number) => (Number.isFinite(a / b) ? `${(a / b).toFixed(2)}x` : '—');
