// The wake-ups between targets that the page's timeline draws as arrows, on demand: from the waker's
// lane at the wake-up to the wakee's at the moment it ran again (an offcpu record's `waker`, when the
// waker is a target thread: it has a lane). Bounded: past the budget a run's later wake-ups are
// counted, not kept (the meta says how many), as the timeline's intervals are.
export type WakeLink = [waker: number, wakeTs: number, wakee: number, runTs: number];

export interface WakesData { links: number[]; dropped: number }

export const WAKES_BUDGET = 100_000;
/** At most this many links in one answer: more than that is a smear, not arrows. */
export const WAKES_PER_VIEW = 3000;

export class Wakes {
  /** waker, wake, wakee, run: four numbers a link, in arrival order (by run, nearly). */
  private readonly links: number[];
  dropped: number;

  constructor(data?: WakesData, private readonly budget = WAKES_BUDGET) {
    this.links = data ? [...data.links] : [];
    this.dropped = data?.dropped ?? 0;
  }

  get size(): number { return this.links.length / 4; }

  add(waker: number, wakeTs: number, wakee: number, runTs: number): void {
    if (this.size >= this.budget) { this.dropped++; return; }
    this.links.push(waker, wakeTs, wakee, runTs);
  }

  /** The links that cross [from, to] between the given threads (all if none given), the latest kept past the cap. */
  view(from: number, to: number, tids?: number[]): WakeLink[] {
    const only = tids && tids.length ? new Set(tids) : undefined;
    const out: WakeLink[] = [];
    for (let i = 0; i < this.links.length; i += 4) {
      const [waker, wake, wakee, run] = [this.links[i], this.links[i + 1], this.links[i + 2], this.links[i + 3]];
      if (run < from || wake > to) continue;
      if (only && !only.has(waker) && !only.has(wakee)) continue;
      out.push([waker, wake, wakee, run]);
    }
    return out.length > WAKES_PER_VIEW ? out.slice(out.length - WAKES_PER_VIEW) : out;
  }

  toJSON(): WakesData {
    return { links: this.links, dropped: this.dropped };
  }
}
