// Wakers on the real kernel (bpf/waker.bpf.h): who ended each sleep of a target, with the waker's
// stacks, on workloads whose wake-ups are known (workloads/wakechain.c).
import { describe, expect, it } from 'vitest';
import { cli, workload } from './helpers.js';

type Rec = Record<string, unknown> & { type: string; pid: number; tgid: number; comm: string };
type Waker = { pid: number; tgid: number; comm: string | null; context: string; target: boolean; wake_ts_ns: number;
  wake_delay_ns: number; kstack: string[]; ustack: string[]; ustack_mode: string };
const parse = (out: string): Rec[] => out.trim().split('\n').filter(l => l.startsWith('{')).map(l => JSON.parse(l));
const waits = (recs: Rec[], pid: number, kernelFn: RegExp) => recs.filter(r => r.type === 'offcpu' && r.pid === pid &&
  r.state === 'S' && (r.kstack as string[]).some(f => kernelFn.test(f)));

describe('wakers', () => {
  it('a ping-pong over pipes: each read of one side is woken by the other, with its user stack at the write', async () => {
    for (const mode of ['dwarf', 'fp']) {
      // every interval one by one (--offcpu-min 0): each with its waker's stacks
      const r = await cli(['trace', '--json', '-k', '0', '--stack', mode, '--offcpu-min', '0', '--', workload('wakechain'), 'pingpong', '20']);
      expect(r.code, r.stderr).toBe(0);
      const recs = parse(r.stdout);
      const a = recs.find(x => x.type === 'exec')!.pid;
      const b = recs.find(x => x.type === 'fork' && x.pid === a)!.child_pid as number;
      for (const [me, other, fn] of [[a, b, /^pong[.+]/], [b, a, /^ping[.+]/]] as const) {
        const ws = waits(recs, me, /^anon_pipe_read\+|^pipe_read\+/);
        expect(ws.length, `${me}`).toBeGreaterThan(0);
        for (const w of ws) {
          const k = w.waker as Waker;
          expect(k, JSON.stringify(w)).toMatchObject({ pid: other, tgid: other, comm: 'wakechain', context: 'task', target: true });
          // the wake-up fell in the interval (or raced its start from another CPU: then after the run
          // before it began), and its delay is the rest of it
          expect(k.wake_ts_ns).toBeLessThanOrEqual(w.end_ts_ns as number);
          expect(k.wake_delay_ns).toBe((w.end_ts_ns as number) - k.wake_ts_ns);
          expect(k.kstack.some(f => /^(anon_)?pipe_write\+/.test(f)), k.kstack.join('\n')).toBe(true);
          if (mode === 'dwarf') { // gcc -O2 without frame pointers: only DWARF gets past libc's write
            expect(k.ustack_mode).toBe('dwarf');
            expect(k.ustack[0], k.ustack.join('\n')).toMatch(/write.*\(libc\.so\.6\)/);
            expect(k.ustack.some(f => fn.test(f)), k.ustack.join('\n')).toBe(true);
            expect(k.ustack.some(f => /^main\+/.test(f)), k.ustack.join('\n')).toBe(true);
          } else {
            expect(k.ustack_mode).toBe('fp');
            expect(k.ustack[0], k.ustack.join('\n')).toMatch(/write.*\(libc\.so\.6\)/);
          }
        }
      }
    }
  });

  it('names the waker of the short waits counted in the kernel (--offcpu-min)', async () => {
    // 1 s: every hand-over is far shorter, so the waits after each side's first are counted
    const r = await cli(['trace', '--json', '-k', '0', '--offcpu-min', '1s', '--', workload('wakechain'), 'pingpong', '200']);
    expect(r.code, r.stderr).toBe(0);
    const recs = parse(r.stdout);
    const a = recs.find(x => x.type === 'exec')!.pid;
    const b = recs.find(x => x.type === 'fork' && x.pid === a)!.child_pid as number;
    for (const [me, other] of [[a, b], [b, a]] as const) {
      // (the sleeps: a preempted read, R, was not woken)
      const aggs = recs.filter(x => x.type === 'offcpu_agg' && x.pid === me && x.state === 'S' &&
        (x.kstack as string[]).some(f => /^(anon_)?pipe_read\+/.test(f)));
      expect(aggs.length, `${me}`).toBeGreaterThan(0);
      for (const g of aggs) expect(g.waker, JSON.stringify(g)).toMatchObject({ pid: other, tgid: other, comm: 'wakechain', context: 'task', target: true });
    }
  });

  it('says so in the text line of the interval', async () => {
    const r = await cli(['trace', '-k', '0', '--', workload('wakechain'), 'pingpong', '5']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/offcpu +off CPU \d for .* · S sleeping · (anon_)?pipe_read ← main \(wakechain\.c:\d+\) · woken by wakechain\[\d+\]$/m);
    expect(r.stdout).toMatch(/ · S sleeping · do_nanosleep ← \w+ \(wakechain\.c:\d+\) · woken by interrupt$/m);
  });

  it('a consumer waiting on a condition variable: every wait is ended by the producer', async () => {
    const r = await cli(['trace', '--json', '-k', '0', '--', workload('wakechain'), 'condvar', '20']);
    expect(r.code, r.stderr).toBe(0);
    const recs = parse(r.stdout);
    const producer = recs.find(x => x.type === 'exec')!.pid;
    const consumer = recs.find(x => x.type === 'fork' && x.pid === producer)!.child_pid as number;
    const ws = waits(recs, consumer, /^futex_wait/);
    expect(ws.length).toBeGreaterThan(0);
    for (const w of ws) {
      const k = w.waker as Waker;
      expect(k, JSON.stringify(w)).toMatchObject({ pid: producer, comm: 'producer', context: 'task', target: true });
      // pthread_cond_signal, or the unlock of the mutex the woken consumer then waited for
      expect(k.ustack.some(f => /^(pthread_cond_signal|__pthread_cond_signal|__GI___lll_lock_wake|__lll_lock_wake)/.test(f)),
        k.ustack.join('\n')).toBe(true);
    }
    // preempted intervals were not woken: nothing names a waker for them
    for (const w of recs.filter(x => x.type === 'offcpu' && x.state === 'R')) expect(w.waker).toBeNull();
  });
});

