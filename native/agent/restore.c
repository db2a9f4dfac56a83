/* moat-agent: a guest restored from a template (docs/vm.md#templates).
 *
 * A template is this agent booted with `moat.template` on the command line and saved by the host
 * once it is idle: the container's disk is then a placeholder, so boot() leaves /rootfs empty. Each
 * container restored from it is a clone of that one guest, with the same clock and the same random
 * state. Before its PLAN the host sends RESTORE (u64 seconds, u32 nanoseconds of the host's
 * CLOCK_REALTIME, u32 0, 64 random bytes of the host's), and the agent
 *   1. sets the clock;
 *   2. mixes the bytes into the input pool (RNDADDENTROPY, credited) and reseeds the CRNG
 *      (RNDRESEEDCRNG): clones never share the random stream after this;
 *   3. re-probes the disk: the restored QEMU's /dev/vda is the container's own image, but the
 *      guest read the placeholder's size (and may cache its blocks); unbinding and binding the
 *      virtio_blk driver makes a fresh disk of the new device;
 *   4. mounts it at /rootfs, as boot() does for a cold guest;
 *   5. (a template with NICs) configures them from the words after the random bytes (at most
 *      RESTORE_NET_MAX bytes of `moat.ifN=...`, net.c network_restore): the interface's MAC,
 *      name, MTU, address and default route, as a cold boot does from its command line.
 * PLAN is refused until that is done. */
#include "agent.h"

#include <linux/random.h>

int template_mode;
static int restored;

#define RESTORE_LEN (8 + 4 + 4 + SEED_BYTES)
#define SEED_BYTES 64
#define RESTORE_NET_MAX 1024

static int write_sys(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? write(fd, value, strlen(value)) : -1;

	if (fd >= 0)
		close(fd);
	return n == (ssize_t)strlen(value) ? 0 : -1;
}

static int reseed(const unsigned char *seed)
{
	struct {
		int entropy_count;
		int buf_size;
		unsigned char buf[SEED_BYTES];
	} info = { SEED_BYTES * 8, SEED_BYTES, { 0 } };
	int fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);
	int r = -1;

	memcpy(info.buf, seed, SEED_BYTES);
	if (fd >= 0 && ioctl(fd, RNDADDENTROPY, &info) == 0 && ioctl(fd, RNDRESEEDCRNG) == 0)
		r = 0;
	if (fd >= 0)
		close(fd);
	explicit_bzero(&info, sizeof info);
	return r;
}

static int reprobe_disk(void)
{
	char link[256];
	ssize_t n = readlink("/sys/block/vda/device", link, sizeof link - 1);

	if (n <= 0)
		return -1;
	link[n] = 0;
	const char *dev = strrchr(link, '/');
	dev = dev ? dev + 1 : link;
	if (write_sys("/sys/bus/virtio/drivers/virtio_blk/unbind", dev) != 0 ||
	    write_sys("/sys/bus/virtio/drivers/virtio_blk/bind", dev) != 0)
		return -1;
	/* devtmpfs makes the node as the disk is added; wait for it all the same. */
	for (int i = 0; i < 1000 && access("/dev/vda", F_OK) != 0; i++)
		usleep(1000);
	return 0;
}

void restore(const unsigned char *p, uint32_t len)
{
	if (!template_mode || restored) {
		send_error(&ctl, "restore: this guest was not started from a template, or is restored already");
		return;
	}
	if (len < RESTORE_LEN || len > RESTORE_LEN + RESTORE_NET_MAX) {
		send_error(&ctl, "restore: bad length %u", len);
		return;
	}
	uint64_t sec = (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
	uint32_t nsec = get_u32(p + 8);
	struct timespec ts = { (time_t)sec, (long)nsec };
	if (nsec >= 1000000000u || clock_settime(CLOCK_REALTIME, &ts) != 0) {
		send_error(&ctl, "restore: set the clock: %s", strerror(errno ? errno : EINVAL));
		return;
	}
	if (reseed(p + 16) != 0) {
		send_error(&ctl, "restore: reseed the random generator: %s", strerror(errno));
		return;
	}
	if (reprobe_disk() != 0) {
		send_error(&ctl, "restore: re-probe /dev/vda: %s", strerror(errno));
		return;
	}
	if (mount("/dev/vda", "/rootfs", "ext4", MS_NODEV, NULL) != 0) {
		send_error(&ctl, "restore: mount /dev/vda: %s", strerror(errno));
		return;
	}
	if (len > RESTORE_LEN) {
		char words[RESTORE_NET_MAX + 1], err[160];
		memcpy(words, p + RESTORE_LEN, len - RESTORE_LEN);
		words[len - RESTORE_LEN] = 0;
		if (network_restore(words, err, sizeof err) != 0) {
			send_error(&ctl, "restore: %s", err);
			return;
		}
	}
	restored = 1;
	send_frame(&ctl, G_OK, NULL, 0);
}

/* Before the host saves a template: a page of guest memory that is zero costs the state file a
 * flag, any other 4 KiB. The boot leaves most free memory dirty (the compressed kernel, the
 * initramfs archive, freed init memory): drop the page cache, then take (the kernel zeroes what it
 * hands out) and give back nearly all free memory. */
void scrub_free_memory(void)
{
	char buf[4096];
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
	long long free_kb = 0;

	if (fd >= 0) {
		(void)!write(fd, "3", 1);
		close(fd);
	}
	fd = open("/proc/meminfo", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = 0;
	const char *m = strstr(buf, "MemFree:");
	if (m)
		free_kb = atoll(m + 8);
	/* Leave some: the kernel must not start reclaiming or OOM-killing meanwhile. */
	free_kb -= 16 << 10;
	if (free_kb <= 0)
		return;
	size_t len = (size_t)free_kb << 10;
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE | MAP_NORESERVE, -1, 0);
	if (p != MAP_FAILED)
		munmap(p, len);
}

int plan_allowed(void)
{
	return !template_mode || restored;
}
