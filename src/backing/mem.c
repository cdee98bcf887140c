/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mem: a RAM disk in one anonymous mapping. The kernel hands out zeroed
 * pages on first touch, so a large store costs only what is written.
 * Callers can map() the store and move data straight in and out of it;
 * then submit() sees its own memory and copies nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backing/backing_priv.h"

struct mem_store {
	struct idm_backing b;
	uint8_t *base;
};

static struct mem_store *to_mem(struct idm_backing *b)
{
	return (struct mem_store *)b;
}

/* Zero [at, at+len): whole pages go back to the kernel (MADV_DONTNEED
 * on a private anonymous mapping refills them with zeros on the next
 * touch), the partial pages at either end are cleared by hand. */
static void mem_zero(uint8_t *at, uint32_t len)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t start = ((uintptr_t)at + page - 1) & ~(page - 1);
	uintptr_t end = ((uintptr_t)at + len) & ~(page - 1);

	if (start >= end || madvise((void *)start, end - start, MADV_DONTNEED) != 0) {
		memset(at, 0, len);
		return;
	}
	memset(at, 0, start - (uintptr_t)at);
	memset((void *)end, 0, (uintptr_t)at + len - end);
}

static void mem_submit(struct idm_backing *b, struct idm_backing_io *io, struct idm_reactor *r)
{
	struct mem_store *m = to_mem(b);
	int rc = idm_backing_check_io(b, io);
	uint8_t *at;

	if (rc) {
		idm_backing_complete(io, rc);
		return;
	}
	at = m->base + io->offset;
	/* Copy only when the data is not already in place (map() users). */
	if (io->op == IDM_BACKING_READ && io->buf != at) {
		memcpy(io->buf, at, io->len);
	} else if (io->op == IDM_BACKING_WRITE && io->buf != at) {
		memcpy(at, io->buf, io->len);
	} else if (io->op == IDM_BACKING_WRITE_ZEROES || io->op == IDM_BACKING_UNMAP) {
		mem_zero(at, io->len);
	}
	/* RAM is as durable as it gets: FUA and FLUSH have nothing to do. */
	io->moved = io->op == IDM_BACKING_FLUSH ? 0 : io->len;
	idm_backing_complete(io, 0);
}

static uint8_t *mem_map(struct idm_backing *b, uint64_t offset, uint32_t len)
{
	if (offset > b->size || len > b->size - offset) {
		return NULL;
	}
	return to_mem(b)->base + offset;
}

static void mem_close(struct idm_backing *b)
{
	struct mem_store *m = to_mem(b);

	munmap(m->base, b->size);
	free(m);
}

/* In place only: zero-copy I/O points into the mapping, so it must not
 * move. Growing fails when the address space after it is taken. */
static int mem_resize(struct idm_backing *b, uint64_t size)
{
	struct mem_store *m = to_mem(b);

	if (size > SIZE_MAX) {
		return -ENOMEM;
	}
	if (mremap(m->base, (size_t)b->size, (size_t)size, 0) == MAP_FAILED) {
		return -errno;
	}
	b->size = size;
	return 0;
}

static const struct idm_backing_ops mem_ops = {
    .kind = "mem",
    .submit = mem_submit,
    .map = mem_map,
    .close = mem_close,
    .resize = mem_resize,
};

int idm_mem_open(uint64_t size, struct idm_backing **out, char *why, size_t whylen)
{
	struct mem_store *m;

	if (size > SIZE_MAX) {
		snprintf(why, whylen, "%llu bytes do not fit in memory", (unsigned long long)size);
		return -ENOMEM;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	m->base = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m->base == MAP_FAILED) {
		int rc = -errno;

		snprintf(why, whylen, "cannot map %llu bytes: %s", (unsigned long long)size,
		         strerror(-rc));
		free(m);
		return rc;
	}
	m->b.ops = &mem_ops;
	m->b.size = size;
	*out = &m->b;
	return 0;
}
