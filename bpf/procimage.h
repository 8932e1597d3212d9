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
#define PI_KSTACK_MAX 64    /* kernel frames kept per stack */
#define PI_USTACK_MAX 64    /* user frames kept per stack unwound in the kernel (frame pointers or tables) */
#define PI_STACK_PAGES 3    /* user stack pages copied for DWARF unwinding: >= 8 KiB above sp */
#define PI_PAGE 4096
#define PI_LOG2_SLOTS 40    /* log2 histograms of ns: slot i counts [2^i, 2^(i+1)), the last also
                               everything longer (~18 min and up); slot 0 also counts 0 ns */
#define PI_SC_NR_MAX 512  /* per-number arrays have this many slots, plus one for every number past it */
#define PI_SC_SEQ_MAX 50  /* the longest syscall sequence (-s N) */
#define PI_SC_RING 64     /* per-thread ring of the latest syscall numbers: a power of two > PI_SC_SEQ_MAX */
#define PI_SC_THREADS 16384 /* target threads with syscall state at once (sc_slots): a multiple of 64 */
#define PI_SC_POS 64      /* per thread: where its syscalls' figures are, by number (a power of two) */
#define PI_SC_PROBES 4    /* positions a number may take, from nr % PI_SC_POS on; past them: sc_stats */
#define PI_SC_FAST 8192   /* (thread, syscall) pairs in the sc_fast array; more go to the sc_stats hash */
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

/* How user stacks are taken at switch-out (keytime). */
enum pi_stack_mode {
	PI_STACK_NONE = 0,
	PI_STACK_FP = 1,    /* bpf_get_stack(BPF_F_USER_STACK): frame pointers, cheap, incomplete without them */
	PI_STACK_DWARF = 2, /* .eh_frame: unwound in the kernel from tables (pi_unwind_row) where the
	                       process has them, else registers + a copy of the stack top, unwound in
	                       user space (native/unwind.c) */
	PI_STACK_DWARF_COPY = 3, /* always the copy (no tables): the user-space unwinder alone */
};

/* How a user stack unwound in the kernel ended (pi_switch_out_event.ustack_stop). */
enum pi_ustack_stop {
	PI_USTACK_END = 0,       /* at the outermost frame: complete */
	PI_USTACK_MAX_FRAMES = 1, /* PI_USTACK_MAX frames: it goes on */
	PI_USTACK_NOT_TAKEN = 2, /* no tables, and copies were over their budget: no user stack */
};

/*
 * Unwind tables (native/cfitable.c -> bpf/unwind.bpf.h). A row holds from its pc to the next row's:
 * the CFA is cfa_reg + cfa_off, the return address is at CFA - 8, and the caller's rbp at
 * CFA + rbp_off (rbp_off 0: this frame left rbp as it was).
 */
#define PI_CFA_NONE 0 /* nothing known here (a gap, or a rule a row cannot say): the copy path */
#define PI_CFA_RSP 1
#define PI_CFA_RBP 2
#define PI_CFA_END 3  /* the return address is undefined: the outermost frame */
#define PI_UNWIND_MAPS 32 /* executable file mappings of a process the kernel unwinds through */

struct pi_unwind_row {
	__u64 pc;      /* as the ELF file numbers its addresses */
	__s32 cfa_off;
	__s16 rbp_off;
	__u8 cfa_reg;  /* PI_CFA_* */
	__u8 pad;
};

/* One executable mapping of a process with its file's rows: pc - bias is the file's address. */
struct pi_unwind_map {
	__u64 start;
	__u64 end;
	__u64 bias;
	__u32 first; /* index of the file's first row in the rows array */
	__u32 count;
};

/* A process's mappings with tables (unwind_procs, by tgid), sorted by start. */
struct pi_unwind_proc {
	__u32 n;
	__u32 pad;
	struct pi_unwind_map maps[PI_UNWIND_MAPS];
};

