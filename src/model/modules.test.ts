import { describe, expect, it } from 'vitest';
import type { LockRecord, OffCpuRecord, ProcRecord } from '../collect/records.js';
import { ModuleTable } from './modules.js';

const off = (pid: number, ts: number, locs: readonly string[]): OffCpuRecord => ({
  type: 'offcpu', ts_ns: ts, pid, tgid: 100, comm: `t${pid}`, cpu: 0, cpu_in: 0, start_ts_ns: 0, end_ts_ns: ts, duration_ns: ts,
  state: 'S', state_name: 'sleeping', kstack: [], ustack: locs, ustack_locs: locs, ustack_mode: 'dwarf', ustack_truncated: false,
  began_before_activation: false, ongoing: false, switch_in_inferred: false,
});

describe('ModuleTable', () => {
  it('numbers a file once by path and build ID, whichever symbolizer meets it, and a replaced file anew', () => {
    const t = new ModuleTable();
    const libc = t.id('/usr/lib/libc.so.6', 'aa');
    expect(t.loc('/usr/lib/libc.so.6', 'aa', 0x27305)).toBe(`${libc}+0x27305`);
    expect(t.id('/usr/lib/libc.so.6 (deleted)', 'aa')).toBe(libc); // the same file, since deleted
    expect(t.id('/usr/lib/libc.so.6', 'bb')).not.toBe(libc);       // another build at that path
    expect(t.id('/opt/libc.so.6', 'aa')).not.toBe(libc);
    expect(t.id('[vdso]', null)).toBeGreaterThan(0);
  });

  it('writes a module just before the first record that names it, as that record\'s, and once', () => {
    const t = new ModuleTable();
    const a = t.loc('/bin/app', 'a1', 0x10), libc = t.loc('/lib/libc.so.6', null, 0x20);
    const unnamed = t.loc('/lib/other.so', null, 0x30); // in a stack whose record never goes out
    expect(t.before({ type: 'lost', ts_ns: 1, pid: 0, tgid: 0, comm: '', reason: 'ring_full', count: 1 })).toBeUndefined();
    const first = Object.freeze([libc, '0x7ffd1234', a, a]);
    expect(t.before(off(7, 50, first))).toEqual([
      { type: 'module', ts_ns: 50, pid: 7, tgid: 100, comm: 't7', module_id: parseInt(libc), path: '/lib/libc.so.6', build_id: null },
      { type: 'module', ts_ns: 50, pid: 7, tgid: 100, comm: 't7', module_id: parseInt(a), path: '/bin/app', build_id: 'a1' },
    ]);
    expect(t.before(off(8, 60, first))).toBeUndefined();
    const lock = { type: 'lock', ts_ns: 70, pid: 9, tgid: 100, comm: 't9', ustack_locs: [unnamed] } as unknown as LockRecord;
    expect(t.before(lock)?.map(m => m.path)).toEqual(['/lib/other.so']);
    expect(t.before({ ...lock, ustack_locs: null } as ProcRecord)).toBeUndefined();
  });

  it('forgets its modules at clear (deactivation) but never gives an id twice', () => {
    const t = new ModuleTable();
    const before = t.id('/bin/app', 'a1');
    t.clear();
    const after = t.id('/bin/app', 'a1');
    expect(after).toBeGreaterThan(before);
    // written again in the new activation
    expect(t.before(off(1, 5, Object.freeze([`${after}+0x0`])))?.map(m => m.module_id)).toEqual([after]);
  });
});
