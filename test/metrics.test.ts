// The Prometheus exporter against a real Prometheus: series arrive with the right labels and
// plausible values, new targets appear as new label sets while it runs, ended ones go after the
// grace period (whatever the categories), every query of every Grafana dashboard parses and returns
// data, and docs/metrics.md lists what is served. One Prometheus scrapes every procimage here: the
// attach agent (job procimage, with --bpf-stats), a trace of a command (job trace, -r -s with
// --metrics-threads), the short traces of one thread and of an idle task (trace-pid, trace-cpu) and a
// trace of a shell whose child runs the workload (trace-sh), on which the dashboards' queries run again.
import { spawn, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DASHBOARDS, build, render } from '../tools/dashboards.js';
import { Attach, CLI, ROOT, idlestCpu, pinnedFiles, waitFor, workload } from './helpers.js';
import { Prometheus, freePort, scrapeJob } from './prometheus.js';
import { parseYaml, type Yaml } from './yaml.js';

/** `procimage trace ... --listen` in the background, in a process group of its own with its command. */
class Trace {
  readonly proc: ChildProcess;
  stderr = '';
  readonly exited: Promise<number | null>;

  constructor(readonly port: number, args: string[]) {
    this.proc = spawn(CLI, ['trace', '--listen', `127.0.0.1:${port}`, ...args], { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc.stderr!.on('data', d => { this.stderr += d; });
    this.exited = new Promise(r => this.proc.on('close', code => r(code)));
  }

  /** Serving, and collecting. */
  async ready(): Promise<this> {
    await Promise.race([
      waitFor(async () => /^procimage_active 1$/m.test(await scrape(this.port).catch(() => '')), 'trace to collect', 30_000),
      this.exited.then(code => { throw new Error(`trace exited early (${code}): ${this.stderr}`); }),
    ]);
    return this;
  }

  /** Ctrl-C to the group: the command ends, trace reports its end and exits. */
  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    try { process.kill(-this.proc.pid!, 'SIGINT'); } catch { return; }
    const t = setTimeout(() => { try { process.kill(-this.proc.pid!, 'SIGKILL'); } catch { /* gone */ } }, 10_000);
    await this.exited;
    clearTimeout(t);
  }
}

const scrape = async (port: number) => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();

let prom: Prometheus, agent: Attach, port: number, trace: Trace;
const ports = { trace: 0, pid: 0, cpu: 0, sh: 0 };
const target = { proc: undefined as ReturnType<typeof spawn> | undefined };
/** The trace's grace period, s: short, so that the test sees ended targets go. */
const GRACE = 2;

beforeAll(async () => {
  [port, ports.trace, ports.pid, ports.cpu, ports.sh] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
  agent = await Attach.start(['-k', '-S', '-r', '-s', '-l', '--listen', `127.0.0.1:${port}`, '--metrics-grace', '3', '--bpf-stats']);
  // a process that keeps starting short-lived children (forks, execs, exits, sleeps, preemptions),
  // makes a syscall that fails, and has two threads contending a mutex
  // (a few children a second: each is a target with its own series, and Prometheus must keep up)
  target.proc = spawn(workload('lifeloop'), [workload('runsleep'), '2', '100'], { stdio: 'ignore' });
  expect((await agent.ctl(['-a', '-P', String(target.proc.pid), '-k', '1', '-S', '-r', '-s', '16', '-l', '--interval', '0.5'])).code).toBe(0);
  // the same workload under trace, with neither keytime's exit records nor its on/off-CPU intervals
  trace = new Trace(ports.trace, ['-r', '-s', '5', '--interval', '0.5', '--metrics-threads', '--metrics-grace', String(GRACE),
    '--', workload('lifeloop'), workload('runsleep'), '1', '500']);
  prom = await Prometheus.start(scrapeJob('procimage', [`127.0.0.1:${port}`]) + scrapeJob('trace', [`127.0.0.1:${ports.trace}`]) +
    scrapeJob('trace-pid', [`127.0.0.1:${ports.pid}`]) + scrapeJob('trace-cpu', [`127.0.0.1:${ports.cpu}`]) +
    scrapeJob('trace-sh', [`127.0.0.1:${ports.sh}`]));
  await trace.ready();
}, 90_000);

afterAll(async () => {
  target.proc?.kill('SIGKILL');
  await trace?.stop();
  await prom?.stop();
  await agent?.cleanup();
});

/** The attach agent's series. */
const A = 'job="procimage"';

const num = (r: { value: [number, string] }) => Number(r.value[1]);

/** What the lifeloop workload does not do (or not in every window): these queries may be all zero. */
const MAY_BE_ZERO = new Set<string>([
  // its processes read and write no storage (the page cache serves them) and write(2) nothing
  'procimage-resource Storage bytes per second (read, write) A', 'procimage-resource Storage bytes per second (read, write) B',
  'procimage-resource All I/O bytes per second (storage, cache, pipes, sockets) B',
  'procimage-lock Failed lock calls and waits per second A', // no trylock, no lock call that fails
  'procimage-self Lost events per second, by reason A', // nothing lost
]);

/**
 * Every query of every dashboard as Grafana sends it with one agent and every target picked, named
 * `<uid> <panel title> <query letter>`.
 */
function dashboardQueries(instance: string): Array<{ what: string; expr: string }> {
  return DASHBOARDS.flatMap(d => d.rows.flatMap(row => row.panels.flatMap(p => p.queries.map((q, k) => ({
    what: `${d.uid} ${p.title} ${String.fromCharCode(65 + k)}`,
    expr: q.expr.replaceAll('$target', '.*').replaceAll('$instance', instance).replaceAll('$__rate_interval', '5s'),
  })))));
}

/**
 * Runs every dashboard query on one agent's series. Each must return data, non-zero but those in
 * MAY_BE_ZERO; those named in `expectEmpty` are queried last, once everything else has data, and the
 * ones among them that return nothing at all are returned, for the caller to check.
 */
async function checkDashboards(instance: string, expectEmpty = new Set<string>()): Promise<string[]> {
  await new Promise(r => setTimeout(r, 3000)); // a few scrapes for rate() windows
  const queries = dashboardQueries(instance);
  expect([...expectEmpty].filter(w => !queries.some(q => q.what === w)), 'not a dashboard query').toEqual([]);
  let zeros: Array<[string, string]> = [];
  for (const { what, expr } of queries.filter(q => !expectEmpty.has(q.what))) {
    const r = await waitFor(async () => { const x = await prom.query(expr); return x.length ? x : undefined; }, `${what}: ${expr}`, 15_000);
    expect(r.length, what).toBeGreaterThan(0);
    if (!r.some(x => num(x) > 0) && !MAY_BE_ZERO.has(what)) zeros.push([what, expr]);
  }
  // a rate may be 0 in one window: those get a few more, with something reaching a disk in them (the
  // whole machine's storage panel: on an idle machine nothing else may, the targets' writes stay in
  // the page cache)
  if (zeros.length) {
    const file = join(ROOT, 'build', `metrics-test-${process.pid}.dat`);
    execFileSync('dd', ['if=/dev/zero', `of=${file}`, 'bs=1M', 'count=4', 'conv=fsync', 'status=none']);
    rmSync(file, { force: true });
    await new Promise(r => setTimeout(r, 2500)); // scraped (every second) into the 5 s window
    const again = await Promise.all(zeros.map(async ([, expr]) => (await prom.query(expr)).some(x => num(x) > 0)));
    zeros = zeros.filter((_, i) => !again[i]);
  }
  expect(zeros, 'all-zero queries for a workload that does that').toEqual([]);
  const empty: string[] = [];
  for (const { what, expr } of queries.filter(q => expectEmpty.has(q.what))) if (!(await prom.query(expr)).length) empty.push(what);
  return empty;
}

describe('metrics in Prometheus', () => {
  it('carries the tool state and the targets, labelled by tgid and comm', async () => {
    const active = await prom.until(`procimage_active{${A}}`);
    expect(active[0].metric).toMatchObject({ job: 'procimage', instance: `127.0.0.1:${port}` });
    expect(num(active[0])).toBe(1);
    const sh = await prom.until(`procimage_target_up{comm="lifeloop",tgid="${target.proc!.pid}"}`);
    expect(num(sh[0])).toBe(1);
    expect(Object.keys(sh[0].metric).sort()).toEqual(['__name__', 'comm', 'instance', 'job', 'tgid']); // no per-thread pid by default
  });

  it('reports plausible values: off-CPU time by state, exits by code, delays as a real histogram', async () => {
    const sleeping = await prom.until(`sum(procimage_offcpu_seconds_total{${A},comm="runsleep",state="S"})`, r => r.length > 0 && num(r[0]) > 0.04);
    expect(num(sleeping[0])).toBeGreaterThan(0.04);
    const exits = await prom.until(`sum by (comm, code) (procimage_exits_total{${A},comm=~"runsleep|true"})`, r => r.length === 2);
    expect(exits.map(r => [r.metric.comm, r.metric.code]).sort()).toEqual([['runsleep', '0'], ['true', '0']]);
    const count = await prom.until(`sum(procimage_sched_delay_seconds_count{${A},comm="lifeloop"})`);
    const inf = await prom.query(`sum(procimage_sched_delay_seconds_bucket{${A},comm="lifeloop",le="+Inf"})`);
    expect(num(inf[0])).toBe(num(count[0]));
    const p99 = await prom.until(`histogram_quantile(0.99, sum by (le) (rate(procimage_system_sched_delay_seconds_bucket{${A}}[10s])))`,
      r => r.length > 0 && Number.isFinite(num(r[0])));
    expect(num(p99[0])).toBeGreaterThan(0);
    expect(num(p99[0])).toBeLessThan(1);
    // resource: the target's CPU time and faults grow, its memory is resident
    const cpu = await prom.until(`sum(procimage_cpu_seconds_total{comm="lifeloop",tgid="${target.proc!.pid}"})`, r => r.length > 0 && num(r[0]) > 0);
    expect(num(cpu[0])).toBeLessThan(60);
    const rss = await prom.until(`sum(procimage_memory_rss_bytes{comm="lifeloop",tgid="${target.proc!.pid}"})`);
    expect(num(rss[0])).toBeGreaterThan(100e3);
    expect(num(rss[0])).toBeLessThan(100e6);
    const sysmem = await prom.until(`procimage_system_memory_bytes{${A},state="total"}`);
    expect(num(sysmem[0])).toBeGreaterThan(num(rss[0]));
    const lost = await prom.query(`procimage_lost_events_total{${A},reason="ring_full"}`);
    expect(lost).toHaveLength(1); // there from the start, at 0
  });

  it('counts syscalls per target and syscall, their errors, and their latency as a real histogram', async () => {
    const me = `comm="lifeloop",tgid="${target.proc!.pid}"`;
    // its only openat is the one that fails (ENOENT): every call is an error
    const openat = await prom.until(`procimage_syscalls_total{${me},syscall="openat"}`, r => r.length > 0 && num(r[0]) >= 3);
    expect(Object.keys(openat[0].metric).sort()).toEqual(['__name__', 'comm', 'instance', 'job', 'syscall', 'tgid']);
    const diff = await prom.query(`procimage_syscalls_total{${me},syscall="openat"} - procimage_syscall_errors_total{${me},syscall="openat"}`);
    expect(num(diff[0])).toBe(0);
    // its threads sleep 1 ms and 0.2 ms in nanosleep(3) (clock_nanosleep(2)): the p99 is in the 1-2 ms bucket, or a little above under load
    const p99 = await prom.until(`histogram_quantile(0.99, sum by (le) (rate(procimage_syscall_latency_seconds_bucket{${me},syscall="clock_nanosleep"}[10s])))`,
      r => r.length > 0 && Number.isFinite(num(r[0])));
    expect(num(p99[0])).toBeGreaterThan(0.001);
    // in seconds (in ms it would read 1 or more): how far above 1-2 ms depends on the machine's load, not checked
    expect(num(p99[0])).toBeLessThan(1);
    const inf = await prom.query(`procimage_syscall_latency_seconds_bucket{${me},syscall="clock_nanosleep",le="+Inf"} - ignoring(le) procimage_syscall_latency_seconds_count{${me},syscall="clock_nanosleep"}`);
    expect(inf.map(num)).toEqual([0]);
    // the whole system's counts are beside them, and at least as large
    const ratio = await prom.until(`sum(procimage_syscalls_total{${me}}) / sum(procimage_system_syscalls_total{${A}})`);
    expect(num(ratio[0])).toBeGreaterThan(0);
    expect(num(ratio[0])).toBeLessThanOrEqual(1);
  });

  it('reports the mutex its threads contend: acquisitions, contentions, waits and hold time', async () => {
    const mutex = `comm="lifeloop",tgid="${target.proc!.pid}",source="pthread",kind="mutex"`;
    const acq = await prom.until(`procimage_lock_acquisitions_total{${mutex}}`, r => r.length > 0 && num(r[0]) >= 20);
    expect(acq).toHaveLength(1); // one mutex
    expect(acq[0].metric.lock).toMatch(/^0x[0-9a-f]+$/);
    const contended = await prom.until(`procimage_lock_contended_total{${mutex}}`, r => r.length > 0 && num(r[0]) > 0);
    expect(num(contended[0])).toBeLessThanOrEqual(num(acq[0]) + 1000);
    // one thread or the other holds it nearly all the time (1 ms held, then 0.2 ms asleep, each)
    const held = await prom.until(`rate(procimage_lock_hold_seconds_total{${mutex}}[5s])`, r => r.length > 0 && num(r[0]) > 0);
    expect(num(held[0])).toBeGreaterThan(0.2);
    expect(num(held[0])).toBeLessThan(1.05);
    // every acquisition's time in the lock call is one wait
    const waits = await prom.query(`procimage_lock_wait_seconds_count{${mutex}} - procimage_lock_acquisitions_total{${mutex}}`);
    expect(waits.map(num)).toEqual([0]);
    const inf = await prom.query(`procimage_lock_wait_seconds_bucket{${mutex},le="+Inf"} - ignoring(le) procimage_lock_wait_seconds_count{${mutex}}`);
    expect(inf.map(num)).toEqual([0]);
    // the waiting thread sleeps on the mutex's futex word: the same address
    const futex = await prom.until(`procimage_lock_contended_total{comm="lifeloop",source="futex",lock="${acq[0].metric.lock}"}`,
      r => r.length > 0 && num(r[0]) > 0);
    expect(num(futex[0])).toBeGreaterThan(0);
  });

  it('new targets appear as new label sets, and an ended one is dropped after the grace period', async () => {
    // each short-lived runsleep is a new process: several tgids over time
    const tgids = await prom.until(`count(count by (tgid) (last_over_time(procimage_target_up{${A},comm="runsleep"}[30s])))`, r => r.length > 0 && num(r[0]) >= 3);
    expect(num(tgids[0])).toBeGreaterThanOrEqual(3);
    // /metrics lists the living (one runsleep at a time, or a few whose exits are still in the
    // ring on a loaded machine) and those ended < 3 s ago
    const scrape = async () => new Map([...(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text())
      .matchAll(/^procimage_target_up\{tgid="(\d+)",comm="runsleep"\} ([01])$/gm)].map(m => [m[1], m[2] === '1']));
    const now = await scrape();
    const ended = [...now].filter(([, up]) => !up).map(([t]) => t), living = [...now].filter(([, up]) => up).map(([t]) => t);
    expect(ended.length).toBeGreaterThan(0);
    expect(living.length).toBeLessThan(ended.length);
    await new Promise(r => setTimeout(r, 3500));
    const later = await scrape();
    for (const t of ended) expect(later.has(t), `tgid ${t} ended over 3 s ago`).toBe(false);
    // each runsleep lives < 1 s: those living then have ended since (or gone already)
    for (const t of living) expect(later.get(t), `tgid ${t} is still up`).not.toBe(true);
  });

  it('measures its own programs (--bpf-stats): a series per program loaded, runs and run time growing as bpftool reads them', async () => {
    const pinned = pinnedFiles(agent.pinDir, 'progs');
    const runs = await prom.until(`procimage_bpf_runs_total{${A}}`, r => r.length === pinned.length);
    expect(runs.map(r => r.metric.program).sort()).toEqual(pinned);
    // bpftool's reading of the kernel's counters before and after procimage's
    const bpftool = (p: string) => JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show', 'pinned', join(agent.pinDir, 'progs', p)])
      .toString()) as { run_cnt?: number; run_time_ns?: number };
    const value = (text: string, name: string, p: string) => Number(new RegExp(`^${name}\\{program="${p}"\\} (\\S+)$`, 'm').exec(text)![1]);
    const before = bpftool('keytime_switch');
    const text = await scrape(port);
    const after = bpftool('keytime_switch');
    expect(before.run_cnt).toBeGreaterThan(0);
    expect(value(text, 'procimage_bpf_runs_total', 'keytime_switch')).toBeGreaterThanOrEqual(before.run_cnt!);
    expect(value(text, 'procimage_bpf_runs_total', 'keytime_switch')).toBeLessThanOrEqual(after.run_cnt!);
    const seconds = value(text, 'procimage_bpf_run_seconds_total', 'keytime_switch');
    expect(seconds * 1e9).toBeGreaterThanOrEqual(before.run_time_ns! - 1); // printed in seconds, to the ns
    expect(seconds * 1e9).toBeLessThanOrEqual(after.run_time_ns! + 1);
    // on every context switch of the machine: both grow, by a plausible cost per run (10 ns - 1 ms)
    const rate = await prom.until(`rate(procimage_bpf_runs_total{${A},program="keytime_switch"}[5s])`, r => r.length > 0 && num(r[0]) > 0);
    const perRun = await prom.until(`rate(procimage_bpf_run_seconds_total{${A},program="keytime_switch"}[5s]) / rate(procimage_bpf_runs_total{${A},program="keytime_switch"}[5s])`,
      r => r.length > 0 && num(r[0]) > 0);
    expect(num(rate[0])).toBeGreaterThan(1);
    expect(num(perRun[0])).toBeGreaterThan(10e-9);
    // in seconds (in ns it would read thousands): not a speed check, a cold or loaded machine runs slower
    expect(num(perRun[0])).toBeLessThan(1e-3);
  });

  it('every query of every Grafana dashboard parses and returns data for this workload, non-zero where it does that thing', async () => {
    expect(await checkDashboards(`127.0.0.1:${port}`)).toEqual([]);
  });

  it('the dashboards\' variables list the agents and the targets', async () => {
    const vars = build(DASHBOARDS[0]).templating.list!;
    for (const v of vars.filter(x => x.name !== 'datasource')) {
      const q = typeof v.query === 'string' ? v.query : String(v.query?.query);
      const m = /^label_values\((.+), (\w+)\)$/.exec(q);
      expect(m, `${v.name}: ${q}`).not.toBeNull();
      const values = await prom.labelValues(m![2], m![1].replaceAll('$instance', '.*'));
      if (v.name === 'instance') expect(values).toEqual(expect.arrayContaining([`127.0.0.1:${port}`, `127.0.0.1:${ports.trace}`]));
      else expect(values).toEqual(expect.arrayContaining(['lifeloop', 'runsleep']));
    }
  });
});

