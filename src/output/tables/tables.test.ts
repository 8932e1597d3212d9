import { describe, expect, it } from 'vitest';
import type { LockRecord, ResourceRecord, ResourceSystemRecord, SyscallStatRecord, SyscallThreadRecord } from '../../collect/records.js';
import { TABLES } from '../tables.js';
import './lock.js';
import { systemLine } from './resource.js';
import './syscall.js';

const stat = (o: Partial<SyscallStatRecord>): SyscallStatRecord => ({
  type: 'syscall_stat', ts_ns: 0, pid: 10, tgid: 10, comm: 'app', scope: 'thread', syscall: 'read', nr: 0, count: 1,
  errors: 0, errno: null, errno_count: null, total_ns: 1000, avg_ns: 1000, max_ns: 1000, hist_log2_ns: [0, 0, 0, 0, 0, 0, 0, 0, 0, 1], ...o,
});

describe('syscall tables', () => {
  it('puts the target\'s busiest syscalls beside the system\'s, each sorted by count', () => {
    const lines = TABLES.syscall_stat!([
      stat({ syscall: 'read', count: 5 }), stat({ syscall: 'openat', count: 9, errors: 3, errno: 'ENOENT', max_ns: 5000,
        hist_log2_ns: [0, 0, 0, 0, 0, 0, 0, 0, 0, 99, 0, 0, 1] }),
      stat({ scope: 'system', pid: 0, tgid: 0, comm: '', syscall: 'futex', count: 100, errors: null, total_ns: null, avg_ns: null, max_ns: null }),
    ], 0);
    expect(lines[0]).toMatch(/^PID +COMM +SYSCALL +COUNT +ERRORS +AVG +P99 +MAX +TOTAL +│ +SYSTEM TOP +COUNT$/);
    // the p99's bound from the histogram: 99 of 100 calls in [512, 1024) ns, the slowest 5 µs
    expect(lines[1]).toMatch(/^ *10 +app +openat +9 +3 ENOENT +1\.000 µs +< 1\.024 µs +5\.000 µs .*│ +futex +100$/);
    // one call in [512, 1024) ns that took 1 µs: the slot's bound is above the max, so the max bounds it
    expect(lines[2]).toMatch(/^ *10 +app +read +5 +0 +1\.000 µs +≤ 1\.000 µs +1\.000 µs .*│$/);
    // a cgroup target: each thread's cgroup after its name, none on the system's side
    const cg = TABLES.syscall_stat!([stat({ syscall: 'read', count: 5, cgroup: '/svc' }),
      stat({ scope: 'system', pid: 0, tgid: 0, comm: '', syscall: 'futex', count: 100 })], 0);
    expect(cg[0]).toMatch(/^PID +COMM +CGROUP +SYSCALL +COUNT /);
    expect(cg[1]).toMatch(/^ *10 +app +\/svc +read +5 +0 .*│ +futex +100$/);
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
      ustack_addrs: ['0x1', '0x2'], ustack: ['pthread_mutex_lock+0x0 (libc.so.6)', 'worker+0x10 (app)'],
      ustack_locs: ['1+0x9a000', '2+0x1010'], kstack_addrs: null, kstack: null,
    };
    const kernel: LockRecord = { ...base, source: 'kernel', kind: 'rwsem', mode: 'write', addr: '0xffff888100', acquisitions: null,
      wait_total_ns: 5_000_000, hold_count: null, hold_min_ns: null, hold_avg_ns: null, hold_max_ns: null, longest_holder_pid: null, ustack: null, ustack_addrs: null,
      kstack: ['rwsem_down_write_slowpath+0x5', 'down_write_killable+0x2', 'vm_mmap_pgoff+0x9'] };
    const lines = TABLES.lock!([base, kernel], 0);
    expect(lines[0]).toMatch(/ WAIT TOTAL +MIN +AVG +P99 +MAX +HOLD MIN +AVG +MAX +LONGEST BY +WHERE$/);
    expect(lines[1]).toMatch(/^kernel:rwsem\(w\) +0xffff888100 .* 5\.000 ms .* 9 ns +- +- +- +- +rwsem_down_write_slowpath < down_write_killable < vm_mmap_pgoff$/);
    // waits of 1 ns and 9 ns: the p99's slot [8, 16) ends above the max, 9 ns
    expect(lines[2]).toMatch(/^mutex +0x10 +1 +app +2 +1 +0 +10 ns +2 ns +5 ns +≤ 9 ns +9 ns +1 ns +2 ns +3 ns +1 +worker\+0x10 \(app\)$/);
    // each value under its own heading, right-aligned to it
    const at = (line: string, s: string, from = 0) => line.indexOf(s, from) + s.length;
    const hold = lines[0].indexOf('HOLD MIN');
    expect(at(lines[2], '1 ns', at(lines[2], '9 ns'))).toBe(at(lines[0], 'HOLD MIN'));
    expect(at(lines[2], '2 ns')).toBe(at(lines[0], 'MIN'));
    expect(at(lines[2], '3 ns')).toBe(at(lines[0], 'MAX', hold));
    expect(lines[0]).not.toContain('CGROUP');
    // a cgroup target: each waiter's cgroup after its name
    const cg = TABLES.lock!([{ ...base, cgroup: '/svc/a' }, { ...kernel, cgroup: null }], 0);
    expect(cg[0]).toMatch(/^KIND +LOCK +PID +COMM +CGROUP +ACQ +CONT /);
    expect(cg[2]).toMatch(/^mutex +0x10 +1 +app +\/svc\/a +2 +1 +0 +10 ns /);
    expect(cg[1]).toMatch(/^kernel:rwsem\(w\) +0xffff888100 +1 +app +- +1 +0 +5\.000 ms /);
  });
});

