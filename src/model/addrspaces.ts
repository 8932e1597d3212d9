// What each process had mapped at the moment a stack was captured, kept after the process is gone.
//
// Processes started while procimage collects are known from perf's side-band (src/bpf/sideband.ts):
// every executable mapping, exec and fork, with the kernel's own paths and times. Those records are
// replayed in time order up to the time of each capture, so a stack is symbolized against the image
// it was taken in — also when the process has exec'd or exited since. Processes that existed before
// activation are read once from /proc/PID/maps (they are alive then), and kept up to date by the
// side-band afterwards.
import { readFileSync, statSync } from 'node:fs';
import type { SidebandRecord, Unwinder } from '../bpf/index.js';
import type { Clock } from '../collect/clock.js';
import { ForeignFiles } from './foreignfiles.js';

export interface Mapping {
  start: number; end: number; pgoff: number; dev: number; ino: number; path: string; exec: boolean;
  /** The path procimage opens the file by, where `path` does not name it here (ForeignFiles). */
  open?: string;
}

interface Proc {
  maps: Mapping[];   // sorted by start, not overlapping
  version: number;   // bumped by every change
  space: Space | undefined; // the unwinder's address space of these maps (shared), once asked for
  setVersion: number; // the version `space` is of (-1: none)
  exeIno: number;    // inode of its executable (0 unknown)
  moved: number;     // when it last moved to the end of the LRU order (AddressSpaces.moves)
}

type Event =
  | { t: number; kind: 'map'; pid: number; m: Mapping }
  | { t: number; kind: 'exec'; pid: number }
  | { t: number; kind: 'fork'; pid: number; ppid: number };

const KEEP = 2048; // processes remembered (LRU)

/**
 * An address space of the unwinder: one per distinct maps text, shared by every process that has
 * exactly those maps. A fork storm's children (fork without exec) map what their parent maps: one
 * libdwfl session for all of them, not one each (each session reads its modules' DWARF again: ~0.4
 * MB of C heap a module, and its CPU, found under `stress-ng --fork`). An id stands for one text for
 * good (never reused), so (id, version 0) names what an address means.
 */
interface Space { id: number; version: 0; text: string; refs: number }

export class AddressSpaces {
  private readonly procs = new Map<number, Proc>();
  /** The unwinder's spaces by their maps text. */
  private readonly spaces = new Map<string, Space>();
  private queue: Event[] = [];
  private nextId = 1;
  /** Moves to the end of `procs`' order so far: the LRU clock. */
  private moves = 0;
  /** Side-band records the kernel could not hand over: stacks of those moments may not symbolize. */
  lost = 0;
  /** Files of processes in other mount namespaces, opened while they live. */
  private readonly files = new ForeignFiles();

  constructor(private readonly unwinder: Unwinder, private readonly clock: Clock) {}

  /**
   * Forgets every process (the caller has the unwinder forget their spaces). At the end of an
   * activation: the stacks are symbolized by then, and a pid seen again later may be another process.
   */
  clear(): void {
    this.procs.clear();
    this.spaces.clear();
    this.files.clear();
    this.queue = [];
    this.lost = 0;
  }

  /** Side-band records, in whatever order the CPUs' rings gave them. */
  add(records: SidebandRecord[]): void {
    for (const r of records) {
      if (r.kind === 'lost') { this.lost += r.count; continue; }
      const t = this.clock.fromParts(Number(r.time >> 32n), Number(r.time & 0xffffffffn));
      if (r.kind === 'map') {
        // its file resolved now, while the process surely still has it
        const open = this.files.resolve(r.pid, r.path, r.ino);
        this.queue.push({ t, kind: 'map', pid: r.pid, m: { start: r.addr, end: r.addr + r.size, pgoff: r.pgoff, dev: r.dev,
          ino: r.ino, path: r.path, exec: (r.prot & 4) !== 0, ...(open !== r.path ? { open } : {}) } });
      } else if (r.kind === 'exec') {
        this.queue.push({ t, kind: 'exec', pid: r.pid });
      } else {
        this.queue.push({ t, kind: 'fork', pid: r.pid, ppid: r.ppid });
      }
    }
    this.queue.sort((a, b) => a.t - b.t);
  }

  /** Applies every side-band record up to time t (the capture about to be symbolized). */
  advance(t: number): void {
    let i = 0;
    for (; i < this.queue.length && this.queue[i].t <= t; i++) {
      const e = this.queue[i];
      if (e.kind === 'exec') this.replace(e.pid, []);
      else if (e.kind === 'fork') this.replace(e.pid, [...(this.procs.get(e.ppid)?.maps ?? readProcMaps(e.ppid) ?? [])]);
      else this.map(e.pid, e.m);
    }
    if (i) this.queue = this.queue.slice(i);
  }

  /**
   * The unwinder's address space for a capture of tgid whose executable has inode exeIno (0:
   * unknown), defined in the unwinder as it was at the capture: its id, and the version of its
   * mappings (an address means the same thing for the same id and version). Undefined when not known.
   */
  spaceFor(tgid: number, exeIno: number): Readonly<Pick<Space, 'id' | 'version'>> | undefined {
    let p = this.procs.get(tgid);
    if (!p) p = this.seed(tgid);
    if (!p || p.maps.length === 0) return undefined;
    // a capture of another image than the one these maps describe (read from /proc after an exec)
    if (exeIno && p.exeIno && p.exeIno !== exeIno) return undefined;
    this.touch(tgid, p);
    if (p.setVersion !== p.version || !p.space) {
      const text = mapsText(p.maps);
      if (p.space?.text !== text) {
        this.release(p);
        let space = this.spaces.get(text);
        if (!space) {
          space = { id: this.nextId++, version: 0, text, refs: 0 };
          if (!this.unwinder.setSpace(space.id, text)) return undefined;
          this.spaces.set(text, space);
        }
        space.refs++;
        p.space = space;
      }
      p.setVersion = p.version;
    }
    return p.space;
  }

