// A target whose names are hostile, for test/hostile.test.ts: it execs itself with argv words that
// hold a newline, ANSI escape sequences (colour, clear screen, an OSC window title), markup, a shell
// substitution and bytes that are not UTF-8, then names itself (prctl PR_SET_NAME) and a thread
// (pthread_setname_np, with a C1 CSI encoded in UTF-8) the same way, sleeps MS milliseconds in a few
// steps (off-CPU intervals, syscalls, a lock) and exits with status 3.
// Usage: hostile [MS]
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

/* 15 bytes, the most a comm holds: ESC ] 0 ; ... BEL is an OSC that sets a terminal's title */
static const char COMM[] = "e\x1b]0;pwn\x07\n\xff\xfe<b>";
static const char THREAD[] = "t\x1b[5m\r\xc2\x9b" "2J";

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void sleep_ms(long ms) {
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static void *worker(void *arg) {
	long ms = (long)arg;
	pthread_setname_np(pthread_self(), THREAD);
	for (int i = 0; i < 4; i++) {
		pthread_mutex_lock(&lock);
		sleep_ms(ms / 8);
		pthread_mutex_unlock(&lock);
		sleep_ms(ms / 8);
	}
	return NULL;
}

int main(int argc, char **argv) {
	if (argc < 3 || strcmp(argv[2], "--named") != 0) {
		char *ms = argc > 1 ? argv[1] : "400";
		char *args[] = { "\x1b[1mhostile\n", ms, "--named", "\x1b[31mred\x1b[0m", "line1\nline2", "\xff\xfe not utf-8",
			"</script><script>alert(1)</script>", "$(touch /tmp/procimage-pwned)", "\x1b[2J\x1b]0;title\x07", "back\\slash \"q\"", NULL };
		execv("/proc/self/exe", args);
		perror("execv");
		return 1;
	}
	long ms = atol(argv[1]);
	prctl(PR_SET_NAME, COMM);
	pthread_t t;
	pthread_create(&t, NULL, worker, (void *)ms);
	for (int i = 0; i < 4; i++) {
		sleep_ms(ms / 8);
		pthread_mutex_lock(&lock);
		sleep_ms(ms / 8);
		pthread_mutex_unlock(&lock);
	}
	pthread_join(t, NULL);
	return 3;
}
