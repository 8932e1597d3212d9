/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kmemo: a thread's kernel stack at its switch-out, remembered, so that the next switch-out of the
 * thread from the same place costs a few compares instead of a walk.
 *
 * Why: bpf_get_stack walks the kernel stack with the ORC unwinder, 2-2.5 µs on this kind of machine,
 * and a ping-pong switches out ~100,000 times a second, from the same place nearly every time. That
 * walk was most of keytime's cost per switch (docs/performance.md, issue 16 "Step 3").
 *
 * How it stays exact: a walk steps from each frame to its caller by a frame size that the return
 * address alone decides (ORC keys its tables by address), so from the same starting point it is
 * decided by the return addresses it reads and where it reads them. The memo keeps, for each frame,
 * the slot of the thread's kernel stack where its return address lay; the next switch-out reads
 * those slots and compares each with the frame remembered for it. All equal: the walk would read the
 * same words at the same places and return the same frames. The slots are found once, after a walk,
 * by scanning down from the stack's top for each frame in turn, outermost first.
 *
 * Where a slot is: a system call's frames hang from the stack's top, but do_syscall_64 moves the
 * rest down by a random 0-1 KiB at every call (CONFIG_RANDOMIZE_KSTACK_OFFSET, on by default), so
 * the frames from the one returning into it inwards are placed by their distance above this
 * program's own frame (the same distance at every switch: the same calls lead here from
 * __schedule), and only those above it by their distance below the top.
 *
 * The frames kept start at the tracepoint's caller (__schedule: its range in kstack_caller, from
 * kallsyms): those below it are this program and the tracing glue, the same at every switch, on
 * slots this program's own calls overwrite, and dropped by user space anyway (src/model/stacks.ts).
 * Until user space has told the range, or for a stack whose frames are not all found within KM_SPAN
 * bytes, every switch-out walks, as without the memo. pi_kstack_check (tests) walks on every hit
 * too and counts the hits whose walk disagreed.
 */
#ifndef PI_KMEMO_BPF_H
#define PI_KMEMO_BPF_H

#include "common.bpf.h"

/*
 * THREAD_SIZE: 16 KiB on x86-64 without KASAN (this kernel's). With another size the frames are not
 * where this top says (or the read fails): none is remembered, every switch-out walks.
 */
const volatile __u32 pi_thread_size = 16384;
/* Tests (PROCIMAGE_KSTACK_CHECK=1): walk on every memo hit too, and count disagreements (PI_KSTACK_DIFFERED). */
const volatile __u32 pi_kstack_check = 0;

#define KM_SPAN 4096 /* bytes below the top searched for the frames: a sleep's frames lie well within */
#define KM_WORDS (KM_SPAN / 8)

struct kmemo {
	__u64 frames[PI_KSTACK_MAX];
	__u16 off[PI_KSTACK_MAX]; /* frames[i]'s slot lies off[i] bytes below the stack's top */
	__u64 hash;               /* of the frames (the kernel part of a stacks sig) */
	__u64 key;                /* what the switch-out looked like (kstack_out's caller says) */
	__u32 bytes;              /* of frames */
	__u32 known;              /* the slots are known: usable next time */
	__u16 pos[PI_KSTACK_MAX]; /* frames[i]'s slot: above this program's frame (i < inner), below the top */
	__u16 inner;              /* frames placed from this program's frame */
	__u16 ilo, ispan;         /* the inner slots: ispan bytes from ilo above the frame */
	__u16 ospan;              /* the outer slots: the top ospan bytes */
};

/*
 * A few memos per thread: a thread often alternates between two or three places (a ping-pong's
 * thread is preempted in its wake-up call, then sleeps in its wait), each its own way, picked by key.
 */
#define KM_WAYS 4
struct kmemos {
	struct kmemo way[KM_WAYS];
	__u32 next; /* the way a new key takes */
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct kmemos);
} kstack_memos SEC(".maps");

