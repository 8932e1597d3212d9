import { describe, expect, it } from 'vitest';
import { parseFrame, shortName, type ParsedFrame } from './frames.js';

const frame = (over: Partial<ParsedFrame>): ParsedFrame =>
  ({ kind: 'symbol', fn: null, offset: null, module: null, file: null, line: null, address: null, ...over });

describe('parseFrame: user frames', () => {
  it('takes a C frame apart, with and without line information', () => {
    expect(parseFrame('b+0x63 (runsleep) runsleep.c:24')).toEqual(frame({ fn: 'b', offset: 0x63, module: 'runsleep', file: 'runsleep.c', line: 24 }));
    expect(parseFrame('nanosleep+0x16 (libc.so.6)')).toEqual(frame({ fn: 'nanosleep', offset: 0x16, module: 'libc.so.6' }));
    expect(parseFrame('__vdso_clock_gettime+0x3a ([vdso])')).toEqual(frame({ fn: '__vdso_clock_gettime', offset: 0x3a, module: '[vdso]' }));
  });

  it('keeps demangled C++ names whole: spaces, commas, parentheses, templates, operators, lambdas', () => {
    const names = [
      'toplev::main(int, char**)',
      'void ns::drive<ns::Worker>(ns::Worker&, int)',
      'std::vector<int, std::allocator<int> >::push_back(int&&)',
      '(anonymous namespace)::foo()',
      'main::{lambda(int)#1}::operator()(int) const',
      'operator<<(std::ostream&, char const*)',
      'std::basic_ostream<char, std::char_traits<char> >& std::operator<< <std::char_traits<char> >(std::basic_ostream<char, std::char_traits<char> >&, char const*)',
      'Foo::operator+(Foo const&) const',
      'foo(int) [clone .cold]',
      'ns::Worker<std::pair<int, int> >::run() [clone .constprop.0]',
      'void (*std::signal_handler(int))(int)',
      'std::thread::_State_impl<std::thread::_Invoker<std::tuple<ns::Worker::spawn()::{lambda()#1}> > >::_M_run()',
      '<alloc::vec::Vec<T> as core::ops::drop::Drop>::drop',
      'std::rt::lang_start::{{closure}}',
    ];
    for (const fn of names) {
      expect(parseFrame(`${fn}+0x1c (cc1plus) toplev.cc:2278`), fn)
        .toEqual(frame({ fn, offset: 0x1c, module: 'cc1plus', file: 'toplev.cc', line: 2278 }));
      expect(parseFrame(`${fn}+0x0 (libstdc++.so.6)`), fn).toEqual(frame({ fn, offset: 0, module: 'libstdc++.so.6' }));
    }
  });

  it('reads a module whose name has parentheses or spaces of its own', () => {
    expect(parseFrame('f+0x1 (my lib (v2).so) b.c:3')).toEqual(frame({ fn: 'f', offset: 1, module: 'my lib (v2).so', file: 'b.c', line: 3 }));
  });

  it('reads a file offset where the file has no symbol, and a bare address where no file covers the frame', () => {
    expect(parseFrame('stress-ng+0x1a15')).toEqual(frame({ kind: 'module_offset', module: 'stress-ng', offset: 0x1a15 }));
    expect(parseFrame('libstdc++.so.6.0.30+0xd44a3')).toEqual(frame({ kind: 'module_offset', module: 'libstdc++.so.6.0.30', offset: 0xd44a3 }));
    expect(parseFrame('[vdso]+0x9a8')).toEqual(frame({ kind: 'module_offset', module: '[vdso]', offset: 0x9a8 }));
    expect(parseFrame('0x7f3a1c2b3d4e')).toEqual(frame({ kind: 'address', address: 0x7f3a1c2b3d4en }));
  });

  it('says what it cannot read, instead of making up a function', () => {
    expect(parseFrame('[unknown] (locks)')).toEqual(frame({ kind: 'unknown', module: 'locks' })); // written before module+offset
    expect(parseFrame('main (demo.c:32)').kind).toBe('unknown');
    expect(parseFrame('').kind).toBe('unknown');
  });
});

describe('parseFrame: kernel frames', () => {
  it('takes functions, modules and addresses apart', () => {
    expect(parseFrame('do_nanosleep+0x5e', 'kernel')).toEqual(frame({ fn: 'do_nanosleep', offset: 0x5e }));
    expect(parseFrame('vcpu_enter_guest+0x7b1 [kvm]', 'kernel')).toEqual(frame({ fn: 'vcpu_enter_guest', offset: 0x7b1, module: 'kvm' }));
    expect(parseFrame('do_execveat_common.isra.0+0x1a6', 'kernel')).toEqual(frame({ fn: 'do_execveat_common.isra.0', offset: 0x1a6 }));
    expect(parseFrame('0xffffffffc0a01234', 'kernel')).toEqual(frame({ kind: 'address', address: 0xffffffffc0a01234n }));
    expect(parseFrame('[unknown]', 'kernel')).toEqual(frame({ kind: 'unknown' }));
  });
});

describe('shortName', () => {
  it.each([
    ['toplev::main(int, char**)', 'toplev::main'],
    ['void ns::drive<ns::Worker>(ns::Worker&, int)', 'ns::drive<ns::Worker>'],
    ['ns::Worker::run(int)', 'ns::Worker::run'],
    ['std::vector<int, std::allocator<int> >::push_back(int&&)', 'std::vector<int, std::allocator<int> >::push_back'],
    ['(anonymous namespace)::foo()', '(anonymous namespace)::foo'],
    ['main::{lambda(int)#1}::operator()(int) const', 'main::{lambda(int)#1}::operator()'],
    ['Foo::operator()', 'Foo::operator()'],
    ['operator<<(std::ostream&, char const*)', 'operator<<'],
    ['std::basic_ostream<char, std::char_traits<char> >& std::operator<< <std::char_traits<char> >(std::basic_ostream<char, std::char_traits<char> >&, char const*)',
      'std::operator<< <std::char_traits<char> >'],
    ['bool std::operator< <int>(std::pair<int, int> const&, std::pair<int, int> const&)', 'std::operator< <int>'],
    ['Foo::operator->() const', 'Foo::operator->'],
    ['operator new(unsigned long)', 'operator new'],
    ['operator delete[](void*)', 'operator delete[]'],
    ['Foo::operator char const*() const', 'Foo::operator char const*'],
    ['Foo::bar() const &&', 'Foo::bar'],
    ['foo(int) [clone .cold]', 'foo'],
    ['ns::Worker<std::pair<int, int> >::run() [clone .constprop.0] [clone .isra.0]', 'ns::Worker<std::pair<int, int> >::run'],
    ['unsigned long ns::count<char>(char const*)', 'ns::count<char>'],
    ['<alloc::vec::Vec<T> as core::ops::drop::Drop>::drop', '<alloc::vec::Vec<T> as core::ops::drop::Drop>::drop'],
    ['std::rt::lang_start::{{closure}}', 'std::rt::lang_start::{{closure}}'],
    ['mycrate::foo', 'mycrate::foo'],
    ['__libc_start_main', '__libc_start_main'],
    ['burn.constprop.0', 'burn.constprop.0'],
    ['my_operator', 'my_operator'],
  ])('%s -> %s', (full, short) => {
    expect(shortName(full)).toBe(short);
  });
});
