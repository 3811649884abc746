/**
 * Text that came from outside (process names, labels, paths, command lines, records another
 * process wrote) made safe for a terminal: whoever starts a process chooses its name, and an
 * escape sequence in it must not reach the reader's terminal as an order. JSON output stays
 * exact, but goes through jsonLine: JSON.stringify escapes only U+0000-U+001F, and leaves DEL,
 * the C1 controls (U+009B is a terminal's CSI) and the bidirectional controls raw.
 */

/**
 * C0 and C1 control characters, DEL, the backslash (so that an escape in the output cannot be
 * forged by a name that spells one), and the bidirectional and zero-width formatting
 * characters, which reorder or hide what a reader sees.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const UNPRINTABLE = /[\x00-\x1f\x7f-\x9f\\\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\\': '\\\\' };

/** `text` with every unprintable character written as an escape (\n, \x1b, \u202e). */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (char) => {
    const named = NAMED[char];
    if (named !== undefined) return named;
    const code = char.charCodeAt(0);
    return code <= 0xff
      ? `\\x${code.toString(16).padStart(2, '0')}`
      : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** What JSON.stringify leaves raw that a terminal still acts on. */
const JSON_UNSAFE = /[\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

/** One JSON document as a line, with every character a terminal acts on written as \\uXXXX: the same JSON. */
export function jsonLine(value: unknown): string {
  const text = JSON.stringify(value).replace(
    JSON_UNSAFE,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  return `${text}\n`;
}
