// `procimage attach`: load and verify the chosen categories, pin them, and wait, attached to
// nothing, for `procimage ctl` to activate them. Runs in the foreground; records go to its stdout.
import { possibleCpus } from '../bpf/index.js';
import { describePolicy, validatePolicy, type Category, type Policy } from '../collect/policy.js';
import { Session, type Activation, type SessionSummary } from '../model/session.js';
import { preflight } from '../sys/preflight.js';
import { DEFAULT_PIN_DIR } from '../sys/paths.js';
import { PinDir } from './pindir.js';
import { socketPath, type Request, type Response } from './protocol.js';
import { note, printSummary, recordSink } from './outputs.js';
import type { Recording } from './record.js';
import type { RecordingStats } from '../output/recording/writer.js';
import { ControlServer } from './server.js';
import { removeStaleRunFiles } from './rundir.js';
import type { Metrics, MetricsFlags } from './metrics.js';
import { releaseFreeMemory } from '../sys/libc.js';

export interface AttachOptions extends MetricsFlags {
  categories: Category[];
  pinDir: string;
  json: boolean;
  stacks: boolean; // text: full stacks under each off-CPU interval
  ringBytes?: number;
}

class AttachDaemon {
  private limitTimer: NodeJS.Timeout | undefined;
  private finishing: Promise<void> | undefined;
  server: ControlServer | undefined;
  done!: () => void;

  metrics: Metrics | undefined;

  constructor(private readonly session: Session, private readonly dir: PinDir, private readonly o: AttachOptions) {}

  /**
   * Requests that change the state run one after the other, in the order they came: two `ctl -a` at
   * once, a `ctl -f` or `ctl -d` (or a signal, or -t's expiry) while an activation is still attaching
   * its hooks, each sees the state the one before it left. status answers at once.
   */
  private serial: Promise<unknown> = Promise.resolve();
  serialized<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.serial.then(fn, fn);
    this.serial = run.catch(() => undefined);
    return run;
  }

  handle(req: Request): Promise<Response> {
    return req.op === 'status' ? this.handleNow(req) : this.serialized(() => this.handleNow(req));
  }

  private async handleNow(req: Request): Promise<Response> {
    if (this.finishing && req.op !== 'finish') return { ok: false, error: `the attach of ${this.o.pinDir} is finishing (ctl -f or a signal)` };
    switch (req.op) {
      case 'activate': return this.activate(req.policy, BigInt(req.issuedNs), req.record);
      case 'deactivate': {
        const { summary: s, recording } = await this.deactivate();
        return s ? { ok: true, duration_ns: s.duration_ns, records: s.records, lost: s.lost, ...(recording ? { recording } : {}) }
          : { ok: false, error: 'not active: nothing to deactivate' };
      }
      case 'status':
        return {
          ok: true, pid: process.pid, pinDir: this.o.pinDir, categories: this.session.categories,
          programs: this.session.programs().map(p => p.program), active: this.session.active ?? null,
        };
      case 'finish':
        await this.finish();
        return { ok: true, pid: process.pid };
      default:
        return { ok: false, error: `unknown request ${(req as { op: string }).op}` };
    }
  }

  private async activate(policy: Policy, issuedNs: bigint, record: string | undefined): Promise<Response> {
    if (policy.categories.length === 0) policy = { ...policy, categories: this.session.categories };
    validatePolicy(policy, possibleCpus());
    // ctl changes the policy at any time: the current activation ends (with its summary) first
    if (this.session.active) {
      note(`policy change: ending ${describePolicy(this.session.active)}`);
      await this.deactivate();
    }
    // the recording's code only for an activation that records (the daemon's memory stays that of the ready state)
    const recording = record !== undefined ? (await import('./record.js')).Recording.create(record) : undefined;
    let a: Activation;
    try {
      const page = this.metrics?.page;
      a = await this.session.activate(policy, recordSink(this.o, this.session, this.metrics?.state, [
        recording && (startNs => recording.begin(this.session, policy, this.session.categories, startNs)),
        page && (startNs => page.begin(policy, this.session.categories, startNs)),
      ]));
    } catch (e) {
      await recording?.discard();
      throw e;
    }
    this.recorder = recording;
    if (policy.maxSeconds > 0) {
      const timer = this.limitTimer = setTimeout(() => void this.serialized(async () => {
        if (this.limitTimer !== timer) return; // ended meanwhile by a request queued before this
        note(`-t ${policy.maxSeconds}: time is up, back to the ready state`);
        await this.deactivate();
      }), policy.maxSeconds * 1000);
    }
    note(`activated: ${describePolicy(policy)} (attached ${a.hooks.join(', ') || 'no program'})`);
    for (const n of a.notes) note(n);
    return {
      ok: true, description: describePolicy(policy), hooks: a.hooks, notes: a.notes,
      collecting_after_issue_ns: Number(a.collectingNs - issuedNs),
    };
  }

  /** The recording of the current activation (ctl -a --record), ended with its summary at deactivation. */
  private recorder: Recording | undefined;

  private async deactivate(): Promise<{ summary: SessionSummary | undefined; recording?: RecordingStats }> {
    clearTimeout(this.limitTimer);
    this.limitTimer = undefined;
    const summary = await this.session.deactivate();
    this.metrics?.page.end(summary);
    printSummary(this.o.json, summary);
    const r = this.recorder;
    this.recorder = undefined;
    return { summary, recording: await r?.finish(summary) };
  }

  /** Ends everything once: flush and summary, unpin, remove the socket. */
  finish(): Promise<void> {
    this.finishing ??= (async () => {
      await this.deactivate();
      await this.metrics?.close();
      this.session.close();
      this.dir.release();
      // let the finishing request's answer go out, then stop listening and exit
      setImmediate(() => {
        this.server?.close();
        this.done();
      });
    })();
    return this.finishing;
  }
}

