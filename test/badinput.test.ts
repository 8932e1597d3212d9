// Bad input on the command line, property-based (fast-check): every flag and argument of every
// subcommand with random, out-of-range, conflicting and huge values. In-process against the parser
// (src/cli/program.ts) with runners that only check what the real ones check before loading
// anything; then a few of the refused command lines through bin/procimage for real. Either way:
// refused in one line on stderr with a non-zero status, never a stack trace, never a hang; or
// accepted with values the runners can use.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runCli, type Runners } from '../src/cli/program.js';
import { runCtl } from '../src/cli/ctl.js';
import { checkTrace } from '../src/control/trace.js';
import { parseListen } from '../src/output/http.js';
import { CATEGORIES, MIN_INTERVAL_SEC, SYSCALL_SEQ_MAX, TOP_MAX } from '../src/collect/policy.js';
import { METRICS_SERIES_MAX, METRICS_TOP_MAX } from '../src/output/prometheus/limits.js';
import type { ControlConnection } from '../src/control/client.js';
import { cli } from './helpers.js';

/** Values worth trying for any flag: edges of every range the CLI has, numbers JS reads oddly, junk. */
const NASTY = [
  '', ' ', '0', '-0', '1', '-1', '2', '3', '7', '16', '50', '51', '1023', '1024', '1025', '4095', '4096', '10000', '10001',
  '0.05', '0.1', '1.5', '1e3', '1e309', '-1e309', 'NaN', 'Infinity', '-Infinity', '0x10', '0b1', '0o7', ' 5', '5 ', '+5',
  '9007199254740993', '99999999999999999999999', '1073741823', '1073741824', '4294967297', '-2147483649',
  'abc', '-', '--', '-p', '--pin-dir', 'true', 'false', 'null', 'undefined', '[]', '{}', '__proto__', 'constructor',
  '/', '.', '..', '/nonexistent/dir/file', '/proc/self/mem', '/sys/fs/bpf', 'relative/dir', '/tmp', '/dev/null',
  '127.0.0.1:0', '127.0.0.1:65536', '[::1]:9', '[::1', ':80', '0.0.0.0:1', '999.1.1.1:80', 'localhost:8080', '80', 'host:port',
  'dwarf', 'fp', 'none', 'auto', 'iter', 'proc', '1,2,3', ',', '1,,2', '-1,2', 'comm,\u0001x',
  '\u001b[31mred\u001b[0m', 'line\nbreak', '\ud800', '名前', 'x'.repeat(100_000), '9'.repeat(5000),
];
const FLAGS = {
  global: ['-v', '--verbose', '-V', '--version', '-h', '--help'],
  attach: ['-a', '--all', '-k', '--keytime', '-l', '--lock', '-r', '--resource', '-s', '--syscall', '-S', '--schedule', '--pin-dir',
    '--json', '--stacks', '--ring-size', '--resource-source', '--listen', '--metrics-threads', '--metrics-grace', '--metrics-top', '--metrics-max-series', '--bpf-stats'],
  policy: ['-p', '--pid', '-P', '--tgid', '-c', '--cpuid', '-k', '--keytime', '-l', '--lock', '-r', '--resource', '-s', '--syscall',
    '-S', '--schedule', '-m', '--myproc', '--interval', '--stack', '--top'],
  ctl: ['-a', '--activate', '-d', '--deactivate', '-f', '--finish', '--status', '-t', '--time', '--pin-dir', '--record', '--json'],
  trace: ['-a', '--all', '--json', '--stacks', '--duration', '--record', '--perfetto', '--pprof', '--folded', '--ring-size',
    '--resource-source', '--listen', '--metrics-threads', '--metrics-grace', '--metrics-top', '--metrics-max-series', '--bpf-stats'],
  report: ['--json', '--summary', '--stacks', '--pid', '--tgid', '--comm', '--from', '--to', '--perfetto', '--pprof', '--folded',
    '--listen', '--html'],
};
const SUBCOMMANDS: Record<string, string[]> = {
  attach: [...FLAGS.attach, ...FLAGS.global],
  ctl: [...FLAGS.ctl, ...FLAGS.policy, ...FLAGS.global],
  trace: [...FLAGS.trace, ...FLAGS.policy, ...FLAGS.global],
  report: [...FLAGS.report, ...FLAGS.global],
};

