/* moat-agent: the guest's network: loopback, and the interfaces of the namespace the VMM joined. */
#include "agent.h"

/* The guest's own loopback up, before any container: one without a network namespace of its own
 * shares the guest's (one with a new namespace gets its `lo` up from the plan's loopback-up). */
void loopback_up(void)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		fatal("loopback: socket");
	memset(&ifr, 0, sizeof ifr);
	memcpy(ifr.ifr_name, "lo", 3);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) != 0)
		fatal("loopback: SIOCGIFFLAGS lo");
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) != 0)
		fatal("loopback: SIOCSIFFLAGS lo");
	close(fd);
}

/* The container's network (docs/vm.md#networking): moat.ifN=<mac>,<name>,<mtu>,<a.b.c.d>/<prefix>[,<gateway>]
 * per interface of the namespace the host's VMM joined. The virtio-net device with that MAC gets
 * the host interface's name, MTU and address, is brought up, and the gateway becomes the default
 * route. A malformed word is ignored (the host wrote it); a failing ioctl powers off. */
static int net_ioctl(int fd, unsigned long req, void *arg, const char *what)
{
	if (ioctl(fd, req, arg) != 0) {
		logmsg("moat-agent: network: %s: %s\n", what, strerror(errno));
		return -1;
	}
	return 0;
}

static int find_iface_by_mac(const char *mac, char *name, size_t len)
{
	DIR *d = opendir("/sys/class/net");
	struct dirent *e;
	int found = -1;

	if (!d)
		return -1;
	while (found < 0 && (e = readdir(d)) != NULL) {
		char path[300], addr[32] = "";
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "/sys/class/net/%s/address", e->d_name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t n = read(fd, addr, sizeof addr - 1);
		close(fd);
		addr[n > 0 ? n : 0] = 0;
		addr[strcspn(addr, "\n")] = 0;
		if (strcasecmp(addr, mac) == 0 && strlen(e->d_name) < len) {
			snprintf(name, len, "%s", e->d_name);
			found = 0;
		}
	}
	closedir(d);
	return found;
}

static void set_sin(struct sockaddr *sa, in_addr_t a)
{
	struct sockaddr_in *in = (struct sockaddr_in *)sa;
	memset(in, 0, sizeof *in);
	in->sin_family = AF_INET;
	in->sin_addr.s_addr = a;
}

/* Gives the interface `cur` the fields mac,name,mtu,a.b.c.d/prefix[,gateway] (f[0..n), n >= 4):
 * renamed, MTU, address, up, default route. 0, or -1 having said why. */
static int configure_fields(int fd, const char *cur, char **f, int n)
{
	char *slash = strchr(f[3], '/');
	if (!slash)
		return 0;
	*slash = 0;
	int prefix = atoi(slash + 1);
	struct in_addr addr, gw;
	if (inet_aton(f[3], &addr) == 0 || prefix < 0 || prefix > 32)
		return 0;
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", cur);
	if (strcmp(cur, f[1]) != 0) {
		snprintf(ifr.ifr_newname, IFNAMSIZ, "%s", f[1]);
		if (net_ioctl(fd, SIOCSIFNAME, &ifr, "rename") != 0)
			return -1;
		snprintf(ifr.ifr_name, IFNAMSIZ, "%s", f[1]);
	}
	ifr.ifr_mtu = atoi(f[2]);
	if (ifr.ifr_mtu >= 68 && net_ioctl(fd, SIOCSIFMTU, &ifr, "mtu") != 0)
		return -1;
	set_sin(&ifr.ifr_addr, addr.s_addr);
	if (net_ioctl(fd, SIOCSIFADDR, &ifr, "address") != 0)
		return -1;
	set_sin(&ifr.ifr_netmask, prefix ? htonl(~0u << (32 - prefix)) : 0);
	if (net_ioctl(fd, SIOCSIFNETMASK, &ifr, "netmask") != 0)
		return -1;
	if (net_ioctl(fd, SIOCGIFFLAGS, &ifr, "flags") != 0)
		return -1;
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (net_ioctl(fd, SIOCSIFFLAGS, &ifr, "up") != 0)
		return -1;
	if (n == 5 && inet_aton(f[4], &gw) != 0) {
		struct rtentry rt;
		memset(&rt, 0, sizeof rt);
		set_sin(&rt.rt_dst, 0);
		set_sin(&rt.rt_genmask, 0);
		set_sin(&rt.rt_gateway, gw.s_addr);
		rt.rt_flags = RTF_UP | RTF_GATEWAY;
		rt.rt_dev = f[1];
		if (net_ioctl(fd, SIOCADDRT, &rt, "default route") != 0)
			return -1;
	}
	return 0;
}

