// The recording file, written and read back without a kernel: chunks, flush marks, instants past
// 2^53, and every way a file can end early or be damaged.
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { Clock } from '../../collect/clock.js';
import { defaultPolicy } from '../../collect/policy.js';
import type { ExitRecord, LostRecord, ProcRecord } from '../../collect/records.js';
import type { SessionSummary } from '../../model/session.js';
import { ChunkKind, chunkMember, parseMemberHeader } from './format.js';
import type { RecordingHeader } from './header.js';
import { RecordingReader } from './reader.js';
import { RecordingWriter } from './writer.js';

const dir = mkdtempSync(join(tmpdir(), 'procimage-rec-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const file = () => join(dir, `r${++n}.rec`);

function header(clock: Clock): RecordingHeader {
  return {
    type: 'recording', format: 1, procimage: 'test', ts_ns: 0, started_at: '', host: 'h', kernel: 'k', arch: 'x64', cpus: 2,
    clock: 'CLOCK_MONOTONIC', realtime_offset_ns: 1796656127514970927n, boottime_offset_ns: 3n,
    policy: defaultPolicy({ kind: 'all' }, ['keytime']), categories: ['keytime'], command: null, procimage_pid: 1,
  };
}

const lost = (ts: number, count: number): LostRecord => ({ type: 'lost', ts_ns: ts, pid: 0, tgid: 0, comm: '', reason: 'ring_full', count });
const exit = (ts: number, pid: number): ExitRecord => ({
  type: 'exit', ts_ns: ts, pid, tgid: pid, comm: 'c', cpu: 0, exit_code: 0, signal: null, signal_name: null, core_dumped: false,
  process_exit: true, ppid: 1, start_ts_ns: ts - 10, lifetime_ns: 10, process_start_ts_ns: ts - 10, oncpu_ns: 5,
});

function summary(clock: Clock): SessionSummary {
  return {
    policy: header(clock).policy, duration_ns: 99, records: { lost: 1 }, lost: {}, kernel_records: {}, offcpu_stacks: [], offcpu_stacks_distinct: 0,
    processes: [{ tgid: 5, comm: 'c', exec_ts_ns: 7, threads: 1 }], processes_untracked: 0,
  };
}

/** Writes batches of records (each batch flushed), then the summary unless `end` is false. */
async function write(path: string, clock: Clock, batches: ProcRecord[][], end = true): Promise<void> {
  const w = RecordingWriter.create(path, () => {});
  w.begin(header(clock), clock);
  for (const b of batches) {
    for (const r of b) w.write(r);
    w.flush();
  }
  await w.finish(end ? summary(clock) : undefined);
}

function readAll(path: string) {
  const r = RecordingReader.open(path);
  try {
    const chunks = [...r.chunks()];
    return { reader: r, chunks, records: chunks.flatMap(c => c.lines.map(l => r.parseRecord(l))) };
  } finally {
    r.close();
  }
}

describe('recording format', () => {
  it('round-trips records, batches, header and summary; zcat sees the NDJSON', async () => {
    const clock = new Clock(1_000_000n);
    const p = file();
    const batches = [[lost(10, 1), exit(20, 5)], [exit(30, 6)], [lost(40, 2)]];
    await write(p, clock, batches);
    expect(statSync(p).mode & 0o777).toBe(0o600);
    const { reader, chunks, records } = readAll(p);
    expect(records).toEqual(batches.flat());
    expect(reader.header.ts_ns).toBe(0);
    expect(reader.header.realtime_offset_ns).toBe(1796656127514970927n);
    expect(reader.summary?.processes[0].exec_ts_ns).toBe(7);
    expect(reader.ending).toEqual({ complete: true });
    // one chunk: sealed at the end; the flushes mark the batches
    expect(chunks).toHaveLength(1);
    expect(chunks[0].info.flushes).toEqual([2, 3, 4]);
    const text = gunzipSync(readFileSync(p)).toString().trim().split('\n');
    expect(text).toHaveLength(6);
    expect(JSON.parse(text[1])).toMatchObject({ type: 'lost', ts_ns: 1_000_010 });
    expect(JSON.parse(text[5])).toMatchObject({ type: 'summary', duration_ns: 99 });
  });

  it('keeps instants past 2^53 exact', async () => {
    const epoch = 2n ** 60n + 12345n;
    const clock = new Clock(epoch);
    const p = file();
    await write(p, clock, [[exit(3, 1)]]);
    const raw = gunzipSync(readFileSync(p)).toString().split('\n')[1];
    expect(raw).toContain(`"ts_ns":${epoch + 3n}`);
    expect(raw).toContain(`"start_ts_ns":${epoch - 7n}`);
    const { records } = readAll(p);
    expect(records).toEqual([exit(3, 1)]);
  });

  it('replaces a symlink rather than writing through it', async () => {
    const target = join(dir, 'victim');
    writeFileSync(target, 'precious');
    const p = file();
    symlinkSync(target, p);
    await write(p, new Clock(), [[lost(1, 1)]]);
    expect(readFileSync(target, 'utf8')).toBe('precious');
    expect(readAll(p).records).toHaveLength(1);
  });

  it('refuses a directory in one line', () => {
    expect(() => RecordingWriter.create(dir, () => {})).toThrow(/cannot record to .*: it is a directory/);
    expect(() => RecordingWriter.create(join(dir, 'no', 'such'), () => {})).toThrow(/cannot record to .*ENOENT/);
  });

  it('a member header parses back, and short or foreign bytes are told apart', () => {
    const gz = gzipSync('x\n');
    const m = chunkMember(gz, { kind: ChunkKind.Records, seq: 3, lines: 1, tsMin: 5n, tsMax: 9n, flushes: [1] });
    const h = parseMemberHeader(m);
    expect(h).toEqual({ ok: true, info: { kind: 1, seq: 3, lines: 1, tsMin: 5n, tsMax: 9n, flushes: [1], memberBytes: m.length } });
    expect(gunzipSync(m).toString()).toBe('x\n');
    expect(parseMemberHeader(m.subarray(0, 5))).toEqual({ ok: false, why: 'short' });
    expect(parseMemberHeader(m.subarray(0, 20))).toEqual({ ok: false, why: 'short' });
    expect(parseMemberHeader(gz)).toEqual({ ok: false, why: 'no_subfield' });
    expect(parseMemberHeader(Buffer.from('hello world, not gzip'))).toEqual({ ok: false, why: 'not_gzip' });
  });
});

describe('recordings that end early or are damaged', () => {
  /** A recording of three chunks of records (sealed by size is not practical here: one chunk each by finishing). */
  async function threeChunks(end = true): Promise<{ path: string; bytes: Buffer; starts: number[] }> {
    const clock = new Clock(1000n);
    const p = file();
    const w = RecordingWriter.create(p, () => {});
    w.begin(header(clock), clock);
    for (let i = 0; i < 3; i++) {
      w.write(exit(100 * (i + 1), i + 1));
      w.flush();
      (w as unknown as { seal: (k: number) => void }).seal(ChunkKind.Records);
    }
    await w.finish(end ? summary(clock) : undefined);
    const bytes = readFileSync(p);
    const starts: number[] = [];
    for (let at = 0; at < bytes.length;) {
      starts.push(at);
      const h = parseMemberHeader(bytes.subarray(at));
      if (!h.ok) throw new Error('bad member');
      at += h.info.memberBytes;
    }
    return { path: p, bytes, starts };
  }

  it('reads a file cut inside a chunk up to the chunk before, and says where', async () => {
    const { path, bytes, starts } = await threeChunks();
    writeFileSync(path, bytes.subarray(0, starts[3] + 70)); // past its header (~50 bytes), inside its data
    const { reader, records } = readAll(path);
    expect(records.map(r => r.pid)).toEqual([1, 2]);
    expect(reader.ending).toMatchObject({ complete: false, readable: starts[3], chunks: 3, lastTs: 200 });
    expect(reader.ending && !reader.ending.complete && reader.ending.why).toMatch(/ends inside chunk 3/);
    expect(reader.summary).toBeUndefined();
  });

  it('reads a file that ends between chunks, without the end, and says it is incomplete', async () => {
    const { path, bytes, starts } = await threeChunks();
    writeFileSync(path, bytes.subarray(0, starts[3]));
    const { reader, records } = readAll(path);
    expect(records).toHaveLength(2);
    expect(reader.ending).toMatchObject({ complete: false, readable: starts[3] });
  });

  it('a writer that never finished leaves a readable file (no summary)', async () => {
    const { path } = await threeChunks(false);
    const { reader, records } = readAll(path);
    expect(records).toHaveLength(3);
    expect(reader.ending?.complete).toBe(false);
  });

  it('refuses a damaged chunk before the end, after the chunks before it', async () => {
    const { path, bytes, starts } = await threeChunks();
    const bad = Buffer.from(bytes);
    bad[starts[2] + 60] ^= 0xff; // inside chunk 2's compressed data (the header is ~50 bytes)
    writeFileSync(path, bad);
    const r = RecordingReader.open(path);
    const seen: number[] = [];
    expect(() => { for (const c of r.chunks()) seen.push(c.info.seq); }).toThrow(/damaged at byte \d+: chunk 2 does not inflate/);
    expect(seen).toEqual([1]);
    r.close();
  });

  it('refuses what is not a recording, and a newer format, in one line', async () => {
    const p = file();
    writeFileSync(p, 'hello\n');
    expect(() => RecordingReader.open(p)).toThrow(/not a procimage recording \(not gzip data\)/);
    writeFileSync(p, gzipSync('{"type":"exit"}\n'));
    expect(() => RecordingReader.open(p)).toThrow(/not a procimage recording \(gzip without procimage's chunk header\)/);
    writeFileSync(p, '');
    expect(() => RecordingReader.open(p)).toThrow(/empty file/);
    const newer = chunkMember(gzipSync('{"type":"recording","format":99,"procimage":"9.0","ts_ns":1}\n'),
      { kind: ChunkKind.Header, seq: 0, lines: 1, tsMin: 1n, tsMax: 1n, flushes: [] });
    writeFileSync(p, newer);
    expect(() => RecordingReader.open(p)).toThrow(/recording format 99; this procimage \(format 1\) cannot read it/);
    const fd = openSync(p, 'w');
    writeSync(fd, newer.subarray(0, 30));
    closeSync(fd);
    expect(() => RecordingReader.open(p)).toThrow(/not a readable procimage recording: it ends inside its first chunk/);
  });
});
