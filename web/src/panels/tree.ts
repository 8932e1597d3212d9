// The process tree: every followed process under its parent, with its program and arguments, how long
// it lived and how it ended, and its threads. Selecting one shows it in every other panel.
import type { ProcessInfo, ThreadInfo } from '../../../src/output/page/processes.js';
import { el, fill } from '../dom.js';
import { dur, ending } from '../format.js';
import type { State } from '../state.js';
import type { Processes } from '../source.js';

/** Processes drawn; a fork storm's rest is counted. */
const MAX_SHOWN = 3000;

export class ProcessTree {
  readonly root = el('nav', { class: 'tree', 'data-testid': 'process-tree' });
  private data: Processes | undefined;
  private now = 0;

  constructor(private readonly state: State) {
    state.on(w => { if (w === 'selection') this.draw(); });
  }

  render(p: Processes, now: number): void {
    this.data = p;
    this.now = now;
    this.state.threadsOf = new Map(p.processes.map(x => [x.tgid, x.threads]));
    this.draw();
  }

  private draw(): void {
    const p = this.data;
    if (!p) return;
    const byTgid = new Map(p.processes.map(x => [x.tgid, x]));
    const threads = new Map(p.threads.map(t => [t.tid, t]));
    const children = new Map<number, ProcessInfo[]>();
    const roots: ProcessInfo[] = [];
    for (const x of [...p.processes].sort((a, b) => a.start - b.start)) {
      if (x.ppid !== null && byTgid.has(x.ppid) && x.ppid !== x.tgid) {
        children.set(x.ppid, [...children.get(x.ppid) ?? [], x]);
      } else roots.push(x);
    }
    let shown = 0;
    const sel = this.state.selection;
    const node = (x: ProcessInfo, depth: number): HTMLElement => {
      shown++;
      const life = x.end !== null ? x.end - x.start : this.now - x.start;
      const selected = sel.tgid === x.tgid && sel.tid === undefined;
      const row = el('div', { class: `row${selected ? ' selected' : ''}`, 'data-tgid': x.tgid, role: 'button', tabindex: 0 },
        el('span', { class: 'comm' }, x.comm),
        el('span', { class: 'pid' }, String(x.tgid)),
        el('span', { class: `end ${x.end === null ? 'running' : x.signal ? 'signal' : x.exitCode === 0 ? 'ok' : 'fail'}`, 'data-testid': 'ending' }, ending(x)),
        el('span', { class: 'life' }, dur(life)));
      row.addEventListener('click', () => this.state.select(selected ? {} : { tgid: x.tgid }));
      const argv = x.argv ?? (x.filename ? [x.filename] : null);
      const kids = (children.get(x.tgid) ?? []).filter(() => shown < MAX_SHOWN);
      const ths = x.threads.map(t => threads.get(t)).filter((t): t is ThreadInfo => !!t);
      return el('div', { class: depth ? 'proc child' : 'proc' },
        row,
        argv && el('div', { class: 'argv', title: argv.join(' ') }, argv.join(' ') + (x.argvTruncated ? ' …' : '')),
        ths.length > 1 || (ths.length === 1 && ths[0].tid !== x.tgid) ? el('div', { class: 'threads' }, ...ths.map(t => {
          const tsel = sel.tid === t.tid;
          const r = el('div', { class: `thread${tsel ? ' selected' : ''}`, 'data-tid': t.tid, role: 'button', tabindex: 0, title: 'a thread of this process' },
            el('span', { class: 'kind' }, 'thread'), el('span', { class: 'pid' }, String(t.tid)), el('span', { class: 'tcomm' }, t.comm),
            el('span', { class: 'end' }, ending(t)));
          r.addEventListener('click', e => { e.stopPropagation(); this.state.select(tsel ? {} : { tgid: x.tgid, tid: t.tid }); });
          return r;
        })) : null,
        ...kids.map(k => node(k, depth + 1)));
    };
    const all = el('div', { class: `row all${sel.tgid === undefined ? ' selected' : ''}`, role: 'button', tabindex: 0 }, 'every target');
    all.addEventListener('click', () => this.state.select({}));
    const list = roots.filter(() => shown < MAX_SHOWN).map(r => node(r, 0));
    fill(this.root, el('h2', {}, 'Processes'), all, ...list,
      p.processes.length > shown ? el('div', { class: 'more' }, `… ${p.processes.length - shown} more processes`) : null);
  }
}