/*
 * [lo, hi): the function that calls the tracepoint (__schedule), and the one that moves a system
 * call's frames by a random offset (do_syscall_64; 0 if none). Set by user space from kallsyms.
 */
struct km_caller {
	__u64 lo, hi;
	__u64 rand_lo, rand_hi;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct km_caller);
} kstack_caller SEC(".maps");

#define KM_OUTER 1024 /* bytes of the outer slots at most: pt_regs and the entry's frame */

/* The stack being searched (the top KM_SPAN bytes) or compared (w: inner, o: outer): per CPU. */
struct km_window {
	__u64 w[KM_WORDS];
	__u64 o[KM_OUTER / 8];
	__u64 here;         /* this program's frame's address, through memory: a pointer made a number */
	struct kmemo check; /* pi_kstack_check's walk */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct km_window);
} kstack_window SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PI_KSTACK_STAT_MAX); /* enum pi_kstack_stat */
	__type(key, __u32);
	__type(value, __u64);
} kstack_memo_stats SEC(".maps");

struct km_ctx {
	struct kmemo *m;
	const struct km_window *win;
	const struct km_caller *caller;
	__u64 top, fp; /* the stack's top, this program's frame */
	__u32 n;       /* frames */
	__s32 j;       /* search: the frame looked for next (outermost first); skip: the caller's frame */
	__u32 bad;     /* compare, place: a slot differed, or lies out of reach */
};

/* skip: the first frame in the tracepoint's caller */
static long km_skip(__u64 i, struct km_ctx *c)
{
	if (i >= c->n || i >= PI_KSTACK_MAX)
		return 1;
	__u64 f = c->m->frames[i];
	if (f > c->caller->lo && f <= c->caller->hi) { /* a return address: its call lies just before it */
		c->j = i;
		return 1;
	}
	return 0;
}

/* shift: frames[i] = frames[i + j], the glue below the caller dropped */
static long km_shift(__u64 i, struct km_ctx *c)
{
	__u64 from = i + (__u32)c->j;

	if (from >= c->n || from >= PI_KSTACK_MAX || i >= PI_KSTACK_MAX)
		return 1;
	c->m->frames[i] = c->m->frames[from];
	return 0;
}

/* compare: frame i's slot still holds it */
static long km_compare(__u64 i, struct km_ctx *c)
{
	if (i >= c->n || i >= PI_KSTACK_MAX)
		return 1;
	const struct kmemo *m = c->m;
	__u32 pos = m->pos[i], idx;
	__u64 w;
	if (i < m->inner) {
		idx = (pos - m->ilo) / 8;
		barrier_var(idx); /* checked on the copy that indexes */
		if (pos < m->ilo || idx >= KM_WORDS) {
			c->bad = 1;
			return 1;
		}
		w = c->win->w[idx];
	} else {
		idx = (m->ospan - pos) / 8;
		barrier_var(idx);
		if (pos > m->ospan || idx >= KM_OUTER / 8) {
			c->bad = 1;
			return 1;
		}
		w = c->win->o[idx];
	}
	if (w != m->frames[i]) {
		c->bad = 1;
		return 1;
	}
	return 0;
}

/* place: frame i's slot (off[i] below the top) as compare finds it; inner from the random offset's frame */
static long km_place(__u64 i, struct km_ctx *c)
{
	if (i >= c->n || i >= PI_KSTACK_MAX)
		return 1;
	struct kmemo *m = c->m;
	__u64 slot = c->top - m->off[i];
	if (i < m->inner) {
		if (slot < c->fp + 8 || slot - c->fp > 0xffff) {
			c->bad = 1; /* below this program's frame: not a live slot */
			return 1;
		}
		m->pos[i] = slot - c->fp;
	} else {
		m->pos[i] = m->off[i];
	}
	if (c->caller->rand_lo && m->frames[i] > c->caller->rand_lo && m->frames[i] <= c->caller->rand_hi)
		m->inner = i + 1; /* the frames up to this one move with the random offset */
	return 0;
}

