// Syscall numbers to names, from the table generated at build time from the kernel's own header
// (tools/gen-syscalls.ts). A number the header does not name prints as "syscall_<nr>".
import { SYSCALL_NAMES } from '../gen/syscalls.js';

/** nr as the kernel passed it (a u32 from BPF is read back as signed: -1 stays -1). */
export function syscallName(nr: number): string {
  const n = nr | 0;
  return (n >= 0 && n < SYSCALL_NAMES.length && SYSCALL_NAMES[n]) || `syscall_${n}`;
}
