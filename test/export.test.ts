// The exports, from recordings of real runs: Perfetto's Trace Event JSON, pprof (decoded with the kept
// decoder), folded stacks; each checked against the records of the same run.
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Profile } from 'pprof-format';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, tempDir, workload } from './helpers.js';

type Rec = Record<string, unknown> & { type: string; pid: number; tgid: number; ts_ns: number };
const parse = (out: string): Rec[] => out.trim().split('\n').filter(Boolean).map(l => JSON.parse(l));
const dir = tempDir();
afterAll(() => execFileSync('rm', ['-rf', dir]));

interface TraceEvent {
  ph: string; name: string; cat?: string; pid: number; tid: number; ts: number; dur?: number;
  args?: Record<string, unknown>; bind_id?: number; flow_in?: boolean; flow_out?: boolean;
}
/** ns as Perfetto's JSON importer reads a µs value: multiplied by 1000 and truncated. */
const ns = (us: number) => Math.trunc(us * 1000);

/** The run-then-sleep workload (20 ms on the CPU, then 1 s in nanosleep, 3 times), every category. */
let sleepRecs: Rec[];
let sleepRec: string;
beforeAll(async () => {
  sleepRec = join(dir, 'runsleep.rec');
  const r = await cli(['trace', '--json', '--record', sleepRec, '-k', '1', '-r', '-S', '--', workload('runsleep'), '3', '1000']);
  expect(r.code, r.stderr).toBe(0);
  sleepRecs = parse(r.stdout);
});

const offcpuTotal = (recs: Rec[]) => recs.filter(x => x.type === 'offcpu' && x.duration_ns !== null)
  .reduce((t, x) => t + (x.duration_ns as number), 0);
/** With the short intervals counted in the kernel (offcpu_agg, --offcpu-min): what the by-stack exports weigh. */
const offcpuAll = (recs: Rec[]) => offcpuTotal(recs) + recs.filter(x => x.type === 'offcpu_agg').reduce((t, x) => t + (x.total_ns as number), 0);
const offcpuCount = (recs: Rec[]) => recs.filter(x => x.type === 'offcpu' && x.duration_ns !== null).length +
  recs.filter(x => x.type === 'offcpu_agg').reduce((t, x) => t + (x.count as number), 0);

