// cgroup v2 targets on the real kernel: a cgroup this test makes, a workload in it and one outside;
// threads moved in and out while the trace runs; --container by a runtime's cgroup name; -o.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cgroup2Mount, containerIdOf, resolveContainer } from '../src/sys/cgroups.js';
import { CLI, cli, waitFor, workload } from './helpers.js';

type Rec = Record<string, unknown> & { type: string; pid: number; tgid: number; ts_ns: string | number };

const mount = cgroup2Mount()!;
const name = `procimage-test-${process.pid}`;
const cg = join(mount, name);
const procs: ChildProcess[] = [];

/** A workload started in cgroup dir (its shell moves itself in, then execs it), or where we are. */
function start(cmd: string[], dir?: string): ChildProcess {
  const p = dir ? spawn('sh', ['-c', `echo $$ > ${dir}/cgroup.procs && exec "$@"`, 'sh', ...cmd], { stdio: 'ignore' })
    : spawn(cmd[0], cmd.slice(1), { stdio: 'ignore' });
  procs.push(p);
  return p;
}

const parse = (out: string) => out.trim().split('\n').filter(Boolean).map(l => JSON.parse(l)) as Rec[];
/** Records that name a task (not the system's figures). */
const ofTasks = (recs: Rec[]) => recs.filter(r => typeof r.tgid === 'number' && r.tgid !== 0 && r.scope !== 'system');

beforeAll(() => {
  mkdirSync(cg);
});

afterAll(async () => {
  // every workload ended and reaped: a cgroup with a zombie in it cannot be removed
  await Promise.all(procs.map(p => (p.exitCode !== null || p.signalCode !== null ? undefined
    : new Promise(res => { p.once('exit', res); p.kill('SIGKILL'); }))));
  for (const d of [join(cg, 'docker-' + 'ab12'.repeat(16) + '.scope'), join(cg, 'sub'), cg]) {
    try { rmdirSync(d); } catch { /* not made */ }
  }
});

