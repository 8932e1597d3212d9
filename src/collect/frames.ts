// procimage's frame strings, read back: the text output, the summary and the exporters take them
// apart here, in one place, rather than each with a regex of its own. The formats (docs/ndjson.md):
//
//   user   "fn+0xOFF (module)", then " file:line" where the module has line information;
//          "module+0xOFF" (a file without a symbol there: OFF is the offset in the file);
//          "0x7f..." (no file: the runtime address)
//   kernel "fn+0xOFF", "fn+0xOFF [module]", "0xffff..." or "[unknown]"
//
// Names are taken as they come, demangled C++ included: spaces, commas, parentheses, `<...>`,
// `operator()`, `(anonymous namespace)`, `{lambda(int)#1}`. So a frame is parsed from the right,
// where its parts have fixed shapes (a name is always followed by "+0x"), never by splitting on
// spaces. Whether a frame is a user or a kernel one is the caller's to say: "name+0x10" is a
// function in the kernel but a file offset in user space.

export type FrameKind =
  | 'symbol'        // a function and the offset in it
  | 'module_offset' // a file (user space) and an offset in the file, no function known
  | 'address'       // a bare address: no file (user) or no symbol (kernel) covers it
  | 'unknown';      // "[unknown]", or not a frame procimage writes

export interface ParsedFrame {
  kind: FrameKind;
  /** The function as printed (C++: demangled, with its parameters); null unless kind is 'symbol'. */
  fn: string | null;
  /** 'symbol': bytes from the function's start; 'module_offset': the offset in the module's file. */
  offset: number | null;
  /** The file's basename ("libc.so.6", "[vdso]") or the kernel module ("kvm"); null where none is printed. */
  module: string | null;
  /** The source file's basename and line, where the module has line information. */
  file: string | null;
  line: number | null;
  /** 'address': the address (a BigInt: kernel addresses are past 2^53). */
  address: bigint | null;
}

export type StackSide = 'user' | 'kernel';

const parsed = (over: Partial<ParsedFrame> & { kind: FrameKind }): ParsedFrame =>
  ({ fn: null, offset: null, module: null, file: null, line: null, address: null, ...over });

const FILE_LINE = / ([^ ]+):(\d+)$/;
const AT_OFFSET = /^([^]*)\+0x([0-9a-f]+)$/;
const KERNEL_MODULE = / \[([^\]]+)\]$/;

/** Where the "(" of s's final ")" is (parentheses nest inside it), or -1. */
function openingParen(s: string, close = s.length - 1): number {
  let depth = 0;
  for (let i = close; i >= 0; i--) {
    if (s[i] === ')') depth++;
    else if (s[i] === '(' && --depth === 0) return i;
  }
  return -1;
}

/** Parses one frame of a `ustack` (side 'user', the default) or a `kstack` ('kernel'). */
export function parseFrame(frame: string, side: StackSide = 'user'): ParsedFrame {
  if (/^0x[0-9a-f]+$/i.test(frame)) return parsed({ kind: 'address', address: BigInt(frame) });
  let rest = frame, module: string | null = null, file: string | null = null, line: number | null = null;
  if (side === 'user') {
    const fl = FILE_LINE.exec(rest);
    if (fl) {
      file = fl[1];
      line = Number(fl[2]);
      rest = rest.slice(0, fl.index);
    }
    if (rest.endsWith(')')) { // " (module)": the module's name may have parentheses of its own
      const open = openingParen(rest);
      if (open > 0 && rest[open - 1] === ' ') {
        module = rest.slice(open + 1, -1);
        rest = rest.slice(0, open - 1);
      }
    }
  } else {
    const km = KERNEL_MODULE.exec(rest);
    if (km) {
      module = km[1];
      rest = rest.slice(0, km.index);
    }
  }
  if (rest === '[unknown]') return parsed({ kind: 'unknown', module, file, line });
  const at = AT_OFFSET.exec(rest);
  if (!at) return parsed({ kind: 'unknown', fn: rest || null, module, file, line });
  const offset = parseInt(at[2], 16);
  // in user space a function always comes with its module: without one, the name is the module's
  if (side === 'user' && module === null) return parsed({ kind: 'module_offset', module: at[1], offset, file, line });
  return parsed({ kind: 'symbol', fn: at[1], offset, module, file, line });
}

const IDENT = /[\w$]/;
const OPERATOR_SYMBOLS = /^(\(\)|\[\]|[<>=!+\-*/%^&|~,]+)/;

/**
 * A function's name without what a short form can do without: a C++ function's parameter list and
 * qualifiers, its return type (function templates have one), gcc's clone suffixes.
 * "toplev::main(int, char**)" -> "toplev::main"; "void ns::drive<ns::Worker>(ns::Worker&, int)" ->
 * "ns::drive<ns::Worker>"; "main::{lambda(int)#1}::operator()(int) const" ->
 * "main::{lambda(int)#1}::operator()"; a C or Rust name stays as it is.
 */
export function shortName(fn: string): string {
  let s = fn.replace(/( \[clone [^\]]*\])+$/, '');
  const unqualified = s.replace(/( ?(const|volatile|restrict|noexcept|transaction_safe|&&|&))+$/, '');
  if (unqualified.endsWith(')')) s = unqualified;
  if (s.endsWith(')')) {
    const open = openingParen(s);
    // "Foo::operator()" alone is the operator's name, not an empty parameter list
    if (open > 0 && !/(^|[^\w$])operator$/.test(s.slice(0, open))) s = s.slice(0, open);
  }
  return withoutReturnType(s);
}

/**
 * "void ns::f<int>" -> "ns::f<int>": what follows the last space outside brackets, up to an
 * `operator` at the top level (whose name may have spaces and brackets of its own: "operator new",
 * "operator<<", "operator char const*").
 */
function withoutReturnType(s: string): string {
  let depth = 0, lastSpace = -1;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === 'o' && s.startsWith('operator', i) && (i === 0 || !IDENT.test(s[i - 1])) && !IDENT.test(s[i + 8] ?? '')) {
      if (depth === 0) break; // the rest is the operator's name
      const sym = OPERATOR_SYMBOLS.exec(s.slice(i + 8));
      i += 7 + (sym ? sym[0].length : 0); // its symbols are no brackets
    } else if (c === '(' || c === '[' || c === '{' || c === '<') depth++;
    else if (c === ')' || c === ']' || c === '}' || c === '>') depth = Math.max(0, depth - 1);
    else if (c === ' ' && depth === 0) lastSpace = i;
  }
  return lastSpace >= 0 ? s.slice(lastSpace + 1) : s;
}