/* What the policy selects (SPEC "Targets"). */
enum pi_target_kind {
	PI_TARGET_NONE = 0, /* ready state: nothing is a target */
	PI_TARGET_ALL = 1,  /* every thread but procimage's own (unless myproc) and the idle tasks */
	PI_TARGET_PID = 2,  /* one thread */
	PI_TARGET_TGID = 3, /* one thread group, and every process it forks after activation */
	PI_TARGET_CPU = 4,  /* the idle task (pid 0) of one CPU */
	PI_TARGET_CGROUP = 5, /* every thread in a cgroup v2 (target_cgroup_id) or below it, as they come and go */
	PI_TARGET_CONTAINERS = 6, /* every thread outside the root cgroup namespace (-o) */
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
	PI_EV_SWITCH_OUT = 4,       /* a target left the CPU: ends an on-CPU interval, starts an off-CPU one */
	PI_EV_SWITCH_OUT_DWARF = 5, /* the same, with registers and a stack copy for DWARF unwinding */
	PI_EV_SWITCH_IN = 6,        /* a target got the CPU back: ends an off-CPU interval */
	PI_EV_WAKER = 7,            /* a target asleep (S, D) was woken: who woke it, with its stacks */
	PI_EV_MIGRATE = 8,          /* a target thread moved to another CPU */
	PI_EV_WAKER_DWARF = 9,      /* a waker's record with its registers and a stack copy for DWARF unwinding */
	PI_EV_SYSCALL_SEQ = 30,
	PI_EV_LOCK_STACK = 40,
	PI_EV_LOCK_EXEC = 41,       /* a followed process exec'd and is held (stopped) until its lock probes are in */
	PI_EV_LOCK_JOIN = 42,       /* a process was moved into the target cgroup: its lock probes are attached (not held) */
};

/*
 * Index into the per-CPU `pi_lost` counters: every record or map entry the kernel side had to drop.
 * Ranges per category as for event types: shared 0-7, keytime 8-11, schedule 12-15, syscall 16-19,
 * lock 20-23, resource 24-27.
 */
enum pi_lost_reason {
	PI_LOST_RINGBUF = 0,     /* bpf_ringbuf_reserve failed: the consumer fell behind */
	PI_LOST_FOLLOW_FULL = 1, /* a child's tgid lies beyond the pi_follow bitmap: it is not followed */
	PI_LOST_MAP_ALLOC = 2,   /* an aggregate's new entry not made though its map had room: -ENOMEM, -EBUSY */
	PI_LOST_TASK_STATE = 8,  /* no task storage for a target (allocation failed): an interval is lost */
	PI_LOST_USTACK_BUDGET = 9, /* a user stack not copied: over the copy budget (bpf/unwind.bpf.h) */
	PI_LOST_SCHED_THREADS = 12, /* pi_sched_threads full: a target thread's delays are not kept */
	PI_LOST_SC_THREADS_FULL = 16, /* sc_slots (or sc_exited) full: a thread's sequence and latencies are not kept */
	PI_LOST_SC_STATS_FULL = 17,   /* sc_fast and sc_stats full: a (thread, syscall) pair is not counted */
	PI_LOST_SC_ERRNOS_FULL = 18,  /* sc_errnos full: an error is counted, its errno is not */
	PI_LOST_LOCK_STATS_FULL = 20, /* lk_stats / futex_waits full: a (lock, thread) pair is not counted */
	PI_LOST_LOCK_CALLS_FULL = 21, /* lk_calls / lk_kwaits / futex_inflight full: a call in flight is not timed */
	PI_LOST_LOCK_HOLDS_FULL = 22, /* lk_holds full: a hold is not timed */
	PI_LOST_RES_EXITS_FULL = 24, /* resource: a task's figures at exit not kept, resource_exits was full */
	PI_LOST_RES_WALK_CUT = 25,   /* resource: a process's threads beyond PI_RES_WALK_MAX left out of its exit figures */
	PI_LOST_MAX = 32,
};

/*
 * Index into keytime's per-CPU `kstack_memo_stats`: what each switch-out's kernel stack cost
 * (bpf/kmemo.bpf.h). Read by user space for the summary's "kstacks" line.
 */
