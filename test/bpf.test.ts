// The libbpf binding against the real kernel: every object loads and every program attaches; maps,
// the ring reader, each attach type, the typed errors and the feature probes do what they say; and
// no handle leaks a file descriptor.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  BPF_TRACE_UPROBE_MULTI, BpfError, BpfMap, BpfObject, Codec, Link, RingReader, UnsupportedFeatureError, UpdateFlags, VerifierError,
  forEachRecord, possibleCpus, probe, readIter,
  type Batch,
} from '../src/bpf/index.js';
import { perfEventOpen } from '../src/sys/libc.js';
import { pi_sc_errno_key, pi_sc_thread } from '../src/collect/layout.js';
import { COLLECTORS } from '../src/collect/registry.js';
import { paths } from '../src/sys/paths.js';
import { GatedChild, ROOT, attachedProgIds, openFds, pinnedProgId, tempDir, workload } from './helpers.js';

const fixture = (name: string) => join(ROOT, 'build/test', `${name}.bpf.o`);
const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(n); return b; };
const u64 = (n: number) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(n)); return b; };

const cleanup: Array<() => void> = [];
afterEach(() => { for (const f of cleanup.splice(0).reverse()) f(); });
function own<T extends { close(): void }>(x: T): T { cleanup.push(() => x.close()); return x; }

/** The binding fixture loaded for a child that runs `argv` once the gate opens. */
function fixtureFor(child: GatedChild, opts: { autoload?: string[] } = {}): BpfObject {
  const obj = own(BpfObject.open(fixture('binding')));
  obj.setConst('target_tgid', child.pid);
  obj.setConst('magic', 0xfeedfacecafen);
  if (opts.autoload) for (const p of obj.programs()) p.setAutoload(opts.autoload.includes(p.name));
  obj.load();
  return obj;
}

function counter(obj: BpfObject, idx: number): number {
  return Number(obj.map('counts').lookup(u32(idx))!.readBigUInt64LE(0));
}

describe('every category object', () => {
  for (const c of Object.values(COLLECTORS)) {
    it(`${c.object}: loads through the verifier and attaches every program`, () => {
      const fds = openFds();
      const obj = BpfObject.open(paths.bpfObject(c.object));
      obj.load();
      // uprobes have no target in their section: they go on this process's own libc, as lock's do
      const libc = readFileSync(`/proc/${process.pid}/maps`, 'utf8').match(/\/\S*\/libc\.so\.6/)![0];
      const links = obj.programs().map(p => /^u(ret)?probe/.test(p.section)
        ? p.attachUprobe({ binary: libc, func: 'pthread_mutex_unlock', pid: process.pid, retprobe: p.section.startsWith('uretprobe') })
        : p.attach());
      expect(links.length).toBeGreaterThan(0);
      for (const l of links) expect(l.fd).toBeGreaterThan(0);
      for (const l of links) l.close();
      obj.close();
      expect(openFds()).toBe(fds);
    });
  }
});

