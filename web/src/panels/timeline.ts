// The lifecycle timeline: a row per thread, its on-CPU and off-CPU intervals coloured by state, its
// fork, exec and exit marked; zoom and pan over the whole run. Drawn on a canvas by hand: thousands of
// rectangles a frame, which DOM or SVG charts (ECharts' custom series included) draw too slowly, and
// the segments come from the server already fitted to the zoom (merged below a pixel, summed from
// buckets for wide windows), so the drawing is the simple part. Target strings (comm) are drawn as
// canvas text: never markup.
//
// Mouse: drag to pan; ctrl (or ⌘) + wheel to zoom at the pointer, shift + wheel to pan, the wheel
// alone scrolls the rows; double-click to see the whole run. Keys: w/s zoom, a/d pan, f the whole run.
// Hover a segment for its state, duration, CPU and the function it waited in; click an interval for
// its stacks, a merged segment to zoom into it.
import type { TimelineAnswer } from '../../../src/output/page/model.js';
import type { LaneView } from '../../../src/output/page/timeline.js';
import { KIND_COLOR, KIND_LABEL, KINDS, colorOf } from '../colors.js';
import { el, fill, throttle } from '../dom.js';
import { dur, secs } from '../format.js';
import type { Processes, Source } from '../source.js';
import type { State } from '../state.js';

const ROW = 20;
const AXIS = 26;
const LABEL = 170;
const MARK_COLOR = { fork: '#8e44ad', clone: '#8e44ad', exec: '#222', exit: '#c0392b' } as const;

interface Row { tid: number; tgid: number; label: string }

export class TimelinePanel {
  readonly root = el('section', { class: 'panel timeline', 'data-testid': 'timeline' });
  private readonly scroller = el('div', { class: 'scroller' });
  private readonly spacer = el('div', { class: 'spacer' });
  private readonly canvas = el('canvas', { 'data-testid': 'timeline-canvas' });
  private readonly tip = el('div', { class: 'tip', role: 'tooltip' });
  private readonly info = el('span', { class: 'info' });
  private readonly followBtn = el('button', { type: 'button', title: 'keep the end of a live run in view' }, 'follow');
  private readonly wakesBtn = el('button', { type: 'button', 'aria-pressed': 'false', 'data-testid': 'wakes-toggle',
    title: 'arrows from each wake-up by a traced thread to the run it ended (who made whom wait)' }, 'wake-ups');
  /** Whether to ask for and draw the wake-up arrows. */
  private showWakes = false;
  private rows: Row[] = [];
  private answer: TimelineAnswer | undefined;
  /** The window the answer is for. */
  private shown = { from: 0, to: 1 };
  private t0 = 0;
  private now = 1;
  private seq = 0;
  private drag: { x: number; from: number; to: number; moved: boolean } | undefined;
  private readonly refetch = throttle(() => void this.fetch(), 16); // a frame: wheel events come faster