describe('lock owners', () => {
  it("a mutex held 2 ms by X while Y waits: Y's lock record names X as the owner, and its futex waits X's wake-up", async () => {
    const r = await cli(['trace', '--json', '-k', '0', '-l', '--', workload('wakechain'), 'holder', '5']);
    expect(r.code, r.stderr).toBe(0);
    const recs = parse(r.stdout);
    const x = recs.find(v => v.type === 'exec')!.pid;
    const y = recs.find(v => v.type === 'fork' && v.pid === x)!.child_pid as number;
    const last = (source: string) => recs.filter(v => v.type === 'lock' && v.pid === y && v.source === source).at(-1)!;
    type Owner = { pid: number; comm: string | null; count: number; wait_ns: number; stack: string[] | null };
    const mutex = last('pthread');
    // the holder waits until the waiter is in the lock each time: every acquisition of the waiter is
    // contended (one whose uprobe the kernel skipped, another BPF program running there, is not seen)
    expect(mutex.contended, JSON.stringify(mutex)).toBe(mutex.acquisitions);
    expect(mutex.contended as number).toBeGreaterThan(0);
    const owners = mutex.owners as Owner[];
    expect(owners.map(o => [o.pid, o.count]), JSON.stringify(mutex)).toEqual([[x, mutex.contended]]);
    // the wait it caused is the waits' whole time, each at least the 2 ms held after the waiter came
    expect(owners[0].wait_ns).toBe(mutex.wait_total_ns);
    expect(owners[0].wait_ns).toBeGreaterThanOrEqual(owners[0].count * 2e6);
    // and where X took the mutex: its call in the holder loop (inlined into main), the program's own
    // frame, named from the maps read while it was held at its exec
    expect(owners[0].stack?.[0], JSON.stringify(owners[0])).toMatch(/^(main|holder)\+0x[0-9a-f]+ \(wakechain\)$/);
    // its futex waits on the same word were ended by the holder's unlock
    const futex = recs.filter(v => v.type === 'lock' && v.pid === y && v.source === 'futex' && v.addr === mutex.addr).at(-1)!;
    const woke = futex.owners as Owner[];
    expect(woke.map(o => o.pid), JSON.stringify(futex)).toEqual([x]);
    expect(woke[0].count, JSON.stringify(futex)).toBe(futex.contended as number - (futex.failed as number));
  });
});

describe('the summary', () => {
  it('a chain: A waits on a pipe for B, B on a mutex C holds while it sleeps 100 ms: A <- B <- C <- the timer', async () => {
    const r = await cli(['trace', '-k', '0', '--', workload('wakechain'), 'chain']);
    expect(r.code, r.stderr).toBe(0);
    const out = r.stdout + r.stderr;
    const chain = /^ +(?:×\d+ )?chain-a\[(\d+)\] S ([\d.]+) ms ← chain-b\[\d+\] S [\d.]+ ms ← chain-c\[\d+\] S ([\d.]+) ms ← (interrupt|softirq)$/m.exec(out);
    expect(chain, out).not.toBeNull();
    // A waited at least for C's sleep, and C slept its 100 ms
    expect(Number(chain![2])).toBeGreaterThanOrEqual(100);
    expect(Number(chain![3])).toBeGreaterThanOrEqual(100);
    // the table by waker: A's wait is B's doing, B's C's
    expect(out).toMatch(/^ +[\d.]+ ms +\d+ +[\d.]+ ms +\d+  chain-a +chain-b\[\d+\]$/m);
    expect(out).toMatch(/^ +[\d.]+ ms +\d+ +[\d.]+ ms +\d+  chain-b +chain-c\[\d+\]$/m);
  });
});

describe('migrations', () => {
  it('a thread moved between two CPUs N times: exactly N migrate records, each from the CPU it was on', async () => {
    const r = await cli(['trace', '--json', '-k', '0', '--', workload('wakechain'), 'migrate', '12']);
    expect(r.code, r.stderr).toBe(0);
    const recs = parse(r.stdout);
    const main = recs.find(x => x.type === 'exec')!.pid;
    const mover = recs.find(x => x.type === 'fork' && x.pid === main && x.thread)!.child_pid as number;
    const moves = recs.filter(x => x.type === 'migrate' && x.pid === mover);
    // it starts on CPU 0 (its parent's, and the only one allowed) and goes 1, 0, 1, ...
    expect(moves.map(m => [m.from_cpu, m.to_cpu])).toEqual(Array.from({ length: 12 }, (_, i) => i % 2 ? [1, 0] : [0, 1]));
    for (const m of moves) expect(m.tgid).toBe(main);
    // and the summary's count of them
    expect(r.stderr).toMatch(new RegExp(`^ +${mover} +${main}  \\S+ +12$`, 'm'));
  });
});
