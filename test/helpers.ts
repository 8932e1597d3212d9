// Shared by the real-kernel tests: run the CLI, drive a background `attach`, ask the kernel (through
// bpftool) what is attached.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..');
export const CLI = join(ROOT, 'bin', 'procimage');
export const GATE = join(ROOT, 'build', 'procimage-gate');
export const workload = (name: string) => join(ROOT, 'build', 'workloads', name);

let pinSeq = 0;
/** A pin directory no other test (or a real attach) uses. */
export function testPinDir(): string {
  return `/sys/fs/bpf/procimage-test-${process.pid}-${++pinSeq}`;
}

export interface Run { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/** Runs the CLI (or bin, another installation's) to completion. */
export function cli(args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; uid?: number; gid?: number; bin?: string } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn(opts.bin ?? CLI, args, { env: opts.env ?? process.env, uid: opts.uid, gid: opts.gid, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    p.stdout.on('data', d => { stdout += d; });
    p.stderr.on('data', d => { stderr += d; });
    const t = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    p.on('error', reject);
    p.on('close', (code, signal) => { clearTimeout(t); resolve({ code, signal, stdout, stderr }); });
  });
}

/** Polls until fn returns (or resolves to) a truthy value. */
export async function waitFor<T>(fn: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  what: string, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise(r => setTimeout(r, 20));
  }
}

/** /proc/PID/stat's state letter and /proc/PID/comm, or undefined once the process is gone. */
export function procState(pid: number): { state: string; comm: string; wchan: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return {
      state: stat.slice(stat.lastIndexOf(') ') + 2)[0], comm: readFileSync(`/proc/${pid}/comm`, 'utf8').trim(),
      wchan: readFileSync(`/proc/${pid}/wchan`, 'utf8'),
    };
  } catch {
    return undefined;
  }
}

/**
 * Waits until the process runs comm (its exec is done) and sleeps in a nanosleep: what a fixed
 * sleep of the test would only hope for on a slow or loaded machine.
 */
export function waitAsleep(pid: number, comm: string): Promise<unknown> {
  return waitFor(() => { const s = procState(pid); return s?.comm === comm && s.state === 'S' && /nanosleep/.test(s.wchan); },
    `${comm} (${pid}) to sleep in nanosleep`);
}

/** Waits until the process runs comm and one of its threads is running or runnable. */
export function waitRunning(pid: number, comm: string): Promise<unknown> {
  return waitFor(() => {
    if (procState(pid)?.comm !== comm) return false;
    try {
      return readdirSync(`/proc/${pid}/task`).some(t => procState(Number(t))?.state === 'R');
    } catch {
      return false;
    }
  }, `${comm} (${pid}) to run`);
}

/** Waits until n children of pid (stress-ng's workers) are running or runnable. */
export function waitChildrenRunning(pid: number, n: number): Promise<unknown> {
  return waitFor(() => {
    let kids: string[];
    try {
      kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    } catch {
      return false;
    }
    return kids.filter(k => procState(Number(k))?.state === 'R').length >= n;
  }, `${n} children of ${pid} to run`);
}

/** A `procimage attach` running in the background, with its output collected. */
export class Attach {
  readonly proc: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  /** wrapper: a command line that runs the attach command line it is given after it ("$@"). */
  constructor(readonly pinDir: string, args: string[], wrapper: string[] = []) {
    const argv = [...wrapper, CLI, 'attach', ...args, '--pin-dir', pinDir];
    this.proc = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout!.on('data', d => { this.stdout += d; });
    this.proc.stderr!.on('data', d => { this.stderr += d; });
    this.exited = new Promise(r => this.proc.on('close', (code, signal) => r({ code, signal })));
  }

  static async start(args: string[], pinDir = testPinDir(), wrapper: string[] = []): Promise<Attach> {
    const a = new Attach(pinDir, args, wrapper);
    await Promise.race([
      waitFor(() => a.stderr.includes('ready:'), 'attach to be ready', 20_000),
      a.exited.then(e => { throw new Error(`attach exited early (${e.code}): ${a.stderr}`); }),
    ]);
    return a;
  }

  ctl(args: string[]): Promise<Run> {
    return cli(['ctl', ...args, '--pin-dir', this.pinDir]);
  }

  /** Parsed NDJSON records printed so far: whole lines only (a read may end in the middle of one). */
  records(): Array<Record<string, unknown>> {
    const lines = this.stdout.split('\n');
    lines.pop(); // after the last newline: empty, or a line still being written
    return lines.filter(l => l.startsWith('{')).map(l => JSON.parse(l));
  }

  /** Ends it however it is: finish if alive, then SIGKILL as a last resort; removes leftover pins. */
  async cleanup(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      await this.ctl(['-f']).catch(() => undefined);
      await Promise.race([this.exited, new Promise(r => setTimeout(r, 3000))]);
      this.proc.kill('SIGKILL');
    }
    rmSync(this.pinDir, { recursive: true, force: true });
  }
}

/** A child that waits behind the gate until open() is called, then execs argv. */
export class GatedChild {
  readonly proc: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(argv: string[]) {
    this.proc = spawn(GATE, ['3', ...argv], { stdio: ['ignore', 'ignore', 'inherit', 'pipe'] });
    this.exited = new Promise(r => this.proc.on('exit', (code, signal) => r({ code, signal })));
  }

