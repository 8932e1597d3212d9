/* SPDX-License-Identifier: GPL-2.0 */
/*
 * User stacks unwound in the kernel, from .eh_frame-derived tables (native/cfitable.c) that user
 * space loads for each target process (src/model/unwindtables.ts): at a switch-out the thread's
 * frames are walked here, a few hundred ns, instead of copying 12 KiB of its stack into the ring
 * for user space to unwind with libdwfl (several µs a record, and the ring's bandwidth). Where the
 * tables say nothing (a pc in a file without them, a JIT, a PLT stub, a signal frame) or a read
 * fails, the caller falls back to that copy, so no stack is lost to this.
 *
 * Tables are per file (libc's rows serve every process that maps it); a process is its executable
 * mappings, each with its file's rows and the bias between its addresses and the file's. A child
 * gets its parent's at fork (the same mappings), an exec drops them until user space has read the
 * new image's (the copy path meanwhile).
 */
#ifndef UNWIND_BPF_H
#define UNWIND_BPF_H

#include "common.bpf.h"

/*
 * Set before load by PROCIMAGE_UNWIND_CHECK=1: with --stack dwarf-copy the kernel also unwinds from
 * tables and sends both, so that user space compares its libdwfl frames with the kernel's. Off, the
 * verifier skips that path.
 */
const volatile __u32 pi_unwind_check = 0;

/*
 * Every file's rows, one after another: 512K rows, 8 MiB of kernel memory (libc has ~28,000 rows,
 * a large program such as stress-ng ~79,000). A file that does not fit is unwound from copies.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1 << 19);
	__type(key, __u32);
	__type(value, struct pi_unwind_row);
} unwind_rows SEC(".maps");

/* The processes with tables, by tgid. Not preallocated: most of it is never used. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct pi_unwind_proc);
} unwind_procs SEC(".maps");

enum { UW_GOING, UW_END, UW_MAX, UW_FAIL };

/*
 * The stack from sp up, read in one go: each bpf_probe_read_user costs ~100 ns here, two a frame
 * (return address, saved rbp) cost more than the walk; most frames of a blocking call's chain lie
 * within a few KiB of sp. Reads beyond the window go to the user's memory one by one.
 */
#define UW_WINDOW 4096
#define UW_HALVINGS 6 /* of the rows' range, per step of the walk */
enum { UW_FRAME, UW_FIND, UW_SEARCH };

/*
 * A thread's last complete walk, to skip the next one when nothing it depended on changed. The walk
 * is a function of the registers it starts from and the stack words it reads (and of the tables,
 * which do not change under code the thread will return to): a thread that blocks again at the same
 * place, with the same words at the same offsets from sp, has the same frames. So a memo keeps the
 * registers, the offsets of the words read (each within the window; bit 15: a return address) and a
 * hash of their values; at the next switch-out with the same registers, the words are hashed again
 * from the new window and, if equal, the frames are the return addresses read back from it
 * (test/unwind.test.ts compares them with libdwfl's). A few hundred ns instead of the table search.
 */
#define UW_MEMO_READS 128
#define UW_MEMO_RA 0x8000

struct uw_memo {
	__u64 ip, sp, bp;
	__u64 hash;
	__u64 fhash; /* of the frames (frames_hash): a recall's, without hashing them again */
	__u32 tgid;
	__u32 nreads;
	__u32 n;
	__u32 status;
	__u32 need_bp; /* the walk used the starting rbp (a frame's CFA from it before any was restored) */
	__u32 span;    /* bytes from sp that hold every word read: all a recall needs to copy */
	__u16 off[UW_MEMO_READS];
};

/*
 * A few memos per thread, one per place it blocks at (picked by ip and sp): a thread often
 * alternates between two or three (a ping-pong's thread is preempted in its wake-up call, then waits),
 * and with one memo each switch-out would replace the other's and walk.
 */
#define UW_WAYS 4
struct uw_memos {
	struct uw_memo way[UW_WAYS];
	__u32 next; /* the way a new place takes */
};

/*
 * By thread id (deleted at its exec and its end; emptied at each activation); a thread's walks from
 * another place than its switch-outs (a waker's, at its wake-up) use UW_MEMO_OTHER | tid, so that
 * the two do not replace each other's memos.
 */
#define UW_MEMO_OTHER 0x80000000u
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct uw_memos);
} unwind_memos SEC(".maps");

