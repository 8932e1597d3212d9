// resource (-r) on the real kernel, against independent oracles: /proc/PID/{stat,io,status,schedstat}
// read while the target is frozen (SIGSTOP: nothing moves between procimage's sample and the read),
// what a known workload did (workloads/resource_work.c reports its own /proc view before it exits),
// and the slides' anomaly cases — a CPU hog, a memory hog, a writer and a reader, each recognised.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Attach, CLI, GATE, GatedChild, tempDir, waitFor, workload } from './helpers.js';
import { BpfObject } from '../src/bpf/index.js';
import { readKernelLost } from '../src/collect/lost.js';
import { defaultPolicy, encodePolicy } from '../src/collect/policy.js';
import { paths } from '../src/sys/paths.js';
import { SchedstatSampler, TICKS_PER_SECOND, descendants, io, relDiff, stat, status, schedstat } from './proc-oracle.js';

type Rec = Record<string, unknown> & { type: string; scope: string; pid: number; tgid: number; ts_ns: number };
const MiB = 1 << 20;
const TICK_NS = 1e9 / TICKS_PER_SECOND;

/** A `procimage trace` whose NDJSON is read as it comes. */
class Trace {
  readonly proc: ChildProcess;
  out = '';
  err = '';
  readonly exited: Promise<number | null>;

  constructor(args: string[]) {
    this.proc = spawn(CLI, ['trace', '--json', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout!.setEncoding('utf8').on('data', d => { this.out += d; });
    this.proc.stderr!.setEncoding('utf8').on('data', d => { this.err += d; });
    this.exited = new Promise(r => this.proc.on('close', code => r(code)));
  }

  records(): Rec[] {
    return this.out.split('\n').filter(l => l.startsWith('{')).map(l => JSON.parse(l)).filter(r => r.type === 'resource');
  }

  /** Resource records of one scope, for one process (tgid) if given. */
  of(scope: string, tgid?: number): Rec[] {
    return this.records().filter(r => r.scope === scope && (tgid === undefined || r.tgid === tgid));
  }
}

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});
function trace(args: string[]): Trace {
  const t = new Trace(args);
  cleanups.push(() => { t.proc.kill('SIGKILL'); });
  return t;
}
function scratch(): string {
  const d = tempDir(); // on the root file system: storage I/O reaches a disk
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}
const now = () => Number(process.hrtime.bigint());
// Since 6.16 sched_process_exit runs before exit_mm(): the exit capture still has the memory to read
const [major, minor] = release().split('.').map(Number);
const MEM_AT_EXIT = major > 6 || (major === 6 && minor >= 16);
// the exit capture reads rss as get_mm_counter() does: each of its three counters (anon, file, shmem)
// without up to a batch (32 pages) per CPU not folded in yet
const RSS_APPROX_BYTES = 3 * 32 * 4096 * cpus().length;

/** The pid of the first process record whose comm is `comm`. */
async function pidOf(t: Trace, comm: string): Promise<number> {
  return waitFor(() => t.of('process').find(r => r.comm === comm)?.pid, `a ${comm} record`, 20_000);
}

async function stopped(pid: number): Promise<void> {
  await waitFor(() => stat(`/proc/${pid}`).state === 'T', `${pid} to stop`);
}

