// trylocks KIND N: every lock and trylock function of KIND (mutex, rwlock, spin) called N times on a
// free lock and N times on one a second thread (the holder) holds, in phases set up so that each
// call's outcome is known before it is made; the threads count what each call did (an acquisition,
// one that had to wait, a trylock's EBUSY) and print it as one JSON line: the oracle the lock tests
// check procimage's acquisitions, contended and failed against, exactly.
//   mutex   trylock and lock on the free mutex; lock while the holder has it (the holder lets go once
//           the caller sleeps in the futex call); trylock while the holder has it (EBUSY)
//   rwlock  tryrdlock, trywrlock, rdlock and wrlock on the free lock; tryrdlock and rdlock while the
//           holder reads (shared: neither waits); wrlock while it reads (waits), trywrlock while it
//           reads (EBUSY); rdlock while it writes (waits); tryrdlock and trywrlock while it writes
//   spin    as mutex, with pthread_spin_*: the holder lets go once the caller's locked decrement has
//           taken the word below 0 (it is spinning)
// A blocking call is made first in each mode's contended phase, so that the first call of the main
// thread that finds its lock held is a lock call, not a trylock.
// Output: {"kind":..., "lock":"0x...", "n":N, "counts":[{"tid":..., "thread":"main"|"holder",
//          "mode":null|"read"|"write", "acquisitions":..., "contended":..., "failed":...}, ...]}
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { MUTEX, RWLOCK, SPIN } kind;
enum { RD, WR }; /* rwlock modes; mutex and spin use RD's slot */
enum { MAIN, HOLDER };

static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_rwlock_t rwlock = PTHREAD_RWLOCK_INITIALIZER;
static pthread_spinlock_t spin;

struct tally {
	long acquisitions, contended, failed;
};
static struct tally tally[2][2]; /* [MAIN or HOLDER][mode] */
static pid_t tids[2];

static int try_lock(int mode)
{
	if (kind == MUTEX)
		return pthread_mutex_trylock(&mutex);
	if (kind == SPIN)
		return pthread_spin_trylock(&spin);
	return mode == RD ? pthread_rwlock_tryrdlock(&rwlock) : pthread_rwlock_trywrlock(&rwlock);
}

static void lock(int mode)
{
	if (kind == MUTEX)
		pthread_mutex_lock(&mutex);
	else if (kind == SPIN)
		pthread_spin_lock(&spin);
	else if (mode == RD)
		pthread_rwlock_rdlock(&rwlock);
	else
		pthread_rwlock_wrlock(&rwlock);
}

static void unlock(void)
{
	if (kind == MUTEX)
		pthread_mutex_unlock(&mutex);
	else if (kind == SPIN)
		pthread_spin_unlock(&spin);
	else
		pthread_rwlock_unlock(&rwlock);
}

static void die(const char *what)
{
	fprintf(stderr, "trylocks: %s\n", what);
	exit(3);
}

/* A trylock by the main thread, counted by what it returned; `want` is what the phase expects. */
static void try_once(int mode, int want)
{
	int r = try_lock(mode);
	if (r == 0) {
		tally[MAIN][mode].acquisitions++;
		unlock();
	} else if (r == EBUSY) {
		tally[MAIN][mode].failed++;
	} else {
		die("trylock returned neither 0 nor EBUSY");
	}
	if (r != want)
		die(want ? "a trylock the phase expected to fail succeeded" : "a trylock on a lock free for it failed");
}

/* A lock call by the main thread on a lock no one holds in a way that excludes it. */
static void lock_free(int mode)
{
	lock(mode);
	tally[MAIN][mode].acquisitions++;
	unlock();
}

/*
 * The holder, driven by the main thread one command at a time: `posted` is the command's number,
 * `held` says the lock is held for it, `idle` that the holder is done with it.
 */
enum { HOLD, RELEASE, HOLD_UNTIL_WAITED, QUIT };
static int cmd, cmd_mode, posted, held, idle;

