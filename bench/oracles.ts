// keytime and schedule against independent oracles, on one run of one target: libbpf-tools' runqlat
// (scheduling delay) and offcputime (off-CPU time by stack), and the kernel's /proc/PID/schedstat
// (on-CPU time, run-queue wait). The target computes and sleeps (20 ms on, SLEEP_MS off) with one CPU
// hog per core running, so that it both blocks and waits for a CPU. It is held behind the gate until
// every tool is attached, and reads schedstat at the start and end of its own work.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { CLI, CORES, GATE, cpuHogs, fmt, sleep, stop, table, waitFor, workload } from './lib.js';

const ROUNDS = '40', SLEEP_MS = '30';

interface Tool { p: ChildProcess; out: string; err: string }

function start(cmd: string, args: string[]): Tool {
  const t: Tool = { p: spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }), out: '', err: '' };
  t.p.stdout!.setEncoding('utf8').on('data', d => { t.out += d; });
  t.p.stderr!.setEncoding('utf8').on('data', d => { t.err += d; });
  return t;
}

async function interrupt(t: Tool): Promise<void> {
  const done = new Promise(r => t.p.once('close', r));
  t.p.kill('SIGINT');
  await done;
}

/** /proc/PID/schedstat: on-CPU ns, run-queue wait ns, timeslices. */
function schedstat(pid: number): [number, number, number] {
  return readFileSync(`/proc/${pid}/schedstat`, 'utf8').trim().split(/\s+/).map(Number) as [number, number, number];
}

/** runqlat's histogram: [low us, high us, count] rows. */
function runqlatRows(out: string): Array<[number, number, number]> {
  return [...out.matchAll(/^\s*(\d+) -> (\d+)\s*: (\d+)/gm)].map(m => [Number(m[1]), Number(m[2]), Number(m[3])]);
}

/** offcputime's total: every stack ends with its microseconds on a line of its own. */
function offcpuTotalUs(out: string): number {
  return [...out.matchAll(/^\s+(\d+)\s*$/gm)].reduce((a, m) => a + Number(m[1]), 0);
}

export async function oraclesBench(): Promise<string> {
  return (await oneRun(true)) + "\n" + (await oneRun(false));
}

async function oneRun(loaded: boolean): Promise<string> {
  const hogs = loaded ? cpuHogs() : undefined;
  await sleep(300);
  const target = spawn(GATE, ['3', workload('runsleep'), ROUNDS, SLEEP_MS], { stdio: ['ignore', 'ignore', 'inherit', 'pipe'] });
  const pid = target.pid!;
  const exited = new Promise(r => target.once('exit', r));
  const rq = start('runqlat', ['-p', String(pid)]);
  const oc = start('offcputime', ['-p', String(pid)]);
  const pi = start(CLI, ['trace', '--json', '-k', '1', '-S', '-P', String(pid), '--interval', '0.5']);
  try {
    // the libbpf-tools print nothing we can wait for (stdout to a pipe is buffered): give them time;
    // procimage's first sched record shows it is collecting
    await sleep(3000);
    await waitFor(() => pi.out.includes('"type":"sched"'), 'procimage');
    const before = schedstat(pid);
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
    await sleep(1200); // one more procimage poll
    await Promise.all([interrupt(rq), interrupt(oc), interrupt(pi)]);

    const recs = pi.out.trim().split('\n').filter(l => l.startsWith('{')).map(l => JSON.parse(l));
    const mine = (r: { pid: number }) => r.pid === pid;
    const on = recs.filter(r => r.type === 'oncpu' && mine(r) && r.duration_ns !== null);
    const off = recs.filter(r => r.type === 'offcpu' && mine(r) && r.duration_ns !== null);
    const sched = recs.filter(r => r.type === 'sched' && r.scope === 'thread' && mine(r)).at(-1);
    const onNs = on.reduce((a, r) => a + r.duration_ns, 0);
    const offNs = off.reduce((a, r) => a + r.duration_ns, 0);
    const rqRows = runqlatRows(rq.out);
    const rqCount = rqRows.reduce((a, r) => a + r[2], 0);
    const rqMedianBucket = (() => {
      let seen = 0;
      for (const [lo, hi, n] of rqRows) { seen += n; if (seen >= rqCount / 2) return `${lo}-${hi} us`; }
      return '-';
    })();
    const ourMedianUs = (() => {
      const h = sched?.hist_log2_ns ?? [];
      const total = h.reduce((a: number, b: number) => a + b, 0);
      let seen = 0;
      for (let i = 0; i < h.length; i++) { seen += h[i]; if (seen >= total / 2) return `${fmt(2 ** i / 1000, 1)}-${fmt(2 ** (i + 1) / 1000, 1)} us`; }
      return '-';
    })();
    const ocUs = offcpuTotalUs(oc.out);
    const diff = (a: number, b: number) => `${fmt(((a - b) / b) * 100, 1)}%`;
    const rows: Array<Array<string | number>> = [
      ['on-CPU time (ms)', fmt(onNs / 1e6, 2), `${fmt((after[0] - before[0]) / 1e6, 2)} (schedstat)`, diff(onNs, after[0] - before[0])],
      ['run-queue wait (ms)', fmt((sched?.total_ns ?? 0) / 1e6, 2), `${fmt((after[1] - before[1]) / 1e6, 2)} (schedstat)`, diff(sched?.total_ns ?? 0, after[1] - before[1])],
      ['timeslices / delays counted', sched?.count ?? 0, `${after[2] - before[2]} (schedstat)`, diff(sched?.count ?? 0, after[2] - before[2])],
      ['delays counted', sched?.count ?? 0, `${rqCount} (runqlat)`, diff(sched?.count ?? 0, rqCount)],
      ['median delay', ourMedianUs, `${rqMedianBucket} (runqlat)`, ''],
      ['off-CPU time (ms)', fmt(offNs / 1e6, 2), `${fmt(ocUs / 1e3, 2)} (offcputime)`, diff(offNs, ocUs * 1e3)],
      ['on + off-CPU (ms)', fmt((onNs + offNs) / 1e6, 2), `${fmt(wallNs / 1e6, 2)} (wall, from gate to exit)`, diff(onNs + offNs, wallNs)],
    ];
    return `### keytime and schedule against oracles (one run: runsleep ${ROUNDS} × (20 ms on, ${SLEEP_MS} ms asleep), ` +
      `${loaded ? `stress-ng -c ${CORES} running` : 'idle machine'})\n\n` + table(['figure', 'procimage', 'oracle', 'difference'], rows) + '\n';
  } finally {
    for (const t of [rq, oc, pi]) if (t.p.exitCode === null) t.p.kill('SIGKILL');
    target.kill('SIGKILL');
    if (hogs) await stop(hogs);
  }
}
