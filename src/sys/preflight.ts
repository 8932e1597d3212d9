// What must hold before procimage touches the kernel, each failure one line a user can act on.
import { existsSync, readFileSync } from 'node:fs';
import { UserError } from './errors.js';
import { ensureBpffs, ensureTracefs } from './mounts.js';

const CAPS: Array<[number, string]> = [[39, 'CAP_BPF'], [38, 'CAP_PERFMON'], [21, 'CAP_SYS_ADMIN']];

/** Root, or at least CAP_BPF + CAP_PERFMON + CAP_SYS_ADMIN in the effective set. */
export function checkPrivileges(statusText = readFileSync('/proc/self/status', 'utf8')): void {
  const hex = /^CapEff:\s*([0-9a-f]+)/m.exec(statusText)?.[1];
  const eff = hex ? BigInt(`0x${hex}`) : 0n;
  const missing = CAPS.filter(([bit]) => !(eff & (1n << BigInt(bit)))).map(([, name]) => name);
  if (missing.length) {
    throw new UserError(`needs root (or CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN); missing ${missing.join(', ')}`);
  }
}

export function checkBtf(path = '/sys/kernel/btf/vmlinux'): void {
  if (!existsSync(path)) {
    throw new UserError(`this kernel has no BTF (${path} is missing): procimage needs a kernel built with CONFIG_DEBUG_INFO_BTF=y`);
  }
}

/** Everything a command that loads BPF needs: privileges, BTF, bpffs and tracefs mounted. */
export function preflight(): void {
  checkPrivileges();
  checkBtf();
  ensureBpffs();
  ensureTracefs();
}
