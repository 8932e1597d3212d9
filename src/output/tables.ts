// Text tables for the records a category reports every --interval (aggregates: scheduling delay,
// syscall statistics, locks, resources). Each category registers a renderer for its record types in
// its own file under src/output/tables/; TextSink prints one table per type and interval.
import type { ProcRecord, RecordType } from '../collect/records.js';

/** Lines of a table for the records of one type from one interval; t0 is the activation's start. */
export type TableRenderer = (records: ProcRecord[], t0: number) => string[];

export const TABLES: Partial<Record<RecordType, TableRenderer>> = {};

export function registerTable(type: RecordType, render: TableRenderer): void {
  TABLES[type] = render;
}

export type Align = 'l' | 'r';

/** Rows padded into columns; align per column ('r' for numbers). */
export function renderTable(head: string[], rows: string[][], align: Align[]): string[] {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map(r => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (align[i] === 'r' ? c.padStart(w[i]) : c.padEnd(w[i]))).join('  ').trimEnd();
  return [line(head), ...rows.map(line)];
}
