/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private to the rbd store: its state, shared by rbd.c (the data path,
 * the control thread, open and close) and rbd_cluster.c (what the
 * gateways of one image coordinate through the cluster).
 */
#ifndef IDM_RBD_PRIV_H
#define IDM_RBD_PRIV_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <rados/librados.h>
#include <rbd/librbd.h>

#include "backing/rbd_spec.h"
#include "idm/backing.h"

#ifndef EBLOCKLISTED
#define EBLOCKLISTED ESHUTDOWN /* what librados returns for it */
#endif

struct rbd_cluster_state; /* rbd_cluster.c */

struct rbd_store {
	struct idm_backing b;
	rados_t cluster;
	rados_ioctx_t ioctx;
	rbd_image_t image;
	uint64_t object_size;
	bool cache;   /* librbd caches writes (rbd_cache): FUA needs a flush */
	bool shared;  /* opened by a gateway group: librbd's cache forced off */
	bool watched; /* update watch registered */
	uint64_t watch_handle;
	/* atomic: librbd calls started on `image` whose completion is not
	 * released yet; the image is closed only at 0 */
	unsigned inflight;
	/* The control thread: reads the size again when the watch fires,
	 * runs the offloaded calls, connects again while offline, and does
	 * the gateway group's work (rbd_cluster.c). */
	pthread_t ctl;
	bool ctl_started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool resize_pending;    /* under lock */
	bool reconnect_pending; /* under lock: offline, connect again */
	bool stopping;          /* written under lock, read atomically too */
	/* under lock: offloaded requests, linked through io->handle, FIFO;
	 * each belongs to a command, so the command windows bound them */
	struct idm_backing_io *job_head, *job_tail;
	uint64_t retry_at_ms; /* control thread only */
	unsigned retry_ms;    /* control thread only: the backoff */
	/* To connect again: the spec and the options, copied. */
	struct idm_rbd_spec spec;
	char conf[256], id[64], keyring[256];
	char name[IDM_RBD_NAME_MAX * 3 + 4]; /* "pool/ns/image" for messages */
	/* The image id (rbd_get_id), set at the first open: "" until then;
	 * see keep_image_id. */
	char image_id[64];
	/* NULL until the store joins a gateway group or watches a record:
	 * a store outside a group makes no cluster call of rbd_cluster.c.
	 * Set once under lock, freed at close. */
	struct rbd_cluster_state *cl;
};

/* rbd.c: count a call on the image (false: offline, make none); the
 * caller subtracts from inflight when the call is over. */
bool idm_rbd_image_enter(struct rbd_store *s);
void idm_rbd_image_leave(struct rbd_store *s);
/* rbd.c: a call failed with rc; go offline when it says blocklisted. */
void idm_rbd_check_fenced(struct rbd_store *s, int rc);

/* rbd_cluster.c, for rbd.c. */
extern const struct idm_backing_cluster_ops idm_rbd_cluster_ops;
/* Control thread, lock held: when its cluster work is next due (ms,
 * idm_now_ms clock; UINT64_MAX: nothing to do). */
uint64_t idm_rbd_cluster_due_ms(struct rbd_store *s);
/* Control thread, lock not held: do the due work. */
void idm_rbd_cluster_work(struct rbd_store *s);
/* Control thread: the image was opened again with a new client. */
void idm_rbd_cluster_reopened(struct rbd_store *s);
/* Before the client is shut down (close, reconnect): end the watches. */
void idm_rbd_cluster_detach(struct rbd_store *s);
/* At close, the control thread stopped: free the state. */
void idm_rbd_cluster_free(struct rbd_store *s);

#endif