enum pi_kstack_stat {
	PI_KSTACK_REMEMBERED = 0, /* the thread's memo held: no walk */
	PI_KSTACK_WALKED = 1,     /* walked: no memo for it, or the memo did not hold */
	PI_KSTACK_UNPLACED = 2,   /* walked and not remembered: its frames' slots not found */
	PI_KSTACK_DIFFERED = 3,   /* PROCIMAGE_KSTACK_CHECK: a memo that held, whose walk returned other frames */
	PI_KSTACK_STAT_MAX = 4,
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
	__u32 stack_mode;     /* enum pi_stack_mode */
	__u32 generation;     /* activation number: per-task state of an earlier activation is stale */
	__u32 pad;
	__u64 start_ns;       /* when this activation began: a task created after it has no "before" */
	/*
	 * --offcpu-min: an off-CPU interval at least this long is reported one by one with its stacks;
	 * a shorter one is too if it is the first of its stack (per process), else it is added to its
	 * thread's aggregate for that stack (offcpu_agg). 0: every interval one by one (as before).
	 */
	__u64 offcpu_min_ns;
	__u64 target_cgroup_id; /* PI_TARGET_CGROUP: the cgroup's id (its kernfs node id, the directory's inode) */
	__u32 target_cgroup_level; /* ... and its depth below the root (the root is 0) */
	__u32 pad2;
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
	__u64 oncpu_ns;    /* total on-CPU time: se.sum_exec_runtime + the segment still running */
	__u32 ppid;        /* tgid of the real parent */
	__u32 pad;
};

/*
 * A target left the CPU (sched_switch, prev). hdr is prev; hdr.ts_ns ends its on-CPU interval and
 * starts its off-CPU one. Stacks are taken here, where the task blocks: they say why.
 */
struct pi_switch_out_event {
	struct pi_event_hdr hdr;
	__u64 oncpu_start_ns; /* when the interval now ending began; 0: not known (before activation) */
	__u32 state;          /* prev_state: TASK_* bits; 0 = still runnable */
	__u32 preempt;        /* 1: preempted (involuntary), so still runnable whatever state says */
	__u32 kstack_bytes;   /* valid bytes of kstack */
	__u32 ustack_bytes;   /* valid bytes of ustack (frame-pointer mode) */
	__u32 stack_mode;     /* enum pi_stack_mode used for this record; NONE for kernel threads */
	__u32 stack_bytes;    /* DWARF: valid bytes of the copy, from stack_base */
	__u32 oncpu_start_inferred; /* 1: no switch-in was seen; oncpu_start_ns is the sched_info arrival */
	__u32 ustack_stop;    /* enum pi_ustack_stop: how the stack in ustack ended (kernel-unwound DWARF) */
	__u64 stack_base;     /* DWARF: user address of the copy's first byte (sp rounded down to a page) */
	__u64 exe_ino;        /* inode of the process's executable: which image the addresses belong to */
	/* DWARF: user registers at the switch (x86_64) */
	__u64 ip, sp, bp, bx, r12, r13, r14, r15;
	__u64 kstack[PI_KSTACK_MAX];
	__u64 ustack[PI_USTACK_MAX];
	/*
	 * The stacks' identity within the process (a hash of both stacks' frames and the address space):
	 * switch-ins and aggregates of later intervals with the same stacks name it instead of sending
	 * them. 0: none (a stack copy, for user space to unwind, or no stacks).
	 */
	__u64 sig;
};

struct pi_switch_out_dwarf_event {
	struct pi_switch_out_event out;
	__u8 stack[PI_STACK_PAGES * PI_PAGE];
};

/* A target got a CPU back (sched_switch, next): ends its off-CPU interval. hdr is next. */
struct pi_switch_in_event {
	struct pi_event_hdr hdr;
	__u64 offcpu_start_ns; /* when it left the CPU; 0: before activation, or first_run */
	__u32 state;           /* the state it left in (as in the switch-out) */
	__u32 preempt;
	__u32 first_run;       /* 1: the task's first run (created after activation): no off-CPU interval */
	__u32 inferred;        /* 1: the kernel reported no such switch; ts_ns is the task's sched_info arrival */
	/*
	 * out_sent 0: the switch-out that began this interval sent no record (its stacks were seen
	 * before): the interval's stacks are those of an earlier switch-out of the process with the same
	 * sig, and the on-CPU interval it ended is given here (oncpu_*, on out_cpu).
	 */
	__u32 out_sent;
	__u32 out_cpu;
	__u64 sig;
	__u64 oncpu_start_ns;        /* 0: not known */
	__u32 oncpu_start_inferred;
	__u32 pad;
	/* the wake-up that ended the interval (S, D states); wake_ns 0: none seen (preempted, or not traced) */
	__u64 wake_ns;         /* when it was woken (sched_waking): the same as the pi_waker_event's hdr.ts_ns */
	__u32 waker_pid;       /* the task running where the wake-up happened (thread id; 0: the idle task) */
	__u32 waker_tgid;
	__u32 waker_flags;     /* enum pi_waker_flags */
	__u32 pad2;
};