const MiB = 1 << 20;
/** A resource record over a half-second interval: figures per interval, the table prints them per second. */
const res = (o: Partial<ResourceRecord>): ResourceRecord => ({
  type: 'resource', ts_ns: 0, pid: 10, tgid: 10, comm: 'app', scope: 'process', start_ts_ns: 0, exited: false, interval_ns: 5e8,
  threads: 1, top: null, cpu_pct: 0, user_pct: 0, system_pct: 0, cpu_ns: 0, user_ns: 0, system_ns: 0,
  rss_bytes: 3 * MiB, rss_anon_bytes: 2 * MiB, rss_file_bytes: MiB, rss_shmem_bytes: 0, swap_bytes: 0, vm_bytes: 100 * MiB,
  rss_peak_bytes: 3 * MiB, read_bytes: 0, write_bytes: 0, cancelled_write_bytes: 0, io_read_bytes: 0, io_write_bytes: 0,
  read_syscalls: 0, write_syscalls: 0, minor_faults: 0, major_faults: 0, voluntary_switches: 0, involuntary_switches: 0,
  total_cpu_ns: 0, total_user_ns: 0, total_system_ns: 0, total_read_bytes: 0, total_write_bytes: 0, total_cancelled_write_bytes: 0,
  total_io_read_bytes: 0, total_io_write_bytes: 0, total_read_syscalls: 0, total_write_syscalls: 0, total_minor_faults: 0,
  total_major_faults: 0, total_voluntary_switches: 0, total_involuntary_switches: 0, ...o,
});
const system: ResourceSystemRecord = {
  type: 'resource', scope: 'system', ts_ns: 0, pid: 0, tgid: 0, comm: '', interval_ns: 5e8, cpus: 2, cpu_pct: 150, user_pct: 120,
  system_pct: 30, iowait_pct: 2.5, steal_pct: 0, idle_pct: 47.5, cpu_ns: 75e7, user_ns: 6e8, system_ns: 15e7,
  mem_total_bytes: 8192 * MiB, mem_used_bytes: 1536 * MiB, mem_available_bytes: 6656 * MiB, mem_anon_bytes: 0, mem_file_bytes: 0,
  mem_shmem_bytes: 0, swap_used_bytes: 0, read_bytes: 5 * MiB, write_bytes: 10 * MiB, minor_faults: 500, major_faults: 5,
  context_switches: 20000,
};
const cells = (line: string) => line.trim().split(/ {2,}/);