describe('resource: agreement with /proc', () => {
  it('per process and per thread: CPU time, bytes, faults, switches and memory, as /proc gives them', async () => {
    const f = join(scratch(), 'data');
    const t = trace(['-r', '--interval', '0.25', '--', workload('resource_work'),
      'idle', '2', '200', 'threads', '2', '300', 'cpu', '1200', 'alloc', '64', 'write', '16', f, 'read', '16', f, 'stop', 'cpu', '100']);
    const pid = await pidOf(t, 'resource_work');
    cleanups.push(() => { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }); // not left stopped
    await stopped(pid);
    const frozenAt = now();
    const p = await waitFor(() => t.of('process', pid).find(r => r.ts_ns > frozenAt), 'a sample after the stop');
    const threads = await waitFor(() => {
      const th = t.of('thread', pid).filter(r => r.ts_ns > frozenAt);
      return th.length >= 3 && th;
    }, 'thread samples after the stop');

    // the process: /proc/PID/{stat,io,status} sum its live and dead threads, as procimage does
    const ps = stat(`/proc/${pid}`), pio = io(`/proc/${pid}`), pst = status(`/proc/${pid}`);
    const procCpu = (ps.utime + ps.stime) * TICK_NS;
    expect(p.total_cpu_ns as number).toBeGreaterThan(2e9); // 1.2 s + 2 × 0.3 + 2 × 0.2 burned
    expect(relDiff(p.total_cpu_ns as number, procCpu)).toBeLessThan(0.02);
    // /proc splits the same precise total by the same rule, in whole ticks
    expect(Math.abs((p.total_user_ns as number) - ps.utime * TICK_NS)).toBeLessThan(0.02 * procCpu);
    expect(Math.abs((p.total_system_ns as number) - ps.stime * TICK_NS)).toBeLessThan(0.02 * procCpu);
    expect(p).toMatchObject({
      total_io_read_bytes: pio.rchar, total_io_write_bytes: pio.wchar, total_read_syscalls: pio.syscr,
      total_write_syscalls: pio.syscw, total_read_bytes: pio.read_bytes, total_write_bytes: pio.write_bytes,
      total_cancelled_write_bytes: pio.cancelled_write_bytes,
      total_minor_faults: ps.minflt, total_major_faults: ps.majflt,
      rss_bytes: pst.VmRSS, rss_anon_bytes: pst.RssAnon, rss_file_bytes: pst.RssFile, rss_shmem_bytes: pst.RssShmem,
      swap_bytes: pst.VmSwap, vm_bytes: pst.VmSize, rss_peak_bytes: pst.VmHWM, threads: pst.Threads, exited: false,
    });
    // and what the workload did
    expect(p.rss_anon_bytes as number).toBeGreaterThan(64 * MiB);
    expect(relDiff(p.total_write_bytes as number, 16 * MiB)).toBeLessThan(0.05);
    expect(relDiff(p.total_read_bytes as number, 16 * MiB)).toBeLessThan(0.05);
    expect(relDiff(p.total_io_write_bytes as number, 16 * MiB)).toBeLessThan(0.05);

    // each live thread: its own /proc/PID/task/TID files; schedstat's on-CPU ns exactly
    expect(threads.map(r => r.pid).sort()).toEqual(readdirSync(`/proc/${pid}/task`).map(Number).sort());
    for (const th of threads) {
      const path = `/proc/${pid}/task/${th.pid}`;
      const s = stat(path), tio = io(path), tst = status(path);
      expect(th.total_cpu_ns, `thread ${th.pid}`).toBe(schedstat(path).oncpu);
      expect(relDiff(th.total_cpu_ns as number, (s.utime + s.stime) * TICK_NS + 1)).toBeLessThan(0.02 + TICK_NS * 2 / (th.total_cpu_ns as number));
      expect(th).toMatchObject({
        total_io_read_bytes: tio.rchar, total_io_write_bytes: tio.wchar, total_read_bytes: tio.read_bytes,
        total_write_bytes: tio.write_bytes, total_minor_faults: s.minflt, total_major_faults: s.majflt,
        total_voluntary_switches: tst.voluntary_ctxt_switches, total_involuntary_switches: tst.nonvoluntary_ctxt_switches,
        rss_bytes: pst.VmRSS, threads: null, scope: 'thread',
      });
    }

    // thawed, it burns 100 ms more and exits: its last figures come with it
    const frozenCpu = p.total_cpu_ns as number;
    process.kill(pid, 'SIGCONT');
    expect(await t.exited).toBe(0);
    const last = t.of('process', pid).at(-1)!;
    expect(last.exited).toBe(true);
    if (MEM_AT_EXIT) expect(Math.abs((last.rss_bytes as number) - pst.VmRSS)).toBeLessThan(RSS_APPROX_BYTES + MiB);
    else expect(last.rss_bytes).toBeNull();
    expect(last.total_cpu_ns as number).toBeGreaterThanOrEqual(frozenCpu + 100e6);
    expect(last.rss_peak_bytes as number).toBeGreaterThanOrEqual(pst.VmHWM);
  });
});

