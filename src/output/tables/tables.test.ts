import { describe, expect, it } from 'vitest';
import type { LockRecord, SyscallStatRecord, SyscallThreadRecord } from '../../collect/records.js';
import { TABLES } from '../tables.js';
import './lock.js';
import './syscall.js';

const stat = (o: Partial<SyscallStatRecord>): SyscallStatRecord => ({
  type: 'syscall_stat', ts_ns: 0, pid: 10, tgid: 10, comm: 'app', scope: 'thread', syscall: 'read', nr: 0, count: 1,
  errors: 0, errno: null, errno_count: null, total_ns: 1000, avg_ns: 1000, max_ns: 1000, hist_log2_ns: [0, 0, 0, 0, 0, 0, 0, 0, 0, 1], ...o,
});

describe('syscall tables', () => {
  it('puts the target\'s busiest syscalls beside the system\'s, each sorted by count', () => {
    const lines = TABLES.syscall_stat!([
      stat({ syscall: 'read', count: 5 }), stat({ syscall: 'openat', count: 9, errors: 3, errno: 'ENOENT' }),
      stat({ scope: 'system', pid: 0, tgid: 0, comm: '', syscall: 'futex', count: 100, errors: null, total_ns: null, avg_ns: null, max_ns: null }),
    ], 0);
    expect(lines[0]).toMatch(/^PID +COMM +SYSCALL +COUNT +ERRORS +AVG +P99 +MAX +TOTAL +│ +SYSTEM TOP +COUNT$/);
    // the p99's bound from the histogram: one call in [512, 1024) ns
    expect(lines[1]).toMatch(/^ *10 +app +openat +9 +3 ENOENT +1\.000 µs +< 1\.024 µs +1\.000 µs .*│ +futex +100$/);
    expect(lines[2]).toMatch(/^ *10 +app +read +5 +0 .*│$/);
  });

  it('shows each thread\'s last syscalls and the one it is in', () => {
    const t: SyscallThreadRecord = { type: 'syscall_thread', ts_ns: 0, pid: 3, tgid: 3, comm: 'db', calls: 42,
      last: ['read', 'futex'], in_syscall: 'futex', in_syscall_ns: 2_500_000 };
    expect(TABLES.syscall_thread!([t], 0)[1]).toMatch(/^ *3 +3 +db +42 +futex 2\.500 ms +read futex$/);
  });
});

describe('lock table', () => {
  it('sorts by total wait, gives wait and hold as min/avg/max, and says where the lock was waited for', () => {
    const base: LockRecord = {
      type: 'lock', ts_ns: 0, pid: 1, tgid: 1, comm: 'app', source: 'pthread', kind: 'mutex', mode: null, addr: '0x10', symbol: null,
      acquisitions: 2, contended: 1, failed: 0, wait_total_ns: 10, wait_min_ns: 2, wait_avg_ns: 5, wait_max_ns: 9, wait_hist_log2_ns: [1, 0, 0, 1], hold_count: 2,
      hold_total_ns: 4, hold_min_ns: 1, hold_avg_ns: 2, hold_max_ns: 3, longest_holder_pid: 1, longest_hold_ns: 3,
      ustack_addrs: ['0x1', '0x2'], ustack: ['pthread_mutex_lock+0x0 (libc.so.6)', 'worker+0x10 (app)'], kstack_addrs: null, kstack: null,
    };
    const kernel: LockRecord = { ...base, source: 'kernel', kind: 'rwsem', mode: 'write', addr: '0xffff888100', acquisitions: null,
      wait_total_ns: 5_000_000, hold_count: null, hold_min_ns: null, hold_avg_ns: null, hold_max_ns: null, longest_holder_pid: null, ustack: null, ustack_addrs: null,
      kstack: ['rwsem_down_write_slowpath+0x5', 'down_write_killable+0x2', 'vm_mmap_pgoff+0x9'] };
    const lines = TABLES.lock!([base, kernel], 0);
    expect(lines[0]).toMatch(/ WAIT TOTAL +MIN +AVG +P99 +MAX +HOLD MIN +AVG +MAX +LONGEST BY +WHERE$/);
    expect(lines[1]).toMatch(/^kernel:rwsem\(w\) +0xffff888100 .* 5\.000 ms .* 9 ns +- +- +- +- +rwsem_down_write_slowpath < down_write_killable < vm_mmap_pgoff$/);
    expect(lines[2]).toMatch(/^mutex +0x10 +1 +app +2 +1 +0 +10 ns +2 ns +5 ns +< 16 ns +9 ns +1 ns +2 ns +3 ns +1 +worker\+0x10 \(app\)$/);
    // each value under its own heading, right-aligned to it
    const at = (line: string, s: string, from = 0) => line.indexOf(s, from) + s.length;
    const hold = lines[0].indexOf('HOLD MIN');
    expect(at(lines[2], '1 ns', at(lines[2], '9 ns'))).toBe(at(lines[0], 'HOLD MIN'));
    expect(at(lines[2], '2 ns')).toBe(at(lines[0], 'MIN'));
    expect(at(lines[2], '3 ns')).toBe(at(lines[0], 'MAX', hold));
  });
});
