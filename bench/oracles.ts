// keytime and schedule against independent oracles, on one run of one target:
//  - the kernel's /proc/PID/schedstat (on-CPU time, run-queue wait, timeslices);
//  - a bpftrace script (bench/oracles/rqdelay.bt) that times every scheduling delay of the target one by
//    one, with runqlat's definition, on classic tracepoints: count, sum, min, max and exact median;
//  - libbpf-tools' runqlat -p (the same delays, as a log2 histogram in µs);
//  - libbpf-tools' offcputime -p (off-CPU time by stack), compared stack by stack on the kernel stack
//    (its user stacks walk frame pointers, which gcc -O2 and glibc do not keep).
// The target computes and sleeps (20 ms on, SLEEP_MS off), with or without one CPU hog per core, so that
// it both blocks and waits for a CPU. It is held behind the gate until every tool is attached, and reads
// schedstat at the start and end of its own work.
// Every tool here runs programs on the same tracepoints, and the kernel runs them one after the other in
// the order they were attached: each program's run time delays the clock reads of the ones after it (a
// bpftrace printf, an offcputime stack walk, procimage's DWARF stack copy: µs each). procimage is attached
// first, with --stack none (kernel stacks only, the cheap switch-out), so that its stamps are taken before
// any oracle's programs run and its own switch-out costs the oracles' stamps as little as it can; the
// table shows the offset that remains, event by event, at the same switch-in.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, CORES, GATE, ROOT, cpuHogs, fmt, median, quantile as quantileOf, sleep, stop, table, waitFor, workload } from './lib.js';

const ROUNDS = '40', SLEEP_MS = '30';
const RQDELAY_BT = join(ROOT, 'bench', 'oracles', 'rqdelay.bt');
const TOP_STACKS = 6;

export interface Tool { p: ChildProcess; out: string; err: string }

export function start(cmd: string, args: string[]): Tool {
  const t: Tool = { p: spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }), out: '', err: '' };
  t.p.stdout!.setEncoding('utf8').on('data', d => { t.out += d; });
  t.p.stderr!.setEncoding('utf8').on('data', d => { t.err += d; });
  return t;
}

export async function interrupt(t: Tool): Promise<void> {
  if (t.p.exitCode !== null) return;
  const done = new Promise(r => t.p.once('close', r));
  t.p.kill('SIGINT');
  // bpftrace once stayed up for an hour after SIGINT (fresh machine, 2026-12-03); what it printed is
  // in hand already, its END block only clears a map
  const stuck = setTimeout(() => { console.error(`${t.p.spawnfile} ignored SIGINT for 10 s: killed`); t.p.kill('SIGKILL'); }, 10_000);
  await done;
  clearTimeout(stuck);
}

/** /proc/PID/schedstat: on-CPU ns, run-queue wait ns, timeslices. */
function schedstat(pid: number): [number, number, number] {
  return readFileSync(`/proc/${pid}/schedstat`, 'utf8').trim().split(/\s+/).map(Number) as [number, number, number];
}

/** The machine's steal time so far, ns, all CPUs (/proc/stat: the host ran something else on our vCPUs). */
function stealNs(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
  return Number(f[8]) * 1e9 / 100; // USER_HZ: 100 on x86
}

/** runqlat's histogram: [low us, high us, count] rows. */
function runqlatRows(out: string): Array<[number, number, number]> {
  return [...out.matchAll(/^\s*(\d+) -> (\d+)\s*: (\d+)/gm)].map(m => [Number(m[1]), Number(m[2]), Number(m[3])]);
}

/** The bpftrace oracle's delays, ns, one per line ("d <ns>"). */
interface Delay { ns: number; from: number; to: number }
function bpftraceDelays(out: string): Delay[] {
  return [...out.matchAll(/^d (\d+) (\d+) (\d+)$/gm)].map(m => ({ ns: Number(m[1]), from: Number(m[2]), to: Number(m[3]) }));
}

