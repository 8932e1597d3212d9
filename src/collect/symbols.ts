// What collectors ask of a symbolizer when they turn addresses into records. The interface lives
// here, the implementation in src/model (kallsyms, ELF symbols of the mapped files), and the session
// hands one to every poll: collectors depend on what it does, not on how.
import type { Mapping } from '../sys/procmaps.js';

export interface Symbolizer {
  /** Kernel text addresses (stack frames), each as "func+0xoff" or "[unknown]". */
  kernelStack(addrs: readonly bigint[]): string[];
  /**
   * A kernel data address (a lock) as "symbol+0xoff", or null where it is not a kernel symbol: slab
   * and per-CPU memory, or a kernel whose kallsyms lists no data symbols (no CONFIG_KALLSYMS_ALL).
   */
  kernelData(addr: bigint): string | null;
  /**
   * User addresses of process tgid: frames ("func+0xoff (file)", "file+0xfileoff" where the file
   * has no symbol there, "0x7f..." outside any file) and, parallel to them, locations
   * ("<module_id>+0x<file offset>", or the address outside any file), as offcpu's `ustack_locs`.
   */
  userStack(tgid: number, addrs: readonly bigint[]): UserFrames;
  /** The mappings of process tgid, read while it was alive: its addresses symbolize after it is gone. */
  addMaps(tgid: number, maps: Mapping[]): void;
}

/** A user stack symbolized: frames as people read them, locations for tools that symbolize later. */
export interface UserFrames { frames: string[]; locs: string[] }

/** Addresses as JSON-safe strings: "0xffffffff81234567" (past 2^53 a JS number is not exact). */
export const hexAddr = (a: bigint): string => `0x${a.toString(16)}`;
