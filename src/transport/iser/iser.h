/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Knobs of the iSER transport for its users (the target's configuration).
 * The transport itself is idm_iser_transport (idm/idm.h).
 */
#ifndef IDM_ISER_H
#define IDM_ISER_H

#include <stdint.h>

struct idm_svc;

/*
 * RDMA transfers below `bytes` go through the pre-registered pool (a
 * copy); larger ones register the task's buffer. 0 restores the default
 * (ISER_COPY_THRESHOLD_DEFAULT, 128 KiB; the pool's buffers are the
 * threshold's size up to that, so a larger value still registers above
 * it; 1 copies nothing and creates no pool). Applies to connections
 * accepted afterwards. Any thread. 0 or -EINVAL.
 */
int idm_iser_svc_set_copy_threshold(struct idm_svc *svc, uint32_t bytes);

#endif
