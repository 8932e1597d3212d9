import { describe, expect, it } from 'vitest';
import { wakeContext, wakerName } from './wakers.js';

describe('wakeContext', () => {
  const wake = ['try_to_wake_up+0x3b6', '__wake_up_common+0x72'];
  it('is a task in its own syscall', () => {
    expect(wakeContext([...wake, 'anon_pipe_write+0x3ad', 'do_syscall_64+0x71'], false)).toBe('task');
    expect(wakeContext([...wake, 'worker_thread+0x1'], true)).toBe('kthread');
  });
  it('is an interrupt or a softirq by the innermost entry frame', () => {
    expect(wakeContext(['try_to_wake_up+0x3b6', 'hrtimer_wakeup+0x1e', '__hrtimer_run_queues+0x12e', 'hrtimer_interrupt+0x100',
      '__sysvec_apic_timer_interrupt+0x55', 'sysvec_apic_timer_interrupt+0x6d', 'asm_sysvec_apic_timer_interrupt+0x1a'], false)).toBe('hardirq');
    expect(wakeContext([...wake, 'blk_mq_complete_request+0x1', 'handle_softirqs+0xd8', 'irq_exit_rcu+0x1',
      'sysvec_apic_timer_interrupt+0x6d'], false)).toBe('softirq');
    // a kernel thread interrupted is the interrupt's wake-up, not the thread's
    expect(wakeContext([...wake, 'hrtimer_interrupt+0x100', 'sysvec_apic_timer_interrupt+0x6d'], true)).toBe('hardirq');
  });
});

describe('wakerName', () => {
  it('says who as text output does', () => {
    expect(wakerName({ comm: 'nginx', pid: 1234, context: 'task' })).toBe('nginx[1234]');
    expect(wakerName({ comm: 'kworker/0:1', pid: 12, context: 'kthread' })).toBe('kernel thread kworker/0:1[12]');
    expect(wakerName({ comm: 'swapper/0', pid: 0, context: 'hardirq' })).toBe('interrupt');
    expect(wakerName({ comm: null, pid: 5, context: 'task' })).toBe('?[5]');
  });
});
