// A stack in a few words, as the text output, the summary, the exports and the page say it: why a
// thread left the CPU (the kernel function it waited in) and where (the program's innermost frame).
// No Node modules: the web page uses it too.
import { parseFrame, shortName, type StackSide } from '../collect/frames.js';

/** Scheduler functions every off-CPU kernel stack starts with: they say nothing about why. */
const SCHEDULER_FN = /^(__schedule|schedule|schedule_\w+|preempt_schedule\w*|io_schedule\w*|__cond_resched)$/;
/** Files of the C library, the loader and the vDSO: "where" is the first frame of the program itself. */
const SYSTEM_MODULE = /^(lib[\w.+-]*\.so[.\d]*|ld-linux[\w.-]*|\[vdso\])$/;

/**
 * A frame in a few words: "b+0x63 (runsleep) runsleep.c:24" -> "b (runsleep.c:24)";
 * "toplev::main(int, char**)+0x1c (cc1plus)" -> "toplev::main (cc1plus)"; "do_nanosleep+0x5e"
 * (side 'kernel') -> "do_nanosleep". A frame without a function ("stress-ng+0x1a15", "0x7f...")
 * stays as it is: its offset is all there is to go by.
 */
export function shortFrame(f: string, side: StackSide = 'user'): string {
  const p = parseFrame(f, side);
  if (p.kind !== 'symbol') return f;
  const name = shortName(p.fn!);
  if (side === 'kernel') return p.module ? `${name} [${p.module}]` : name;
  return p.file ? `${name} (${p.file}:${p.line})` : p.module ? `${name} (${p.module})` : name;
}

/** The "why ← where" of a stack, made once per distinct (frozen, shared) stack array. */
const whyOf = new WeakMap<readonly string[], string>();
const whereOf = new WeakMap<readonly string[], string>();

function cached(cache: WeakMap<readonly string[], string>, stack: readonly string[], make: () => string): string {
  if (!Object.isFrozen(stack)) return make();
  let s = cache.get(stack);
  if (s === undefined) cache.set(stack, s = make());
  return s;
}

/** The kernel function a thread left the CPU in (the first frame past the scheduler's): "do_nanosleep". */
export function waitedIn(kstack: readonly string[]): string {
  return cached(whyOf, kstack, () => {
    const f = kstack.find(x => !SCHEDULER_FN.test(parseFrame(x, 'kernel').fn ?? ''));
    return f ? shortFrame(f, 'kernel') : '';
  });
}

/** Why it left the CPU (the kernel function it waited in) and where (the program's innermost frame). */
export function whyAndWhere(kstack: readonly string[], ustack: readonly string[]): string {
  const why = waitedIn(kstack);
  const where = cached(whereOf, ustack, () => {
    const f = ustack.find(x => {
      const p = parseFrame(x);
      return (p.kind === 'symbol' || p.kind === 'module_offset') && !SYSTEM_MODULE.test(p.module ?? '');
    }) ?? ustack[0];
    return f ? shortFrame(f) : '';
  });
  return [why, where].filter(Boolean).join(' ← ');
}
