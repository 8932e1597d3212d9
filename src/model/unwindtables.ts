// The unwind tables the kernel walks user stacks with (bpf/unwind.bpf.h): for each target process,
// its executable file mappings, each with its file's rows (native/cfitable.c, from .eh_frame) and
// the bias between the process's addresses and the file's. A file's rows go into the kernel once,
// however many processes map it; a process gets its entry when it is a target at activation, when
// it is forked or exec'd, and when one of its stacks had to be copied instead (it maps code its
// entry lacks); a child also inherits its parent's entry at fork, in the kernel, before it runs.
// Tables are made on libuv's pool (a large program's take a few hundred ms); until a process has
// its entry, its stacks are copied and unwound by libdwfl as before, so none is lost meanwhile.
import { closeSync, openSync } from 'node:fs';
import type { BpfMap } from '../bpf/index.js';
import { cfiTable, elfLoads, type LoadSegment } from '../bpf/index.js';
import { pi_unwind_map, pi_unwind_proc, pi_unwind_row } from '../collect/layout.js';
import { readProcMaps, type Mapping } from './addrspaces.js';

const MAPS = pi_unwind_proc.LEN.maps / pi_unwind_map.SIZE;
const P = pi_unwind_proc.OFF, M = pi_unwind_map.OFF;
/** After a visit that changed nothing, the next waits twice as long, up to this (ms). */
const MAX_BACKOFF_MS = 5000;
const FIRST_BACKOFF_MS = 20;
/** Processes whose visits are remembered (the kernel's map holds 16384): past it, the oldest are forgotten. */
const MAX_PROCS = 16384;

interface FileRows { first: number; count: number; loads: LoadSegment[] }
interface Visit { at: number; wait: number; signature: string; busy: boolean }

export interface UnwindTablesUsage { rows: number; capacity: number; files: number; filesWithout: number; processes: number }

export class UnwindTables {
  /** Rows in use, from the start of the rows map (a bump allocator: files stay for the session). */
  private used = 0;
  /** Each file's rows by dev:ino; null: it has none (no .eh_frame_hdr, not x86_64, no room left). */
  private readonly files = new Map<string, Promise<FileRows | null | undefined>>();
  private readonly visits = new Map<number, Visit>();
  private readonly capacity: number;
  /** Bumped when processes are forgotten: an install begun before writes no entry after. */
  private generation = 0;

  /**
   * blocking: tables are made on the event loop, before the record that asked for them is handed on,
   * and a process is visited again at every copied stack: slower, but the kernel has a process's
   * tables as early as it can (PROCIMAGE_UNWIND_CHECK's comparisons do not depend on the machine's
   * speed).
   */
  constructor(private readonly rows: BpfMap, private readonly procs: BpfMap, readonly blocking = false) {
    this.capacity = rows.info.maxEntries;
  }

  /**
   * Gives the kernel tgid's tables, unless it was given them lately and its mappings did not change
   * (each visit that changed nothing doubles the wait) or a visit is under way. Never throws.
   */
  want(tgid: number, now = performance.now()): void {
    const v = this.visits.get(tgid);
    if (v && (v.busy || (!this.blocking && now - v.at < v.wait))) return;
    this.install(tgid, now).catch(() => undefined);
  }

  /** Reads tgid's mappings and writes its entry once its files' rows are in; false if it has none. */
  async install(tgid: number, now = performance.now()): Promise<boolean> {
    const maps = readProcMaps(tgid);
    if (!maps) return false;
    const exec = maps.filter(m => m.exec && m.path.startsWith('/') && m.ino !== 0);
    const signature = exec.map(m => `${m.start}:${m.ino}`).join(',');
    let v = this.visits.get(tgid);
    if (v) {
      v.wait = v.signature === signature ? Math.min(v.wait * 2, MAX_BACKOFF_MS) : FIRST_BACKOFF_MS;
      v.at = now;
      v.signature = signature;
    } else {
      if (this.visits.size >= MAX_PROCS) this.visits.delete(this.visits.keys().next().value as number);
      this.visits.set(tgid, v = { at: now, wait: FIRST_BACKOFF_MS, signature, busy: false });
    }
    const generation = this.generation;
    v.busy = true;
    try {
      const files = await Promise.all(exec.slice(0, MAPS).map(m => this.fileRows(tgid, m)));
      if (generation !== this.generation) return false;
      const entry = Buffer.alloc(pi_unwind_proc.SIZE);
      let n = 0;
      exec.slice(0, MAPS).forEach((m, i) => {
        const file = files[i];
        const bias = file ? biasOf(file.loads, m) : undefined;
        if (!file || bias === undefined) return;
        const at = P.maps + n * pi_unwind_map.SIZE;
        entry.writeBigUInt64LE(BigInt(m.start), at + M.start);
        entry.writeBigUInt64LE(BigInt(m.end), at + M.end);
        entry.writeBigUInt64LE(BigInt.asUintN(64, BigInt(bias)), at + M.bias);
        entry.writeUInt32LE(file.first, at + M.first);
        entry.writeUInt32LE(file.count, at + M.count);
        n++;
      });
      if (n === 0) return false;
      entry.writeUInt32LE(n, P.n);
      const key = Buffer.alloc(4);
      key.writeUInt32LE(tgid);
      this.procs.update(key, entry); // throws if full: this process's stacks stay copied
      return true;
    } finally {
      v.busy = false;
    }
  }

