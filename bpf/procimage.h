/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Every struct and enum that crosses the kernel/user boundary, and nothing else.
 *
 * Fixed-width types only (no bool/int/long/pointers), explicit padding, arrays sized by a #define:
 * the TypeScript side does not hand-copy these layouts, it generates its offsets from the BTF of the
 * built objects (tools/gen-layout.ts -> src/gen/layout.ts), so a struct here is the single source.
 * Keep every struct a multiple of 8 bytes so records stay 8-aligned in the drain buffer.
 */
#ifndef PROCIMAGE_H
#define PROCIMAGE_H

#define PI_COMM_LEN 16
#define PI_FILENAME_LEN 256
#define PI_ARGS_LEN 1024 /* power of two: the read length is masked with PI_ARGS_LEN - 1 */
#define PI_SC_NR_MAX 512  /* per-number arrays have this many slots, plus one for every number past it */
#define PI_SC_SEQ_MAX 50  /* the longest syscall sequence (-s N) */
#define PI_SC_RING 64     /* per-thread ring of the latest syscall numbers: a power of two > PI_SC_SEQ_MAX */
#define PI_LOCK_STACK_DEPTH 20 /* frames kept of a lock's user or kernel stack */
#define PI_MAX_CPUS 1024  /* bound of loops over CPUs (they stop at the last possible one) */

/* Bit per category, in the policy's `categories` mask. */
enum pi_category {
	PI_CAT_KEYTIME = 1 << 0,
	PI_CAT_LOCK = 1 << 1,
	PI_CAT_RESOURCE = 1 << 2,
	PI_CAT_SYSCALL = 1 << 3,
	PI_CAT_SCHEDULE = 1 << 4,
};

/* What the policy selects (SPEC "Targets"). */
enum pi_target_kind {
	PI_TARGET_NONE = 0, /* ready state: nothing is a target */
	PI_TARGET_ALL = 1,  /* every thread but procimage's own (unless myproc) and the idle tasks */
	PI_TARGET_PID = 2,  /* one thread */
	PI_TARGET_TGID = 3, /* one thread group, and every process it forks after activation */
	PI_TARGET_CPU = 4,  /* the idle task (pid 0) of one CPU */
};

/*
 * First field of every ring-buffer record; user space dispatches on it. Each category owns a range,
 * so categories developed side by side never collide: keytime 1-19, schedule 20-29, syscall 30-39,
 * lock 40-49, resource 50-59.
 */
enum pi_event_type {
	PI_EV_FORK = 1,
	PI_EV_EXEC = 2,
	PI_EV_EXIT = 3,
	PI_EV_SYSCALL_SEQ = 30,
	PI_EV_LOCK_STACK = 40,
};

/*
 * Index into the per-CPU `pi_lost` counters: every record or map entry the kernel side had to drop.
 * Ranges per category as for event types: shared 0-7, keytime 8-11, schedule 12-15, syscall 16-19,
 * lock 20-23, resource 24-27.
 */
enum pi_lost_reason {
	PI_LOST_RINGBUF = 0,     /* bpf_ringbuf_reserve failed: the consumer fell behind */
	PI_LOST_FOLLOW_FULL = 1, /* a child's tgid lies beyond the pi_follow bitmap: it is not followed */
	PI_LOST_SC_THREADS_FULL = 16, /* sc_threads full: a thread's sequence and latencies are not kept */
	PI_LOST_SC_STATS_FULL = 17,   /* sc_stats full: a (thread, syscall) pair is not counted */
	PI_LOST_SC_ERRNOS_FULL = 18,  /* sc_errnos full: an error is counted, its errno is not */
	PI_LOST_LOCK_STATS_FULL = 20, /* lk_stats / futex_waits full: a (lock, thread) pair is not counted */
	PI_LOST_LOCK_CALLS_FULL = 21, /* lk_calls / lk_kwaits / futex_inflight full: a call in flight is not timed */
	PI_LOST_LOCK_HOLDS_FULL = 22, /* lk_holds full: a hold is not timed */
	PI_LOST_MAX = 32,
};

/*
 * The live policy: one slot of the pinned `pi_policy` array map, written by user space at activation
 * (`procimage ctl -a`) and read by every program on every event. Zeroed = ready state.
 */
struct pi_policy {
	__u32 active;         /* 0 in the ready state; programs return at once */
	__u32 target_kind;    /* enum pi_target_kind */
	__u32 target_id;      /* pid, tgid or cpu, per target_kind */
	__u32 categories;     /* enum pi_category bits */
	__u32 keytime_mode;   /* 0: no per-interval on-CPU records; 1: everything */
	__u32 syscall_seq_len; /* 1..50: length of the per-thread syscall sequence */
	__u32 myproc;         /* 1: procimage's own threads may be targets */
	__u32 pad;
};

