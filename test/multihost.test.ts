// Several agents (docs/multihost.md): two attach processes on their own ports and pin directories,
// one Prometheus scraping both (the instance label tells them apart), a central Prometheus federating
// from it, and another receiving its remote write. Existing engines only: procimage serves /metrics.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Attach } from './helpers.js';
import { Prometheus, freePort, scrapeJob } from './prometheus.js';

const agents: Attach[] = [];
const targets: Array<ReturnType<typeof spawn>> = [];
const proms: Prometheus[] = [];
let site: Prometheus, federating: Prometheus, receiving: Prometheus;
let ports: number[];

beforeAll(async () => {
  ports = [await freePort(), await freePort()];
  for (const port of ports) {
    const a = await Attach.start(['-k', '-S', '--listen', `127.0.0.1:${port}`]);
    agents.push(a);
    const t = spawn('sh', ['-c', 'while :; do sleep 0.05; done'], { stdio: 'ignore' });
    targets.push(t);
    expect((await a.ctl(['-a', '-P', String(t.pid), '-S'])).code).toBe(0);
  }
  receiving = await Prometheus.start('', { flags: ['--web.enable-remote-write-receiver'] });
  site = await Prometheus.start(scrapeJob('procimage', ports.map(p => `127.0.0.1:${p}`)), {
    extraConfig: `  external_labels:\n    site: a\nremote_write:\n  - url: http://127.0.0.1:${receiving.port}/api/v1/write\n`,
  });
  federating = await Prometheus.start(scrapeJob('federate', [`127.0.0.1:${site.port}`],
    "    honor_labels: true\n    metrics_path: /federate\n    params:\n      'match[]': ['{job=\"procimage\"}']\n"));
  proms.push(federating, site, receiving); // stopped in this order: the site flushes to the receiver
}, 90_000);

afterAll(async () => {
  for (const t of targets) t.kill('SIGKILL');
  for (const p of proms) await p.stop();
  for (const a of agents) await a.cleanup();
});

const instances = (r: Array<{ metric: Record<string, string> }>) => r.map(x => x.metric.instance).sort();
const expected = () => ports.map(p => `127.0.0.1:${p}`).sort();

describe('many agents', () => {
  it('one Prometheus scrapes both; the instance label tells them apart', async () => {
    const r = await site.until('procimage_active', x => x.length === 2);
    expect(instances(r)).toEqual(expected());
    const delays = await site.until('sum by (instance) (procimage_sched_delay_seconds_count{comm="sh"})', x => x.length === 2);
    expect(instances(delays)).toEqual(expected());
  });

  it('a central Prometheus federates them from the site one, labels kept', async () => {
    const r = await federating.until('procimage_active{job="procimage"}', x => x.length === 2, 30_000);
    expect(instances(r)).toEqual(expected());
    expect(r.every(x => x.metric.site === 'a')).toBe(true);
  });

  it('or the site one pushes them by remote write', async () => {
    const r = await receiving.until('procimage_active', x => x.length === 2, 30_000);
    expect(instances(r)).toEqual(expected());
    expect(r.every(x => x.metric.site === 'a' && x.metric.job === 'procimage')).toBe(true);
  });
});
