// The state a task left the CPU in, as the kernel's TASK_* bits say it (include/linux/sched.h), in
// the letters ps uses.

const TASK_INTERRUPTIBLE = 0x1, TASK_UNINTERRUPTIBLE = 0x2, TASK_STOPPED = 0x4, TASK_TRACED = 0x8;
const TASK_PARKED = 0x40, TASK_DEAD = 0x80, TASK_NOLOAD = 0x400, TASK_RTLOCK_WAIT = 0x1000;

export interface TaskState { state: string; state_name: string }

export function taskState(bits: number, preempt: boolean): TaskState {
  // preempted: still on the run queue whatever it was about to set (it had not slept yet)
  if (preempt || bits === 0) return { state: 'R', state_name: 'preempted' };
  if ((bits & (TASK_UNINTERRUPTIBLE | TASK_NOLOAD)) === (TASK_UNINTERRUPTIBLE | TASK_NOLOAD)) return { state: 'I', state_name: 'idle' };
  if (bits & TASK_INTERRUPTIBLE) return { state: 'S', state_name: 'sleeping' };
  if (bits & TASK_UNINTERRUPTIBLE) return { state: 'D', state_name: 'disk wait' };
  if (bits & TASK_RTLOCK_WAIT) return { state: 'D', state_name: 'rt lock wait' };
  if (bits & TASK_STOPPED) return { state: 'T', state_name: 'stopped' };
  if (bits & TASK_TRACED) return { state: 't', state_name: 'traced' };
  if (bits & TASK_PARKED) return { state: 'P', state_name: 'parked' };
  if (bits & TASK_DEAD) return { state: 'X', state_name: 'dead' };
  return { state: '?', state_name: `state 0x${bits.toString(16)}` };
}

export const isDead = (bits: number): boolean => (bits & TASK_DEAD) !== 0;
