// Line charts over time, by a kept library (uPlot: small, fast on thousands of points). Times on the
// x axis are seconds since the start; values are formatted by the unit given.
import uPlot from 'uplot';
import { el } from './dom.js';

export interface Line { label: string; values: Array<number | null>; color: string; fill?: boolean }

export function lineChart(title: string, t: number[], t0: number, lines: Line[], unit: (v: number) => string, width: number): HTMLElement {
  const box = el('div', { class: 'chartbox', 'data-chart': title });
  const usable = lines.filter(l => l.values.some(v => v !== null && v !== undefined));
  if (!t.length || !usable.length) {
    box.append(el('h3', {}, title), el('p', { class: 'hint' }, 'no data'));
    return box;
  }
  box.append(el('h3', {}, title));
  const opts: uPlot.Options = {
    width, height: 170,
    legend: { live: true },
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: false } },
    axes: [
      { values: (_u, vals) => vals.map(v => `${v.toFixed(v < 10 ? 1 : 0)} s`), size: 30 },
      { values: (_u, vals) => vals.map(v => unit(v)), size: 76 },
    ],
    series: [
      { label: 'time', value: (_u, v) => (v === null ? '' : `${v.toFixed(3)} s`) },
      ...usable.map(l => ({ label: l.label, stroke: l.color, width: 1.5, fill: l.fill ? `${l.color}33` : undefined,
        value: (_u: uPlot, v: number | null) => (v === null ? '–' : unit(v)) })),
    ],
  };
  const data: uPlot.AlignedData = [t.map(x => (x - t0) / 1e9), ...usable.map(l => l.values.map(v => v ?? null))];
  new uPlot(opts, data, box);
  return box;
}
