// The peer study's plots (bench/peers.ts), drawn from its results with echarts' server-side SVG
// renderer: no browser, nothing fetched. One chart per figure, a row per (job, tool), idle and loaded
// side by side; each round's value is a dot, so the spread on a shared machine shows.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as echarts from 'echarts';
import type { PeerResults } from '../peers.js';
import { median } from '../lib.js';

type Rows = PeerResults['loads'][number]['rows'];
type Pick = (L: PeerResults['loads'][number], row: Rows[number]) => number[];

const COLORS = ['#3b6fb6', '#e07b39'];
const WIDTH = 1100;

/**
 * x untraced: the mean of the untraced runs beside a traced one over its figure, per test (higher
 * figures are better), and the geometric mean over the tests.
 */
export function slowdown(base: Array<Record<string, number>>, traced: Record<string, number>): number | null {
  const keys = Object.keys(traced).filter(k => base.some(b => b[k] !== undefined));
  if (!keys.length) return null;
  const r = keys.map(k => {
    const b = base.map(x => x[k]).filter(v => v !== undefined);
    return Math.exp(b.reduce((a, v) => a + Math.log(v), 0) / b.length) / traced[k];
  });
  return Math.exp(r.reduce((a, x) => a + Math.log(x), 0) / r.length);
}

const PICKS: Array<{ file: string; title: string; axis: string; log?: boolean; pick: Pick; ref?: number }> = [
  {
    file: 'slowdown.svg', title: 'Target slowdown while traced (x untraced, log scale; 1 = no cost)', axis: 'x untraced', log: true, ref: 1,
    pick: (_, r) => r.sessions.filter(s => !s.failed).map(s => slowdown(s.untracedAround ?? [], s.figures)).filter((x): x is number => x !== null),
  },
  {
    file: 'cpu.svg', title: "Tool's CPU while the target ran (% of one core; utime + stime from /proc)", axis: '% of a core',
    pick: (_, r) => r.sessions.filter(s => !s.failed).map(s => (100 * s.runCpuS!) / s.runS!),
  },
  {
    file: 'memory.svg', title: "Tool's peak memory (VmHWM, MB)", axis: 'MB',
    pick: (_, r) => r.sessions.filter(s => !s.failed).map(s => s.hwmMb!),
  },
  {
    file: 'lost.svg', title: 'Events lost, % of what the tool saw (as each tool reports it; tools without a count are left out)', axis: '% lost',
    pick: (_, r) => r.sessions.filter(s => !s.failed && s.lost?.of).map(s => (100 * s.lost!.lost!) / s.lost!.of!),
  },
  {
    file: 'startup.svg', title: 'Start-up: from launch until the tool collects (s)', axis: 's',
    pick: (_, r) => r.startups.filter(s => !s.failed).map(s => s.readyS!),
  },
];

export async function writePlots(res: PeerResults, dir: string): Promise<string[]> {
  const files: string[] = [];
  // two lines a row: the job, small, above the tool (procimage's rows in bold)
  const labels = res.loads[0].rows.map(r => `{job|${res.jobTitles[r.job]}}\n{${r.tool.startsWith('procimage') ? 'pi' : 'tool'}|${r.tool}}`);
  for (const p of PICKS) {
    const values = res.loads.map(L => L.rows.map(r => p.pick(L, r)));
    // rows with nothing to show (a tool that reports no count) are left out of this chart
    const keep = labels.map((_, i) => values.some(v => v[i].length > 0));
    const cats = labels.filter((_, i) => keep[i]);
    const series: echarts.SeriesOption[] = [];
    res.loads.forEach((L, li) => {
      const vs = values[li].filter((_, i) => keep[i]);
      series.push({
        name: `${L.load} (median)`, type: 'bar', barGap: '10%', barCategoryGap: '30%', color: COLORS[li],
        data: vs.map(v => (v.length ? Number(median(v).toPrecision(3)) : null)),
        // the medians in a column of their own at the right, in their load's colour, clear of the dots
        label: { show: true, position: 'right', fontSize: 12, fontWeight: 'bold', color: COLORS[li], formatter: (x: { value: unknown }) => fmtValue(Number(x.value)) },
        labelLayout: { x: WIDTH - 80, align: 'left' },
        ...(p.ref && li === 0 ? { markLine: { silent: true, symbol: 'none', data: [{ xAxis: p.ref }], lineStyle: { color: '#999', type: 'dashed' }, label: { show: false } } } : {}),
      });
      series.push({
        name: 'each round', type: 'scatter', symbolSize: 6, color: '#222', z: 5,
        // the dots sit on their load's bar: each category's two bars are offset by a quarter
        data: vs.flatMap((v, ci) => v.map(x => [x, ci])),
        symbolOffset: [0, li === 0 ? -7 : 7],
      });
    });
    const height = 110 + cats.length * 44;
    const smallest = Math.min(...values.flat(2).filter(v => v > 0));
    const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width: WIDTH, height });
    chart.setOption({
      animation: false,
      backgroundColor: '#fff',
      title: { text: p.title, left: 10, top: 8, textStyle: { fontSize: 15 } },
      legend: { top: 34, left: 10, itemGap: 30, data: res.loads.map(L => `${L.load} (median)`).concat(['each round']), textStyle: { fontSize: 12 } },
      grid: { left: 360, right: 100, top: 70, bottom: 40 },
      xAxis: p.log
        ? { type: 'log', name: p.axis, nameLocation: 'middle', nameGap: 24, min: Math.min(0.5, 10 ** Math.floor(Math.log10(smallest))), logBase: 10, axisLabel: { formatter: (v: number) => `${v}` } }
        : { type: 'value', name: p.axis, nameLocation: 'middle', nameGap: 24 },
      yAxis: {
        type: 'category', inverse: true, data: cats,
        axisLabel: {
          rich: { job: { fontSize: 10, color: '#888', align: 'right' }, tool: { fontSize: 12, color: '#333', align: 'right' }, pi: { fontSize: 12, fontWeight: 'bold', color: '#111', align: 'right' } },
        },
      },
      series,
    });
    const f = join(dir, p.file);
    writeFileSync(f, chart.renderToSVGString() + '\n');
    chart.dispose();
    files.push(f);
  }
  return files;
}

function fmtValue(v: number): string {
  if (!Number.isFinite(v)) return '';
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}