/* Common head of every ring-buffer record. `pid` is the thread id, `tgid` the process id. */
struct pi_event_hdr {
	__u32 type;  /* enum pi_event_type */
	__u32 cpu;
	__u32 pid;
	__u32 tgid;
	__u64 ts_ns; /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	char comm[PI_COMM_LEN];
};

/* fork/clone: hdr is the parent (the task that called fork/clone). */
struct pi_fork_event {
	struct pi_event_hdr hdr;
	__u32 child_pid;
	__u32 child_tgid;
	__u64 child_start_ns; /* child's task->start_time (CLOCK_MONOTONIC) */
};

/* exec: hdr is the task after the exec (new comm). */
struct pi_exec_event {
	struct pi_event_hdr hdr;
	__u32 old_pid;   /* differs from hdr.pid when a non-leader thread exec'd */
	__u32 ppid;      /* tgid of the real parent */
	__u32 args_len;  /* bytes of args[] that are valid: NUL-separated argv */
	__u32 args_truncated;
	char filename[PI_FILENAME_LEN];
	char args[PI_ARGS_LEN];
};

/*
 * exit: from sched_process_exit, which do_exit() reaches for every way a task ends: return from
 * main, exit/exit_group, a fatal signal, a kill of the whole group.
 */
struct pi_exit_event {
	struct pi_event_hdr hdr;
	__u32 exit_code;   /* wait(2) status: (code << 8) or the terminating signal | 0x80 if core */
	__u32 group_dead;  /* 1: the last thread of the process, so this is the process's exit */
	__u64 start_ns;    /* task->start_time (CLOCK_MONOTONIC): the thread's creation */
	__u64 process_start_ns; /* group_leader->start_time: the process's creation */
	__u64 oncpu_ns;    /* task->se.sum_exec_runtime: the thread's total on-CPU time */
	__u32 ppid;        /* tgid of the real parent */
	__u32 pad;
};

/* ---- syscall (bpf/syscall.bpf.c) ---------------------------------------------------------- */

/*
 * Per target thread (map sc_threads, by pid): the syscall in flight and a ring of the latest syscall
 * numbers. Syscall k of the thread (0-based, counted from activation) is at ring[k % PI_SC_RING];
 * syscalls [emitted, count) are not yet handed over in a syscall_seq record. A thread that exits is
 * marked, and user space deletes its entry once it has reported it.
 */
struct pi_sc_thread {
	__u64 enter_ns; /* sys_enter of the syscall in flight; 0: none seen */
	__u64 count;    /* syscalls entered since activation */
	__u64 emitted;  /* of which handed over in syscall_seq records */
	__u32 nr;       /* the syscall in flight (when enter_ns != 0) */
	__u32 tgid;
	__u32 exited;   /* 1: the thread has exited (its last syscalls are handed over) */
	__u32 pad;
	char comm[PI_COMM_LEN]; /* at its first syscall, and again after an execve */
	__u32 ring[PI_SC_RING];
};

/* Key of sc_stats: one thread, one syscall number. */
struct pi_sc_key {
	__u32 pid;
	__u32 nr;
};

struct pi_sc_stat {
	__u64 count;    /* calls, counted when they return (exit and exit_group, which never do: at entry) */
	__u64 errors;   /* returns in -4095..-1 */
	__u64 timed;    /* calls whose sys_enter was seen too: the latency figures cover these */
	__u64 total_ns; /* sum of sys_enter -> sys_exit over the timed calls */
	__u64 max_ns;
	__u32 tgid;
	__u32 pad;
};

/* Key of sc_errnos (value: a u64 count): which errno a thread's syscall failed with. */
struct pi_sc_errno_key {
	__u32 pid;
	__u32 nr;
	__u32 err; /* positive errno */
	__u32 pad;
};

/*
 * syscall_seq: `len` consecutive syscalls of a thread, handed over when N (-s N) have accumulated,
 * or fewer when the thread exits. Syscall first + i is at ring[(first + i) % PI_SC_RING].
 */
struct pi_syscall_seq_event {
	struct pi_event_hdr hdr;
	__u64 first;    /* index (since activation, in this thread) of the first syscall of the batch */
	__u32 len;
	__u32 partial;  /* 1: flushed at thread exit before N had accumulated */
	__u32 ring[PI_SC_RING];
};

/* ---- lock (bpf/lock.bpf.c; futex waits: bpf/futex.bpf.h, run by syscall.bpf.c's programs) ---- */

