// `procimage trace`: load, activate and collect in one process, for the everyday case. With
// `-- CMD`, CMD is started behind a gate (build/procimage-gate), made the target, and only then let
// through to exec, so nothing of its life is missed; trace then ends when CMD does, with its status.
import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import type { Writable } from 'node:stream';
import { defaultPolicy, validatePolicy, type Category, type Policy, type StackMode, type Target } from '../collect/policy.js';
import { Session } from '../model/session.js';
import { possibleCpus } from '../bpf/index.js';
import { parseListen } from '../output/http.js';
import { UserError } from '../sys/errors.js';
import { findExecutable } from '../sys/executable.js';
import { paths } from '../sys/paths.js';
import { preflight } from '../sys/preflight.js';
import { watchTaskExit } from '../sys/taskexit.js';
import { mark } from '../sys/timing.js';
import { note, printSummary, recordSink } from './outputs.js';
import type { Recording } from './record.js';
import { checkExportPaths, wantsExport, type ExportFiles } from './exportfiles.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MetricsFlags } from './metrics.js';

export interface TraceOptions extends MetricsFlags {
  target?: Target;          // none: every thread (or the command)
  categories: Category[];
  keytimeMode: 0 | 1;
  syscallSeqLen: number;
  myproc: boolean;
  intervalSec: number;
  stackMode: StackMode;
  topN: number;
  offcpuMinNs: number;
  json: boolean;
  stacks: boolean; // text: full stacks under each off-CPU interval
  durationSec?: number;
  command?: string[];
  ringBytes?: number;
  /** --record FILE */
  record?: string;
  /** --perfetto, --pprof, --folded: exports of the run, made from its recording once it has ended. */
  exports?: ExportFiles;
}

/** How long a traced command may take to exit after Ctrl-C before trace stops waiting for it. */
const CHILD_GRACE_MS = 2000;

/**
 * What can be refused before anything is loaded or started, so that a bad flag is one line with
 * nothing run (the policy too: else a CPU beyond the machine's is refused only once the objects are
 * loaded). The CLI's tests drive it in-process (test/badinput.test.ts).
 */
export function checkTrace(o: TraceOptions): void {
  if (o.command?.length && o.target) throw new UserError('give either a target (-p, -P, -c) or a command after --, not both');
  if (o.command?.length) findExecutable(o.command[0]); // a CMD that cannot run is an error now, with nothing traced
  if (o.listen !== undefined) parseListen(o.listen);
  validatePolicy(policyFor(o, o.target ?? { kind: 'all' }), possibleCpus());
}

export async function runTrace(o: TraceOptions): Promise<number> {
  checkTrace(o);
  // what only some runs use (the server and page, the recording, the exporters) is loaded only by them
  const metricsModule = o.listen !== undefined ? await import('./metrics.js') : undefined;
  preflight();
  mark('preflight');
  // before anything is loaded: a path that cannot be written is refused with nothing started
  const exporting = wantsExport(o.exports);
  const scratch = exporting && o.record === undefined ? mkdtempSync(join(tmpdir(), 'procimage-')) : undefined; // 0700
  const recordTo = o.record ?? (scratch && join(scratch, 'trace.rec'));
  let recording: Recording | undefined;
  try {
    recording = recordTo !== undefined ? (await import('./record.js')).Recording.create(recordTo, { quiet: scratch !== undefined }) : undefined;
    if (exporting) checkExportPaths(o.exports!);
  } catch (e) {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
    throw e;
  }
  try {
    return await traceWith(o, recording, metricsModule?.startMetrics);
  } finally {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  }
}

type StartMetrics = typeof import('./metrics.js').startMetrics;

