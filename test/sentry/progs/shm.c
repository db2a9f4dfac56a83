/* POSIX shared memory and semaphores across processes, as python's multiprocessing and
 * PostgreSQL use them: shm_open + ftruncate + mmap(MAP_SHARED) of a file in /dev/shm opened
 * separately in two processes (stores seen at once, both ways, and by read(2)/write(2)), named
 * semaphores (sem_open) posted in one process and waited for in another, and a process-shared
 * pthread mutex and condition variable in a shared anonymous mapping. */
#include "common.h"
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>

struct shared {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int turn;
};

static struct timespec in_seconds(int s)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += s;
	return ts;
}

/* Each process opens and maps the object itself: a separate mapping of one file. */
static volatile int *map_object(const char *name)
{
	int fd = shm_open(name, O_RDWR, 0);
	if (fd < 0) return NULL;
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	return p == MAP_FAILED ? NULL : p;
}

static void shared_memory(const char *shm, const char *sem_a, const char *sem_b)
{
	struct statvfs sv;
	OK("statvfs /dev/shm", statvfs("/dev/shm", &sv));
	int fd = OK("shm_open O_CREAT|O_EXCL", shm_open(shm, O_CREAT | O_EXCL | O_RDWR, 0600));
	FAILS("shm_open O_EXCL again", shm_open(shm, O_CREAT | O_EXCL | O_RDWR, 0600), EEXIST);
	OK("ftruncate", ftruncate(fd, 4096));
	sem_t *a = sem_open(sem_a, O_CREAT | O_EXCL, 0600, 0);
	sem_t *b = sem_open(sem_b, O_CREAT | O_EXCL, 0600, 0);
	EXPECT("sem_open two semaphores", a != SEM_FAILED && b != SEM_FAILED);
	volatile int *p = map_object(shm);
	EXPECT("parent maps the object", p != NULL);
	if (!p || a == SEM_FAILED || b == SEM_FAILED) return;
	pid_t pid = fork();
	if (pid == 0) {
		/* The child: its own shm_open, mmap and sem_open of the same names. */
		volatile int *q = map_object(shm);
		sem_t *ca = sem_open(sem_a, 0);
		sem_t *cb = sem_open(sem_b, 0);
		if (!q || ca == SEM_FAILED || cb == SEM_FAILED) _exit(2);
		q[0] = 42;
		sem_post(ca);
		struct timespec ts = in_seconds(10);
		if (sem_timedwait(cb, &ts) != 0) _exit(3);
		_exit(q[1] == 43 ? 0 : 4);
	}
	struct timespec ts = in_seconds(10);
	OK("sem_timedwait for the child's post", sem_timedwait(a, &ts));
	EXPECT("the child's store is seen through another mapping", p[0] == 42);
	p[1] = 43;
	OK("sem_post to the child", sem_post(b));
	int st = 0;
	waitpid(pid, &st, 0);
	EXPECT("the child saw the parent's store", WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* read(2) sees what the mappings stored; write(2) shows in them. */
	int got[2] = { 0, 0 };
	EXPECT("pread sees the stores", pread(fd, got, sizeof got, 0) == sizeof got && got[0] == 42 && got[1] == 43);
	int v = 7;
	EXPECT("pwrite shows in the mapping", pwrite(fd, &v, sizeof v, 8) == sizeof v && p[2] == 7);
	int val = -1;
	OK("sem_getvalue", sem_getvalue(a, &val));
	SHOW("semaphore value after the wait", "%d", val);
	FAILS("sem_trywait on zero", sem_trywait(a), EAGAIN);
	struct timespec soon = in_seconds(0);
	soon.tv_nsec = 0;
	FAILS("sem_timedwait times out", sem_timedwait(a, &soon), ETIMEDOUT);
	OK("sem_unlink", sem_unlink(sem_a));
	OK("sem_unlink b", sem_unlink(sem_b));
	OK("shm_unlink", shm_unlink(shm));
	FAILS("shm_open after unlink", shm_open(shm, O_RDWR, 0), ENOENT);
	sem_close(a);
	sem_close(b);
	munmap((void *)p, 4096);
	close(fd);
}

static void process_shared_mutex(void)
{
	struct shared *s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	EXPECT("shared anonymous mapping", s != MAP_FAILED);
	if (s == MAP_FAILED) return;
	pthread_mutexattr_t ma;
	pthread_condattr_t ca;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
	pthread_condattr_init(&ca);
	pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
	pthread_mutex_init(&s->mu, &ma);
	pthread_cond_init(&s->cv, &ca);
	s->turn = 0;
	pid_t pid = fork();
	if (pid == 0) {
		/* Ping-pong 100 turns with the parent. */
		pthread_mutex_lock(&s->mu);
		for (int i = 0; i < 100; i++) {
			while (s->turn % 2 == 0) pthread_cond_wait(&s->cv, &s->mu);
			s->turn++;
			pthread_cond_broadcast(&s->cv);
		}
		pthread_mutex_unlock(&s->mu);
		_exit(0);
	}
	pthread_mutex_lock(&s->mu);
	for (int i = 0; i < 100; i++) {
		s->turn++;
		pthread_cond_broadcast(&s->cv);
		struct timespec ts = in_seconds(10);
		while (s->turn % 2 == 1) {
			if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) != 0) break;
		}
	}
	pthread_mutex_unlock(&s->mu);
	int st = 0;
	waitpid(pid, &st, 0);
	EXPECT("100 turns of a process-shared mutex and condvar", s->turn == 200 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	munmap(s, sizeof *s);
}

int main(void)
{
	char shm[64], sem_a[64], sem_b[64];
	snprintf(shm, sizeof shm, "/moat-shm-test-%d", (int)getpid());
	snprintf(sem_a, sizeof sem_a, "/moat-sem-a-%d", (int)getpid());
	snprintf(sem_b, sizeof sem_b, "/moat-sem-b-%d", (int)getpid());
	shared_memory(shm, sem_a, sem_b);
	process_shared_mutex();
	return finish();
}
