/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Buffer cache: data buffers in power-of-two size classes (4 KiB .. 16 MiB),
 * 4 KiB aligned (fit for O_DIRECT and RDMA registration), kept on free
 * lists per reactor so that steady-state I/O never calls malloc. Each
 * reactor keeps at most IDM_BUF_CACHE_LIMIT bytes of free buffers and
 * gives back the rest. Larger requests are plain aligned allocations.
 *
 * The cache of reactor `r` is used only on r's thread (or while nobody
 * runs r), like everything else a reactor owns; so there are no locks.
 */
#include <stdint.h>
#include <stdlib.h>

#include "idm/reactor.h"
#include "idm/reactor_priv.h"

/* Size class of a request of `len` bytes, or -1 when above the largest. */
static int buf_class(size_t len)
{
	int shift;

	if (len <= ((size_t)1 << IDM_BUF_MIN_SHIFT)) {
		return 0;
	}
	shift = 64 - __builtin_clzll((unsigned long long)(len - 1));
	return shift > IDM_BUF_MAX_SHIFT ? -1 : shift - IDM_BUF_MIN_SHIFT;
}

static size_t class_size(int cls)
{
	return (size_t)1 << (cls + IDM_BUF_MIN_SHIFT);
}

/* The class whose size is exactly `cap`, or -1 (oversize or foreign). */
static int class_of_cap(size_t cap)
{
	int cls = buf_class(cap);

	return cls >= 0 && class_size(cls) == cap ? cls : -1;
}

static void *aligned_alloc_4k(size_t size)
{
	void *p;

	return posix_memalign(&p, IDM_BUF_ALIGN, size) == 0 ? p : NULL;
}

void *idm_buf_get(struct idm_reactor *r, size_t len, size_t *cap)
{
	int cls = buf_class(len);
	size_t size;
	void *buf;

	if (cls < 0) {
		/* Oversize: round to whole pages, no caching. */
		if (len > SIZE_MAX - (IDM_BUF_ALIGN - 1)) {
			return NULL;
		}
		size = (len + IDM_BUF_ALIGN - 1) & ~(size_t)(IDM_BUF_ALIGN - 1);
	} else {
		size = class_size(cls);
	}
	if (cls >= 0 && r) {
		struct idm_bufcache *bc = idm_reactor_bufcache(r);

		buf = bc->free[cls];
		if (buf) {
			bc->free[cls] = *(void **)buf;
			bc->cached_bytes -= size;
			goto out;
		}
	}
	buf = aligned_alloc_4k(size);
	if (!buf) {
		return NULL;
	}
out:
	if (cap) {
		*cap = size;
	}
	return buf;
}

void idm_buf_put(struct idm_reactor *r, void *buf, size_t cap)
{
	struct idm_bufcache *bc;
	int cls;

	if (!buf) {
		return;
	}
	cls = class_of_cap(cap);
	if (!r || cls < 0) {
		free(buf);
		return;
	}
	bc = idm_reactor_bufcache(r);
	if (bc->cached_bytes + cap > IDM_BUF_CACHE_LIMIT) {
		free(buf);
		return;
	}
	*(void **)buf = bc->free[cls];
	bc->free[cls] = buf;
	bc->cached_bytes += cap;
}

void idm_bufcache_drain(struct idm_bufcache *bc)
{
	int cls;

	for (cls = 0; cls < IDM_BUF_NCLASSES; cls++) {
		void *buf;

		while ((buf = bc->free[cls])) {
			bc->free[cls] = *(void **)buf;
			free(buf);
		}
	}
	bc->cached_bytes = 0;
}
