// The libbpf binding against the real kernel: every object loads and every program attaches; maps,
// the ring reader, each attach type, the typed errors and the feature probes do what they say; and
// no handle leaks a file descriptor.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  BPF_TRACE_UPROBE_MULTI, BpfMap, BpfObject, Link, RingReader, UnsupportedFeatureError, VerifierError, forEachRecord, possibleCpus, probe,
  readIter,
  type Batch,
} from '../src/bpf/index.js';
import { perfEventOpen } from '../src/sys/libc.js';
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
