// Reading an ELF64 file's function symbols, load segments and build ID: enough to put a uprobe on a
// function by name (its file offset), to name the function an address of a mapped file falls in,
// and to say which build of the file it was. Reads only the headers, the notes and the symbol tables
// (pread), not the whole file: binaries can be large.
import { closeSync, openSync, readSync, fstatSync } from 'node:fs';

const SHT_SYMTAB = 2, SHT_DYNSYM = 11;
const STT_FUNC = 2, STT_GNU_IFUNC = 10;
const PT_LOAD = 1, PT_INTERP = 3, PT_NOTE = 4;
const NT_GNU_BUILD_ID = 3;
const SHN_UNDEF = 0;

export interface ElfFunction {
  name: string;
  /** st_value: the function's virtual address as linked (for a shared object, from its base). */
  addr: number;
  size: number;
  /** Its offset in the file: what a uprobe is attached at. */
  fileOffset: number;
}

interface Segment { offset: number; vaddr: number; filesz: number }
interface Section { type: number; addr: number; offset: number; size: number; link: number; entsize: number }

/** The NT_GNU_BUILD_ID note among the notes of a PT_NOTE segment, as hex; null if none is there. */
function gnuBuildId(notes: Buffer, align: number): string | null {
  const up = (n: number) => Math.ceil(n / align) * align;
  for (let o = 0; o + 12 <= notes.length;) {
    const namesz = notes.readUInt32LE(o), descsz = notes.readUInt32LE(o + 4), type = notes.readUInt32LE(o + 8);
    const desc = o + 12 + up(namesz);
    if (desc + descsz > notes.length) break;
    if (type === NT_GNU_BUILD_ID && namesz === 4 && notes.toString('latin1', o + 12, o + 15) === 'GNU') {
      return notes.toString('hex', desc, desc + descsz);
    }
    o = desc + up(descsz);
  }
  return null;
}

export class ElfError extends Error {
  constructor(readonly path: string, why: string) {
    super(`${path}: ${why}`);
    this.name = 'ElfError';
  }
}

export class ElfFile {
  /** Function symbols sorted by address (.symtab and .dynsym merged, without duplicates). */
  readonly functions: readonly ElfFunction[];
  private readonly byName = new Map<string, ElfFunction>();

  private constructor(readonly path: string, private readonly segments: Segment[], functions: ElfFunction[],
    /** Linked dynamically: it asks for a program interpreter (ld.so), which maps its libraries. */
    readonly dynamic: boolean,
    /** The GNU build ID note (what `readelf -n` shows), lowercase hex; null if the file has none. */
    readonly buildId: string | null) {
    this.functions = functions;
    for (const f of functions) if (!this.byName.has(f.name)) this.byName.set(f.name, f);
  }

  static open(path: string): ElfFile {
    const fd = openSync(path, 'r');
    try {
      return ElfFile.read(path, fd);
    } finally {
      closeSync(fd);
    }
  }