/** For each interval's end, the difference to the nearest switch-in the oracle stamped (ns). */
function stampOffsets(ends: number[], theirs: number[]): number[] {
  const s = [...theirs].sort((a, b) => a - b);
  return ends.map(e => {
    let lo = 0, hi = s.length - 1;
    while (lo < hi) { const m = (lo + hi) >> 1; if (s[m] < e) lo = m + 1; else hi = m; }
    const best = lo > 0 && Math.abs(s[lo - 1] - e) < Math.abs(s[lo] - e) ? s[lo - 1] : s[lo];
    return e - best;
  });
}

/**
 * A kernel stack as function names, leaf first, without offsets or the tracing programs' own frames
 * (offcputime's stacks start in its program and the tracepoint's iterator; procimage leaves those out).
 */
function kernelKey(frames: string[]): string {
  return frames.map(f => f.replace(/\+0x[0-9a-f]+$/, '')).filter(f => !/^(bpf_|__traceiter_)/.test(f)).join(' < ');
}

/**
 * offcputime's stacks: blocks of kernel frames (leaf first), user frames (if it could name them), a
 * "-  comm (pid)" line and the microseconds off CPU. Returns µs by kernel stack.
 */
function offcputimeByKernelStack(out: string): Map<string, number> {
  const byStack = new Map<string, number>();
  for (const block of out.split(/\n\s*\n/)) {
    const lines = block.split('\n').map(l => l.trim()).filter(Boolean);
    const sep = lines.findIndex(l => /^-\s+\S.*\(\d+\)$/.test(l));
    if (sep < 1 || !/^\d+$/.test(lines[sep + 1] ?? '')) continue;
    // kernel frames come first; offcputime prints user frames after them only when it could read the
    // process's symbols, and they are in user space (no kernel text name like the ones above): keep
    // the frames up to the system-call or interrupt entry, where every kernel stack of a user task ends
    let end = lines.findIndex(l => /^(entry_SYSCALL_64\S*|asm_\S+|ret_from_fork\S*)$/.test(l));
    if (end < 0 || end > sep) end = sep - 1;
    const key = kernelKey(lines.slice(0, end + 1));
    byStack.set(key, (byStack.get(key) ?? 0) + Number(lines[sep + 1]));
  }
  return byStack;
}

interface OffRec { type: string; pid: number; duration_ns: number | null; kstack: string[]; state: string; start_ts_ns: number; end_ts_ns: number }

/** A log2 histogram's median slot: its label in µs and its bounds in ns. */
function log2Median(h: number[]): { label: string; lo: number; hi: number } {
  const total = h.reduce((a, b) => a + b, 0);
  let seen = 0;
  for (let i = 0; i < h.length; i++) {
    seen += h[i];
    if (seen >= total / 2) return { label: `${fmt(2 ** i / 1000, 1)}-${fmt(2 ** (i + 1) / 1000, 1)} µs`, lo: 2 ** i, hi: 2 ** (i + 1) };
  }
  return { label: '-', lo: 0, hi: 0 };
}

export async function oraclesBench(): Promise<string> {
  return (await oneRun(true)) + '\n' + (await oneRun(false));
}

