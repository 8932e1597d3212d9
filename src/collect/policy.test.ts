import { describe, expect, it } from 'vitest';
import { pi_policy, pi_target_kind } from './layout.js';
import { defaultPolicy, describePolicy, encodePolicy, validatePolicy, type Policy } from './policy.js';

const ok: Policy = defaultPolicy({ kind: 'tgid', tgid: 42 }, ['keytime', 'syscall']);

describe('validatePolicy', () => {
  it('accepts a sane policy', () => {
    expect(() => validatePolicy(ok, 2)).not.toThrow();
  });

  it.each([
    [{ ...ok, syscallSeqLen: 0 }, /-s takes a sequence length from 1 to 50, got 0/],
    [{ ...ok, syscallSeqLen: 51 }, /got 51/],
    [{ ...ok, keytimeMode: 2 as 0 }, /-k takes 0 or 1/],
    [{ ...ok, target: { kind: 'cpu' as const, cpu: 2 } }, /-c needs a CPU number from 0 to 1, got 2/],
    [{ ...ok, target: { kind: 'pid' as const, pid: 0 } }, /-p needs a thread id > 0/],
    [{ ...ok, target: { kind: 'tgid' as const, tgid: -5 } }, /-P needs a process id > 0, got -5/],
    [{ ...ok, categories: [] }, /no category chosen/],
    [{ ...ok, maxSeconds: -1 }, /-t takes a number of seconds >= 0/],
    [{ ...ok, topN: 0 }, /--top takes a number of processes from 1 to 10000, got 0/],
    [{ ...ok, topN: 2.5 }, /--top takes/],
  ])('refuses %#', (p, msg) => {
    expect(() => validatePolicy(p as Policy, 2)).toThrow(msg);
  });
});

describe('encodePolicy', () => {
  it('fills struct pi_policy at the offsets the BTF gives', () => {
    const b = encodePolicy({ ...ok, keytimeMode: 1, syscallSeqLen: 33, myproc: true });
    const o = pi_policy.OFF;
    expect(b.length).toBe(pi_policy.SIZE);
    expect(b.readUInt32LE(o.active)).toBe(1);
    expect(b.readUInt32LE(o.target_kind)).toBe(pi_target_kind.PI_TARGET_TGID);
    expect(b.readUInt32LE(o.target_id)).toBe(42);
    expect(b.readUInt32LE(o.categories)).toBe(1 | 8);
    expect(b.readUInt32LE(o.keytime_mode)).toBe(1);
    expect(b.readUInt32LE(o.syscall_seq_len)).toBe(33);
    expect(b.readUInt32LE(o.myproc)).toBe(1);
  });
});

describe('describePolicy', () => {
  it('names the top N of every-process resource', () => {
    expect(describePolicy(defaultPolicy({ kind: 'all' }, ['resource']))).toBe('every thread: resource (top 10)');
    expect(describePolicy(defaultPolicy({ kind: 'tgid', tgid: 7 }, ['resource']))).toBe('process 7 and the processes it starts: resource');
  });
});