  /** A file's rows, read and put into the kernel once (concurrent askers share the one read). */
  private fileRows(tgid: number, m: Mapping): Promise<FileRows | null> {
    const key = `${m.dev}:${m.ino}`;
    let f = this.files.get(key);
    if (!f) {
      const read = this.readFile(tgid, m);
      this.files.set(key, f = read);
      // a file that could not be opened (gone, remapped since the maps were read) is not known to
      // have no tables: asked again next time
      read.then(r => { if (r === undefined && this.files.get(key) === read) this.files.delete(key); },
        () => { if (this.files.get(key) === read) this.files.delete(key); });
    }
    return f.then(r => r ?? null, () => null);
  }

  private async readFile(tgid: number, m: Mapping): Promise<FileRows | null | undefined> {
    const fd = openMapped(tgid, m);
    if (fd === undefined) return undefined;
    let loads: LoadSegment[] | undefined, rows: Buffer | undefined;
    try {
      loads = elfLoads(`/proc/self/fd/${fd}`);
      rows = loads && await cfiTable(`/proc/self/fd/${fd}`, pi_unwind_row.SIZE, this.blocking);
    } finally {
      closeSync(fd);
    }
    const count = rows ? rows.length / pi_unwind_row.SIZE : 0;
    if (!loads || !rows || count === 0 || this.used + count > this.capacity) return null;
    const first = this.used;
    this.used += count;
    const keys = new Uint32Array(count);
    for (let i = 0; i < count; i++) keys[i] = first + i;
    this.rows.updateBatch(new Uint8Array(keys.buffer), rows);
    return { first, count, loads };
  }

  /** tgid exec'd: the kernel dropped its entry; the new image's is wanted now. */
  execd(tgid: number): void {
    const v = this.visits.get(tgid);
    if (v && !v.busy) this.visits.delete(tgid);
  }

  /**
   * Forgets the processes (the kernel's entries too). Files' rows stay for the next activation,
   * unless they fill most of the map: then they go too, and are read again when needed.
   */
  clearProcesses(): void {
    this.generation++;
    this.procs.clear();
    this.visits.clear();
    if (this.used > this.capacity * 0.75) {
      this.files.clear();
      this.used = 0;
    }
  }

  usage(): UnwindTablesUsage {
    return { rows: this.used, capacity: this.capacity, files: this.files.size, filesWithout: 0, processes: this.visits.size };
  }
}

/** Runtime address - file address for a mapping: through the PT_LOAD segment its file offset is in. */
function biasOf(loads: LoadSegment[], m: Mapping): number | undefined {
  const seg = loads.find(s => s.offset - (s.offset % 4096) <= m.pgoff && m.pgoff < s.offset + s.filesz);
  return seg && m.start - m.pgoff - seg.vaddr + seg.offset;
}

/**
 * The file a mapping shows, as that process sees it (its mount namespace; even if deleted since),
 * opened once: a process's mappings change under us (a loader splits them), and the path through
 * map_files names one range. Else through the process's root. Undefined if neither opens.
 */
function openMapped(tgid: number, m: Mapping): number | undefined {
  for (const path of [`/proc/${tgid}/map_files/${m.start.toString(16)}-${m.end.toString(16)}`, `/proc/${tgid}/root${m.path}`]) {
    try {
      return openSync(path, 'r');
    } catch { /* the next */ }
  }
  return undefined;
}
