// A summary made from records, as the session makes one while it collects: for a report that selects
// some records (--pid, --from...) or of a recording whose writer never wrote its own. What records
// cannot tell (what the kernel sent and dropped) comes from the recorded summary when there is one.
import type { Policy } from '../../collect/policy.js';
import type { ProcRecord, RecordType } from '../../collect/records.js';
import { OffCpuStacks } from '../../model/offcpustacks.js';
import { ProcessTable } from '../../model/processes.js';
import { wakeSummary, type SessionSummary } from '../../model/session.js';
import { WakeChains } from '../../model/wakechains.js';

/** Stacks the summary lists by off-CPU time (as the session's). */
const SUMMARY_STACKS = 5;

export class SummaryBuilder {
  private readonly processes = new ProcessTable();
  private readonly stacks = new OffCpuStacks();
  private readonly chains = new WakeChains();
  private readonly counts = new Map<RecordType, number>();
  private readonly lost = new Map<string, number>();
  private lastTs = 0;

  observe(r: ProcRecord): void {
    this.counts.set(r.type, (this.counts.get(r.type) ?? 0) + 1);
    this.processes.observe(r);
    if (r.type === 'offcpu' || r.type === 'offcpu_agg') this.stacks.observe(r);
    this.chains.observe(r);
    if (r.type === 'lost') this.lost.set(r.reason, (this.lost.get(r.reason) ?? 0) + r.count);
    if (r.ts_ns > this.lastTs) this.lastTs = r.ts_ns;
  }

  /**
   * recorded: the writer's own summary, if it wrote one: its duration, and what only the kernel
   * counted. Without one the duration runs to the last record read.
   */
  build(policy: Policy, recorded: SessionSummary | undefined): SessionSummary {
    return {
      policy,
      duration_ns: recorded?.duration_ns ?? this.lastTs,
      records: Object.fromEntries(this.counts),
      lost: recorded?.lost ?? Object.fromEntries(this.lost),
      processes: this.processes.all(),
      processes_untracked: this.processes.untracked,
      kernel_records: recorded?.kernel_records ?? {},
      offcpu_stacks: this.stacks.top(SUMMARY_STACKS),
      offcpu_stacks_distinct: this.stacks.distinct,
      ...wakeSummary(this.chains),
    };
  }
}