/* search: the word (i + 1) * 8 bytes below the top (win->w: the top KM_SPAN bytes), against the frame looked for */
static long km_search(__u64 i, struct km_ctx *c)
{
	__u32 j = (__u32)c->j; /* done below 0: a huge number unsigned */
	barrier_var(j);
	if (j >= PI_KSTACK_MAX)
		return 1;
	__u32 idx = KM_WORDS - 1 - (__u32)i;
	barrier_var(idx);
	if (idx >= KM_WORDS)
		return 1;
	if (c->win->w[idx] == c->m->frames[j]) {
		c->m->off[j] = (i + 1) * 8;
		c->j--;
	}
	return 0;
}

/* Drops the frames below the tracepoint's caller; 0 if it is not among them (or not known yet). */
static __always_inline int km_from_caller(struct kmemo *m)
{
	__u32 zero = 0;
	const struct km_caller *caller = bpf_map_lookup_elem(&kstack_caller, &zero);

	if (!caller || !caller->lo)
		return 0;
	struct km_ctx c = { .m = m, .caller = caller, .n = m->bytes / 8, .j = -1 };
	bpf_loop(PI_KSTACK_MAX, km_skip, &c, 0);
	if (c.j < 0)
		return 0;
	if (c.j > 0) {
		bpf_loop(PI_KSTACK_MAX, km_shift, &c, 0);
		m->bytes -= c.j * 8;
	}
	return 1;
}

/* Whether a memo holds: the slots it names hold its frames still. */
static __always_inline int km_holds(struct kmemo *m, __u64 top, __u64 fp, struct km_window *win)
{
	__u32 ispan = m->ispan, ospan = m->ospan;

	if (!m->known || m->bytes < 8 || ispan < 8 || ispan > KM_SPAN || ospan > KM_OUTER)
		return 0;
	if (bpf_probe_read_kernel(win->w, ispan, (void *)(fp + m->ilo)))
		return 0;
	if (ospan >= 8 && bpf_probe_read_kernel(win->o, ospan, (void *)(top - ospan)))
		return 0;
	struct km_ctx c = { .m = m, .win = win, .n = m->bytes / 8 };
	bpf_loop(PI_KSTACK_MAX, km_compare, &c, 0);
	return !c.bad;
}

/* After a walk into m: its frames from the caller on, their hash, and their slots (or span 0). */
static __always_inline void km_learn(struct kmemo *m, __u64 top, __u64 fp, struct km_window *win)
{
	m->known = 0;
	if (!km_from_caller(m)) {
		m->hash = frames_hash(m->frames, m->bytes, PI_MIX_SEED);
		pi_count(&kstack_memo_stats, PI_KSTACK_UNPLACED);
		return;
	}
	m->hash = frames_hash(m->frames, m->bytes, PI_MIX_SEED);
	__u32 zero = 0;
	const struct km_caller *caller = bpf_map_lookup_elem(&kstack_caller, &zero);
	struct km_ctx c = { .m = m, .win = win, .caller = caller, .top = top, .fp = fp, .n = m->bytes / 8 };
	if (!caller || !c.n || bpf_probe_read_kernel(win->w, KM_SPAN, (void *)(top - KM_SPAN)))
		return;
	c.j = (__s32)c.n - 1;
	bpf_loop(KM_WORDS, km_search, &c, 0);
	if (c.j >= 0 || c.n > PI_KSTACK_MAX) {
		pi_count(&kstack_memo_stats, PI_KSTACK_UNPLACED);
		return;
	}
	m->inner = c.n; /* all of them, unless a frame returns into the random offset's function */
	bpf_loop(PI_KSTACK_MAX, km_place, &c, 0);
	__u32 inner = m->inner, last = inner - 1, first_outer = inner;
	if (c.bad || !inner || last >= PI_KSTACK_MAX) {
		pi_count(&kstack_memo_stats, PI_KSTACK_UNPLACED);
		return;
	}
	m->ilo = m->pos[0]; /* the innermost frame lies lowest */
	m->ispan = m->pos[last] + 8 - m->ilo;
	m->ospan = first_outer < c.n && first_outer < PI_KSTACK_MAX ? m->off[first_outer] : 0;
	if (m->ispan > KM_SPAN || m->ospan > KM_OUTER) {
		pi_count(&kstack_memo_stats, PI_KSTACK_UNPLACED);
		return;
	}
	m->known = 1;
}

