// The Grafana dashboards of grafana/dashboards/, described once here (DASHBOARDS: rows, panels, queries)
// and written as JSON by Grafana's own builders (@grafana/grafana-foundation-sdk, typed from Grafana's
// schema) with
//   tsx tools/dashboards.ts grafana/dashboards
// (the files are committed: a user points Grafana at the folder, grafana/README.md). test/metrics.test.ts
// checks the files are current, carry the whole description, and that every query returns data from a
// real Prometheus.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import {
  LegendDisplayMode, LegendPlacement, ReduceDataOptionsBuilder, StackingConfigBuilder, StackingMode,
  TimelineValueAlignment, VisibilityMode, VizLegendOptionsBuilder, type DataSourceRef,
} from '@grafana/grafana-foundation-sdk/common';
import {
  DashboardBuilder, DatasourceVariableBuilder, FieldColorBuilder, FieldColorModeId, QueryVariableBuilder, RowBuilder, VariableRefresh,
  type Dashboard as GrafanaDashboard, type Panel as GrafanaPanel,
} from '@grafana/grafana-foundation-sdk/dashboard';
import { HeatmapColorMode, HeatmapColorOptionsBuilder, PanelBuilder as HeatmapBuilder, YAxisConfigBuilder } from '@grafana/grafana-foundation-sdk/heatmap';
import { DataqueryBuilder, PromQueryFormat } from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder as StatBuilder } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as StateTimelineBuilder } from '@grafana/grafana-foundation-sdk/statetimeline';
import { PanelBuilder as TimeseriesBuilder } from '@grafana/grafana-foundation-sdk/timeseries';

export interface Query { expr: string; legend: string }
/**
 * heatmap: one query of histogram buckets (sum by (le) of a rate), drawn as Grafana's heatmap of them.
 * state-timeline: a row per series, coloured by its value from 0 to 1 (a share of the time).
 */
export interface Panel {
  title: string; unit: string; queries: Query[]; stack?: boolean; description?: string;
  kind?: 'timeseries' | 'stat' | 'heatmap' | 'state-timeline';
}
export interface Dashboard { uid: string; title: string; file: string; description: string; rows: Array<{ title: string; panels: Panel[] }> }

/** Selector of the target processes the $target variable picks, on the $instance agents. */
const T = 'comm=~"$target",instance=~"$instance"';
const I = 'instance=~"$instance"';
/** The targets' own resource series: with --metrics-threads their threads' are there too (pid label). */
const R = `${T},pid=""`;

