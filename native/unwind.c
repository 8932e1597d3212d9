// SPDX-License-Identifier: GPL-2.0
/*
 * User stacks without frame pointers: DWARF CFI unwinding (.eh_frame/.debug_frame) of a stack copy
 * taken in the kernel at sched_switch, and symbolization, with elfutils' libdwfl — what
 * `perf --call-graph dwarf` does (../shared/spikes/dwarf-stack proved it here).
 *
 * An address space is identified by a number the caller chooses and described by a /proc/PID/maps
 * text the caller keeps (read while the process lived, or rebuilt from perf's side-band), so a
 * process that has exited still unwinds. Memory reads are served only from the copy; registers come
 * from the capture. Symbols are looked up per ELF file, not per process (pi_symbolize_file): a
 * file's tables are read once however many processes map it. The vDSO is the same image in every
 * process of one kernel: we serve our own. Names come out as people read them (readable()), and
 * every pc with the file offset and build ID a later symbolizer needs (pi_resolve).
 */
#define _GNU_SOURCE
#include <elfutils/libdwfl.h>
#include <gelf.h>
#include <inttypes.h>
#include <libiberty/demangle.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#define MAX_SPACES 256
#define MAX_FILES 64
#define MAX_ELVES 128

struct capture {
	uint32_t tid;
	const uint64_t *regs; /* ip, sp, bp, bx, r12, r13, r14, r15 */
	uint64_t base;
	const uint8_t *stack;
	size_t len;
	uint64_t *pcs;
	int max, n, done;
	int past_copy; /* a read above the copy failed: the stack went on beyond what was copied */
};

struct space {
	uint32_t id;
	int attached;
	Dwfl *dwfl;
	struct capture *cur;
	uint64_t last_use;
};

/* One offline session per ELF file, for symbols: a file's tables load once, whatever the process. */
struct file {
	char *path;
	Dwfl *dwfl;
	Dwfl_Module *mod;
	uint64_t last_use;
};

struct pi_unwinder {
	struct space spaces[MAX_SPACES];
	struct file files[MAX_FILES];
	uint64_t clock;
};

static char *debuginfo_path;

/* Our own vDSO image: its bytes and size (to its section headers' end). */
static const unsigned char *vdso_image(size_t *size)
{
	const unsigned char *img = (const unsigned char *)getauxval(AT_SYSINFO_EHDR);
	if (img) {
		const Elf64_Ehdr *eh = (const Elf64_Ehdr *)img;
		*size = eh->e_shoff + (size_t)eh->e_shnum * eh->e_shentsize;
	}
	return img;
}

/* Handed to libdwfl for every process's [vdso] mapping. */
static int vdso_elf(Elf **elfp)
{
	size_t size;
	const unsigned char *img = vdso_image(&size);
	if (img)
		*elfp = elf_memory((char *)img, size);
	return -1;
}

/*
 * The ELF files of every address space, opened once: every process maps libc, and each space's own
 * Elf of it was its own mmap of the file — RSS counted per mapping (one daemon showed 78 MB of
 * libc.so.6 with a fork-heavy workload). libelf counts references to an Elf (elf_begin with a
 * `ref`): each space's module takes one, this cache holds one, the file is mapped once.
 */
static struct elf_ref {
	dev_t dev;
	ino_t ino;
	struct timespec mtime; /* a file replaced in place is a new entry */
	Elf *elf;
	int fd;
	uint64_t last_use;
} elves[MAX_ELVES];
static uint64_t elf_clock;

static void elf_ref_drop(struct elf_ref *e)
{
	if (!e->elf)
		return;
	elf_end(e->elf);
	close(e->fd);
	memset(e, 0, sizeof(*e));
}

