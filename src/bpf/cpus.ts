// CPU counts the kernel's per-CPU maps are sized by (possible, not online, CPUs).
import { bpf } from './ffi.js';

let possible: number | undefined;

export function possibleCpus(): number {
  if (possible === undefined) {
    const n = bpf.num_possible_cpus() as number;
    if (n <= 0) throw new Error(`libbpf_num_possible_cpus: ${n}`);
    possible = n;
  }
  return possible;
}
