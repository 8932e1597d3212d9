// --folded OUT: off-CPU time by stack as Brendan Gregg's folded stacks, one line per distinct stack:
// `comm;outermost;...;innermost value`, user frames then kernel frames (as offcputime -f prints them,
// kernel functions suffixed `_[k]` as perf's stackcollapse does, which flamegraph.pl and inferno
// colour), weighted by off-CPU nanoseconds. flamegraph.pl, inferno and speedscope read it.
import type { ProcRecord } from '../../collect/records.js';
import type { SessionSummary } from '../../model/session.js';
import { OutFile, type Exporter } from './exporter.js';
import { kernelFrameName, userFrameName } from './stackframes.js';

/** ';' separates frames and a line ends at a newline: neither may be in a frame's name. */
const clean = (s: string) => s.replace(/[;\n\r]/g, ':');

export class FoldedExport implements Exporter {
  private readonly totals = new Map<string, number>();

  constructor(private readonly file: string) {}

  record(r: ProcRecord): void {
    // an offcpu_agg record: the short intervals of one stack, counted in the kernel
    const ns = r.type === 'offcpu' ? r.duration_ns : r.type === 'offcpu_agg' ? r.total_ns : null;
    if ((r.type !== 'offcpu' && r.type !== 'offcpu_agg') || ns === null) return;
    let key = clean(r.comm);
    for (let i = r.ustack.length - 1; i >= 0; i--) key += `;${clean(userFrameName(r.ustack[i]))}`;
    for (let i = r.kstack.length - 1; i >= 0; i--) key += `;${clean(kernelFrameName(r.kstack[i]))}_[k]`;
    this.totals.set(key, (this.totals.get(key) ?? 0) + ns);
  }

  async finish(_summary: SessionSummary | undefined): Promise<string> {
    const out = new OutFile(this.file);
    let total = 0;
    for (const [stack, ns] of [...this.totals].sort((a, b) => b[1] - a[1])) {
      out.write(`${stack} ${ns}\n`);
      total += ns;
    }
    out.close();
    return `wrote ${out.path}: folded stacks (${this.totals.size} stacks, ${total} ns off CPU) for flamegraph.pl, inferno, speedscope`;
  }
}
