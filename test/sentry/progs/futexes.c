/* Futexes beyond what pthreads' mutexes and condition variables use (threads.c): a wake of 0
 * waiters still wakes one, private and shared waits and wakes on one word do not meet, requeue
 * counts, PI locks (FUTEX_LOCK_PI/TRYLOCK_PI/UNLOCK_PI: ownership in the word, EDEADLK, EPERM,
 * hand-over to a waiter with FUTEX_WAITERS, an owner that exits handing on FUTEX_OWNER_DIED, a
 * signal that does not end the wait) and get_robust_list of another thread. */
#include "common.h"
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>

static long futex(int *uaddr, int op, int val, const struct timespec *to, int *uaddr2, int val3)
{
	return syscall(SYS_futex, uaddr, op, val, to, uaddr2, val3);
}

struct job {
	int *word;
	int op;
	int val;
	struct timespec to;
	int timed;
	volatile pid_t tid;
	volatile int phase;
	long r;
	int e;
	unsigned after;
};

/* One futex call (FUTEX_WAIT* with val, or FUTEX_LOCK_PI); then unlocks a PI word it got. */
static void *caller(void *arg)
{
	struct job *j = arg;
	j->tid = gettid();
	errno = 0;
	j->r = futex(j->word, j->op, j->val, j->timed ? &j->to : NULL, NULL, 0);
	j->e = errno;
	j->after = (unsigned)__atomic_load_n(j->word, __ATOMIC_SEQ_CST);
	if ((j->op & 127) == FUTEX_LOCK_PI && j->r == 0) futex(j->word, FUTEX_UNLOCK_PI_PRIVATE, 0, NULL, NULL, 0);
	return NULL;
}

static pthread_t start(struct job *j)
{
	pthread_t th;
	pthread_create(&th, NULL, caller, j);
	while (j->tid == 0) usleep(1000);
	return th;
}

/* Takes the PI word, says so, and exits holding it once main waits for it. */
static void *owner_exits(void *arg)
{
	struct job *j = arg;
	j->tid = gettid();
	j->r = futex(j->word, FUTEX_LOCK_PI_PRIVATE, 0, NULL, NULL, 0);
	j->phase = 1;
	while (j->phase != 2) usleep(1000);
	return NULL;
}

static void *robust_head(void *arg)
{
	struct job *j = arg;
	void *head = NULL;
	size_t len = 0;
	syscall(SYS_get_robust_list, 0, &head, &len);
	*(void **)j->word = head;
	j->tid = gettid();
	while (j->phase != 1) usleep(1000);
	return NULL;
}

/* PI trylock spinners: 6 threads take the word 5 times each by FUTEX_TRYLOCK_PI (spinning on
 * EAGAIN), hold it 2 ms, give it back; each must find its own tid in the word while it holds it. */
static int spin_word;
static volatile int spin_bad;
static void *trylock_spinner(void *arg)
{
	(void)arg;
	pid_t me = gettid();
	for (int got = 0; got < 5;) {
		if (futex(&spin_word, FUTEX_TRYLOCK_PI_PRIVATE, 0, NULL, NULL, 0) != 0) continue;
		got++;
		if ((spin_word & FUTEX_TID_MASK) != me) spin_bad = 1;
		usleep(2000);
		if (futex(&spin_word, FUTEX_UNLOCK_PI_PRIVATE, 0, NULL, NULL, 0) != 0) spin_bad = 1;
	}
	return NULL;
}

static void on_usr1(int s) { (void)s; }

