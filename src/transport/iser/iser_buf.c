/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The copy-threshold decision and the pre-registered buffer pool. The
 * pool is one region registered once (one memory region per pool, not
 * per buffer) and cut into fixed-size buffers on a free list, so the
 * data path neither allocates nor registers.
 */
#include "transport/iser/iser_buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum iser_buf_path iser_buf_path(size_t len, size_t threshold, size_t pool_buf_size)
{
	return len < threshold && len <= pool_buf_size ? ISER_BUF_COPY : ISER_BUF_REGISTER;
}

/* Cut the registered region into buffers and chain them all as free. */
static void pool_carve(struct iser_pool *p, uint32_t lkey, uint32_t rkey)
{
	for (unsigned i = p->count; i-- > 0;) {
		struct iser_pool_buf *b = &p->bufs[i];

		b->addr = (char *)p->region + (size_t)i * p->buf_size;
		b->cap = p->buf_size;
		b->lkey = lkey;
		b->rkey = rkey;
		b->in_use = false;
		b->next = p->free_list;
		p->free_list = b;
	}
	p->nfree = p->count;
}

int iser_pool_create(struct iser_pool *p, const struct iser_mem_ops *ops, unsigned count,
                     size_t buf_size)
{
	uint32_t lkey, rkey;
	int rc;

	if (!p || !ops || !ops->alloc || !ops->free || !ops->reg || !ops->dereg || count == 0 ||
	    buf_size == 0 || buf_size > SIZE_MAX / count) {
		return -EINVAL;
	}
	memset(p, 0, sizeof(*p));
	p->ops = *ops;
	p->count = count;
	p->buf_size = buf_size;
	p->region_len = buf_size * count;
	p->bufs = calloc(count, sizeof(*p->bufs));
	p->region = p->bufs ? ops->alloc(ops->ctx, p->region_len) : NULL;
	if (!p->region) {
		free(p->bufs);
		p->bufs = NULL;
		return -ENOMEM;
	}
	rc = ops->reg(ops->ctx, p->region, p->region_len, &p->reg_handle, &lkey, &rkey);
	if (rc != 0) {
		ops->free(ops->ctx, p->region, p->region_len);
		free(p->bufs);
		memset(p, 0, sizeof(*p));
		return rc < 0 ? rc : -EIO;
	}
	pool_carve(p, lkey, rkey);
	return 0;
}

void iser_pool_destroy(struct iser_pool *p)
{
	if (!p || !p->bufs) {
		return;
	}
	p->ops.dereg(p->ops.ctx, p->reg_handle);
	p->ops.free(p->ops.ctx, p->region, p->region_len);
	free(p->bufs);
	memset(p, 0, sizeof(*p));
}

struct iser_pool_buf *iser_pool_get(struct iser_pool *p)
{
	struct iser_pool_buf *b = p ? p->free_list : NULL;

	if (!b) {
		return NULL;
	}
	p->free_list = b->next;
	p->nfree--;
	b->next = NULL;
	b->in_use = true;
	return b;
}

/* True when `b` is one of this pool's descriptors (compared as integers:
 * relational operators on pointers into different objects are undefined). */
static bool pool_owns(const struct iser_pool *p, const struct iser_pool_buf *b)
{
	uintptr_t off = (uintptr_t)b - (uintptr_t)p->bufs;

	return off < (uintptr_t)p->count * sizeof(*b) && off % sizeof(*b) == 0;
}

int iser_pool_put(struct iser_pool *p, struct iser_pool_buf *b)
{
	if (!p || !b || !p->bufs || !pool_owns(p, b) || !b->in_use) {
		return -EINVAL;
	}
	b->in_use = false;
	b->next = p->free_list;
	p->free_list = b;
	p->nfree++;
	return 0;
}
