/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * RDMA presence probe, protection domains and memory registration.
 */
#include "rdma/idm_rdma.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

/* Write a reason for the log, if the caller wants one. */
static void set_reason(char *reason, size_t cap, const char *why, int err)
{
	if (!reason || cap == 0) {
		return;
	}
	if (err == 0) {
		snprintf(reason, cap, "iSER disabled: %s", why);
	} else {
		snprintf(reason, cap, "iSER disabled: %s (%s)", why, strerror(err));
	}
}

/* How many verbs devices the host has (0 on error). */
static int count_devices(void)
{
	struct ibv_device **list;
	int n = 0;

	list = ibv_get_device_list(&n);
	if (!list) {
		return 0;
	}
	ibv_free_device_list(list);
	return n;
}

/*
 * Opening the CM is the real test: without RDMA support (no device, no
 * rdma_cm module) rdma_create_event_channel fails with ENODEV.
 */
bool idm_rdma_available(char *reason, size_t cap)
{
	struct rdma_event_channel *ch = rdma_create_event_channel();
	int err = errno;

	if (!ch) {
		if (err == ENODEV || err == ENOENT) {
			set_reason(reason, cap, "no RDMA device", 0);
		} else {
			set_reason(reason, cap, "cannot open the RDMA CM", err);
		}
		return false;
	}
	rdma_destroy_event_channel(ch);
	if (count_devices() == 0) {
		set_reason(reason, cap, "no RDMA device", 0);
		return false;
	}
	if (reason && cap) {
		reason[0] = '\0';
	}
	return true;
}

int idm_rdma_dev_open(struct idm_rdma_dev *dev, struct ibv_context *verbs)
{
	if (!dev || !verbs) {
		return -EINVAL;
	}
	dev->verbs = verbs;
	dev->pd = ibv_alloc_pd(verbs);
	if (!dev->pd) {
		return errno ? -errno : -ENOMEM;
	}
	return 0;
}

void idm_rdma_dev_close(struct idm_rdma_dev *dev)
{
	if (dev && dev->pd) {
		ibv_dealloc_pd(dev->pd);
		dev->pd = NULL;
	}
}

/*
 * Register memory once, off the data path. Remote access is granted only
 * when asked: an advertised STag exposes the memory to the peer.
 */
int idm_rdma_reg(struct ibv_pd *pd, void *addr, size_t len, bool remote, struct ibv_mr **out)
{
	int access = IBV_ACCESS_LOCAL_WRITE;

	if (!pd || !addr || len == 0 || !out) {
		return -EINVAL;
	}
	if (remote) {
		access |= IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE;
	}
	*out = ibv_reg_mr(pd, addr, len, access);
	if (!*out) {
		return errno ? -errno : -ENOMEM;
	}
	return 0;
}

void idm_rdma_dereg(struct ibv_mr *mr)
{
	if (mr) {
		ibv_dereg_mr(mr);
	}
}

uint32_t idm_rdma_lkey(const struct ibv_mr *mr)
{
	return mr->lkey;
}

uint32_t idm_rdma_rkey(const struct ibv_mr *mr)
{
	return mr->rkey;
}
