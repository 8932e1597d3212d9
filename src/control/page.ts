// The page of a live run (trace or attach with --listen): a page model per activation, fed every
// record as the other outputs are, and ended with the activation's summary. Between activations of an
// attach the last one stays on the page until the next begins.
import { describePolicy, type Category, type Policy } from '../collect/policy.js';
import type { ProcRecord } from '../collect/records.js';
import type { Session, SessionSummary, Sink } from '../model/session.js';
import { PageModel, type PageHeader } from '../output/page/model.js';
import type { RecordingHeader } from '../output/recording/header.js';
import { makeHeader } from '../output/recording/header.js';

/** The part of a recording's header the page shows. */
export function pageHeader(h: Pick<RecordingHeader, 'procimage' | 'host' | 'kernel' | 'started_at' | 'policy' | 'categories' | 'command'>): PageHeader {
  return { procimage: h.procimage, host: h.host, kernel: h.kernel, started_at: h.started_at, policy: h.policy,
    policy_text: describePolicy(h.policy), categories: h.categories, command: h.command };
}

export class LivePage {
  current: PageModel | undefined;

  constructor(private readonly session: Session, private readonly budget?: number) {}

  /** A sink for the activation starting at startNs (ns on the session's clock). */
  begin(policy: Policy, categories: Category[], startNs: number, command?: string[]): Sink {
    const h = makeHeader({ startNs, startAbsNs: this.session.clock.toAbsolute(startNs), policy, categories, command });
    const model = new PageModel(pageHeader(h), startNs, () => this.session.clock.now(), this.budget);
    this.current = model;
    return { write: (r: ProcRecord) => model.observe(r) };
  }

  /** Collection ended: the page says so, with what only the kernel counted. */
  end(summary: SessionSummary | undefined): void {
    if (summary) this.current?.end(summary.kernel_records, summary.duration_ns);
  }
}
