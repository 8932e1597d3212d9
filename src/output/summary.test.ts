import { describe, expect, it } from 'vitest';
import { wrapChain } from './summary.js';

describe("the summary's user: chains", () => {
  const lead = ' '.repeat(40) + 'user: ';
  const frames = ['clock_nanosleep (clock_nanosleep.c:71)', '__nanosleep (nanosleep.c:25)', 'b (runsleep.c:24)',
    'a (runsleep.c:30)', 'main (runsleep.c:36)', '__libc_start_call_main (libc_start_call_main.h:58)',
    '__libc_start_main (libc-start.c:360)', '_start (runsleep)'];

  it('wrap at the width, each line under the first frame, every frame whole and in order', () => {
    const lines = wrapChain(lead, frames, 100);
    expect(lines.length).toBeGreaterThan(1);
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(100);
    expect(lines[0].startsWith(lead + frames[0] + ' ←')).toBe(true);
    for (const l of lines.slice(1)) expect(l).toMatch(new RegExp(`^ {${lead.length}}\\S`));
    expect(lines.map(l => l.trim()).join(' ').replace(/^user: /, '')).toBe(frames.join(' ← '));
  });

  it('stay one line when they fit, and give a frame longer than the width a line of its own', () => {
    expect(wrapChain(lead, frames.slice(0, 2), 200)).toEqual([`${lead}${frames[0]} ← ${frames[1]}`]);
    const long = 'x'.repeat(120);
    const lines = wrapChain(lead, [frames[0], long, frames[1]], 100);
    expect(lines).toEqual([`${lead}${frames[0]} ←`, `${' '.repeat(lead.length)}${long} ←`, `${' '.repeat(lead.length)}${frames[1]}`]);
  });
});
