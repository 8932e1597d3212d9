// SPDX-License-Identifier: GPL-2.0
/*
 * Captures libbpf's own messages (CO-RE relocation failures, the verifier log it prints on a failed
 * load, ...) into a buffer the Node side reads after a failed call, instead of letting them go to
 * stderr. Done in C because libbpf hands its printer a va_list, and because libbpf may print from the
 * drain's pool thread, where a JS callback cannot run.
 *
 * pi_object_load() loads an object on whatever thread calls it (libuv's pool, through koffi's
 * .async, so that several objects verify at once): that thread's messages go to the caller's buffer
 * instead, so that each load reports its own, and no signal may interrupt it (the verifier gives up
 * with EAGAIN on a pending signal).
 */
#include <bpf/libbpf.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define LOG_CAP (1 << 20)

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char buf[LOG_CAP];
static size_t len;
static int max_level = LIBBPF_INFO;
/* this thread's capture, while it runs pi_object_load() */
static __thread char *own_buf;
static __thread size_t own_len, own_cap;

static int printer(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if ((int)level > max_level)
		return 0;
	if (own_buf) {
		if (own_len < own_cap - 1) {
			int n = vsnprintf(own_buf + own_len, own_cap - own_len, fmt, ap);
			if (n > 0)
				own_len += (size_t)n < own_cap - own_len ? (size_t)n : own_cap - 1 - own_len;
		}
		return 0;
	}
	pthread_mutex_lock(&lock);
	if (len < LOG_CAP - 1) {
		int n = vsnprintf(buf + len, LOG_CAP - len, fmt, ap);
		if (n > 0)
			len += (size_t)n < LOG_CAP - len ? (size_t)n : LOG_CAP - 1 - len;
	}
	pthread_mutex_unlock(&lock);
	return 0;
}

/* level: 0 warnings, 1 info, 2 debug */
void pi_log_install(int level)
{
	max_level = level;
	libbpf_set_print(printer);
}

/* Moves what was captured into out (NUL-terminated); returns its length. */
size_t pi_log_take(char *out, size_t cap)
{
	size_t n;

	if (cap == 0)
		return 0;
	pthread_mutex_lock(&lock);
	n = len < cap - 1 ? len : cap - 1;
	memcpy(out, buf, n);
	out[n] = 0;
	len = 0;
	pthread_mutex_unlock(&lock);
	return n;
}

/*
 * bpf_object__load() with every signal blocked on this thread and libbpf's messages of this thread
 * written into log (NUL-terminated, at most cap bytes). Returns what bpf_object__load() returns.
 */
int pi_object_load(struct bpf_object *obj, char *log, size_t cap)
{
	sigset_t all, old;
	int r;

	if (cap == 0)
		return -EINVAL;
	log[0] = 0;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	own_buf = log;
	own_len = 0;
	own_cap = cap;
	r = bpf_object__load(obj);
	own_buf = NULL;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return r;
}
