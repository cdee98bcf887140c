/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The buffer pool's memory operations backed by a real device: page-
 * aligned memory registered in one protection domain through src/rdma.
 */
#ifndef IDM_ISER_MEM_H
#define IDM_ISER_MEM_H

#include <stdbool.h>

#include "transport/iser/iser_buf.h"

struct ibv_pd;

/* The context the operations need; keep it alive as long as the pool. */
struct iser_rdma_mem {
	struct ibv_pd *pd;
	bool remote; /* grant the peer RDMA access (initiator buffers it advertises) */
};

/* Fill `ops` to allocate and register through `mem`. */
void iser_mem_ops_rdma(struct iser_mem_ops *ops, struct iser_rdma_mem *mem);

#endif
