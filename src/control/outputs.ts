// Where an activation's records and summary go, for attach and trace alike: records to stdout (text,
// or NDJSON with --json), the summary to stdout in text mode and to stderr with --json, so that
// stdout stays pure NDJSON.
import { NdjsonSink } from '../output/ndjson.js';
import { summaryText } from '../output/summary.js';
import { TextSink } from '../output/text.js';
import { TeeSink } from '../output/tee.js';
import type { Session, SessionSummary, Sink } from '../model/session.js';

/** How records are printed: NDJSON, or text (with each off-CPU interval's full stacks, or not). */
export interface OutputOptions { json: boolean; stacks: boolean }

/** A sink made when an activation starts (at startNs), or nothing (an output not asked for). */
export type SinkFactory = ((startNs: number) => Sink) | undefined | false;

/**
 * A sink factory for Session.activate: text counts TIME from the activation's start. With an
 * exporter running, its state sees every record too; so do `more` (a recording, the page).
 */
export function recordSink(o: OutputOptions, session: Session, metrics?: Sink, more: SinkFactory[] = []): (startNs: number) => Sink {
  return startNs => {
    const out = o.json ? new NdjsonSink(process.stdout, session.clock) : new TextSink(process.stdout, startNs, o.stacks);
    const sinks = [out, ...(metrics ? [metrics] : []), ...more.flatMap(f => (f ? [f(startNs)] : []))];
    return sinks.length === 1 ? out : new TeeSink(sinks);
  };
}

export function printSummary(json: boolean, s: SessionSummary | undefined): void {
  if (!s) return;
  const out = json ? process.stderr : process.stdout;
  out.write(summaryText(s, out.isTTY && out.columns ? out.columns : undefined));
}

export function note(msg: string): void {
  process.stderr.write(`procimage: ${msg}\n`);
}