/* A new reference to the shared Elf of path, or NULL (then libdwfl opens it its own way). */
static Elf *shared_elf(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return NULL;
	struct elf_ref *e = NULL, *lru = &elves[0];
	for (int i = 0; i < MAX_ELVES; i++) {
		struct elf_ref *x = &elves[i];
		if (x->elf && x->dev == st.st_dev && x->ino == st.st_ino && x->mtime.tv_sec == st.st_mtim.tv_sec &&
		    x->mtime.tv_nsec == st.st_mtim.tv_nsec) {
			x->last_use = ++elf_clock;
			return elf_begin(-1, ELF_C_READ_MMAP, x->elf);
		}
		if (!x->elf && !e)
			e = x;
		else if (x->last_use < lru->last_use)
			lru = x;
	}
	if (!e) {
		e = lru;
		elf_ref_drop(e); /* spaces still using it keep their references */
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF) {
		if (elf)
			elf_end(elf);
		close(fd);
		return NULL;
	}
	*e = (struct elf_ref){ .dev = st.st_dev, .ino = st.st_ino, .mtime = st.st_mtim, .elf = elf, .fd = fd,
			       .last_use = ++elf_clock };
	return elf_begin(-1, ELF_C_READ_MMAP, elf);
}

static int find_elf(Dwfl_Module *mod, void **userdata, const char *name, Dwarf_Addr base, char **file_name,
		    Elf **elfp)
{
	if (name && !strncmp(name, "[vdso", 5))
		return vdso_elf(elfp);
	if (name && name[0] == '/' && (*elfp = shared_elf(name)) != NULL) {
		*file_name = strdup(name);
		return -1; /* no fd of its own: the Elf is the cache's, shared */
	}
	return dwfl_linux_proc_find_elf(mod, userdata, name, base, file_name, elfp);
}

/*
 * Separate debug info (line numbers, full symbol tables) from the build-id tree only
 * (/usr/lib/debug/.build-id/, where Debian's -dbgsym packages and libc6-dbg install it). libdwfl's
 * standard search ends, for every file without local debug info, with a debuginfod query: it
 * dlopens libdebuginfod with libcurl, gnutls, krb5 and more (6 MB of the daemon's RSS, for good),
 * and where DEBUGINFOD_URLS is set (Ubuntu and Fedora set it by default) downloads debug files
 * over the network on the path that symbolizes stacks.
 */
static int find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname, Dwarf_Addr base,
			  const char *file_name, const char *debuglink_file, GElf_Word debuglink_crc,
			  char **debuginfo_file_name)
{
	return dwfl_build_id_find_debuginfo(mod, userdata, modname, base, file_name, debuglink_file, debuglink_crc,
					    debuginfo_file_name);
}

static const Dwfl_Callbacks callbacks = {
	.find_elf = find_elf,
	.find_debuginfo = find_debuginfo,
	.debuginfo_path = &debuginfo_path,
};

static pid_t next_thread(Dwfl *dwfl, void *arg, void **thread_argp)
{
	struct space *s = arg;
	if (!s->cur || s->cur->done)
		return 0;
	s->cur->done = 1;
	*thread_argp = s;
	return s->cur->tid;
}

static bool memory_read(Dwfl *dwfl, Dwarf_Addr addr, Dwarf_Word *result, void *arg)
{
	struct capture *c = ((struct space *)arg)->cur;
	if (addr < c->base || addr + 8 > c->base + c->len) {
		if (addr >= c->base)
			c->past_copy = 1;
		return false; /* outside the copy: the unwind stops there */
	}
	memcpy(result, c->stack + (addr - c->base), 8);
	return true;
}

static bool set_initial_registers(Dwfl_Thread *thread, void *arg)
{
	struct capture *c = ((struct space *)arg)->cur;
	/* DWARF register numbers, x86_64: 3 rbx, 6 rbp, 7 rsp, 12-15 r12-r15, 16 rip */
	Dwarf_Word bx = c->regs[3], bpsp[2] = { c->regs[2], c->regs[1] };
	Dwarf_Word r12_15[4] = { c->regs[4], c->regs[5], c->regs[6], c->regs[7] };
	if (!dwfl_thread_state_registers(thread, 6, 2, bpsp) || !dwfl_thread_state_registers(thread, 3, 1, &bx) ||
	    !dwfl_thread_state_registers(thread, 12, 4, r12_15))
		return false;
	dwfl_thread_state_register_pc(thread, c->regs[0]);
	return true;
}

