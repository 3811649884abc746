/** Terminal styling: colours only on a TTY and never when NO_COLOR is set (no-color.org). */
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
export { count } from '../errors.js';