/* What the waker of a pi_waker_event / pi_switch_in_event was. */
enum pi_waker_flags {
	PI_WAKER_KTHREAD = 1 << 0, /* a kernel thread (or the idle task): no user stack */
	PI_WAKER_TARGET = 1 << 1,  /* itself a target: its user stack is in the record */
};

/*
 * A target sleeping (S or D) is being woken (tp_btf/sched_waking, in the waker's context). hdr is
 * the waker (the task running on the CPU where the wake-up happens: in an interrupt, whoever it
 * interrupted; user space tells from the kernel stack which it was), hdr.ts_ns the wake-up. The
 * wakee's switch-in carries the same wake_ns and waker: user space joins the two by (wakee, wake_ns).
 * frames holds kstack_bytes of kernel frames, then ustack_bytes of user frames (a waker that is a
 * target); the record is only as long as the smallest of 16, 32, 64 or 128 frames that holds them
 * (PI_WAKER_SIZE): a wake-up's kernel stack is a dozen frames, not PI_KSTACK_MAX.
 */
#define PI_WAKER_FRAMES (PI_KSTACK_MAX + PI_USTACK_MAX)

struct pi_waker_event {
	struct pi_event_hdr hdr;
	__u32 wakee_pid;
	__u32 wakee_tgid;
	__u32 flags;          /* enum pi_waker_flags */
	__u32 kstack_bytes;
	__u32 ustack_bytes;
	__u32 stack_mode;     /* enum pi_stack_mode of the user frames: FP, or DWARF unwound in the kernel; NONE */
	__u32 ustack_stop;    /* enum pi_ustack_stop */
	__u32 pad;
	__u64 exe_ino;        /* inode of the waker's executable (PI_WAKER_TARGET) */
	__u64 frames[PI_WAKER_FRAMES];
};

#define PI_WAKER_SIZE(cap) (__builtin_offsetof(struct pi_waker_event, frames) + 8 * (cap))

/*
 * A waker that is a target, in DWARF mode, whose process the kernel has no tables for yet (or
 * dwarf-copy): its user registers and the top of its stack, for user space to unwind (as a
 * pi_switch_out_dwarf_event's). Copies are under the same per-CPU budget as the switch-outs'.
 */
struct pi_waker_dwarf_event {
	struct pi_waker_event w;
	__u64 ip, sp, bp, bx, r12, r13, r14, r15; /* user registers, in the switch-out's order */
	__u64 stack_base;     /* user address of the copy's first byte (sp rounded down to a page) */
	__u32 stack_bytes;    /* valid bytes of the copy */
	__u32 pad;
	__u8 stack[PI_STACK_PAGES * PI_PAGE];
};

/* A target thread moved to another CPU (tp_btf/sched_migrate_task). hdr is the thread. */
struct pi_migrate_event {
	struct pi_event_hdr hdr;
	__u32 from_cpu;
	__u32 to_cpu;
};

/*
 * keytime_tasks (iter/task) at deactivation: where each thread keytime followed stands, since not
 * every switch sent a record (--offcpu-min): running since on_ns, or off the CPU since off_ns.
 */
struct pi_task_now {
	__u32 pid;
	__u32 tgid;
	__u32 gen;
	__u32 off_state;
	__u32 off_preempt;
	__u32 off_cpu;
	__u32 out_sent;
	__u32 pad;
	__u64 on_ns;
	__u64 off_ns;
	__u64 off_sig;
	char comm[PI_COMM_LEN];
};

/*
 * The off-CPU intervals of a thread shorter than policy.offcpu_min_ns whose stacks (sig) had been
 * seen: counted here instead of sent one by one (bpf/keytime.bpf.c keytime_in), read by user space.
 */
