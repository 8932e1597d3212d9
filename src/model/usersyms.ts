// User addresses to symbols: the mapping an address falls in (/proc/PID/maps), the file offset it
// has there, and the function of that file's ELF symbols (.symtab when the file has one, else
// .dynsym) it lies in. Frame-pointer and leaf addresses from BPF come here as raw numbers; this is
// the simple ELF-symbol path, without DWARF or debuginfo (a richer symbolizer can replace it behind
// the same Symbolizer interface). C++ and Rust names are demangled as the off-CPU path's are (the
// native helper's demangler, src/bpf), and every frame has its location for machines, with its file
// numbered in the same module table (modules.ts).
//
// A process's mappings are read when one of its addresses is first asked for and cached, so that
// its stacks still symbolize after it exits; they are read again when an address is outside them.
import { basename } from 'node:path';
import { demangle } from '../bpf/index.js';
import { hexAddr } from '../collect/symbols.js';
import { ElfFile } from '../sys/elf.js';
import { mappingAt, openablePath, readMaps, type Mapping } from '../sys/procmaps.js';
import { mappedPath, type ModuleTable } from './modules.js';

/** One user address: its frame as people read it, its location for machines (see ModuleTable). */
export interface UserFrame { frame: string; loc: string }

/** Processes whose mappings are kept (the oldest is forgotten first). */
const MAX_PROCESSES = 256;
/** Files whose symbols are kept. */
const MAX_FILES = 128;

export class UserSymbols {
  private readonly maps = new Map<number, Mapping[]>();
  private readonly files = new Map<string, ElfFile | null>();

  constructor(private readonly modules: ModuleTable) {}

  /**
   * "func+0xoff (file)", "file+0xfileoff" when the file has no symbol there, the address ("0x7f...")
   * outside any file; each with its location, "<module_id>+0x<file offset>" or that address.
   */
  symbolize(tgid: number, addrs: readonly bigint[]): UserFrame[] {
    let maps = this.maps.get(tgid);
    let refreshed = false;
    return addrs.map(addr => {
      let m = maps && mappingAt(maps, addr);
      if (!m && !refreshed) {
        refreshed = true;
        const fresh = readMaps(tgid);
        if (fresh) {
          maps = fresh;
          this.remember(tgid, fresh);
          m = mappingAt(fresh, addr);
        }
      }
      if (m) return this.inMapping(tgid, m, addr);
      const hex = hexAddr(addr);
      return { frame: hex, loc: hex };
    });
  }

  /** Mappings of tgid read earlier (while it was alive), for addresses asked for later. */
  addMaps(tgid: number, maps: Mapping[]): void {
    this.remember(tgid, maps);
  }

  private remember(tgid: number, maps: Mapping[]): void {
    this.maps.delete(tgid);
    if (this.maps.size >= MAX_PROCESSES) this.maps.delete(this.maps.keys().next().value!);
    this.maps.set(tgid, maps);
  }

  private inMapping(tgid: number, m: Mapping, addr: bigint): UserFrame {
    if (!m.path.startsWith('/')) { // anonymous, [heap], [stack], [vdso]: no file to name it by
      const hex = hexAddr(addr);
      return { frame: hex, loc: hex };
    }
    const file = basename(mappedPath(m.path));
    const elf = this.elf(tgid, m);
    const offset = Number(addr - m.start) + m.offset; // in the file: where the mapping maps it from
    const vaddr = elf?.vaddrOf(offset);
    const at = vaddr === undefined ? undefined : elf!.functionAt(vaddr);
    const frame = at ? `${demangle(at.fn.name)}+0x${at.offset.toString(16)} (${file})` : `${file}+0x${offset.toString(16)}`;
    return { frame, loc: this.modules.loc(m.path, elf?.buildId ?? null, offset) };
  }

  private elf(tgid: number, m: Mapping): ElfFile | null {
    const key = `${m.inode}:${m.path}`;
    let f = this.files.get(key);
    if (f === undefined) {
      f = null;
      for (const p of [openablePath(tgid, m), m.path]) {
        try {
          f = ElfFile.open(p);
          break;
        } catch { /* gone with the process, or not ELF: try the next, else no symbols */ }
      }
      if (this.files.size >= MAX_FILES) this.files.delete(this.files.keys().next().value!);
      this.files.set(key, f);
    }
    return f;
  }
}