/* What a lock statistic is about. */
enum pi_lock_kind {
	PI_LK_MUTEX = 1,        /* pthread_mutex_* */
	PI_LK_RWLOCK_READ = 2,  /* pthread_rwlock_rdlock / tryrdlock */
	PI_LK_RWLOCK_WRITE = 3, /* pthread_rwlock_wrlock / trywrlock */
	PI_LK_SPIN = 4,         /* pthread_spin_* */
	PI_LK_FUTEX = 5,        /* a futex wait (the syscall) */
	PI_LK_KERNEL = 6,       /* lock:contention_begin/end; the key's flags say which kind */
};

/* The glibc function a uprobe is on: its bpf_cookie. */
enum pi_lock_op {
	PI_LOCK_OP_MUTEX_LOCK = 1,
	PI_LOCK_OP_MUTEX_TRYLOCK = 2,
	PI_LOCK_OP_MUTEX_UNLOCK = 3,
	PI_LOCK_OP_RW_RDLOCK = 4,
	PI_LOCK_OP_RW_TRYRDLOCK = 5,
	PI_LOCK_OP_RW_WRLOCK = 6,
	PI_LOCK_OP_RW_TRYWRLOCK = 7,
	PI_LOCK_OP_RW_UNLOCK = 8,
	PI_LOCK_OP_SPIN_LOCK = 9,
	PI_LOCK_OP_SPIN_TRYLOCK = 10,
	PI_LOCK_OP_SPIN_UNLOCK = 11,
	/*
	 * glibc's pthread_spin_lock begins with a locked decrement, an instruction x86 uprobes refuse:
	 * it is probed after it instead (each attempt; the flags say whether it took the lock) and at
	 * the instruction its success falls through to.
	 */
	PI_LOCK_OP_SPIN_ATTEMPT = 12,
	PI_LOCK_OP_SPIN_ACQUIRED = 13,
};

/* Key of lk_stats and futex_waits: one lock (or futex word), one thread, one kind of use. */
struct pi_lock_key {
	__u64 addr;  /* user address of the lock / futex word, or kernel address of the lock */
	__u32 tgid;
	__u32 pid;
	__u32 kind;  /* enum pi_lock_kind */
	__u32 flags; /* kernel locks: the tracepoint's LCB_F_* flags; else 0 */
};

struct pi_lock_stat {
	__u64 acquisitions;  /* pthread: successful lock calls */
	__u64 contended;     /* pthread: acquisitions that found the lock held; futex: waits; kernel: contentions */
	__u64 failed;        /* pthread: trylock busy or lock error; futex/kernel: waits that returned an error */
	__u64 wait_total_ns; /* pthread: time in the lock call (acquisitions); futex, kernel: time waiting */
	__u64 wait_min_ns;
	__u64 wait_max_ns;
	__u64 hold_count;    /* pthread: unlocks matched to an acquisition of this thread */
	__u64 hold_total_ns;
	__u64 hold_min_ns;
	__u64 hold_max_ns;
	__u32 stack_len;     /* frames in stack[] (0: none captured) */
	__u32 pad;
	char comm[PI_COMM_LEN]; /* the thread's name at its first use of the lock */
	__u64 stack[PI_LOCK_STACK_DEPTH]; /* pthread: user stack of the first contended acquisition;
	                                     kernel: the waiter's kernel stack at its longest wait */
};

/*
 * lock_stack: a user stack was just captured in hdr.tgid (a first contended acquisition). Not a
 * record users see: it tells user space to read the process's mappings now, while it surely still
 * has them, so that the stack can be symbolized even if the process is gone by the next poll.
 */
struct pi_lock_stack_event {
	struct pi_event_hdr hdr;
};

/* A pthread lock call in flight (lk_calls, by pid) or a futex wait in flight (futex_inflight). */
struct pi_lock_call {
	__u64 addr;
	__u64 start_ns;
	__u32 op;        /* enum pi_lock_op */
	__u32 contended; /* the lock was held when the call began */
};

/* Key of lk_holds and lk_kwaits: one lock, one thread. */
struct pi_thread_addr {
	__u64 addr;
	__u32 pid;
	__u32 pad;
};

/* A lock held (lk_holds) or a kernel contention in progress (lk_kwaits). */
struct pi_lock_hold {
	__u64 start_ns;
	__u32 kind;  /* enum pi_lock_kind; lk_kwaits: the LCB_F_* flags */
	__u32 depth; /* recursive acquisitions by the same thread */
};

#endif /* PROCIMAGE_H */
