// Resources over time: the selected process's (or thread's) CPU, memory by kind, I/O, faults and
// context switches, with the whole machine's beside them.
import { lineChart } from '../chart.js';
import { el, fill } from '../dom.js';
import { bytes } from '../format.js';
import type { Processes, Source } from '../source.js';
import type { State } from '../state.js';

/** Charts side by side, as many as fit at 380 px or more, filling the width. */
export function chartWidth(total: number): number {
  const gap = 12, usable = total - 20;
  const cols = Math.max(1, Math.floor((usable + gap) / (380 + gap)));
  return Math.floor((usable - (cols - 1) * gap) / cols);
}

const pct = (v: number) => `${v.toFixed(v < 10 ? 1 : 0)}%`;
const rate = (v: number) => `${bytes(v)}B/s`;
const per = (v: number) => `${v < 10 ? v.toFixed(1) : Math.round(v)}/s`;
const mem = (v: number) => `${bytes(v)}B`;

export class ResourcePanel {
  readonly root = el('section', { class: 'panel resources', 'data-testid': 'resources' });
  private names = new Map<string, string>();

  constructor(private readonly state: State, private readonly source: Source) {}

  /** Names for the series' keys: "p<tgid>" -> "comm (tgid)". */
  setProcesses(p: Processes): void {
    this.names = new Map([...p.processes.map(x => [`p${x.tgid}`, `${x.comm} (${x.tgid})`] as const),
      ...p.threads.map(t => [`t${t.tid}`, `${t.comm} (thread ${t.tid})`] as const)]);
  }

  async refresh(t0: number): Promise<void> {
    const first = await this.source.resources();
    const s = this.state.selection;
    const pick = [s.tid !== undefined ? `t${s.tid}` : undefined, s.tgid !== undefined ? `p${s.tgid}` : undefined,
      first.keys.find(k => k.startsWith('p')), first.keys[0]].find(k => k !== undefined && first.keys.includes(k));
    const r = pick ? await this.source.resources(pick) : first;
    const width = chartWidth(this.root.clientWidth || 1000);
    const sys = r.system, x = r.series;
    if (!x && !sys) {
      fill(this.root, el('h2', {}, 'Resources'), el('p', { class: 'hint' }, 'No resource figures recorded (-r).'));
      return;
    }
    const name = pick ? this.names.get(pick) ?? pick : '';
    fill(this.root, el('h2', {}, 'Resources'),
      x && el('h3', { class: 'who', 'data-testid': 'resources-of' }, name),
      x && el('div', { class: 'charts' },
        lineChart('CPU % (of one CPU)', x.t, t0, [{ label: 'user', values: x.cpu_user, color: '#2e9e44', fill: true },
          { label: 'system', values: x.cpu_system, color: '#d9453b', fill: true }], pct, width),
        lineChart('Memory (RSS)', x.t, t0, [{ label: 'anon', values: x.rss_anon, color: '#4a7fd0' },
          { label: 'file', values: x.rss_file, color: '#8e44ad' }, { label: 'shmem', values: x.rss_shmem, color: '#16a085' }], mem, width),
        lineChart('I/O', x.t, t0, [{ label: 'read', values: x.io_read, color: '#2980b9' }, { label: 'write', values: x.io_write, color: '#e67e22' },
          { label: 'storage read', values: x.disk_read, color: '#1abc9c' }, { label: 'storage write', values: x.disk_write, color: '#c0392b' }], rate, width),
        lineChart('Faults', x.t, t0, [{ label: 'minor', values: x.minor_faults, color: '#7f8c8d' },
          { label: 'major', values: x.major_faults, color: '#c0392b' }], per, width),
        lineChart('Context switches', x.t, t0, [{ label: 'voluntary', values: x.voluntary, color: '#4a7fd0' },
          { label: 'involuntary', values: x.involuntary, color: '#e8a23a' }], per, width)),
      sys && el('h3', { class: 'who' }, 'The whole system'),
      sys && el('div', { class: 'charts' },
        lineChart('System CPU % (of one CPU)', sys.t, t0, [{ label: 'user', values: sys.cpu_user, color: '#2e9e44', fill: true },
          { label: 'system', values: sys.cpu_system, color: '#d9453b', fill: true }, { label: 'iowait', values: sys.cpu_iowait, color: '#8e44ad' },
          { label: 'steal', values: sys.cpu_steal, color: '#7f8c8d' }], pct, width),
        lineChart('System memory', sys.t, t0, [{ label: 'used', values: sys.mem_used, color: '#34495e' },
          { label: 'anon', values: sys.mem_anon, color: '#4a7fd0' }, { label: 'page cache', values: sys.mem_file, color: '#8e44ad' }], mem, width),
        lineChart('System storage', sys.t, t0, [{ label: 'read', values: sys.disk_read, color: '#1abc9c' },
          { label: 'write', values: sys.disk_write, color: '#c0392b' }], rate, width),
        lineChart('System context switches', sys.t, t0, [{ label: 'all', values: sys.switches, color: '#e8a23a' }], per, width)));
  }
}