struct pi_offcpu_agg_key {
	__u32 pid;
	__u32 tgid;
	__u64 sig;
	__u32 state;
	__u32 preempt;
	__u32 waker_pid;   /* the wake-up that ended them (0: none, preempted, or the idle task) */
	__u32 waker_flags; /* enum pi_waker_flags | PI_AGG_WOKEN; 0: not ended by a wake-up */
};

#define PI_AGG_WOKEN 0x80000000u /* in pi_offcpu_agg_key.waker_flags: a wake-up ended them (waker_pid 0: the idle task) */

struct pi_offcpu_agg {
	__u64 count;
	__u64 total_ns;
	__u64 max_ns;
	__u64 oncpu_count;  /* the on-CPU intervals each of them ended (known starts only) */
	__u64 oncpu_ns;
	__u32 cpu;          /* where the last one ended */
	__u32 waker_tgid;
	char comm[PI_COMM_LEN];
};

/* Scheduling delay (wakeup or preemption -> running again), log2 histogram of ns. */
struct pi_sched_stats {
	__u64 count;
	__u64 total_ns;
	__u64 min_ns;
	__u64 max_ns;
	__u64 slots[PI_LOG2_SLOTS];
};

/* Key of a thread's scheduling stats: the idle tasks are all pid 0, one per CPU. */
struct pi_sched_key {
	__u32 pid;
	__u32 cpu; /* 0xffffffff unless pid is 0 */
};

struct pi_sched_thread {
	__u32 tgid;
	__u32 exited;   /* 1: the thread has exited; user space drops it once it has reported it */
	char comm[PI_COMM_LEN];
	struct pi_sched_stats stats;
};

/*
 * resource (bpf/resource.bpf.c): figures the kernel keeps in every task, read at sample time by a task
 * iterator (and at exit by keytime's exit hook), never on a hot path. All counters are cumulative since
 * the task started; user space turns them into per-interval figures.
 */
#define PI_RES_WALK_MAX 256 /* threads of one process still listed at its last exit, summed then */

/* What a struct pi_res_sample describes. */
enum pi_res_kind {
	PI_RES_THREAD = 1, /* one thread: `c` is its own counters */
	PI_RES_GROUP = 2,  /* one process: `c` is its dead threads' counters (signal_struct), `mem` its memory */
};

enum pi_res_flags {
	PI_RES_F_MEM = 1 << 0,        /* `mem` is valid: the process has an mm (not a kernel thread, not gone) */
	PI_RES_F_KTHREAD = 1 << 1,    /* a kernel thread */
	PI_RES_F_EXITED = 1 << 2,     /* the task's last figures: taken at exit, or of a task that has exited */
	PI_RES_F_RSS_APPROX = 1 << 3, /* rss read without the per-CPU deltas of its percpu_counters */
	PI_RES_F_NO_IOAC = 1 << 4,    /* the kernel has no task I/O accounting (CONFIG_TASK_IO_ACCOUNTING) */
};

/* Cumulative counters of one task, or of a process's dead threads (signal_struct). */
struct pi_res_counters {
	__u64 oncpu_ns;  /* se.sum_exec_runtime; for dead threads signal->sum_sched_runtime */
	__u64 utime_ns;  /* utime, stime: sampled at ticks; only their ratio is used (as /proc does) */
	__u64 stime_ns;
	__u64 nvcsw;     /* voluntary context switches */
	__u64 nivcsw;    /* involuntary context switches */
	__u64 min_flt;
	__u64 maj_flt;
	__u64 rchar;     /* task_io_accounting: bytes through read-like syscalls */
	__u64 wchar;     /* bytes through write-like syscalls */
	__u64 syscr;
	__u64 syscw;
	__u64 read_bytes;  /* bytes this task caused to be read from storage */
	__u64 write_bytes; /* bytes this task caused to be written to storage (at page dirtying) */
	__u64 cancelled_write_bytes; /* of those, dirtied pages truncated before writeback */
};

/* A process's memory, in pages (the mm's counters, what /proc/PID/status shows). */
struct pi_res_mem {
	__u64 file_pages;
	__u64 anon_pages;
	__u64 shmem_pages;
	__u64 swap_pages;
	__u64 vm_pages;          /* mm->total_vm: the virtual size */
	__u64 hiwater_rss_pages; /* mm->hiwater_rss: peak rss as of the last time the kernel noted it */
};

