// --pprof OUT.pb.gz: off-CPU time by stack as a pprof profile (github.com/google/pprof, proto/profile.proto),
// written with a kept encoder (pprof-format). Sample types: off-CPU intervals (count) and time (ns), and
// with lock data lock waits (count) and wait time (ns); the default is off-CPU time. Every sample has
// its kernel and user frames (innermost first, as pprof wants them) and labels for the thread, the
// process and the state (the lock for a lock wait).
//
// Every user location carries its mapping: the file as the process mapped it and its build ID (from
// the recording's `module` records), and the frame's offset in that file. Each file is given its own
// range of addresses starting at a multiple of 2^40, mapped from file offset 0, so that
// address - memory_start + file_offset is the file offset: what pprof, llvm-symbolizer or Pyroscope
// need to symbolize later what procimage could not (a stripped binary whose debug info is elsewhere).
import { gzipSync } from 'node:zlib';
import { Function as PFunction, Label, Line, Location, Mapping, Profile, Sample, StringTable, ValueType } from 'pprof-format';
import { parseFrame } from '../../collect/frames.js';
import type { LockRecord, ModuleRecord, OffCpuAggRecord, OffCpuRecord, ProcRecord } from '../../collect/records.js';
import type { SessionSummary } from '../../model/session.js';
import { VERSION } from '../../sys/version.js';
import { describePolicy } from '../../collect/policy.js';
import { OutFile, type ExportContext, type Exporter } from './exporter.js';
import { kernelFrameName } from './stackframes.js';

const RANGE = 1n << 40n;
const KERNEL = '[kernel.kallsyms]';

interface Agg { locations: number[]; labels: Label[]; values: number[] }

export class PprofExport implements Exporter {
  private readonly strings = new StringTable();
  private readonly mappings: Mapping[] = [];
  private readonly mappingOf = new Map<number, Mapping>(); // by module_id
  private readonly unresolved = new Set<Mapping>();
  private kernelMapping: Mapping | undefined;
  private readonly functions = new Map<string, PFunction>();
  private readonly locations = new Map<string, Location>();
  private readonly samples = new Map<string, Agg>();
  /** The last record of each (lock, thread): lock records are totals since activation. */
  private readonly locks = new Map<string, LockRecord>();
  private readonly withLocks: boolean;

  constructor(private readonly file: string, private readonly ctx: ExportContext) {
    this.withLocks = ctx.header.policy.categories.includes('lock');
  }

  private s(x: string): number { return this.strings.dedup(x); }

  private fn(name: string, file: string | null): number {
    const key = `${name}\0${file ?? ''}`;
    let f = this.functions.get(key);
    if (!f) {
      f = new PFunction({ id: this.functions.size + 1, name: this.s(name), systemName: this.s(name), filename: this.s(file ?? '') });
      this.functions.set(key, f);
    }
    return Number(f.id);
  }

  private location(key: string, make: () => Omit<ConstructorParameters<typeof Location>[0], 'id'>): number {
    let l = this.locations.get(key);
    if (!l) {
      l = new Location({ ...make(), id: this.locations.size + 1 });
      this.locations.set(key, l);
    }
    return Number(l.id);
  }

  private module(r: ModuleRecord): void {
    const start = BigInt(this.mappings.length + 1) * RANGE;
    const m = new Mapping({
      id: this.mappings.length + 1, memoryStart: start, memoryLimit: start + RANGE - 1n, fileOffset: 0,
      filename: this.s(r.path), buildId: this.s(r.build_id ?? ''), hasFunctions: true, hasFilenames: true, hasLineNumbers: true,
    });
    this.mappings.push(m);
    this.mappingOf.set(r.module_id, m);
  }

  private userLocations(frames: readonly string[], locs: readonly string[] | null | undefined): number[] {
    return frames.map((f, i) => {
      const loc = locs?.[i];
      const p = parseFrame(f, 'user');
      const line = p.kind === 'symbol' ? [new Line({ functionId: this.fn(p.fn!, p.file), line: p.line ?? 0 })] : [];
      const at = loc && /^(\d+)\+0x([0-9a-f]+)$/.exec(loc);
      const m = at ? this.mappingOf.get(Number(at[1])) : undefined;
      if (at && m) {
        if (!line.length) this.unresolved.add(m);
        return this.location(`u${loc}`, () => ({ mappingId: m.id, address: BigInt(m.memoryStart) + BigInt(`0x${at[2]}`), line }));
      }
      // no file: the runtime address, or the frame as printed (a recording without locations)
      const addr = p.kind === 'address' ? p.address! : 0n;
      return this.location(`f${f}`, () => ({ mappingId: 0, address: addr, line: line.length ? line : [new Line({ functionId: this.fn(f, null) })] }));
    });
  }

