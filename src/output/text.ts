// Human output on a terminal: one line per lifecycle event, times in seconds since activation.
import type { Writable } from 'node:stream';
import type { ProcRecord } from '../collect/records.js';
import { truncationNote } from '../collect/keytime.js';
import type { Sink } from '../model/session.js';
import { whenCaughtUp } from './backpressure.js';
import { commandLine, duration, seconds9, shellWord } from './format.js';
import { shortFrame, waitedIn, whyAndWhere } from './stackline.js';
import { safeForText } from './safetext.js';

export { shortFrame, waitedIn, whyAndWhere };
import { TABLES } from './tables.js';
import { wakerName } from '../model/wakers.js';
import './tables/schedule.js';
import './tables/resource.js'; // registers the resource table
import './tables/lock.js';
import './tables/syscall.js';

const HEADER = `${'TIME(s)'.padEnd(14)} ${'PID'.padStart(7)} ${'TGID'.padStart(7)}  ${'COMM'.padEnd(16)} ${'EVENT'.padEnd(6)} DETAILS`;

export function describeExit(r: { exit_code: number | null; signal_name: string | null; core_dumped: boolean }): string {
  if (r.signal_name) return `killed by ${r.signal_name}${r.core_dumped ? ' (core dumped)' : ''}`;
  return `exit code ${r.exit_code}`;
}

/** The DETAILS column for a record, or undefined for records text output does not list one by one. */
export function details(r: ProcRecord, withStacks = false): string | undefined {
  switch (r.type) {
    case 'fork':
      return r.thread ? `new thread ${r.child_pid}` : `new process ${r.child_tgid}`;
    case 'exec':
      return `${shellWord(r.filename)}  [${commandLine(r.argv)}${r.argv_truncated ? ' …' : ''}]  ppid ${r.ppid}` +
        (r.old_pid !== r.pid ? `  (was thread ${r.old_pid})` : '');
    case 'exit':
      return `${describeExit(r)}${r.process_exit ? ' · process ends' : ''} · lifetime ${duration(r.lifetime_ns)} · ` +
        `on-CPU ${duration(r.oncpu_ns)}`;
    case 'oncpu':
      return `on CPU ${r.cpu} ${span(r.duration_ns, r.began_before_activation, r.ongoing, r.switch_in_inferred)}`;
    case 'offcpu': {
      const why = whyAndWhere(r.kstack, r.ustack);
      // one that left before activation: how and why are not known (no switch-out was seen)
      const how = r.state === '?' ? '' : ` · ${r.state} ${r.state_name}${why ? ` · ${why}` : ''}`;
      const woken = r.waker ? ` · woken by ${wakerName(r.waker)}` : '';
      return `off CPU ${r.cpu} ${span(r.duration_ns, r.began_before_activation, r.ongoing, r.switch_in_inferred)}${how}${woken}` +
        (withStacks ? stackLines(r.kstack, r.ustack, r.ustack_truncated ? truncationNote(r.ustack_mode) : undefined) : '');
    }
    case 'offcpu_agg': {
      // the short intervals of one stack since the thread's last such line (--offcpu-min)
      const why = whyAndWhere(r.kstack, r.ustack);
      return `off CPU ${r.count}x under ${duration(r.below_ns)}, ${duration(r.total_ns)} in all · ${r.state} ${r.state_name}` +
        `${why ? ` · ${why}` : ''}` +
        (withStacks ? stackLines(r.kstack, r.ustack, r.ustack_truncated ? truncationNote(r.ustack_mode) : undefined) : '');
    }
    case 'lost':
      return `${r.count} lost (${r.reason})`;
    case 'resource':
      return undefined; // a table every interval (tables/resource.ts)
    case 'syscall_seq':
      // every syscall one by one would drown the terminal: text shows the rolling last N per thread
      // in the syscall_thread table instead; --json has the complete sequence
      return undefined;
    case 'migrate':
      return `CPU ${r.from_cpu} → ${r.to_cpu}`;
    case 'module':
      return undefined; // for tools that symbolize ustack_locs later: the frames already name their files
  }
  return undefined;
}

/** "for 2.000 ms", or what is known of an interval without a duration. */
function span(ns: number | null, before: boolean, ongoing: boolean, inferred: boolean): string {
  // inferred: no switch-in was seen, its time is the scheduler's own stamp (docs/ndjson.md)
  if (ns !== null) return `for ${duration(ns)}` + (inferred ? ' (switch-in not traced: scheduler\'s stamp)' : '');
  if (before) return ongoing ? 'since before activation, still at deactivation' : 'since before activation';
  return ongoing ? 'for (still, at deactivation)' : 'for ? (a switch was not traced)';
}

const INDENT = ' '.repeat(50);

/** Frames under the event line, innermost first: kernel, then user (as offcputime prints them). */
function stackLines(kstack: readonly string[], ustack: readonly string[], truncated?: string): string {
  const lines = [...kstack.map(f => `${INDENT}${f}`), ...(kstack.length && ustack.length ? [`${INDENT}--`] : []),
    ...ustack.map(f => `${INDENT}${f}`), ...(truncated ? [`${INDENT}… ${truncated}`] : [])];
  return lines.length ? '\n' + lines.join('\n') : '';
}

export class TextSink implements Sink {
  private headerDone = false;
  private pending: string[] = [];
  private tabular = new Map<string, ProcRecord[]>();

  /**
   * t0: the activation instant (ns since the clock's epoch) that TIME counts from; stacks: print
   * each off-CPU interval's full stacks under it.
   */
  constructor(private readonly out: Writable, private readonly t0: number, private readonly stacks = false) {}

  write(record: ProcRecord): void {
    const r = safeForText(record); // a target's names, escaped: one line each, no terminal escapes
    if (TABLES[r.type]) {
      const list = this.tabular.get(r.type) ?? [];
      list.push(r);
      this.tabular.set(r.type, list);
      return;
    }
    const d = details(r, this.stacks);
    if (d === undefined) return;
    if (!this.headerDone) {
      this.pending.push(HEADER);
      this.headerDone = true;
    }
    const who = r.type === 'lost' ? `${''.padStart(7)} ${''.padStart(7)}  ${'(kernel)'.padEnd(16)}`
      : `${String(r.pid).padStart(7)} ${String(r.tgid).padStart(7)}  ${r.comm.padEnd(16)}`;
    this.pending.push(`${seconds9(r.ts_ns - this.t0).padEnd(14)} ${who} ${r.type.padEnd(6)} ${d}`);
  }

  flush(): void {
    for (const [type, recs] of this.tabular) {
      const at = seconds9(Math.max(...recs.map(r => r.ts_ns)) - this.t0);
      this.pending.push(`── ${type} at ${at} s ${'─'.repeat(Math.max(0, 60 - type.length - at.length))}`,
        ...TABLES[type as ProcRecord['type']]!(recs, this.t0));
      this.headerDone = false; // the event header again after a table
    }
    this.tabular.clear();
    if (this.pending.length === 0) return;
    this.out.write(this.pending.join('\n') + '\n');
    this.pending = [];
  }

  backedUp(): Promise<void> | undefined {
    return whenCaughtUp(this.out);
  }
}
