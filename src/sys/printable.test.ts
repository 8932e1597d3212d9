import { describe, expect, it } from 'vitest';
import { oneLineMessage, printable, shown } from './printable.js';
import { commandLine, shellWord } from '../output/format.js';

describe('printable', () => {
  it('is the identity on ordinary text, escapes every control visibly', () => {
    for (const s of ['runsleep', 'kworker/u4:2', 'naïve 名前 ✓', '']) expect(printable(s)).toBe(s);
    expect(printable('a\nb\tc\rd\\e')).toBe(String.raw`a\nb\tc\rd\\e`);
    expect(printable('\x1b[31m\x07\x7f\u009b\u2028')).toBe(String.raw`\x1b[31m\x07\x7f\u009b\u2028`);
    expect(printable('x\ud800y\udc00')).toBe(String.raw`x\ud800y\udc00`); // lone surrogates
    expect(printable('😀')).toBe('😀'); // a pair is a character
  });
  it('shortens what it echoes', () => {
    expect(shown('x'.repeat(1000))).toBe(`${'x'.repeat(80)}…(1000 characters)`);
    expect(oneLineMessage(`bad '${'y'.repeat(5000)}' and\nmore`).length).toBeLessThan(700);
    expect(oneLineMessage('two\nlines')).toBe(String.raw`two\nlines`);
  });
  it('shellWord quotes a word with controls as bash $\'...\'', () => {
    expect(shellWord('plain')).toBe('plain');
    expect(shellWord("it's")).toBe(`'it'\\''s'`);
    expect(shellWord("a\n'b'")).toBe(String.raw`$'a\n\'b\''`);
    expect(commandLine(['x', '\x1b'.repeat(100)], 20)).toMatch(/^x \$'(\\x1b)+…$/); // not cut inside an escape
  });
});