/* One record of the resource iterator's output (read(2) of the iterator fd), or part of an exit capture. */
struct pi_res_sample {
	__u32 kind;     /* enum pi_res_kind */
	__u32 pid;
	__u32 tgid;
	__u32 flags;    /* enum pi_res_flags */
	__u64 ts_ns;    /* bpf_ktime_get_ns() when read */
	__u64 start_ns; /* task->start_time (PI_RES_GROUP: the group leader's) */
	char comm[PI_COMM_LEN];
	struct pi_res_counters c;
	struct pi_res_mem mem;
};

/* Key of the `resource_exits` map: a pid alone could be reused before user space reads the entry. */
struct pi_res_exit_key {
	__u32 pid;
	__u32 pad;
	__u64 start_ns;
};

/* A task's last figures, taken in keytime's exit hook when resource is active. */
struct pi_res_exit {
	struct pi_res_sample thread; /* the thread's own counters (flags has PI_RES_F_EXITED) */
	struct pi_res_sample group;  /* group_dead: the whole process's counters (its dead threads and every
				      * thread still listed, this one included), kind PI_RES_GROUP, no mem */
	__u64 maxrss_pages;  /* group_dead: signal->maxrss, the peak rss of the process */
	__u32 group_dead;    /* 1: the last thread of its process */
	__u32 threads;       /* group_dead: the listed threads summed into `group` besides the dead ones */
};

/* ---- syscall (bpf/syscall.bpf.c) ---------------------------------------------------------- */

/*
 * Per target thread: the syscall in flight and a ring of the latest syscall numbers. Syscall k of the
 * thread (0-based, counted from activation) is at ring[k % PI_SC_RING]; syscalls [emitted, count) are
 * not yet handed over in a syscall_seq record. A live thread's is in its slot of sc_slots; a thread
 * that exits leaves its last one in sc_exited (by pid, exited 1) for user space to report and delete.
 */
struct pi_sc_thread {
	__u32 pid;      /* first, and in a slot written last when the slot is taken: 0 = no thread (yet) */
	__u32 tgid;
	__u64 enter_ns; /* sys_enter of the syscall in flight; 0: none seen */
	__u64 count;    /* syscalls entered since activation */
	__u64 emitted;  /* of which handed over in syscall_seq records */
	__u32 nr;       /* the syscall in flight (when enter_ns != 0) */
	__u32 exited;   /* 1: the thread has exited (its last syscalls are handed over) */
	char comm[PI_COMM_LEN]; /* at its first syscall, and again after an execve */
	__u32 ring[PI_SC_RING];
};

/*
 * A slot of sc_slots: a live target thread's state, and where the figures of each of its syscalls
 * are. pos[i] is 1 + the sc_fast index of one syscall's figures (0: none), the syscall nr at one of
 * pos[nr % PI_SC_POS] .. pos[(nr + PI_SC_PROBES - 1) % PI_SC_POS] (the entry says which nr it is).
 */
struct pi_sc_slot {
	struct pi_sc_thread t;
	__u16 pos[PI_SC_POS];
};

/* sc_ctl's one entry: what user space resets at each activation. */
struct pi_sc_ctl {
	__u32 fast_next; /* sc_fast entries handed out (counts on past PI_SC_FAST: those were refused) */
	__u32 pad;
	__u64 free[PI_SC_THREADS / 64]; /* bit s % 64 of free[s / 64] set: slot s of sc_slots is free */
};

/* Key of sc_stats: one thread, one syscall number. */
struct pi_sc_key {
	__u32 pid;
	__u32 nr;
};

/*
 * Count, errors and latency of one thread's calls of one syscall: in sc_fast (an array, found from
 * the thread's slot without a hash lookup) or, past its room, in the sc_stats hash; user space adds
 * up the entries of one (pid, nr).
 */