describe('BpfObject', () => {
  it('loads under a sampling profiler\'s signals (the verifier gives up on a pending signal)', () => {
    // node --cpu-prof sends the main thread SIGPROF every millisecond: before loads blocked signals,
    // keytime's longer programs failed with EAGAIN every time
    const dir = tempDir();
    const code = `const { BpfObject } = await import(${JSON.stringify(join(ROOT, 'dist/bpf/index.js'))});
      const o = BpfObject.open(${JSON.stringify(paths.bpfObject('keytime'))}); o.load(); o.close(); console.log('loaded');`;
    const out = execFileSync('node', ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--cpu-prof-interval', '100', '--input-type=module', '-e', code],
      { encoding: 'utf8' });
    expect(out.trim()).toBe('loaded');
    rmSync(dir, { recursive: true, force: true });
  });

  it('sets read-only globals by name before load, and refuses unknown ones', () => {
    const obj = own(BpfObject.open(fixture('binding')));
    expect(() => obj.setConst('no_such_global', 1)).toThrow(/no read-only global no_such_global/);
    expect(() => obj.setConst('target_tgid', Buffer.alloc(8))).toThrow(/4 bytes, got 8/);
    obj.setConst('target_tgid', 1);
    obj.load();
    expect(() => obj.setConst('target_tgid', 2)).toThrow(/already loaded/);
  });

  it('turns a verifier refusal into a VerifierError with the program, its log and the reason', () => {
    const obj = own(BpfObject.open(fixture('bad')));
    let err: unknown;
    try { obj.load(); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(VerifierError);
    const v = err as VerifierError;
    expect(v.program).toBe('refused');
    expect(v.log).toMatch(/processed \d+ insns/);
    expect(v.message).toMatch(/^verifier rejected program refused: .*(invalid|out of bounds|outside)/i);
  });

  it('loadAsync verifies objects side by side off the event loop, and refuses what load() refuses, with its own log', async () => {
    const a = own(BpfObject.open(fixture('binding')));
    const b = own(BpfObject.open(fixture('binding')));
    const bad = own(BpfObject.open(fixture('bad')));
    const loading = [a.loadAsync(), b.loadAsync(), bad.loadAsync()];
    expect(() => a.close()).toThrow(/still loading/); // the verifier is using it on another thread
    expect(() => a.setConst('target_tgid', 1)).toThrow(/is loading/);
    const [ra, rb, rbad] = await Promise.allSettled(loading);
    expect([ra.status, rb.status, a.loaded, b.loaded]).toEqual(['fulfilled', 'fulfilled', true, true]);
    expect(rbad.status).toBe('rejected');
    const v = (rbad as PromiseRejectedResult).reason as VerifierError;
    expect(v).toBeInstanceOf(VerifierError);
    expect(v.program).toBe('refused');
    expect(v.message).toMatch(/^verifier rejected program refused: /);
  });

  it('leaves a map it will not need uncreated (autocreate off)', () => {
    const obj = own(BpfObject.open(fixture('binding')));
    for (const p of obj.programs()) p.setAutoload(false);
    obj.setAutocreate('hash', false);
    obj.load();
    expect(obj.map('counts').fd).toBeGreaterThan(0);
    expect(() => obj.map('hash').fd).toThrow(/closed/); // no fd: it was never made
  });

  it('shares a map between two objects (reuse_fd): one policy, one ring', () => {
    const a = own(BpfObject.open(paths.bpfObject('keytime')));
    a.load();
    const b = own(BpfObject.open(paths.bpfObject('keytime')));
    b.reuseMap('pi_policy', a.map('pi_policy'));
    b.load();
    const v = Buffer.alloc(a.map('pi_policy').info.valueSize);
    v.writeUInt32LE(0xabc, 8);
    a.map('pi_policy').update(u32(0), v);
    expect(b.map('pi_policy').lookup(u32(0))!.readUInt32LE(8)).toBe(0xabc);
  });
});

describe('BpfMap', () => {
  it('updates, looks up, deletes and iterates, batched and key by key', () => {
    const obj = own(BpfObject.open(fixture('binding')));
    obj.load();
    const h = obj.map('hash');
    expect(h.info).toMatchObject({ name: 'hash', keySize: 4, valueSize: 8, maxEntries: 4096 });
    for (let i = 1; i <= 3000; i++) h.update(u32(i), u64(i * 10));
    expect(h.lookup(u32(77))!.readBigUInt64LE(0)).toBe(770n);
    expect(h.lookup(u32(99999))).toBeUndefined();
    expect(h.delete(u32(77))).toBe(true);
    expect(h.delete(u32(77))).toBe(false);
    const batched = h.entries(256); // several batches
    expect(batched).toHaveLength(2999);
    expect(new Set(batched.map(([k, v]) => `${k.readUInt32LE(0)}:${v.readBigUInt64LE(0)}`)).has('3000:30000')).toBe(true);
    expect([...h.keys()]).toHaveLength(2999);
  });

  it('head: an array\'s first n values in key order, in batches of any size, n clipped to its length', () => {
    const obj = own(BpfObject.open(fixture('binding')));
    obj.load();
    const a = obj.map('counts');
    for (let i = 0; i < 8; i++) a.update(u32(i), u64(i * 3 + 1));
    const read = (n: number, chunk?: number) => a.head(n, chunk).map(v => Number(v.readBigUInt64LE(0)));
    expect(read(5, 2)).toEqual([1, 4, 7, 10, 13]); // three batches, the last one short
    expect(read(8, 8)).toEqual([1, 4, 7, 10, 13, 16, 19, 22]);
    expect(read(100)).toHaveLength(8);
    expect(read(0)).toEqual([]);
  });

  it('reads per-CPU values as one slot per possible CPU', () => {
    const obj = own(BpfObject.open(fixture('binding')));
    obj.load();
    const p = obj.map('percpu');
    expect(p.perCpu).toBe(true);
    const slots = p.lookupPerCpu(u32(0))!;
    expect(slots).toHaveLength(possibleCpus());
    expect(possibleCpus()).toBe(Number(readFileSync('/sys/devices/system/cpu/possible', 'utf8').trim().split('-').at(-1)) + 1);
  });

  it('opens a pinned map by path and closes its own fd', () => {
    const obj = own(BpfObject.open(fixture('binding')));
    obj.load();
    const path = `/sys/fs/bpf/procimage-test-map-${process.pid}`;
    obj.map('counts').pin(path);
    const fds = openFds();
    const m = BpfMap.fromPin(path);
    m.update(u32(3), u64(42));
    expect(obj.map('counts').lookup(u32(3))!.readBigUInt64LE(0)).toBe(42n);
    m.close();
    expect(openFds()).toBe(fds);
    BpfMap.fromPin(path).close();
    unlinkSync(path);
  });

  /** Entries of a map as bpftool prints them with the map's BTF: an oracle that knows the C layout. */
  function bpftoolDump(m: BpfMap): Array<{ key: unknown; value: unknown }> {
    const path = `/sys/fs/bpf/procimage-test-dump-${process.pid}`;
    m.pin(path);
    try {
      const out = JSON.parse(execFileSync('bpftool', ['-j', 'map', 'dump', 'pinned', path]).toString()) as Array<{ formatted: { key: unknown; value: unknown } }>;
      return out.map(e => e.formatted);
    } finally {
      m.unpin();
    }
  }

  it('typed: u32 and u64 keys and values, and generated structs at the offsets the C compiler chose', () => {
    const obj = own(BpfObject.open(fixture('binding')));
    obj.load();
    const h = obj.map('hash').typed(Codec.u32, Codec.u64);
    h.update(7, 70n);
    h.update(0xfffffffe, 2n ** 64n - 1n);
    expect(h.lookup(7)).toBe(70n);
    expect(h.lookup(0xfffffffe)).toBe(2n ** 64n - 1n);
    expect(obj.map('hash').lookup(u32(7))!.readBigUInt64LE(0)).toBe(70n); // the same bytes as the Buffer API's
    expect(h.lookup(8)).toBeUndefined();
    expect(new Map(h.entries())).toEqual(new Map([[7, 70n], [0xfffffffe, 2n ** 64n - 1n]]));
    expect([...h.keys()].sort((a, b) => a - b)).toEqual([7, 0xfffffffe]);
    expect(h.delete(7)).toBe(true);
    expect(h.delete(7)).toBe(false);

    // a struct key of the syscall object, checked against bpftool's reading of the map's BTF
    const sc = own(BpfObject.open(paths.bpfObject('syscall')));
    sc.load();
    const errnos = sc.map('sc_errnos').typed(Codec.struct(pi_sc_errno_key), Codec.u64);
    errnos.update({ pid: 4242, nr: 257, err: 13 }, 5);
    errnos.update({ pid: 4242, nr: 0, err: 9, pad: 0 }, 1n);
    expect(errnos.lookup({ pid: 4242, nr: 257, err: 13 })).toBe(5n);
    expect(errnos.entries().sort((a, b) => a[0].nr - b[0].nr)).toEqual([
      [{ pid: 4242, nr: 0, err: 9, pad: 0 }, 1n], [{ pid: 4242, nr: 257, err: 13, pad: 0 }, 5n]]);
    const dumped = bpftoolDump(sc.map('sc_errnos')).map(e => [e.key, e.value]);
    expect(dumped).toContainEqual([{ pid: 4242, nr: 257, err: 13, pad: 0 }, 5]);
    expect(dumped).toContainEqual([{ pid: 4242, nr: 0, err: 9, pad: 0 }, 1]);

    // per-CPU values: one per possible CPU, each CPU's own
    const p = obj.map('percpu').typed(Codec.u32, Codec.perCpu(Codec.u64));
    const perCpu = Array.from({ length: possibleCpus() }, (_, i) => BigInt(100 + i));
    p.update(0, perCpu);
    expect(p.lookup(0)).toEqual(perCpu);
    expect(obj.map('percpu').lookupPerCpu(u32(0))!.map(b => b.readBigUInt64LE(0))).toEqual(perCpu);

    // sizes are checked when the view is made
    expect(() => obj.map('hash').typed(Codec.u64, Codec.u64)).toThrow(/hash: its keys are 4 bytes, the key codec's 8/);
    expect(() => obj.map('percpu').typed(Codec.u32, Codec.u64)).toThrow(/per-CPU slots of 8: Codec.perCpu/);
  });

  it('struct codecs: text fields NUL-terminated within their array, fields left out are zero', () => {
    const c = Codec.struct(pi_sc_thread);
    const b = Buffer.alloc(c.size, 0xff);
    c.encode({ tgid: 5, count: 2n ** 40n, comm: 'a-very-long-thread-name' }, b, 0);
    const v = c.decode(b, 0);
    expect(v).toMatchObject({ tgid: 5, count: 2n ** 40n, comm: 'a-very-long-thr', enter_ns: 0n, nr: 0, exited: 0 });
    expect(b.readUInt32LE(pi_sc_thread.OFF.tgid)).toBe(5);
    expect(b[pi_sc_thread.OFF.comm + 15]).toBe(0);
    expect(v.ring).toEqual(Buffer.alloc(pi_sc_thread.LEN.ring));
  });

  it('batched update and delete: counts right, stops at the failing entry, entry by entry where the type has no batch op', () => {
    const obj = own(BpfObject.open(fixture('binding')));
    obj.load();
    const raw = obj.map('hash');
    const h = raw.typed(Codec.u32, Codec.u64);
    h.updateBatch(Array.from({ length: 3000 }, (_, i) => [i + 1, BigInt(i * 3)] as const));
    expect(raw.batchSupport('update')).toBe(true);
    const all = new Map(h.entries(256));
    expect(all.size).toBe(3000);
    expect([all.get(1), all.get(1500), all.get(3000)]).toEqual([0n, 4497n, 8997n]);
    // keys 2991..3010: the last ten are not there, and are skipped
    expect(h.deleteBatch(Array.from({ length: 20 }, (_, i) => 2991 + i))).toBe(10);
    expect(raw.batchSupport('delete')).toBe(true);
    expect(h.deleteBatch([5, 99999, 6])).toBe(2); // a missing key in between
    expect(h.entries()).toHaveLength(2988);
    expect(h.lookup(5)).toBeUndefined();
    expect(h.lookup(7)).toBe(18n);

    // a batch the kernel stops part way (the map holds 4096): what came before the failure is written
    let err: unknown;
    try { h.updateBatch(Array.from({ length: 2000 }, (_, i) => [10001 + i, 1n] as const)); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(BpfError);
    expect((err as BpfError).message).toMatch(/^update of hash \(entry 1109 of 2000\): E2BIG/);
    expect(h.entries()).toHaveLength(4096);
    // NOEXIST: the batch command has no such flag, so entry by entry, and the existing key is refused
    h.clear();
    h.update(3, 33n);
    expect(() => h.updateBatch([[1, 1n], [2, 2n], [3, 3n], [4, 4n]], UpdateFlags.NOEXIST)).toThrow(/update of hash \(entry 3 of 4\): EEXIST/);
    expect(new Map(h.entries())).toEqual(new Map([[1, 1n], [2, 2n], [3, 33n]]));

    // an array has batch update but neither batch delete (asked once, then not again) nor delete
    const counts = obj.map('counts').typed(Codec.u32, Codec.u64);
    counts.updateBatch([[0, 10n], [7, 70n]]);
    expect([counts.lookup(0), counts.lookup(7)]).toEqual([10n, 70n]);
    for (let i = 0; i < 2; i++) {
      let derr: unknown;
      try { counts.deleteBatch([0, 7]); } catch (e) { derr = e; }
      expect(derr).toBeInstanceOf(BpfError);
      expect((derr as BpfError).errno).toBe(22);
      expect((derr as BpfError).message).toMatch(/^delete from counts \(entry 1 of 2\): EINVAL .*array map's entries cannot be deleted/);
      expect(obj.map('counts').batchSupport('delete')).toBe(false);
    }
    expect(() => counts.clear()).toThrow(/array map's entries cannot be deleted/);
    expect([counts.lookup(0), counts.lookup(7)]).toEqual([10n, 70n]);

    // an array of maps deletes entry by entry only: the fallback does the batch's work
    const outer = obj.map('outer');
    const slots = outer.typed(Codec.u32, Codec.u32); // written as map fds, read back as map ids
    const inner = obj.map('counts').fd;
    slots.updateBatch([[0, inner], [1, inner], [2, inner], [6, inner]]);
    expect(slots.entries().map(([k]) => k)).toEqual([0, 1, 2, 6]);
    expect(slots.deleteBatch([0, 1, 3, 6])).toBe(3);
    expect(outer.batchSupport('delete')).toBe(false);
    expect(slots.entries().map(([k]) => k)).toEqual([2]);
    expect(outer.take().map(([k]) => k.readUInt32LE(0))).toEqual([2]); // no lookup-and-delete batch either
    expect(outer.batchSupport('lookup_and_delete')).toBe(false);
    expect(slots.entries()).toEqual([]);
  });

  it('take and clear empty a hash map with lookup-and-delete batches, and count what they took', () => {
    const obj = own(BpfObject.open(fixture('binding')));
    obj.load();
    const h = obj.map('hash').typed(Codec.u32, Codec.u64);
    h.updateBatch(Array.from({ length: 2500 }, (_, i) => [i, BigInt(i)] as const));
    const taken = h.take(300);
    expect(obj.map('hash').batchSupport('lookup_and_delete')).toBe(true);
    expect(taken).toHaveLength(2500);
    expect(taken.reduce((s, [k, v]) => s + (BigInt(k) === v ? 1 : 0), 0)).toBe(2500);
    expect(h.entries()).toEqual([]);
    h.updateBatch(Array.from({ length: 1700 }, (_, i) => [i, 1n] as const));
    expect(h.clear()).toBe(1700);
    expect([...h.keys()]).toEqual([]);
    expect(h.clear()).toBe(0);
  });

  it('pins a map and unpins it: the file appears and disappears in bpffs', () => {
    const obj = own(BpfObject.open(fixture('binding')));
    obj.load();
    const dir = `/sys/fs/bpf/procimage-test-maps-${process.pid}`;
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'counts'), counts = obj.map('counts');
    counts.pin(path); // libbpf makes the directory
    expect(existsSync(path)).toBe(true);
    expect(counts.pinPath).toBe(path);
    const m = own(BpfMap.fromPin(path));
    m.update(u32(1), u64(11));
    expect(counter(obj, 1)).toBe(11);
    counts.unpin();
    expect(existsSync(path)).toBe(false);
    expect(counts.pinPath).toBeUndefined();
    counts.unpin(); // nothing pinned: nothing to do
    counts.pin(path); // again, where libbpf remembers it
    expect(existsSync(path)).toBe(true);
    // a map opened from its pin removes that pin
    const again = BpfMap.fromPin(path);
    expect(again.pinPath).toBe(path);
    again.unpin();
    again.close();
    expect(existsSync(path)).toBe(false);
    expect(() => BpfMap.fromPin(path)).toThrow(/ENOENT/);
    expect(() => obj.map('hash').unpin(join(dir, 'never-pinned'))).toThrow(BpfError);
  });

  it('no map operation leaks a file descriptor', () => {
    const fds = openFds();
    const obj = BpfObject.open(fixture('binding'));
    obj.load();
    const path = `/sys/fs/bpf/procimage-test-fds-${process.pid}`;
    const h = obj.map('hash').typed(Codec.u32, Codec.u64);
    h.updateBatch([[1, 1n], [2, 2n]]);
    h.entries();
    h.deleteBatch([1]);
    h.take();
    obj.map('hash').pin(path);
    const m = BpfMap.fromPin(path);
    m.typed(Codec.u32, Codec.u64).update(3, 3n);
    m.unpin();
    m.close();
    expect(() => obj.map('counts').typed(Codec.u32, Codec.u64).deleteBatch([0])).toThrow(BpfError);
    obj.map('outer').typed(Codec.u32, Codec.u32).updateBatch([[0, obj.map('counts').fd]]);
    obj.map('outer').clear();
    const borrowed = obj.map('hash');
    obj.close();
    expect(() => borrowed.lookup(u32(1))).toThrow(/hash is closed/);
    expect(openFds()).toBe(fds);
  });
});

describe('attach', () => {
  it('raw_tp, tp_btf and tracepoint programs see every getppid of the target, and the ring hands over each record', async () => {
    const child = new GatedChild([workload('syscalls'), '5000']);
    const obj = fixtureFor(child);
    const links: Link[] = [
      obj.program('on_raw_sys_enter').attachRawTracepoint('sys_enter'),
      obj.program('on_btf_sys_enter').attachTrace(),
      obj.program('on_tp_getppid').attachTracepoint('syscalls', 'sys_enter_getppid'),
    ];
    cleanup.push(() => links.forEach(l => l.close()));
    const reader = new RingReader(obj.map('rb'), 48);
    let n = 0, seqSum = 0, bad = 0;
    reader.start(b => forEachRecord(b, (off, len) => {
      const w = off >>> 2; // struct rec { u32 tgid, pid; u64 ts, seq, magic, nr, pad; }
      if (len !== 48 || b.u32[w] !== child.pid || b.u32[w + 6] !== 0xfacecafe || b.u32[w + 7] !== 0xfeed ||
        b.u32[w + 8] !== 110) bad++;
      seqSum += b.u32[w + 4];
      n++;
    }), e => { throw e; });
    child.open();
    expect(await child.exited).toEqual({ code: 0, signal: null });
    await new Promise(r => setTimeout(r, 100));
    await reader.stop();
    reader.drainNow(() => { throw new Error('records left after stop'); });
    reader.close();
    expect({ n, bad, seqSum }).toEqual({ n: 5000, bad: 0, seqSum: (4999 * 5000) / 2 });
    expect(counter(obj, 0)).toBe(5000); // raw_tp
    expect(counter(obj, 1)).toBe(5000); // tp_btf
    expect(counter(obj, 2)).toBe(5000); // tracepoint
    // per-thread hash entries written by the program, read back in one batch
    expect(obj.map('hash').entries().map(([, v]) => Number(v.readBigUInt64LE(0)))).toEqual([5000]);
  });

  it('records that wrap around the end of a small ring arrive intact, and what does not fit is counted', async () => {
    const child = new GatedChild([workload('syscalls'), '20000']);
    const obj = own(BpfObject.open(fixture('binding')));
    obj.setConst('target_tgid', child.pid);
    obj.setConst('magic', 0xfeedfacecafen);
    obj.setMaxEntries('rb', 16384); // 16384 is no multiple of the 56-byte slots: records straddle the end
    for (const p of obj.programs()) p.setAutoload(p.name === 'on_raw_sys_enter');
    obj.load();
    const link = obj.program('on_raw_sys_enter').attachRawTracepoint('sys_enter');
    cleanup.push(() => link.close());
    const reader = new RingReader(obj.map('rb'), 48);
    let n = 0, bad = 0, lastSeq = -1, unordered = 0;
    const check = (b: Batch) => forEachRecord(b, (off, len) => {
      const w = off >>> 2;
      if (len !== 48 || b.u32[w] !== child.pid || b.u32[w + 6] !== 0xfacecafe || b.u32[w + 7] !== 0xfeed ||
        b.u32[w + 8] !== 110 || b.u32[w + 9] !== 0) bad++;
      if (b.u32[w + 4] <= lastSeq) unordered++;
      lastSeq = b.u32[w + 4];
      n++;
    });
    reader.start(check, e => { throw e; });
    child.open();
    await child.exited;
    await reader.stop();
    reader.drainNow(check);
    reader.close();
    const dropped = counter(obj, 6);
    expect({ bad, unordered }).toEqual({ bad: 0, unordered: 0 });
    expect(n + dropped).toBe(20000);
    expect(n).toBeGreaterThan(16384 / 56); // it wrapped, many times
  });

  it('drainNow(onBatch, maxBytes) stops once that much is handed over, batch by batch; the next drain takes the rest', async () => {
    const child = new GatedChild([workload('syscalls'), '1000']);
    const obj = own(BpfObject.open(fixture('binding')));
    obj.setConst('target_tgid', child.pid);
    obj.setConst('magic', 0xfeedfacecafen);
    obj.setMaxEntries('rb', 16384);
    for (const p of obj.programs()) p.setAutoload(p.name === 'on_raw_sys_enter');
    obj.load();
    const link = obj.program('on_raw_sys_enter').attachRawTracepoint('sys_enter');
    cleanup.push(() => link.close());
    const reader = new RingReader(obj.map('rb'), 48, { batchBytes: 1024 });
    expect(reader.ringBytes).toBe(16384);
    let n = 0;
    const count = (b: Batch) => forEachRecord(b, () => n++);
    child.open();
    await child.exited; // nothing writes any more; the ring is full (1000 records of 56 bytes do not fit)
    const first = reader.drainNow(count, 4096);
    expect(first).toBeGreaterThanOrEqual(4096);
    expect(first).toBeLessThan(4096 + 1024);
    expect(n * 56).toBe(first);
    const rest = reader.drainNow(count);
    expect(rest).toBeGreaterThan(0);
    expect(reader.drainNow(count)).toBe(0);
    reader.close();
    expect(n * 56).toBe(first + rest);
    expect(n + counter(obj, 6)).toBe(1000);
  });

  it('stop() ends a drain waiting for a wakeup at once, not at its timeout', async () => {
    const obj = own(BpfObject.open(fixture('binding')));
    for (const p of obj.programs()) p.setAutoload(false);
    obj.load();
    // nothing writes to this ring: the drain waits in epoll past the test's timeout unless stop() wakes it
    const reader = new RingReader(obj.map('rb'), 48, { waitMs: 120_000 });
    let batches = 0;
    reader.start(() => batches++, e => { throw e; });
    await new Promise(r => setTimeout(r, 20));
    await reader.stop();
    reader.close();
    expect(batches).toBe(0);
  });

  it('uprobe and uretprobe by symbol on the target\'s libc, with its pid only', async () => {
    const child = new GatedChild([workload('syscalls'), '0', '300']); // calls nanosleep once
    const obj = fixtureFor(child, { autoload: ['on_uprobe', 'on_uretprobe'] });
    const libc = '/lib/x86_64-linux-gnu/libc.so.6';
    const links = [
      obj.program('on_uprobe').attachUprobe({ binary: libc, func: 'nanosleep', pid: child.pid }),
      obj.program('on_uretprobe').attachUprobe({ binary: libc, func: 'nanosleep', pid: child.pid, retprobe: true }),
    ];
    cleanup.push(() => links.forEach(l => l.close()));
    // another process calling nanosleep must not count
    execFileSync('sleep', ['0.05']);
    child.open();
    await child.exited;
    expect(counter(obj, 3)).toBe(1);
    expect(counter(obj, 4)).toBe(1);
  });

  it('uprobe_multi: one link for several functions, each with its cookie; closed off the event loop', async () => {
    const child = new GatedChild([workload('syscalls'), '25', '10']); // syscall(SYS_getppid) 25 times, nanosleep once
    const obj = own(BpfObject.open(fixture('binding')));
    obj.setConst('target_tgid', child.pid);
    for (const p of obj.programs()) p.setAutoload(p.name === 'on_uprobe_cookie');
    obj.program('on_uprobe_cookie').setExpectedAttachType(BPF_TRACE_UPROBE_MULTI);
    obj.load();
    const libc = '/lib/x86_64-linux-gnu/libc.so.6';
    const { ElfFile } = await import('../src/sys/elf.js');
    const elf = ElfFile.open(libc);
    const link = obj.program('on_uprobe_cookie').attachUprobeMulti({
      binary: libc, offsets: [elf.function('syscall')!.fileOffset, elf.function('nanosleep')!.fileOffset], cookies: [7, 3], pid: child.pid,
    });
    execFileSync('sleep', ['0.02']); // another process: not counted
    child.open();
    await child.exited;
    expect(counter(obj, 7)).toBe(25);
    expect(counter(obj, 3)).toBe(1);
    const fds = openFds();
    await link.closeAsync(); // the link fd closed: the kernel detaches an unpinned link with it
    expect(openFds()).toBe(fds - 1);
  });

  it('a perf-event program on a software clock samples the target', async () => {
    const child = new GatedChild([workload('syscalls'), '3000000']);
    const obj = fixtureFor(child, { autoload: ['on_perf'] });
    const attr = Buffer.alloc(128);
    attr.writeUInt32LE(1, 0);                 // PERF_TYPE_SOFTWARE
    attr.writeUInt32LE(128, 4);               // size
    attr.writeBigUInt64LE(0n, 8);             // PERF_COUNT_SW_CPU_CLOCK
    attr.writeBigUInt64LE(1000n, 16);         // sample_freq
    attr.writeBigUInt64LE(1n << 10n, 40);     // flags: freq
    const links = [0, 1].map(cpu => obj.program('on_perf').attachPerfEvent(perfEventOpen(attr, -1, cpu)));
    cleanup.push(() => links.forEach(l => l.close()));
    child.open();
    await child.exited;
    expect(counter(obj, 5)).toBeGreaterThan(0);
  });

  it('a hook the kernel lacks is an UnsupportedFeatureError naming it', () => {
    const obj = own(BpfObject.open(fixture('binding')));
    obj.load();
    expect(() => obj.program('on_raw_sys_enter').attachRawTracepoint('no_such_tracepoint'))
      .toThrow(UnsupportedFeatureError);
    expect(() => obj.program('on_raw_sys_enter').attachRawTracepoint('no_such_tracepoint'))
      .toThrow(/raw_tp\/no_such_tracepoint/);
  });

  it('a pinned link outlives its handle; unpinning detaches it; programs pin and unpin too', async () => {
    const child = new GatedChild([workload('syscalls'), '100', '200']);
    const obj = fixtureFor(child);
    const linkPath = `/sys/fs/bpf/procimage-test-link-${process.pid}`, progPath = `${linkPath}-prog`;
    obj.program('on_btf_sys_enter').pin(progPath); // pinned too, so bpftool can name its id
    const progId = pinnedProgId(progPath);
    const link = obj.program('on_btf_sys_enter').attachTrace();
    link.pin(linkPath);
    link.close(); // the pin keeps it attached
    expect(attachedProgIds().has(progId)).toBe(true);
    child.open();
    await child.exited;
    expect(counter(obj, 1)).toBe(100);
    rmSync(linkPath); // unpinning the last reference detaches it
    expect(attachedProgIds().has(progId)).toBe(false);
    obj.program('on_btf_sys_enter').unpin(progPath);
    expect(existsSync(progPath)).toBe(false);
  });

  it('closing a link detaches it: the program stops counting', async () => {
    const child = new GatedChild([workload('syscalls'), '100', '200']);
    const obj = fixtureFor(child);
    obj.program('on_btf_sys_enter').attachTrace().close();
    child.open();
    await child.exited;
    expect(counter(obj, 1)).toBe(0);
  });
});

describe('iterators', () => {
  /**
   * Every thread id in /proc now, of the processes this one may inspect: the machine's own init
   * (outside procimage's reach, ptrace-protected) lists its tasks in /proc but not to task iterators.
   */
  const procTids = () => readdirSync('/proc').filter(d => /^\d+$/.test(d)).flatMap(p => {
    try {
      readFileSync(`/proc/${p}/environ`); // refused where this process may not inspect p
      return readdirSync(`/proc/${p}/task`).map(Number);
    } catch { return []; }
  });

  it('a task iterator visits every task once per run, over several reads, and leaks nothing', () => {
    const fds = openFds();
    const obj = BpfObject.open(fixture('binding'));
    for (const p of obj.programs()) p.setAutoload(p.name === 'iter_tasks');
    obj.load();
    const link = obj.program('iter_tasks').attachIter();
    for (let run = 0; run < 2; run++) {
      const before = procTids();
      const buf = readIter(link);
      const after = new Set(procTids());
      expect(buf.length % 512).toBe(0);
      expect(buf.length).toBeGreaterThan(32 << 10); // more than one read(2): the kernel hands out 32 KiB at most
      const pids = Array.from({ length: buf.length / 512 }, (_, i) => buf.readUInt32LE(i * 512));
      expect(new Set(pids).size).toBe(pids.length);
      expect(pids).toContain(process.pid);
      const seen = new Set(pids);
      expect(before.filter(t => after.has(t) && !seen.has(t))).toEqual([]); // alive throughout: visited
    }
    link.close();
    obj.close();
    expect(openFds()).toBe(fds);
  });
});

describe('feature probes', () => {
  it('find what procimage needs, give definite answers for what it may not have, and cache them', () => {
    for (const f of ['btf', 'ringbuf', 'tp_btf', 'raw_tp', 'tracepoint', 'uprobe', 'bpf_loop', 'task_storage', 'iter_task', 'uprobe_multi',
      'lock_contention'] as const) {
      expect(probe(f), f).toEqual({ status: 'supported' });
    }
    for (const f of ['fentry', 'kprobe'] as const) expect(probe(f).status, f).not.toBe('inconclusive');
    expect(probe('fentry')).toBe(probe('fentry'));
  });
});
