// What a cheap syscall costs every process on the machine: with no procimage, with procimage
// attached and ready (the state it waits in), and with an empty program on sys_enter (what any
// active hook there costs at the least: the physical limit). Rounds interleave the modes so drift
// of the machine hits them all alike.
import { BpfObject, type Link } from '../src/bpf/index.js';
import { BackgroundAttach, benchObject, fmt, median, run, table, workload } from './lib.js';

const CALLS = '3000000';
const ROUNDS = 11;

// pinned to one CPU: migrations between the two vCPUs were the largest source of noise
// the wall ns per call (syscall_cost prints the thread's CPU ns beside it)
const cost = () => Number(run('taskset', ['-c', '1', workload('syscall_cost'), CALLS]).trim().split(' ')[0]);

function withProgram(program: string, fn: () => number): number {
  const obj = BpfObject.open(benchObject('empty'));
  for (const p of obj.programs()) p.setAutoload(p.name === program);
  obj.load();
  let link: Link | undefined;
  try {
    link = obj.program(program).attach();
    return fn();
  } finally {
    link?.close();
    obj.close();
  }
}

export async function syscallBench(): Promise<string> {
  const modes = ['none', 'ready', 'empty tp_btf', 'empty tracepoint'] as const;
  const samples: Record<(typeof modes)[number], number[]> = { none: [], ready: [], 'empty tp_btf': [], 'empty tracepoint': [] };
  for (let r = 0; r < ROUNDS; r++) {
    samples.none.push(cost());
    const a = await BackgroundAttach.start(['-a']);
    samples.ready.push(cost());
    await a.finish();
    samples['empty tp_btf'].push(withProgram('empty_btf_sys_enter', cost));
    samples['empty tracepoint'].push(withProgram('empty_tp_sys_enter', cost));
  }
  const base = median(samples.none);
  const rows = modes.map(m => {
    const med = median(samples[m]);
    return [m, fmt(med), fmt(Math.min(...samples[m])), fmt(Math.max(...samples[m])), `${fmt(med - base)}`, `${fmt(((med - base) / base) * 100)}%`];
  });
  return `### Cost of a cheap syscall (getppid), ns per call: median of ${ROUNDS} rounds of ${CALLS} calls\n\n` +
    table(['mode', 'median', 'min', 'max', '+ns vs none', 'overhead'], rows) + '\n\n' +
    '"ready" is `procimage attach -a` loaded, verified and pinned, waiting for ctl: no program attached.\n' +
    '"empty tp_btf" / "empty tracepoint": a program that returns at once, on sys_enter.\n';
}
