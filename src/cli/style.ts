/** Terminal styling: colours only on a TTY and never when NO_COLOR is set (no-color.org). */
import { printable } from './printable.js';

/** Whether to colour what goes to `stream`: a terminal, no NO_COLOR, no TERM=dumb. */
export function useColor(stream: NodeJS.WriteStream): boolean {
  return Boolean(stream.isTTY) && !process.env.NO_COLOR && process.env.TERM !== 'dumb';
}

const CODES = { bold: 1, dim: 2, red: 31, green: 32, yellow: 33, blue: 34, cyan: 36 } as const;
export type Style = keyof typeof CODES;

export function paint(enabled: boolean, style: Style, text: string): string {
  return enabled ? `\x1b[${CODES[style]}m${text}\x1b[0m` : text;
}

/** The colour for a task state letter: stopped cyan, running green, dead red. */
export function stateStyle(state: string): Style {
  if (state === 'T' || state === 't') return 'cyan';
  if (state === 'R') return 'green';
  if (state === 'Z' || state === 'X') return 'red';
  if (state === 'D') return 'yellow';
  return 'dim';
}

/** Plural forms and thousands separators: one implementation for messages and output. */
export { count } from '../base/errors.js';

/**
 * A piece of a status line; optional pieces are left out, last first, when the line is too wide,
 * and an elastic one (a long label) is then cut short with "…" so that the pieces after it,
 * the held time above all, still show.
 */
export interface Segment {
  text: string;
  style?: Style | undefined;
  optional?: boolean | undefined;
  elastic?: boolean | undefined;
}

const SEPARATOR = ' · ';
/** An elastic piece keeps at least this many characters (then "…"). */
const ELASTIC_MIN = 8;

/**
 * Joins segments with " · " into a line of at most `width` visible characters: a line that
 * wraps cannot be redrawn in place (\r goes back to the start of its last row only), so it
 * would add a row at every redraw. Optional segments go first, then elastic ones shrink, then
 * the end is cut with "…".
 */
export function fitLine(segments: readonly Segment[], width: number, color: boolean): string {
  // Escaped before measuring and painting: a label (a process name) may hold escape sequences.
  const kept = segments.map((segment) => ({ ...segment, text: printable(segment.text) }));
  const length = () => [...kept.map((segment) => segment.text).join(SEPARATOR)].length;
  for (let i = kept.length - 1; i >= 0 && length() > width; i--) {
    if (kept[i]?.optional) kept.splice(i, 1);
  }
  for (const segment of kept) {
    const over = length() - width;
    if (over <= 0 || !segment.elastic) continue;
    const chars = [...segment.text];
    const keep = Math.max(ELASTIC_MIN, chars.length - over - 1);
    if (keep < chars.length) segment.text = `${chars.slice(0, keep).join('')}…`;
  }
  const chars = [...kept.map((segment) => segment.text).join(SEPARATOR)];
  if (chars.length > width) return `${chars.slice(0, Math.max(0, width - 1)).join('')}…`;
  return kept
    .map((segment) => (segment.style ? paint(color, segment.style, segment.text) : segment.text))
    .join(SEPARATOR);
}
