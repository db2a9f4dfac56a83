/* moat-agent: what its files share (see agent.c for the design). */
#ifndef MOAT_AGENT_H
#define MOAT_AGENT_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "fdpass.h"


#define PROTO_VERSION 2
enum {
	H_HELLO = 1, H_PLAN = 2, H_START = 3, H_SIGNAL = 4, H_RESIZE = 5, H_EXEC = 6, H_STDIN = 7, H_STDIN_CLOSE = 8,
	H_SIGNAL_EXEC = 9, H_RESTORE = 10, H_STATS = 11, H_FILES = 12, H_CGROUP = 13,
	G_HELLO = 0x81, G_READY = 0x82, G_STARTED = 0x83, G_OK = 0x84, G_ERROR = 0x85, G_EXIT = 0x86,
	G_STDOUT = 0x87, G_STDERR = 0x88, G_STATS = 0x89,
};
#define FLAG_TERMINAL 1u
#define MAX_PLAN (8u << 20)             /* docs/executor-plan.md */
#define MAX_HOST_PAYLOAD (MAX_PLAN + 4) /* PLAN/EXEC: u32 flags + plan */
#define MAX_GUEST_TEXT 1024
#define CHUNK 16384                     /* bytes of process output per frame */
#define OUT_HIGH (64u << 10)            /* stop reading a process while its channel queue is this long */
#define QUEUE_MAX (4u << 20)
#define EXEC_PORTS 8

enum phase { P_IDLE, P_CREATED, P_RUNNING, P_EXITED };


/* ---- byte queues (what a non-blocking fd has not taken yet) ---- */

struct queue {
	unsigned char *buf;
	size_t len, cap;
};


/* ---- channels (moat.ctl and moat.exec.N) ---- */

struct session;

struct port {
	char name[32];
	int fd;
	int up;             /* a host is connected */
	unsigned char *in;  /* parser buffer */
	size_t inlen;
	struct queue out;   /* frames for the host */
	struct session *s;  /* exec ports: their session */
};

/* ---- processes: one moat-exec in run mode each (the init, or an exec) ---- */

struct session {
	int active;            /* moat-exec runs */
	int ready;             /* it reported the process's pid */
	int orphaned;          /* exec: its host went away; nothing more is sent */
	pid_t exec_pid;        /* moat-exec */
	int pid;               /* the process, as moat-exec reported it */
	int report_fd;
	char report[4096];
	size_t report_len;
	int terminal;
	int console_sock;      /* our end of the console socketpair, until the master arrives */
	int master;            /* the pty master (terminal) */
	int in_fd;             /* the process's stdin (pipe write end; no terminal) */
	int out_fd, err_fd;    /* its stdout / stderr (pipe read ends; err also with a terminal: moat-exec's own) */
	struct queue stdin_q;  /* bytes for in_fd or the master */
	int stdin_close;       /* close in_fd once stdin_q is empty */
	struct port *port;     /* exec: its channel; init: NULL */
};


/* ---- state (agent.c; cmdline: boot.c) ---- */

extern struct port ctl;
extern struct port execp[EXEC_PORTS];
extern int n_exec;
extern struct session init_s, exec_s[EXEC_PORTS];
extern int in_port, out_port, err_port, status_port, devnull;
extern int in_up;
extern struct queue tty_out;
extern enum phase phase;
extern int exit_status;
extern char cmdline[4096];

/* util.c */
void logmsg(const char *fmt, ...);
void __attribute__((noreturn)) poweroff(void);
void __attribute__((noreturn)) fatal(const char *what);
uint32_t get_u32(const unsigned char *p);
void put_u32(unsigned char *p, uint32_t v);
void set_nonblock(int fd);
int q_put(struct queue *q, const void *p, size_t n);
int q_flush(struct queue *q, int fd);
void q_drain(struct queue *q, int fd, int timeout_ms);
void close_fd(int *fd);
void copy_file(const char *from, const char *to, mode_t mode);

/* channel.c */
void send_frame(struct port *p, int type, const void *payload, uint32_t len);
void send_u32(struct port *p, int type, uint32_t v);
void send_error(struct port *p, const char *fmt, ...);
void hello(struct port *p);
void read_port(struct port *p);
void probe(struct port *p);

/* process.c */
void session_reset(struct session *s);
int sink_full(struct session *s);
ssize_t pump_once(struct session *s, int fd, int type);
void drain(struct session *s, int *fd, int type);
int spawn_exec(struct port *answer, struct session *s, const unsigned char *plan, uint32_t len, int terminal, int fd0, int fd1, int fd2);
void read_report(struct session *s);

/* boot.c */
void boot(void);

/* net.c */
void loopback_up(void);
void network_up(void);
int network_restore(const char *words, char *err, size_t errlen);

/* container.c */
void run_plan(const unsigned char *p, uint32_t len);
void start_container(void);
void signal_container(const unsigned char *p);
void signal_exec(const unsigned char *p);
int resize(struct session *s, const unsigned char *p);
void __attribute__((noreturn)) on_init_exit(int wstatus);
void run_exec(struct port *p, const unsigned char *payload, uint32_t len);
void on_exec_exit(struct session *s, int wstatus);
void feed_stdin(struct session *s);

/* files.c */
void write_files(const unsigned char *p, uint32_t len);

/* stats.c */
void send_stats(struct port *p, const unsigned char *name, uint32_t len);

/* cgroup.c */
int member_name_ok(const char *s, size_t len);
void cgroup_request(const unsigned char *p, uint32_t len);

/* restore.c (a guest restored from a template) */
extern int template_mode;
void restore(const unsigned char *p, uint32_t len);
int plan_allowed(void);
void scrub_free_memory(void);

/* agent.c */
void on_ctl_frame(int type, const unsigned char *p, uint32_t len);
void on_exec_frame(struct port *port, int type, const unsigned char *p, uint32_t len);

#endif