describe('--cgroup', () => {
  it('reports the workload in the cgroup and not the one outside, in every category', async () => {
    // two threads contending a mutex: futex waits (lock), syscalls, off-CPU intervals, run-queue delays
    const args = [workload('locks'), 'mutex', '2', '1000000', '200'];
    const inside = start(args, cg), outside = start(args);
    await waitFor(() => inside.pid && outside.pid, 'the workloads');
    await new Promise(r => setTimeout(r, 300)); // both in their loops
    const r = await cli(['trace', '--cgroup', name, '-k', '0', '--stack', 'none', '-s', '5', '-S', '-r', '-l', '--json', '--duration', '1'],
      { timeoutMs: 60_000 });
    inside.kill('SIGKILL');
    outside.kill('SIGKILL');
    expect(r.code, r.stderr).toBe(0);
    const recs = ofTasks(parse(r.stdout));
    const tgids = new Set(recs.map(x => x.tgid));
    expect([...tgids], r.stderr).toEqual([inside.pid]);
    const types = new Set(recs.map(x => x.type));
    for (const t of ['offcpu', 'syscall_seq', 'syscall_stat', 'sched', 'resource', 'lock']) expect(types, `no ${t} record`).toContain(t);
    expect(recs.some(x => x.type === 'lock' && x.source === 'futex')).toBe(true);
    // its pthread locks too: uprobes attached in each process of the cgroup
    expect(recs.some(x => x.type === 'lock' && x.source === 'pthread' && x.kind === 'mutex' && (x.acquisitions as number) > 0), r.stderr).toBe(true);
    // every record of a task says its cgroup; the cgroup's scheduling delay is beside the system's
    for (const x of recs) if (x.type !== 'module') expect(x.cgroup, JSON.stringify(x)).toBe(`/${name}`);
    const all = parse(r.stdout);
    expect(all.some(x => x.type === 'sched' && x.scope === 'cgroup' && x.cgroup === `/${name}` && (x.count as number) > 0)).toBe(true);
    expect(all.some(x => x.type === 'sched' && x.scope === 'system')).toBe(true);
  });

  it('prints each thread\'s cgroup, and each cgroup\'s scheduling delay, in the text tables', async () => {
    mkdirSync(join(cg, 'sub'));
    const a = start([workload('runsleep'), '100000', '5'], cg), b = start([workload('runsleep'), '100000', '5'], join(cg, 'sub'));
    const l = start([workload('locks'), 'mutex', '2', '1000000', '200'], join(cg, 'sub')); // for the lock table
    await waitFor(() => a.pid && b.pid && l.pid, 'the workloads');
    await new Promise(r => setTimeout(r, 200));
    const r = await cli(['trace', '--cgroup', name, '-S', '-s', '3', '-r', '-l', '-k', '0', '--stack', 'none', '--duration', '0.5'],
      { timeoutMs: 30_000 });
    a.kill('SIGKILL');
    b.kill('SIGKILL');
    l.kill('SIGKILL');
    expect(r.code, r.stderr).toBe(0);
    const table = (type: string) => r.stdout.split('\n── ').find(t => t.startsWith(`${type} at `)) ?? '';
    // the resource table: each process's cgroup after its name
    const res = table('resource');
    expect(res, r.stdout).toMatch(/PID +TGID +COMM +CGROUP +CPU%/);
    expect(res).toMatch(new RegExp(`^ *${a.pid} +${a.pid} +runsleep +/${name} +\\d`, 'm'));
    expect(res).toMatch(new RegExp(`^ *${b.pid} +${b.pid} +runsleep +/${name}/sub +\\d`, 'm'));
    // the lock table: the waiter's cgroup after its name (futex waits, and pthread mutexes)
    const lock = table('lock');
    expect(lock, r.stdout).toMatch(/KIND +LOCK +PID +COMM +CGROUP +ACQ/);
    expect(lock).toMatch(new RegExp(`^\\S+ +\\S+ +\\d+ +locks +/${name}/sub +`, 'm'));
    // the syscall tables: each thread's cgroup after its name
    expect(table('syscall_stat'), r.stdout).toMatch(new RegExp(`^ *${b.pid} +runsleep +/${name}/sub +\\w+ +\\d+`, 'm'));
    expect(table('syscall_thread')).toMatch(new RegExp(`^ *${a.pid} +${a.pid} +runsleep +/${name} +\\d+`, 'm'));
    const sched = table('sched');
    expect(sched).toMatch(/PID +TGID +COMM +CGROUP +DELAYS/);
    expect(sched).toMatch(new RegExp(`^ *${a.pid} +${a.pid} +runsleep +/${name} +\\d+`, 'm'));
    expect(sched).toMatch(new RegExp(`^ *${b.pid} +${b.pid} +runsleep +/${name}/sub +\\d+`, 'm'));
    expect(sched).toMatch(new RegExp(`^cgroup +/${name}/sub +\\d+`, 'm'));
    expect(sched).toMatch(/^system +\d+/m);
  });

  it('takes a process moved in while it runs, and drops one moved out', async () => {
    const a = start([workload('runsleep'), '100000', '5']);         // outside, moved in
    const b = start([workload('runsleep'), '100000', '5'], cg);     // inside, moved out
    await waitFor(() => a.pid && b.pid, 'the workloads');
    const trace = spawn(CLI, ['trace', '--cgroup', name, '-s', '1', '--json', '--duration', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    trace.stdout.on('data', d => { out += d; });
    trace.stderr.on('data', d => { err += d; });
    const ended = new Promise<number | null>(res => trace.on('close', code => res(code)));
    // collecting: b's first sequence is out
    await waitFor(() => parse(out.slice(0, out.lastIndexOf('\n') + 1)).some(x => x.type === 'syscall_seq' && x.tgid === b.pid), 'b traced', 15_000);
    const before = process.hrtime.bigint();
    writeFileSync(join(cg, 'cgroup.procs'), `${a.pid}\n`);
    writeFileSync(join(mount, 'cgroup.procs'), `${b.pid}\n`);
    const after = process.hrtime.bigint();
    expect(await ended, err).toBe(0);
    const seqs = parse(out).filter(x => x.type === 'syscall_seq');
    const tsOf = (x: Rec) => BigInt(x.ts_ns as string | number);
    const aSeqs = seqs.filter(x => x.tgid === a.pid), bSeqs = seqs.filter(x => x.tgid === b.pid);
    expect(aSeqs.length, 'a, moved in, is traced').toBeGreaterThan(0);
    for (const x of aSeqs) expect(tsOf(x) >= before, `a's call at ${x.ts_ns}, before its move at ${before}`).toBe(true);
    for (const x of bSeqs) expect(tsOf(x) <= after, `b's call at ${x.ts_ns}, after its move at ${after}`).toBe(true);
    expect(new Set(ofTasks(parse(out)).map(x => x.tgid))).toEqual(new Set([a.pid, b.pid]));
    a.kill('SIGKILL');
    b.kill('SIGKILL');
  });

  it('probes the pthread locks of a process moved in while it runs (lock_cgroup_join)', async () => {
    const a = start([workload('locks'), 'mutex', '2', '1000000', '200']); // outside, moved in
    const b = start([workload('runsleep'), '100000', '5'], cg);          // inside: says when collection runs
    await waitFor(() => a.pid && b.pid, 'the workloads');
    const trace = spawn(CLI, ['trace', '--cgroup', name, '-l', '-s', '1', '-k', '0', '--stack', 'none', '--json', '--duration', '2'],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    trace.stdout.on('data', d => { out += d; });
    trace.stderr.on('data', d => { err += d; });
    const ended = new Promise<number | null>(res => trace.on('close', code => res(code)));
    await waitFor(() => parse(out.slice(0, out.lastIndexOf('\n') + 1)).some(x => x.type === 'syscall_seq' && x.tgid === b.pid), 'b traced', 15_000);
    writeFileSync(join(cg, 'cgroup.procs'), `${a.pid}\n`);
    expect(await ended, err).toBe(0);
    a.kill('SIGKILL');
    b.kill('SIGKILL');
    const locks = parse(out).filter(x => x.type === 'lock' && x.tgid === a.pid);
    expect(locks.some(x => x.source === 'futex'), err).toBe(true);
    // not only its futex waits: the probes attached once it was in, without stopping it
    expect(locks.some(x => x.source === 'pthread' && x.kind === 'mutex' && (x.acquisitions as number) > 0), err).toBe(true);
    expect(err).toMatch(/a process moved in later is probed once it is in/);
  });

  it('refuses a path outside the hierarchy or missing, in one line', async () => {
    for (const bad of ['no-such-cgroup-procimage', '/etc']) {
      const r = await cli(['trace', '--cgroup', bad, '-s', '5', '--duration', '0.1']);
      expect(r.code).not.toBe(0);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/--cgroup/);
    }
  });
});

describe('--container', () => {
  it('names the ids runtimes put in cgroup names', () => {
    const id = 'f'.repeat(64);
    expect(containerIdOf(`docker-${id}.scope`)).toBe(id);
    expect(containerIdOf(`libpod-${id}.scope`)).toBe(id);
    expect(containerIdOf(`cri-containerd-${id}.scope`)).toBe(id);
    expect(containerIdOf(`crio-${id}.scope`)).toBe(id);
    expect(containerIdOf(`libpod-conmon-${id}.scope`)).toBeUndefined();
    expect(containerIdOf('machine-web.scope')).toBe('web');
    expect(containerIdOf(id)).toBe(id);
    expect(containerIdOf('system.slice')).toBeUndefined();
  });

  it('finds a container by id prefix in a tree laid out as docker and Kubernetes lay it out', () => {
    const root = mkdtempSync(join(tmpdir(), 'procimage-cg-'));
    try {
      const d1 = 'a1b2'.repeat(16), d2 = 'a1c3'.repeat(16), k = 'e5f6'.repeat(16);
      mkdirSync(join(root, 'system.slice', `docker-${d1}.scope`), { recursive: true });
      mkdirSync(join(root, 'system.slice', `docker-${d2}.scope`), { recursive: true });
      mkdirSync(join(root, 'kubepods.slice', 'kubepods-burstable.slice', 'kubepods-burstable-pod1.slice', `cri-containerd-${k}.scope`), { recursive: true });
      expect(resolveContainer('a1b2', root).path).toBe(`/system.slice/docker-${d1}.scope`);
      expect(resolveContainer('e5f6', root)).toMatchObject({
        path: `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/cri-containerd-${k}.scope`, level: 4 });
      expect(() => resolveContainer('a1', root)).toThrow(/ambiguous/);
      expect(() => resolveContainer('0000', root)).toThrow(/no container/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('traces the processes of a container\'s cgroup found by its id (a docker-named scope)', async () => {
    const id = 'ab12'.repeat(16);
    const scope = join(cg, `docker-${id}.scope`);
    mkdirSync(scope);
    const inside = start([workload('runsleep'), '100000', '5'], scope), outside = start([workload('runsleep'), '100000', '5']);
    await waitFor(() => inside.pid && outside.pid, 'the workloads');
    await new Promise(r => setTimeout(r, 200));
    const r = await cli(['trace', '--container', 'ab12ab', '-s', '1', '--json', '--duration', '0.5'], { timeoutMs: 30_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(new Set(ofTasks(parse(r.stdout)).map(x => x.tgid))).toEqual(new Set([inside.pid]));
    inside.kill('SIGKILL');
  });
});

describe('-o', () => {
  it('traces the processes in a cgroup namespace of their own, not the others', async () => {
    const inside = start(['unshare', '-C', workload('runsleep'), '100000', '5']), outside = start([workload('runsleep'), '100000', '5']);
    await waitFor(() => inside.pid && outside.pid, 'the workloads');
    await new Promise(r => setTimeout(r, 300));
    const r = await cli(['trace', '-o', '-s', '1', '--json', '--duration', '0.5'], { timeoutMs: 30_000 });
    expect(r.code, r.stderr).toBe(0);
    const tgids = new Set(ofTasks(parse(r.stdout)).map(x => x.tgid));
    expect(tgids.has(inside.pid!), r.stderr).toBe(true); // unshare execs runsleep: the same pid
    expect(tgids.has(outside.pid!)).toBe(false);
    expect(tgids.has(process.pid)).toBe(false);
  });
});
