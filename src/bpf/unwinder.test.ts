import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { demangle } from './unwinder.js';

describe('demangle', () => {
  it('reads C++ names as c++filt does', () => {
    const names = ['_ZN6toplev4mainEiPPc', '_Z4funcIiEvT_', '_ZZ4mainENKUliE_clEi', '_ZN12_GLOBAL__N_13fooEv',
      '_ZN2ns6WorkerIiE3runEv.constprop.0', '_ZNSt6vectorIiSaIiEE9push_backEOi'];
    // c++filt: binutils' own front end to the demangler, an independent program (it asks for verbose
    // output too, which only changes std:: abbreviations and Rust hashes: none here)
    const oracle = execFileSync('c++filt', names).toString().trim().split('\n');
    expect(names.map(demangle)).toEqual(oracle);
    expect(oracle[0]).toBe('toplev::main(int, char**)');
  });

  it('reads Rust names, legacy and v0, without the hash; and leaves any other name as it is', () => {
    expect(demangle('_ZN3std2rt10lang_start17h1234567890abcdefE')).toBe('std::rt::lang_start');
    expect(demangle('_RNvCs1234_7mycrate3foo')).toBe('mycrate::foo');
    expect(demangle('_ZlsRSoPKc')).toBe('operator<<(std::ostream&, char const*)');
    expect(demangle('main')).toBe('main');
    expect(demangle('_Zgarbage')).toBe('_Zgarbage'); // not a valid mangling: as it is
    expect(demangle('__libc_start_main@@GLIBC_2.34')).toBe('__libc_start_main'); // versions go, as perf prints them
    expect(demangle('_Z3fooi@@V1')).toBe('foo(int)');
  });

  it('gives a very long name whole', () => {
    // 401 parameters of one class with a long name, the 400 after the first by reference back to it
    // ("S_"): a short mangled name, a demangled one far longer than the helper's first buffer
    const cls = 'ALongClassName'.repeat(4);
    const name = demangle(`_Z1f${cls.length}${cls}${'S_'.repeat(400)}`);
    expect(name).toBe(`f(${Array(401).fill(cls).join(', ')})`);
    expect(name.length).toBeGreaterThan(16 << 10);
  });
});
