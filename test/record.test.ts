// --record and procimage report on the real kernel: a recording read back is what the live run
// printed; a writer killed mid-way, a cut or damaged file, a full disk; ctl -a --record; selections.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { parseMemberHeader } from '../src/output/recording/format.js';
import { RecordingReader } from '../src/output/recording/reader.js';
import { Attach, CLI, cli, tempDir, waitFor, workload } from './helpers.js';

type Rec = Record<string, unknown> & { type: string; pid: number; tgid: number; ts_ns: number };
const parse = (out: string): Rec[] => out.trim().split('\n').filter(Boolean).map(l => JSON.parse(l));
const dir = tempDir();
afterAll(() => execFileSync('rm', ['-rf', dir]));

const live: Attach[] = [];
afterEach(async () => { for (const a of live.splice(0)) await a.cleanup(); });

/** Every category, every interval: a recording with each kind of record in it. */
const ALL = ['-a', '-k', '1', '-s', '5', '--interval', '0.2'];

/** Where each member of a recording starts, and where its compressed data does (after its header). */
function members(b: Buffer): Array<{ at: number; data: number; end: number }> {
  const out: Array<{ at: number; data: number; end: number }> = [];
  for (let o = 0; o < b.length;) {
    const h = parseMemberHeader(b.subarray(o));
    if (!h.ok) throw new Error(`no member at ${o}`);
    // fixed 10 bytes, XLEN, the extra field, the header CRC
    out.push({ at: o, data: o + 12 + b.readUInt16LE(o + 10) + 2, end: o + h.info.memberBytes });
    o += h.info.memberBytes;
  }
  return out;
}

describe('trace --record, then report', () => {
  it('report --json is the live --json of the same run, byte for byte, and the summary the same; the file is 0600 and >5x smaller', async () => {
    const rec = join(dir, 'json.rec');
    const r = await cli(['trace', '--json', '--record', rec, ...ALL, '--', workload('runsleep'), '3', '50']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`recorded \\d+ records to ${rec}`));
    const rep = await cli(['report', '--json', rec]);
    expect(rep.code).toBe(0);
    expect(rep.stdout).toBe(r.stdout);
    // the live summary is on stderr with --json, between the command's notes; the report's the same
    expect(r.stderr).toContain(rep.stderr);
    expect(rep.stderr).toMatch(/── procimage summary/);
    const types = new Set(parse(rep.stdout).map(x => x.type));
    for (const t of ['exec', 'exit', 'oncpu', 'offcpu', 'sched', 'resource', 'syscall_seq', 'syscall_stat']) expect(types).toContain(t);
    expect(statSync(rec).mode & 0o777).toBe(0o600);
    expect(statSync(rec).size * 5).toBeLessThan(Buffer.byteLength(r.stdout));
  });

  it('report prints the text the live run printed: events, the tables of every interval, the summary', async () => {
    const rec = join(dir, 'text.rec');
    const r = await cli(['trace', '--record', rec, ...ALL, '--', workload('runsleep'), '3', '50']);
    expect(r.code).toBe(0);
    const rep = await cli(['report', rec]);
    expect(rep.code).toBe(0);
    expect(rep.stdout).toBe(r.stdout);
    expect(rep.stdout).toMatch(/── sched at /);
    expect(rep.stdout).toMatch(/── procimage summary/);
    const summary = await cli(['report', '--summary', rec]);
    expect(summary.stdout).toBe(r.stdout.slice(r.stdout.indexOf('── procimage summary')));
  });

  it('a recorded run has the records a --json run of the same workload has: types, counts, fields', async () => {
    const rec = join(dir, 'same.rec');
    const [plain, recorded] = await Promise.all([
      cli(['trace', '--json', '-k', '0', '--', workload('children')]),
      cli(['trace', '--json', '--record', rec, '-k', '0', '--', workload('children')]),
    ]);
    const a = parse(plain.stdout), b = parse((await cli(['report', '--json', rec])).stdout);
    expect(parse(recorded.stdout)).toEqual(b);
    const shape = (rs: Rec[]) => {
      const m = new Map<string, { keys: string; n: number }>();
      for (const x of rs.filter(x => ['fork', 'exec', 'exit'].includes(x.type))) {
        m.set(x.type, { keys: Object.keys(x).join(','), n: (m.get(x.type)?.n ?? 0) + 1 });
      }
      return Object.fromEntries(m);
    };
    expect(shape(b)).toEqual(shape(a));
    // migrations are the scheduler's choice, run by run: one of the two may have none
    const types = (rs: Rec[]) => new Set(rs.map(x => x.type).filter(t => t !== 'migrate'));
    expect(types(b)).toEqual(types(a));
    for (const t of types(a)) {
      expect(Object.keys(b.find(x => x.type === t)!).sort(), t).toEqual(Object.keys(a.find(x => x.type === t)!).sort());
    }
    expect(b.filter(x => x.type === 'exit').map(x => x.exit_code).sort()).toEqual(a.filter(x => x.type === 'exit').map(x => x.exit_code).sort());
  });

  it('selects threads, processes, names and seconds', async () => {
    const rec = join(dir, 'select.rec');
    const r = await cli(['trace', '--json', '--record', rec, '-k', '0', '-S', '--', workload('children')]);
    const all = parse(r.stdout);
    const child = all.find(x => x.type === 'exit' && x.exit_code === 5)!.tgid;
    const sel = parse((await cli(['report', '--json', '--tgid', String(child), rec])).stdout);
    expect(sel.some(x => x.type === 'exit' && x.tgid === child)).toBe(true);
    expect(sel.some(x => x.type === 'fork' && x.child_tgid === child)).toBe(true); // its birth, in its parent
    for (const x of sel) {
      const context = x.type === 'lost' || x.type === 'module' || x.scope === 'system';
      if (!context) expect(x.tgid === child || x.child_tgid === child, JSON.stringify(x)).toBe(true);
    }
    expect(sel.length).toBeLessThan(all.length);
    const none = parse((await cli(['report', '--json', '--comm', 'no-such-comm', rec])).stdout);
    expect(none.every(x => x.type === 'lost' || x.type === 'module' || x.scope === 'system')).toBe(true);
    // --from/--to: what overlaps the window (seconds since the start of collection)
    const t0 = BigInt(JSON.parse(execFileSync('sh', ['-c', `zcat ${rec} | head -1`]).toString()).ts_ns);
    const last = all.reduce((m, x) => (x.ts_ns > m ? x.ts_ns : m), 0);
    const mid = Number((BigInt(last) - t0) / 2n) / 1e9;
    const late = parse((await cli(['report', '--json', '--from', String(mid), rec])).stdout);
    const expected = all.filter(x => x.type === 'lost' || x.type === 'module' || x.scope === 'system' ||
      Number(BigInt((x.end_ts_ns as number | null) ?? x.ts_ns) - t0) >= mid * 1e9);
    expect(late).toEqual(expected);
    const text = await cli(['report', '--summary', '--tgid', String(child), rec]);
    expect(text.stdout).toMatch(new RegExp(`selected +processes ${child} \\(lost and kernel counts are the whole recording's\\)`));
    expect(text.stdout).toMatch(/exit code 5/);
    expect(text.stdout).not.toMatch(/exit code 3/);
  });
});