/* A thread's first memos: zeroes, per CPU (too big for the BPF stack), copied into unwind_memos. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct uw_memos);
} unwind_memos_empty SEC(".maps");

/*
 * One walk's state: per CPU, since sched_switch cannot nest on a CPU. The walk is a state machine
 * that bpf_loop advances one small step at a time (record a frame, try one mapping, halve the row
 * range once, step to the caller): loops inside the callback would make the verifier walk every
 * combination of their iterations (a second of start-up, measured), a loop-free step is verified once.
 */
struct uw_state {
	__u64 pc, sp, bp;
	__u64 at;    /* the address looked up: pc, or pc - 1 for a return address */
	__u64 bias;  /* of the mapping found */
	__u32 n;     /* frames in pcs */
	__u32 status;
	__u32 phase;
	__u32 pad;
	__u32 lo, hi; /* the rows left, [lo, hi) */
	__u32 win_len; /* bytes of win, copied from sp up */
	__u64 win_base;
	__u64 pcs[PI_USTACK_MAX];
	__u64 fhash; /* frames_hash of pcs[0..n), once the walk is complete */
	/* the memo of this walk (uw_memo): the words read, while all lie in the window */
	__u64 memo_hash;
	__u32 memo_n;
	__u32 memo_ok;
	/* rbp is still the starting one (no frame restored it yet), and whether the walk used it */
	__u32 bp_start, bp_used;
	__u32 memo_span, memo_pad; /* bytes from sp up to the end of the furthest word read */
	/* uw_recall's progress: here, not on the BPF stack, where the verifier would track each value
	 * and walk every iteration of its loop apart */
	__u64 recall_h;
	__u32 recall_k, recall_n, recall_bad, recall_pad;
	__u16 memo_off[UW_MEMO_READS];
	__u8 win[UW_WINDOW];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct uw_state);
} unwind_scratch SEC(".maps");

struct uw_ctx {
	struct uw_state *st;
	const struct pi_unwind_proc *proc;
};

static __always_inline long uw_stop(struct uw_state *st, __u32 status)
{
	st->status = status;
	return 1;
}

/* 8 bytes of the thread's stack: from the window if it holds them, else read. 0 on success. ra: a return address. */
static __always_inline long uw_read(struct uw_state *st, __u64 addr, __u64 *out, __u16 ra)
{
	__u64 off = addr - st->win_base;

	if (addr >= st->win_base && off + 8 <= st->win_len && off <= UW_WINDOW - 8) {
		*out = *(__u64 *)(st->win + off);
		__u32 i = st->memo_n;
		if (i < UW_MEMO_READS) {
			st->memo_off[i & (UW_MEMO_READS - 1)] = off | ra;
			if (off + 8 > st->memo_span)
				st->memo_span = off + 8;
			st->memo_hash = pi_mix(st->memo_hash, *out);
			st->memo_n = i + 1;
		} else {
			st->memo_ok = 0;
		}
		return 0;
	}
	st->memo_ok = 0; /* a word outside the window: no memo */
	return bpf_probe_read_user(out, sizeof(*out), (void *)addr);
}

/* The caller's frame from the row that holds at the pc: CFA, return address, saved rbp. */
static __always_inline long uw_step(struct uw_state *st, const struct pi_unwind_row *r)
{
	if (r->cfa_reg == PI_CFA_END)
		return uw_stop(st, UW_END);
	if (r->cfa_reg != PI_CFA_RSP && r->cfa_reg != PI_CFA_RBP)
		return uw_stop(st, UW_FAIL);
	if (r->cfa_reg == PI_CFA_RBP && st->bp_start)
		st->bp_used = 1; /* code compiled with a frame pointer, before its caller's rbp is restored */
	__u64 cfa = (r->cfa_reg == PI_CFA_RSP ? st->sp : st->bp) + (__s64)r->cfa_off;
	__u64 ra = 0, bp = st->bp;
	if (uw_read(st, cfa - 8, &ra, UW_MEMO_RA))
		return uw_stop(st, UW_FAIL);
	if (r->rbp_off && uw_read(st, cfa + (__s64)r->rbp_off, &bp, 0))
		return uw_stop(st, UW_FAIL);
	if (r->rbp_off)
		st->bp_start = 0; /* from here on rbp is a word read (in the memo), not the register */
	if (ra == 0) /* a zeroed return address ends some chains (a thread's start without CFI saying so) */
		return uw_stop(st, UW_END);
	st->pc = ra;
	st->sp = cfa;
	st->bp = bp;
	st->phase = UW_FRAME;
	return 0;
}