describe('resource: what ends between two samples', () => {
  it('a process (and its threads) that lives and dies inside one interval still gets its last figures', async () => {
    const a = await Attach.start(['-r', '--json']);
    cleanups.push(() => a.cleanup());
    const f = join(scratch(), 'data');
    // behind the gate, so it is a target before it starts; its stdout carries its own /proc view
    const child = spawn(GATE, ['3', workload('resource_work'), 'threads', '2', '200', 'cpu', '300', 'alloc', '16',
      'write', '4', f, 'read', '4', f, 'report', 'exit'], { stdio: ['ignore', 'pipe', 'inherit', 'pipe'] });
    cleanups.push(() => { child.kill('SIGKILL'); });
    let report = '';
    child.stdout!.setEncoding('utf8').on('data', d => { report += d; });
    const act = await a.ctl(['-a', '-P', String(child.pid), '-r', '--interval', '30']);
    expect(act.code, act.stderr).toBe(0);
    const openedAt = now();
    (child.stdio[3] as NodeJS.WritableStream).end('g');
    await new Promise(r => child.once('exit', r));
    const own = JSON.parse(report) as Record<string, number>;

    // the next sample is 30 s away: what is printed now came from the exit captures
    await new Promise(r => setTimeout(r, 300));
    expect((await a.ctl(['-d'])).code).toBe(0);
    const recs = a.records().filter(r => r.type === 'resource' && r.tgid === child.pid) as Rec[];
    const p = recs.find(r => r.scope === 'process')!;
    expect(p).toMatchObject({ exited: true, threads: 0, comm: 'resource_work' });
    // its memory as it exited: the 16 MiB it kept, what its /proc/self/status said just before
    if (MEM_AT_EXIT) expect(Math.abs((p.rss_bytes as number) - own.rss_bytes)).toBeLessThan(RSS_APPROX_BYTES);
    else expect(p.rss_bytes).toBeNull();
    expect(p.start_ts_ns as number).toBeGreaterThan(openedAt - 1e9);
    // the process read /proc/self/{io,stat} and its CPU clock just before exit(): little happened after
    expect(p.total_cpu_ns as number).toBeGreaterThanOrEqual(own.cpu_ns);
    expect(relDiff(p.total_cpu_ns as number, own.cpu_ns)).toBeLessThan(0.02);
    expect(relDiff(p.total_cpu_ns as number, (own.utime_ticks + own.stime_ticks) * 1e9 / own.ticks_per_s)).toBeLessThan(0.02 + 2e7 / own.cpu_ns);
    for (const [mine, theirs] of [['total_io_read_bytes', 'rchar'], ['total_io_write_bytes', 'wchar'], ['total_read_bytes', 'read_bytes'],
      ['total_write_bytes', 'write_bytes'], ['total_minor_faults', 'minflt']] as const) {
      expect(relDiff(p[mine] as number, own[theirs]), `${mine} ~ ${theirs}`).toBeLessThan(0.02);
    }
    expect(p.total_major_faults).toBe(own.majflt);
    expect(p.total_write_bytes as number).toBeGreaterThanOrEqual(4 * MiB);
    expect(p.rss_peak_bytes as number).toBeGreaterThan(16 * MiB);
    // the two threads that burned 200 ms each, and the main thread, each with its own last figures
    const threads = recs.filter(r => r.scope === 'thread');
    expect(threads.map(r => r.exited)).toEqual([true, true, true]);
    const workers = threads.filter(r => r.pid !== child.pid);
    expect(workers).toHaveLength(2);
    for (const w of workers) {
      expect(w.total_cpu_ns as number).toBeGreaterThanOrEqual(200e6);
      expect(w.total_cpu_ns as number).toBeLessThan(200e6 * 1.02 + 2e6);
    }
    // the threads add up to the process (a thread's capture is taken at sched_process_exit: the few
    // µs it still runs on its way out reach the process's figures, not its own)
    const threadCpu = threads.reduce((s, r) => s + (r.total_cpu_ns as number), 0);
    expect(threadCpu).toBeLessThanOrEqual(p.total_cpu_ns as number);
    expect((p.total_cpu_ns as number) - threadCpu).toBeLessThan(2e6);
    expect(threads.reduce((s, r) => s + (r.total_io_write_bytes as number), 0)).toBe(p.total_io_write_bytes);
  });
});