/** Values each flag takes, so that random command lines are accepted often enough to check what is. */
const GOOD: Record<string, string[]> = {
  '-p': [String(process.pid), '1'], '--pid': ['1', String(process.pid), '1,2'], '-P': ['1'], '--tgid': ['1', '1,2'], '-c': ['0', '1'],
  '--cpuid': ['0'], '-k': ['0', '1'], '--keytime': ['1'], '-s': ['1', '10', '50'], '--syscall': ['5'], '--interval': ['0.1', '1', '2.5'],
  '--stack': ['dwarf', 'dwarf-copy', 'fp', 'none'], '--top': ['1', '5', '10000'], '-t': ['0', '2.5'], '--time': ['1'],
  '--pin-dir': ['/sys/fs/bpf/procimage-fuzz'], '--ring-size': ['1', '16', '1024'], '--resource-source': ['auto', 'iter', 'proc'],
  '--listen': ['127.0.0.1:9', '9', '[::1]:9'], '--metrics-grace': ['0', '5'], '--metrics-top': ['0', '20'], '--metrics-max-series': ['0', '5000'], '--duration': ['1', '0.5'], '--from': ['0', '1'],
  '--to': ['2', '1e3'], '--comm': ['a,b', 'sh'], '--record': ['/tmp/procimage-fuzz.rec'], '--perfetto': ['/tmp/procimage-fuzz.json'],
  '--pprof': ['/tmp/procimage-fuzz.pb.gz'], '--folded': ['/tmp/procimage-fuzz.folded'], '--html': ['/tmp/procimage-fuzz.html'],
};

/** Any argv string (execve cannot pass a NUL). */
const anyString = fc.oneof(fc.constantFrom(...NASTY), fc.string({ unit: 'binary', maxLength: 40 }), fc.integer().map(String),
  fc.double().map(String)).map(s => s.replaceAll('\0', ''));

/** One element of a command line: a known flag, with or without a value (separate or after =), or anything. */
const element = (flags: string[]) => fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...flags.filter(f => GOOD[f])).chain(f => fc.constantFrom(...GOOD[f]).map(v => [f, v])) },
  { weight: 4, arbitrary: fc.tuple(fc.constantFrom(...flags), anyString).map(([f, v]) => [f, v]) },
  { weight: 4, arbitrary: fc.constantFrom(...flags).map(f => [f]) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...flags.filter(f => f.startsWith('--'))), anyString).map(([f, v]) => [`${f}=${v}`]) },
  { weight: 1, arbitrary: anyString.map(s => [s]) },
);

/** A command line: a subcommand (or junk, or none) and up to 8 elements, a trailing -- CMD sometimes. */
const argvs = fc.oneof(
  { weight: 9, arbitrary: fc.constantFrom(...Object.keys(SUBCOMMANDS)).chain(sub => fc.tuple(
    fc.array(element(SUBCOMMANDS[sub]), { maxLength: 8 }),
    sub === 'trace' ? fc.option(fc.array(anyString, { minLength: 1, maxLength: 3 })) : fc.constant(null),
    sub === 'report' ? anyString.map(f => [`/nonexistent-recording/${f}`])
      : sub === 'ctl' ? fc.option(fc.constantFrom('-a', '-d', '-f', '--status')).map(op => (op ? [op] : [])) // its one operation, often
        : fc.constant([] as string[]),
  ).map(([els, cmd, file]) => [sub, ...file, ...els.flat(), ...(cmd ? ['--', ...cmd] : [])])) },
  { weight: 1, arbitrary: fc.array(anyString, { maxLength: 6 }) },
);

interface Outcome { code: number; out: string; err: string; ran?: string }

/** The values a runner is handed: what the real one relies on without checking again. */
function checkAccepted(kind: string, o: Record<string, unknown>): void {
  const inRange = (v: unknown, lo: number, hi: number) => v === undefined || (Number.isInteger(v) && (v as number) >= lo && (v as number) <= hi);
  const seconds = (v: unknown) => v === undefined || (typeof v === 'number' && Number.isFinite(v) && v >= 0);
  if (kind === 'attach' || kind === 'trace') {
    expect((o.categories as string[]).length).toBeGreaterThan(0);
    for (const c of o.categories as string[]) expect(CATEGORIES).toContain(c);
    const ring = o.ringBytes as number;
    expect(ring >= 1 << 20 && ring <= 1 << 30 && (ring & (ring - 1)) === 0, `ring ${ring}`).toBe(true);
    expect(seconds(o.metricsGrace)).toBe(true);
    expect(inRange(o.metricsTop, 0, METRICS_TOP_MAX) && inRange(o.metricsMaxSeries, 0, METRICS_SERIES_MAX)).toBe(true);
  }
  if (kind === 'trace') {
    expect(inRange(o.syscallSeqLen, 1, SYSCALL_SEQ_MAX) && inRange(o.topN, 1, TOP_MAX) && seconds(o.durationSec)).toBe(true);
    expect(o.intervalSec as number).toBeGreaterThanOrEqual(MIN_INTERVAL_SEC);
  }
  if (kind === 'report') {
    const f = o.filter as { fromNs?: number; toNs?: number; pids?: Set<number> };
    expect(seconds(f.fromNs) && seconds(f.toNs)).toBe(true);
    if (f.fromNs !== undefined && f.toNs !== undefined) expect(f.fromNs).toBeLessThanOrEqual(f.toNs);
    for (const p of f.pids ?? []) expect(inRange(p, 0, 0x3fffffff)).toBe(true);
  }
}

