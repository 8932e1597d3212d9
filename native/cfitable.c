// SPDX-License-Identifier: GPL-2.0
/*
 * Unwind tables for the kernel: an ELF file's .eh_frame CFI flattened into rows the BPF unwinder
 * (bpf/unwind.bpf.h) can binary-search — for each address range, where the CFA is (rsp or rbp plus
 * an offset) and where the caller's rbp was saved. The return address is always at CFA - 8 on
 * x86_64; a row whose rules are anything else (a DWARF expression, as in PLT entries and signal
 * trampolines) is marked so that the kernel hands the stack to the user-space unwinder
 * (native/unwind.c) instead. This is what the OpenTelemetry eBPF profiler and Parca do; libdw reads
 * the CFI (dwarf_cfi_addrframe), so no CFI interpreter of our own.
 *
 * FDEs are found through .eh_frame_hdr's sorted table (every gcc/clang-linked file has one), each
 * FDE's rows by asking libdw for the frame at the start of the FDE and then at the end of each row's
 * range. Gaps between FDEs get a row of their own that stops the unwinder.
 */
#define _GNU_SOURCE
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/types.h>
#include "../bpf/procimage.h"

#define X86_RSP 7
#define X86_RBP 6
#define X86_RA 16

/* The CFA rule: reg + off, from libdw's expression for it (a single DW_OP_bregN / bregx). */
static int cfa_rule(Dwarf_Frame *frame, struct pi_unwind_row *r)
{
	Dwarf_Op *ops;
	size_t n;
	if (dwarf_frame_cfa(frame, &ops, &n) != 0 || n != 1)
		return -1;
	unsigned reg;
	int64_t off;
	if (ops[0].atom == DW_OP_bregx) {
		reg = ops[0].number;
		off = (int64_t)ops[0].number2;
	} else if (ops[0].atom >= DW_OP_breg0 && ops[0].atom <= DW_OP_breg31) {
		reg = ops[0].atom - DW_OP_breg0;
		off = (int64_t)ops[0].number;
	} else {
		return -1;
	}
	if ((reg != X86_RSP && reg != X86_RBP) || off < INT32_MIN || off > INT32_MAX)
		return -1;
	r->cfa_reg = reg == X86_RSP ? PI_CFA_RSP : PI_CFA_RBP;
	r->cfa_off = (int32_t)off;
	return 0;
}

/*
 * Where a register was saved, as an offset from the CFA: 0 when this frame left it as it was
 * (same value), 1 when it is undefined (not recoverable), -1 for any other rule. libdw spells
 * offset(N) as DW_OP_call_frame_cfa followed by the addition of N.
 */
static int saved_at(Dwarf_Frame *frame, int regno, int64_t *off)
{
	Dwarf_Op mem[3], *ops;
	size_t n;
	*off = 0;
	if (dwarf_frame_register(frame, regno, mem, &ops, &n) != 0)
		return -1;
	if (n == 0)
		return ops == NULL ? 0 : 1;
	if (ops[0].atom != DW_OP_call_frame_cfa)
		return -1;
	if (n == 1)
		return 2; /* saved at the CFA itself */
	if (n == 2 && ops[1].atom == DW_OP_plus_uconst) {
		*off = (int64_t)ops[1].number;
		return 2;
	}
	if (n == 3 && (ops[1].atom == DW_OP_consts || ops[1].atom == DW_OP_constu) && ops[2].atom == DW_OP_plus) {
		*off = (int64_t)ops[1].number;
		return 2;
	}
	if (n == 3 && ops[1].atom >= DW_OP_lit0 && ops[1].atom <= DW_OP_lit31 && ops[2].atom == DW_OP_plus) {
		*off = ops[1].atom - DW_OP_lit0;
		return 2;
	}
	return -1;
}

/* One row of the table from libdw's frame state at a pc. */
static void make_row(Dwarf_Frame *frame, uint64_t pc, struct pi_unwind_row *r)
{
	memset(r, 0, sizeof(*r));
	r->pc = pc;
	r->cfa_reg = PI_CFA_NONE;
	int64_t ra, bp;
	int how = saved_at(frame, X86_RA, &ra);
	if (how == 1) { /* the return address is undefined: the outermost frame (_start, a thread's start) */
		r->cfa_reg = PI_CFA_END;
		return;
	}
	if (how != 2 || ra != -8 || cfa_rule(frame, r) != 0) {
		r->cfa_reg = PI_CFA_NONE;
		return;
	}
	how = saved_at(frame, X86_RBP, &bp);
	if (how == 2 && bp != 0 && bp >= INT16_MIN && bp <= INT16_MAX)
		r->rbp_off = (int16_t)bp;
	else if (how == 2 || how < 0)
		r->cfa_reg = PI_CFA_NONE; /* rbp saved somewhere a row cannot say */
	/* how 0 (same value) or 1 (undefined): rbp_off 0, the callee's rbp is kept */
}

static int same_rule(const struct pi_unwind_row *a, const struct pi_unwind_row *b)
{
	return a->cfa_reg == b->cfa_reg && a->cfa_off == b->cfa_off && a->rbp_off == b->rbp_off;
}

struct table {
	struct pi_unwind_row *rows;
	long cap, n;
};

/* Appends a row, merged into the previous one when it has the same rules. Counts past cap. */
static void add(struct table *t, const struct pi_unwind_row *r)
{
	if (t->n > 0 && t->n <= t->cap) {
		struct pi_unwind_row *last = &t->rows[t->n - 1];
		if (same_rule(last, r))
			return;
		if (last->pc == r->pc) { /* an empty range: the later rule wins */
			*last = *r;
			return;
		}
	}
	if (t->n < t->cap)
		t->rows[t->n] = *r;
	t->n++;
}