export const DASHBOARDS: Dashboard[] = [
  {
    uid: 'procimage-keytime', title: 'procimage — lifecycle (keytime)', file: 'keytime.json',
    description: 'On/off-CPU time of the targets by state, and their forks, execs and exits.',
    rows: [{
      title: 'On and off the CPU', panels: [
        { title: 'On/off-CPU timeline', unit: 'percentunit', kind: 'state-timeline',
          description: 'For each target, the share of each moment its threads spent on a CPU (-k 1), and off it by state ' +
            '(S sleeping, D uninterruptible, R preempted): 1 = one thread all the time.',
          queries: [
            { expr: `sum by (comm) (rate(procimage_oncpu_seconds_total{${T}}[$__rate_interval]))`, legend: '{{comm}} on CPU' },
            { expr: `sum by (comm, state) (rate(procimage_offcpu_seconds_total{${T}}[$__rate_interval]))`, legend: '{{comm}} off CPU {{state}}' },
          ] },
        { title: 'Time off the CPU, by state', unit: 's', stack: true,
          description: 'Seconds per second each target spent off the CPU: S sleeping, D uninterruptible, R preempted (waiting for a CPU).',
          queries: [{ expr: `sum by (comm, state) (rate(procimage_offcpu_seconds_total{${T}}[$__rate_interval]))`, legend: '{{comm}} {{state}}' }] },
        { title: 'Time on a CPU (-k 1)', unit: 's', stack: true,
          queries: [{ expr: `sum by (comm) (rate(procimage_oncpu_seconds_total{${T}}[$__rate_interval]))`, legend: '{{comm}}' }] },
        { title: 'Off-CPU intervals per second, by state', unit: 'ops',
          queries: [{ expr: `sum by (comm, state) (rate(procimage_offcpu_intervals_total{${T}}[$__rate_interval]))`, legend: '{{comm}} {{state}}' }] },
      ],
    }, {
      title: 'Lifecycle', panels: [
        { title: 'Forks per second', unit: 'ops',
          queries: [{ expr: `sum by (comm, kind) (rate(procimage_forks_total{${T}}[$__rate_interval]))`, legend: '{{comm}} {{kind}}' }] },
        { title: 'Programs started (exec\'d) in each interval', unit: 'short',
          description: 'Targets that appeared having exec\'d, by program, in each $__rate_interval. A program started is a ' +
            'new target whose execs counter starts at 1: rate() never sees that first increment.',
          queries: [{ expr: `count by (comm) (procimage_execs_total{${T}} > 0 unless procimage_execs_total{${T}} offset $__rate_interval)`, legend: '{{comm}}' }] },
        { title: 'Process exits, by code and signal', unit: 'short', kind: 'stat',
          queries: [{ expr: `sum by (comm, code, signal) (procimage_exits_total{${T}})`, legend: '{{comm}} code={{code}} {{signal}}' }] },
        { title: 'Targets alive', unit: 'short',
          queries: [{ expr: `sum by (comm) (procimage_target_up{${T}})`, legend: '{{comm}}' }] },
      ],
    }],
  },
  {
    uid: 'procimage-schedule', title: 'procimage — scheduling delay (schedule)', file: 'schedule.json',
    description: 'Time from wakeup or preemption until running again, for the targets and for the whole system beside them.',
    rows: [{
      title: 'Target beside the system', panels: [
        { title: 'p99 scheduling delay', unit: 's',
          queries: [
            { expr: `histogram_quantile(0.99, sum by (le, comm) (rate(procimage_sched_delay_seconds_bucket{${T}}[$__rate_interval])))`, legend: '{{comm}}' },
            { expr: `histogram_quantile(0.99, sum by (le) (rate(procimage_system_sched_delay_seconds_bucket{${I}}[$__rate_interval])))`, legend: 'system' },
          ] },
        { title: 'Average scheduling delay', unit: 's',
          queries: [
            { expr: `sum by (comm) (rate(procimage_sched_delay_seconds_sum{${T}}[$__rate_interval])) / sum by (comm) (rate(procimage_sched_delay_seconds_count{${T}}[$__rate_interval]))`, legend: '{{comm}}' },
            { expr: `sum(rate(procimage_system_sched_delay_seconds_sum{${I}}[$__rate_interval])) / sum(rate(procimage_system_sched_delay_seconds_count{${I}}[$__rate_interval]))`, legend: 'system' },
          ] },
        { title: 'Delays per second', unit: 'ops',
          queries: [{ expr: `sum by (comm) (rate(procimage_sched_delay_seconds_count{${T}}[$__rate_interval]))`, legend: '{{comm}}' }] },
        { title: 'Longest delay since activation', unit: 's',
          queries: [
            { expr: `max by (comm) (procimage_sched_delay_max_seconds{${T}})`, legend: '{{comm}}' },
            { expr: `max(procimage_system_sched_delay_max_seconds{${I}})`, legend: 'system' },
          ] },
      ],
    }],
  },
  {
    uid: 'procimage-resource', title: 'procimage — resources (resource)', file: 'resource.json',
    description: 'CPU, memory, I/O, faults and context switches of the targets, with the whole system beside them.',
    rows: [{
      title: 'CPU and memory', panels: [
        { title: 'CPU, by target and mode (1 = one CPU)', unit: 'short', stack: true,
          queries: [{ expr: `sum by (comm, mode) (rate(procimage_cpu_seconds_total{${R}}[$__rate_interval]))`, legend: '{{comm}} {{mode}}' }] },
        { title: 'CPU of the whole system (1 = one CPU)', unit: 'short', stack: true,
          queries: [{ expr: `sum by (mode) (rate(procimage_system_cpu_seconds_total{${I}}[$__rate_interval]))`, legend: '{{mode}}' }] },
        { title: 'Resident memory, by target and kind', unit: 'bytes', stack: true,
          queries: [{ expr: `sum by (comm, kind) (procimage_memory_rss_bytes{${R}})`, legend: '{{comm}} {{kind}}' }] },
        { title: 'Memory of the whole system', unit: 'bytes',
          queries: [{ expr: `sum by (state) (procimage_system_memory_bytes{${I},state=~"used|total"})`, legend: '{{state}}' }] },
      ],
    }, {
      title: 'I/O, faults, switches', panels: [
        { title: 'Storage bytes per second (read, write)', unit: 'Bps',
          queries: [
            { expr: `sum by (comm) (rate(procimage_storage_read_bytes_total{${R}}[$__rate_interval]))`, legend: '{{comm}} read' },
            { expr: `sum by (comm) (rate(procimage_storage_write_bytes_total{${R}}[$__rate_interval]))`, legend: '{{comm}} write' },
            { expr: `sum by (op) (rate(procimage_system_storage_bytes_total{${I}}[$__rate_interval]))`, legend: 'system {{op}}' },
          ] },
        { title: 'All I/O bytes per second (storage, cache, pipes, sockets)', unit: 'Bps',
          queries: [
            { expr: `sum by (comm) (rate(procimage_io_read_bytes_total{${R}}[$__rate_interval]))`, legend: '{{comm}} read' },
            { expr: `sum by (comm) (rate(procimage_io_write_bytes_total{${R}}[$__rate_interval]))`, legend: '{{comm}} write' },
          ] },
        { title: 'Page faults per second', unit: 'ops',
          queries: [
            { expr: `sum by (comm, kind) (rate(procimage_page_faults_total{${R}}[$__rate_interval]))`, legend: '{{comm}} {{kind}}' },
            { expr: `sum by (kind) (rate(procimage_system_page_faults_total{${I}}[$__rate_interval]))`, legend: 'system {{kind}}' },
          ] },
        { title: 'Context switches per second', unit: 'ops',
          queries: [
            { expr: `sum by (comm, kind) (rate(procimage_context_switches_total{${R}}[$__rate_interval]))`, legend: '{{comm}} {{kind}}' },
            { expr: `sum(rate(procimage_system_context_switches_total{${I}}[$__rate_interval]))`, legend: 'system' },
          ] },
      ],
    }],
  },
  {
    uid: 'procimage-syscall', title: 'procimage — system calls (syscall)', file: 'syscall.json',
    description: 'System calls of the targets: how many, which fail, how long they take; the whole system\'s counts beside them.',
    rows: [{
      title: 'Calls', panels: [
        { title: 'Syscalls per second, by target and syscall (top 10)', unit: 'ops', stack: true,
          queries: [{ expr: `topk(10, sum by (comm, syscall) (rate(procimage_syscalls_total{${T}}[$__rate_interval])))`, legend: '{{comm}} {{syscall}}' }] },
        { title: 'Failed syscalls per second, by target and syscall (top 10)', unit: 'ops',
          description: 'Calls that returned an error (-4095..-1); the NDJSON syscall_stat records name the most frequent errno.',
          queries: [{ expr: `topk(10, sum by (comm, syscall) (rate(procimage_syscall_errors_total{${T}}[$__rate_interval])))`, legend: '{{comm}} {{syscall}}' }] },
        { title: 'Syscalls per second of the whole system (top 10)', unit: 'ops', stack: true,
          queries: [{ expr: `topk(10, sum by (syscall) (rate(procimage_system_syscalls_total{${I}}[$__rate_interval])))`, legend: '{{syscall}}' }] },
        { title: 'The targets\' share of the system\'s syscalls', unit: 'percentunit',
          queries: [{ expr: `sum(rate(procimage_syscalls_total{${T}}[$__rate_interval])) / sum(rate(procimage_system_syscalls_total{${I}}[$__rate_interval]))`, legend: 'targets' }] },
      ],
    }, {
      title: 'Latency', panels: [
        { title: 'p99 latency, by target and syscall', unit: 's',
          queries: [{ expr: `histogram_quantile(0.99, sum by (le, comm, syscall) (rate(procimage_syscall_latency_seconds_bucket{${T}}[$__rate_interval])))`, legend: '{{comm}} {{syscall}}' }] },
        { title: 'Time in syscalls per second, by target and syscall (top 10)', unit: 's', stack: true,
          description: 'Seconds per second spent inside each syscall, blocked or not: 1 = one thread in it all the time.',
          queries: [{ expr: `topk(10, sum by (comm, syscall) (rate(procimage_syscall_latency_seconds_sum{${T}}[$__rate_interval])))`, legend: '{{comm}} {{syscall}}' }] },
        { title: 'Average latency, by target and syscall', unit: 's',
          queries: [{ expr: `sum by (comm, syscall) (rate(procimage_syscall_latency_seconds_sum{${T}}[$__rate_interval])) / sum by (comm, syscall) (rate(procimage_syscall_latency_seconds_count{${T}}[$__rate_interval]))`, legend: '{{comm}} {{syscall}}' }] },
        { title: 'Latency of every target syscall (heatmap)', unit: 's', kind: 'heatmap',
          queries: [{ expr: `sum by (le) (rate(procimage_syscall_latency_seconds_bucket{${T}}[$__rate_interval]))`, legend: '{{le}}' }] },
      ],
    }],
  },
  {
    uid: 'procimage-lock', title: 'procimage — locks (lock)', file: 'lock.json',
    description: 'Lock waits of the targets: pthread locks (uprobes on their libc), futex waits and kernel lock contention.',
    rows: [{
      title: 'Waits, every source', panels: [
        { title: 'Contentions per second, by lock (top 10)', unit: 'ops',
          description: 'pthread: acquisitions that found the lock held; futex: waits; kernel: contentions.',
          queries: [{ expr: `topk(10, sum by (comm, source, kind, lock) (rate(procimage_lock_contended_total{${T}}[$__rate_interval])))`, legend: '{{comm}} {{source}} {{kind}} {{lock}}' }] },
        { title: 'Time waiting per second, by lock (top 10)', unit: 's', stack: true,
          description: 'Seconds per second the targets\' threads spent waiting for each lock: 1 = one thread waiting all the time.',
          queries: [{ expr: `topk(10, sum by (comm, source, lock) (rate(procimage_lock_wait_seconds_sum{${T}}[$__rate_interval])))`, legend: '{{comm}} {{source}} {{lock}}' }] },
        { title: 'p99 wait, by lock', unit: 's',
          queries: [{ expr: `histogram_quantile(0.99, sum by (le, comm, source, lock) (rate(procimage_lock_wait_seconds_bucket{${T}}[$__rate_interval])))`, legend: '{{comm}} {{source}} {{lock}}' }] },
        { title: 'Waits of every lock (heatmap)', unit: 's', kind: 'heatmap',
          queries: [{ expr: `sum by (le) (rate(procimage_lock_wait_seconds_bucket{${T}}[$__rate_interval]))`, legend: '{{le}}' }] },
      ],
    }, {
      title: 'pthread locks', panels: [
        { title: 'Acquisitions per second, by lock', unit: 'ops',
          queries: [{ expr: `sum by (comm, kind, lock) (rate(procimage_lock_acquisitions_total{${T}}[$__rate_interval]))`, legend: '{{comm}} {{kind}} {{lock}}' }] },
        { title: 'Share of acquisitions that found the lock held', unit: 'percentunit',
          queries: [{ expr: `sum by (comm, lock) (rate(procimage_lock_contended_total{${T},source="pthread"}[$__rate_interval])) / sum by (comm, lock) (rate(procimage_lock_acquisitions_total{${T}}[$__rate_interval]))`, legend: '{{comm}} {{lock}}' }] },
        { title: 'Time held per second, by lock', unit: 's',
          description: '1 = held all the time (by one thread or another).',
          queries: [{ expr: `sum by (comm, lock) (rate(procimage_lock_hold_seconds_total{${T}}[$__rate_interval]))`, legend: '{{comm}} {{lock}}' }] },
        { title: 'Failed lock calls and waits per second', unit: 'ops',
          description: 'pthread: trylocks that found the lock busy, lock calls that returned an error; futex, kernel: waits that ended in an error.',
          queries: [{ expr: `sum by (comm, source, lock) (rate(procimage_lock_failed_total{${T}}[$__rate_interval]))`, legend: '{{comm}} {{source}} {{lock}}' }] },
      ],
    }],
  },
  {
    uid: 'procimage-self', title: 'procimage — the tool itself', file: 'self.json',
    description: 'Whether procimage collects, what it lost, and what it costs.',
    rows: [{
      title: 'procimage', panels: [
        { title: 'Collecting', unit: 'short', queries: [{ expr: `procimage_active{${I}}`, legend: '{{instance}}' }] },
        { title: 'Lost events per second, by reason', unit: 'ops',
          queries: [{ expr: `sum by (instance, reason) (rate(procimage_lost_events_total{${I}}[$__rate_interval]))`, legend: '{{instance}} {{reason}}' }] },
        { title: 'procimage CPU (the reader and outputs)', unit: 'percentunit',
          queries: [{ expr: `rate(procimage_process_cpu_seconds_total{${I}}[$__rate_interval])`, legend: '{{instance}}' }] },
        { title: 'procimage memory', unit: 'bytes',
          queries: [{ expr: `procimage_process_resident_memory_bytes{${I}}`, legend: '{{instance}}' }] },
      ],
    }],
  },
];

