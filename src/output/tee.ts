// One activation's records to several sinks: the terminal (text or NDJSON) and the metrics state.
import type { ProcRecord } from '../collect/records.js';
import type { Sink } from '../model/session.js';

export class TeeSink implements Sink {
  constructor(private readonly sinks: Sink[]) {}

  write(r: ProcRecord): void {
    for (const s of this.sinks) s.write(r);
  }

  flush(): void {
    for (const s of this.sinks) s.flush?.();
  }

  backedUp(): Promise<void> | undefined {
    const waits = this.sinks.map(s => s.backedUp?.()).filter(w => w !== undefined);
    return waits.length ? Promise.all(waits).then(() => undefined) : undefined;
  }
}
