// Syscall and errno numbers to names, from the tables generated at build time from the kernel's own
// headers (tools/gen-syscalls.ts). A number the header does not name prints as "syscall_<nr>".
import { ERRNO_NAMES, SYSCALL_NAMES } from '../gen/syscalls.js';

/** nr as the kernel passed it (a u32 from BPF is read back as signed: -1 stays -1). */
export function syscallName(nr: number): string {
  const n = nr | 0;
  return (n >= 0 && n < SYSCALL_NAMES.length && SYSCALL_NAMES[n]) || `syscall_${n}`;
}

/*
 * sys_exit sees a syscall's return before signal delivery turns the kernel's restart codes into EINTR
 * or a restart (include/linux/errno.h: never in a uapi header, so named here).
 */
const KERNEL_ERRNOS: Record<number, string> = {
  512: 'ERESTARTSYS', 513: 'ERESTARTNOINTR', 514: 'ERESTARTNOHAND', 515: 'ENOIOCTLCMD', 516: 'ERESTART_RESTARTBLOCK',
  524: 'ENOTSUPP',
};

/** "ECHILD" for 10 (either sign); "errno <n>" where no header names it. */
export function errnoName(err: number): string {
  const n = Math.abs(err);
  return (n < ERRNO_NAMES.length && ERRNO_NAMES[n]) || KERNEL_ERRNOS[n] || `errno ${n}`;
}