  constructor(private readonly state: State, private readonly source: Source, private readonly onInterval: (tid: number, id: number) => void) {
    const zoomOut = el('button', { type: 'button', title: 'the whole run (double-click, or f)' }, 'whole run');
    zoomOut.addEventListener('click', () => this.state.setWindow(undefined, true));
    this.followBtn.addEventListener('click', () => {
      const w = this.window();
      this.state.setWindow({ from: this.now - (w.to - w.from), to: this.now }, true);
    });
    const legend = el('span', { class: 'legend' }, ...KINDS.map(k => el('span', { class: 'key' },
      el('i', { style: `background:${KIND_COLOR[k]}` }), KIND_LABEL[k])),
    el('span', { class: 'key' }, el('b', { style: `color:${MARK_COLOR.fork}` }, '▼'), 'fork'),
    el('span', { class: 'key' }, el('b', { style: `color:${MARK_COLOR.exec}` }, '◆'), 'exec'),
    el('span', { class: 'key' }, el('b', { style: `color:${MARK_COLOR.exit}` }, '✕'), 'exit'));
    this.scroller.append(this.canvas, this.spacer);
    this.wakesBtn.addEventListener('click', () => {
      this.showWakes = !this.showWakes;
      this.wakesBtn.setAttribute('aria-pressed', String(this.showWakes));
      this.wakesBtn.classList.toggle('on', this.showWakes);
      void this.fetch();
    });
    fill(this.root, el('div', { class: 'bar' }, el('h2', {}, 'Timeline'), zoomOut, this.followBtn, this.wakesBtn, this.info, legend), this.scroller, this.tip);
    this.scroller.addEventListener('scroll', () => { this.draw(); this.refetch(); });
    this.canvas.addEventListener('wheel', e => this.wheel(e), { passive: false });
    this.canvas.addEventListener('mousedown', e => { const w = this.window(); this.drag = { x: e.clientX, ...w, moved: false }; });
    window.addEventListener('mousemove', e => this.move(e));
    window.addEventListener('mouseup', e => this.up(e));
    this.canvas.addEventListener('mouseleave', () => { this.tip.style.display = 'none'; });
    this.canvas.addEventListener('dblclick', () => this.state.setWindow(undefined, true));
    this.root.tabIndex = 0;
    this.root.addEventListener('keydown', e => this.key(e));
    new ResizeObserver(() => { this.draw(); this.refetch(); }).observe(this.scroller);
    state.on(w => { if (w === 'selection' || w === 'window') this.refetch(); });
  }

  /** The window being shown: the one chosen, or the whole run (live: up to now). */
  window(): { from: number; to: number } {
    if (this.state.window) return this.state.window;
    return { from: this.t0, to: Math.max(this.now, this.t0 + 1e6) };
  }

  /** New processes, or a new end: rows and window follow. Resolves once the timeline is drawn. */
  update(p: Processes, t0: number, now: number, live: boolean): Promise<void> {
    this.t0 = t0;
    this.now = now;
    this.live = live;
    const byTgid = new Map(p.processes.map(x => [x.tgid, x]));
    const comm = new Map(p.threads.map(t => [t.tid, t]));
    const lanes = new Set(p.lanes);
    this.allRows = [...lanes].map(tid => {
      const t = comm.get(tid);
      const tgid = t?.tgid ?? tid;
      return { tid, tgid, label: `${t?.comm ?? byTgid.get(tgid)?.comm ?? '?'} ${tid}` };
    }).sort((a, b) => a.tgid - b.tgid || (a.tid === a.tgid ? -1 : b.tid === b.tgid ? 1 : a.tid - b.tid));
    if (this.state.follow && this.state.window) {
      const w = this.state.window;
      this.state.window = { from: now - (w.to - w.from), to: now };
    }
    this.ready = true;
    return this.fetch();
  }

  /** The run's start and end are known (update): before that, nothing to ask for. */
  private ready = false;

  private allRows: Row[] = [];
  /** Drawings with new data so far (data-version: a test or a bench waits for the next one). */
  private drawn = 0;
  /** Collecting now: the window may follow the end. */
  private live = false;

  private selectedRows(): Row[] {
    const s = this.state.selection;
    if (s.tid !== undefined) return this.allRows.filter(r => r.tid === s.tid);
    if (s.tgid !== undefined) return this.allRows.filter(r => r.tgid === s.tgid);
    return this.allRows;
  }

  private width(): number {
    return Math.max(100, this.scroller.clientWidth);
  }

  private visibleRows(): Row[] {
    const first = Math.max(0, Math.floor(this.scroller.scrollTop / ROW) - 5);
    const n = Math.ceil(this.scroller.clientHeight / ROW) + 10;
    return this.rows.slice(first, first + n);
  }

