// The summary printed when an activation ends (ctl -d, -t expiry, Ctrl-C, the traced command's exit).
import { LOST_REASONS } from '../collect/lost.js';
import { describePolicy } from '../collect/policy.js';
import type { SessionSummary } from '../model/session.js';
import { commandLine, duration, seconds9 } from './format.js';
import { describeExit, shortFrame, whyAndWhere } from './text.js';
import { truncationNote } from '../collect/keytime.js';
import { safeForText } from './safetext.js';
import { printable } from '../sys/printable.js';

/** Column the `user:` chains under the by-stack table start at: under WHY ← WHERE. */
const CHAIN_INDENT = 40;

/**
 * Frames joined by " ← " into lines of at most `width` columns (a frame longer than a line gets one
 * of its own), the first starting with `lead`, the others indented as far as it.
 */
export function wrapChain(lead: string, frames: readonly string[], width: number): string[] {
  const indent = ' '.repeat(lead.length);
  const lines: string[] = [];
  let cur = lead, empty = true;
  frames.forEach((f, i) => {
    const piece = i < frames.length - 1 ? `${f} ←` : f;
    if (!empty && cur.length + 1 + piece.length > width) {
      lines.push(cur);
      cur = indent + piece;
    } else {
      cur += (empty ? '' : ' ') + piece;
    }
    empty = false;
  });
  lines.push(cur);
  return lines;
}

/** width: where the user: chains wrap (the terminal's width, or 120 when it is not a terminal). */
export function summaryText(s: SessionSummary, width = 120): string {
  const lines: string[] = [];
  lines.push('── procimage summary ' + '─'.repeat(60));
  lines.push(`policy     ${describePolicy(s.policy)}`);
  lines.push(`collected  ${seconds9(s.duration_ns)} s`);
  const recs = Object.entries(s.records).filter(([t]) => t !== 'lost').map(([t, n]) => `${t} ${n}`);
  lines.push(`records    ${recs.length ? recs.join(', ') : 'none'}`);
  if (s.partial) lines.push(`selected   ${s.partial}`);
  const k = Object.values(s.kernel_records);
  const sum = (f: 'sent' | 'delivered' | 'lost') => k.reduce((a, x) => a + x[f], 0);
  if (s.partial && k.length === 0) lines.push('kernel     not known: the recording ends before its summary');
  else lines.push(`kernel     ${sum('sent')} records sent, ${sum('delivered')} received, ${sum('lost')} dropped` +
    (sum('lost') ? ` (${Object.entries(s.kernel_records).filter(([, x]) => x.lost).map(([t, x]) => `${t} ${x.lost}`).join(', ')})` : ''));
  if (s.kernel_stacks) {
    const k = s.kernel_stacks;
    lines.push(`kstacks    ${k.remembered} remembered, ${k.walked} walked (${k.unplaced} not rememberable)` +
      (k.differed !== undefined ? `; check: ${k.differed} remembered differed from their walk` : ''));
  }
  if (s.user_stacks) lines.push(`ustacks    ${s.user_stacks.kernel} unwound in the kernel, ${s.user_stacks.copied} from stack copies`);
  const lost = Object.entries(s.lost).filter(([, n]) => n > 0);
  if (lost.length === 0) lines.push('lost       none');
  for (const [i, [reason, n]] of lost.entries())
    lines.push(`${i === 0 ? 'lost' : ''.padEnd(4)}       ${n} ${reason}: ${LOST_REASONS[reason] ?? ''}`.trimEnd());
  const procs = s.processes.filter(p => p.exec_ts_ns !== undefined || p.exit_ts_ns !== undefined);
  if (procs.length) {
    lines.push('processes');
    lines.push(`  ${'TGID'.padStart(7)}  ${'COMM'.padEnd(16)} ${'END'.padEnd(24)} ${'LIFETIME'.padStart(14)}  COMMAND`);
    for (const p of procs.map(safeForText)) {
      const end = p.exit_ts_ns === undefined ? 'still running'
        : describeExit({ exit_code: p.exit_code ?? null, signal_name: p.signal_name ?? null, core_dumped: p.core_dumped ?? false });
      const life = p.lifetime_ns === undefined ? '' : duration(p.lifetime_ns);
      lines.push(`  ${String(p.tgid).padStart(7)}  ${p.comm.padEnd(16)} ${end.padEnd(24)} ${life.padStart(14)}  ` +
        `${p.argv ? commandLine(p.argv, 60) : p.forked_from !== undefined ? `(fork of ${p.forked_from})` : ''}`);
    }
  }
  if (s.offcpu_stacks.length) {
    lines.push(`off-CPU time by stack (top ${s.offcpu_stacks.length} of ${s.offcpu_stacks_distinct})`);
    lines.push(`  ${'TOTAL'.padStart(12)} ${'COUNT'.padStart(6)} ${'MAX'.padStart(12)}  S  ${'COMM'.padEnd(16)} WHY ← WHERE`);
    for (const t of s.offcpu_stacks.map(safeForText)) {
      lines.push(`  ${duration(t.total_ns).padStart(12)} ${String(t.count).padStart(6)} ${duration(t.max_ns).padStart(12)}  ` +
        `${t.state}  ${t.comm.padEnd(16)} ${whyAndWhere(t.kstack, t.ustack)}`);
      if (t.ustack.length) {
        const frames = [...t.ustack.map(f => shortFrame(f)), ...(t.ustack_truncated ? [`… ${truncationNote(t.ustack_mode)}`] : [])];
        const lead = `${' '.repeat(CHAIN_INDENT)}user: `;
        lines.push(...wrapChain(lead, frames, Math.max(width, lead.length + 40)));
      }
    }
  }
  lines.push(...wakerLines(s, width));
  if (s.processes_untracked) lines.push(`  … and ${s.processes_untracked} more processes (only the first ${procs.length} are listed)`);
  return lines.join('\n') + '\n';
}