static const Dwfl_Thread_Callbacks thread_callbacks = {
	.next_thread = next_thread,
	.memory_read = memory_read,
	.set_initial_registers = set_initial_registers,
};

struct pi_unwinder *pi_unwinder_new(void)
{
	return calloc(1, sizeof(struct pi_unwinder));
}

static struct space *find_space(struct pi_unwinder *u, uint32_t id)
{
	for (int i = 0; i < MAX_SPACES; i++)
		if (u->spaces[i].dwfl && u->spaces[i].id == id) {
			u->spaces[i].last_use = ++u->clock;
			return &u->spaces[i];
		}
	return NULL;
}

static void drop(struct space *s)
{
	if (s->dwfl)
		dwfl_end(s->dwfl);
	memset(s, 0, sizeof(*s));
}

void pi_space_drop(struct pi_unwinder *u, uint32_t id)
{
	struct space *s = find_space(u, id);
	if (s)
		drop(s);
}

/* Defines (or redefines) address space id from a /proc/PID/maps text. Returns 0 or -1. */
/*
 * The [vdso] range of a maps text, or 0. dwfl_linux_proc_maps_report reports file mappings only (it
 * learns the vDSO from a live process's auxv, which a maps text does not carry), so [vdso] frames
 * (clock_gettime's fast path...) had no module to be named by.
 */
static uint64_t vdso_range(const char *maps, size_t len, uint64_t *hi)
{
	for (const char *line = maps, *end = maps + len; line < end;) {
		const char *nl = memchr(line, '\n', end - line);
		size_t n = nl ? (size_t)(nl - line) : (size_t)(end - line);
		unsigned long long lo, h;
		if (n > 6 && !memcmp(line + n - 6, "[vdso]", 6) && sscanf(line, "%llx-%llx", &lo, &h) == 2) {
			*hi = h;
			return lo;
		}
		line += n + 1;
	}
	return 0;
}

int pi_space_set(struct pi_unwinder *u, uint32_t id, const char *maps, size_t len)
{
	struct space *s = find_space(u, id), *lru = &u->spaces[0];
	if (!s) {
		for (int i = 0; i < MAX_SPACES && !s; i++)
			if (!u->spaces[i].dwfl)
				s = &u->spaces[i];
			else if (u->spaces[i].last_use < lru->last_use)
				lru = &u->spaces[i];
		if (!s)
			s = lru; /* the least recently used space goes */
	}
	drop(s);
	FILE *f = fmemopen((void *)maps, len, "r");
	if (!f)
		return -1;
	Dwfl *d = dwfl_begin(&callbacks);
	dwfl_report_begin(d);
	int r = dwfl_linux_proc_maps_report(d, f);
	fclose(f);
	/*
	 * The vDSO has no file: find_elf serves our own image, the kernel maps the same one into every
	 * process. (No dwfl_addrmodule check first: while reporting, it answers from the last report.)
	 */
	uint64_t vdso_hi, vdso_lo = vdso_range(maps, len, &vdso_hi);
	if (r == 0 && vdso_lo)
		dwfl_report_module(d, "[vdso]", vdso_lo, vdso_hi);
	dwfl_report_end(d, NULL, NULL);
	if (r != 0) {
		dwfl_end(d);
		return -1;
	}
	s->id = id;
	s->dwfl = d;
	s->last_use = ++u->clock;
	return 0;
}

static int frame_cb(Dwfl_Frame *frame, void *arg)
{
	struct capture *c = arg;
	Dwarf_Addr pc;
	bool activation;
	if (!dwfl_frame_pc(frame, &pc, &activation) || c->n >= c->max)
		return DWARF_CB_ABORT;
	c->pcs[c->n++] = pc;
	return DWARF_CB_OK;
}

