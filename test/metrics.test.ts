// The Prometheus exporter against a real Prometheus: series arrive with the right labels and
// plausible values, new targets appear as new label sets while it runs, ended ones go after the
// grace period, and every query of every Grafana dashboard parses and returns data.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DASHBOARDS, render } from '../tools/dashboards.js';
import { Attach, ROOT, waitFor, workload } from './helpers.js';
import { Prometheus, freePort, scrapeJob } from './prometheus.js';

let prom: Prometheus, agent: Attach, port: number;
const target = { proc: undefined as ReturnType<typeof spawn> | undefined };

beforeAll(async () => {
  port = await freePort();
  agent = await Attach.start(['-k', '-S', '-r', '-s', '-l', '--listen', `127.0.0.1:${port}`, '--metrics-grace', '3']);
  // a process that keeps starting short-lived children (forks, execs, exits, sleeps, preemptions),
  // makes a syscall that fails, and has two threads contending a mutex
  target.proc = spawn(workload('lifeloop'), [workload('runsleep'), '2', '20'], { stdio: 'ignore' });
  expect((await agent.ctl(['-a', '-P', String(target.proc.pid), '-k', '1', '-S', '-r', '-s', '16', '-l', '--interval', '0.5'])).code).toBe(0);
  prom = await Prometheus.start(scrapeJob('procimage', [`127.0.0.1:${port}`]));
}, 60_000);

afterAll(async () => {
  target.proc?.kill('SIGKILL');
  await prom?.stop();
  await agent?.cleanup();
});

const num = (r: { value: [number, string] }) => Number(r.value[1]);

