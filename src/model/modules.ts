// The files user stacks go through, numbered for the records' `ustack_locs` ("<module_id>+0x<file
// offset>"): a tool that symbolizes later (pprof, Pyroscope) needs the file, its build ID and the
// offset in it, and a number per file keeps each location short. Both symbolizers (stacks.ts for
// off-CPU stacks, usersyms.ts for lock stacks) number files here, so one file has one id in both.
//
// A `module` record goes out once per activation, just before the first record that names the
// module, with that record's pid, tgid, comm and ts_ns (Session.emit asks before each record). A
// module met in a stack whose record never goes out (a scrape's, an interval whose end was lost)
// is written only if a later record names it. Ids keep counting across activations: one never
// names two files within a procimage process.
import type { ModuleRecord, ProcRecord } from '../collect/records.js';

interface Module { id: number; path: string; buildId: string | null; written: boolean }

const NO_MODULES: readonly Module[] = [];

/** The path as the process mapped it, without the " (deleted)" the kernel adds to a replaced file's. */
export const mappedPath = (path: string): string => path.replace(/ \(deleted\)$/, '');

export class ModuleTable {
  private nextId = 1;
  private byKey = new Map<string, Module>();
  private byId = new Map<number, Module>();
  /** Modules numbered but not written yet: while there are none, emit() asks nothing of a record. */
  private unwritten = 0;
  /** The modules a frozen (shared, per distinct stack) locations array names, worked out once. */
  private namedBy = new WeakMap<readonly string[], readonly Module[]>();

  /** The id of a file (path as mapped, build ID in hex or null), numbered on first sight. */
  id(path: string, buildId: string | null): number {
    const p = mappedPath(path);
    const key = `${buildId ?? ''}\0${p}`;
    let m = this.byKey.get(key);
    if (!m) {
      m = { id: this.nextId++, path: p, buildId, written: false };
      this.byKey.set(key, m);
      this.byId.set(m.id, m);
      this.unwritten++;
    }
    return m.id;
  }

  /** "<id>+0x<offset>": a location in a file. */
  loc(path: string, buildId: string | null, fileOffset: number): string {
    return `${this.id(path, buildId)}+0x${fileOffset.toString(16)}`;
  }

  /**
   * The `module` records that must go out before r: the modules its locations name that no record
   * went out with yet (marked written now). Undefined, at the cost of one comparison, once every
   * module numbered so far is written.
   */
  before(r: ProcRecord): ModuleRecord[] | undefined {
    if (this.unwritten === 0 || (r.type !== 'offcpu' && r.type !== 'lock')) return undefined;
    const locs = r.ustack_locs;
    if (!locs?.length) return undefined;
    let out: ModuleRecord[] | undefined;
    for (const m of this.named(locs)) {
      if (m.written) continue;
      m.written = true;
      this.unwritten--;
      (out ??= []).push({ type: 'module', ts_ns: r.ts_ns, pid: r.pid, tgid: r.tgid, comm: r.comm, module_id: m.id,
        path: m.path, build_id: m.buildId });
    }
    return out;
  }

  private named(locs: readonly string[]): readonly Module[] {
    const frozen = Object.isFrozen(locs);
    let ms = frozen ? this.namedBy.get(locs) : undefined;
    if (ms) return ms;
    const found = new Set<Module>();
    for (const l of locs) {
      if (l.startsWith('0x')) continue; // no file: a runtime address
      const m = this.byId.get(parseInt(l, 10));
      if (m) found.add(m);
    }
    ms = found.size ? [...found] : NO_MODULES;
    if (frozen) this.namedBy.set(locs, ms);
    return ms;
  }

  /** Forgets every module (at deactivation: files may change before the next); ids keep counting. */
  clear(): void {
    this.byKey = new Map();
    this.byId = new Map();
    this.namedBy = new WeakMap();
    this.unwritten = 0;
  }
}
