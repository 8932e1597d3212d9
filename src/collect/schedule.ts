// schedule: scheduling delay per target thread and for the whole system, kept in the kernel as log2
// histograms (bpf/sched.bpf.h) and read every --interval. The wakeup hooks are schedule's own
// object; the sched_switch side runs in keytime's one sched_switch program.
import type { Collector } from './collector.js';
import { cstring, log2Slots, u64 } from './decode.js';
import { pi_sched_key, pi_sched_stats, pi_sched_thread } from './layout.js';
import { clearMap } from './maps.js';
import type { SchedRecord } from './records.js';

const S = pi_sched_stats.OFF, T = pi_sched_thread.OFF, K = pi_sched_key.OFF;
const SLOTS = pi_sched_stats.LEN.slots / 8;
const ANY_CPU = 0xffffffff;

export interface DelayStats {
  count: number; total_ns: number; min_ns: number | null; max_ns: number | null; hist_log2_ns: number[];
}

/** struct pi_sched_stats at off of a buffer. */
export function readStats(b: Buffer, off: number): DelayStats {
  const u = new Uint32Array(b.buffer, b.byteOffset + off, pi_sched_stats.SIZE / 4);
  const count = u64(u, S.count);
  const hist = log2Slots(u, S.slots, SLOTS);
  return {
    count, total_ns: u64(u, S.total_ns), min_ns: count ? u64(u, S.min_ns) : null,
    max_ns: count ? u64(u, S.max_ns) : null, hist_log2_ns: hist,
  };
}

/** Per-CPU stats summed into one (min of the minimums, max of the maximums). */
export function mergeStats(parts: DelayStats[]): DelayStats {
  const hist: number[] = [];
  let count = 0, total = 0, min: number | null = null, max: number | null = null;
  for (const p of parts) {
    count += p.count;
    total += p.total_ns;
    if (p.min_ns !== null && (min === null || p.min_ns < min)) min = p.min_ns;
    if (p.max_ns !== null && (max === null || p.max_ns > max)) max = p.max_ns;
    p.hist_log2_ns.forEach((n, i) => { hist[i] = (hist[i] ?? 0) + n; });
  }
  return { count, total_ns: total, min_ns: min, max_ns: max, hist_log2_ns: Array.from(hist, n => n ?? 0) };
}

const EMPTY: DelayStats = { count: 0, total_ns: 0, min_ns: null, max_ns: null, hist_log2_ns: [] };
/** Per cgroup path, the delays of its threads that have ended (their entries are gone). */
let goneByCgroup = new Map<string, DelayStats>();

export const schedule: Collector = {
  category: 'schedule',
  object: 'schedule',
  requires: ['keytime'],
  decoders: new Map(),
  programs(policy) {
    // keytime_switch marks a thread's entry at its final switch (its exit's teardown may still wait
    // for a CPU after sched_process_exit), and the entry goes once reported
    return policy.categories.includes('schedule') ? ['keytime_switch', 'schedule_wakeup', 'schedule_wakeup_new'] : [];
  },
  reset(obj) {
    goneByCgroup = new Map();
    clearMap(obj.map('pi_sched_threads'));
    const sys = obj.map('pi_sched_sys');
    sys.update(Buffer.alloc(4), Buffer.alloc(sys.valueBytes));
  },
  poll({ obj, now, policy, snapshot, final, cgroups }) {
    if (!policy.categories.includes('schedule')) return [];
    const out: SchedRecord[] = [];
    const threads = obj.map('pi_sched_threads');
    // with a cgroup target: every cgroup's threads summed, the ended ones' kept from their last report
    const byCgroup = cgroups ? new Map<string, DelayStats[]>([...goneByCgroup].map(([c, st]) => [c, [st]])) : undefined;
    for (const [k, v] of threads.entries()) {
      // an exited thread is reported now for the last time: its entry goes, so the table holds the
      // living and a long run does not fill it (a scrape's read changes nothing)
      const exited = v.readUInt32LE(T.exited) !== 0;
      // at the end of the activation every entry is reported for the last time: the ready state
      // keeps none (the next activation starts its own)
      if (!snapshot && (exited || final)) threads.delete(k);
      const pid = k.readUInt32LE(K.pid), cpu = k.readUInt32LE(K.cpu);
      const st = readStats(v, T.stats);
      const cg = cgroups && pid ? cgroups.of(pid) : null;
      if (byCgroup && cg !== null) {
        byCgroup.set(cg, [...byCgroup.get(cg) ?? [], st]);
        if (!snapshot && exited) goneByCgroup.set(cg, mergeStats([goneByCgroup.get(cg) ?? EMPTY, st]));
      }
      out.push({
        type: 'sched', ts_ns: now, pid, tgid: v.readUInt32LE(T.tgid), comm: cstring(v, T.comm, pi_sched_thread.LEN.comm),
        scope: 'thread', cpu: cpu === ANY_CPU ? null : cpu, ...st, avg_ns: st.count ? st.total_ns / st.count : null,
      });
    }
    out.sort((a, b) => a.tgid - b.tgid || a.pid - b.pid);
    for (const [cg, parts] of [...byCgroup ?? []].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const st = mergeStats(parts);
      out.push({ type: 'sched', ts_ns: now, pid: 0, tgid: 0, comm: '', scope: 'cgroup', cpu: null, ...st,
        avg_ns: st.count ? st.total_ns / st.count : null, cgroup: cg });
    }
    const sysMap = obj.map('pi_sched_sys');
    const sys = mergeStats(sysMap.lookupPerCpu(Buffer.alloc(4))!.map(b => readStats(b, 0)));
    out.push({
      type: 'sched', ts_ns: now, pid: 0, tgid: 0, comm: '', scope: 'system', cpu: null, ...sys,
      avg_ns: sys.count ? sys.total_ns / sys.count : null,
    });
    return out;
  },
};
