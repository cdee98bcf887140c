/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Pool memory on a real device. A target only moves pool buffers with
 * its own RDMA Reads and Writes, so it registers them for local access
 * only; an initiator advertises its buffers' STags and needs remote access.
 */
#include "transport/iser/iser_mem.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "rdma/idm_rdma.h"

/* Page-aligned, as registration pins whole pages anyway. */
static void *rdma_mem_alloc(void *ctx, size_t len)
{
	long page = sysconf(_SC_PAGESIZE);
	void *mem;

	(void)ctx;
	if (posix_memalign(&mem, page > 0 ? (size_t)page : 4096, len) != 0) {
		return NULL;
	}
	return mem;
}

static void rdma_mem_free(void *ctx, void *mem, size_t len)
{
	(void)ctx;
	(void)len;
	free(mem);
}

/* Register the region in the context's PD; the handle is the MR. */
static int rdma_mem_reg(void *ctx, void *mem, size_t len, void **handle, uint32_t *lkey,
                        uint32_t *rkey)
{
	struct iser_rdma_mem *m = ctx;
	struct ibv_mr *mr;
	int rc;

	if (!m) {
		return -EINVAL;
	}
	rc = idm_rdma_reg(m->pd, mem, len, m->remote, &mr);
	if (rc != 0) {
		return rc;
	}
	*handle = mr;
	*lkey = idm_rdma_lkey(mr);
	*rkey = idm_rdma_rkey(mr);
	return 0;
}

static void rdma_mem_dereg(void *ctx, void *handle)
{
	(void)ctx;
	idm_rdma_dereg(handle);
}

void iser_mem_ops_rdma(struct iser_mem_ops *ops, struct iser_rdma_mem *mem)
{
	ops->alloc = rdma_mem_alloc;
	ops->free = rdma_mem_free;
	ops->reg = rdma_mem_reg;
	ops->dereg = rdma_mem_dereg;
	ops->ctx = mem;
}