describe('trace --listen, per thread (--metrics-threads), without keytime', () => {
  const T = 'job="trace"';
  let tgid = '';

  it('serves per-thread series with the pid label, the threads being the command\'s, and each process\'s own beside them', async () => {
    const up = await prom.until(`procimage_target_up{${T},comm="lifeloop"}`, r => r.length === 3);
    tgid = up[0].metric.tgid;
    expect(Number(/^\d+ \(.*\) \S (\d+)/.exec(readFileSync(`/proc/${tgid}/stat`, 'utf8'))![1])).toBe(trace.proc.pid); // the command
    expect(up.map(r => r.metric.pid).sort()).toEqual(readdirSync(`/proc/${tgid}/task`).sort());
    // resource: each thread's CPU time (pid) and the process's (no pid), which has them all
    const threads = await prom.until(`sum by (pid) (procimage_cpu_seconds_total{${T},tgid="${tgid}",pid!=""})`, r => r.length === 3);
    expect(threads.map(r => r.metric.pid).sort()).toEqual(up.map(r => r.metric.pid).sort());
    const both = await prom.until(`sum(procimage_cpu_seconds_total{${T},tgid="${tgid}",pid=""}) - sum(procimage_cpu_seconds_total{${T},tgid="${tgid}",pid!=""})`);
    expect(num(both[0])).toBeGreaterThanOrEqual(-1e-6);
    // the process's figure is /proc's (taken every 0.5 s: it lags by that much CPU time at most)
    const ticks = () => { const f = readFileSync(`/proc/${tgid}/stat`, 'utf8').split(') ')[1].split(' '); return (Number(f[11]) + Number(f[12])) / 100; };
    const before = ticks();
    const own = Number(/^procimage_cpu_seconds_total\{tgid="\d+",comm="lifeloop",mode="user"\} (\S+)$/m.exec(await scrape(ports.trace))![1]) +
      Number(/^procimage_cpu_seconds_total\{tgid="\d+",comm="lifeloop",mode="system"\} (\S+)$/m.exec(await scrape(ports.trace))![1]);
    expect(own).toBeGreaterThan(0);
    expect(own).toBeLessThan(ticks() + 0.02);
    expect(own).toBeGreaterThan(before - 0.1);
    // a process's memory is its own series only: a thread's is its process's
    const rss = await prom.until(`sum(procimage_memory_rss_bytes{${T},tgid="${tgid}",pid=""})`);
    expect(num(rss[0])).toBeGreaterThan(100e3);
    // syscalls per thread
    const calls = await prom.until(`count(count by (pid) (procimage_syscalls_total{${T},tgid="${tgid}"}))`, r => r.length > 0 && num(r[0]) === 3);
    expect(num(calls[0])).toBe(3);
  });

  it('drops ended targets after the grace period, with no keytime exit records (-r -s)', async () => {
    // the children (runsleep, /bin/true) live < 0.1 s each: what /metrics lists of them has ended,
    // or is about to
    const listed = (text: string) => new Map([...text.matchAll(/^procimage_target_up\{pid="(\d+)",tgid="\d+",comm="(?:runsleep|true)"\} ([01])$/gm)]
      .map(m => [m[1], m[2] === '1']));
    const withSeries = (text: string) => new Set([...text.matchAll(/^procimage_\w+\{(?:pid="\d+",)?tgid="(\d+)",comm="(?:runsleep|true)"/gm)].map(m => m[1]));
    const first = await scrape(ports.trace);
    const now = listed(first);
    const ended = [...now].filter(([, up]) => !up).map(([t]) => t);
    expect(ended.length, 'ended children, within their grace period').toBeGreaterThan(0);
    expect([...now.values()].filter(up => up).length).toBeLessThan(ended.length);
    for (const t of ended) expect(existsSync(`/proc/${t}`) && !/\) [ZX] /.test(readFileSync(`/proc/${t}/stat`, 'utf8')), `${t} lives`).toBe(false);
    const seen = withSeries(first);
    expect([...seen].some(t => new RegExp(`^procimage_(cpu_seconds|syscalls)_total\\{[^}]*tgid="${t}"`, 'm').test(first)), 'resource and syscall series of children').toBe(true);
    // grace, and a scrape to notice the end (Prometheus scrapes every second)
    await new Promise(r => setTimeout(r, (GRACE + 2) * 1000));
    const later = withSeries(await scrape(ports.trace));
    for (const t of seen) {
      if (existsSync(`/proc/${t}`)) continue; // still alive (or its id taken again)
      expect(later.has(t), `tgid ${t} ended over ${GRACE} s ago and still has series`).toBe(false);
    }
    // many have come and gone, few are served
    const over30s = await prom.query(`count(count by (tgid) (last_over_time(procimage_cpu_seconds_total{${T},comm="runsleep",pid=""}[30s])))`);
    expect(num(over30s[0])).toBeGreaterThan(later.size);
  });
});