/** A connection that answers like an attach: ctl then runs all its checks, in-process. */
function fakeConnection(pinDir: string): ControlConnection {
  return {
    pinDir, ready: Promise.resolve(), close() {},
    send: async () => ({ ok: true, description: 'x', collecting_after_issue_ns: 0, hooks: [], duration_ns: 0, records: {}, lost: {}, pid: 1 }),
  } as unknown as ControlConnection;
}

/** Runs argv through the parser with runners that check what the real ones check before loading anything. */
async function parse(argv: string[]): Promise<Outcome> {
  const o: Outcome = { code: -1, out: '', err: '' };
  const accept = (kind: string) => async (opts: object) => {
    checkAccepted(kind, opts as Record<string, unknown>);
    o.ran = kind;
    return 0;
  };
  const runners: Runners = {
    attach: async a => { if (a.listen !== undefined) parseListen(a.listen); return accept('attach')(a); },
    ctl: async c => { await runCtl(c, fakeConnection(c.pinDir)); return accept('ctl')(c); },
    trace: async t => { checkTrace(t); return accept('trace')(t); },
    report: async r => { if (r.listen !== undefined) parseListen(r.listen); return accept('report')(r); },
  };
  const hang = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`hangs: ${JSON.stringify(argv)}`)), 5000).unref());
  o.code = await Promise.race([runCli(argv, runners, { out: s => { o.out += s; }, err: s => { o.err += s; } }), hang]);
  return o;
}

/** A refusal as the brief of the CLI says: one line, the tool's name first, no trace of the code. */
function expectOneLine(r: { code: number | null; err: string }, argv: string[]): void {
  const what = `${JSON.stringify(argv).slice(0, 300)} -> ${r.err.slice(0, 2000)}`;
  expect(r.code, what).not.toBe(0);
  expect(r.err.endsWith('\n'), what).toBe(true);
  const lines = r.err.slice(0, -1).split('\n');
  expect(lines, what).toHaveLength(1);
  expect(lines[0], what).toMatch(/^procimage: /);
  expect(lines[0], what).not.toMatch(/internal error|\n\s+at |node:internal|TypeError|RangeError/);
  expect(lines[0].length, what).toBeLessThan(1000); // a huge value is not echoed whole
}

describe('command lines, random and hostile (in-process)', () => {
  const refused: string[][] = [];
  const accepted = new Map<string, number>();
  beforeAll(() => { vi.spyOn(console, 'log').mockImplementation(() => {}); });
  afterAll(() => { vi.restoreAllMocks(); });

  it('are refused in one line, or accepted with usable values', async () => {
    await fc.assert(fc.asyncProperty(argvs, async argv => {
      const r = await parse(argv);
      if (r.code === 0) {
        expect(r.ran !== undefined || r.out.length > 0, `${JSON.stringify(argv)}: exit 0 but nothing ran`).toBe(true);
        expect(r.err, JSON.stringify(argv)).toBe('');
        if (r.ran) accepted.set(r.ran, (accepted.get(r.ran) ?? 0) + 1);
      } else {
        expectOneLine(r, argv);
        if (refused.length < 400) refused.push(argv);
      }
    }), { numRuns: 1500, seed: Number(process.env.FC_SEED ?? Date.now() % 2 ** 31) });
    // not only refusals: every subcommand was reached with values it took
    if (process.env.FC_VERBOSE) console.error(`accepted ${JSON.stringify([...accepted])}, refused ${refused.length}+`);
    for (const sub of Object.keys(SUBCOMMANDS)) expect(accepted.get(sub), sub).toBeGreaterThan(0);
  });

  // what the random ones may miss: each flag of each subcommand, with each of the values above
  it.each(Object.keys(SUBCOMMANDS))('every flag of %s with every value worth trying', async sub => {
    for (const flag of SUBCOMMANDS[sub]) {
      if (['-h', '--help', '-V', '--version'].includes(flag)) continue;
      for (const v of NASTY) {
        const argv = [sub, ...(sub === 'report' ? ['/nonexistent-recording'] : []), flag, v];
        const r = await parse(argv);
        if (r.code !== 0) expectOneLine(r, argv);
      }
    }
  });

  it('a handful of the refused through bin/procimage, for real', async () => {
    // the refused above, and those that refuse with nothing run whatever the machine
    const sample = refused.filter(a => a[0] !== 'ctl' || a.includes('--help')).slice(0, 6);
    sample.push(['trace', '--ring-size', '9'.repeat(5000)], ['report', '/nonexistent', '--from', '5', '--to', '1'],
      ['ctl', '-a', '-s', 'x'.repeat(100_000)], ['attach', '-k', '--listen', '\u001b[2J:1']);
    for (const argv of sample) {
      const r = await cli(argv, { timeoutMs: 20_000 });
      expect(r.signal, JSON.stringify(argv)).toBeNull();
      expectOneLine({ code: r.code, err: r.stderr }, argv);
    }
  }, 120_000);
});
