# procimage: `make` sets everything up on a fresh Debian 12 as root (packages, npm ci, BPF objects,
# native helpers, TypeScript); `make test` runs every test; `make demo` runs the main job.
SHELL := /bin/bash
BUILD := build
CLANG ?= clang
CC ?= cc

# -idirafter the multiarch includes: <asm/unistd_64.h> (syscall numbers) and nothing that vmlinux.h defines
BPF_CFLAGS := -target bpf -mcpu=v3 -g -O2 -Wall -Werror -D__TARGET_ARCH_x86 -I$(BUILD) -Ibpf -idirafter /usr/include/x86_64-linux-gnu
BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(BPF_SRCS:bpf/%.bpf.c=$(BUILD)/bpf/%.bpf.o)
BPF_HDRS := $(wildcard bpf/*.h)
WORKLOADS := $(patsubst workloads/%.c,$(BUILD)/workloads/%,$(wildcard workloads/*.c)) \
	$(patsubst workloads/%.cc,$(BUILD)/workloads/%,$(wildcard workloads/*.cc))
TEST_BPF_OBJS := $(patsubst test/bpf/%.bpf.c,$(BUILD)/test/%.bpf.o,$(wildcard test/bpf/*.bpf.c))
BENCH_BPF_OBJS := $(patsubst bench/bpf/%.bpf.c,$(BUILD)/bench/%.bpf.o,$(wildcard bench/bpf/*.bpf.c))
TS_SRCS := $(shell find src -name '*.ts' -not -name '*.test.ts' -not -path 'src/gen/*')

# What building, testing and the benchmarks' oracles need (Debian 12).
APT_PACKAGES := clang llvm libbpf-dev libbpf1 bpftool libelf-dev libdw-dev elfutils make gcc \
	linux-libc-dev stress-ng libbpf-tools prometheus strace chromium libiberty-dev g++
# Only the benchmarks' oracles and peers need these: installed by `make bench` and `make bench-peers`,
# not by `make` or `make test`.
BENCH_APT_PACKAGES := bpftrace time linux-perf

.PHONY: all build deps test demo bench bench-peers screenshots clean
all: build

build: deps $(BPF_OBJS) $(BUILD)/libprocimage.so $(BUILD)/procimage-gate $(WORKLOADS) $(BUILD)/workloads/runsleep-shifted $(BUILD)/workloads/futexpong-nohdr dist/.built $(BUILD)/web/page.js

deps: $(BUILD)/.apt-done node_modules/.installed

# $(call apt_install,PACKAGES): installs those of PACKAGES that are missing.
define apt_install
	@missing=$$(for p in $(1); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

$(BUILD)/.apt-done: Makefile
	$(call apt_install,$(APT_PACKAGES))
	@mkdir -p $(BUILD) && touch $@

$(BUILD)/.bench-apt-done: Makefile | $(BUILD)/.apt-done
	$(call apt_install,$(BENCH_APT_PACKAGES))
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# CO-RE: one vmlinux.h from this kernel's BTF; the objects relocate against whatever kernel runs them.
$(BUILD)/vmlinux.h: | $(BUILD)/.apt-done
	bpftool btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c $(BPF_HDRS) $(BUILD)/vmlinux.h
	@mkdir -p $(@D)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

# Benchmark objects: empty programs (the cost floor of a hook) and a fixed-size record producer.
$(BUILD)/bench/%.bpf.o: bench/bpf/%.bpf.c $(BPF_HDRS) $(BUILD)/vmlinux.h
	@mkdir -p $(@D)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

# Test fixtures: objects for the binding's tests, including one the verifier must refuse.
$(BUILD)/test/%.bpf.o: test/bpf/%.bpf.c $(BUILD)/vmlinux.h
	@mkdir -p $(@D)
	$(CLANG) $(BPF_CFLAGS) -Wno-error -c $< -o $@
# ... and procimage's schedule object with a refused program added
$(BUILD)/test/refused_schedule.bpf.o: bpf/schedule.bpf.c $(BPF_HDRS)

$(BUILD)/test/records: test/fixtures/records.c bpf/procimage.h
	@mkdir -p $(@D)
	$(CC) -O2 -Wall -Werror -Ibpf -o $@ $<

$(BUILD)/libprocimage.so: $(wildcard native/*.c) bpf/procimage.h | $(BUILD)/.apt-done
	$(CC) -O2 -Wall -Werror -shared -fPIC -o $@ $(filter-out native/gate.c bpf/procimage.h,$^) -lbpf -ldw -lelf -lpthread -liberty

$(BUILD)/procimage-gate: native/gate.c
	$(CC) -O2 -Wall -Werror -o $@ $<

# Workloads are built like ordinary software: gcc -O2, no frame pointers.
$(BUILD)/workloads/%: workloads/%.c
	@mkdir -p $(@D)
	$(CC) -O2 -g -Wall -o $@ $< -lpthread

# ... and in C++, for the names the symbolizer demangles
$(BUILD)/workloads/%: workloads/%.cc
	@mkdir -p $(@D)
	$(CXX) -O2 -g -Wall -o $@ $< -lpthread

# runsleep with its code linked at 0x40000, still a PIE: its ELF addresses differ from its file
# offsets (in the usual layout they are equal where the code is), so a test can tell which of the
# two a frame gives
$(BUILD)/workloads/runsleep-shifted: workloads/runsleep.c
	@mkdir -p $(@D)
	$(CC) -O2 -g -Wall -Wl,--section-start=.text=0x40000 -o $@ $< -lpthread

# futexpong without .eh_frame_hdr: the kernel has no unwind table for it, so its stacks are copied
$(BUILD)/workloads/futexpong-nohdr: workloads/futexpong.c
	@mkdir -p $(@D)
	$(CC) -O2 -g -Wall -Wl,--no-eh-frame-hdr -o $@ $< -lpthread

# The TypeScript offsets of every kernel/user struct, generated from the objects' BTF.
src/gen/layout.ts: tools/gen-layout.ts bpf/procimage.h $(BPF_OBJS) | node_modules/.installed
	node_modules/.bin/tsx tools/gen-layout.ts $@ bpf/procimage.h $(BPF_OBJS)

# Syscall names from the kernel's header (linux-libc-dev), never a table typed by hand.
UNISTD_H := /usr/include/x86_64-linux-gnu/asm/unistd_64.h
ERRNO_H := /usr/include/asm-generic/errno-base.h /usr/include/asm-generic/errno.h
src/gen/syscalls.ts: tools/gen-syscalls.ts $(wildcard $(UNISTD_H) $(ERRNO_H)) | $(BUILD)/.apt-done node_modules/.installed
	node_modules/.bin/tsx tools/gen-syscalls.ts $@ $(UNISTD_H) $(ERRNO_H)

# tsc checks the types and writes dist/<layer>/ (what tests load in a child process); bin/procimage
# runs the bundle of the same sources (tools/build-cli.ts): one file to load, not ~200 modules.
dist/.built: src/gen/layout.ts src/gen/syscalls.ts $(TS_SRCS) tsconfig.json tools/build-cli.ts package-lock.json | node_modules/.installed
	node_modules/.bin/tsc -p tsconfig.json
	node_modules/.bin/tsx tools/build-cli.ts dist/bundle
	@touch $@

# The web page: its code and the page's model it shares with the server, bundled with the kept
# libraries (tools/build-web.ts); nothing is fetched at run time.
WEB_SRCS := $(shell find web -name '*.ts' -o -name '*.css') $(wildcard src/output/page/*.ts src/output/*.ts src/collect/frames.ts)
$(BUILD)/web/page.js: tools/build-web.ts $(WEB_SRCS) | node_modules/.installed
	node_modules/.bin/tsx tools/build-web.ts $(BUILD)/web

test: build $(TEST_BPF_OBJS) $(BUILD)/test/records
	node_modules/.bin/tsc -p tsconfig.check.json
	node_modules/.bin/tsc -p web/tsconfig.json
	node_modules/.bin/vitest run

# The run is also kept (root-only files under build/): a recording, its Perfetto export, and its page
# as one self-contained HTML file.
demo: build
	bin/procimage trace --record $(BUILD)/demo.rec --perfetto $(BUILD)/demo.perfetto.json -- $(BUILD)/workloads/demo
	bin/procimage report $(BUILD)/demo.rec --html $(BUILD)/demo.html
	@echo "procimage: the page of this run: $(abspath $(BUILD)/demo.html) (open it in a browser; it works offline)"

# The page's screenshots in docs/screenshots/, from a real run of the demo workload (README, docs/page.md).
screenshots: build
	node_modules/.bin/tsx tools/screenshots.ts docs/screenshots

bench: build $(BENCH_BPF_OBJS) $(BUILD)/.bench-apt-done
	node_modules/.bin/tsx bench/run.ts

# The peer study (issue 16, ~10 minutes, not in `make bench`): each job beside the tools users pick for
# it (libbpf-tools, perf, strace, bpftrace); tables on stdout, plots and data in docs/peers/.
bench-peers: build $(BUILD)/.bench-apt-done
	node_modules/.bin/tsx bench/run.ts peers

clean:
	rm -rf $(BUILD) dist src/gen
