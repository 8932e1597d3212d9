// `procimage report FILE`: a recording (--record) read back as the live run printed it — text, or
// NDJSON record for record — or its summary alone, for all of it or some threads, processes or
// seconds; and exported for other viewers. Streams: one chunk of the file in memory at a time.
import type { Writable } from 'node:stream';
import type { ProcRecord } from '../collect/records.js';
import type { SessionSummary } from '../model/session.js';
import { whenCaughtUp } from '../output/backpressure.js';
import { filtering, selects, type RecordFilter } from '../output/recording/filter.js';
import { RecordingError, RecordingReader, type Ending } from '../output/recording/reader.js';
import { UserError } from '../sys/errors.js';
import { SummaryBuilder } from '../output/recording/summary.js';
import { seconds9 } from '../output/format.js';
import { TextSink } from '../output/text.js';
import { note, printSummary } from './outputs.js';
import { HttpServer, isLoopback, parseListen } from '../output/http.js';
import { OutFile } from '../output/export/exporter.js';
import { standaloneHtml } from '../output/page/html.js';
import { PageModel } from '../output/page/model.js';
import { hostsFor, loadAssets, PageRoutes } from '../output/page/server.js';
import { warnExposed } from './metrics.js';
import { pageHeader } from './page.js';
import type { ExportContext, Exporter } from '../output/export/exporter.js';
import { FoldedExport } from '../output/export/folded.js';
import { PerfettoExport } from '../output/export/perfetto.js';
import { PprofExport } from '../output/export/pprof.js';
import { wantsExport, type ExportFiles } from './exportfiles.js';

export interface ReportOptions {
  file: string;
  json: boolean;
  /** The summary alone (with exports: the summary too). */
  summary: boolean;
  stacks: boolean;
  filter: RecordFilter;
  /** Files to export to instead of printing the records. */
  exports?: ExportFiles;
  /** Serve the page of the recording here (HOST:PORT), until Ctrl-C. */
  listen?: string;
  /** Write the page of the recording, data and code in one file. */
  html?: string;
}

/** Exit status of a report of a recording that ends early (what could be read is reported). */
export const EXIT_INCOMPLETE = 3;

export async function runReport(o: ReportOptions): Promise<number> {
  const reader = RecordingReader.open(o.file);
  try {
    return await reportOf(reader, o);
  } catch (e) {
    // the chunks' CRCs hold, yet a record cannot be shown (a crafted file, another procimage's):
    // one line that says so, not a stack
    if (e instanceof UserError || !(e instanceof Error)) throw e;
    throw new RecordingError(`${reader.path}: a record this procimage cannot report (${e.message}): ` +
      'the file is damaged, or not written by this version of procimage');
  } finally {
    reader.close();
  }
}

async function reportOf(reader: RecordingReader, o: ReportOptions): Promise<number> {
  const filtered = filtering(o.filter);
  const out = process.stdout;
  let builder: SummaryBuilder | undefined;
  if (o.listen !== undefined || o.html !== undefined) return await page(reader, o);
  if (wantsExport(o.exports)) {
    // every file is created before anything is read: a path that cannot be written is one line now
    const exporters = makeExporters(o.exports!, { header: reader.header, clock: reader.clock });
    builder = readAll(reader, o.filter, r => { for (const e of exporters) e.record(r); });
    const summary = summaryOf(reader, builder, o.filter);
    for (const e of exporters) note(await e.finish(summary));
    if (o.summary) printSummary(false, summary);
    return warnIfIncomplete(reader);
  }
  if (o.summary && !filtered) skipToEnd(reader);
  else if (o.summary) builder = readAll(reader, o.filter, () => {});
  else if (o.json) builder = await writeJson(reader, o.filter, out);
  else builder = await writeText(reader, o.filter, out, o.stacks);
  // the recorded summary where it covers what was asked; else one made of the records read
  if (!builder && !reader.summary) {
    const again = RecordingReader.open(reader.path);
    try {
      builder = readAll(again, o.filter, () => {});
    } finally {
      again.close();
    }
  }
  printSummary(o.json, summaryOf(reader, builder, o.filter));
  return warnIfIncomplete(reader);
}

/** The exports of a whole recording (trace --perfetto ... -- CMD): the files, a line each; no summary. */
export async function exportRecording(file: string, files: ExportFiles): Promise<void> {
  const reader = RecordingReader.open(file);
  try {
    const exporters = makeExporters(files, { header: reader.header, clock: reader.clock });
    readAll(reader, {}, r => { for (const e of exporters) e.record(r); });
    for (const e of exporters) note(await e.finish(reader.summary));
  } finally {
    reader.close();
  }
}