/* A global function's arguments, typed for the verifier (kernel 6.8+ reads these BTF tags). */
#define __arg_ctx __attribute__((btf_decl_tag("arg:ctx")))
#define __arg_trusted __attribute__((btf_decl_tag("arg:trusted")))

/*
 * The kernel stack of prev, the task leaving the CPU (ctx: sched_switch's): its memo if the memo
 * holds, else walked and remembered. key: the switch-out's state and system call, which pick the
 * way. Returns the way + 1, 0 only without task storage (then the caller walks).
 * Global, so that the verifier checks it once, not once per path of keytime_out that calls it
 * (a static one cost a second of start-up, measured).
 */
__noinline int kstack_out_way(void *ctx __arg_ctx, struct task_struct *prev __arg_trusted, __u64 key)
{
	__u32 zero = 0;
	struct kmemos *ms = bpf_task_storage_get(&kstack_memos, prev, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	struct km_window *win = bpf_map_lookup_elem(&kstack_window, &zero);

	if (!ms || !win)
		return 0;
	/* the way remembered for this key (a thread rarely has two stacks for one), else the oldest */
	__u32 w = ms->next % KM_WAYS, found = 0;
	for (__u32 i = 0; i < KM_WAYS; i++) {
		if (ms->way[i].key == key && ms->way[i].known) {
			w = i;
			found = 1;
			break;
		}
	}
	if (w >= KM_WAYS)
		return 0;
	struct kmemo *m = &ms->way[w];
	__u64 top = (__u64)prev->stack + pi_thread_size;
	__u64 here = 0;
	win->here = (__u64)&here; /* the verifier lets root store a stack address; read back, a number */
	__u64 fp = *(volatile __u64 *)&win->here;
	if (found && km_holds(m, top, fp, win)) {
		pi_count(&kstack_memo_stats, PI_KSTACK_REMEMBERED);
		if (pi_kstack_check) {
			struct kmemo *k = &win->check;
			long n = bpf_get_stack(ctx, k->frames, sizeof(k->frames), 0);
			k->bytes = n > 0 ? n : 0;
			if (!km_from_caller(k) || k->bytes != m->bytes ||
			    frames_hash(k->frames, k->bytes, PI_MIX_SEED) != m->hash)
				pi_count(&kstack_memo_stats, PI_KSTACK_DIFFERED);
		}
		return w + 1;
	}
	if (!found)
		ms->next = w + 1;
	pi_count(&kstack_memo_stats, PI_KSTACK_WALKED);
	long n = bpf_get_stack(ctx, m->frames, sizeof(m->frames), 0);
	m->bytes = n > 0 ? n : 0;
	m->key = key;
	km_learn(m, top, fp, win);
	return w + 1;
}

/* kstack_out_way's memo: NULL only without task storage (then the caller walks). */
static __always_inline struct kmemo *kstack_out(void *ctx, struct task_struct *prev, __u64 key)
{
	__u32 w = kstack_out_way(ctx, prev, key);

	if (!w || w > KM_WAYS)
		return NULL;
	struct kmemos *ms = bpf_task_storage_get(&kstack_memos, prev, 0, 0);
	return ms ? &ms->way[(w - 1) & (KM_WAYS - 1)] : NULL; /* KM_WAYS: a power of 2 */
}

#endif