  /** p no longer holds its space: the last process to hold one has the unwinder drop it. */
  private release(p: Proc): void {
    const s = p.space;
    p.space = undefined;
    if (!s || --s.refs > 0) return;
    this.unwinder.dropSpace(s.id);
    this.spaces.delete(s.text);
  }

  /** The unwinder forgets the least recently used spaces: define this one again. */
  redefine(id: number): boolean {
    for (const s of this.spaces.values()) if (s.id === id) return this.unwinder.setSpace(s.id, s.text);
    return false;
  }

  /** A process that existed before activation: what /proc says now (it is alive when first asked). */
  seed(tgid: number): Proc | undefined {
    const maps = readProcMaps(tgid);
    if (!maps?.length) return undefined;
    for (const m of maps) {
      const open = this.files.resolve(tgid, m.path, m.ino);
      if (open !== m.path) m.open = open;
    }
    let exeIno = 0;
    try { exeIno = statSync(`/proc/${tgid}/exe`).ino; } catch { /* gone meanwhile */ }
    const p = this.replace(tgid, maps);
    p.exeIno = exeIno;
    return p;
  }

  private replace(tgid: number, maps: Mapping[]): Proc {
    const old = this.procs.get(tgid);
    if (old) this.release(old);
    const p: Proc = { maps, version: 1, space: undefined, setVersion: -1, exeIno: 0, moved: -KEEP };
    this.touch(tgid, p);
    if (this.procs.size > KEEP) {
      const [oldest, op] = this.procs.entries().next().value as [number, Proc];
      this.release(op);
      this.procs.delete(oldest);
    }
    return p;
  }

  private map(tgid: number, m: Mapping): void {
    // a process from before activation maps something: start from what it had
    const p = this.procs.get(tgid) ?? this.seed(tgid) ?? this.replace(tgid, []);
    // a new mapping replaces whatever it overlaps (mmap's MAP_FIXED semantics)
    const kept: Mapping[] = [];
    for (const o of p.maps) {
      if (o.end <= m.start || o.start >= m.end) { kept.push(o); continue; }
      if (o.start < m.start) kept.push({ ...o, end: m.start });
      if (o.end > m.end) kept.push({ ...o, start: m.end, pgoff: o.pgoff + (m.end - o.start) });
    }
    kept.push(m);
    kept.sort((a, b) => a.start - b.start);
    p.maps = kept;
    p.version++;
    // the first mapping after an exec is the executable itself
    if (!p.exeIno && m.ino && m.exec && p.maps.length === 1) p.exeIno = m.ino;
  }

  /**
   * Least recently used order is the Map's: a used process moves to its end, but only once it is in
   * the older half (a delete and an insert for every capture cost ~7% of the daemon under a fork
   * storm). What is evicted — the first — was not used in the last KEEP / 2 moves.
   */
  private touch(tgid: number, p: Proc): void {
    if (this.moves - p.moved < KEEP / 2 && this.procs.get(tgid) === p) return;
    this.procs.delete(tgid);
    this.procs.set(tgid, p);
    p.moved = this.moves++;
  }
}

/** /proc/PID/maps as mappings; undefined if the process is gone (or a zombie: nothing mapped). */
export function readProcMaps(tgid: number): Mapping[] | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${tgid}/maps`, 'utf8');
  } catch {
    return undefined;
  }
  const out: Mapping[] = [];
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) ([0-9a-f]+):([0-9a-f]+) (\d+)\s*(.*)$/.exec(line);
    if (!m) continue;
    out.push({ start: parseInt(m[1], 16), end: parseInt(m[2], 16), exec: m[3][2] === 'x', pgoff: parseInt(m[4], 16),
      dev: (parseInt(m[5], 16) << 20) | parseInt(m[6], 16), ino: Number(m[7]), path: m[8] });
  }
  return out.length ? out : undefined;
}

const hex = (n: number) => n.toString(16);

/**
 * The mappings as /proc/PID/maps text, for libdwfl. The side-band reports executable mappings only,
 * and libdwfl takes a module's load address from its lowest mapping: a file's first line must be
 * where its offset 0 lies, so an executable mapping at a file offset gets a line before it for the
 * part of the file below it (what the r--p mapping there really is).
 */
export function mapsText(maps: Mapping[]): string {
  const lines: string[] = [];
  let prevEnd = 0, prevIno = -1;
  for (const m of maps) {
    if (!m.path || (m.path.startsWith('[') && m.path !== '[vdso]')) continue; // anonymous: nothing to read
    const dev = `${hex(m.dev >>> 20).padStart(2, '0')}:${hex(m.dev & 0xfffff).padStart(2, '0')}`;
    if (m.pgoff > 0 && m.ino && m.ino !== prevIno && m.start - m.pgoff >= prevEnd) {
      lines.push(`${hex(m.start - m.pgoff)}-${hex(m.start)} r--p 00000000 ${dev} ${m.ino} ${m.open ?? m.path}`);
    }
    lines.push(`${hex(m.start)}-${hex(m.end)} r${m.exec ? '-x' : '--'}p ${hex(m.pgoff).padStart(8, '0')} ${dev} ${m.ino} ${m.open ?? m.path}`);
    prevEnd = m.end;
    prevIno = m.ino;
  }
  return lines.join('\n') + '\n';
}
