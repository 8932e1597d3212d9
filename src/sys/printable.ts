// Strings that come from outside (a user's flag values, a target's comm and argv, file paths) printed
// on a terminal or in one-line output: every control character is shown, escaped, never passed
// through. A newline would split a line a script parses; ESC would let a target's name move the
// cursor, recolour or retitle the terminal of whoever reads the output (CVE-2003-0063's class:
// xterm's window-title report). What is escaped is shown as C, JSON and bash's $'...' write it:
// \n \t \r \\ and \xHH for the other C0/DEL, \uHHHH for the C1 controls, lone surrogates (invalid
// UTF-8 that was decoded to U+FFFD stays U+FFFD: it is printable) and the line/paragraph separators.

/** C0 controls, DEL, C1 controls, the line/paragraph separators, lone surrogates, and the backslash. */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\\]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const SHORT: Record<string, string> = { '\n': '\\n', '\t': '\\t', '\r': '\\r', '\\': '\\\\' };

function escapeOne(c: string): string {
  const short = SHORT[c];
  if (short) return short;
  const code = c.charCodeAt(0);
  return code < 0x80 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** Whether printable(s) would change s. */
export function needsEscape(s: string): boolean {
  UNSAFE.lastIndex = 0;
  return UNSAFE.test(s);
}

/**
 * s with every control character escaped visibly (and backslashes doubled, so the escaping can be
 * told from a name that contains "\n" as two characters). The identity on ordinary text.
 */
export function printable(s: string): string {
  UNSAFE.lastIndex = 0;
  return UNSAFE.test(s) ? s.replace(UNSAFE, escapeOne) : s;
}

/** printable(), shortened past max characters: for a value echoed in an error message. */
export function shown(s: string, max = 80): string {
  const p = printable(s);
  return p.length <= max ? p : `${p.slice(0, max)}…(${s.length} characters)`;
}

/**
 * A message for one line of stderr: printable, and no longer than max (a value it quotes may be
 * huge: the parts between quotes are shortened first, then the whole).
 */
export function oneLineMessage(msg: string, max = 600): string {
  let m = printable(msg);
  if (m.length > max) m = m.replace(/'([^']{81,})'/g, (_, v: string) => `'${v.slice(0, 80)}…(${v.length} characters)'`);
  return m.length > max ? `${m.slice(0, max)}…` : m;
}
