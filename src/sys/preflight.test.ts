import { describe, expect, it } from 'vitest';
import { checkBtf, checkPrivileges } from './preflight.js';

describe('checkPrivileges', () => {
  it('passes with CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN', () => {
    const caps = (1n << 39n) | (1n << 38n) | (1n << 21n);
    expect(() => checkPrivileges(`Name:\tx\nCapEff:\t${caps.toString(16).padStart(16, '0')}\n`)).not.toThrow();
  });

  it('names what is missing', () => {
    expect(() => checkPrivileges('CapEff:\t0000000000200000\n'))
      .toThrow('needs root (or CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN); missing CAP_BPF, CAP_PERFMON');
    expect(() => checkPrivileges('CapEff:\t0000000000000000\n')).toThrow(/missing CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN/);
  });
});

describe('checkBtf', () => {
  it('explains a kernel without BTF', () => {
    expect(() => checkBtf('/nonexistent/vmlinux')).toThrow(/no BTF .*CONFIG_DEBUG_INFO_BTF=y/);
    expect(() => checkBtf('/sys/kernel/btf/vmlinux')).not.toThrow();
  });
});
