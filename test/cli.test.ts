// Bad input gets one clear line and a non-zero exit, never a stack trace; --help works everywhere.
import { createServer, type AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { cli, testPinDir } from './helpers.js';

const oneLine = (stderr: string) => {
  const lines = stderr.trim().split('\n');
  expect(lines, stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^procimage: /);
  expect(stderr).not.toMatch(/^\s+at |node:internal|Error:/m);
  return lines[0];
};

describe('bad input', () => {
  const pinDir = testPinDir();
  it.each([
    [['ctl', '-a', '-s', '99'], /-s N must be from 1 to 50, got 99/],
    [['ctl', '-a', '-s', '0'], /-s N must be from 1 to 50, got 0/],
    [['ctl', '-a', '-s', 'abc'], /-s N must be a whole number, got 'abc'/],
    [['ctl', '-a', '-s', '51'], /got 51/],
    [['ctl', '-a', '-p', '-5'], /-p PID must be from 1/],
    [['ctl', '-a', '-k', '2'], /-k must be from 0 to 1, got 2/],
    [['ctl', '-a', '-t', 'soon'], /-t must be a number of seconds/],
    [['ctl', '-a', '-p', '1', '-P', '1'], /at most one of -p, -P, -c, --cgroup, --container and -o/],
    [['trace', '--cgroup', 'x', '-o', '-s', '5'], /at most one of -p, -P, -c, --cgroup, --container and -o/],
    [['ctl', '-a', '-p', '999999999'], /no thread 999999999/],
    [['ctl', '-a', '-P', '999999999'], /no process 999999999/],
    [['ctl', '-a', '-c', '4000'], /-c needs a CPU number from 0 to \d+, got 4000/],
    [['ctl', '-a', '--interval', '0', '--pin-dir', pinDir], /--interval must be a number of seconds >= 0.1, got '0'/],
    [['ctl', '-a', '-S', '--interval', '0.05', '--pin-dir', pinDir], /--interval must be a number of seconds >= 0.1, got '0.05'/],
    [['ctl', '-a', '--interval', 'often', '--pin-dir', pinDir], /--interval must be a number of seconds >= 0.1, got 'often'/],
    [['trace', '--interval', '0', '--', 'true'], /--interval must be a number of seconds >= 0.1, got '0'/],
    [['ctl', '-d', '-S'], /targets and categories go with -a/],
    [['ctl'], /exactly one of -a \(activate\), -d \(deactivate\), -f \(finish\), --status/],
    [['ctl', '-a', '-d'], /exactly one of/],
    [['ctl', '-f', '--pin-dir', pinDir], /no procimage attach is running for/],
    [['trace', '-p', '999999999'], /no thread 999999999/],
    [['trace', '-P', '1', '--', 'true'], /either a target .* or a command after --, not both/],
    [['trace', '--duration', '-3'], /--duration must be a number of seconds >= 0/],
    [['trace', '--ring-size', '3'], /--ring-size must be a power of two, got 3/],
    [['trace', '-r', '--top', '3', '-P', '1'], /--top ranks every process: it does not go with -p, -P, -c or a command/],
    [['trace', '-r', '--top', '3', '--', 'true'], /--top ranks every process/],
    [['trace', '-k', '0', '--top', '3'], /--top ranks resource use: it goes with -r/],
    [['trace', '--top', '0'], /--top N must be from 1 to 10000, got 0/],
    [['ctl', '-a', '-r', '--top', 'many'], /--top N must be a whole number, got 'many'/],
    [['ctl', '-a', '-r', '-p', '1', '--top', '5'], /--top ranks every process/],
    [['ctl', '-d', '--top', '5'], /targets and categories go with -a/],
    [['attach'], /attach needs categories/],
    [['attach', '-k', '--pin-dir', 'relative/dir'], /--pin-dir must be an absolute path/],
    [['attach', '-k', '--pin-dir', '/tmp/not-bpffs'], /not on a BPF filesystem/],
    [['no-such-command'], /unknown command 'no-such-command'/],
    [['trace', '--listen', '999.1.1.1:80', '--', 'true'], /--listen: '999\.1\.1\.1' is not an IP address/],
    [['attach', '-k', '--listen', 'nowhere'], /--listen takes HOST:PORT or PORT/],
    [['trace', '--no-such-flag'], /unknown option '--no-such-flag'/],
    [['trace', '-r', '--resource-source', 'bpf'], /argument 'bpf' is invalid\. Allowed choices are auto, iter, proc/],
  ])('%j', async (args, msg) => {
    const r = await cli(args as string[]);
    expect(r.code).not.toBe(0);
    expect(oneLine(r.stderr)).toMatch(msg);
  });
});

describe('a port in use', () => {
  it('is one clear line, and nothing is left behind', async () => {
    const server = createServer();
    await new Promise<void>(r => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as AddressInfo).port;
    try {
      const r = await cli(['trace', '--listen', `127.0.0.1:${port}`, '--', 'true']);
      expect(r.code).toBe(1);
      expect(oneLine(r.stderr)).toBe(`procimage: --listen: 127.0.0.1:${port} is already in use`);
    } finally {
      server.close();
    }
  });
});

describe('without privileges', () => {
  const nobody = { uid: 65534, gid: 65534 };
  it.each([[['trace', '--', 'true']], [['attach', '-k']]])('%j says it needs root', async args => {
    const r = await cli(args, nobody);
    expect(r.code).toBe(1);
    expect(oneLine(r.stderr)).toMatch(/needs root \(or CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN\); missing CAP_BPF/);
  });

  it('ctl cannot reach the root-only control socket', async () => {
    const r = await cli(['ctl', '-d'], nobody);
    expect(r.code).toBe(1);
    expect(oneLine(r.stderr)).toMatch(/permission denied .* needs root|no procimage attach is running/);
  });
});

describe('--help', () => {
  it.each([['attach', /-S, --schedule/], ['ctl', /-t, --time <SEC>/], ['trace', /--duration <SEC>/]])(
    '%s --help lists its flags', async (cmd, flag) => {
      const r = await cli([cmd, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(flag);
    });

  it.each(['trace', 'ctl'])('%s --help says what --interval and --top default to', async cmd => {
    const r = await cli([cmd, '--help']);
    const text = r.stdout.replace(/\s+/g, ' '); // commander wraps descriptions
    expect(text).toMatch(/--interval <SEC> how often aggregates \(schedule, syscall, lock, resource\) are reported \(default 1\)/);
    expect(text).toMatch(/--top <N> every process .* \(default 10\)/);
  });

  it.each(['trace', 'attach'])('%s --help offers --resource-source, the iterator where the kernel has one by default', async cmd => {
    const text = (await cli([cmd, '--help'])).stdout.replace(/\s+/g, ' ');
    expect(text).toMatch(/--resource-source <SRC> .* \(choices: "auto", "iter", "proc", default: "auto"\)/);
  });
});
