/**
 * Text that came from outside (process names, labels, paths, command lines, records another
 * process wrote) made safe for a terminal: whoever starts a process chooses its name, and an
 * escape sequence in it must not reach the reader's terminal as an order. JSON output stays
 * exact, but goes through jsonLine: JSON.stringify escapes only U+0000-U+001F, and leaves DEL,
 * the C1 controls (U+009B is a terminal's CSI) and the bidirectional controls raw.
 */

/**
 * Characters that are invisible or reorder what a reader sees: the soft hyphen, the combining
 * grapheme joiner, bidirectional marks and overrides, zero-width and filler characters, the BOM,
 * interlinear annotations, and the tag characters (U+E0000-E007F, written as surrogate pairs).
 */
const INVISIBLE =
  '\\u00ad\\u034f\\u061c\\u115f\\u1160\\u17b4\\u17b5\\u180b-\\u180f\\u200b-\\u200f\\u2028-\\u202e\\u2060-\\u206f\\u3164\\ufeff\\uffa0\\ufff9-\\ufffb';
const TAGS = '\\udb40[\\udc00-\\udc7f]';

/**
 * C0 and C1 control characters, DEL, the backslash (so that an escape in the output cannot be
 * forged by a name that spells one), and the invisible characters above.
 */
const UNPRINTABLE = new RegExp(`[\\x00-\\x1f\\x7f-\\x9f\\\\${INVISIBLE}]|${TAGS}`, 'g');

/** What JSON.stringify leaves raw that a terminal still acts on, or that hides or reorders text. */
const JSON_UNSAFE = new RegExp(`[\\x7f-\\x9f${INVISIBLE}]|${TAGS}`, 'g');

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\\': '\\\\' };

const hex = (code: number, digits: number) => code.toString(16).padStart(digits, '0');

/** `text` with every unprintable character written as an escape (\n, \x1b, \u202e, \u{e0041}). */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (char) => {
    const named = NAMED[char];
    if (named !== undefined) return named;
    const code = char.codePointAt(0) ?? 0;
    if (code <= 0xff) return `\\x${hex(code, 2)}`;
    return code <= 0xffff ? `\\u${hex(code, 4)}` : `\\u{${hex(code, 5)}}`;
  });
}

/** One JSON document as a line, with every character a terminal acts on written as \\uXXXX: the same JSON. */
export function jsonLine(value: unknown): string {
  const text = JSON.stringify(value).replace(JSON_UNSAFE, (chars) =>
    chars
      .split('') // UTF-16 units: a tag character becomes its surrogate pair, as JSON writes it
      .map((unit) => `\\u${hex(unit.charCodeAt(0), 4)}`)
      .join(''),
  );
  return `${text}\n`;
}