  async fetch(): Promise<void> {
    if (!this.ready) return;
    this.rows = this.selectedRows();
    this.spacer.style.height = `${this.rows.length * ROW + AXIS}px`;
    // as tall as its rows, up to 42% of the window; then the rows scroll
    this.scroller.style.height = `${Math.min(window.innerHeight * 0.42, Math.max(3, this.rows.length) * ROW + AXIS + 2)}px`;
    const w = this.window();
    const px = Math.max(1, this.width() - LABEL);
    const rows = this.visibleRows();
    const seq = ++this.seq;
    const t = performance.now();
    // wake-ups: between every selected row, not only the visible ones (an arrow may come from off-screen)
    const answer = await this.source.timeline({ from: w.from, to: w.to, px, tids: rows.map(r => r.tid), wakes: this.showWakes || undefined });
    if (this.showWakes && answer.wakes === undefined) answer.wakes = [];
    if (seq !== this.seq) return; // a newer one is on its way
    this.answer = answer;
    this.shown = w;
    const coarse = answer.lanes.some(l => l.coarse);
    this.info.textContent = `${secs(w.from - this.t0)} – ${secs(w.to - this.t0)} · ${rows.length ? `${this.rows.length} threads` : 'no thread'}` +
      (coarse ? ` · ${dur(answer.bucket_ns)} buckets` : '');
    this.root.dataset.fetchMs = (performance.now() - t).toFixed(1);
    this.followBtn.classList.toggle('on', this.state.follow);
    this.followBtn.hidden = !this.live;
    this.draw();
    this.root.dataset.version = String(++this.drawn);
  }

  private x(t: number): number {
    const { from, to } = this.shown;
    return LABEL + ((t - from) / (to - from)) * (this.width() - LABEL);
  }

  private t(x: number): number {
    const { from, to } = this.window();
    return from + ((x - LABEL) / (this.width() - LABEL)) * (to - from);
  }

  draw(): void {
    const dpr = window.devicePixelRatio || 1;
    const w = this.width(), h = Math.max(AXIS + ROW, Math.min(this.scroller.clientHeight, this.rows.length * ROW + AXIS));
    this.canvas.width = w * dpr;
    this.canvas.height = h * dpr;
    this.canvas.style.width = `${w}px`;
    this.canvas.style.height = `${h}px`;
    const g = this.canvas.getContext('2d')!;
    g.scale(dpr, dpr);
    g.clearRect(0, 0, w, h);
    g.font = '12px system-ui, sans-serif';
    g.textBaseline = 'middle';
    const top = this.scroller.scrollTop;
    const lanes = new Map((this.answer?.lanes ?? []).map(l => [l.tid, l]));
    // rows
    this.rows.forEach((r, i) => {
      const y = AXIS + i * ROW - top;
      if (y + ROW < AXIS || y > h) return;
      g.fillStyle = i % 2 ? '#fafafa' : '#f2f3f5';
      g.fillRect(0, y, w, ROW);
      const lane = lanes.get(r.tid);
      if (lane) this.drawLane(g, lane, y);
      g.fillStyle = '#fff';
      g.fillRect(0, y, LABEL - 4, ROW);
      g.fillStyle = r.tid === r.tgid ? '#111' : '#555';
      g.fillText(r.label.length > 24 ? `${r.label.slice(0, 23)}…` : r.label, 6, y + ROW / 2);
    });
    // markers
    const rowOf = new Map(this.rows.map((r, i) => [r.tid, i]));
    for (const m of this.answer?.markers ?? []) {
      const i = rowOf.get(m.tid);
      if (i === undefined) continue;
      const x = this.x(m.t), y = AXIS + i * ROW - top + ROW / 2;
      if (y < AXIS || x < LABEL) continue;
      g.fillStyle = MARK_COLOR[m.kind];
      g.font = 'bold 11px system-ui, sans-serif';
      g.fillText(m.kind === 'exit' ? '✕' : m.kind === 'exec' ? '◆' : '▼', x - 4, y);
    }
    this.canvas.dataset.wakes = String(this.showWakes ? this.drawWakes(g, rowOf, top, h) : 0);
    this.drawAxis(g, w);
  }

