/**
 * Durations on the command line: "500ms", "30s", "2m", "1h", "3d", compounds from the
 * largest unit down ("1m30s", "1h30m", "2d12h"), decimals ("1.5s"); a bare number is
 * seconds, as for sleep(1). At most MAX_DURATION_TEXT: far beyond any real hold, and a
 * value a person can check.
 */
const UNITS: Record<string, number> = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000, ms: 1 };
const ORDER = ['d', 'h', 'm', 's', 'ms'];

/** The longest duration the command line accepts: 365 days. */
export const MAX_DURATION_TEXT = '365d';
export const MAX_CLI_DURATION_MS = 365 * 86_400_000;

const NUMBER = '(\\d+(?:\\.\\d+)?|\\.\\d+)';

/** Milliseconds, or null when the text is not a duration (or is zero). Not capped: see MAX_CLI_DURATION_MS. */
export function parseDuration(text: string): number | null {
  const trimmed = text.trim();
  if (new RegExp(`^${NUMBER}$`).test(trimmed)) return positive(Number(trimmed) * 1000);
  const part = new RegExp(`${NUMBER}(ms|d|h|m|s)`, 'y');
  let total = 0;
  let last = -1;
  let index = 0;
  while (index < trimmed.length) {
    part.lastIndex = index;
    const match = part.exec(trimmed);
    if (!match) return null;
    const rank = ORDER.indexOf(match[2] as string);
    if (rank <= last) return null; // units from the largest down, each once: "1m30s", not "30s1m"
    last = rank;
    total += Number(match[1]) * (UNITS[match[2] as string] as number);
    index = part.lastIndex;
  }
  return index === 0 ? null : positive(total);
}

function positive(ms: number): number | null {
  return Number.isFinite(ms) && ms > 0 ? ms : null;
}

/** "850 ms", "2.5 s", "3 m 20 s", "100 h", "2 d 4 h": for people. */
export function formatDuration(ms: number): string {
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const [big, small, bigUnit, smallUnit] =
    ms < 3_600_000
      ? [Math.floor(ms / 60_000), Math.round((ms % 60_000) / 1000), 'm', 's']
      : ms < 86_400_000
        ? [Math.floor(ms / 3_600_000), Math.round((ms % 3_600_000) / 60_000), 'h', 'm']
        : [Math.floor(ms / 86_400_000), Math.round((ms % 86_400_000) / 3_600_000), 'd', 'h'];
  return small ? `${big} ${bigUnit} ${small} ${smallUnit}` : `${big} ${bigUnit}`;
}

/** A duration as an option takes it ("5s", "100ms"): how --help shows a default. */
export function durationOptionText(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}
