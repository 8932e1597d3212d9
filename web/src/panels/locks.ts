// Locks: per lock and thread, waits (total, average, longest), holds, contention, failures and the
// longest holder; click a row for the stack of its first contended acquisition (pthread) or of its
// longest wait (kernel).
import type { LockRecord } from '../../../src/collect/records.js';
import { el, fill } from '../dom.js';
import { count, dur } from '../format.js';
import type { Source } from '../source.js';
import type { State } from '../state.js';

export class LockPanel {
  readonly root = el('section', { class: 'panel locks', 'data-testid': 'locks' });
  private readonly stack = el('div', { class: 'stack', 'data-testid': 'lock-stack' });

  constructor(private readonly state: State, private readonly source: Source) {}

  async refresh(): Promise<void> {
    const rows = await this.source.locks({ tids: this.state.tids() });
    if (!rows.length) {
      fill(this.root, el('h2', {}, 'Locks'), el('p', { class: 'hint' }, 'No lock recorded (-l).'));
      return;
    }
    const show = (r: LockRecord) => {
      const frames = r.source === 'kernel' ? r.kstack ?? [] : r.ustack ?? [];
      fill(this.stack, el('h3', {}, `${r.kind}${r.mode ? ` (${r.mode})` : ''} ${r.symbol ?? r.addr} · ${r.comm} ${r.pid}`),
        frames.length ? el('ol', {}, ...frames.map(f => el('li', {}, f))) : el('p', { class: 'hint' }, 'no stack for this lock'));
    };
    const body = el('tbody', {}, ...rows.slice(0, 500).map(r => {
      const tr = el('tr', { class: 'click' },
        el('td', {}, `${r.source} ${r.kind}${r.mode ? ` ${r.mode}` : ''}`), el('td', { class: 'mono' }, r.symbol ?? r.addr),
        el('td', {}, `${r.comm} ${r.pid}`), el('td', { class: 'num' }, r.acquisitions === null ? '–' : count(r.acquisitions)),
        el('td', { class: 'num' }, count(r.contended)), el('td', { class: 'num' }, count(r.failed)),
        el('td', { class: 'num' }, dur(r.wait_total_ns)), el('td', { class: 'num' }, dur(r.wait_avg_ns)), el('td', { class: 'num' }, dur(r.wait_max_ns)),
        el('td', { class: 'num' }, dur(r.hold_avg_ns)), el('td', { class: 'num' }, dur(r.hold_max_ns)),
        el('td', {}, r.longest_holder_pid === null ? '–' : `${r.longest_holder_pid} (${dur(r.longest_hold_ns)})`));
      tr.addEventListener('click', () => show(r));
      return tr;
    }));
    fill(this.root, el('h2', {}, 'Locks'),
      el('table', { class: 'grid', 'data-testid': 'lock-table' },
        el('thead', {}, el('tr', {}, ...['lock', 'address', 'thread', 'acquired', 'contended', 'failed', 'wait total', 'wait avg', 'wait max',
          'hold avg', 'hold max', 'longest holder'].map(h => el('th', {}, h)))), body),
      el('p', { class: 'hint' }, 'Click a row for its stack.'), this.stack);
  }
}
