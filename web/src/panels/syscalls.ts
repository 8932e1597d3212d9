// Syscalls: per syscall for the selection, calls, errors (with the most frequent errno), latency
// (average, maximum, total; the histogram on demand), the whole system's calls beside them; and each
// thread's latest syscalls, with the one it is in.
import type { SyscallRow } from '../../../src/output/page/tables.js';
import { el, fill } from '../dom.js';
import { count, dur } from '../format.js';
import type { Source } from '../source.js';
import type { State } from '../state.js';

function latencyHist(h: number[]): HTMLElement {
  const total = h.reduce((a, b) => a + b, 0) || 1;
  const first = Math.max(0, h.findIndex(v => v > 0));
  return el('table', { class: 'hist small' }, el('tbody', {}, ...h.slice(first).map((v, k) => el('tr', {},
    el('td', { class: 'num' }, `${dur(2 ** (first + k))} – ${dur(2 ** (first + k + 1))}`),
    el('td', { class: 'barcell' }, el('span', { class: 'hbar target', style: `width:${((100 * v) / total).toFixed(1)}%` }), el('span', { class: 'n' }, count(v)))))));
}

export class SyscallPanel {
  readonly root = el('section', { class: 'panel syscalls', 'data-testid': 'syscalls' });
  private open = new Set<number>();

  constructor(private readonly state: State, private readonly source: Source) {}

  async refresh(): Promise<void> {
    const a = await this.source.syscalls({ tids: this.state.tids() });
    if (!a.rows.length && !a.system.length) {
      fill(this.root, el('h2', {}, 'Syscalls'), el('p', { class: 'hint' }, 'No syscall recorded (-s N).'));
      return;
    }
    const sysCount = new Map(a.system.map(r => [r.nr, r.count]));
    const body = el('tbody', {});
    const row = (r: SyscallRow) => {
      const tr = el('tr', { class: 'click', 'data-syscall': r.syscall },
        el('td', {}, r.syscall), el('td', { class: 'num' }, count(r.count)),
        el('td', { class: r.errors ? 'num bad' : 'num' }, r.errors ? `${count(r.errors)}${r.errno ? ` (${r.errno} ×${count(r.errno_count ?? 0)})` : ''}` : '0'),
        el('td', { class: 'num' }, dur(r.avg_ns)), el('td', { class: 'num' }, dur(r.max_ns)), el('td', { class: 'num' }, dur(r.total_ns)),
        el('td', { class: 'num' }, String(r.threads)), el('td', { class: 'num' }, count(sysCount.get(r.nr) ?? 0)));
      tr.addEventListener('click', () => { if (this.open.has(r.nr)) this.open.delete(r.nr); else this.open.add(r.nr); void this.refresh(); });
      body.append(tr);
      if (this.open.has(r.nr) && r.hist) body.append(el('tr', {}, el('td', { colspan: 8 }, latencyHist(r.hist))));
    };
    a.rows.forEach(row);
    fill(this.root, el('h2', {}, 'Syscalls'),
      el('table', { class: 'grid', 'data-testid': 'syscall-table' },
        el('thead', {}, el('tr', {}, ...['syscall', 'calls', 'errors', 'avg', 'max', 'total', 'threads', 'whole system'].map(h => el('th', {}, h)))),
        body),
      el('p', { class: 'hint' }, 'Click a row for its latency histogram.'),
      el('h3', {}, 'Latest calls, by thread'),
      el('ul', { class: 'sequences', 'data-testid': 'syscall-sequences' }, ...a.sequences.slice(0, 200).map(t => el('li', {},
        el('b', {}, `${t.comm} ${t.pid}`), ` ${count(t.calls)} calls: `,
        el('span', { class: 'mono' }, t.last.join(' ')),
        t.in_syscall ? el('span', { class: 'flag' }, `in ${t.in_syscall} for ${dur(t.in_syscall_ns)}`) : null))));
  }
}