/*
 * Unwinds one capture: regs (ip, sp, bp, bx, r12-r15) and len bytes of stack copied from address
 * base. Writes up to max frame pcs (the first is ip itself, the others return addresses) and returns
 * how many, or -1 if the address space is unknown. *stopped says why the unwind ended:
 * PI_UNWIND_END (at the outermost frame, _start or a thread's start, whose CFI ends the chain, or
 * where the CFI gave out), PI_UNWIND_PAST_COPY (the next frame lies above the copied bytes) or
 * PI_UNWIND_MAX (max frames).
 */
enum { PI_UNWIND_END, PI_UNWIND_PAST_COPY, PI_UNWIND_MAX };

int pi_unwind(struct pi_unwinder *u, uint32_t id, uint32_t tgid, uint32_t tid, const uint64_t *regs, uint64_t base,
	      const uint8_t *stack, size_t len, uint64_t *pcs, int max, int32_t *stopped)
{
	*stopped = PI_UNWIND_END;
	struct space *s = find_space(u, id);
	if (!s)
		return -1;
	struct capture c = { .tid = tid, .regs = regs, .base = base, .stack = stack, .len = len, .pcs = pcs, .max = max };
	s->cur = &c;
	if (!s->attached) {
		if (!dwfl_attach_state(s->dwfl, NULL, tgid, &thread_callbacks, s)) {
			s->cur = NULL;
			return 0; /* no ELF to learn the architecture from: nothing to unwind with */
		}
		s->attached = 1;
	}
	dwfl_getthread_frames(s->dwfl, tid, frame_cb, &c);
	s->cur = NULL;
	if (c.n >= max)
		*stopped = PI_UNWIND_MAX;
	else if (c.past_copy)
		*stopped = PI_UNWIND_PAST_COPY;
	if (c.n == 0 && max > 0) /* not even the first frame: still report where it was */
		pcs[c.n++] = regs[0];
	return c.n;
}

/*
 * The offset in its file of vaddr, an address as the ELF file numbers it: through the PT_LOAD
 * segment that holds it (vaddr - p_vaddr + p_offset): what tools that symbolize later (pprof,
 * Pyroscope) are given, the same whatever the load address and however the file was linked.
 * -1 when no segment's file bytes hold it.
 */
static int64_t file_offset(Elf *elf, uint64_t vaddr)
{
	size_t n;
	if (elf_getphdrnum(elf, &n) != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;
		if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_LOAD && vaddr >= ph.p_vaddr &&
		    vaddr < ph.p_vaddr + ph.p_filesz)
			return (int64_t)(vaddr - ph.p_vaddr + ph.p_offset);
	}
	return -1;
}

/* The module's GNU build ID as lowercase hex into out (cap >= 2 * 64 + 1), or "" when it has none. */
static void build_id_hex(Dwfl_Module *m, char *out, size_t cap)
{
	const unsigned char *bits;
	GElf_Addr at;
	int n = dwfl_module_build_id(m, &bits, &at);
	size_t w = 0;
	for (int i = 0; i < n && w + 3 <= cap; i++)
		w += (size_t)snprintf(out + w, cap - w, "%02x", bits[i]);
	out[w] = 0;
}

/*
 * Where n pcs of address space id lie: one line per pc, "module\taddress\toffset\tbuild_id\n", the
 * address being the pc as the module's ELF file numbers it (pc minus the module's load bias), the
 * offset that address's place in the file (empty if none), the build ID in hex (empty if none); an
 * empty module where no module covers the pc. Cheap: no symbol table is read. Returns bytes
 * written (whole lines only), -1 if id is unknown.
 */