static int load(int *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static void store(int *p, int v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

/* Whether the main thread is waiting for the lock the holder has: asleep in futex, or spinning. */
static int main_waits(void)
{
	if (kind == SPIN)
		return load((int *)&spin) < 0; /* its lock decl found it taken (glibc x86_64) */
	char path[64], buf[32] = "";
	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", tids[MAIN]);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		die("cannot read the main thread's syscall");
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 4 && !strncmp(buf, "202 ", 4); /* SYS_futex on x86_64 */
}

static void *holder(void *arg)
{
	(void)arg;
	tids[HOLDER] = gettid();
	for (int done = 0;;) {
		while (load(&posted) == done)
			sched_yield();
		done = load(&posted);
		int mode = cmd_mode;
		switch (cmd) {
		case HOLD:
		case HOLD_UNTIL_WAITED:
			lock(mode);
			tally[HOLDER][mode].acquisitions++;
			store(&held, done);
			if (cmd == HOLD)
				break;
			while (!main_waits())
				sched_yield();
			unlock();
			break;
		case RELEASE:
			unlock();
			store(&held, done);
			break;
		case QUIT:
			return NULL;
		}
		store(&idle, done);
	}
}

/* Hands the holder a command and waits until the lock is held (or let go) for it. */
static void post(int c, int mode)
{
	int n = load(&posted);
	while (load(&idle) != n)
		sched_yield();
	cmd = c;
	cmd_mode = mode;
	store(&posted, n + 1);
	if (c != QUIT)
		while (load(&held) != n + 1)
			sched_yield();
}

/* N lock calls while the holder has the lock, each one waiting until the holder lets go. */
static void lock_contended(long n, int mode, int holder_mode)
{
	for (long i = 0; i < n; i++) {
		post(HOLD_UNTIL_WAITED, holder_mode);
		lock(mode);
		tally[MAIN][mode].acquisitions++;
		tally[MAIN][mode].contended++;
		unlock();
	}
}

static void run(long n)
{
	int modes = kind == RWLOCK ? 2 : 1;

	for (int m = 0; m < modes; m++) /* free */
		for (long i = 0; i < n; i++)
			try_once(m, 0);
	for (int m = 0; m < modes; m++)
		for (long i = 0; i < n; i++)
			lock_free(m);
	if (kind != RWLOCK) {
		lock_contended(n, RD, RD);
		post(HOLD, RD);
		for (long i = 0; i < n; i++)
			try_once(RD, EBUSY);
		post(RELEASE, RD);
		return;
	}
	/* the holder reads: readers share it, a writer waits */
	post(HOLD, RD);
	for (long i = 0; i < n; i++)
		try_once(RD, 0);
	for (long i = 0; i < n; i++)
		lock_free(RD);
	post(RELEASE, RD);
	lock_contended(n, WR, RD);
	post(HOLD, RD);
	for (long i = 0; i < n; i++)
		try_once(WR, EBUSY);
	post(RELEASE, RD);
	/* the holder writes: everyone waits */
	lock_contended(n, RD, WR);
	post(HOLD, WR);
	for (long i = 0; i < n; i++)
		try_once(RD, EBUSY);
	for (long i = 0; i < n; i++)
		try_once(WR, EBUSY);
	post(RELEASE, WR);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: trylocks mutex|rwlock|spin N\n");
		return 2;
	}
	const char *k = argv[1];
	kind = !strcmp(k, "mutex") ? MUTEX : !strcmp(k, "rwlock") ? RWLOCK : !strcmp(k, "spin") ? SPIN : -1;
	long n = atol(argv[2]);
	if ((int)kind < 0 || n < 1)
		return 2;
	pthread_spin_init(&spin, PTHREAD_PROCESS_PRIVATE);
	tids[MAIN] = gettid();
	pthread_t th;
	pthread_create(&th, NULL, holder, NULL);
	run(n);
	post(QUIT, RD);
	pthread_join(th, NULL);

	void *addr = kind == MUTEX ? (void *)&mutex : kind == SPIN ? (void *)&spin : (void *)&rwlock;
	printf("{\"kind\":\"%s\",\"lock\":\"%p\",\"n\":%ld,\"counts\":[", k, addr, n);
	const char *sep = "";
	for (int t = 0; t < 2; t++)
		for (int m = 0; m < 2; m++) {
			struct tally *c = &tally[t][m];
			if (!c->acquisitions && !c->failed)
				continue;
			const char *mode = kind != RWLOCK ? "null" : m == RD ? "\"read\"" : "\"write\"";
			printf("%s{\"tid\":%d,\"thread\":\"%s\",\"mode\":%s,\"acquisitions\":%ld,\"contended\":%ld,\"failed\":%ld}", sep,
			       tids[t], t == MAIN ? "main" : "holder", mode, c->acquisitions, c->contended, c->failed);
			sep = ",";
		}
	printf("]}\n");
	return 0;
}