describe('resource: the slides\' anomaly cases, each recognised from its data', () => {
  it('stress-ng -c 1: the hog uses a whole CPU, all it is given (per interval, against its schedstat)', async () => {
    const t = trace(['-r', '--interval', '0.5', '--', 'stress-ng', '-c', '1', '-t', '6', '--quiet']);
    // the worker: the process that takes the CPU
    const hog = await waitFor(() => t.of('process').find(r => (r.cpu_pct as number) > 30 && !r.exited)?.pid, 'the hog', 20_000);
    const oracle = new SchedstatSampler(`/proc/${hog}`);
    cleanups.push(() => oracle.stop());
    const since = now();
    await waitFor(() => t.of('process', hog).filter(r => r.ts_ns - (r.interval_ns as number) > since).length >= 5, 'five intervals', 20_000);
    oracle.stop();
    const windows = t.of('process', hog).filter(r => r.ts_ns - (r.interval_ns as number) > since && !r.exited).flatMap(r => {
      const a = oracle.at(r.ts_ns - (r.interval_ns as number)), b = oracle.at(r.ts_ns);
      return a && b ? [{ r, oncpuPct: (b.oncpu - a.oncpu) * 100 / (r.interval_ns as number),
        waitPct: (b.runDelay - a.runDelay) * 100 / (r.interval_ns as number) }] : [];
    });
    expect(windows.length).toBeGreaterThanOrEqual(3);
    for (const { r, oncpuPct, waitPct } of windows) {
      // what the kernel's own per-task accounting says over the same window
      expect(Math.abs((r.cpu_pct as number) - oncpuPct), `window ending ${r.ts_ns}`).toBeLessThan(2);
      // a hog: running whenever it is not waiting for a CPU (on a busy machine, it waits), in user mode
      expect(oncpuPct + waitPct).toBeGreaterThan(97);
      expect(r.cpu_pct as number).toBeGreaterThan(100 - waitPct - 3);
      expect(r.cpu_pct as number).toBeLessThan(101);
      expect(r.user_pct as number).toBeGreaterThan(0.95 * (r.cpu_pct as number));
    }
    await t.exited;
  });

  it('stress-ng --vm 1 --vm-bytes 128M --vm-keep: the hog\'s rss is its size', async () => {
    const t = trace(['-r', '--interval', '0.25', '--', 'stress-ng', '--vm', '1', '--vm-bytes', '128M', '--vm-keep', '-t', '4', '--quiet']);
    const r = await waitFor(() => t.of('process').find(x => (x.rss_bytes as number) > 120 * MiB), 'a 128 MiB rss', 20_000);
    const own = status(`/proc/${r.pid}`);
    expect(relDiff(r.rss_bytes as number, 128 * MiB)).toBeLessThan(0.05);
    expect(relDiff(r.rss_anon_bytes as number, 128 * MiB)).toBeLessThan(0.05);
    expect(relDiff(r.rss_bytes as number, own.VmRSS)).toBeLessThan(0.02); // kept: it stays that size
    expect(r.vm_bytes as number).toBeGreaterThanOrEqual(128 * MiB);
    await t.exited;
  });

  it('stress-ng --iomix 1 --iomix-bytes 64M: the writer\'s bytes are what it wrote', async () => {
    const dir = scratch();
    const t = trace(['-r', '--interval', '0.25', '--', 'stress-ng', '--iomix', '1', '--iomix-bytes', '64M', '-t', '20',
      '--temp-path', dir, '--quiet']);
    const root = await waitFor(() => t.of('process')[0]?.tgid, 'stress-ng', 20_000);
    await new Promise(r => setTimeout(r, 2500));
    // freeze the whole tree, then compare each process's totals with its /proc/PID/io
    const tree = descendants(root);
    for (const pid of tree) process.kill(pid, 'SIGSTOP');
    cleanups.push(() => { for (const pid of tree) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } });
    await Promise.all(tree.map(stopped));
    const frozenAt = now();
    await waitFor(() => t.records().some(r => r.scope === 'system' && r.ts_ns > frozenAt + 300e6), 'a sample after the freeze');
    let wrote = 0, storage = 0, procWrote = 0, procStorage = 0;
    for (const pid of tree) {
      const r = t.of('process', pid).filter(x => x.ts_ns > frozenAt).at(-1);
      expect(r, `a record of ${pid}`).toBeDefined();
      const own = io(`/proc/${pid}`);
      expect(r).toMatchObject({ total_io_write_bytes: own.wchar, total_write_bytes: own.write_bytes, total_io_read_bytes: own.rchar });
      wrote += r!.total_io_write_bytes as number;
      storage += r!.total_write_bytes as number;
      procWrote += own.wchar;
      procStorage += own.write_bytes;
    }
    expect(relDiff(wrote, procWrote)).toBeLessThan(0.05);
    expect(relDiff(storage, procStorage)).toBeLessThan(0.05);
    // it is a writer: megabytes written, to storage too, and seen per interval while it ran
    expect(wrote).toBeGreaterThan(1 * MiB);
    expect(storage).toBeGreaterThan(MiB / 2);
    expect(t.of('process').some(r => (r.write_bytes as number) > 0 && (r.io_write_bytes as number) > 0)).toBe(true);
  });

  it('dd if=<a file> of=/dev/null bs=1M: the reader\'s bytes are what dd says it copied', async () => {
    const f = join(scratch(), 'data');
    const mk = spawn(workload('resource_work'), ['write', '64', f]);
    await new Promise(r => mk.once('exit', r));
    // out of the page cache, so that dd reads the disk
    await new Promise(r => spawn('dd', [`if=${f}`, 'iflag=nocache', 'count=0', 'status=none']).once('exit', r));
    const t = trace(['-r', '--interval', '5', '--', 'dd', `if=${f}`, 'of=/dev/null', 'bs=1M']);
    expect(await t.exited).toBe(0);
    const copied = Number(/^(\d+) bytes/m.exec(t.err)?.[1]);
    expect(copied).toBe(64 * MiB);
    const p = t.of('process').find(r => r.comm === 'dd' && r.exited)!;
    expect(relDiff(p.total_io_read_bytes as number, copied)).toBeLessThan(0.05);
    expect(relDiff(p.total_read_bytes as number, copied)).toBeLessThan(0.05);
    expect(p.total_write_bytes).toBe(0); // /dev/null is no storage
  });
});

