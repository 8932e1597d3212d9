// Always in view: what is collected, on which machine, for how long, and every lost record (red when
// any was lost: then the page does not show everything that happened).
import type { PageMeta } from '../../../src/output/page/model.js';
import { el, fill } from '../dom.js';
import { count, secs } from '../format.js';

export class Header {
  readonly root = el('header', { class: 'top' });

  render(m: PageMeta): void {
    const lost = Object.entries(m.lost).filter(([, n]) => n > 0);
    const lostTotal = lost.reduce((a, [, n]) => a + n, 0);
    const records = Object.entries(m.records).filter(([t]) => t !== 'lost' && t !== 'module').reduce((a, [, n]) => a + n, 0);
    const state = m.live ? (m.ended ? 'ended' : 'live') : 'recording';
    fill(this.root,
      el('span', { class: 'brand' }, 'procimage'),
      el('span', { class: `state ${state}`, 'data-testid': 'run-state' }, state),
      el('span', { class: 'policy', title: m.header.policy_text, 'data-testid': 'policy' }, m.header.policy_text),
      m.header.command && el('span', { class: 'command', title: m.header.command.join(' ') }, m.header.command.join(' ')),
      el('span', { class: 'fact', title: `started ${m.header.started_at}` }, `${m.header.host} · ${m.header.kernel}`),
      el('span', { class: 'fact', 'data-testid': 'elapsed' }, secs(m.now - m.t0, 1)),
      el('span', { class: 'fact' }, `${count(records)} records`),
      el('span', {
        class: lostTotal ? 'lost bad' : 'lost', 'data-testid': 'lost',
        title: lost.length ? lost.map(([r, n]) => `${n} ${r}`).join(', ') : 'every record the kernel produced was received',
      }, lostTotal ? `${count(lostTotal)} lost (${lost.map(([r]) => r).join(', ')})` : '0 lost'),
    );
  }
}