/* One step of the walk (see uw_state). Returns 1 to stop; status says why. */
static long unwind_op(__u64 i, struct uw_ctx *c)
{
	struct uw_state *st = c->st;
	const struct pi_unwind_proc *proc = c->proc;

	if (st->phase == UW_FRAME) {
		__u32 n = st->n;
		if (n >= PI_USTACK_MAX)
			return uw_stop(st, UW_MAX);
		st->pcs[n] = st->pc;
		st->n = n + 1;
		/* a return address is just past its call: the call's row is the one that holds there */
		st->at = n ? st->pc - 1 : st->pc;
		st->phase = UW_FIND;
		return 0;
	}
	if (st->phase == UW_FIND) {
		/* the last mapping starting at or before at (they are sorted): five halvings of 32, unrolled */
		__u32 nmaps = proc->n, lo = 0, hi = nmaps < PI_UNWIND_MAPS ? nmaps : PI_UNWIND_MAPS;
		__u64 at = st->at;
#pragma unroll
		for (int k = 0; k < 5; k++) {
			if (lo + 1 < hi) {
				__u32 mid = (lo + hi) / 2;
				if (at >= proc->maps[mid & (PI_UNWIND_MAPS - 1)].start)
					lo = mid;
				else
					hi = mid;
			}
		}
		const struct pi_unwind_map *m = &proc->maps[lo & (PI_UNWIND_MAPS - 1)];
		if (!hi || at < m->start || at >= m->end || !m->count)
			return uw_stop(st, UW_FAIL); /* in no mapping with tables */
		st->bias = m->bias;
		st->lo = m->first;
		st->hi = m->first + m->count;
		st->phase = UW_SEARCH;
		return 0;
	}
	/* UW_SEARCH: the last row at or before at - bias, the range halved UW_HALVINGS times a step */
	__u64 v = st->at - st->bias;
#pragma unroll
	for (int k = 0; k < UW_HALVINGS; k++) {
		__u32 lo = st->lo, hi = st->hi;
		if (lo + 1 >= hi)
			break;
		__u32 mid = lo + (hi - lo) / 2;
		const struct pi_unwind_row *r = bpf_map_lookup_elem(&unwind_rows, &mid);
		if (!r)
			return uw_stop(st, UW_FAIL);
		if (r->pc <= v)
			st->lo = mid;
		else
			st->hi = mid;
	}
	__u32 lo = st->lo;
	if (lo + 1 < st->hi)
		return 0;
	const struct pi_unwind_row *r = bpf_map_lookup_elem(&unwind_rows, &lo);
	if (!r || r->pc > v)
		return uw_stop(st, UW_FAIL);
	return uw_step(st, r);
}

/*
 * Walks the frames from ip, sp and bp (the user registers of the task leaving the CPU, current
 * still: its memory is the one bpf_probe_read_user reads) with tgid's tables, into unwind_scratch.
 * Returns 1 if the tables took it to the outermost frame or to PI_USTACK_MAX frames, 0 if not (then
 * the caller copies the stack). A global function, so the verifier checks it once, on its own:
 * inlined into keytime_switch, its paths multiplied with schedule's after it (0.9 s of start-up
 * with -k -S, 0.15 s without the walk).
 */
/*
 * The memo of pid's last walk, if it holds for this one (same registers, same words): its frames
 * into st. 1 if so.
 */
struct uw_recall_ctx {
	struct uw_state *st;
	const struct uw_memo *m;
};

/* One word of the memo, hashed again from the new window (a return address also into pcs). */
static long uw_recall_word(__u64 i, struct uw_recall_ctx *c)
{
	struct uw_state *st = c->st;

	if (i >= c->m->nreads || i >= UW_MEMO_READS)
		return 1;
	__u32 o = c->m->off[i & (UW_MEMO_READS - 1)];
	__u32 off = o & (UW_WINDOW - 1);
	if (off + 8 > st->win_len || off > UW_WINDOW - 8) {
		st->recall_bad = 1;
		return 1;
	}
	__u64 v = *(__u64 *)(st->win + off);
	st->recall_h = pi_mix(st->recall_h, v);
	__u32 k = st->recall_k;
	if ((o & UW_MEMO_RA) && k < st->recall_n) {
		st->pcs[k & (PI_USTACK_MAX - 1)] = v;
		st->recall_k = k + 1;
	}
	return 0;
}

/* The memo of pid's walks from ip and sp (rbp too if the walk used it), or NULL. */
static __always_inline const struct uw_memo *uw_memo_for(__u32 pid, __u32 tgid, __u64 ip, __u64 sp, __u64 bp)
{
	const struct uw_memos *ms = bpf_map_lookup_elem(&unwind_memos, &pid);

	if (!ms)
		return NULL;
	for (__u32 i = 0; i < UW_WAYS; i++) {
		const struct uw_memo *m = &ms->way[i];
		/* rbp is often a plain register in -O2 code (a loop counter): compared only if the walk used it */
		if (m->tgid == tgid && m->ip == ip && m->sp == sp && (!m->need_bp || m->bp == bp) && m->n)
			return m;
	}
	return NULL;
}