describe('--perfetto', () => {
  let events: TraceEvent[];
  beforeAll(async () => {
    const out = join(dir, 'runsleep.json');
    const r = await cli(['report', sleepRec, '--perfetto', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/wrote .*runsleep\.json: Trace Event JSON for the Perfetto UI/);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const json = JSON.parse(readFileSync(out, 'utf8')) as { traceEvents: TraceEvent[]; metadata: Record<string, string> };
    expect(json.metadata.policy).toMatch(/process \d+/);
    events = json.traceEvents;
  });

  it('has exactly the sleeps on the workload\'s thread, each ~1 s, with its stacks', () => {
    const exec = sleepRecs.find(x => x.type === 'exec')!;
    const sleeps = events.filter(e => e.ph === 'X' && e.cat === 'offcpu' && e.name.startsWith('sleeping'));
    expect(sleeps).toHaveLength(3);
    for (const s of sleeps) {
      expect(s).toMatchObject({ pid: exec.tgid, tid: exec.pid, name: 'sleeping · do_nanosleep' });
      expect(ns(s.dur!)).toBeGreaterThanOrEqual(1e9);
      // no more than the life of the process (how much over 1 s depends on the machine's load)
      expect(ns(s.dur!)).toBeLessThan((sleepRecs.find(x => x.type === 'exit' && x.pid === exec.pid)!.ts_ns as number) - (exec.ts_ns as number));
      expect(s.args!.kstack).toEqual(expect.arrayContaining([expect.stringMatching(/^do_nanosleep\+/)]));
      expect((s.args!.ustack as string[]).some(f => /^main\+/.test(f))).toBe(true);
    }
    const proc = events.find(e => e.ph === 'M' && e.name === 'process_name' && e.pid === exec.tgid);
    expect(proc?.args?.name).toBe('runsleep');
    expect(events.some(e => e.ph === 'M' && e.name === 'thread_name' && e.tid === exec.pid)).toBe(true);
  });

  it('per thread, slices are in time order and do not overlap, as Perfetto reads their times', () => {
    const byThread = new Map<number, TraceEvent[]>();
    for (const e of events) {
      if (e.ph !== 'X' || (e.cat !== 'oncpu' && e.cat !== 'offcpu')) continue;
      byThread.set(e.tid, [...byThread.get(e.tid) ?? [], e]);
    }
    expect(byThread.size).toBeGreaterThan(0);
    for (const [tid, slices] of byThread) {
      for (let i = 1; i < slices.length; i++) {
        const prevEnd = ns(slices[i - 1].ts) + ns(slices[i - 1].dur!);
        expect(ns(slices[i].ts), `thread ${tid} slice ${i}`).toBeGreaterThanOrEqual(prevEnd);
      }
    }
  });

  it('off-CPU slices add up to the off-CPU total of the records, within 1 µs a slice; times are the records\' ns', () => {
    const slices = events.filter(e => e.ph === 'X' && e.cat === 'offcpu' && e.args!.duration_ns !== null);
    const total = slices.reduce((t, e) => t + ns(e.dur!), 0);
    expect(Math.abs(total - offcpuTotal(sleepRecs))).toBeLessThanOrEqual(1000 * slices.length);
    // exact, in fact: every slice starts at its record's start_ts_ns, to the ns
    const starts = new Set(sleepRecs.filter(x => x.type === 'offcpu' && x.start_ts_ns !== null).map(x => x.start_ts_ns as number));
    for (const e of slices) expect(starts.has(ns(e.ts))).toBe(true);
  });

  it('has exec and exit instants, and counter tracks for resources, scheduling delay and lost records', () => {
    expect(events.some(e => e.ph === 'X' && e.cat === 'lifecycle' && e.dur === 0 && e.name === 'exec runsleep')).toBe(true);
    expect(events.some(e => e.ph === 'X' && e.cat === 'lifecycle' && e.name === 'process exit code 0')).toBe(true);
    const counters = new Set(events.filter(e => e.ph === 'C').map(e => `${e.pid === 0 ? 'system' : 'process'} ${e.name}`));
    for (const c of ['process CPU %', 'process RSS bytes', 'process I/O bytes/s', 'system CPU %', 'system lost records', 'system scheduling delay µs']) {
      expect(counters).toContain(c);
    }
  });

  it('draws a flow from each fork to the child\'s first slice', async () => {
    const rec = join(dir, 'children.rec'), out = join(dir, 'children.json');
    const r = await cli(['trace', '--record', rec, '--perfetto', out, '-k', '1', '--', workload('children')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/wrote .*children\.json/);
    const ev = (JSON.parse(readFileSync(out, 'utf8')) as { traceEvents: TraceEvent[] }).traceEvents;
    const forks = ev.filter(e => e.flow_out);
    expect(forks).toHaveLength(4);
    for (const f of forks) {
      const child = f.args!.child_pid as number;
      const into = ev.filter(e => e.flow_in && e.bind_id === f.bind_id);
      expect(into).toHaveLength(1);
      expect(into[0].tid).toBe(child);
      const first = ev.filter(e => e.ph === 'X' && e.tid === child && e.cat !== 'lifecycle')[0];
      expect(into[0]).toBe(first);
    }
  });

  it("draws a flow from the waker's slice at each wake-up between targets to the wakee's next slice", async () => {
    const rec = join(dir, 'pingpong.rec'), out = join(dir, 'pingpong.json');
    // every interval one by one (--offcpu-min 0): a flow starts in the waker's on-CPU slice, which a
    // counted interval would not have
    const r = await cli(['trace', '--json', '--record', rec, '--perfetto', out, '-k', '1', '--offcpu-min', '0', '--', workload('wakechain'), 'pingpong', '10']);
    expect(r.code, r.stderr).toBe(0);
    const woken = parse(r.stdout).filter(x => x.type === 'offcpu' && (x.waker as { target?: boolean; context?: string } | null)?.target &&
      (x.waker as { context: string }).context === 'task');
    expect(woken.length).toBeGreaterThan(0);
    const ev = (JSON.parse(readFileSync(out, 'utf8')) as { traceEvents: Array<TraceEvent & { id?: number }> }).traceEvents;
    const starts = ev.filter(e => e.ph === 's' && e.cat === 'wakeup'), ends = ev.filter(e => e.ph === 'f' && e.cat === 'wakeup');
    expect(starts).toHaveLength(woken.length);
    expect(ends).toHaveLength(woken.length);
    const slices = ev.filter(e => e.ph === 'X' && (e.cat === 'oncpu' || e.cat === 'offcpu'));
    for (const s of starts) {
      // the waker was on a CPU when it woke: the flow leaves its running slice
      const around = slices.filter(x => x.tid === s.tid && x.cat === 'oncpu' && ns(x.ts) <= ns(s.ts) && ns(s.ts) <= ns(x.ts) + ns(x.dur!));
      expect(around, JSON.stringify(s)).toHaveLength(1);
      // and arrives where the wakee runs again: a slice of it begins there
      const f = ends.find(e => e.id === s.id)!;
      expect(f.tid).not.toBe(s.tid);
      expect(slices.some(x => x.tid === f.tid && x.cat === 'oncpu' && ns(x.ts) === ns(f.ts)), JSON.stringify(f)).toBe(true);
    }
    expect(slices.find(x => x.cat === 'offcpu' && x.args!.woken_by)!.args!.woken_by).toMatch(/^wakechain\[\d+\]$|^interrupt$|^softirq$|\]$/);
  });
});

describe('--pprof and --folded', () => {
  let profile: Profile;
  let folded: string[];
  beforeAll(async () => {
    const pb = join(dir, 'runsleep.pb.gz'), fo = join(dir, 'runsleep.folded');
    const r = await cli(['report', sleepRec, '--pprof', pb, '--folded', fo]);
    expect(r.code, r.stderr).toBe(0);
    profile = Profile.decode(gunzipSync(readFileSync(pb)));
    folded = readFileSync(fo, 'utf8').trim().split('\n');
  });

  const str = (i: unknown) => profile.stringTable.strings[Number(i)];
  const stackOf = (locationIds: unknown[]) => locationIds.map(id => {
    const loc = profile.location.find(l => Number(l.id) === Number(id))!;
    const fn = profile.function.find(f => Number(f.id) === Number(loc.line[0]?.functionId))!;
    return fn ? str(fn.name) : `0x${BigInt(loc.address).toString(16)}`;
  });

  it('pprof: off-CPU nanoseconds add up to the records\' total; the heaviest stack goes from main to the sleep', () => {
    expect(profile.sampleType.map(t => `${str(t.type)}/${str(t.unit)}`)).toEqual(['offcpu_intervals/count', 'offcpu/nanoseconds']);
    expect(str(profile.defaultSampleType)).toBe('offcpu');
    const total = profile.sample.reduce((t, s) => t + Number(s.value[1]), 0);
    expect(total).toBe(offcpuAll(sleepRecs));
    expect(profile.sample.reduce((t, s) => t + Number(s.value[0]), 0)).toBe(offcpuCount(sleepRecs));
    const top = [...profile.sample].sort((a, b) => Number(b.value[1]) - Number(a.value[1]))[0];
    const frames = stackOf(top.locationId);
    expect(frames[frames.length - 1]).toBe('_start');
    expect(frames).toContain('main');
    expect(frames.indexOf('do_nanosleep')).toBeLessThan(frames.indexOf('main'));
    expect(frames.some(f => /nanosleep/.test(f) && f !== 'do_nanosleep')).toBe(true); // libc's, between
    const labels = Object.fromEntries(top.label.map(l => [str(l.key), l.str ? str(l.str) : Number(l.num)]));
    expect(labels).toMatchObject({ thread: 'runsleep', state: 'S sleeping' });
  });

  it('pprof: every user location has its mapping, with the file and build ID of the module record', () => {
    const modules = new Map(sleepRecs.filter(x => x.type === 'module').map(m => [m.path as string, m.build_id as string | null]));
    expect(modules.size).toBeGreaterThan(0);
    const user = profile.mapping.filter(m => str(m.filename) !== '[kernel.kallsyms]');
    expect(user.length).toBe(modules.size);
    for (const m of user) {
      expect(modules.has(str(m.filename))).toBe(true);
      expect(str(m.buildId)).toBe(modules.get(str(m.filename)) ?? '');
      expect(str(m.buildId)).toMatch(/^[0-9a-f]{40}$/);
    }
    const runsleep = user.find(m => str(m.filename).endsWith('/runsleep'))!;
    const build = execFileSync('readelf', ['-n', workload('runsleep')]).toString().match(/Build ID: ([0-9a-f]+)/)![1];
    expect(str(runsleep.buildId)).toBe(build);
    // a location's file offset lies inside the file
    for (const l of profile.location.filter(l => Number(l.mappingId) === Number(runsleep.id))) {
      const off = BigInt(l.address) - BigInt(runsleep.memoryStart);
      expect(off >= 0n && off < BigInt(statSync(workload('runsleep')).size)).toBe(true);
    }
  });

  it('folded: lines add up to the same total; the heaviest goes from main to do_nanosleep in the kernel', () => {
    const total = folded.reduce((t, l) => t + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
    expect(total).toBe(offcpuAll(sleepRecs));
    expect(folded[0]).toMatch(/^runsleep;_start;__libc_start_main;.*;main;a;b;.*nanosleep.*;do_nanosleep_\[k\];.*schedule_\[k\] \d+$/);
  });

  it('pprof: with -l, lock wait time by stack, the lock as the innermost frame', async () => {
    const pb = join(dir, 'locks.pb.gz');
    const r = await cli(['trace', '-l', '--pprof', pb, '--', workload('locks'), 'mutex', '2', '200', '200']);
    expect(r.code, r.stderr).toBe(0);
    const p = Profile.decode(gunzipSync(readFileSync(pb)));
    const s = (i: unknown) => p.stringTable.strings[Number(i)];
    expect(p.sampleType.map(t => s(t.type))).toEqual(['offcpu_intervals', 'offcpu', 'lock_waits', 'lock_wait']);
    // every lock-wait sample's innermost frame is its lock; the workload's mutex is among them (kernel
    // locks the process contended, a spinlock or the mmap lock, may be too, in any order)
    const waits = p.sample.filter(x => Number(x.value[3]) > 0);
    const leafName = (x: typeof waits[0]) => {
      const leaf = p.location.find(l => Number(l.id) === Number(x.locationId[0]))!;
      return s(p.function.find(f => Number(f.id) === Number(leaf.line[0].functionId))!.name);
    };
    expect(waits.length).toBeGreaterThan(0);
    for (const w of waits) expect(leafName(w)).toMatch(/^\[lock\] /);
    expect(waits.some(w => /^\[lock\] (mutex|futex) 0x/.test(leafName(w)))).toBe(true);
  });
});
