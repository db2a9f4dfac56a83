/* moat-agent: boot, as pid 1 of the initramfs: devtmpfs/proc/sysfs, modules, the virtio-serial
 * ports, the tmpfs root with the container's disk and volumes (docs/vm.md). */
#include "agent.h"

char cmdline[4096];

static void read_cmdline(void)
{
	int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, cmdline, sizeof cmdline - 1) : -1;

	if (fd >= 0)
		close(fd);
	cmdline[n > 0 ? n : 0] = 0;
}

/* "virtio_mmio.device=x virtio_mmio.foo=y" → "device=x foo=y" for module virtio_mmio. */
static void module_params(const char *mod, char *out, size_t cap)
{
	size_t ml = strlen(mod), o = 0;
	const char *p = cmdline;

	out[0] = 0;
	while (*p) {
		while (*p == ' ' || *p == '\n')
			p++;
		const char *w = p;
		while (*p && *p != ' ' && *p != '\n')
			p++;
		size_t wl = (size_t)(p - w);
		if (wl > ml + 1 && strncmp(w, mod, ml) == 0 && w[ml] == '.' && o + wl - ml + 1 < cap) {
			if (o)
				out[o++] = ' ';
			memcpy(out + o, w + ml + 1, wl - ml - 1);
			o += wl - ml - 1;
			out[o] = 0;
		}
	}
}

static void load_modules(void)
{
	char list[4096], params[2048], path[256];
	int fd = open("/modules/order", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return;
	n = read(fd, list, sizeof list - 1);
	close(fd);
	list[n > 0 ? n : 0] = 0;
	for (char *save = NULL, *name = strtok_r(list, "\n", &save); name; name = strtok_r(NULL, "\n", &save)) {
		snprintf(path, sizeof path, "/modules/%s.ko", name);
		int mfd = open(path, O_RDONLY | O_CLOEXEC);
		if (mfd < 0)
			fatal(path);
		/* Module names use '_' on the command line whatever the file is called. */
		char mod[128];
		snprintf(mod, sizeof mod, "%s", name);
		for (char *c = mod; *c; c++)
			if (*c == '-')
				*c = '_';
		module_params(mod, params, sizeof params);
		if (syscall(SYS_finit_module, mfd, params, 0) != 0 && errno != EEXIST)
			fatal(path);
		close(mfd);
	}
}

/* The /dev node of the virtio-serial port called `name`, waiting for udev-less devtmpfs. */
static int open_port(const char *name, int flags)
{
	char path[300], buf[64];

	for (int tries = 0; tries < 5000; tries++) {
		DIR *d = opendir("/sys/class/virtio-ports");
		struct dirent *e;

		while (d && (e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof path, "/sys/class/virtio-ports/%s/name", e->d_name);
			int fd = open(path, O_RDONLY | O_CLOEXEC);
			ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
			if (fd >= 0)
				close(fd);
			if (n <= 0)
				continue;
			buf[n] = 0;
			if (buf[n - 1] == '\n')
				buf[n - 1] = 0;
			if (strcmp(buf, name) != 0)
				continue;
			snprintf(path, sizeof path, "/dev/%s", e->d_name);
			int pfd = open(path, flags | O_CLOEXEC);
			if (pfd >= 0) {
				closedir(d);
				return pfd;
			}
		}
		if (d)
			closedir(d);
		usleep(2000);
	}
	errno = ENODEV;
	fatal(name);
}

/* SIGIO when a host connects or data arrives: disconnected ports need no polling. */
static void async_port(int fd)
{
	fcntl(fd, F_SETOWN, getpid());
	int fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl | O_ASYNC | O_NONBLOCK);
}

static void init_port(struct port *p, const char *name, int fd)
{
	snprintf(p->name, sizeof p->name, "%s", name);
	p->fd = fd;
	p->in = mmap(NULL, MAX_HOST_PAYLOAD + 8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p->in == MAP_FAILED)
		fatal("mmap");
	async_port(fd);
}

/* The host's bind mounts: virtio-fs devices tagged moat.vN, one per mount of the spec, mounted at
 * /vol/N (read-only where the host says: moat.vols=<r|w per volume> on the command line). The
 * plan then bind-mounts /vol/N (or the one file in it) into the container, as natively. */
static void mount_volumes(void)
{
	const char *p = strstr(cmdline, "moat.vols=");
	if (!p)
		return;
	p += 10;
	mkdir("/newroot/vol", 0700);
	for (int i = 0; p[i] == 'r' || p[i] == 'w'; i++) {
		char tag[32], dir[64];
		snprintf(tag, sizeof tag, "moat.v%d", i);
		snprintf(dir, sizeof dir, "/newroot/vol/%d", i);
		if (mkdir(dir, 0755) != 0)
			fatal("mkdir /vol/N");
		if (mount(tag, dir, "virtiofs", p[i] == 'r' ? MS_RDONLY : 0, NULL) != 0)
			fatal(tag);
	}
}

/* The container's root at /newroot/rootfs. Either the ext4 disk /dev/vda, the container's own copy
 * built on the host, mounted read-write (a read-only root is the plan's `remount-ro /`, as on the
 * native platform); or, for `moat do` (moat.root=<tag> on the command line), the host's root shared
 * read-only by virtio-fs under a writable layer in the guest's memory, as `do` shows it natively. */
