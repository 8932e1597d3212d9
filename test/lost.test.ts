// Every event is either handed over or counted as lost, never silently dropped: with the reader
// stalled (the event loop blocked) a workload of known size floods a small ring, and per record type
// what arrives plus what the kernel counted as dropped equals what the workload did, exactly; and
// every record the kernel sent arrived.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultPolicy } from '../src/collect/policy.js';
import type { ProcRecord } from '../src/collect/records.js';
import { LOST_REASONS } from '../src/collect/lost.js';
import { Session } from '../src/model/session.js';
import { summaryText } from '../src/output/summary.js';
import { GATE, tempDir, workload } from './helpers.js';

const N = 3000; // forkloop: N forks, N + 1 process exits, and its own exec

let session: Session | undefined;
afterEach(() => { session?.close(); session = undefined; });

/** Starts forkloop behind a gate opened with a synchronous write, so the caller may block at once. */
function gatedForkloop(): { pid: number; open: () => void; done: Promise<void>; dir: string } {
  const dir = tempDir();
  const fifo = join(dir, 'gate');
  execFileSync('mkfifo', [fifo]);
  const fd = openSync(fifo, 'r+'); // a FIFO opened read-write does not block
  const p = spawn(GATE, ['3', workload('forkloop'), String(N)], { stdio: ['ignore', 'ignore', 'inherit', fd] });
  const done = new Promise<void>(r => p.on('exit', () => r()));
  return { pid: p.pid!, dir, done, open: () => { writeSync(fd, 'g'); closeSync(fd); } };
}

const isZombieOrGone = (pid: number) => {
  try { return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1][0] === 'Z'; } catch { return true; }
};

async function run(blockReader: boolean) {
  session = Session.load({ categories: ['keytime'], ringBytes: blockReader ? 16 << 10 : 16 << 20 });
  const recs: ProcRecord[] = [];
  const w = gatedForkloop();
  await session.activate({ ...defaultPolicy({ kind: 'tgid', tgid: w.pid }, ['keytime']) }, () => ({ write: r => recs.push(r) }));
  w.open();
  if (blockReader) {
    // the event loop stays blocked until the workload is done: the reader cannot hand batches over
    const end = Date.now() + 30_000;
    while (!isZombieOrGone(w.pid) && Date.now() < end) { /* spin */ }
  }
  await w.done;
  const summary = (await session.deactivate())!;
  rmSync(w.dir, { recursive: true, force: true });
  const lostRecords = recs.filter((r): r is Extract<ProcRecord, { type: 'lost' }> => r.type === 'lost');
  return { summary, lostRecords, recs };
}

/** Records of one type: delivered as records, and as the kernel counted them. */
function accounting(recs: ProcRecord[], summary: { kernel_records: Record<string, { sent: number; delivered: number; lost: number }> },
  type: 'fork' | 'exec' | 'exit') {
  const k = summary.kernel_records[type] ?? { sent: 0, delivered: 0, lost: 0 };
  return { records: recs.filter(r => r.type === type).length, ...k };
}