  /**
   * An arrow from the waker's row at its wake-up to the wakee's row where it ran again (its slope is
   * the wake-up's scheduling delay); both ends must be rows shown. Returns how many were drawn.
   */
  private drawWakes(g: CanvasRenderingContext2D, rowOf: Map<number, number>, top: number, h: number): number {
    let n = 0;
    g.strokeStyle = '#d35400';
    g.fillStyle = '#d35400';
    g.lineWidth = 1.2;
    for (const [waker, wake, wakee, run] of this.answer?.wakes ?? []) {
      const a = rowOf.get(waker), b = rowOf.get(wakee);
      if (a === undefined || b === undefined) continue;
      const x0 = this.x(wake), x1 = this.x(run);
      const y0 = AXIS + a * ROW - top + ROW / 2, y1 = AXIS + b * ROW - top + ROW / 2;
      if (Math.max(x0, x1) < LABEL || (y0 < AXIS && y1 < AXIS) || (y0 > h && y1 > h)) continue;
      g.beginPath();
      g.moveTo(Math.max(LABEL, x0), y0);
      g.lineTo(Math.max(LABEL, x1), y1);
      g.stroke();
      // the head, at the wakee's run
      const ang = Math.atan2(y1 - y0, x1 - x0), len = 6;
      g.beginPath();
      g.moveTo(x1, y1);
      g.lineTo(x1 - len * Math.cos(ang - 0.45), y1 - len * Math.sin(ang - 0.45));
      g.lineTo(x1 - len * Math.cos(ang + 0.45), y1 - len * Math.sin(ang + 0.45));
      g.closePath();
      g.fill();
      n++;
    }
    g.lineWidth = 1;
    return n;
  }

  private drawLane(g: CanvasRenderingContext2D, l: LaneView, y: number): void {
    const left = LABEL;
    for (let i = 0, m = 0; i < l.start.length; i++) {
      const x0 = Math.max(left, this.x(l.start[i])), x1 = Math.max(x0 + 1, this.x(l.end[i]));
      if (l.id[i] >= 0) {
        g.fillStyle = colorOf(l.kind[i]);
        g.fillRect(x0, y + 2, x1 - x0, ROW - 4);
      } else {
        // a merged segment: its time shared between the states, stacked
        let yy = y + ROW - 2;
        for (let k = 0; k < KINDS.length; k++) {
          const f = l.mix[m * KINDS.length + k];
          if (!f) continue;
          const hh = f * (ROW - 4);
          g.fillStyle = colorOf(k);
          g.fillRect(x0, yy - hh, x1 - x0, hh);
          yy -= hh;
        }
        m++;
      }
    }
  }

  private drawAxis(g: CanvasRenderingContext2D, w: number): void {
    g.fillStyle = '#fff';
    g.fillRect(0, 0, w, AXIS);
    g.strokeStyle = '#ccc';
    g.beginPath();
    g.moveTo(0, AXIS - 0.5);
    g.lineTo(w, AXIS - 0.5);
    g.stroke();
    const { from, to } = this.shown;
    const span = to - from;
    const target = span / Math.max(1, (w - LABEL) / 110);
    const step = [1, 2, 5].flatMap(m => [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12].map(p => m * p))
      .sort((a, b) => a - b).find(s => s >= target) ?? target;
    const digits = Math.max(0, Math.min(9, Math.ceil(-Math.log10(step / 1e9))));
    g.fillStyle = '#444';
    g.font = '11px system-ui, sans-serif';
    for (let t = Math.ceil((from - this.t0) / step) * step + this.t0; t <= to; t += step) {
      const x = this.x(t);
      g.fillRect(x, AXIS - 6, 1, 6);
      g.fillText(`${((t - this.t0) / 1e9).toFixed(digits)} s`, x + 3, 10);
    }
  }

  /** The segment under a point of the canvas. */
  private hit(px: number, py: number): { row: Row; lane: LaneView; i: number; m: number } | undefined {
    const i = Math.floor((py - AXIS + this.scroller.scrollTop) / ROW);
    const row = this.rows[i];
    const lane = row && this.answer?.lanes.find(l => l.tid === row.tid);
    if (!row || !lane || py < AXIS || px < LABEL) return undefined;
    const t = this.shown.from + ((px - LABEL) / (this.width() - LABEL)) * (this.shown.to - this.shown.from);
    const slack = (this.shown.to - this.shown.from) / (this.width() - LABEL); // a pixel
    let m = 0;
    for (let k = 0; k < lane.start.length; k++) {
      if (lane.start[k] <= t + slack && lane.end[k] >= t - slack) return { row, lane, i: k, m };
      if (lane.id[k] < 0) m++;
    }
    return undefined;
  }

