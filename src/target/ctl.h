/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control socket's methods (ctl_methods.c) and what they act on.
 */
#ifndef IDM_TARGET_CTL_H
#define IDM_TARGET_CTL_H

#include <pthread.h>
#include <stddef.h>

#include "target/rpc.h"

struct idm_server;

struct tgt_ctl_ctx {
	struct idm_server *srv;
	const char *version;
	const char *config_path; /* the file idmd was started with, or NULL */
	pthread_mutex_t lock;    /* one change at a time: requests, reload */
};

extern const struct rpc_method tgt_ctl_methods[];
extern const size_t tgt_ctl_nmethods;

#endif
