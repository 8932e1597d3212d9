// An interval clicked on the timeline: its thread, state, times, CPUs, and its kernel and user stacks
// (innermost first, as offcputime and the text output print them).
import type { IntervalAnswer } from '../../../src/output/page/model.js';
import { colorOf } from '../colors.js';
import { el, fill } from '../dom.js';
import { dur, secs } from '../format.js';

export class Details {
  readonly root = el('section', { class: 'panel details', 'data-testid': 'details' });

  constructor() {
    this.clear();
  }

  clear(): void {
    fill(this.root, el('h2', {}, 'Interval'), el('p', { class: 'hint' }, 'Click an interval on the timeline for its stacks.'));
  }

  private shown = 0;

  show(d: IntervalAnswer | undefined, t0: number): void {
    this.root.dataset.version = String(++this.shown);
    if (!d) {
      fill(this.root, el('h2', {}, 'Interval'), el('p', { class: 'hint' }, 'Its detail is no longer kept (the page keeps the newest intervals): zoom out for its state.'));
      return;
    }
    const kinds = ['running', 'preempted', 'sleeping', 'disk', 'other'];
    const stack = (title: string, frames: readonly string[], testid: string, note?: string) => el('div', { class: 'stack' },
      el('h3', {}, title),
      frames.length ? el('ol', { 'data-testid': testid }, ...frames.map(f => el('li', {}, f))) : el('p', { class: 'hint' }, 'none'),
      note && el('p', { class: 'hint' }, note));
    fill(this.root,
      el('h2', {}, 'Interval'),
      el('div', { class: 'facts' },
        el('span', { class: 'swatch', style: `background:${colorOf(kinds.indexOf(d.kind))}` }),
        el('b', { 'data-testid': 'interval-kind' }, d.state ? `${d.state} ${d.kind}` : d.kind),
        ` for ${dur(d.duration_ns)}`,
        el('span', {}, ` · ${d.comm} (thread ${d.tid}, process ${d.tgid}) · CPU ${d.cpu}`),
        el('span', {}, ` · ${secs(d.start - t0, 6)} – ${secs(d.end - t0, 6)}`),
        d.began_before_activation ? el('span', { class: 'flag' }, 'began before collection') : null,
        d.ongoing ? el('span', { class: 'flag' }, 'still going at the end') : null,
        d.switch_in_inferred ? el('span', { class: 'flag' }, "end: the scheduler's stamp") : null),
      d.kind === 'running' ? el('p', { class: 'hint' }, 'On a CPU: stacks are taken when a thread leaves it.') : el('div', { class: 'stacks' },
        stack('Kernel stack', d.kstack, 'kstack'),
        stack('User stack', d.ustack, 'ustack', d.ustack_truncated ? 'the stack goes on beyond what was copied' : undefined)));
  }
}