/* Splits a word's value (up to a space) into at most 5 comma-separated fields of buf. */
static int split_fields(const char *spec, char *buf, size_t len, char **f)
{
	int n = 0;

	snprintf(buf, len, "%s", spec);
	buf[strcspn(buf, " \n")] = 0;
	for (char *save = NULL, *t = strtok_r(buf, ",", &save); t && n < 5; t = strtok_r(NULL, ",", &save))
		f[n++] = t;
	return n;
}

static void configure_iface(int fd, const char *spec)
{
	char buf[256], cur[IFNAMSIZ];
	char *f[5] = { 0 };
	int n = split_fields(spec, buf, sizeof buf, f);

	if (n < 4 || strlen(f[1]) >= IFNAMSIZ || find_iface_by_mac(f[0], cur, sizeof cur) != 0) {
		logmsg("moat-agent: network: no interface for %s\n", spec);
		fatal("network");
	}
	if (configure_fields(fd, cur, f, n) != 0)
		fatal("network");
}

/* A guest restored from a template (restore.c): its NIC i was made with the template's MAC
 * 02:6d:6f:61:74:0i ("moat"), the same for every clone. `words` (from RESTORE, the host's) are
 * moat.ifI=<mac>,<name>,<mtu>[,<a.b.c.d>/<prefix>[,<gateway>]] for every NIC I: the NIC takes the
 * interface's MAC (SIOCSIFHWADDR, while it is down: the driver tells the device with a control
 * command, so QEMU filters frames for the new one), then is configured as at a cold boot. The
 * template never brought a NIC up, so there is no neighbour entry, route or address to forget.
 * 0, or -1 with `err` saying why (the host then boots the container cold). */
int network_restore(const char *words, char *err, size_t errlen)
{
	int fd = -1, r = 0;

	for (const char *p = words; r == 0 && (p = strstr(p, "moat.if")) != NULL; p++) {
		char buf[256], cur[IFNAMSIZ], tpl[18];
		char *f[5] = { 0 };
		const char *eq = strchr(p, '=');
		int i = atoi(p + 7);
		if (!eq || eq - p != 8 || i < 0 || i > 9) {
			snprintf(err, errlen, "network: malformed word");
			r = -1;
			break;
		}
		int n = split_fields(eq + 1, buf, sizeof buf, f);
		unsigned char mac[6];
		if (n < 3 || strlen(f[1]) >= IFNAMSIZ ||
		    sscanf(f[0], "%2hhx:%2hhx:%2hhx:%2hhx:%2hhx:%2hhx", &mac[0], &mac[1], &mac[2], &mac[3], &mac[4], &mac[5]) != 6) {
			snprintf(err, errlen, "network: malformed word for NIC %d", i);
			r = -1;
			break;
		}
		snprintf(tpl, sizeof tpl, "02:6d:6f:61:74:%02x", i);
		if (find_iface_by_mac(tpl, cur, sizeof cur) != 0) {
			snprintf(err, errlen, "network: no NIC with the template's MAC %s", tpl);
			r = -1;
			break;
		}
		if (fd < 0 && (fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0) {
			snprintf(err, errlen, "network: socket: %s", strerror(errno));
			r = -1;
			break;
		}
		struct ifreq ifr;
		memset(&ifr, 0, sizeof ifr);
		snprintf(ifr.ifr_name, IFNAMSIZ, "%s", cur);
		ifr.ifr_hwaddr.sa_family = 1; /* ARPHRD_ETHER */
		memcpy(ifr.ifr_hwaddr.sa_data, mac, 6);
		if (net_ioctl(fd, SIOCSIFHWADDR, &ifr, "set the MAC") != 0 || (n >= 4 && configure_fields(fd, cur, f, n) != 0)) {
			snprintf(err, errlen, "network: configuring NIC %d (%s) failed", i, f[1]);
			r = -1;
		}
	}
	if (fd >= 0)
		close(fd);
	return r;
}

void network_up(void)
{
	int fd = -1;
	for (const char *p = cmdline; (p = strstr(p, "moat.if")) != NULL; p++) {
		const char *eq = strchr(p, '=');
		if (!eq || eq - p > 9)
			continue;
		if (fd < 0 && (fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
			fatal("network: socket");
		configure_iface(fd, eq + 1);
	}
	if (fd >= 0)
		close(fd);
}