  private static read(path: string, fd: number): ElfFile {
    const size = fstatSync(fd).size;
    const pread = (off: number, len: number): Buffer => {
      if (off < 0 || len < 0 || off + len > size) throw new ElfError(path, 'truncated or corrupt');
      const b = Buffer.alloc(len);
      readSync(fd, b, 0, len, off);
      return b;
    };
    const h = pread(0, Math.min(64, size));
    if (h.length < 4 || h.readUInt32BE(0) !== 0x7f454c46) throw new ElfError(path, 'not an ELF file');
    if (h.length < 64) throw new ElfError(path, 'truncated or corrupt');
    if (h[4] !== 2 || h[5] !== 1) throw new ElfError(path, 'not a little-endian 64-bit ELF file');
    const phoff = Number(h.readBigUInt64LE(32)), shoff = Number(h.readBigUInt64LE(40));
    const phentsize = h.readUInt16LE(54), phnum = h.readUInt16LE(56);
    const shentsize = h.readUInt16LE(58), shnum = h.readUInt16LE(60);

    const segments: Segment[] = [];
    let dynamic = false, buildId: string | null = null;
    const ph = pread(phoff, phentsize * phnum);
    for (let i = 0; i < phnum; i++) {
      const o = i * phentsize;
      if (ph.readUInt32LE(o) === PT_INTERP) dynamic = true;
      if (ph.readUInt32LE(o) === PT_NOTE && buildId === null) {
        const align = Number(ph.readBigUInt64LE(o + 48)) === 8 ? 8 : 4;
        buildId = gnuBuildId(pread(Number(ph.readBigUInt64LE(o + 8)), Number(ph.readBigUInt64LE(o + 32))), align);
      }
      if (ph.readUInt32LE(o) !== PT_LOAD) continue;
      segments.push({ offset: Number(ph.readBigUInt64LE(o + 8)), vaddr: Number(ph.readBigUInt64LE(o + 16)),
        filesz: Number(ph.readBigUInt64LE(o + 32)) });
    }

    const sections: Section[] = [];
    const sh = shnum ? pread(shoff, shentsize * shnum) : Buffer.alloc(0);
    for (let i = 0; i < shnum; i++) {
      const o = i * shentsize;
      sections.push({
        type: sh.readUInt32LE(o + 4), addr: Number(sh.readBigUInt64LE(o + 16)), offset: Number(sh.readBigUInt64LE(o + 24)),
        size: Number(sh.readBigUInt64LE(o + 32)), link: sh.readUInt32LE(o + 40), entsize: Number(sh.readBigUInt64LE(o + 56)),
      });
    }

    const seen = new Set<string>();
    const functions: ElfFunction[] = [];
    for (const type of [SHT_SYMTAB, SHT_DYNSYM]) {
      for (const s of sections.filter(x => x.type === type)) {
        const strtab = sections[s.link];
        if (!strtab || s.entsize < 24) continue;
        const syms = pread(s.offset, s.size), strs = pread(strtab.offset, strtab.size);
        for (let o = 0; o + 24 <= syms.length; o += s.entsize) {
          const info = syms[o + 4], shndx = syms.readUInt16LE(o + 6);
          const stt = info & 0xf;
          if ((stt !== STT_FUNC && stt !== STT_GNU_IFUNC) || shndx === SHN_UNDEF || shndx >= sections.length) continue;
          const nameOff = syms.readUInt32LE(o);
          const end = strs.indexOf(0, nameOff);
          const name = strs.toString('latin1', nameOff, end < 0 ? strs.length : end);
          const addr = Number(syms.readBigUInt64LE(o + 8));
          const key = `${name}@${addr}`;
          if (!name || seen.has(key)) continue;
          seen.add(key);
          const sec = sections[shndx];
          functions.push({ name, addr, size: Number(syms.readBigUInt64LE(o + 16)), fileOffset: addr - sec.addr + sec.offset });
        }
      }
    }
    // where names share an address (aliases), the one functionAt finds (the last) is the public
    // name: the fewest leading underscores (pthread_mutex_lock, not __pthread_mutex_lock)
    const underscores = (n: string) => /^_*/.exec(n)![0].length;
    functions.sort((a, b) => a.addr - b.addr || b.size - a.size || underscores(b.name) - underscores(a.name));
    return new ElfFile(path, segments, functions, dynamic, buildId);
  }

  /** The function of this name (the first one, where versions share a name), or undefined. */
  function(name: string): ElfFunction | undefined {
    return this.byName.get(name);
  }

  /** len bytes of the file at offset (the first instructions of a function, say). */
  bytesAt(offset: number, len: number): Buffer {
    const fd = openSync(this.path, 'r');
    try {
      const b = Buffer.alloc(len);
      const n = readSync(fd, b, 0, len, offset);
      return b.subarray(0, n);
    } finally {
      closeSync(fd);
    }
  }

  /** A file offset as the virtual address the file's load segments give it, or undefined. */
  vaddrOf(fileOffset: number): number | undefined {
    for (const s of this.segments) {
      if (fileOffset >= s.offset && fileOffset < s.offset + s.filesz) return fileOffset - s.offset + s.vaddr;
    }
    return undefined;
  }

  /**
   * The function a virtual address falls in: the closest one at or below it whose size covers it
   * (or a size-0 symbol directly at it).
   */
  functionAt(vaddr: number): { fn: ElfFunction; offset: number } | undefined {
    const fs = this.functions;
    let lo = 0, hi = fs.length - 1, at = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (fs[mid].addr <= vaddr) { at = mid; lo = mid + 1; } else hi = mid - 1;
    }
    // several symbols can end at or before vaddr; look back past those that do not cover it
    for (let i = at; i >= 0 && i > at - 8; i--) {
      const f = fs[i];
      if (vaddr < f.addr + f.size || (f.size === 0 && vaddr === f.addr)) return { fn: f, offset: vaddr - f.addr };
    }
    return undefined;
  }
}