describe('recordings that end early', () => {
  it('a writer SIGKILLed mid-way leaves a recording report reads up to its last chunk, with a warning', async () => {
    const rec = join(dir, 'killed.rec');
    const p = spawn(CLI, ['trace', '--record', rec, '-k', '0', '-S', '--', workload('runsleep'), '200', '20'],
      { stdio: 'ignore', detached: true });
    try {
      // two chunks of records written (sealed every second)
      await waitFor(() => {
        let r: RecordingReader;
        try {
          r = RecordingReader.open(rec);
        } catch {
          return false; // not there yet, or no header yet
        }
        try {
          return [...r.chunks()].filter(c => c.lines.length).length >= 2;
        } finally {
          r.close();
        }
      }, 'two chunks in the recording', 20_000);
    } finally {
      process.kill(-p.pid!, 'SIGKILL'); // procimage and the command it runs
    }
    const rep = await cli(['report', rec]);
    expect(rep.code).toBe(3);
    expect(rep.stderr.trim().split('\n')).toHaveLength(1);
    expect(rep.stderr).toMatch(/warning: .*killed\.rec is incomplete: .*reported what could be read: \d+ chunks/);
    expect(rep.stdout).toMatch(/off CPU .* S sleeping · do_nanosleep/);
    expect(rep.stdout).toMatch(/kernel +not known: the recording ends before its summary/);
    const json = await cli(['report', '--json', rec]);
    expect(json.code).toBe(3);
    expect(parse(json.stdout).filter(x => x.type === 'offcpu').length).toBeGreaterThanOrEqual(2);
  });

  it('a cut file is read to its last whole chunk (exit 3); damage before the end and other files are one line (exit 1)', async () => {
    const rec = join(dir, 'whole.rec');
    const r = await cli(['trace', '--record', rec, ...ALL, '--', workload('runsleep'), '8', '150']);
    expect(r.code).toBe(0);
    const bytes = readFileSync(rec);
    const m = members(bytes);
    expect(m.length).toBeGreaterThanOrEqual(3);
    const last = m[m.length - 1];
    const cut = join(dir, 'cut.rec');
    writeFileSync(cut, bytes.subarray(0, (last.data + last.end) >> 1));
    const c = await cli(['report', cut]);
    expect(c.code).toBe(3);
    expect(c.stderr).toMatch(/incomplete: the file ends inside chunk/);
    expect(c.stdout).toMatch(/── procimage summary/);

    const damaged = join(dir, 'damaged.rec');
    const bad = Buffer.from(bytes);
    bad[(m[1].data + m[1].end) >> 1] ^= 0xff;
    writeFileSync(damaged, bad);
    const d = await cli(['report', '--json', damaged]);
    expect(d.code).toBe(1);
    expect(d.stderr.trim().split('\n')).toHaveLength(1);
    expect(d.stderr).toMatch(/damaged at byte \d+: chunk 1 does not inflate/);
    const header = Buffer.from(bytes);
    header[m[1].at + 20] ^= 0xff; // inside its extra field
    writeFileSync(damaged, header);
    const h = await cli(['report', '--summary', damaged]); // chunks skipped by their headers alone
    expect(h.code).toBe(1);
    expect(h.stderr).toMatch(/damaged at byte \d+: a chunk header whose CRC does not match/);
    const zeros = join(dir, 'zeros.rec');
    writeFileSync(zeros, Buffer.concat([bytes.subarray(0, last.at), Buffer.alloc(last.end - last.at)]));
    const z = await cli(['report', zeros]);
    expect(z.code).toBe(3);
    expect(z.stderr).toMatch(/incomplete: zeros from byte \d+ on/);

    const text = join(dir, 'not.rec');
    writeFileSync(text, '{"type":"exit"}\n');
    for (const f of [text, dir, join(dir, 'missing.rec')]) {
      const n = await cli(['report', f]);
      expect(n.code).toBe(1);
      expect(n.stderr.trim().split('\n')).toHaveLength(1);
      expect(n.stderr).not.toMatch(/internal error|at .*\.js/);
    }
  });

  it('a full disk ends the recording where it filled, says so once, and trace goes on', async () => {
    const mnt = join(dir, 'small');
    mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mnt]);
    try {
      const rec = join(mnt, 'full.rec');
      // a first chunk of a few records (sealed a second after the first), then ~1500 short processes,
      // every record of each: 250 KB and more even compressed
      const r = await cli(['trace', '--record', rec, '-k', '1', '--', 'sh', '-c', 'sleep 3; i=0; while [ $i -lt 1500 ]; do /bin/true; i=$((i+1)); done'],
        { timeoutMs: 120_000 });
      expect(r.code).toBe(0);
      expect(r.stderr.match(/warning: recording .*ENOSPC/g)).toHaveLength(1);
      expect(r.stderr).toMatch(/records not written/);
      expect(r.stdout).toMatch(/── procimage summary/);
      const rep = await cli(['report', '--json', rec]);
      expect(rep.code).toBe(3);
      expect(parse(rep.stdout).filter(x => x.type === 'exec').map(x => (x.argv as string[])[0]).slice(0, 2)).toEqual(['sh', 'sleep']);
    } finally {
      execFileSync('umount', ['-l', mnt]);
    }
  });
});