/** The page of a recording: read into a page model, then written as one file, or served. */
async function page(reader: RecordingReader, o: ReportOptions): Promise<number> {
  const addr = o.listen !== undefined ? parseListen(o.listen) : undefined;
  const assets = loadAssets();
  const out = o.html !== undefined ? new OutFile(o.html) : undefined; // refused now, before the reading
  const model = new PageModel(pageHeader(reader.header), 0);
  readAll(reader, o.filter, r => model.observe(r));
  model.end(reader.summary?.kernel_records ?? null, reader.summary?.duration_ns);
  const status = warnIfIncomplete(reader);
  if (out) {
    out.write(standaloneHtml(assets.js, assets.css, model.toJSON()));
    out.close();
    note(`wrote ${out.path}: the page of ${reader.path}, self-contained (${(out.bytes / 2 ** 20).toFixed(1)} MiB; opens offline in a browser)`);
  }
  if (!addr) return status;
  const routes = new PageRoutes(() => model, assets, hostsFor(addr.host, addr.port));
  const server = await HttpServer.listen(addr, (req, res) => {
    if (!routes.handle(req, res)) res.writeHead(404, { 'content-type': 'text/plain' }).end('procimage serves the page at /\n');
  });
  if (!isLoopback(addr.host)) warnExposed(addr.host);
  note(`serving the page of ${reader.path} on ${server.url}/ (Ctrl-C to stop)`);
  await new Promise<void>(resolve => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  routes.close();
  await server.close();
  return status;
}

function makeExporters(files: ExportFiles, ctx: ExportContext): Exporter[] {
  const out: Exporter[] = [];
  if (files.perfetto) out.push(new PerfettoExport(files.perfetto, ctx));
  if (files.pprof) out.push(new PprofExport(files.pprof, ctx));
  if (files.folded) out.push(new FoldedExport(files.folded));
  return out;
}

/** Text: the records through the live run's text sink, flushed where the live run flushed. */
async function writeText(reader: RecordingReader, f: RecordFilter, out: Writable, stacks: boolean): Promise<SummaryBuilder> {
  const sink = new TextSink(out, 0, stacks);
  const builder = new SummaryBuilder();
  for (const chunk of reader.chunks()) {
    const flushes = chunk.info.flushes;
    let mark = 0;
    for (let i = 0; i < chunk.lines.length; i++) {
      const r = reader.parseRecord(chunk.lines[i]);
      if (selects(f, r)) {
        sink.write(r);
        builder.observe(r);
      }
      if (flushes[mark] === i + 1) {
        sink.flush();
        mark++;
      }
    }
    // a chunk full in the middle of a batch ends without a mark: the batch goes on in the next one
    await whenCaughtUp(out);
  }
  sink.flush();
  return builder;
}

/**
 * NDJSON: the lines as they were written (the live run's --json output, byte for byte). Unfiltered,
 * they are not even parsed; then the summary builder is left to a second pass, if one is needed.
 */
async function writeJson(reader: RecordingReader, f: RecordFilter, out: Writable): Promise<SummaryBuilder | undefined> {
  const filtered = filtering(f);
  const builder = filtered ? new SummaryBuilder() : undefined;
  for (const chunk of reader.chunks()) {
    let lines = chunk.lines;
    if (filtered) {
      lines = lines.filter(l => {
        const r = reader.parseRecord(l);
        if (!selects(f, r)) return false;
        builder!.observe(r);
        return true;
      });
    }
    if (lines.length) out.write(lines.join('\n') + '\n');
    await whenCaughtUp(out);
  }
  return builder;
}

/** Every selected record through `each`, and into a summary builder. */
function readAll(reader: RecordingReader, f: RecordFilter, each: (r: ProcRecord) => void): SummaryBuilder {
  const builder = new SummaryBuilder();
  for (const chunk of reader.chunks()) {
    for (const l of chunk.lines) {
      const r = reader.parseRecord(l);
      if (!selects(f, r)) continue;
      builder.observe(r);
      each(r);
    }
  }
  return builder;
}

/** To the end of the file through the chunks' headers alone: for the recorded summary. */
function skipToEnd(reader: RecordingReader): void {
  for (const _ of reader.chunks(() => false)) { /* only the end chunk is read */ }
}

function summaryOf(reader: RecordingReader, builder: SummaryBuilder | undefined, f: RecordFilter): SessionSummary | undefined {
  const recorded = reader.summary;
  if (!builder || (recorded && !filtering(f))) return recorded;
  const s = builder.build(reader.header.policy, recorded);
  const what: string[] = [];
  if (f.pids) what.push(`threads ${[...f.pids].join(', ')}`);
  if (f.tgids) what.push(`processes ${[...f.tgids].join(', ')}`);
  if (f.comms) what.push(`comm ${[...f.comms].join(', ')}`);
  if (f.fromNs !== undefined || f.toNs !== undefined) {
    what.push(`${f.fromNs !== undefined ? seconds9(f.fromNs) : 'start'} to ${f.toNs !== undefined ? seconds9(f.toNs) : 'end'} s`);
  }
  const whole = recorded ? 'lost and kernel counts are the whole recording\'s' : 'the recording has no summary of its own';
  s.partial = `${what.length ? what.join('; ') : 'every record read'} (${whole})`;
  return s;
}

function warnIfIncomplete(reader: RecordingReader): number {
  const e = reader.ending as Ending;
  if (e.complete) return 0;
  const upTo = e.lastTs !== undefined ? `, up to ${seconds9(e.lastTs)} s after the start` : '';
  note(`warning: ${reader.path} is incomplete: ${e.why}; reported what could be read: ${e.chunks} chunks, ` +
    `${e.readable} of ${reader.size} bytes${upTo}`);
  return EXIT_INCOMPLETE;
}