describe('lost events', () => {
  it('none when the reader keeps up: every fork, exec and exit arrives', async () => {
    const { summary, recs } = await run(false);
    // a fork storm's children copy stacks before their tables are in the kernel: past the copy budget
    // some go without a user stack (ustack_budget), never without their records
    const { ustack_budget: _stacks, ...lost } = summary.lost;
    expect(lost).toEqual({});
    const text = summaryText(summary);
    expect(text).toMatch(/^kernel +(\d+) records sent, \1 received, 0 dropped$/m);
    if (!_stacks) expect(text).toMatch(/^lost +none$/m);
    expect(accounting(recs, summary, 'fork')).toEqual({ records: N, sent: N, delivered: N, lost: 0 });
    expect(accounting(recs, summary, 'exit')).toEqual({ records: N + 1, sent: N + 1, delivered: N + 1, lost: 0 });
    expect(accounting(recs, summary, 'exec')).toEqual({ records: 1, sent: 1, delivered: 1, lost: 0 });
    for (const [t, k] of Object.entries(summary.kernel_records)) expect(k.delivered, t).toBe(k.sent);
    expect(recs.filter(r => r.type === 'exit' && r.process_exit).length).toBe(N + 1);
    const codes = recs.filter(r => r.type === 'exit' && r.exit_code !== 0).map(r => r.type === 'exit' && r.exit_code);
    expect(codes).toHaveLength(N - Math.ceil(N / 256)); // children exit i % 256: zero every 256th
  });

  it('counted exactly when the ring overflows: delivered + lost = what happened', async () => {
    const { summary, lostRecords, recs } = await run(true);
    const lost = summary.lost.ring_full ?? 0;
    expect(lost).toBeGreaterThan(0);
    const fork = accounting(recs, summary, 'fork'), exit = accounting(recs, summary, 'exit');
    expect(fork.lost + exit.lost).toBeGreaterThan(0);
    expect(fork.records + fork.lost).toBe(N);
    expect(exit.records + exit.lost).toBe(N + 1);
    // nothing vanished between the kernel and procimage: all it sent arrived, whatever the type
    for (const [t, k] of Object.entries(summary.kernel_records)) expect(k.delivered, t).toBe(k.sent);
    expect(Object.values(summary.kernel_records).reduce((a, k) => a + k.lost, 0)).toBe(lost);
    // and the loss was reported as records too, with the same total
    expect(lostRecords.every(r => r.reason === 'ring_full' || r.reason === 'ustack_budget')).toBe(true);
    expect(lostRecords.filter(r => r.reason === 'ring_full').reduce((s, r) => s + r.count, 0)).toBe(lost);

    // and in the text summary a user reads: what the kernel dropped, by type, against the workload's own
    // counts; the lost line with the same total and what the reason means
    const text = summaryText(summary).split('\n');
    const kernel = text.find(l => l.startsWith('kernel '))!;
    const [, sent, received, dropped, byType] = /^kernel +(\d+) records sent, (\d+) received, (\d+) dropped \((.*)\)$/.exec(kernel)!;
    expect(Number(sent)).toBe(Number(received));
    const droppedByType = Object.fromEntries(byType.split(', ').map(t => t.split(' ')).map(([t, n]) => [t, Number(n)]));
    expect(droppedByType.fork ?? 0).toBe(N - fork.records);
    expect(droppedByType.exit ?? 0).toBe(N + 1 - exit.records);
    expect(Object.values(droppedByType).reduce((a, n) => a + n, 0)).toBe(Number(dropped));
    expect(text.filter(l => l.startsWith('lost '))).toEqual([`lost       ${dropped} ring_full: ${LOST_REASONS.ring_full}`]);
  });

  it('counted exactly when the output backs up: the ring waits for the reader, procimage holds nothing', async () => {
    session = Session.load({ categories: ['keytime'], ringBytes: 16 << 10 });
    const recs: ProcRecord[] = [];
    let caughtUp!: () => void;
    const lagging = new Promise<void>(r => { caughtUp = r; });
    let backedUp = true;
    const w = gatedForkloop();
    // a sink whose reader lags (stdout piped into a stalled consumer) until the workload is done
    await session.activate(defaultPolicy({ kind: 'tgid', tgid: w.pid }, ['keytime']),
      () => ({ write: r => recs.push(r), backedUp: () => backedUp ? lagging : undefined }));
    w.open();
    await w.done; // the event loop runs all along: only the backlog keeps the reader from draining
    await new Promise(r => setTimeout(r, 100));
    expect(recs.filter(r => r.type === 'fork' || r.type === 'exit'), 'records taken while backed up').toHaveLength(0);
    backedUp = false;
    caughtUp();
    const summary = (await session.deactivate())!;
    rmSync(w.dir, { recursive: true, force: true });
    const fork = accounting(recs, summary, 'fork'), exit = accounting(recs, summary, 'exit');
    expect(fork.lost + exit.lost).toBeGreaterThan(0);
    expect(fork.records + fork.lost).toBe(N);
    expect(exit.records + exit.lost).toBe(N + 1);
    for (const [t, k] of Object.entries(summary.kernel_records)) expect(k.delivered, t).toBe(k.sent);
  });
});