  private kernelLocations(frames: readonly string[]): number[] {
    if (frames.length && !this.kernelMapping) {
      this.kernelMapping = new Mapping({ id: this.mappings.length + 1, filename: this.s(KERNEL), hasFunctions: true });
      this.mappings.push(this.kernelMapping);
    }
    return frames.map(f => this.location(`k${f}`, () => ({
      mappingId: this.kernelMapping!.id, line: [new Line({ functionId: this.fn(kernelFrameName(f), null) })],
    })));
  }

  private add(locations: number[], labels: Array<[string, string | number]>, values: number[]): void {
    const key = `${locations.join(',')}|${labels.map(([k, v]) => `${k}=${v}`).join(',')}`;
    const a = this.samples.get(key);
    if (a) {
      values.forEach((v, i) => { a.values[i] += v; });
      return;
    }
    this.samples.set(key, {
      locations, values,
      labels: labels.map(([k, v]) => (typeof v === 'number' ? new Label({ key: this.s(k), num: v }) : new Label({ key: this.s(k), str: this.s(v) }))),
    });
  }

  record(r: ProcRecord): void {
    if (r.type === 'module') this.module(r);
    else if (r.type === 'offcpu' || r.type === 'offcpu_agg') this.offcpu(r);
    else if (r.type === 'lock') this.locks.set(`${r.source}|${r.kind}|${r.mode}|${r.addr}|${r.pid}`, r);
  }

  /** An interval, or the short ones of a stack an offcpu_agg record counts. */
  private offcpu(r: OffCpuRecord | OffCpuAggRecord): void {
    const [n, ns] = r.type === 'offcpu_agg' ? [r.count, r.total_ns] : [1, r.duration_ns];
    if (ns === null) return;
    const locations = [...this.kernelLocations(r.kstack), ...this.userLocations(r.ustack, r.ustack_locs)];
    const values = this.withLocks ? [n, ns, 0, 0] : [n, ns];
    this.add(locations, [['thread', r.comm], ['tid', r.pid], ['pid', r.tgid], ['state', `${r.state} ${r.state_name}`]], values);
  }

  private lock(r: LockRecord): void {
    if (r.wait_total_ns === 0 && r.contended === 0) return;
    // the lock itself as the innermost frame, so a flame graph splits the waits by lock
    const what = `${r.kind}${r.mode ? ` (${r.mode})` : ''} ${r.symbol ?? r.addr}`;
    const leaf = this.location(`l${what}`, () => ({ mappingId: 0, line: [new Line({ functionId: this.fn(`[lock] ${what}`, null) })] }));
    const stack = r.source === 'kernel' ? this.kernelLocations(r.kstack ?? []) : this.userLocations(r.ustack ?? [], r.ustack_locs);
    this.add([leaf, ...stack], [['thread', r.comm], ['tid', r.pid], ['pid', r.tgid], ['lock_source', r.source], ['lock_kind', r.kind],
      ['lock', r.symbol ?? r.addr]], [0, 0, r.contended, r.wait_total_ns]);
  }

  async finish(summary: SessionSummary | undefined): Promise<string> {
    for (const r of this.locks.values()) this.lock(r);
    for (const m of this.unresolved) m.hasFunctions = false; // pprof may symbolize these
    const h = this.ctx.header;
    const types: Array<[string, string]> = [['offcpu_intervals', 'count'], ['offcpu', 'nanoseconds'],
      ...(this.withLocks ? [['lock_waits', 'count'], ['lock_wait', 'nanoseconds']] as Array<[string, string]> : [])];
    const sampleType = types.map(([type, unit]) => new ValueType({ type: this.s(type), unit: this.s(unit) }));
    const profile = new Profile({
      sampleType,
      sample: [...this.samples.values()].map(a => new Sample({ locationId: a.locations, value: a.values, label: a.labels })),
      mapping: this.mappings, location: [...this.locations.values()], function: [...this.functions.values()],
      stringTable: this.strings,
      timeNanos: this.ctx.clock.toAbsolute(0) + h.realtime_offset_ns,
      durationNanos: summary?.duration_ns ?? 0,
      periodType: sampleType[1], period: 1,
      defaultSampleType: this.s('offcpu'),
      comment: [this.s(`procimage ${VERSION}: ${describePolicy(h.policy)}`), this.s(`${h.host} (${h.kernel}), ${h.started_at}`)],
    });
    const out = new OutFile(this.file);
    out.writeBytes(gzipSync(profile.encode()));
    out.close();
    const offcpu = [...this.samples.values()].reduce((t, a) => t + a.values[1], 0);
    return `wrote ${out.path}: pprof profile (${this.samples.size} samples, ${offcpu} ns off CPU` +
      `${this.withLocks ? `, ${this.locks.size} locks` : ''}; ${this.mappings.length} mappings)`;
  }
}
