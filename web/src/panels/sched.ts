// Scheduling delay (runnable to running): the selection's histogram beside the whole system's, and
// its average and p99 per interval over time.
import type { SchedAnswer } from '../../../src/output/page/model.js';
import { lineChart } from '../chart.js';
import { el, fill } from '../dom.js';
import { count, dur, durShort } from '../format.js';
import type { Source } from '../source.js';
import type { State } from '../state.js';

type Hist = SchedAnswer['target'];

/** Bars of two log2 histograms side by side, each as a share of its own total. */
function histogram(a: Hist, b: Hist | null): HTMLElement {
  const n = Math.max(a.hist.length, b?.hist.length ?? 0);
  const ta = a.hist.reduce((x, y) => x + y, 0) || 1, tb = b ? b.hist.reduce((x, y) => x + y, 0) || 1 : 1;
  const first = Math.max(0, Math.min(a.hist.findIndex(v => v > 0), b ? b.hist.findIndex(v => v > 0) : Infinity));
  const rows = [];
  for (let i = first; i < n; i++) {
    const va = a.hist[i] ?? 0, vb = b?.hist[i] ?? 0;
    rows.push(el('tr', {},
      el('td', { class: 'num' }, `${dur(2 ** i)} – ${dur(2 ** (i + 1))}`),
      el('td', { class: 'barcell' }, el('span', { class: 'hbar target', style: `width:${((100 * va) / ta).toFixed(1)}%` }), el('span', { class: 'n' }, count(va))),
      b ? el('td', { class: 'barcell' }, el('span', { class: 'hbar system', style: `width:${((100 * vb) / tb).toFixed(1)}%` }), el('span', { class: 'n' }, count(vb))) : null));
  }
  return el('table', { class: 'hist', 'data-testid': 'sched-hist' },
    el('thead', {}, el('tr', {}, el('th', {}, 'delay'), el('th', {}, 'targets'), b ? el('th', {}, 'whole system') : null)),
    el('tbody', {}, ...rows));
}

export class SchedPanel {
  readonly root = el('section', { class: 'panel sched', 'data-testid': 'sched' });

  constructor(private readonly state: State, private readonly source: Source) {}

  async refresh(t0: number): Promise<void> {
    const s = this.state.selection;
    const a = await this.source.sched(s.tid !== undefined ? { tids: [s.tid] } : { tgid: s.tgid });
    if (!a.target.count && !a.system) {
      fill(this.root, el('h2', {}, 'Scheduling delay'), el('p', { class: 'hint' }, 'No scheduling delay recorded (-S).'));
      return;
    }
    const fact = (label: string, h: Hist) => el('div', { class: 'fact', 'data-testid': `sched-${label}` },
      el('b', {}, label), ` ${count(h.count)} delays · avg ${h.count ? dur(h.total / h.count) : '–'} · p99 ${h.p99 ? `< ${dur(h.p99)}` : '–'} · max ${dur(h.max ?? 0)}`);
    const width = Math.max(300, (this.root.clientWidth || 900) - 40);
    const ts = a.series.target, sys = a.series.system;
    // the system's points at the targets' times (one poll gives both a point at one ts)
    const sysAt = new Map(sys ? sys.t.map((t, i) => [t, sys.avg_ns[i]] as const) : []);
    fill(this.root, el('h2', {}, 'Scheduling delay'),
      fact('targets', a.target), a.system && fact('system', a.system),
      histogram(a.target, a.system),
      ts && lineChart('Per interval', ts.t, t0, [
        { label: 'targets avg', values: ts.avg_ns, color: '#4a7fd0' }, { label: 'targets p99 (bound)', values: ts.p99_ns, color: '#d9453b' },
        ...(sys ? [{ label: 'system avg', values: ts.t.map(t => sysAt.get(t) ?? null), color: '#7f8c8d' }] : [])], durShort, width));
  }
}
