// Small helpers the benchmarks share: statistics, tables, background processes.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { cpus } from 'node:os';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..');
// BENCH_CLI: another launcher in its place (one that runs the attach under heaptrack, say)
export const CLI = process.env.BENCH_CLI ?? join(ROOT, 'bin/procimage');
export const GATE = join(ROOT, 'build/procimage-gate');
export const workload = (n: string) => join(ROOT, 'build/workloads', n);
export const benchObject = (n: string) => join(ROOT, 'build/bench', `${n}.bpf.o`);
export const CORES = cpus().length;

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

export function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

export function table(head: string[], rows: Array<Array<string | number>>): string {
  const cells = [head, ...rows.map(r => r.map(String))];
  const w = head.map((_, i) => Math.max(...cells.map(r => r[i].length)));
  const line = (r: string[]) => '| ' + r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join(' | ') + ' |';
  return [line(head), '|' + w.map((n, i) => (i === 0 ? '-'.repeat(n + 1) + '-' : '-'.repeat(n + 1) + ':')).join('|') + '|',
    ...rows.map(r => line(r.map(String)))].join('\n');
}

export const fmt = (n: number, d = 1) => n.toFixed(d);

export function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { maxBuffer: 1 << 26 }).toString();
}

/** stress-ng with one CPU hog per core, until stopped (in its own process group: see stop). */
export function cpuHogs(): ChildProcess {
  return spawn('stress-ng', ['-c', String(CORES), '-t', '3600', '--quiet'], { stdio: 'ignore', detached: true });
}

/** Kills p and, when it leads a process group (stress-ng's workers), the whole group. */
export async function stop(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const done = new Promise(r => p.once('close', r));
  try { process.kill(-p.pid!, 'SIGKILL'); } catch { p.kill('SIGKILL'); }
  await done;
}

export const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

export async function waitFor<T>(fn: () => T | undefined | null | false, what: string, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** A background `procimage attach`, its stdout lines kept. */
export class BackgroundAttach {
  readonly proc: ChildProcess;
  out = '';
  err = '';

  /** cli: this build's bin/procimage, or another's (a baseline to compare with, built elsewhere). */
  constructor(readonly pinDir: string, args: string[], readonly cli = CLI) {
    this.proc = spawn(cli, ['attach', ...args, '--pin-dir', pinDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout!.setEncoding('utf8').on('data', d => { this.out += d; });
    this.proc.stderr!.setEncoding('utf8').on('data', d => { this.err += d; });
  }

  static async start(args: string[], pinDir = `/sys/fs/bpf/procimage-bench-${process.pid}`, cli = CLI): Promise<BackgroundAttach> {
    const a = new BackgroundAttach(pinDir, args, cli);
    await waitFor(() => a.err.includes('ready:') || a.proc.exitCode !== null, 'attach ready');
    if (a.proc.exitCode !== null) throw new Error(`attach failed: ${a.err}`);
    return a;
  }

  ctl(args: string[]): string {
    return run(this.cli, ['ctl', ...args, '--pin-dir', this.pinDir]);
  }

  /**
   * ctl -f returns once the attach has exited, which it does only after its last output is read:
   * ctl runs asynchronously here, so that this process keeps reading the attach's stdout meanwhile
   * (with a synchronous ctl, a full pipe kept both waiting until ctl's 30 s timeout).
   */
  async finish(): Promise<void> {
    const done = new Promise(r => this.proc.once('close', r));
    const ctl = spawn(this.cli, ['ctl', '-f', '--pin-dir', this.pinDir], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    ctl.stderr!.setEncoding('utf8').on('data', d => { err += d; });
    const code = await new Promise<number | null>(r => ctl.once('close', r));
    if (code !== 0) throw new Error(`ctl -f failed: ${err}`);
    await done;
  }
}
