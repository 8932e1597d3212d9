// SPDX-License-Identifier: GPL-2.0
/*
 * Captures libbpf's own messages (CO-RE relocation failures, the verifier log it prints on a failed
 * load, ...) into a buffer the Node side reads after a failed call, instead of letting them go to
 * stderr. Done in C because libbpf hands its printer a va_list, and because libbpf may print from the
 * drain's pool thread, where a JS callback cannot run.
 */
#include <bpf/libbpf.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define LOG_CAP (1 << 20)

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char buf[LOG_CAP];
static size_t len;
static int max_level = LIBBPF_INFO;

static int printer(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if ((int)level > max_level)
		return 0;
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
