// Off-CPU time as a flame graph, by stack (process, then the user frames from the outermost, then the
// kernel's, [k]), for the selected process or thread and the states ticked; with -l data, lock wait
// time by stack too. Drawn by a kept component (d3-flame-graph), which writes every name as text.
// Under it, the heaviest stacks as a list: what the widest towers are, in words.
import flamegraph from 'd3-flame-graph';
import { select } from 'd3-selection';
import type { FlameNode } from '../../../src/output/page/stacks.js';
import { el, fill } from '../dom.js';
import { dur } from '../format.js';
import type { Source } from '../source.js';
import type { State } from '../state.js';

const STATES: Array<[string, string]> = [['S', 'sleeping'], ['D', 'disk wait'], ['R', 'preempted'], ['other', 'other']];
const OTHER = ['T', 't', 'I', 'P', 'X', '?', 'W', 'Z'];

/** The stacks ending at a leaf, heaviest first: [frames from the root down, ns spent in the leaf itself]. */
export function heaviest(root: FlameNode, n: number): Array<{ frames: string[]; value: number }> {
  const out: Array<{ frames: string[]; value: number }> = [];
  const walk = (node: FlameNode, path: string[]) => {
    const self = node.value - node.children.reduce((a, c) => a + c.value, 0);
    if (self > 0 && path.length) out.push({ frames: path, value: self });
    for (const c of node.children) walk(c, [...path, c.name]);
  };
  walk(root, []);
  return out.sort((a, b) => b.value - a.value).slice(0, n);
}

export class FlamePanel {
  readonly root = el('section', { class: 'panel flame', 'data-testid': 'flame' });
  private readonly chart = el('div', { class: 'chart' });
  private readonly detail = el('div', { class: 'flame-detail' });
  private readonly list = el('ol', { class: 'heaviest', 'data-testid': 'heaviest' });
  private kind: 'offcpu' | 'lock' = 'offcpu';
  private readonly states = new Set(['S', 'D', 'R', 'other']);
  private readonly kindSel = el('select', { 'aria-label': 'what to weigh' }, el('option', { value: 'offcpu' }, 'off-CPU time'),
    el('option', { value: 'lock' }, 'lock wait time'));

  constructor(private readonly state: State, private readonly source: Source) {
    this.kindSel.addEventListener('change', () => { this.kind = this.kindSel.value as 'offcpu' | 'lock'; void this.refresh(); });
    const boxes = STATES.map(([s, label]) => {
      const cb = el('input', { type: 'checkbox', checked: true, 'data-state': s });
      cb.addEventListener('change', () => { if (cb.checked) this.states.add(s); else this.states.delete(s); void this.refresh(); });
      return el('label', {}, cb, ` ${label}`);
    });
    fill(this.root, el('div', { class: 'bar' }, el('h2', {}, 'Flame graph'), this.kindSel, el('span', { class: 'states' }, ...boxes)),
      this.chart, this.detail, el('h3', {}, 'Heaviest stacks'), this.list);
  }

  async refresh(): Promise<void> {
    const states = [...this.states].flatMap(s => (s === 'other' ? OTHER : [s]));
    const tree = await this.source.flame({ tids: this.state.tids(), states: this.kind === 'offcpu' ? states : undefined, kind: this.kind });
    this.render(tree);
  }

  private render(tree: FlameNode): void {
    this.chart.replaceChildren();
    if (tree.value <= 0) {
      this.chart.append(el('p', { class: 'hint' }, this.kind === 'lock' ? 'No lock wait recorded (-l).' : 'No off-CPU time recorded (-k).'));
      this.list.replaceChildren();
      return;
    }
    const total = tree.value;
    const chart = flamegraph()
      .width(Math.max(300, this.chart.clientWidth || 900))
      .cellHeight(18)
      .minFrameSize(2)
      .transitionDuration(0)
      .sort(true)
      .inverted(true)
      .setDetailsElement(this.detail)
      .label((d: { data: FlameNode; value: number }) => `${d.data.name}: ${dur(d.value)} (${((100 * d.value) / total).toFixed(1)}%)`);
    select(this.chart).datum(tree).call(chart);
    this.list.replaceChildren(...heaviest(tree, 5).map(h => el('li', { title: h.frames.join(' → ') },
      el('b', {}, `${dur(h.value)} (${((100 * h.value) / total).toFixed(1)}%)`), ' ',
      el('span', { class: 'frames' }, h.frames.join(' → ')))));
  }
}