  get pid(): number { return this.proc.pid!; }

  open(): void {
    (this.proc.stdio[3] as NodeJS.WritableStream).end('g');
  }
}

/**
 * Ids of every program attached to anything right now, from the kernel: behind a BPF link (bpftool
 * link list), or behind a perf event without one (bpftool perf list: tracepoints, kprobes and uprobes
 * attached the older way).
 */
export function attachedProgIds(): Set<number> {
  const list = (what: string) => JSON.parse(execFileSync('bpftool', ['-j', what, 'list']).toString() || '[]') as Array<{ prog_id: number }>;
  return new Set([...list('link'), ...list('perf')].map(l => l.prog_id));
}

/** Id and type (tracing, kprobe, tracepoint...) of a pinned program. */
export function pinnedProg(path: string): { id: number; type: string } {
  return JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show', 'pinned', path]).toString()) as { id: number; type: string };
}

/** Id of a pinned program. */
export function pinnedProgId(path: string): number {
  return pinnedProg(path).id;
}

export function pinnedFiles(dir: string, sub: 'progs' | 'maps'): string[] {
  const d = join(dir, sub);
  return existsSync(d) ? readdirSync(d).sort() : [];
}

/** Open file descriptors of this process (a leak check: every handle has one close()). */
export function openFds(): number {
  return readdirSync(`/proc/${process.pid}/fd`).length;
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'procimage-test-'));
}

/**
 * Another installation of procimage in a temporary directory: this build (dist/ and bin/ copied, so
 * that it finds its files there; the rest linked), with some BPF objects replaced, by file name
 * under build/bpf/. Returns its root; its CLI is ROOT/bin/procimage.
 */
export function installationWith(objects: Record<string, string>): string {
  const root = tempDir();
  cpSync(join(ROOT, 'dist'), join(root, 'dist'), { recursive: true });
  cpSync(join(ROOT, 'bin'), join(root, 'bin'), { recursive: true });
  for (const f of ['node_modules', 'package.json']) symlinkSync(join(ROOT, f), join(root, f));
  mkdirSync(join(root, 'build', 'bpf'), { recursive: true });
  for (const f of readdirSync(join(ROOT, 'build'))) if (f !== 'bpf') symlinkSync(join(ROOT, 'build', f), join(root, 'build', f));
  for (const f of readdirSync(join(ROOT, 'build', 'bpf'))) symlinkSync(objects[f] ?? join(ROOT, 'build', 'bpf', f), join(root, 'build', 'bpf', f));
  return root;
}

/**
 * The CPU that idled most over the next 200 ms (from /proc/stat): tests of an idle task (-c) need
 * one that does idle, and something else on the machine may keep a CPU busy.
 */
export async function idlestCpu(): Promise<number> {
  const idle = () => new Map(readFileSync('/proc/stat', 'utf8').split('\n')
    .filter(l => /^cpu\d+ /.test(l)).map(l => { const f = l.split(/\s+/); return [Number(f[0].slice(3)), Number(f[4])] as const; }));
  const a = idle();
  await new Promise(r => setTimeout(r, 200));
  const b = idle();
  return [...b].sort((x, y) => (y[1] - (a.get(y[0]) ?? 0)) - (x[1] - (a.get(x[0]) ?? 0)))[0][0];
}

/**
 * The idle time (/proc/stat ticks, 10 ms) a CPU has had since the meter was made: whether its idle
 * task ran at all, which a loaded machine may not let it do for seconds.
 */
export function idleMeter(cpu: number): () => number {
  const read = () => Number(readFileSync('/proc/stat', 'utf8').split('\n').find(l => l.startsWith(`cpu${cpu} `))!.trim().split(/\s+/)[4]);
  const a = read();
  return () => read() - a;
}

/**
 * How much of the CPUs' time the hypervisor took (steal) since the meter was made, as a fraction,
 * from /proc/stat (10 ms ticks): the host running someone else on our vCPUs. The scheduler leaves it
 * out of a task's run time (clock_task) while bpf_ktime, and so every interval, counts it, so tests
 * that hold one against the other allow what the machine really had, not a fixed guess. cpus: the
 * CPUs to look at (all if none). The fraction is rounded up by a tick over the window, for the ticks'
 * own coarseness.
 */
export function stealMeter(cpus?: number[]): () => number {
  const read = () => {
    let steal = 0, total = 0;
    for (const l of readFileSync('/proc/stat', 'utf8').split('\n')) {
      const m = /^cpu(\d+) (.*)$/.exec(l);
      if (!m || (cpus && !cpus.includes(Number(m[1])))) continue;
      const f = m[2].trim().split(/\s+/).map(Number);
      steal += f[7] ?? 0;
      total += f.slice(0, 8).reduce((a, b) => a + b, 0);
    }
    return { steal, total };
  };
  const a = read();
  return () => {
    const b = read();
    const total = b.total - a.total;
    return total > 0 ? (b.steal - a.steal + 1) / total : 0;
  };
}
