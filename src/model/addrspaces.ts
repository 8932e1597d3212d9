// What each process had mapped, read from /proc/PID/maps while it lives and kept after it is gone,
// so that a stack captured before a process exited still unwinds and symbolizes. An address space is
// re-read when a stack points outside every executable mapping (a library loaded since), and
// forgotten when the process execs (a new image).
import { readFileSync, statSync } from 'node:fs';
import type { Unwinder } from '../bpf/index.js';

export interface Space {
  id: number;  // the unwinder's address-space id
  maps: string;
  exec: Array<[number, number]>; // executable ranges, sorted
  exeIno: number; // inode of /proc/PID/exe when read: a capture of another image must not use these maps
  readAt: number; // Date.now() of the read
}

const KEEP = 1024;         // address spaces remembered (LRU); a few KiB each
const REREAD_MIN_MS = 50;  // a process is re-read at most this often

export class AddressSpaces {
  private readonly byTgid = new Map<number, Space>();
  private nextId = 1;

  constructor(private readonly unwinder: Unwinder) {}

  /** The process's address space: cached, or read now. Undefined if it is gone and was never read. */
  get(tgid: number): Space | undefined {
    const s = this.byTgid.get(tgid);
    if (s) {
      this.byTgid.delete(tgid); // refresh LRU order
      this.byTgid.set(tgid, s);
      return s;
    }
    return this.read(tgid);
  }

  /** The space that covers pc: re-read once if pc lies outside every executable mapping. */
  covering(tgid: number, pc: number): Space | undefined {
    const s = this.get(tgid);
    if (s && (inRanges(s.exec, pc) || Date.now() - s.readAt < REREAD_MIN_MS)) return s;
    return this.read(tgid) ?? s;
  }

  /** exec replaced the image: the old mappings no longer apply. */
  forget(tgid: number): void {
    const s = this.byTgid.get(tgid);
    if (s) this.unwinder.dropSpace(s.id);
    this.byTgid.delete(tgid);
  }

  /** The unwinder evicts spaces it has not used lately: define it again from the kept text. */
  redefine(s: Space): boolean {
    return this.unwinder.setSpace(s.id, s.maps);
  }

  private read(tgid: number): Space | undefined {
    let maps: string, exeIno: number;
    try {
      maps = readFileSync(`/proc/${tgid}/maps`, 'utf8');
      exeIno = statSync(`/proc/${tgid}/exe`).ino;
    } catch {
      return undefined; // gone
    }
    const exec = parseExec(maps);
    if (exec.length === 0) return undefined; // a zombie: mm already released
    const old = this.byTgid.get(tgid);
    const s: Space = { id: old?.id ?? this.nextId++, maps, exec, exeIno, readAt: Date.now() };
    if (!this.unwinder.setSpace(s.id, maps)) return old;
    this.byTgid.delete(tgid);
    this.byTgid.set(tgid, s);
    if (this.byTgid.size > KEEP) {
      const [oldest, os] = this.byTgid.entries().next().value as [number, Space];
      this.unwinder.dropSpace(os.id);
      this.byTgid.delete(oldest);
    }
    return s;
  }
}

/** Executable mappings of a maps text: "start-end perms offset dev inode path". */
export function parseExec(maps: string): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const line of maps.split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) ..x/.exec(line);
    if (m) out.push([parseInt(m[1], 16), parseInt(m[2], 16)]);
  }
  return out.sort((a, b) => a[0] - b[0]);
}

function inRanges(r: Array<[number, number]>, pc: number): boolean {
  let a = 0, b = r.length - 1;
  while (a <= b) {
    const m = (a + b) >>> 1;
    if (pc < r[m][0]) b = m - 1;
    else if (pc >= r[m][1]) a = m + 1;
    else return true;
  }
  return false;
}
