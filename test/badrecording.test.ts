// Corrupt and truncated recordings given to `report` and the exports: random bit flips and cuts of a
// real recording made here (trace --record of a workload, every category). Each ends in one clear
// line and a non-zero status, or a report that says it is partial (status 3) — never a stack trace,
// never a hang; a chunk that would inflate past any chunk procimage writes is refused, not inflated.
// Run in-process through the CLI's parser (src/cli/program.ts) with the real report, output swallowed;
// a few through bin/procimage too.
import fc from 'fast-check';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGzip, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runCli, type Runners } from '../src/cli/program.js';
import { runReport } from '../src/control/report.js';
import { ChunkKind, chunkMember, parseMemberHeader } from '../src/output/recording/format.js';
import { cli, workload } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'procimage-badrec-'));
const rec = join(dir, 'real.rec');
let original: Buffer;
/** Where each chunk starts, and the end of the file. */
let bounds: number[];

beforeAll(async () => {
  const r = await cli(['trace', '--record', rec, '-a', '-k', '1', '-s', '5', '--interval', '0.2', '--', workload('runsleep'), '8', '100']);
  expect(r.code, r.stderr).toBe(0);
  original = readFileSync(rec);
  bounds = [0];
  while (bounds[bounds.length - 1] < original.length) {
    const h = parseMemberHeader(original.subarray(bounds[bounds.length - 1]));
    if (!h.ok) throw new Error(`the recording does not parse: ${h.why}`);
    bounds.push(bounds[bounds.length - 1] + h.info.memberBytes);
  }
}, 60_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const MODES: string[][] = [[], ['--json'], ['--summary'], ['--stacks', '--tgid', '1,2', '--from', '0.1'],
  ['--perfetto', join(dir, 'o.json'), '--pprof', join(dir, 'o.pb.gz'), '--folded', join(dir, 'o.folded')], ['--html', join(dir, 'o.html')]];

interface Outcome { code: number; err: string; out: number }

/** `procimage report FILE MODE...` in this process: its status, all it wrote on stderr, how much on stdout. */
async function report(file: string, mode: string[]): Promise<Outcome> {
  const o: Outcome = { code: -1, err: '', out: 0 };
  const out = vi.spyOn(process.stdout, 'write').mockImplementation(((s: string | Uint8Array, ...rest: unknown[]) => {
    o.out += s.length;
    const cb = rest.find(x => typeof x === 'function') as (() => void) | undefined;
    cb?.();
    return true;
  }) as typeof process.stdout.write);
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(((s: string | Uint8Array) => { o.err += String(s); return true; }) as typeof process.stderr.write);
  const runners = { report: runReport } as unknown as Runners;
  const hang = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`report hangs on ${file} ${mode.join(' ')}`)), 20_000).unref());
  try {
    o.code = await Promise.race([runCli(['report', file, ...mode], runners, { out: () => {}, err: s => { o.err += s; } }), hang]);
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
  return o;
}

/** What any damaged file may give: a refusal in one line, or the report with a line that says it is partial. */
function expectClear(r: Outcome, what: string): void {
  const ctx = `${what}: ${r.code} ${r.err.slice(-3000)}`;
  expect(r.err, ctx).not.toMatch(/internal error|^\s+at |node:internal|TypeError|RangeError|SyntaxError/m);
  if (r.code === 0) return;
  if (r.code === 3) {
    expect(r.err, ctx).toMatch(/^procimage: warning: .* is incomplete: .*; reported what could be read: \d+ chunks, \d+ of \d+ bytes/m);
    return;
  }
  expect(r.code, ctx).toBe(1);
  const lines = r.err.trimEnd().split('\n').filter(l => l.startsWith('procimage: '));
  expect(lines.length, ctx).toBeGreaterThanOrEqual(1);
  expect(r.err.trimEnd().split('\n').pop(), ctx).toMatch(/^procimage: .*(damaged|not a|recording)/);
}

let n = 0;
const damaged = (bytes: Buffer) => {
  const f = join(dir, `d${++n % 8}.rec`);
  writeFileSync(f, bytes);
  return f;
};

