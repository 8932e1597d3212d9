// The resource figures of "(other)", the targets past the bound: each reports running totals of its
// own (since it started), so "(other)"'s are their sum — the living ones' latest totals plus what
// the ended ones had at their end, so that the counters never go back — and its memory is the
// living ones' sum. Taking the last record's figures would make "(other)" whichever came last.
import type { ResourceTotals } from './state.js';

const COUNTERS = ['userNs', 'systemNs', 'readBytes', 'writeBytes', 'ioReadBytes', 'ioWriteBytes', 'minorFaults', 'majorFaults',
  'voluntary', 'involuntary'] as const;

/** Ended members remembered (a repeated last sample must not add one's end again); the oldest go first. */
const ENDED_KEPT = 10_000;

export interface Member { pid: number; tgid: number; thread: boolean }

export class OtherResource {
  private readonly living = new Map<string, Member & { totals: ResourceTotals }>();
  private readonly retired = Object.fromEntries(COUNTERS.map(c => [c, 0])) as Record<(typeof COUNTERS)[number], number>;
  private readonly ended = new Set<string>();
  private seen = false;

  /** A member's totals now; `exited`: its last. */
  update(key: string, member: Member, totals: ResourceTotals, exited: boolean): void {
    if (this.ended.has(key)) return;
    this.seen = true;
    if (exited) this.retire(key, totals);
    else this.living.set(key, { ...member, totals });
  }

  /** Members that ended without a last record (seen gone from /proc): their last totals stay in. */
  prune(alive: (m: Member) => boolean): void {
    for (const [key, m] of this.living) if (!alive(m)) this.retire(key, m.totals);
  }

  /** Ends no longer in the kernel's last sample cannot be repeated: forgotten. */
  forgetEnded(listed: ReadonlySet<string>): void {
    for (const k of this.ended) if (!listed.has(k)) this.ended.delete(k);
  }

  totals(): ResourceTotals | undefined {
    if (!this.seen) return undefined;
    const t: ResourceTotals = { ...this.retired, rss: null, vmBytes: null, swapBytes: null };
    for (const { totals: m } of this.living.values()) {
      for (const c of COUNTERS) t[c] += m[c];
      if (m.rss) {
        t.rss ??= { anon: 0, file: 0, shmem: 0 };
        t.rss.anon += m.rss.anon;
        t.rss.file += m.rss.file;
        t.rss.shmem += m.rss.shmem;
      }
      if (m.vmBytes !== null) t.vmBytes = (t.vmBytes ?? 0) + m.vmBytes;
      if (m.swapBytes !== null) t.swapBytes = (t.swapBytes ?? 0) + m.swapBytes;
    }
    return t;
  }

  private retire(key: string, totals: ResourceTotals): void {
    for (const c of COUNTERS) this.retired[c] += totals[c];
    this.living.delete(key);
    this.ended.add(key);
    if (this.ended.size > ENDED_KEPT) this.ended.delete(this.ended.values().next().value!);
  }
}