describe('resource: targets', () => {
  it('every process: the top N by each resource each interval, the system beside, procimage itself left out', async () => {
    const hog = spawn(workload('resource_work'), ['cpu', '6000']);
    cleanups.push(() => { hog.kill('SIGKILL'); });
    const t = trace(['-r', '--interval', '0.5', '--top', '6', '--duration', '2.7']);
    expect(await t.exited).toBe(0);
    // one poll = a system record followed by the processes it ranked
    const polls: Rec[][] = [];
    for (const r of t.records()) if (r.scope === 'system') polls.push([r]); else polls.at(-1)!.push(r);
    expect(polls.length).toBeGreaterThanOrEqual(5);
    expect(t.records().filter(r => r.scope === 'thread')).toEqual([]);
    for (const [system, ...procs] of polls) {
      expect(procs.length).toBeGreaterThan(0);
      expect(procs.length).toBeLessThanOrEqual(6 * 6);
      for (const name of ['cpu', 'memory', 'storage', 'io', 'faults', 'switches']) {
        expect(procs.filter(p => (p.top as string[]).includes(name)).length).toBeLessThanOrEqual(6);
      }
      expect(procs.map(p => p.tgid)).not.toContain(t.proc.pid);
      expect((system.cpus as number)).toBeGreaterThan(0);
      expect(system.mem_used_bytes as number).toBeLessThan(system.mem_total_bytes as number);
    }
    // the hog is there, ranked by CPU, and the system's CPU time includes it
    const full = polls.slice(0, -1).filter(([s]) => (s.interval_ns as number) > 0.4e9);
    for (const [system, ...procs] of full) {
      const h = procs.find(p => p.pid === hog.pid);
      expect(h, `poll at ${system.ts_ns}`).toBeDefined();
      expect(h!.top).toContain('cpu');
      expect(system.cpu_pct as number).toBeGreaterThan((h!.cpu_pct as number) - 5); // /proc/stat counts in 10 ms ticks
    }
  });

  it('-p: one thread, with its process\'s memory', async () => {
    const w = spawn(workload('resource_work'), ['idle', '1', '300', 'alloc', '8', 'stop']);
    cleanups.push(() => { w.kill('SIGKILL'); });
    await stopped(w.pid!);
    const tid = readdirSync(`/proc/${w.pid}/task`).map(Number).find(x => x !== w.pid)!;
    const t = trace(['-r', '-p', String(tid), '--interval', '0.25', '--duration', '1.1']);
    expect(await t.exited).toBe(0);
    const recs = t.records().filter(r => r.scope !== 'system');
    expect(recs.length).toBeGreaterThanOrEqual(3);
    const own = status(`/proc/${w.pid}`);
    for (const r of recs) {
      expect(r).toMatchObject({ scope: 'thread', pid: tid, tgid: w.pid, rss_bytes: own.VmRSS, cpu_ns: 0 });
      expect(r.total_cpu_ns).toBe(schedstat(`/proc/${w.pid}/task/${tid}`).oncpu);
    }
  });

  it('-c CPU: that CPU\'s idle task, its time from /proc/stat', async () => {
    const t = trace(['-r', '-c', '0', '--interval', '0.3', '--duration', '1']);
    expect(await t.exited).toBe(0);
    const recs = t.records().filter(r => r.scope !== 'system');
    expect(recs.length).toBeGreaterThanOrEqual(3);
    for (const r of recs) {
      expect(r).toMatchObject({ scope: 'thread', pid: 0, tgid: 0, comm: 'swapper/0', user_ns: 0 });
      expect(r.cpu_ns as number).toBeLessThanOrEqual((r.interval_ns as number) + TICK_NS);
    }
  });
});

