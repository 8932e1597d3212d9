// A real Prometheus (Debian's package) for the tests: loopback only, data in a temporary directory,
// scraping every second; and its HTTP API.
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { tempDir, waitFor } from './helpers.js';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export interface PromResult { metric: Record<string, string>; value: [number, string] }

export class Prometheus {
  private constructor(readonly proc: ChildProcess, readonly port: number, private readonly dir: string, public log: string) {}

  /**
   * Starts Prometheus with these scrape configs (YAML of a `scrape_configs:` list body, indented
   * two spaces), waits until it is ready.
   */
  static async start(scrapeConfigs: string, opts: { extraConfig?: string; flags?: string[] } = {}): Promise<Prometheus> {
    const dir = tempDir();
    const port = await freePort();
    writeFileSync(join(dir, 'prometheus.yml'),
      `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n${opts.extraConfig ?? ''}scrape_configs:\n${scrapeConfigs || '  []\n'}`);
    const proc = spawn('prometheus', [
      `--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn', ...(opts.flags ?? []),
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    const p = new Prometheus(proc, port, dir, '');
    proc.stderr!.setEncoding('utf8').on('data', d => { p.log += d; });
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/-/ready`).catch(() => undefined))?.ok, 'Prometheus ready', 20_000);
    return p;
  }

  /** An instant query; throws with Prometheus's error if the expression does not parse or fails. */
  async query(expr: string): Promise<PromResult[]> {
    const res = await fetch(`http://127.0.0.1:${this.port}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = await res.json() as { status: string; error?: string; data?: { resultType: string; result: PromResult[] } };
    if (body.status !== 'success') throw new Error(`${expr}: ${body.error}`);
    return body.data!.result;
  }

  /** The values of a label among the series that match a selector (what Grafana's label_values() asks). */
  async labelValues(label: string, match: string): Promise<string[]> {
    const res = await fetch(`http://127.0.0.1:${this.port}/api/v1/label/${label}/values?match[]=${encodeURIComponent(match)}`);
    const body = await res.json() as { status: string; error?: string; data?: string[] };
    if (body.status !== 'success') throw new Error(`label_values(${match}, ${label}): ${body.error}`);
    return body.data!;
  }

  /** Waits until the query returns something (scrapes land every second). */
  async until(expr: string, pred: (r: PromResult[]) => boolean = r => r.length > 0, ms = 20_000): Promise<PromResult[]> {
    let last: PromResult[] = [];
    await waitFor(async () => pred(last = await this.query(expr)), `Prometheus to answer ${expr}`, ms);
    return last;
  }

  /** SIGTERM, then SIGKILL after 5 s (a remote-write queue waits up to a minute for its receiver). */
  async stop(): Promise<void> {
    const done = new Promise(r => this.proc.once('close', r));
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
    await done;
    clearTimeout(t);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A scrape config block for a list of agents. */
export function scrapeJob(job: string, targets: string[], extra = ''): string {
  return `  - job_name: ${job}\n${extra}    static_configs:\n      - targets: [${targets.map(t => `'${t}'`).join(', ')}]\n`;
}
