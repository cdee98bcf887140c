/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * iSER buffers. Registering memory with the RDMA device is slow, so a
 * transfer below the copy threshold goes through a buffer from a pool
 * registered once up front; a larger one registers the caller's memory
 * on demand (the copy would cost more than the registration).
 *
 * The pool is written against an allocator/registrar interface so it
 * can be tested without a device; src/rdma supplies the real one.
 */
#ifndef IDM_ISER_BUF_H
#define IDM_ISER_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ISER_COPY_THRESHOLD_DEFAULT (128u * 1024u)

enum iser_buf_path {
	ISER_BUF_COPY,     /* copy through a pre-registered pool buffer */
	ISER_BUF_REGISTER, /* register the caller's memory for this transfer */
};

/*
 * Which path a transfer of `len` bytes takes: copy when it is below
 * `threshold` and fits a pool buffer of `pool_buf_size`, else register.
 */
enum iser_buf_path iser_buf_path(size_t len, size_t threshold, size_t pool_buf_size);

/* Memory and registration, supplied by the RDMA layer (or a test fake). */
struct iser_mem_ops {
	void *(*alloc)(void *ctx, size_t len); /* page-aligned memory */
	void (*free)(void *ctx, void *mem, size_t len);
	/* Register [mem, mem+len); *handle identifies it for dereg. 0 / -errno. */
	int (*reg)(void *ctx, void *mem, size_t len, void **handle, uint32_t *lkey, uint32_t *rkey);
	void (*dereg)(void *ctx, void *handle);
	void *ctx;
};

/* One pool buffer: a slice of the pool's single registration. */
struct iser_pool_buf {
	void *addr;
	size_t cap;
	uint32_t lkey;
	uint32_t rkey;
	struct iser_pool_buf *next; /* free list link */
	bool in_use;
};

struct iser_pool {
	struct iser_mem_ops ops;
	void *region; /* all buffers, back to back, registered once */
	size_t region_len;
	void *reg_handle;
	struct iser_pool_buf *bufs; /* descriptors, one per buffer */
	struct iser_pool_buf *free_list;
	unsigned count;
	unsigned nfree;
	size_t buf_size;
};

/* Allocate and register `count` buffers of `buf_size` bytes. 0 / -errno. */
int iser_pool_create(struct iser_pool *p, const struct iser_mem_ops *ops, unsigned count,
                     size_t buf_size);
/* Deregister and free everything (buffers should all be back). */
void iser_pool_destroy(struct iser_pool *p);
/* A free buffer, or NULL when all are in use. Allocates nothing. */
struct iser_pool_buf *iser_pool_get(struct iser_pool *p);
/* Return a buffer. -EINVAL for one not from this pool or already free. */
int iser_pool_put(struct iser_pool *p, struct iser_pool_buf *b);

#endif