describe('resource: what the kernel cannot keep is counted', () => {
  it('exit captures beyond resource_exits\' size are counted as lost, one for one', async () => {
    const kt = BpfObject.open(paths.bpfObject('keytime'));
    cleanups.push(() => kt.close());
    kt.setMaxEntries('resource_exits', 4);
    kt.load();
    // forkloop 10, followed as a -P target: 11 processes, one thread each, exit; nobody reads the map
    const child = new GatedChild([workload('forkloop'), '10']);
    const word = Buffer.alloc(8);
    word.writeBigUInt64LE(1n << BigInt(child.pid % 64));
    const key = Buffer.alloc(4);
    key.writeUInt32LE(Math.floor(child.pid / 64));
    kt.map('pi_follow').update(key, word);
    kt.map('pi_policy').update(Buffer.alloc(4), encodePolicy(defaultPolicy({ kind: 'tgid', tgid: child.pid }, ['resource'])));
    const links = ['keytime_fork', 'keytime_exit'].map(p => kt.program(p).attach());
    cleanups.push(() => { for (const l of links) l.close(); });
    child.open();
    await child.exited;
    expect([...kt.map('resource_exits').keys()]).toHaveLength(4);
    expect(readKernelLost(kt.map('pi_lost')).get('resource_exits_full')).toBe(11 - 4);
  });
});