struct pi_sc_stat {
	__u64 count;    /* first, and in sc_fast written after pid/nr: 0 = not filled in yet. Calls,
			 * counted when they return (exit and exit_group, which never do: at entry) */
	__u64 errors;   /* returns in -4095..-1 */
	__u64 timed;    /* calls whose sys_enter was seen too: the latency figures cover these */
	__u64 total_ns; /* sum of sys_enter -> sys_exit over the timed calls */
	__u64 max_ns;
	__u32 tgid;
	__u32 pid;
	__u32 nr;
	__u32 pad;
	__u64 slots[PI_LOG2_SLOTS]; /* latency of the timed calls */
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
 * or fewer when the thread exits. Syscall first + i is nrs[i]. The record is only as long as the
 * smallest of 8, 16, 32 or 64 numbers that holds len (PI_SC_SEQ_SIZE): at -s 10, 120 bytes a batch
 * to write into the ring and read back, not 312.
 */
struct pi_syscall_seq_event {
	struct pi_event_hdr hdr;
	__u64 first;    /* index (since activation, in this thread) of the first syscall of the batch */
	__u32 len;
	__u32 partial;  /* 1: flushed at thread exit before N had accumulated */
	__u32 nrs[PI_SC_RING];
};

#define PI_SC_SEQ_SIZE(cap) (__builtin_offsetof(struct pi_syscall_seq_event, nrs) + 4 * (cap))

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
	__u64 wait_slots[PI_LOG2_SLOTS];   /* the waits of wait_total_ns, one by one */
};

/*
 * lock_stack: a user stack was just captured in hdr.tgid (a first contended acquisition). Not a
 * record users see: it tells user space to read the process's mappings now, while it surely still
 * has them, so that the stack can be symbolized even if the process is gone by the next poll.
 */
struct pi_lock_stack_event {
	struct pi_event_hdr hdr;
};

/*
 * A process of a followed thread group exec'd with lock active (bpf/lock.bpf.c, lock_exec): it was
 * sent SIGSTOP, and user space attaches the lock uprobes for the new program, then sends SIGCONT.
 * The same layout for PI_EV_LOCK_JOIN (lock_cgroup_join): a process moved into the target cgroup,
 * not held; user space attaches its probes while it runs.
 */
struct pi_lock_exec_event {
	struct pi_event_hdr hdr;
	__u64 start_ns; /* the process's start (CLOCK_MONOTONIC): tells a recycled pid apart */
};

/* A pthread lock call in flight (lk_calls, by pid) or a futex wait in flight (futex_inflight). */
struct pi_lock_call {
	__u64 addr;
	__u64 start_ns;
	__u32 op;        /* enum pi_lock_op */
	__u32 contended; /* the lock was held when the call began */
	__u32 owner;     /* the thread that held it then (mutex: glibc's __owner; rwlock: its writer); 0: not known */
	__u32 owner_stack; /* lk_hold_stacks id + 1 of the owner's stack at its acquisition; 0: none */
	__u64 owner_site;  /* where the owner's acquiring call returned to (its call site); 0: not seen */
};

/*
 * Key of lk_owners and futex_wakers: a waiter's waits on one lock that one other thread caused —
 * the owner of a pthread mutex when the wait began, the thread whose wake-up ended a futex wait.
 */
struct pi_lock_owner_key {
	__u64 addr;
	__u32 tgid;
	__u32 pid;   /* the waiter */
	__u32 owner; /* the holder (pthread mutex) or the waker (futex) */
	__u32 kind;  /* enum pi_lock_kind */
};

struct pi_lock_owner {
	__u64 count;   /* waits */
	__u64 wait_ns; /* their time */
	__u64 max_wait_ns; /* the longest of them */
	__u32 stack;   /* lk_hold_stacks id + 1: the owner's stack at the acquisition behind the longest wait that has one; 0: none */
	__u32 pad;
	__u64 site;    /* that acquisition's call site (its return address); 0: none */
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
	__u32 stack; /* lk_hold_stacks id + 1 of the user stack that acquired it (--stack fp); 0: none */
	__u32 pad;
	__u64 site;  /* where the acquiring call returned to: the call site in the code that took it */
};

/* lk_rw_writers: the thread holding a pthread rwlock for writing, by (lock, process). */
struct pi_lock_writer {
	__u32 pid;
	__u32 stack; /* as pi_lock_hold's */
	__u64 site;
};

#endif /* PROCIMAGE_H */
