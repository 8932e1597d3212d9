// Where start-up and teardown spend their time, for bench/startup.ts: with PROCIMAGE_TIMING=1 in the
// environment, each phase's end (ms since the process started, and since the previous mark) goes to
// stderr as one `timing` line when the process exits. Without it, mark() costs an env lookup cached
// once. (process.uptime(), not perf_hooks: loading that module is a cost of its own.)

const on = !!process.env.PROCIMAGE_TIMING;
const marks: Array<[string, number]> = [];

/** Notes that the phase called `what` ended now. */
export function mark(what: string): void {
  if (!on) return;
  if (!marks.length) process.once('exit', print);
  marks.push([what, process.uptime() * 1000]);
}

/** Times fn as one phase, ending when it returns (or throws). */
export function timed<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } finally {
    mark(what);
  }
}

function print(): void {
  mark('exit');
  let last = 0;
  const parts = marks.map(([what, at]) => {
    const s = `${what}=${at.toFixed(1)}/${(at - last).toFixed(1)}`;
    last = at;
    return s;
  });
  process.stderr.write(`procimage timing (ms since start/since previous): ${parts.join(' ')}\n`);
}