describe('metrics in Prometheus', () => {
  it('carries the tool state and the targets, labelled by tgid and comm', async () => {
    const active = await prom.until('procimage_active');
    expect(active[0].metric).toMatchObject({ job: 'procimage', instance: `127.0.0.1:${port}` });
    expect(num(active[0])).toBe(1);
    const sh = await prom.until(`procimage_target_up{comm="lifeloop",tgid="${target.proc!.pid}"}`);
    expect(num(sh[0])).toBe(1);
    expect(Object.keys(sh[0].metric).sort()).toEqual(['__name__', 'comm', 'instance', 'job', 'tgid']); // no per-thread pid by default
  });

  it('reports plausible values: off-CPU time by state, exits by code, delays as a real histogram', async () => {
    const sleeping = await prom.until('sum(procimage_offcpu_seconds_total{comm="runsleep",state="S"})', r => r.length > 0 && num(r[0]) > 0.04);
    expect(num(sleeping[0])).toBeGreaterThan(0.04);
    const exits = await prom.until('sum by (comm, code) (procimage_exits_total{comm=~"runsleep|true"})', r => r.length === 2);
    expect(exits.map(r => [r.metric.comm, r.metric.code]).sort()).toEqual([['runsleep', '0'], ['true', '0']]);
    const count = await prom.until('sum(procimage_sched_delay_seconds_count{comm="lifeloop"})');
    const inf = await prom.query('sum(procimage_sched_delay_seconds_bucket{comm="lifeloop",le="+Inf"})');
    expect(num(inf[0])).toBe(num(count[0]));
    const p99 = await prom.until('histogram_quantile(0.99, sum by (le) (rate(procimage_system_sched_delay_seconds_bucket[10s])))',
      r => r.length > 0 && Number.isFinite(num(r[0])));
    expect(num(p99[0])).toBeGreaterThan(0);
    expect(num(p99[0])).toBeLessThan(1);
    // resource: the target's CPU time and faults grow, its memory is resident
    const cpu = await prom.until(`sum(procimage_cpu_seconds_total{comm="lifeloop",tgid="${target.proc!.pid}"})`, r => r.length > 0 && num(r[0]) > 0);
    expect(num(cpu[0])).toBeLessThan(60);
    const rss = await prom.until(`sum(procimage_memory_rss_bytes{comm="lifeloop",tgid="${target.proc!.pid}"})`);
    expect(num(rss[0])).toBeGreaterThan(100e3);
    expect(num(rss[0])).toBeLessThan(100e6);
    const sysmem = await prom.until('procimage_system_memory_bytes{state="total"}');
    expect(num(sysmem[0])).toBeGreaterThan(num(rss[0]));
    const lost = await prom.query('procimage_lost_events_total{reason="ring_full"}');
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
    expect(num(p99[0])).toBeLessThan(0.1);
    const inf = await prom.query(`procimage_syscall_latency_seconds_bucket{${me},syscall="clock_nanosleep",le="+Inf"} - ignoring(le) procimage_syscall_latency_seconds_count{${me},syscall="clock_nanosleep"}`);
    expect(inf.map(num)).toEqual([0]);
    // the whole system's counts are beside them, and at least as large
    const ratio = await prom.until(`sum(procimage_syscalls_total{${me}}) / sum(procimage_system_syscalls_total)`);
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
    const tgids = await prom.until('count(count by (tgid) (last_over_time(procimage_target_up{comm="runsleep"}[30s])))', r => r.length > 0 && num(r[0]) >= 3);
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

  it('every query of every Grafana dashboard parses and returns data for this workload', async () => {
    await new Promise(r => setTimeout(r, 3000)); // a few scrapes for rate() windows
    for (const d of DASHBOARDS) {
      for (const row of d.rows) {
        for (const p of row.panels) {
          for (const q of p.queries) {
            const expr = q.expr.replaceAll('$target', '.*').replaceAll('$instance', '.*').replaceAll('$__rate_interval', '5s');
            const r = await waitFor(async () => { const x = await prom.query(expr); return x.length ? x : undefined; },
              `${d.file}: "${p.title}": ${expr}`, 15_000);
            expect(r.length, `${d.file} ${p.title}`).toBeGreaterThan(0);
          }
        }
      }
    }
  });
});

describe('docs/metrics.md', () => {
  const doc = readFileSync(join(ROOT, 'docs/metrics.md'), 'utf8');

  it('lists every metric procimage serves, and serves every metric it lists', async () => {
    const served = new Set([...(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text())
      .matchAll(/^# TYPE (procimage_\w+) /gm)].map(m => m[1]).filter(n => !/^procimage_(process|nodejs)_/.test(n)));
    // the table's first column: `name`, or `a`, `b` for metrics documented together
    const rows = [...doc.matchAll(/^\| (`procimage_[^|]+)\|/gm)].flatMap(m => [...m[1].matchAll(/`(procimage_\w+)`/g)].map(x => x[1]));
    const listed = new Set(rows.filter(n => !/^procimage_(process|nodejs)_/.test(n)));
    const optIn = ['procimage_bpf_run_seconds_total', 'procimage_bpf_runs_total']; // --bpf-stats only
    expect([...served].filter(n => !listed.has(n)), 'served, not in docs/metrics.md').toEqual([]);
    expect([...listed].filter(n => !served.has(n) && !optIn.includes(n)), 'in docs/metrics.md, not served').toEqual([]);
  });

  it('has example queries that all parse', async () => {
    const block = /```promql\n([\s\S]*?)```/.exec(doc)![1];
    // one query per line; a line that starts with spaces continues the one before
    const queries = block.split('\n').reduce<string[]>((qs, l) => {
      if (!l.trim() || l.startsWith('#')) return qs;
      if (/^\s/.test(l) && qs.length) qs[qs.length - 1] += ` ${l.trim()}`;
      else qs.push(l);
      return qs;
    }, []);
    expect(queries.length).toBeGreaterThan(10);
    for (const q of queries) await prom.query(q); // throws with Prometheus's parse error
  });
});

describe('the Grafana files', () => {
  it('are the generated dashboards, current, with the $target variable and a Prometheus datasource', () => {
    for (const d of DASHBOARDS) {
      const file = JSON.parse(readFileSync(join(ROOT, 'grafana/dashboards', d.file), 'utf8'));
      expect(file, `${d.file} is stale: run tsx tools/dashboards.ts grafana/dashboards`).toEqual(render(d));
      expect(file.templating.list.map((v: { name: string }) => v.name)).toEqual(['datasource', 'instance', 'target']);
      for (const p of file.panels.filter((x: { type: string }) => x.type !== 'row')) {
        expect(p.datasource).toEqual({ type: 'prometheus', uid: '${datasource}' });
        expect(p.targets.length).toBeGreaterThan(0);
        expect(p.gridPos.w).toBeGreaterThan(0);
      }
      expect(new Set(file.panels.map((p: { id: number }) => p.id)).size).toBe(file.panels.length);
    }
    for (const f of ['datasources/procimage.yaml', 'dashboards/procimage.yaml']) {
      expect(readFileSync(join(ROOT, 'grafana/provisioning', f), 'utf8')).toMatch(/^apiVersion: 1$/m);
    }
  });
});