static __always_inline int uw_recall(struct uw_state *st, __u32 pid, __u32 tgid, __u64 ip, __u64 sp, __u64 bp)
{
	const struct uw_memo *m = uw_memo_for(pid, tgid, ip, sp, bp);

	if (!m || m->n > PI_USTACK_MAX)
		return 0;
	/* only the words it read: a few hundred bytes, not the 4 KiB a walk may need */
	__u32 span = m->span;
	if (span < 8 || span > UW_WINDOW)
		return 0;
	st->win_base = sp;
	st->win_len = span;
	if (bpf_probe_read_user(st->win, span, (void *)sp))
		return 0;
	struct uw_recall_ctx c = { .st = st, .m = m };
	st->recall_h = PI_MIX_SEED;
	st->recall_k = 1;
	st->recall_n = m->n;
	st->recall_bad = 0;
	st->pcs[0] = ip;
	bpf_loop(UW_MEMO_READS, uw_recall_word, &c, 0);
	if (st->recall_bad || st->recall_h != m->hash || st->recall_k != st->recall_n)
		return 0;
	st->n = st->recall_n;
	st->status = m->status;
	st->fhash = m->fhash;
	return 1;
}

/* Keeps this complete walk of pid as its memo, if every word it read was in the window. */
static __always_inline void uw_remember(struct uw_state *st, __u32 pid, __u32 tgid, __u64 ip, __u64 sp, __u64 bp)
{
	if (!st->memo_ok || st->memo_n > UW_MEMO_READS)
		return;
	__u32 zero = 0;
	struct uw_memos *ms = bpf_map_lookup_elem(&unwind_memos, &pid);
	if (!ms) {
		const struct uw_memos *empty = bpf_map_lookup_elem(&unwind_memos_empty, &zero);
		if (!empty)
			return;
		bpf_map_update_elem(&unwind_memos, &pid, empty, BPF_NOEXIST);
		ms = bpf_map_lookup_elem(&unwind_memos, &pid);
		if (!ms)
			return;
	}
	/* the way of this place if it has one (its words changed), else the next in turn */
	__u32 w = ms->next % UW_WAYS, same = 0;
	for (__u32 i = 0; i < UW_WAYS; i++) {
		if (ms->way[i].tgid == tgid && ms->way[i].ip == ip && ms->way[i].sp == sp) {
			w = i;
			same = 1;
			break;
		}
	}
	if (w >= UW_WAYS)
		return;
	if (!same)
		ms->next = w + 1;
	/* written in place: a key's memos are written by its own thread only, one CPU at a time */
	struct uw_memo *m = &ms->way[w];
	m->n = 0; /* not a memo until complete */
	m->ip = ip;
	m->sp = sp;
	m->bp = bp;
	m->hash = st->memo_hash;
	m->tgid = tgid;
	m->nreads = st->memo_n;
	m->status = st->status;
	m->need_bp = st->bp_used;
	m->span = st->memo_span;
	m->fhash = st->fhash;
	__builtin_memcpy(m->off, st->memo_off, sizeof(m->off));
	m->n = st->n;
}

/* memo: the key of the thread's memo (its tid, or UW_MEMO_OTHER | tid) */
__noinline int unwind_user_regs(__u32 tgid, __u32 pid, __u64 ip, __u64 sp, __u64 bp)
{
	__u32 zero = 0;
	const struct pi_unwind_proc *proc = bpf_map_lookup_elem(&unwind_procs, &tgid);
	if (!proc)
		return 0;
	struct uw_state *st = bpf_map_lookup_elem(&unwind_scratch, &zero);
	if (!st)
		return 0;
	st->pc = ip;
	st->sp = sp;
	st->bp = bp;
	if (uw_recall(st, pid, tgid, ip, sp, bp))
		return 1;
	/* all or nothing: near the stack's top a whole window fails, then a quarter may not */
	st->win_base = st->sp;
	st->win_len = UW_WINDOW;
	if (bpf_probe_read_user(st->win, UW_WINDOW, (void *)st->sp)) {
		st->win_len = UW_WINDOW / 4;
		if (bpf_probe_read_user(st->win, UW_WINDOW / 4, (void *)st->sp))
			st->win_len = 0;
	}
	st->n = 0;
	st->status = UW_GOING;
	st->phase = UW_FRAME;
	st->memo_hash = PI_MIX_SEED;
	st->memo_n = 0;
	st->memo_ok = 1;
	st->bp_start = 1;
	st->bp_used = 0;
	st->memo_span = 0;
	struct uw_ctx c = { .st = st, .proc = proc };
	/* per frame: record it, find its mapping, halve 2^20 rows 20 times, step to the caller */
	bpf_loop(PI_USTACK_MAX * (3 + 20 / UW_HALVINGS + 1), unwind_op, &c, 0);
	int done = st->status == UW_END || st->status == UW_MAX;
	if (done) {
		__u32 n = st->n;
		st->fhash = frames_hash(st->pcs, (n > PI_USTACK_MAX ? PI_USTACK_MAX : n) * 8, PI_MIX_SEED);
		uw_remember(st, pid, tgid, ip, sp, bp);
	}
	return done;
}

