// DWARF unwinding and symbolization of user stacks, through the native helper (native/unwind.c,
// elfutils libdwfl). An address space is a number the caller picks plus the /proc/PID/maps text it
// read while the process lived; the helper keeps the 256 most recently used.
import { checkPtr } from './errors.js';
import { helper, type Ptr } from './ffi.js';

export interface Frame {
  symbol: string;  // "" when unknown
  offset: number;  // from the symbol's start
  module: string;  // the mapped file, or "[vdso]"
  file: string;    // source file, when the module has line info
  line: number;
}

/** Where a pc lies: see Unwinder.resolve. */
export interface Where {
  module: string;
  addr: bigint;
  fileOffset: number | undefined;
  buildId: string | null;
}

const MAX_FRAMES = 128;

/** Why an unwind ended: at the outermost frame, or cut short (native/unwind.c, PI_UNWIND_*). */
export type UnwindStop = 'end' | 'past_copy' | 'max_frames';
const STOPS: readonly UnwindStop[] = ['end', 'past_copy', 'max_frames'];

export class Unwinder {
  #u: Ptr | null;
  private readonly pcs = new BigUint64Array(MAX_FRAMES);
  private readonly stopped = new Int32Array(1);
  /** Why the last unwind() ended. */
  lastStop: UnwindStop = 'end';
  private readonly text = Buffer.alloc(64 << 10);

  constructor() {
    this.#u = checkPtr('pi_unwinder_new', helper().unwinder_new() as Ptr | null);
  }

  private get u(): Ptr {
    if (this.#u === null) throw new Error('unwinder is closed');
    return this.#u;
  }

  /** Defines (or replaces) address space id from a /proc/PID/maps text; false if none of it is usable. */
  setSpace(id: number, maps: string): boolean {
    const b = Buffer.from(maps);
    return (helper().space_set(this.u, id, b, b.length) as number) === 0;
  }

  dropSpace(id: number): void {
    helper().space_drop(this.u, id);
  }

  /**
   * Forgets every address space and symbol file, freeing what libdwfl read for them (the symbol and
   * line tables and decompressed debug sections of every file a stack went through). Spaces must be
   * set again before they unwind.
   */
  forget(): void {
    helper().unwinder_forget(this.u);
  }

  /** What is held: address spaces, files open for symbols, ELF files mapped (shared by all unwinders). */
  usage(): { spaces: number; symbolFiles: number; elfFiles: number } {
    const out = new Int32Array(3);
    helper().unwinder_usage(this.u, out);
    return { spaces: out[0], symbolFiles: out[1], elfFiles: out[2] };
  }

  /**
   * Unwinds a stack copy: regs = ip, sp, bp, bx, r12-r15; stack = the bytes copied from base.
   * Returns the frames' pcs (the first is ip) as a view of the unwinder's own buffer, valid until its
   * next call; undefined if the space is unknown (never set, or evicted as least recently used).
   * lastStop says why it ended: 'past_copy' when the next frame was above the copied bytes.
   */
  unwind(space: number, tgid: number, tid: number, regs: BigUint64Array, base: bigint, stack: Uint8Array): BigUint64Array | undefined {
    const n = helper().unwind(this.u, space, tgid, tid, regs, base, stack, stack.length, this.pcs, MAX_FRAMES, this.stopped) as number;
    this.lastStop = STOPS[this.stopped[0]] ?? 'end';
    return n < 0 ? undefined : this.pcs.subarray(0, n);
  }

  /**
   * Which ELF file each pc lies in and where: as the file numbers it (addr, no symbol table read:
   * the key symbols are cached by, the same in every process that maps the file), its offset in the
   * file (undefined where no load segment's bytes hold it) and the file's GNU build ID (hex, null if
   * none): what a tool that symbolizes later is given. Undefined if the space is unknown; module ""
   * where no file covers a pc.
   */
  resolve(space: number, pcs: bigint[]): Where[] | undefined {
    const rows = this.rows(pcs, (rest, text) => helper().resolve(this.u, space, rest, rest.length, text, text.length) as number);
    return rows?.map(([module, addr, offset, buildId]) =>
      ({ module, addr: BigInt(addr), fileOffset: offset ? Number(offset) : undefined, buildId: buildId || null }));
  }

  /** Symbols of addresses of one ELF file (`ret`: return addresses, looked up at addr - 1), C++ and Rust demangled. */
  symbolizeFile(path: string, addrs: bigint[], ret: boolean): Frame[] {
    const rows = this.rows(addrs, (rest, text) =>
      helper().symbolize_file(this.u, path, rest, rest.length, ret ? 1 : 0, text, text.length) as number) ?? [];
    return rows.map(([symbol, offset, file, line]) =>
      ({ symbol: symbol ?? '', offset: Number(offset ?? 0), module: path, file: file ?? '', line: Number(line ?? 0) }));
  }

  /**
   * The helper's answer for each of addrs, a line of tab-separated fields each: it writes whole
   * lines, as many as fit in the buffer (demangled names can be long), so it is asked again for the
   * rest. Undefined if call fails (-1).
   */
  private rows(addrs: bigint[], call: (rest: BigUint64Array, text: Buffer) => number): string[][] | undefined {
    const out: string[][] = [];
    const arr = BigUint64Array.from(addrs.slice(0, MAX_FRAMES));
    while (out.length < arr.length) {
      const n = call(arr.slice(out.length), this.text);
      if (n < 0) return undefined;
      const lines = this.text.toString('utf8', 0, n).split('\n').slice(0, -1);
      if (lines.length === 0) break; // not even one line fits: the rest stays unknown
      for (const l of lines) out.push(l.split('\t'));
    }
    return out;
  }

  close(): void {
    if (this.#u !== null) helper().unwinder_free(this.#u);
    this.#u = null;
  }
}

const demangled = Buffer.alloc(16 << 10);

/**
 * A symbol as people read it (native/unwind.c, readable()): without its version, and C++ and Rust
 * names demangled as c++filt does ("_ZN6toplev4mainEiPPc" -> "toplev::main(int, char**)"); any
 * other name as it is, without a call into the helper.
 */
export function demangle(name: string): string {
  if (!/^_[ZR]/.test(name)) {
    const at = name.indexOf('@');
    return at > 0 ? name.slice(0, at) : name;
  }
  let out = demangled;
  let n = helper().demangle(name, out, out.length) as number;
  if (n >= out.length) { // a long template name: once more with room for it
    out = Buffer.alloc(n + 1);
    n = helper().demangle(name, out, out.length) as number;
  }
  return out.toString('utf8', 0, n);
}