describe('resource figures of a single-thread target (-p TID, -c CPU)', () => {
  it('are served with its tgid; the idle task\'s as tgid="0"', async () => {
    const tgid = target.proc!.pid!;
    const tid = readdirSync(`/proc/${tgid}/task`).map(Number).find(t => t !== tgid)!;
    const cpu = await idlestCpu();
    const traces = [new Trace(ports.pid, ['-r', '-p', String(tid), '--interval', '0.3', '--duration', '20']),
      new Trace(ports.cpu, ['-r', '-c', String(cpu), '--interval', '0.3', '--duration', '20'])];
    try {
      await Promise.all(traces.map(t => t.ready()));
      const thread = await prom.until(`procimage_cpu_seconds_total{job="trace-pid",mode="system"}`);
      expect(thread).toHaveLength(1);
      expect(thread[0].metric).toMatchObject({ tgid: String(tgid), comm: 'lifeloop' });
      // the thread's own CPU time, as /proc says (read every 0.3 s)
      const f = readFileSync(`/proc/${tgid}/task/${tid}/stat`, 'utf8').split(') ')[1].split(' ');
      const sum = await prom.query(`sum(procimage_cpu_seconds_total{job="trace-pid"})`);
      expect(Math.abs(num(sum[0]) - (Number(f[11]) + Number(f[12])) / 100)).toBeLessThan(0.1);
      expect((await prom.until(`procimage_target_up{job="trace-pid"}`)).map(num)).toEqual([1]);
      // the idle task's time is its CPU's idle and iowait time since boot (/proc/stat), from the last
      // sample (every 0.3 s: at most that much behind)
      const hz = Number(execFileSync('getconf', ['CLK_TCK']).toString());
      const idleOf = () => { const f = new RegExp(`^cpu${cpu} (.*)$`, 'm').exec(readFileSync('/proc/stat', 'utf8'))![1].split(' ').map(Number); return (f[3] + f[4]) / hz; };
      expect((await prom.until(`procimage_target_up{job="trace-cpu"}`)).map(r => [r.metric.tgid, num(r)])).toEqual([['0', 1]]);
      const idleBefore = idleOf();
      const served = (await scrape(ports.cpu)).match(/^procimage_cpu_seconds_total\{tgid="0",comm="[^"]*",mode="(user|system)"\} (\S+)$/gm)!;
      const idleAfter = idleOf();
      const [user, system] = ['user', 'system'].map(m => Number(served.find(l => l.includes(`mode="${m}"`))!.split(' ')[1]));
      expect(user).toBe(0);
      expect(system).toBeGreaterThan(idleBefore - 1);
      expect(system).toBeLessThanOrEqual(idleAfter + 1 / hz);
    } finally {
      await Promise.all(traces.map(t => t.stop()));
    }
  }, 60_000);
});

describe('the dashboards on a shell whose children run the programs (trace -- sh -c ...)', () => {
  let shell: Trace;

  beforeAll(async () => {
    // the attach agent's workload, as a shell's child: `; exit` keeps a shell from exec'ing a lone last
    // command in its own place (bash does; Debian's dash does not). Short grace: its children come and
    // go a few times a second, each with its own series
    shell = await new Trace(ports.sh, ['-k', '1', '-S', '-r', '-s', '16', '-l', '--interval', '0.5', '--metrics-grace', '3', '--',
      'sh', '-c', `${workload('lifeloop')} ${workload('runsleep')} 1 500; exit`]).ready();
  }, 60_000);

  afterAll(async () => { await shell?.stop(); });

  // The pthread-lock uprobes follow the shell's child through its exec (issue 19: lock_exec holds it
  // while they are attached): lifeloop's threads take a contended mutex, and the three panels only
  // pthread locks feed have data too, as every other panel does.
  it('every query returns data for the shell\'s children, the pthread-lock panels too', async () => {
    const instance = `127.0.0.1:${ports.sh}`;
    // the shell is the command trace started, the workload its child
    const ppid = (tgid: string) => { try { return Number(/^\d+ \(.*\) \S (\d+)/.exec(readFileSync(`/proc/${tgid}/stat`, 'utf8'))![1]); } catch { return 0; } };
    // (a child seen between its fork and its exec is a target named "sh" too, for a while)
    const sh = (await prom.until(`procimage_target_up{instance="${instance}",comm="sh"} == 1`)).find(r => ppid(r.metric.tgid) === shell.proc.pid);
    expect(sh, 'the shell').toBeDefined();
    const loop = await prom.until(`procimage_target_up{instance="${instance}",comm="lifeloop"} == 1`);
    expect(loop.map(r => ppid(r.metric.tgid))).toContain(Number(sh!.metric.tgid));
    expect(await checkDashboards(instance)).toEqual([]);
    const pthread = await prom.until(`sum(procimage_lock_wait_seconds_count{instance="${instance}",comm="lifeloop",source="pthread"})`,
      r => r.length > 0 && num(r[0]) > 0);
    expect(num(pthread[0])).toBeGreaterThan(0);
  }, 120_000);
});

describe('docs/metrics.md', () => {
  const doc = readFileSync(join(ROOT, 'docs/metrics.md'), 'utf8');
  // rows of the tables: | `name` | type | unit | labels | what | (the metrics), | `name` | type | (prom-client's)
  const rows = [...doc.matchAll(/^\| `(procimage_\w+)` \|(.*)\|$/gm)].map(m => ({ name: m[1], cells: m[2].split('|').map(c => c.trim()) }));
  const own = rows.filter(r => r.cells.length === 4);

  it('lists every metric procimage serves with its type, and serves every metric it lists', async () => {
    const served = new Map([...(await scrape(port)).matchAll(/^# TYPE (procimage_\w+) (\w+)$/gm)].map(m => [m[1], m[2]]));
    const listed = new Map(rows.map(r => [r.name, r.cells[0]]));
    expect(own.length).toBeGreaterThan(30);
    expect(rows.length - own.length, "prom-client's").toBeGreaterThan(20);
    expect([...served.keys()].filter(n => !listed.has(n)), 'served, not in docs/metrics.md').toEqual([]);
    expect([...listed.keys()].filter(n => !served.has(n)), 'in docs/metrics.md, not served').toEqual([]);
    for (const [n, type] of listed) expect(type, n).toBe(served.get(n));
  });

  it('gives each metric the unit its name says', () => {
    for (const { name, cells: [, unit] } of own) {
      const want = /_seconds(_total)?$/.test(name) ? 'seconds' : /_bytes(_total)?$/.test(name) ? 'bytes' : undefined;
      if (want) expect(unit, name).toBe(want);
      else expect(unit, name).toMatch(/^(?!seconds$|bytes$)\S+$/);
    }
  });

  it('has an example query for every metric, and they all parse', async () => {
    const block = /```promql\n([\s\S]*?)```/.exec(doc)![1];
    // one query per line; a line that starts with spaces continues the one before
    const queries = block.split('\n').reduce<string[]>((qs, l) => {
      if (!l.trim() || l.startsWith('#')) return qs;
      if (/^\s/.test(l) && qs.length) qs[qs.length - 1] += ` ${l.trim()}`;
      else qs.push(l);
      return qs;
    }, []);
    const uses = (q: string, name: string) => new RegExp(`\\b${name}(_bucket|_sum|_count)?(?![\\w])`).test(q);
    expect(own.filter(r => !queries.some(q => uses(q, r.name))).map(r => r.name), 'metrics without an example').toEqual([]);
    for (const q of queries) await prom.query(q); // throws with Prometheus's parse error
  });
});

describe('the Grafana files', () => {
  it('are the generated dashboards, current, with the $target variable and a Prometheus datasource', () => {
    for (const d of DASHBOARDS) {
      const text = readFileSync(join(ROOT, 'grafana/dashboards', d.file), 'utf8');
      expect(text, `${d.file} is stale: run tsx tools/dashboards.ts grafana/dashboards`).toBe(render(d));
      const file = JSON.parse(text);
      expect(file).toMatchObject({ uid: d.uid, title: d.title, description: d.description });
      expect(file.templating.list.map((v: { name: string }) => v.name)).toEqual(['datasource', 'instance', 'target']);
      for (const p of file.panels.filter((x: { type: string }) => x.type !== 'row')) {
        expect(p.datasource).toEqual({ type: 'prometheus', uid: '${datasource}' });
        expect(p.targets.length).toBeGreaterThan(0);
        expect(p.gridPos.w).toBeGreaterThan(0);
      }
      expect(new Set(file.panels.map((p: { id: number }) => p.id)).size).toBe(file.panels.length);
    }
    expect(DASHBOARDS.flatMap(d => d.rows.flatMap(r => r.panels)).some(p => p.kind === 'state-timeline' && /on\/off-CPU/i.test(p.title))).toBe(true);
  });

  it('carry every row, panel and query of the description, laid out without overlap, legends shown', () => {
    type GridPos = { x: number; y: number; w: number; h: number };
    type FilePanel = {
      type: string; title: string; description?: string; collapsed?: boolean; panels?: unknown[]; gridPos: GridPos;
      fieldConfig?: { defaults: { unit?: string; custom?: { stacking?: { mode: string } } } };
      options?: { legend?: { showLegend?: boolean } };
      targets?: Array<{ refId: string; expr: string; legendFormat: string; format?: string; datasource: object }>;
    };
    for (const d of DASHBOARDS) {
      const panels = (JSON.parse(render(d)) as { panels: FilePanel[] }).panels;
      // an expanded row's panels follow it on the dashboard: Grafana shows a row's own panels only when it is collapsed
      expect(panels.map(p => p.type === 'row' ? `row ${p.title}` : p.title), d.uid)
        .toEqual(d.rows.flatMap(r => [`row ${r.title}`, ...r.panels.map(p => p.title)]));
      for (const row of panels.filter(p => p.type === 'row')) expect(row, row.title).toMatchObject({ collapsed: false, panels: [] });
      const described = d.rows.flatMap(r => r.panels);
      for (const [i, p] of panels.filter(x => x.type !== 'row').entries()) {
        const want = described[i], what = `${d.uid} ${want.title}`;
        expect(p.type, what).toBe(want.kind ?? 'timeseries');
        expect(p.description ?? '', what).toBe(want.description ?? '');
        expect(p.fieldConfig?.defaults.unit, what).toBe(want.unit);
        expect(p.fieldConfig?.defaults.custom?.stacking?.mode ?? 'none', what).toBe(want.stack ? 'normal' : 'none');
        expect(p.targets!.map(t => [t.refId, t.expr, t.legendFormat, t.format]), what)
          .toEqual(want.queries.map((q, k) => [String.fromCharCode(65 + k), q.expr, q.legend, want.kind === 'heatmap' ? 'heatmap' : undefined]));
        for (const t of p.targets!) expect(t.datasource, what).toEqual({ type: 'prometheus', uid: '${datasource}' });
        // the SDK's timeseries default hides the legend; a series without its name is unreadable
        if (p.type === 'timeseries') expect(p.options?.legend?.showLegend, what).toBe(true);
      }
      // Grafana's grid: 24 columns, no two panels on the same cells
      const cells = new Set<string>();
      for (const { title, gridPos: g } of panels) {
        expect(g.x + g.w, title).toBeLessThanOrEqual(24);
        for (let x = g.x; x < g.x + g.w; x++) {
          for (let y = g.y; y < g.y + g.h; y++) {
            expect(cells.has(`${x},${y}`), `${d.uid} ${title} overlaps at ${x},${y}`).toBe(false);
            cells.add(`${x},${y}`);
          }
        }
      }
    }
  });

  it('provision a Prometheus datasource and a provider that finds the dashboards where grafana/README.md says', () => {
    const yaml = (f: string) => parseYaml(readFileSync(join(ROOT, 'grafana/provisioning', f), 'utf8')) as { [k: string]: Yaml };
    const ds = yaml('datasources/procimage.yaml');
    expect(Object.keys(ds).sort()).toEqual(['apiVersion', 'datasources']);
    expect(ds.apiVersion).toBe(1);
    const [source, ...more] = ds.datasources as Array<{ [k: string]: Yaml }>;
    expect(more).toEqual([]);
    // the fields Grafana's datasource provisioning reads, no others (a misspelt one is ignored silently)
    const known = ['name', 'type', 'uid', 'access', 'url', 'isDefault', 'jsonData', 'orgId', 'editable', 'basicAuth', 'version'];
    expect(Object.keys(source).filter(k => !known.includes(k))).toEqual([]);
    expect(source).toMatchObject({ name: expect.any(String), type: 'prometheus', access: 'proxy', isDefault: true });
    expect(new URL(String(source.url)).protocol).toMatch(/^https?:$/);
    expect(String((source.jsonData as { timeInterval: string }).timeInterval)).toMatch(/^\d+[smh]$/);

    const dash = yaml('dashboards/procimage.yaml');
    expect(dash.apiVersion).toBe(1);
    const [provider, ...others] = dash.providers as Array<{ [k: string]: Yaml }>;
    expect(others).toEqual([]);
    expect(provider).toMatchObject({ name: expect.any(String), type: 'file', options: { path: expect.any(String) } });
    // the README's environment, with this checkout for /path/to/procimage: Grafana's ${VAR} expansion
    const readme = readFileSync(join(ROOT, 'grafana/README.md'), 'utf8');
    const env = Object.fromEntries([...readme.matchAll(/^\s+(PROCIMAGE_DASHBOARDS|GF_PATHS_PROVISIONING)=(\S+)/gm)]
      .map(m => [m[1], m[2].replace('/path/to/procimage', ROOT)]));
    expect(Object.keys(env).sort()).toEqual(['GF_PATHS_PROVISIONING', 'PROCIMAGE_DASHBOARDS']);
    const path = String((provider.options as { path: string }).path).replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a, b) => {
      expect(env[a ?? b], `${a ?? b}: set in grafana/README.md`).toBeDefined();
      return env[a ?? b];
    });
    expect(readdirSync(path).filter(f => f.endsWith('.json')).sort()).toEqual(DASHBOARDS.map(d => d.file).sort());
    for (const sub of ['datasources/procimage.yaml', 'dashboards/procimage.yaml']) expect(existsSync(join(env.GF_PATHS_PROVISIONING, sub))).toBe(true);
  });
});
