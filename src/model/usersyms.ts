// User addresses to symbols: the mapping an address falls in (/proc/PID/maps), the file offset it
// has there, and the function of that file's ELF symbols (.symtab when the file has one, else
// .dynsym) it lies in. Frame-pointer and leaf addresses from BPF come here as raw numbers; this is
// the simple ELF-symbol path, without DWARF or debuginfo (a richer symbolizer can replace it behind
// the same Symbolizer interface).
//
// A process's mappings are read when one of its addresses is first asked for and cached, so that
// its stacks still symbolize after it exits; they are read again when an address is outside them.
import { basename } from 'node:path';
import { ElfFile } from '../sys/elf.js';
import { mappingAt, openablePath, readMaps, type Mapping } from '../sys/procmaps.js';

/** Processes whose mappings are kept (the oldest is forgotten first). */
const MAX_PROCESSES = 256;
/** Files whose symbols are kept. */
const MAX_FILES = 128;

export class UserSymbols {
  private readonly maps = new Map<number, Mapping[]>();
  private readonly files = new Map<string, ElfFile | null>();

  /** "func+0xoff (file)", "[unknown] (file)" when the file has no symbol there, "[unknown]" outside any file. */
  symbolize(tgid: number, addrs: readonly bigint[]): string[] {
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
      return m ? this.inMapping(tgid, m, addr) : '[unknown]';
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

  private inMapping(tgid: number, m: Mapping, addr: bigint): string {
    if (!m.path.startsWith('/')) return m.path ? `[unknown] (${m.path})` : '[unknown]';
    const file = basename(m.path.replace(/ \(deleted\)$/, ''));
    const elf = this.elf(tgid, m);
    const vaddr = elf?.vaddrOf(Number(addr - m.start) + m.offset);
    const at = vaddr === undefined ? undefined : elf!.functionAt(vaddr);
    return at ? `${at.fn.name}+0x${at.offset.toString(16)} (${file})` : `[unknown] (${file})`;
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