async function traceWith(o: TraceOptions, recording: Recording | undefined, startMetrics: StartMetrics | undefined): Promise<number> {
  let session: Session;
  let metrics: Awaited<ReturnType<StartMetrics>>;
  let child: ChildProcess | undefined;
  let childExit: Promise<number> | undefined;
  // the one policy it will activate is known (the command's pid only later, and only its kind
  // matters here): only the programs it uses are loaded
  const loading = Session.loadAsync({ categories: o.categories, ringBytes: o.ringBytes,
    policies: [policyFor(o, o.target ?? (o.command?.length ? { kind: 'tgid', tgid: 0 } : { kind: 'all' }))] });
  try {
    // while the objects verify on libuv's pool: CMD, behind its gate (forking this process takes
    // 5-25 ms, more once the objects are loaded)
    if (o.command?.length) {
      // CMD's stdout would corrupt an NDJSON stdout: it goes to stderr then
      child = spawn(paths.gate, ['3', ...o.command], { stdio: ['inherit', o.json ? 2 : 'inherit', 'inherit', 'pipe'] });
      childExit = new Promise(resolve => child!.once('exit', (code, sig) => resolve(code ?? 128 + signalNumber(sig))));
      child.once('error', () => { /* reported below: no pid */ });
      if (child.pid === undefined) throw new UserError(`cannot start ${paths.gate}: run make`);
    }
    session = await loading;
  } catch (e) {
    child?.kill('SIGKILL');
    await loading.then(s => s.close(), () => undefined); // loaded meanwhile: closed
    await recording?.discard();
    throw e;
  }
  try {
    metrics = await startMetrics?.(o, session);
  } catch (e) {
    child?.kill('SIGKILL');
    session.close();
    await recording?.discard();
    throw e;
  }
  let collectingNs = process.hrtime.bigint();
  try {
    const target: Target = child ? { kind: 'tgid', tgid: child.pid! } : o.target ?? { kind: 'all' };
    const policy = policyFor(o, target);
    const a = await session.activate(policy, recordSink(o, session, metrics?.state, [
      recording && (startNs => recording.begin(session, policy, o.categories, startNs, o.command)),
      metrics && (startNs => metrics!.page.begin(policy, o.categories, startNs, o.command)),
    ]));
    collectingNs = a.collectingNs;
    for (const n of a.notes) note(n);
    (child?.stdio[3] as Writable | undefined)?.end('g'); // open the gate: CMD execs, already a target
    mark('activated');
  } catch (e) {
    child?.kill('SIGKILL');
    await metrics?.close();
    session.close();
    await recording?.discard();
    throw e;
  }

  let unwatch = () => undefined as void;
  const stop = await new Promise<'child' | 'duration' | 'target' | NodeJS.Signals>(resolve => {
    childExit?.then(() => resolve('child'));
    // a running target (-p, -P): its end is the end of the trace, as a command's is
    const t = o.target;
    if (t?.kind === 'tgid' || t?.kind === 'pid') unwatch = watchTaskExit(t.kind === 'tgid' ? t.tgid : t.pid, () => resolve('target'));
    // counted from when collection runs: the activation's last steps (the ring not read until kallsyms
    // is) are part of the collection
    const left = (o.durationSec ?? 0) * 1000 - Number(process.hrtime.bigint() - collectingNs) / 1e6;
    if (o.durationSec) setTimeout(() => resolve('duration'), Math.max(0, left)).unref();
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  mark('stop');
  unwatch();
  if (child && stop !== 'child' && stop !== 'duration') {
    // Ctrl-C reached CMD too (same process group): give it a moment so its exit is recorded
    await Promise.race([childExit, new Promise(r => setTimeout(r, CHILD_GRACE_MS).unref())]);
  }
  const summary = await session.deactivate();
  mark('deactivated');
  metrics?.page.end(summary);
  await metrics?.close();
  session.close();
  mark('closed');
  printSummary(o.json, summary);
  const recorded = await recording?.finish(summary);
  if (recorded && wantsExport(o.exports)) await (await import('./report.js')).exportRecording(recorded.path, o.exports!);
  if (stop === 'SIGINT' || stop === 'SIGTERM') note(`${stop}: stopped`);
  if (stop === 'target') {
    const t = o.target as Extract<Target, { kind: 'tgid' | 'pid' }>;
    note(`${t.kind === 'tgid' ? `process ${t.tgid}` : `thread ${t.pid}`} exited: stopped`);
  }
  if (child && child.exitCode === null && child.signalCode === null) {
    note(`${o.command![0]} (pid ${child.pid}) is still running; no longer traced`);
    return stop === 'SIGINT' ? 130 : stop === 'SIGTERM' ? 143 : 0;
  }
  return childExit ? await childExit : 0;
}

function policyFor(o: TraceOptions, target: Target): Policy {
  return { ...defaultPolicy(target, o.categories), keytimeMode: o.keytimeMode,
    syscallSeqLen: o.syscallSeqLen, myproc: o.myproc, maxSeconds: o.durationSec ?? 0, intervalSec: o.intervalSec,
    stackMode: o.stackMode, topN: o.topN, offcpuMinNs: o.offcpuMinNs };
}

/** A shell's convention: a command killed by signal N "exits" 128 + N. */
function signalNumber(sig: NodeJS.Signals | null): number {
  return sig ? ((constants.signals as Record<string, number>)[sig] ?? 0) : 0;
}