/** Every panel and query reads from the dashboard's $datasource variable (a Prometheus the user picks). */
const DS = { type: 'prometheus', uid: '${datasource}' };

/** What the SDK's four panel builders have in common (each is its own class: no shared base type). */
interface PanelBuilder extends cog.Builder<GrafanaPanel> {
  id(id: number): this; title(title: string): this; description(description: string): this; unit(unit: string): this;
  datasource(ds: DataSourceRef): this; withTarget(target: cog.Builder<cog.Dataquery>): this; height(h: number): this; span(w: number): this;
}

function queries(p: Panel): DataqueryBuilder[] {
  return p.queries.map((q, k) => {
    const b = new DataqueryBuilder().refId(String.fromCharCode(65 + k)).expr(q.expr).legendFormat(q.legend).datasource(DS);
    return p.kind === 'heatmap' ? b.format(PromQueryFormat.Heatmap) : b;
  });
}

/** The panel's own builder, with what is particular to its kind. */
function kindOf(p: Panel): PanelBuilder {
  switch (p.kind) {
    case 'stat': return new StatBuilder().reduceOptions(new ReduceDataOptionsBuilder().calcs(['lastNotNull']));
    // the buckets are Prometheus' already: drawn as they are, not re-bucketed by Grafana. The colour
    // builder starts from zeros (steps 0, which it would itself refuse), not from the panel's defaults:
    // every field is set, to Grafana's defaults but the scheme
    case 'heatmap': return new HeatmapBuilder().calculate(false).cellGap(1).yAxis(new YAxisConfigBuilder().unit(p.unit))
      .color(new HeatmapColorOptionsBuilder().mode(HeatmapColorMode.Scheme).scheme('Oranges').fill('dark-orange')
        .exponent(0.5).steps(64).reverse(false));
    // a share of the time: from nothing (blue) to all of it (red)
    case 'state-timeline': return new StateTimelineBuilder().showValue(VisibilityMode.Never).mergeValues(false).rowHeight(0.9)
      .alignValue(TimelineValueAlignment.Left).legend(new VizLegendOptionsBuilder().showLegend(false))
      .min(0).max(1).colorScheme(new FieldColorBuilder().mode(FieldColorModeId.ContinuousBlYlRd)).fillOpacity(80).lineWidth(0);
    default: {
      // the SDK's default legend is hidden (showLegend false); Grafana's own default, kept here, shows it
      const b = new TimeseriesBuilder().legend(new VizLegendOptionsBuilder().showLegend(true)
        .displayMode(LegendDisplayMode.List).placement(LegendPlacement.Bottom));
      return p.stack ? b.stacking(new StackingConfigBuilder().mode(StackingMode.Normal).group('A')).fillOpacity(30) : b;
    }
  }
}

