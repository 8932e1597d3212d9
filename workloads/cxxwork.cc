// cxxwork MODE [N] [MS]: C++ frames, whose symbols are mangled, for the symbolizers to demangle.
//   MODE sleep  main() -> ns::drive<ns::Worker>(ns::Worker&, int) (a function template) ->
//               ns::Worker::run(int) (a method of a class in a namespace) -> nanosleep, N times
//               (default 3) MS ms (default 100)
//   MODE lock   two threads take one std::mutex N times each in ns::Worker::locked(int) and hold it
//               MS ms (sleeping), so each finds it held by the other: contended pthread_mutex_lock
//               calls from a C++ method, and futex waits under it. The second thread to start
//               takes its first turn only once the first holds the lock (and the first starts
//               only once both are there): a busy machine that runs the threads one after the
//               other still makes them contend.
// Built like the C workloads (g++ -O2, no frame pointers): only DWARF unwinding finds main.
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <sched.h>
#include <thread>
#include <time.h>

namespace ns {

class Worker {
public:
	explicit Worker(int ms) : ms_(ms) {}
	void run(int n);
	void locked(int n);

private:
	void pause();
	int ms_;
	std::mutex mu_;
	std::atomic<int> arrived_{0};
	std::atomic<bool> held_{false};
};

__attribute__((noinline)) void Worker::pause()
{
	struct timespec ts = { ms_ / 1000, (ms_ % 1000) * 1000000L };
	nanosleep(&ts, nullptr);
}

__attribute__((noinline)) void Worker::run(int n)
{
	for (int i = 0; i < n; i++) {
		struct timespec ts = { ms_ / 1000, (ms_ % 1000) * 1000000L };
		nanosleep(&ts, nullptr);
		__asm__ volatile("" ::: "memory"); /* not a tail call: run() stays on the stack */
	}
}

__attribute__((noinline)) void Worker::locked(int n)
{
	if (arrived_.fetch_add(1) == 1)
		while (!held_.load()) /* the other holds it: this thread's first lock call is contended */
			sched_yield();
	else
		while (arrived_.load() < 2) /* not done before the other has even started */
			sched_yield();
	for (int i = 0; i < n; i++) {
		std::lock_guard<std::mutex> hold(mu_);
		held_.store(true);
		pause();
	}
	__asm__ volatile("" ::: "memory");
}

template <typename W> __attribute__((noinline)) void drive(W &w, int n)
{
	w.run(n);
	__asm__ volatile("" ::: "memory");
}

} // namespace ns

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "sleep";
	int n = argc > 2 ? atoi(argv[2]) : 3, ms = argc > 3 ? atoi(argv[3]) : 100;
	ns::Worker w(ms);
	if (!strcmp(mode, "lock")) {
		std::thread a([&] { w.locked(n); }), b([&] { w.locked(n); });
		a.join();
		b.join();
	} else {
		ns::drive(w, n);
	}
	__asm__ volatile("" ::: "memory");
	return 0;
}