int main(void)
{
	static int word;
	pid_t me = gettid();
	pthread_t th;

	/* FUTEX_WAKE of 0 wakes one waiter (Linux counts "at least one") */
	word = 1;
	struct job w0 = { .word = &word, .op = FUTEX_WAIT_PRIVATE, .val = 1 };
	th = start(&w0);
	EXPECT("waiter sleeps", wait_sleeping(w0.tid));
	SHOW("FUTEX_WAKE 0 with one waiter", "%ld", futex(&word, FUTEX_WAKE_PRIVATE, 0, NULL, NULL, 0));
	pthread_join(th, NULL);
	SHOW("the waiter", "%ld", w0.r);

	/* a shared wake does not wake a private wait on the same word, nor a private wake a shared one */
	struct job pw = { .word = &word, .op = FUTEX_WAIT_PRIVATE, .val = 1, .to = { 0, 300000000 }, .timed = 1 };
	th = start(&pw);
	EXPECT("private waiter sleeps", wait_sleeping(pw.tid));
	SHOW("shared FUTEX_WAKE of a private waiter", "%ld", futex(&word, FUTEX_WAKE, 1, NULL, NULL, 0));
	pthread_join(th, NULL);
	SHOW("the private waiter", "%ld %s", pw.r, en(pw.e));
	struct job sw = { .word = &word, .op = FUTEX_WAIT, .val = 1 };
	th = start(&sw);
	EXPECT("shared waiter sleeps", wait_sleeping(sw.tid));
	SHOW("private FUTEX_WAKE of a shared waiter", "%ld", futex(&word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0));
	SHOW("shared FUTEX_WAKE of it", "%ld", futex(&word, FUTEX_WAKE, 1, NULL, NULL, 0));
	pthread_join(th, NULL);
	SHOW("the shared waiter", "%ld", sw.r);

	/* FUTEX_WAIT_BITSET's absolute deadlines, on CLOCK_MONOTONIC and with FUTEX_CLOCK_REALTIME:
	 * not before the deadline on the clock the application reads, and not long after */
	for (int rt = 0; rt < 2; rt++) {
		clockid_t clk = rt ? CLOCK_REALTIME : CLOCK_MONOTONIC;
		struct timespec t0, dl, t1;
		clock_gettime(clk, &t0);
		dl = t0;
		dl.tv_nsec += 50000000;
		if (dl.tv_nsec >= 1000000000) { dl.tv_sec++; dl.tv_nsec -= 1000000000; }
		errno = 0;
		long r = futex(&word, FUTEX_WAIT_BITSET_PRIVATE | (rt ? FUTEX_CLOCK_REALTIME : 0), 1, &dl, NULL, -1);
		int e = errno;
		clock_gettime(clk, &t1);
		long long late = (t1.tv_sec - dl.tv_sec) * 1000000000LL + (t1.tv_nsec - dl.tv_nsec);
		SHOW(rt ? "FUTEX_WAIT_BITSET realtime deadline" : "FUTEX_WAIT_BITSET monotonic deadline", "%ld %s", r, en(e));
		EXPECT(rt ? "realtime: woke at or after it, within 2 s" : "monotonic: woke at or after it, within 2 s", late >= 0 && late < 2000000000LL);
	}

	/* requeue counts are ints: below 0 is EINVAL */
	static int other;
	FAILS("FUTEX_REQUEUE -1 to wake", futex(&word, FUTEX_REQUEUE_PRIVATE, -1, (void *)1L, &other, 0), EINVAL);
	FAILS("FUTEX_CMP_REQUEUE -1 to move", futex(&word, FUTEX_CMP_REQUEUE_PRIVATE, 1, (void *)-1L, &other, 1), EINVAL);

	/* PI: the word holds the owner's tid */
	word = 0;
	OK("FUTEX_LOCK_PI a free word", futex(&word, FUTEX_LOCK_PI_PRIVATE, 0, NULL, NULL, 0));
	EXPECT("the word is my tid", word == me);
	FAILS("FUTEX_LOCK_PI again", futex(&word, FUTEX_LOCK_PI_PRIVATE, 0, NULL, NULL, 0), EDEADLK);
	FAILS("FUTEX_TRYLOCK_PI own word", futex(&word, FUTEX_TRYLOCK_PI_PRIVATE, 0, NULL, NULL, 0), EDEADLK);
	struct job tl = { .word = &word, .op = FUTEX_TRYLOCK_PI_PRIVATE };
	th = start(&tl);
	pthread_join(th, NULL);
	SHOW("FUTEX_TRYLOCK_PI of a held word", "%ld %s", tl.r, en(tl.e));
	OK("FUTEX_UNLOCK_PI", futex(&word, FUTEX_UNLOCK_PI_PRIVATE, 0, NULL, NULL, 0));
	SHOW("the word after unlock", "%d", word);
	FAILS("FUTEX_UNLOCK_PI not owned", futex(&word, FUTEX_UNLOCK_PI_PRIVATE, 0, NULL, NULL, 0), EPERM);
	OK("FUTEX_TRYLOCK_PI a free word", futex(&word, FUTEX_TRYLOCK_PI_PRIVATE, 0, NULL, NULL, 0));
	EXPECT("the word is my tid again", word == me);

	/* a waiter sets FUTEX_WAITERS; unlock hands it the lock; a signal meanwhile does not end its
	 * wait (no SA_RESTART, yet no EINTR: the lock is tried again) */
	struct sigaction sa = { .sa_handler = on_usr1 };
	sigaction(SIGUSR1, &sa, NULL);
	struct job lw = { .word = &word, .op = FUTEX_LOCK_PI_PRIVATE };
	th = start(&lw);
	for (int i = 0; i < 5000 && (unsigned)word != (me | FUTEX_WAITERS); i++) usleep(1000);
	EXPECT("a waiter sets FUTEX_WAITERS", (unsigned)word == (me | FUTEX_WAITERS));
	EXPECT("the PI waiter sleeps", wait_sleeping(lw.tid));
	pthread_kill(th, SIGUSR1);
	usleep(20000);
	EXPECT("the PI waiter sleeps after a signal", wait_sleeping(lw.tid));
	OK("FUTEX_UNLOCK_PI with a waiter", futex(&word, FUTEX_UNLOCK_PI_PRIVATE, 0, NULL, NULL, 0));
	pthread_join(th, NULL);
	SHOW("the PI waiter", "%ld %s", lw.r, lw.r < 0 ? en(lw.e) : "ok");
	EXPECT("it owned the word with FUTEX_WAITERS", lw.after == ((unsigned)lw.tid | FUTEX_WAITERS));
	SHOW("the word after its unlock", "%d", word);

	/* an owner that exits holding the word hands it to the waiter, FUTEX_OWNER_DIED */
	struct job oe = { .word = &word };
	pthread_create(&th, NULL, owner_exits, &oe);
	while (oe.phase != 1) usleep(1000);
	SHOW("the owner locked", "%ld", oe.r);
	struct job lw2 = { .word = &word, .op = FUTEX_LOCK_PI_PRIVATE };
	pthread_t th2 = start(&lw2);
	EXPECT("the waiter sleeps on a live owner", wait_sleeping(lw2.tid));
	oe.phase = 2;
	pthread_join(th, NULL);
	pthread_join(th2, NULL);
	SHOW("the waiter of a dead owner", "%ld", lw2.r);
	EXPECT("it owned the word", (lw2.after & FUTEX_TID_MASK) == (unsigned)lw2.tid);
	SHOW("its flags", "%#x", lw2.after & ~FUTEX_TID_MASK);
	word = 0;

	/* threads spinning on FUTEX_TRYLOCK_PI all get their turns (a woken owner is not starved by
	 * the spinners' syscalls) */
	pthread_t sp[6];
	for (int i = 0; i < 6; i++) pthread_create(&sp[i], NULL, trylock_spinner, NULL);
	for (int i = 0; i < 6; i++) pthread_join(sp[i], NULL);
	EXPECT("trylock spinners each held the word alone", !spin_bad && spin_word == 0);

	/* get_robust_list of another thread of the process */
	void *theirs = NULL, *got = NULL;
	size_t len = 0;
	struct job rh = { .word = (int *)&theirs };
	pthread_create(&th, NULL, robust_head, &rh);
	while (rh.tid == 0) usleep(1000);
	OK("get_robust_list of another thread", syscall(SYS_get_robust_list, rh.tid, &got, &len));
	EXPECT("its head, not mine", got == theirs && theirs != NULL);
	rh.phase = 1;
	pthread_join(th, NULL);
	FAILS("get_robust_list of no task", syscall(SYS_get_robust_list, 0x3ffffff0, &got, &len), ESRCH);
	return finish();
}