/** Off-CPU time by waker, the chains of waits, and migrations (keytime). */
function wakerLines(s: SessionSummary, width: number): string[] {
  const lines: string[] = [];
  if (s.wakers?.length) {
    lines.push(`off-CPU time by waker (top ${s.wakers.length} of ${s.wakers_distinct ?? s.wakers.length}): who made each process wait`);
    lines.push(`  ${'TOTAL'.padStart(12)} ${'COUNT'.padStart(6)} ${'MAX'.padStart(12)}  ${'TGID'.padStart(7)}  ${'COMM'.padEnd(16)} WOKEN BY`);
    for (const w of s.wakers.map(safeForText)) { // the waker's name and the waiter's: a target's own
      lines.push(`  ${duration(w.total_ns).padStart(12)} ${String(w.count).padStart(6)} ${duration(w.max_ns).padStart(12)}  ` +
        `${String(w.tgid).padStart(7)}  ${w.comm.padEnd(16)} ${w.waker}`);
    }
  }
  if (s.wake_chains?.length) {
    lines.push(`wait chains (longest ${s.wake_chains.length}): each waited for the next, which was waiting itself`);
    for (const c of s.wake_chains) {
      const frames = [...c.links.map(safeForText).map(l => `${l.comm}[${l.pid}] ${l.state} ${duration(l.duration_ns)}`), printable(c.end)];
      lines.push(...wrapChain(`  ${c.count > 1 ? `×${c.count} ` : ''}`, frames, Math.max(width, 60)));
    }
  }
  if (s.migrations?.length) {
    const shown = s.migrations.slice(0, 10);
    lines.push(`CPU migrations (${s.migrations.reduce((a, m) => a + m.count, 0)} of ${s.migrations.length} threads${shown.length < s.migrations.length ? `, top ${shown.length}` : ''})`);
    lines.push(`  ${'PID'.padStart(7)} ${'TGID'.padStart(7)}  ${'COMM'.padEnd(16)} ${'COUNT'.padStart(6)}`);
    for (const m of shown.map(safeForText)) lines.push(`  ${String(m.pid).padStart(7)} ${String(m.tgid).padStart(7)}  ${m.comm.padEnd(16)} ${String(m.count).padStart(6)}`);
  }
  return lines;
}
