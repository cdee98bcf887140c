/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private to src/idm: the per-reactor buffer cache, shared between
 * reactor.c (which owns its lifetime) and bufcache.c (which runs it).
 */
#ifndef IDM_REACTOR_PRIV_H
#define IDM_REACTOR_PRIV_H

#include <stddef.h>

#include "idm/reactor.h"

#define IDM_BUF_MIN_SHIFT 12 /* 4 KiB */
#define IDM_BUF_MAX_SHIFT 24 /* 16 MiB */
#define IDM_BUF_NCLASSES (IDM_BUF_MAX_SHIFT - IDM_BUF_MIN_SHIFT + 1)
#define IDM_BUF_ALIGN 4096
/* Free buffers a reactor keeps before it gives memory back. */
#define IDM_BUF_CACHE_LIMIT ((size_t)64 << 20)

/* Free buffers by size class; each free buffer's first word links to the next. */
struct idm_bufcache {
	void *free[IDM_BUF_NCLASSES];
	size_t cached_bytes;
};

/* The cache of reactor `r` (never NULL for a live reactor). */
struct idm_bufcache *idm_reactor_bufcache(struct idm_reactor *r);
/* Give every cached buffer back to the system (reactor teardown). */
void idm_bufcache_drain(struct idm_bufcache *bc);

#endif