describe('report of a damaged recording', () => {
  it('is whole to begin with (and has chunks of records to damage)', async () => {
    expect(bounds.length).toBeGreaterThanOrEqual(4); // header, records, end at least
    for (const mode of MODES) expect((await report(rec, mode)).code, mode.join(' ')).toBe(0);
  });

  it('one bit flipped anywhere: refused in one line, or partial, never a stack trace', async () => {
    await fc.assert(fc.asyncProperty(fc.nat(), fc.integer({ min: 0, max: 7 }), fc.constantFrom(...MODES), async (pos, bit, mode) => {
      const b = Buffer.from(original);
      const at = pos % b.length;
      b[at] ^= 1 << bit;
      const r = await report(damaged(b), mode);
      expectClear(r, `bit ${bit} of byte ${at} (${mode.join(' ')})`);
      // a flip is never taken for a whole file where every chunk is read (--summary skips chunks by their sizes)
      if (mode[0] !== '--summary') expect(r.code, `bit ${bit} of byte ${at} (${mode.join(' ')}): ${r.err.slice(-500)}`).not.toBe(0);
    }), { numRuns: 60 });
  }, 120_000);

  it('many bytes overwritten at random: the same', async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 2, maxLength: 40 }),
      fc.constantFrom(...MODES), async (edits, mode) => {
        const b = Buffer.from(original);
        for (const [pos, v] of edits) b[pos % b.length] = v;
        expectClear(await report(damaged(b), mode), `${edits.length} bytes (${mode.join(' ')})`);
      }), { numRuns: 30 });
  }, 120_000);

  it('cut anywhere: partial past the header chunk (status 3), refused inside it', async () => {
    await fc.assert(fc.asyncProperty(fc.nat(), fc.constantFrom(...MODES), async (pos, mode) => {
      const cut = 1 + pos % (original.length - 1);
      const r = await report(damaged(original.subarray(0, cut)), mode);
      expectClear(r, `cut at ${cut} (${mode.join(' ')})`);
      expect(r.code, `cut at ${cut}: ${r.err}`).toBe(cut < bounds[1] ? 1 : 3);
    }), { numRuns: 40 });
  }, 120_000);

  it('zeros from anywhere on (a crash before the data reached the disk): partial', async () => {
    // whole filesystem blocks are lost: from a chunk's start, or from a block boundary inside one
    const block = (x: number) => Math.ceil(x / 4096) * 4096;
    for (const at of [bounds[1], bounds[2], block(bounds[2] + 1), block(bounds[bounds.length - 2] + 1)].filter(x => x < original.length)) {
      const b = Buffer.from(original);
      b.fill(0, at);
      const r = await report(damaged(b), []);
      expectClear(r, `zeros from ${at}`);
      expect(r.code).toBe(3);
    }
  });

  it('chunks swapped, repeated or dropped: refused in one line (after what came before)', async () => {
    const chunk = (i: number) => original.subarray(bounds[i], bounds[i + 1]);
    const last = bounds.length - 2;
    for (const order of [[0, 2, 1, ...range(3, last)], [0, 1, 1, ...range(2, last)], [0, ...range(2, last)], [0, last]]) {
      const r = await report(damaged(Buffer.concat(order.map(chunk))), []);
      expectClear(r, `chunks ${order.join(',')}`);
      expect(r.code).toBe(1);
    }
  });

  it('well-formed chunks of garbage lines: refused in one line, naming the damage', async () => {
    const header = original.subarray(0, bounds[1]);
    for (const line of ['not json', '{"type":"exit"', '{"type":"exit","ts_ns":"soon","pid":{}}', '[1,2,3]', 'null', '{"type":"offcpu","kstack":7}',
      '{"type":"sched","ts_ns":1e400}', '{"type":"no-such-type","ts_ns":5}', '{"ts_ns":5}']) {
      const member = chunkMember(gzipSync(`${line}\n`), { kind: ChunkKind.Records, seq: 1, lines: 1, tsMin: 0n, tsMax: 0n, flushes: [1] });
      for (const mode of MODES) expectClear(await report(damaged(Buffer.concat([header, member])), mode), `line ${line} (${mode.join(' ')})`);
    }
  });

  it('a chunk that inflates to far more than procimage writes is refused, not inflated (bounded memory)', async () => {
    const header = original.subarray(0, bounds[1]);
    const bomb = chunkMember(await gzipOfSpaces(256), { kind: ChunkKind.Records, seq: 1, lines: 1, tsMin: 0n, tsMax: 0n, flushes: [] });
    const before = process.memoryUsage().rss;
    const r = await report(damaged(Buffer.concat([header, bomb])), []);
    expectClear(r, 'a 256 MiB chunk');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/chunk 1 .*(larger|more) than/);
    // generous: the 256 MiB it would have inflated to (and its string), not what a runtime's heap moves by
    expect(process.memoryUsage().rss - before).toBeLessThan(256 << 20);
  }, 60_000);

  it('through bin/procimage: one line, the status the in-process report gave', async () => {
    const flipped = Buffer.from(original);
    flipped[bounds[1] + 40] ^= 0x10;
    for (const [bytes, code] of [[flipped, 1], [original.subarray(0, bounds[2] + 3), 3], [original.subarray(0, 30), 1]] as const) {
      const f = damaged(bytes);
      for (const mode of [[], ['--json'], ['--folded', join(dir, 'x.folded')]]) {
        const r = await cli(['report', f, ...mode], { timeoutMs: 30_000 });
        expect(r.signal).toBeNull();
        expectClear({ code: r.code ?? -1, err: r.stderr, out: r.stdout.length }, `bin ${mode.join(' ')}`);
        expect(r.code).toBe(code);
      }
    }
  }, 120_000);
});

/** A gzip member of MiB mebibytes of spaces, made a mebibyte at a time (not held whole). */
async function gzipOfSpaces(mib: number): Promise<Buffer> {
  const gz = createGzip({ level: 1 });
  const parts: Buffer[] = [];
  gz.on('data', (d: Buffer) => parts.push(d));
  const done = new Promise(resolve => gz.on('end', resolve));
  const mebibyte = Buffer.alloc(1 << 20, 0x20);
  for (let i = 0; i < mib; i++) if (!gz.write(mebibyte)) await new Promise(resolve => gz.once('drain', resolve));
  gz.end();
  await done;
  return Buffer.concat(parts);
}

function range(a: number, b: number): number[] {
  return Array.from({ length: Math.max(0, b - a + 1) }, (_, i) => a + i);
}