function panel(p: Panel, id: number): PanelBuilder {
  const b = kindOf(p).id(id).title(p.title).unit(p.unit).datasource(DS).height(8).span(12);
  if (p.description) b.description(p.description);
  for (const q of queries(p)) b.withTarget(q);
  return b;
}

function queryVariable(name: string, label: string, query: string): QueryVariableBuilder {
  return new QueryVariableBuilder(name).label(label).datasource(DS).query({ query, refId: name }).definition(query)
    .includeAll(true).multi(true).allValue('.*').refresh(VariableRefresh.OnTimeRangeChanged);
}

/**
 * Grafana's classic JSON model of a dashboard (the SDK's dashboard.Dashboard; the schema version is
 * the SDK's: an older Grafana reads it too, its migrations being for versions below the file's). Not
 * the SDK's v2 (dashboardv2), which it would rather we used: Grafana 12 reads that only behind feature
 * toggles, while file provisioning and import of every Grafana read this one (Grafana 13 migrates it).
 * Rows are expanded: their panels follow them on the dashboard, placed two to a line by the
 * builder (RowBuilder.withPanel would nest them in the row, which Grafana shows only collapsed).
 */
export function build(d: Dashboard): GrafanaDashboard {
  const b = new DashboardBuilder(d.title).uid(d.uid).description(d.description).tags(['procimage']).version(1).editable()
    .refresh('5s').time({ from: 'now-15m', to: 'now' })
    // the SDK's default is "browser"; none lets the viewer's profile or organisation choose, as before
    .timezone('')
    .withVariable(new DatasourceVariableBuilder('datasource').label('Prometheus').type('prometheus'))
    .withVariable(queryVariable('instance', 'agent', 'label_values(procimage_active, instance)'))
    .withVariable(queryVariable('target', 'target', 'label_values(procimage_target_up{instance=~"$instance"}, comm)'));
  let id = 1;
  for (const row of d.rows) {
    b.withRow(new RowBuilder(row.title).id(id++));
    for (const p of row.panels) b.withPanel(panel(p, id++));
  }
  return b.build();
}

/** The file's text (JSON.stringify leaves out the SDK's marker method on queries). */
export function render(d: Dashboard): string {
  return JSON.stringify(build(d), null, 2) + '\n';
}

export function write(dir: string): void {
  mkdirSync(dir, { recursive: true });
  for (const d of DASHBOARDS) writeFileSync(join(dir, d.file), render(d));
}

if (import.meta.url === `file://${process.argv[1]}`) write(process.argv[2] ?? 'grafana/dashboards');