describe('resource table', () => {
  it('puts the system on one line, rates per second over its interval, steal only when there is some', () => {
    expect(systemLine(system)).toBe('system (2 CPUs): CPU 150.0% (user 120.0, system 30.0, iowait 2.5) · memory 1.50G used of 8.00G · ' +
      'disk read 10.0M/s write 20.0M/s · faults 1010/s (10/s major) · 40.0k switches/s');
    expect(systemLine({ ...system, steal_pct: 4 })).toContain('iowait 2.5, steal 4.0)');
  });

  it('lists a process target\'s processes by pid, each with its threads under it, and says which exited', () => {
    const lines = TABLES.resource!([
      system,
      res({ pid: 20, tgid: 20, comm: 'child', exited: true, threads: 0, cpu_pct: 10, user_pct: 10, cpu_ns: 5e7, rss_bytes: null, vm_bytes: null }),
      res({ pid: 10, tgid: 10, threads: 2, cpu_pct: 150, user_pct: 100, system_pct: 50, write_bytes: 2 * MiB, io_write_bytes: 4 * MiB,
        io_read_bytes: 512, minor_faults: 50, major_faults: 1, voluntary_switches: 30, involuntary_switches: 6000 }),
      res({ scope: 'thread', pid: 10, tgid: 10, threads: null, cpu_pct: 50, user_pct: 50 }),
      res({ scope: 'thread', pid: 11, tgid: 10, comm: 'worker', threads: null, cpu_pct: 100, user_pct: 50, system_pct: 50 }),
      res({ scope: 'thread', pid: 20, tgid: 20, comm: 'child', exited: true, threads: null, cpu_pct: 10 }),
    ], 0);
    expect(lines[0]).toBe(systemLine(system));
    expect(cells(lines[1])).toEqual(['PID', 'TGID', 'COMM', 'CPU%', 'USR%', 'SYS%', 'RSS', 'VIRT', 'DISK-RD/s', 'DISK-WR/s', 'IO-RD/s',
      'IO-WR/s', 'MINFLT/s', 'MAJFLT/s', 'VCSW/s', 'ICSW/s', 'NOTE']);
    // per second: twice what the half-second interval counted
    expect(cells(lines[2])).toEqual(['10', '10', 'app', '150.0', '100.0', '50.0', '3.00M', '100M', '0', '4.00M', '1.00K', '8.00M',
      '100', '2', '60', '12.0k']);
    expect(cells(lines[3])).toEqual(['10', '10', '└ app', '50.0', '50.0', '0.0', '3.00M', '100M', '0', '0', '0', '0', '0', '0', '0', '0']);
    expect(cells(lines[4]).slice(0, 6)).toEqual(['11', '10', '└ worker', '100.0', '50.0', '50.0']);
    // an exited process without memory (before 6.16): dashes; its one thread, itself, not repeated under it
    expect(cells(lines[5])).toEqual(['20', '20', 'child', '10.0', '10.0', '0.0', '-', '-', '0', '0', '0', '0', '0', '0', '0', '0', 'exited']);
    expect(lines).toHaveLength(6);
    // numbers are right-aligned under their heading
    const virtEnd = lines[1].indexOf('VIRT') + 4;
    for (const l of lines.slice(2, 5)) expect(l.indexOf('100M') + 4).toBe(virtEnd);
  });

  it('keeps every-process mode\'s ranking, naming the lists each process made', () => {
    const lines = TABLES.resource!([
      res({ pid: 30, tgid: 30, comm: 'hog', cpu_pct: 99, top: ['cpu', 'switches'] }),
      res({ pid: 5, tgid: 5, comm: 'db', rss_bytes: 900 * MiB, top: ['memory'] }),
    ], 0);
    expect(lines.map(l => cells(l)[0])).toEqual(['PID', '30', '5']);
    expect(cells(lines[1]).at(-1)).toBe('top cpu,switches');
    expect(cells(lines[2])).toContain('900M');
    expect(cells(lines[2]).at(-1)).toBe('top memory');
  });

  it('with a cgroup target: each process\'s and thread\'s cgroup after its name', () => {
    const lines = TABLES.resource!([
      system,
      res({ cgroup: '/svc', cpu_pct: 20 }),
      res({ scope: 'thread', pid: 10, tgid: 10, threads: null, cgroup: '/svc' }),
      res({ scope: 'thread', pid: 11, tgid: 10, comm: 'worker', threads: null, cgroup: '/svc/sub' }),
    ], 0);
    expect(cells(lines[1]).slice(0, 5)).toEqual(['PID', 'TGID', 'COMM', 'CGROUP', 'CPU%']);
    expect(cells(lines[2]).slice(0, 5)).toEqual(['10', '10', 'app', '/svc', '20.0']);
    expect(cells(lines[4]).slice(0, 4)).toEqual(['11', '10', '└ worker', '/svc/sub']);
    expect(lines).toHaveLength(5);
  });

  it('-p and -c: the thread alone, no process row', () => {
    const lines = TABLES.resource!([res({ scope: 'thread', pid: 0, tgid: 0, comm: 'swapper/0', threads: null, cpu_pct: 80, system_pct: 80 })], 0);
    expect(lines).toHaveLength(2);
    expect(cells(lines[1]).slice(0, 6)).toEqual(['0', '0', 'swapper/0', '80.0', '0.0', '80.0']);
  });
});