describe('ctl -a --record', () => {
  it('the attach records the activation to a path taken from ctl\'s working directory, and ends it at ctl -d', async () => {
    const a = await Attach.start(['-k', '-S']);
    live.push(a);
    const target = spawn(workload('runsleep'), ['100', '20'], { stdio: 'ignore' });
    try {
      const cwd = join(dir, 'ctlcwd');
      mkdirSync(cwd);
      const ctl = (args: string[]) => new Promise<{ code: number | null; out: string }>(resolve => {
        const p = spawn(CLI, ['ctl', ...args, '--pin-dir', a.pinDir], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        p.stdout.on('data', d => { out += d; });
        p.stderr.on('data', d => { out += d; });
        p.on('close', code => resolve({ code, out }));
      });
      const on = await ctl(['-a', '-P', String(target.pid), '-k', '0', '-S', '--record', 'rel.rec']);
      expect(on.code, on.out).toBe(0);
      expect(on.out).toContain(`recording to ${join(cwd, 'rel.rec')}`);
      await waitFor(() => a.stdout.includes('sleeping'), 'an off-CPU interval of the target', 10_000);
      const off = await ctl(['-d']);
      expect(off.code, off.out).toBe(0);
      expect(off.out).toMatch(new RegExp(`recorded \\d+ records to ${join(cwd, 'rel.rec')}`));
      const rep = await cli(['report', '--json', join(cwd, 'rel.rec')]);
      expect(rep.code).toBe(0);
      const recs = parse(rep.stdout);
      expect(recs.some(x => x.type === 'offcpu' && x.tgid === target.pid)).toBe(true);
      const head = JSON.parse(execFileSync('sh', ['-c', `zcat ${join(cwd, 'rel.rec')} | head -1`]).toString());
      expect(head).toMatchObject({ type: 'recording', format: 1, policy: { target: { kind: 'tgid', tgid: target.pid } } });
      // the next activation records nothing unless asked
      expect((await ctl(['-a', '-P', String(target.pid), '-S'])).code).toBe(0);
      expect((await ctl(['-d'])).out).not.toMatch(/recorded/);
      // and a path the attach cannot write is refused, with nothing activated
      const bad = await ctl(['-a', '-P', String(target.pid), '--record', '/proc/no/such/file']);
      expect(bad.code).toBe(1);
      expect(bad.out).toMatch(/cannot record to \/proc\/no\/such\/file/);
      expect((await ctl(['--status'])).out).toMatch(/"active": null/);
    } finally {
      target.kill('SIGKILL');
    }
  });
});
