// Per-program run-time statistics (BPF_ENABLE_STATS): on while the returned handle is open. They
// cost every run of every BPF program on the machine a little (two clock reads), so procimage turns
// them on only when asked (--bpf-stats).
import { closeSync } from 'node:fs';
import { checkInt } from './errors.js';
import { helper } from './ffi.js';

export class RunStats {
  private constructor(private fd: number) {}

  static enable(): RunStats {
    return new RunStats(checkInt('BPF_ENABLE_STATS', helper().enable_stats() as number));
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}