static int read_i32(const uint8_t *p, const uint8_t *end, int32_t *v)
{
	if (p + 4 > end)
		return -1;
	memcpy(v, p, 4);
	return 0;
}

/*
 * The FDEs' start addresses, sorted, from .eh_frame_hdr (only the encodings the GNU and LLVM linkers
 * write: pcrel|sdata4 for the pointer, udata4 for the count, datarel|sdata4 for the table).
 */
static long fde_starts(Elf *elf, uint64_t **out)
{
	size_t shstrndx;
	Elf_Scn *scn = NULL;
	if (elf_getshdrstrndx(elf, &shstrndx) != 0)
		return -1;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		if (!gelf_getshdr(scn, &sh))
			continue;
		const char *name = elf_strptr(elf, shstrndx, sh.sh_name);
		if (!name || strcmp(name, ".eh_frame_hdr") != 0)
			continue;
		Elf_Data *d = elf_getdata(scn, NULL);
		if (!d || d->d_size < 12)
			return -1;
		const uint8_t *p = d->d_buf, *end = p + d->d_size;
		if (p[0] != 1 || p[1] != (DW_EH_PE_pcrel | DW_EH_PE_sdata4) || p[2] != DW_EH_PE_udata4 ||
		    p[3] != (DW_EH_PE_datarel | DW_EH_PE_sdata4))
			return -1;
		int32_t count;
		if (read_i32(p + 8, end, &count) != 0 || count < 0 || (uint64_t)count * 8 > d->d_size - 12)
			return -1;
		uint64_t *starts = malloc(sizeof(*starts) * (count ? count : 1));
		if (!starts)
			return -1;
		for (int32_t i = 0; i < count; i++) {
			int32_t loc = 0;
			read_i32(p + 12 + 8 * (size_t)i, end, &loc);
			starts[i] = sh.sh_addr + (int64_t)loc;
		}
		*out = starts;
		return count;
	}
	return -1;
}

/* The ELF file at path, read through mmap; *fd -1 if it cannot be opened (then NULL). */
static Elf *open_elf(const char *path, int *fd)
{
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0)
		return NULL;
	elf_version(EV_CURRENT);
	return elf_begin(*fd, ELF_C_READ_MMAP, NULL);
}

/*
 * Writes the unwind rows of the ELF file at path into rows (sorted by pc, pcs as the file numbers
 * its addresses) and returns how many there are: more than cap means rows holds the first cap and
 * the caller should ask again with room for all. -1: not an x86_64 ELF file with .eh_frame_hdr and
 * .eh_frame, or unreadable.
 */
long pi_cfi_table(const char *path, struct pi_unwind_row *rows, long cap)
{
	int fd;
	Elf *elf = open_elf(path, &fd);
	if (fd < 0)
		return -1;
	long result = -1;
	Dwarf_CFI *cfi = NULL;
	uint64_t *starts = NULL;
	GElf_Ehdr eh;
	if (!elf || !gelf_getehdr(elf, &eh) || eh.e_machine != EM_X86_64)
		goto out;
	long count = fde_starts(elf, &starts);
	if (count < 0 || !(cfi = dwarf_getcfi_elf(elf)))
		goto out;

	struct table t = { .rows = rows, .cap = cap };
	for (long i = 0; i < count; i++) {
		uint64_t next = i + 1 < count ? starts[i + 1] : UINT64_MAX;
		uint64_t at = starts[i], end = at;
		if (i > 0 && at < starts[i - 1])
			goto out; /* not sorted: not a table we can trust */
		for (int guard = 0; guard < 100000 && at < next; guard++) {
			Dwarf_Frame *frame;
			Dwarf_Addr s, e;
			bool signal;
			if (dwarf_cfi_addrframe(cfi, at, &frame) != 0)
				break;
			if (dwarf_frame_info(frame, &s, &e, &signal) < 0 || e <= at) {
				free(frame);
				break;
			}
			struct pi_unwind_row r;
			make_row(frame, at, &r);
			if (signal)
				r.cfa_reg = PI_CFA_NONE; /* a signal frame's caller is not at CFA - 8 */
			free(frame);
			add(&t, &r);
			at = end = e;
		}
		if (end < next && end != starts[i]) { /* a gap before the next FDE: nothing is known there */
			struct pi_unwind_row gap = { .pc = end, .cfa_reg = PI_CFA_NONE };
			add(&t, &gap);
		}
	}
	result = t.n;
out:
	free(starts);
	if (cfi)
		dwarf_cfi_end(cfi);
	if (elf)
		elf_end(elf);
	close(fd);
	return result;
}

/*
 * The PT_LOAD segments of the ELF file at path: for each, offset, vaddr and file size, so that a
 * mapping of the file (its start and file offset, from /proc/PID/maps) gives the bias between
 * runtime and file addresses. Returns how many (at most max), -1 if not an ELF file.
 */
long pi_elf_loads(const char *path, uint64_t *out, long max)
{
	int fd;
	Elf *elf = open_elf(path, &fd);
	if (fd < 0)
		return -1;
	long n = -1;
	size_t phnum;
	if (elf && elf_getphdrnum(elf, &phnum) == 0) {
		n = 0;
		for (size_t i = 0; i < phnum && n < max; i++) {
			GElf_Phdr ph;
			if (!gelf_getphdr(elf, i, &ph) || ph.p_type != PT_LOAD)
				continue;
			out[3 * n] = ph.p_offset;
			out[3 * n + 1] = ph.p_vaddr;
			out[3 * n + 2] = ph.p_filesz;
			n++;
		}
	}
	if (elf)
		elf_end(elf);
	close(fd);
	return n;
}
