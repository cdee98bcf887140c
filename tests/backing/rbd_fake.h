/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A fake of the librados/librbd calls the rbd store makes (rbd_fake.c):
 * one in-memory image, every aio call applied at once and its
 * completion delivered from a thread of its own, as librbd does, with a
 * record of what was called. Unit tests only.
 */
#ifndef IDM_TESTS_RBD_FAKE_H
#define IDM_TESTS_RBD_FAKE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FAKE_CHUNK 4096u /* allocation granularity of the fake image */

enum fake_call {
	FC_READ,
	FC_WRITE,
	FC_FLUSH,
	FC_DISCARD,
	FC_WRITE_ZEROES,
	FC_WRITESAME,
	FC_CAW,
	FC_COUNT,
};

struct fake_rbd {
	/* What the test sets up. */
	uint64_t size;
	uint64_t obj_size;
	bool cache;     /* rbd_cache as rados_conf_get reports it */
	int connect_rc; /* rados_connect's result */
	int ioctx_rc;   /* rados_ioctx_create's result */
	int open_rc;    /* rbd_open's result */
	int aio_rc;     /* result of every completed aio, when non-zero */
	/* What the store did. */
	uint8_t *mem;
	uint8_t *allocated; /* one flag per FAKE_CHUNK */
	unsigned calls[FC_COUNT];
	const void *last_buf; /* buffer of the last data call */
	uint64_t last_off, last_len;
	size_t last_data_len; /* writesame's pattern length */
	char keyring[256];    /* set with rados_conf_set("keyring") */
	char client_id[64];
	bool skip_partial_discard_off;
	bool cache_set; /* rados_conf_set("rbd_cache") was called */
	bool open, cluster_up;
	void (*watch_cb)(void *arg);
	void *watch_arg;
	unsigned clients;          /* rados_create calls: client instances made */
	pthread_t last_thread;     /* where the last data call was made */
	unsigned completions_live; /* created, not yet released */
	unsigned finishers_live;   /* completion threads not yet ended */
};

extern struct fake_rbd fake_rbd;

/* Reset the fake to an image of `size` bytes, 4 MiB objects, cache on. */
void fake_rbd_reset(uint64_t size);
/* Free the image's memory. */
void fake_rbd_free(void);

#endif