async function oneRun(loaded: boolean): Promise<string> {
  const hogs = loaded ? cpuHogs() : undefined;
  await sleep(300);
  const target = spawn(GATE, ['3', workload('runsleep'), ROUNDS, SLEEP_MS], { stdio: ['ignore', 'ignore', 'inherit', 'pipe'] });
  const pid = target.pid!;
  const exited = new Promise(r => target.once('exit', r));
  // procimage first: see the head of this file
  const pi = start(CLI, ['trace', '--json', '-k', '1', '-S', '--stack', 'none', '-P', String(pid), '--interval', '0.5']);
  const tools: Tool[] = [pi];
  try {
    await waitFor(() => pi.out.includes('"type":"sched"'), 'procimage');
    // then bpftrace, the delay oracle, so that only procimage's programs run before its stamps; then
    // the libbpf-tools, which print nothing we can wait for (stdout to a pipe is buffered): give them time
    const bt = start('bpftrace', [RQDELAY_BT, String(pid)]);
    tools.push(bt);
    await waitFor(() => bt.err.includes('Attaching') || bt.out.includes('Attaching'), 'bpftrace');
    await sleep(500);
    const rq = start('runqlat', ['-p', String(pid)]);
    const oc = start('offcputime', ['-p', String(pid)]);
    tools.push(rq, oc);
    await sleep(3000);
    const before = schedstat(pid);
    const steal0 = stealNs();
    const t0 = process.hrtime.bigint();
    (target.stdio[3] as NodeJS.WritableStream).end('g');
    // the process exits at the end: take schedstat while its last sleep is still on
    let after = before;
    while (target.exitCode === null) {
      try { after = schedstat(pid); } catch { break; }
      await sleep(5);
    }
    await exited;
    const wallNs = Number(process.hrtime.bigint() - t0);
    const steal = stealNs() - steal0;
    await sleep(1200); // one more procimage poll
    await Promise.all([interrupt(rq), interrupt(oc), interrupt(bt), interrupt(pi)]);

    const recs = pi.out.trim().split('\n').filter(l => l.startsWith('{')).map(l => JSON.parse(l));
    const mine = (r: { pid: number }) => r.pid === pid;
    const on = recs.filter(r => r.type === 'oncpu' && mine(r) && r.duration_ns !== null);
    const off: OffRec[] = recs.filter(r => r.type === 'offcpu' && mine(r) && r.duration_ns !== null);
    const sched = recs.filter(r => r.type === 'sched' && r.scope === 'thread' && mine(r)).at(-1);
    const onNs = on.reduce((a, r) => a + r.duration_ns, 0);
    const offNs = off.reduce((a, r) => a + r.duration_ns!, 0);
    const delays = bpftraceDelays(bt.out);
    const btSum = delays.reduce((a, d) => a + d.ns, 0);
    const btMedian = median(delays.map(d => d.ns));
    // the same events in both: each interval's switch-in against the nearest the oracle stamped, and
    // for a preemption (state R: its delay began at the switch-out) the two stamps of its start
    const ends = stampOffsets(off.map(r => r.end_ts_ns), delays.map(d => d.to));
    const byEnd = new Map(delays.map(d => [d.to, d]));
    const starts = off.flatMap((r, i) => {
      const d = byEnd.get(r.end_ts_ns - ends[i]);
      return r.state === 'R' && d ? [r.start_ts_ns - d.from] : [];
    });
    const rqRows = runqlatRows(rq.out);
    const rqCount = rqRows.reduce((a, r) => a + r[2], 0);
    const rqMedianBucket = (() => {
      let seen = 0;
      for (const [lo, hi, n] of rqRows) { seen += n; if (seen >= rqCount / 2) return `${lo}-${hi} µs`; }
      return '-';
    })();
    const ours = log2Median(sched?.hist_log2_ns ?? []);
    const diff = (a: number, b: number) => (b ? `${fmt(((a - b) / b) * 100, 1)}%` : '-');
    const ms = (ns: number) => fmt(ns / 1e6, 2);
    const us = (ns: number) => fmt(ns / 1e3, 1);
    const rows: Array<Array<string | number>> = [
      ['on-CPU time (ms)', ms(onNs), `${ms(after[0] - before[0])} (schedstat)`, diff(onNs, after[0] - before[0])],
      ['', '', `${ms(steal)} steal time of the run, all CPUs (/proc/stat)`, ''],
      ['delays counted', sched?.count ?? 0, `${delays.length} (bpftrace, one by one)`, diff(sched?.count ?? 0, delays.length)],
      ['', '', `${rqCount} (runqlat)`, diff(sched?.count ?? 0, rqCount)],
      ['', '', `${after[2] - before[2]} (schedstat timeslices)`, diff(sched?.count ?? 0, after[2] - before[2])],
      ['total scheduling delay (ms)', ms(sched?.total_ns ?? 0), `${ms(btSum)} (bpftrace)`, diff(sched?.total_ns ?? 0, btSum)],
      ['', '', `${ms(after[1] - before[1])} (schedstat run_delay)`, diff(sched?.total_ns ?? 0, after[1] - before[1])],
      ['shortest / longest delay (µs)', `${us(sched?.min_ns ?? 0)} / ${us(sched?.max_ns ?? 0)}`,
        `${us(Math.min(...delays.map(d => d.ns)))} / ${us(Math.max(...delays.map(d => d.ns)))} (bpftrace)`, ''],
      ['median delay', ours.label, `${us(btMedian)} µs (bpftrace; ${btMedian >= ours.lo && btMedian < ours.hi ? 'in' : 'NOT in'} procimage's slot)`, ''],
      ['', '', `${rqMedianBucket} (runqlat's µs slot)`, ''],
      ['a switch-in\'s stamp, procimage - bpftrace (µs)', `median ${us(median(ends))}`, `p10 ${us(quantileOf(ends, 0.1))}, p90 ${us(quantileOf(ends, 0.9))}`, ''],
      ['a preemption\'s first stamp, procimage - bpftrace (µs)', `median ${us(median(starts))}`, `p10 ${us(quantileOf(starts, 0.1))}, p90 ${us(quantileOf(starts, 0.9))}`, ''],
      ['off-CPU time (ms)', ms(offNs), `${ms(offcputimeTotal(oc.out) * 1e3)} (offcputime)`, diff(offNs, offcputimeTotal(oc.out) * 1e3)],
      ['on + off-CPU (ms)', ms(onNs + offNs), `${ms(wallNs)} (wall, from gate to exit)`, diff(onNs + offNs, wallNs)],
    ];

    // off-CPU time stack by stack: procimage's intervals summed by kernel stack against offcputime's
    const oursByStack = new Map<string, { ns: number; n: number }>();
    for (const r of off) {
      const k = kernelKey(r.kstack);
      const e = oursByStack.get(k) ?? { ns: 0, n: 0 };
      e.ns += r.duration_ns!; e.n++;
      oursByStack.set(k, e);
    }
    const theirs = offcputimeByKernelStack(oc.out);
    const stacks = [...new Set([...oursByStack.keys(), ...theirs.keys()])]
      .sort((a, b) => Math.max(oursByStack.get(b)?.ns ?? 0, (theirs.get(b) ?? 0) * 1e3) - Math.max(oursByStack.get(a)?.ns ?? 0, (theirs.get(a) ?? 0) * 1e3));
    const short = (k: string) => {
      const f = k.split(' < ').filter(x => !/^(__schedule|schedule|do_syscall_64|entry_SYSCALL_64\S*|x64_sys_call)$/.test(x));
      return f.slice(0, 3).join(' < ') + (f.length > 3 ? ' …' : '');
    };
    const stackRows = stacks.slice(0, TOP_STACKS).map(k => {
      const o = oursByStack.get(k), t = theirs.get(k);
      return [short(k), o ? ms(o.ns) : '-', o?.n ?? 0, t !== undefined ? ms(t * 1e3) : '-', o && t !== undefined ? diff(o.ns, t * 1e3) : '-'];
    });
    const rest = stacks.slice(TOP_STACKS);
    if (rest.length) {
      const o = rest.reduce((a, k) => a + (oursByStack.get(k)?.ns ?? 0), 0), t = rest.reduce((a, k) => a + (theirs.get(k) ?? 0) * 1e3, 0);
      stackRows.push([`${rest.length} other stacks`, ms(o), rest.reduce((a, k) => a + (oursByStack.get(k)?.n ?? 0), 0), ms(t), diff(o, t)]);
    }

    const what = `runsleep ${ROUNDS} × (20 ms on, ${SLEEP_MS} ms asleep), ${loaded ? `stress-ng -c ${CORES} running` : 'idle machine'}`;
    return `### keytime and schedule against oracles (one run: ${what})\n\n` +
      table(['figure', 'procimage', 'oracle', 'difference'], rows) + '\n\n' +
      `#### off-CPU time by kernel stack, the same run (top ${TOP_STACKS}; procimage against offcputime -p)\n\n` +
      table(['kernel stack (leaf first, scheduler frames left out)', 'procimage ms', 'intervals', 'offcputime ms', 'difference'], stackRows) + '\n';
  } finally {
    for (const t of tools) if (t.p.exitCode === null) t.p.kill('SIGKILL');
    target.kill('SIGKILL');
    if (hogs) await stop(hogs);
  }
}

/** offcputime's total: every stack ends with its microseconds on a line of its own. */
function offcputimeTotal(out: string): number {
  return [...out.matchAll(/^\s+(\d+)\s*$/gm)].reduce((a, m) => a + Number(m[1]), 0);
}
