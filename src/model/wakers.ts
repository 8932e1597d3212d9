// The waker of an off-CPU interval, from the pi_waker_event sent at the wake-up and the switch-in
// that ended the interval (bpf/waker.bpf.h). The kernel cannot read preempt_count here (no per-CPU
// ksyms on this kind of kernel: DEVELOPERS.md), so whether the wake-up came from an interrupt is told
// from the waker's kernel stack, innermost first: the first interrupt or softirq entry frame says
// which (a softirq run at an interrupt's exit is a softirq; an interrupt nested in one, an interrupt).
import { pi_waker_flags } from '../collect/layout.js';
import type { SwitchIn, Waker, WakerRaw } from '../collect/records.js';
import { NO_FRAMES } from './stackcache.js';
import type { StackResolver } from './stacks.js';

const SOFTIRQ = /^(handle_softirqs|__do_softirq|do_softirq)\+/;
const HARDIRQ = /^(asm_sysvec_\w+|sysvec_\w+|__sysvec_\w+|asm_common_interrupt|common_interrupt|__common_interrupt|handle_irq_event\w*|hrtimer_interrupt|asm_exc_nmi|exc_nmi)\+/;

export function wakeContext(kstack: readonly string[], kthread: boolean): Waker['context'] {
  for (const f of kstack) {
    if (SOFTIRQ.test(f)) return 'softirq';
    if (HARDIRQ.test(f)) return 'hardirq';
  }
  return kthread ? 'kthread' : 'task';
}

/** A waker as its record says, but for the delay (known at the switch-in). */
export type WakerSeen = Omit<Waker, 'wake_delay_ns'>;

/** Symbolizes a waker record now, while its stacks (views of the ring batch) are valid. */
export function wakerOfRecord(r: WakerRaw, stacks: StackResolver): WakerSeen {
  const kstack = stacks.kernel(r.kstack);
  const context = wakeContext(kstack, r.kthread);
  // in an interrupt, the user stack is the interrupted task's: not what woke
  const user = r.target && context === 'task' ? stacks.user(r) : undefined;
  return {
    pid: r.pid, tgid: r.tgid, comm: r.comm, context, target: r.target, wake_ts_ns: r.ts_ns, kstack,
    ustack: user?.frames ?? NO_FRAMES, ustack_locs: user?.locs ?? NO_FRAMES,
    // no frames: none taken (a copy over the budget, a process without tables in dwarf-copy mode)
    ustack_mode: user?.frames.length ? r.stack_mode : 'none', ustack_truncated: user?.truncated ?? false,
  };
}

/** What a switch-in alone says of its waker: its record was lost, or came before this interval. */
export function wakerOfSwitchIn(r: SwitchIn): WakerSeen {
  return {
    pid: r.waker_pid, tgid: r.waker_tgid, comm: null,
    context: r.waker_flags & pi_waker_flags.PI_WAKER_KTHREAD ? 'kthread' : 'task',
    target: (r.waker_flags & pi_waker_flags.PI_WAKER_TARGET) !== 0, wake_ts_ns: r.wake_ts_ns!,
    kstack: NO_FRAMES, ustack: NO_FRAMES, ustack_locs: NO_FRAMES, ustack_mode: 'none', ustack_truncated: false,
  };
}

/** How text names a waker: "nginx[1234]", "kernel thread kworker/0:1[12]", "interrupt", "softirq". */
export function wakerName(w: Pick<Waker, 'comm' | 'pid' | 'context'>): string {
  if (w.context === 'hardirq') return 'interrupt';
  if (w.context === 'softirq') return 'softirq';
  const name = `${w.comm ?? '?'}[${w.pid}]`;
  return w.context === 'kthread' ? `kernel thread ${name}` : name;
}