  private move(e: MouseEvent): void {
    const d = this.drag;
    if (d) {
      const dx = e.clientX - d.x;
      if (Math.abs(dx) > 2) d.moved = true;
      if (d.moved) {
        const dt = (dx / (this.width() - LABEL)) * (d.to - d.from);
        this.state.setWindow({ from: d.from - dt, to: d.to - dt }, false);
      }
      return;
    }
    if (e.target !== this.canvas) return;
    const r = this.canvas.getBoundingClientRect();
    const h = this.hit(e.clientX - r.left, e.clientY - r.top);
    if (!h) { this.tip.style.display = 'none'; return; }
    const { lane, i, m, row } = h;
    const lines = [row.label, `${secs(lane.start[i] - this.t0, 6)} – ${secs(lane.end[i] - this.t0, 6)}`];
    if (lane.id[i] >= 0) {
      lines.unshift(`${KIND_LABEL[KINDS[lane.kind[i]]]} for ${dur(lane.end[i] - lane.start[i])}`);
      const why = this.answer?.whys[lane.why[i]];
      if (why) lines.push(`waited in ${why}`);
      lines.push('click for its stacks');
    } else {
      const shares = KINDS.map((k, kk) => [k, lane.mix[m * KINDS.length + kk]] as const).filter(([, f]) => f > 0.005)
        .map(([k, f]) => `${KIND_LABEL[k]} ${(f * 100).toFixed(0)}%`);
      lines.unshift(`${lane.n[i] ? `${lane.n[i]} intervals` : 'time'} over ${dur(lane.end[i] - lane.start[i])}: ${shares.join(', ')}`);
      lines.push('click to zoom in');
    }
    this.tip.replaceChildren(...lines.map((l, k) => el('div', { class: k ? '' : 'head' }, l)));
    this.tip.style.display = 'block';
    const box = this.root.getBoundingClientRect();
    this.tip.style.left = `${Math.min(e.clientX - box.left + 14, box.width - 320)}px`;
    this.tip.style.top = `${e.clientY - box.top + 14}px`;
  }

  private up(e: MouseEvent): void {
    const d = this.drag;
    this.drag = undefined;
    if (!d || d.moved || e.target !== this.canvas) return;
    const r = this.canvas.getBoundingClientRect();
    const h = this.hit(e.clientX - r.left, e.clientY - r.top);
    if (!h) return;
    if (h.lane.id[h.i] >= 0) this.onInterval(h.row.tid, h.lane.id[h.i]);
    else {
      const s = h.lane.start[h.i], en = h.lane.end[h.i], pad = (en - s) * 0.25;
      this.state.setWindow({ from: s - pad, to: en + pad }, false);
    }
  }

  private zoom(factor: number, at: number): void {
    const w = this.window();
    const span = Math.max(1e3, (w.to - w.from) * factor);
    const f = (at - w.from) / (w.to - w.from);
    this.state.setWindow({ from: at - f * span, to: at + (1 - f) * span }, false);
  }

  private pan(fraction: number): void {
    const w = this.window(), d = (w.to - w.from) * fraction;
    this.state.setWindow({ from: w.from + d, to: w.to + d }, false);
  }

  private wheel(e: WheelEvent): void {
    if (e.ctrlKey || e.metaKey) {
      e.preventDefault();
      const r = this.canvas.getBoundingClientRect();
      this.zoom(Math.exp(e.deltaY * 0.002), this.t(Math.max(LABEL, e.clientX - r.left)));
    } else if (e.shiftKey) {
      e.preventDefault();
      this.pan((e.deltaY || e.deltaX) * 0.001);
    }
  }

  private key(e: KeyboardEvent): void {
    const w = this.window(), mid = (w.from + w.to) / 2;
    if (e.key === 'w') this.zoom(0.7, mid);
    else if (e.key === 's') this.zoom(1 / 0.7, mid);
    else if (e.key === 'a') this.pan(-0.2);
    else if (e.key === 'd') this.pan(0.2);
    else if (e.key === 'f') this.state.setWindow(undefined, true); // fit: the whole run
  }
}