long pi_resolve(struct pi_unwinder *u, uint32_t id, const uint64_t *pcs, int n, char *out, size_t cap)
{
	struct space *s = find_space(u, id);
	size_t off = 0;
	if (!s)
		return -1;
	for (int i = 0; i < n; i++) {
		Dwfl_Module *m = dwfl_addrmodule(s->dwfl, pcs[i]);
		const char *mod = NULL;
		Dwarf_Addr bias = 0;
		Elf *elf = NULL;
		char foff[24] = "", bid[160] = "";
		if (m) {
			mod = dwfl_module_info(m, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
			if (!(elf = dwfl_module_getelf(m, &bias)))
				mod = NULL; /* the file cannot be read: only the address is known */
		}
		if (mod) {
			int64_t fo = file_offset(elf, pcs[i] - bias);
			if (fo >= 0)
				snprintf(foff, sizeof(foff), "%" PRId64, fo);
			build_id_hex(m, bid, sizeof(bid));
		}
		int w = snprintf(out + off, cap - off, "%s\t%" PRIu64 "\t%s\t%s\n", mod ? mod : "",
				 (uint64_t)(pcs[i] - bias), foff, bid);
		if (w < 0 || (size_t)w >= cap - off)
			break; /* no room for the whole line: the caller asks again for the rest */
		off += (size_t)w;
	}
	return (long)off;
}

static struct file *open_file(struct pi_unwinder *u, const char *path)
{
	struct file *f = NULL, *lru = &u->files[0];
	for (int i = 0; i < MAX_FILES; i++) {
		if (u->files[i].path && !strcmp(u->files[i].path, path)) {
			u->files[i].last_use = ++u->clock;
			return &u->files[i];
		}
		if (!u->files[i].path && !f)
			f = &u->files[i];
		else if (u->files[i].last_use < lru->last_use)
			lru = &u->files[i];
	}
	if (!f) {
		f = lru;
		dwfl_end(f->dwfl);
		free(f->path);
	}
	memset(f, 0, sizeof(*f));
	f->dwfl = dwfl_begin(&callbacks);
	if (!f->dwfl)
		return NULL;
	dwfl_report_begin(f->dwfl);
	if (!strncmp(path, "[vdso", 5)) {
		size_t size = 0;
		/* linked at 0: the module spans [0, size), and find_elf serves our image for it */
		f->mod = vdso_image(&size) ? dwfl_report_module(f->dwfl, "[vdso]", 0, size) : NULL;
	} else {
		f->mod = dwfl_report_elf(f->dwfl, path, path, -1, 0, false); /* addresses as the file numbers them */
	}
	dwfl_report_end(f->dwfl, NULL, NULL);
	f->path = strdup(path);
	f->last_use = ++u->clock;
	return f;
}

/*
 * A symbol as people read it, as perf and c++filt print it: without its version
 * ("__libc_start_main@@GLIBC_2.34") and, for C++ and Rust (legacy and v0 mangling), demangled by
 * libiberty's cplus_demangle, the demangler binutils keeps ("_ZN6toplev4mainEiPPc" ->
 * "toplev::main(int, char**)"). Only names that start as those manglings do go to the demangler: a
 * C name is left as it is, and costs no call. Returns name, buf, or a string to free in *freeme.
 */
static const char *readable(const char *name, char *buf, size_t cap, char **freeme)
{
	*freeme = NULL;
	const char *at = strchr(name, '@');
	if (at && at > name) {
		size_t n = (size_t)(at - name) < cap - 1 ? (size_t)(at - name) : cap - 1;
		memcpy(buf, name, n);
		buf[n] = 0;
		name = buf;
	}
	if (name[0] == '_' && (name[1] == 'Z' || name[1] == 'R')) {
		char *d = cplus_demangle(name, DMGL_PARAMS | DMGL_ANSI | DMGL_AUTO);
		if (d) {
			*freeme = d;
			return d;
		}
	}
	return name;
}

/*
 * readable() of one name into out (for the ELF symbols of the lock path, src/model/usersyms.ts).
 * Returns the length of the whole name; it is cut if that is cap or more.
 */
long pi_demangle(const char *name, char *out, size_t cap)
{
	char buf[1024], *freeme;
	const char *r = readable(name, buf, sizeof(buf), &freeme);
	long n = (long)strlen(r);
	if (cap) {
		size_t k = (size_t)n < cap - 1 ? (size_t)n : cap - 1;
		memcpy(out, r, k);
		out[k] = 0;
	}
	free(freeme);
	return n;
}

/*
 * Symbols of n addresses of one ELF file (as pi_resolve gives them), one line per address:
 * "symbol\toffset\tfile\tline\n", empty fields where unknown; symbols readable(). `ret`: the
 * addresses are return addresses, looked up one byte earlier (the call) but reported with their own
 * offset. Returns bytes written, whole lines only (demangled C++ names can be long): the caller asks
 * again for the addresses past the last line.
 */
long pi_symbolize_file(struct pi_unwinder *u, const char *path, const uint64_t *addrs, int n, int ret, char *out, size_t cap)
{
	struct file *f = open_file(u, path);
	size_t off = 0;
	for (int i = 0; i < n; i++) {
		Dwarf_Addr a = addrs[i] - (ret ? 1 : 0);
		const char *name = NULL, *file = NULL;
		char buf[1024], *freeme = NULL;
		GElf_Off symoff = 0;
		GElf_Sym sym;
		int line = 0;
		if (f && f->mod) {
			name = dwfl_module_addrinfo(f->mod, a, &symoff, &sym, NULL, NULL, NULL);
			if (name)
				name = readable(name, buf, sizeof(buf), &freeme);
			Dwfl_Line *l = dwfl_module_getsrc(f->mod, a);
			if (l)
				file = dwfl_lineinfo(l, NULL, &line, NULL, NULL, NULL);
		}
		int w = snprintf(out + off, cap - off, "%s\t%" PRIu64 "\t%s\t%d\n", name ? name : "",
				 (uint64_t)(name ? symoff + (ret ? 1 : 0) : 0), file ? file : "", line);
		free(freeme);
		if (w < 0 || (size_t)w >= cap - off)
			break; /* no room for the whole line: the caller asks again for the rest */
		off += (size_t)w;
	}
	return (long)off;
}

/*
 * Forgets every address space and symbol file, and closes the shared ELF files: what libdwfl holds
 * for them (module lists, CFI, symbol and line tables, debug sections decompressed into the heap —
 * 5.5 MB for libc's alone — and the files' mappings) is freed. The caller defines spaces again
 * before it unwinds; symbol files reopen when asked for.
 */
void pi_unwinder_forget(struct pi_unwinder *u)
{
	for (int i = 0; i < MAX_SPACES; i++)
		drop(&u->spaces[i]);
	for (int i = 0; i < MAX_FILES; i++) {
		if (u->files[i].dwfl)
			dwfl_end(u->files[i].dwfl);
		free(u->files[i].path);
		memset(&u->files[i], 0, sizeof(u->files[i]));
	}
	/* libelf counts references: an Elf another unwinder's module still uses stays open for it */
	for (int i = 0; i < MAX_ELVES; i++)
		elf_ref_drop(&elves[i]);
}

/* What is held now: out[0] address spaces, out[1] symbol files, out[2] shared ELF files. */
void pi_unwinder_usage(const struct pi_unwinder *u, int32_t out[3])
{
	out[0] = out[1] = out[2] = 0;
	for (int i = 0; i < MAX_SPACES; i++)
		out[0] += u->spaces[i].dwfl != NULL;
	for (int i = 0; i < MAX_FILES; i++)
		out[1] += u->files[i].path != NULL;
	for (int i = 0; i < MAX_ELVES; i++)
		out[2] += elves[i].elf != NULL;
}

void pi_unwinder_free(struct pi_unwinder *u)
{
	if (!u)
		return;
	pi_unwinder_forget(u);
	free(u);
}
