import { describe, expect, it } from 'vitest';
import type { Policy } from '../collect/policy.js';
import type { OffCpuRecord, ProcRecord, SwitchIn, SwitchOut, WakerRaw } from '../collect/records.js';
import { IntervalBuilder } from './intervals.js';
import type { StackResolver } from './stacks.js';

const noStacks = { kernel: () => [], user: () => [] } as unknown as StackResolver;
const builder = () => new IntervalBuilder({ keytimeMode: 1 } as Policy, noStacks);

const out = (ts: number, onStart: number | null, inferred = false): SwitchOut => ({
  type: 'switch_out', ts_ns: ts, pid: 7, tgid: 7, comm: 'w', cpu: 0, oncpu_start_ts_ns: onStart,
  oncpu_start_inferred: inferred, state: 1, preempt: false,
  kstack: new BigUint64Array(0), ustack: new BigUint64Array(0), stack_mode: 'none', exe_ino: 0,
} as unknown as SwitchOut);
const inn = (ts: number, offStart: number | null, inferred = false, wake: number | null = null): SwitchIn => ({
  type: 'switch_in', ts_ns: ts, pid: 7, tgid: 7, comm: 'w', cpu: 1, offcpu_start_ts_ns: offStart, state: 1,
  preempt: false, first_run: false, inferred, out_sent: true, out_cpu: 0, sig: 0n, oncpu_start_ts_ns: null, oncpu_start_inferred: false,
  wake_ts_ns: wake, waker_pid: wake === null ? 0 : 9, waker_tgid: wake === null ? 0 : 8,
  waker_flags: 0,
});
const waker = (ts: number, wakee = 7): WakerRaw => ({
  type: 'waker', ts_ns: ts, pid: 9, tgid: 8, comm: 'b', cpu: 0, wakee_pid: wakee, wakee_tgid: wakee, kthread: false,
  target: false, kstack: new BigUint64Array(0), stack_mode: 'none', exe_ino: 0, ustack: new BigUint64Array(0), ustack_more: false,
});
const brief = (rs: ProcRecord[]) => rs.map(r => r.type === 'oncpu' || r.type === 'offcpu'
  ? [r.type, r.start_ts_ns, r.end_ts_ns, r.began_before_activation, r.switch_in_inferred] : [r.type]);

describe('IntervalBuilder', () => {
  it('gives an interval whose switch-out sent nothing the stacks of its sig, and the on-CPU interval before it', () => {
    const stacks = { kernel: () => ['futex_wait+0x1'], user: () => ({ frames: ['main'], locs: ['1+0x10'], truncated: false }) } as unknown as StackResolver;
    const b = new IntervalBuilder({ keytimeMode: 1 } as Policy, stacks);
    const first = { ...out(100, null), sig: 5n } as SwitchOut; // the process's first switch-out with these stacks
    const unsent: SwitchIn = { ...inn(300, 200), out_sent: false, out_cpu: 1, sig: 5n, oncpu_start_ts_ns: 150 };
    const rs = [first, inn(150, 100), unsent].flatMap(r => b.process(r));
    expect(brief(rs)).toEqual([
      ['oncpu', null, 100, true, false],
      ['offcpu', 100, 150, false, false],
      ['oncpu', 150, 200, false, false], // ended by the switch-out that sent nothing
      ['offcpu', 200, 300, false, false],
    ]);
    const off = rs.at(-1)!;
    expect(off).toMatchObject({ cpu: 1, kstack: ['futex_wait+0x1'], ustack: ['main'], ustack_locs: ['1+0x10'] });
  });

  it("names the waker of a sleep from the waker's record, matched by the wake-up's time", () => {
    const b = builder();
    const rs = [out(100, null), waker(120), inn(150, 100, false, 120), out(180, 150), inn(300, 180, false, 250)]
      .flatMap(r => b.process(r)).filter((r): r is OffCpuRecord => r.type === 'offcpu');
    expect(rs[0].waker).toMatchObject({ pid: 9, tgid: 8, comm: 'b', context: 'task', wake_ts_ns: 120, wake_delay_ns: 30 });
    // its record lost (or another wake-up's): the switch-in still says who, the name from the waker's earlier record
    expect(rs[1].waker).toMatchObject({ pid: 9, tgid: 8, comm: 'b', wake_ts_ns: 250, wake_delay_ns: 50, kstack: [] });
  });

  it('names no waker for an interval no wake-up ended', () => {
    const b = builder();
    const rs = [out(100, null), waker(90), inn(150, 100)].flatMap(r => b.process(r));
    expect(rs.find(r => r.type === 'offcpu')).toMatchObject({ waker: null });
  });

  it('pairs switch-outs and switch-ins into alternating intervals', () => {
    const b = builder();
    const rs = [out(100, null), inn(150, 100), out(180, 150), inn(300, 180)].flatMap(r => b.process(r));
    expect(brief(rs)).toEqual([
      ['oncpu', null, 100, true, false], // running when collection began
      ['offcpu', 100, 150, false, false],
      ['oncpu', 150, 180, false, false],
      ['offcpu', 180, 300, false, false],
    ]);
  });

  it('marks both intervals around a switch-in the kernel did not report but the scheduler stamped', () => {
    const b = builder();
    const rs = [inn(10, null), out(100, 10), inn(140, 100, true), out(180, 140, true)].flatMap(r => b.process(r));
    expect(brief(rs.slice(2))).toEqual([
      ['offcpu', 100, 140, false, true],
      ['oncpu', 140, 180, false, true],
    ]);
  });

  it('an interval running at activation: its start is the scheduler\'s stamp of its arrival', () => {
    const b = builder();
    const rs = [out(100, 40, true), inn(150, 100)].flatMap(r => b.process(r));
    expect(brief(rs)).toEqual([
      ['oncpu', 40, 100, true, true],
      ['offcpu', 100, 150, false, false],
    ]);
  });

  it('a switch-in neither reported nor stamped: the start is unknown, but not before activation', () => {
    const b = builder();
    const rs = [inn(10, null), out(100, 10), out(180, null)].flatMap(r => b.process(r));
    expect(brief(rs.slice(1))).toEqual([
      ['oncpu', 10, 100, false, false],
      ['offcpu', 100, null, false, false], // it came back at a time not known
      ['oncpu', null, 180, false, false],
    ]);
  });

  it('a lost switch-in record: the switch-out carries the start the kernel kept, which ends the off-CPU interval', () => {
    const b = builder();
    const rs = [inn(10, null), out(100, 10), out(180, 140)].flatMap(r => b.process(r));
    expect(brief(rs.slice(2))).toEqual([
      ['offcpu', 100, 140, false, false],
      ['oncpu', 140, 180, false, false],
    ]);
  });

  it('a lost switch-out record: the switch-in says when it left, without stacks', () => {
    const b = builder();
    const rs = [inn(10, null), inn(300, 180)].flatMap(r => b.process(r));
    expect(rs[1]).toMatchObject({ type: 'offcpu', start_ts_ns: 180, end_ts_ns: 300, duration_ns: 120, kstack: [], state: 'S' });
  });

  it('reports what is still open at deactivation as ongoing', () => {
    const b = builder();
    b.process(inn(10, null));
    b.process(out(100, 10));
    const rs = b.finish(500);
    expect(rs).toMatchObject([{ type: 'offcpu', start_ts_ns: 100, end_ts_ns: null, ongoing: true, switch_in_inferred: false }]);
  });
});
