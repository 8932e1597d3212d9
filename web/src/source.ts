// Where the page's data comes from: the procimage that serves it (its /api/, and an event stream
// that says when to ask again), or, in a self-contained page (report --html), the model itself,
// run here on the data embedded in the file. The panels ask the same questions of both.
import { PageModel, type FlameQuery, type IntervalAnswer, type PageData, type PageMeta, type SchedAnswer, type SyscallAnswer,
  type TimelineAnswer, type TimelineQuery } from '../../src/output/page/model.js';
import type { FlameNode } from '../../src/output/page/stacks.js';
import type { Series } from '../../src/output/page/series.js';
import type { LockRecord } from '../../src/collect/records.js';

export type Processes = ReturnType<PageModel['processes']>;
export type Resources = ReturnType<PageModel['resourceSeries']>;

export interface Source {
  readonly live: boolean;
  meta(): Promise<PageMeta>;
  processes(): Promise<Processes>;
  timeline(q: TimelineQuery): Promise<TimelineAnswer>;
  interval(tid: number, id: number): Promise<IntervalAnswer | undefined>;
  flame(q: FlameQuery): Promise<FlameNode>;
  resources(key?: string): Promise<Resources>;
  sched(q: { tgid?: number; tids?: number[] }): Promise<SchedAnswer>;
  syscalls(q: { tids?: number[] }): Promise<SyscallAnswer>;
  locks(q: { tids?: number[] }): Promise<LockRecord[]>;
  /** onUpdate: the data moved (records came), to this version; onReset: a new activation began. */
  subscribe(onUpdate: (version: number | undefined) => void, onReset: () => void): void;
}

const qs = (o: Record<string, unknown>) => Object.entries(o).filter(([, v]) => v !== undefined && !(Array.isArray(v) && v.length === 0))
  .map(([k, v]) => `${k}=${encodeURIComponent(Array.isArray(v) ? v.join(',') : String(v))}`).join('&');

export class RemoteSource implements Source {
  readonly live = true;

  private async get<T>(path: string, q: Record<string, unknown> = {}): Promise<T> {
    const res = await fetch(`api/${path}${Object.keys(q).length ? `?${qs(q)}` : ''}`);
    if (!res.ok) throw new Error(((await res.json().catch(() => ({}))) as { error?: string }).error ?? `${res.status}`);
    return res.json() as Promise<T>;
  }

  meta() { return this.get<PageMeta>('meta'); }
  processes() { return this.get<Processes>('processes'); }
  timeline(q: TimelineQuery) { return this.get<TimelineAnswer>('timeline', { ...q }); }
  async interval(tid: number, id: number) { return this.get<IntervalAnswer>('interval', { tid, id }).catch(() => undefined); }
  flame(q: FlameQuery) { return this.get<FlameNode>('flame', { ...q }); }
  resources(key?: string) { return this.get<Resources>('resources', { key }); }
  sched(q: { tgid?: number; tids?: number[] }) { return this.get<SchedAnswer>('sched', q); }
  syscalls(q: { tids?: number[] }) { return this.get<SyscallAnswer>('syscalls', q); }
  locks(q: { tids?: number[] }) { return this.get<LockRecord[]>('locks', q); }

  subscribe(onUpdate: (version: number | undefined) => void, onReset: () => void): void {
    const es = new EventSource('api/events');
    es.addEventListener('update', e => onUpdate((JSON.parse((e as MessageEvent<string>).data) as { version?: number } | null)?.version));
    es.addEventListener('reset', () => onReset());
  }
}

export class LocalSource implements Source {
  readonly live = false;
  private readonly model: PageModel;

  constructor(data: PageData) {
    this.model = PageModel.fromJSON(data);
  }

  async meta() { return this.model.meta(); }
  async processes() { return this.model.processes(); }
  async timeline(q: TimelineQuery) { return this.model.timelineView(q); }
  async interval(tid: number, id: number) { return this.model.interval(tid, id); }
  async flame(q: FlameQuery) { return this.model.flame(q); }
  async resources(key?: string) { return this.model.resourceSeries(key); }
  async sched(q: { tgid?: number; tids?: number[] }) { return this.model.schedView(q); }
  async syscalls(q: { tids?: number[] }) { return this.model.syscallView(q); }
  async locks(q: { tids?: number[] }) { return this.model.lockView(q); }
  subscribe(): void { /* a recording does not change */ }
}

export type { Series };
