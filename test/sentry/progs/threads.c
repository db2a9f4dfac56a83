/* Threads: pthread_create x4 (clone with CLONE_THREAD|CLONE_SETTLS|CLONE_CHILD_CLEARTID...),
 * distinct thread ids in one thread group, thread-local storage, a mutex and condition variables
 * (futex wait/wake), a barrier, join with return values, raw futex calls, a signal directed at one
 * thread, /proc/self/status Threads, and exit_group from a thread other than the main one. */
#include "common.h"
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#define NTHREADS 4
#define ITERS 2000

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static pthread_cond_t go_cv = PTHREAD_COND_INITIALIZER;
static int arrived, go;
static long counter;
static pid_t tids[NTHREADS];
static pid_t pids[NTHREADS];
static __thread int tls_value = 100;
static int tls_ok[NTHREADS];
static pthread_barrier_t barrier;
static volatile pid_t signalled_tid;

static void on_usr1(int sig) { (void)sig; signalled_tid = (pid_t)syscall(SYS_gettid); }

static void *worker(void *arg)
{
	int idx = (int)(intptr_t)arg;
	tids[idx] = (pid_t)syscall(SYS_gettid);
	pids[idx] = getpid();
	tls_ok[idx] = tls_value == 100;
	tls_value = idx;
	for (int i = 0; i < ITERS; i++) {
		pthread_mutex_lock(&mu);
		counter++;
		pthread_mutex_unlock(&mu);
		if (i % 500 == 0) sched_yield();
	}
	pthread_mutex_lock(&mu);
	arrived++;
	pthread_cond_signal(&cv);
	while (!go) pthread_cond_wait(&go_cv, &mu);
	pthread_mutex_unlock(&mu);
	pthread_barrier_wait(&barrier);
	tls_ok[idx] = tls_ok[idx] && tls_value == idx;
	return (void *)(intptr_t)(idx * 10 + 1);
}

static int status_threads(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	if (!f) return -1;
	char line[256];
	int n = -1;
	while (fgets(line, sizeof line, f)) if (sscanf(line, "Threads: %d", &n) == 1) break;
	fclose(f);
	return n;
}

static void *sleeper(void *arg)
{
	(void)arg;
	for (;;) pause();
	return NULL;
}

static void *exiter(void *arg)
{
	(void)arg;
	struct timespec ts = { 0, 10000000 };
	nanosleep(&ts, NULL);
	exit(33); /* exit_group from a secondary thread ends the whole process */
}

int main(void)
{
	pid_t main_tid = (pid_t)syscall(SYS_gettid);
	pthread_barrier_init(&barrier, NULL, NTHREADS + 1);
	pthread_t th[NTHREADS];
	for (int i = 0; i < NTHREADS; i++) {
		int r = pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i);
		out("pthread_create %d %d\n", i, r);
	}
	pthread_mutex_lock(&mu);
	while (arrived < NTHREADS) pthread_cond_wait(&cv, &mu);
	SHOW("all threads arrived (condition variable)", "%d", arrived);
	SHOW("/proc/self/status Threads", "%d", status_threads());
	go = 1;
	pthread_cond_broadcast(&go_cv);
	pthread_mutex_unlock(&mu);
	pthread_barrier_wait(&barrier);
	for (int i = 0; i < NTHREADS; i++) {
		void *ret = NULL;
		int r = pthread_join(th[i], &ret);
		out("pthread_join %d %d returned %ld\n", i, r, (long)(intptr_t)ret);
	}
	SHOW("counter under the mutex", "%ld", counter);
	int distinct = 1, same_pid = 1, not_main = 1, tls = 1;
	for (int i = 0; i < NTHREADS; i++) {
		if (pids[i] != getpid()) same_pid = 0;
		if (tids[i] == main_tid || tids[i] <= 0) not_main = 0;
		if (!tls_ok[i]) tls = 0;
		for (int j = 0; j < i; j++) if (tids[i] == tids[j]) distinct = 0;
	}
	EXPECT("thread ids distinct", distinct);
	EXPECT("thread ids differ from the main thread's", not_main);
	EXPECT("getpid is the same in every thread", same_pid);
	EXPECT("thread-local storage per thread", tls);
	EXPECT("main thread's TLS untouched", tls_value == 100);
	/* a joined thread may still be finishing its exit for a moment after its tid was cleared */
	int left = status_threads();
	for (int i = 0; i < 200 && left != 1; i++) {
		struct timespec ts = { 0, 5000000 };
		nanosleep(&ts, NULL);
		left = status_threads();
	}
	SHOW("/proc/self/status Threads after join", "%d", left);

	/* raw futex: value mismatch, timeout, wake with no waiters, wake of a waiter */
	static int fut = 0;
	FAILS("FUTEX_WAIT value mismatch", syscall(SYS_futex, &fut, FUTEX_WAIT_PRIVATE, 1, NULL, NULL, 0), EAGAIN);
	struct timespec to = { 0, 20000000 }, t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	FAILS("FUTEX_WAIT timeout", syscall(SYS_futex, &fut, FUTEX_WAIT_PRIVATE, 0, &to, NULL, 0), ETIMEDOUT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	EXPECT("FUTEX_WAIT waited >= 19 ms", ms >= 19);
	SHOW("FUTEX_WAKE without waiters", "%ld", syscall(SYS_futex, &fut, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0));

	/* a signal sent to one particular thread runs its handler in that thread */
	signal(SIGUSR1, on_usr1);
	pthread_t s;
	pthread_create(&s, NULL, sleeper, NULL);
	struct timespec brief = { 0, 5000000 };
	nanosleep(&brief, NULL);
	pthread_kill(s, SIGUSR1);
	for (int i = 0; i < 400 && signalled_tid == 0; i++) nanosleep(&brief, NULL);
	EXPECT("pthread_kill ran the handler in the target thread", signalled_tid != 0 && signalled_tid != main_tid);
	pthread_cancel(s);
	pthread_join(s, NULL);

	/* exit_group from a secondary thread, in a child process */
	pid_t pid = fork();
	if (pid == 0) {
		pthread_t e;
		pthread_create(&e, NULL, exiter, NULL);
		for (;;) pause();
	}
	int st = 0;
	waitpid(pid, &st, 0);
	SHOW("exit from a secondary thread", "%s %d", WIFEXITED(st) ? "exited" : "other", WEXITSTATUS(st));
	/* the main thread exits with pthread_exit while another thread ends the process later */
	pid = fork();
	if (pid == 0) {
		pthread_t e;
		pthread_create(&e, NULL, exiter, NULL);
		pthread_exit(NULL);
	}
	waitpid(pid, &st, 0);
	SHOW("main thread pthread_exit, the last thread exits", "%s %d", WIFEXITED(st) ? "exited" : "other", WEXITSTATUS(st));
	return finish();
}