/*
 * The user stack of task (off the CPU now, its registers saved), unwound from its process's tables:
 * the state with status UW_END (complete) or UW_MAX (PI_USTACK_MAX frames, it goes on), or NULL if
 * the tables could not take it all the way.
 */
static __always_inline struct uw_state *unwind_user_memo(struct task_struct *task, __u32 memo)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
	__u32 zero = 0;

	if (!unwind_user_regs(task->tgid, memo, BPF_CORE_READ(regs, ip), BPF_CORE_READ(regs, sp), BPF_CORE_READ(regs, bp)))
		return NULL;
	return bpf_map_lookup_elem(&unwind_scratch, &zero);
}

/* At its switch-out: the memo of the thread's switch-outs. */
static __always_inline struct uw_state *unwind_user(struct task_struct *task)
{
	return unwind_user_memo(task, task->pid);
}

/*
 * Copies are the exception once a process has tables, but a new busy process switches tens of
 * thousands of times before user space has read its files' tables (a few hundred ms), and at 13 KiB
 * a copy, 1300 of them fill a 16 MiB ring: every record, intervals too, would then be lost until
 * the reader caught up. So each CPU may copy UW_COPY_BUDGET stacks per UW_COPY_WINDOW_NS, and none
 * into a ring a quarter full; past that a switch-out goes without its user stack (counted: PI_LOST_USTACK_BUDGET), never without
 * its interval or kernel stack. 2,000 copies a second per CPU is ~27 MB/s into the ring.
 */
#define UW_COPY_WINDOW_NS 100000000ULL
#define UW_COPY_BUDGET 200

struct uw_budget {
	__u64 window;
	__u64 used;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct uw_budget);
} unwind_copy_budget SEC(".maps");

/* Whether a stack may be copied now on this CPU (and, if so, counts it). */
static __always_inline int unwind_may_copy(__u64 now)
{
	__u32 zero = 0;
	struct uw_budget *b = bpf_map_lookup_elem(&unwind_copy_budget, &zero);

	if (!b)
		return 1;
	__u64 window = now / UW_COPY_WINDOW_NS;
	if (b->window != window) {
		b->window = window;
		b->used = 0;
	}
	if (b->used >= UW_COPY_BUDGET)
		return 0;
	/*
	 * and never into a ring a quarter full: a reader slower than the copies (a loaded machine) would
	 * otherwise lose whole records, intervals with them, to 13 KiB copies
	 */
	if (bpf_ringbuf_query(&pi_events, BPF_RB_AVAIL_DATA) > bpf_ringbuf_query(&pi_events, BPF_RB_RING_SIZE) / 4)
		return 0;
	b->used++;
	return 1;
}

/* A new process has its parent's mappings: and so its tables, before it runs. */
static __always_inline void unwind_fork(__u32 parent_tgid, __u32 child_tgid)
{
	const struct pi_unwind_proc *proc = bpf_map_lookup_elem(&unwind_procs, &parent_tgid);
	if (proc)
		bpf_map_update_elem(&unwind_procs, &child_tgid, proc, BPF_ANY);
}

/* An exec replaced the image: its tables are user space's to load again. */
static __always_inline void unwind_forget(__u32 tgid)
{
	bpf_map_delete_elem(&unwind_procs, &tgid);
}

/* A thread exec'd or ended: its memo names another image's frames. */
static __always_inline void unwind_forget_thread(__u32 pid)
{
	__u32 other = pid | UW_MEMO_OTHER;

	bpf_map_delete_elem(&unwind_memos, &pid);
	bpf_map_delete_elem(&unwind_memos, &other);
}

#endif /* UNWIND_BPF_H */