static void mount_root(void)
{
	const char *p = strstr(cmdline, "moat.root=");
	char tag[32];
	size_t n;

	if (!p) {
		if (mount("/newroot/dev/vda", "/newroot/rootfs", "ext4", MS_NODEV, NULL) != 0)
			fatal("mount /dev/vda");
		return;
	}
	p += 10;
	n = strcspn(p, " \n");
	if (n == 0 || n >= sizeof tag)
		fatal("moat.root");
	memcpy(tag, p, n);
	tag[n] = 0;
	if (mkdir("/newroot/host", 0700) != 0 || mkdir("/newroot/layer", 0700) != 0)
		fatal("mkdir /host /layer");
	if (mount(tag, "/newroot/host", "virtiofs", MS_RDONLY | MS_NODEV, NULL) != 0)
		fatal(tag);
	if (mount("tmpfs", "/newroot/layer", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700") != 0)
		fatal("mount /layer");
	if (mkdir("/newroot/layer/upper", 0755) != 0 || mkdir("/newroot/layer/work", 0700) != 0)
		fatal("mkdir /layer/upper /layer/work");
	if (mount("overlay", "/newroot/rootfs", "overlay", MS_NODEV,
		  "lowerdir=/newroot/host,upperdir=/newroot/layer/upper,workdir=/newroot/layer/work") != 0)
		fatal("mount the overlay root");
}

void boot(void)
{
	mkdir("/dev", 0755);
	mkdir("/proc", 0555);
	mkdir("/sys", 0555);
	if (mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755") != 0)
		fatal("mount /dev");
	/* The kernel starts /init without fds 0-2 (no /dev/console in the initramfs): fill them, so
	 * that nothing of ours is ever numbered 0-2. */
	for (int i = 0; i < 3; i++)
		if (open("/dev/null", O_RDWR) < 0)
			fatal("/dev/null");
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
		fatal("mount /proc");
	if (mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
		fatal("mount /sys");
	read_cmdline();
	load_modules();
	loopback_up();
	network_up();

	/* Non-blocking channels: a write to a port no host is connected to would block until one
	 * connects. The container's own stdio ports stay blocking (they are its fds 0-2). */
	init_port(&ctl, "moat.ctl", open_port("moat.ctl", O_RDWR));
	in_port = open_port("moat.in", O_RDONLY);
	out_port = open_port("moat.out", O_WRONLY);
	err_port = open_port("moat.err", O_WRONLY);
	status_port = open_port("moat.status", O_WRONLY);
	/* As many exec channels as the host made (moat.exec=N on the command line). */
	const char *ne = strstr(cmdline, "moat.exec=");
	int want = ne ? atoi(ne + 10) : 0;
	for (n_exec = 0; n_exec < want && n_exec < EXEC_PORTS; n_exec++) {
		char name[32];
		snprintf(name, sizeof name, "moat.exec.%d", n_exec);
		int fd = open_port(name, O_RDWR);
		init_port(&execp[n_exec], name, fd);
		execp[n_exec].s = &exec_s[n_exec];
		exec_s[n_exec].port = &execp[n_exec];
		session_reset(&exec_s[n_exec]);
	}
	session_reset(&init_s);

	/* A tmpfs root: pivot_root refuses to leave the initramfs, not a mount over it. */
	mkdir("/newroot", 0755);
	if (mount("tmpfs", "/newroot", "tmpfs", MS_NOSUID, "mode=0755") != 0)
		fatal("mount /newroot");
	mkdir("/newroot/dev", 0755);
	mkdir("/newroot/proc", 0555);
	mkdir("/newroot/sys", 0555);
	mkdir("/newroot/rootfs", 0755);
	if (mount("/dev", "/newroot/dev", NULL, MS_MOVE, NULL) != 0 || mount("/proc", "/newroot/proc", NULL, MS_MOVE, NULL) != 0 ||
	    mount("/sys", "/newroot/sys", NULL, MS_MOVE, NULL) != 0)
		fatal("move /dev /proc /sys");
	/* cgroup v2 for the container's limits: the host's plan enables controllers and writes them. */
	if (mount("cgroup2", "/newroot/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
		fatal("mount /sys/fs/cgroup");
	if (mkdir("/newroot/sys/fs/cgroup/container", 0755) != 0)
		fatal("mkdir /sys/fs/cgroup/container");
	copy_file("/moat-exec", "/newroot/moat-exec", 0555);
	/* A template's disk is a placeholder: the root is mounted on RESTORE (restore.c). */
	template_mode = strstr(cmdline, "moat.template") != NULL;
	if (!template_mode)
		mount_root();
	mount_volumes();
	if (chdir("/newroot") != 0 || mount(".", "/", NULL, MS_MOVE, NULL) != 0 || chroot(".") != 0 || chdir("/") != 0)
		fatal("switch root");
	if (mknod("/start.fifo", S_IFIFO | 0622, 0) != 0)
		fatal("mkfifo /start.fifo");
	chmod("/start.fifo", 0622);
	if (template_mode)
		scrub_free_memory();
}
