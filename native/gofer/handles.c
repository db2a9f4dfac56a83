/*
 * The handle table: a fixed array of O_PATH fds the sentry names by (generation << 16 | slot), so
 * a value that was closed (or never issued) is EBADF rather than somebody else's file. A regular
 * file keeps its parent directory alive (refs), because OPEN reopens it by name in that directory.
 */
#include "gofer.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

static struct handle table[MAX_HANDLES];
static uint32_t limit;
static uint32_t free_head; /* slot + 1 of the last freed slot; 0 = none */
/*
 * Slots [0, fresh) have been handed out at least once; the rest have never been touched. They are
 * taken in order when no freed slot is left, so that the table's pages (~300 bytes a slot, 65536
 * slots at most) become resident only as the sandbox opens files: initialising every slot at start
 * made ~6 MB of the gofer's ~6.6 MB of PSS (measured with smaps_rollup, issue 14).
 */
static uint32_t fresh;

void handles_init(uint32_t max)
{
	limit = max;
	fresh = 0;
	free_head = 0;
}

uint32_t handles_max(void)
{
	return limit;
}

static uint32_t slot_of(const struct handle *h)
{
	return (uint32_t)(h - table);
}

int handle_new(int fd, const struct stat *st, unsigned tree, struct handle *parent, const char *name,
	       size_t len, uint32_t *out)
{
	struct handle *h;

	if (free_head) {
		h = &table[free_head - 1];
		free_head = h->next_free;
	} else if (fresh < limit) {
		h = &table[fresh++];
		h->gen = 1; /* never 0: no handle value is 0 */
	} else {
		return ENFILE;
	}
	h->fd = fd;
	h->open = true;
	h->refs = 0;
	h->dev = st->st_dev;
	h->ino = st->st_ino;
	h->fmt = st->st_mode & S_IFMT;
	h->tree = (uint8_t)tree;
	h->parent = 0;
	h->namelen = 0;
	if (parent) {
		h->parent = slot_of(parent) + 1;
		parent->refs++;
		memcpy(h->name, name, len);
		h->namelen = (uint8_t)len;
	}
	*out = (uint32_t)h->gen << 16 | slot_of(h);
	return 0;
}

struct handle *handle_get(uint32_t value)
{
	uint32_t slot = value & 0xffff;
	struct handle *h;

	if (slot >= fresh) /* never handed out (its fd field is 0, not -1) */
		return NULL;
	h = &table[slot];
	if (h->fd < 0 || !h->open || h->gen != value >> 16)
		return NULL;
	return h;
}

struct handle *handle_parent(const struct handle *h)
{
	return h->parent ? &table[h->parent - 1] : NULL;
}

/* Free h, then every ancestor that only lived for it. */
static void release(struct handle *h)
{
	while (h && !h->open && h->refs == 0) {
		struct handle *up = handle_parent(h);

		close(h->fd);
		h->fd = -1;
		h->gen = h->gen == 0xffff ? 1 : h->gen + 1; /* never 0: no handle value is 0 */
		h->next_free = free_head;
		free_head = slot_of(h) + 1;
		if (up)
			up->refs--;
		h = up;
	}
}

int handle_close(uint32_t value)
{
	struct handle *h = handle_get(value);

	if (!h)
		return EBADF;
	h->open = false;
	release(h);
	return 0;
}