export async function runAttach(o: AttachOptions): Promise<number> {
  // the server and the page only with --listen: what the daemon never runs is not in its memory
  const metricsModule = o.listen !== undefined ? await import('./metrics.js') : undefined;
  metricsModule?.checkListen(o);
  preflight();
  const dir = PinDir.acquire(o.pinDir, m => note(`warning: ${m}`));
  // what procimage processes that died without finishing left in /run/procimage (their pins:
  // PinDir.acquire, with a warning, as they are this directory's): other directories' sockets and
  // temporary files, removed without a word (on a shared machine any start would otherwise say so)
  await removeStaleRunFiles();
  let session: Session | undefined;
  let daemon: AttachDaemon;
  try {
    session = await Session.loadAsync({ categories: o.categories, ringBytes: o.ringBytes });
    dir.willPin(session.pinPaths(dir.path));
    session.pin(dir.path, p => dir.pinnedAt(p));
    daemon = new AttachDaemon(session, dir, o);
    daemon.metrics = await metricsModule?.startMetrics(o, session);
    await session.ready(); // kallsyms, read meanwhile: an activation then dispatches at once
    // a ctl that connects is about to send a request, most often an activation
    daemon.server = await ControlServer.listen(socketPath(o.pinDir), req => daemon.handle(req), () => void session!.prepare());
  } catch (e) {
    await daemon!?.metrics?.close();
    session?.close();
    dir.release();
    throw e;
  }
  // the ready state is the one that runs for days: what loading left behind (V8's garbage of
  // start-up, the C heap's free memory) goes back to the system now, not whenever V8 gets to it
  releaseFreeMemory();
  const programs = session.programs();
  const dirFlag = o.pinDir === DEFAULT_PIN_DIR ? '' : ` --pin-dir ${o.pinDir}`;
  note(`ready: ${programs.length} programs (${o.categories.join(', ')}) verified and pinned under ${o.pinDir}; ` +
    'nothing is attached');
  note(`activate from another shell: procimage ctl -a -P <TGID>${dirFlag}   (ctl -d: back to ready, ctl -f: finish)`);
  return new Promise<number>(resolve => {
    daemon.done = () => resolve(0);
    const onSignal = (sig: NodeJS.Signals) => {
      note(`${sig}: finishing`);
      void daemon.serialized(() => daemon.finish());
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
}
