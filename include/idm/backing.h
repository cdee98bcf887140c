/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Backing stores behind SCSI logical units:
 *   mem:SIZE        RAM, zero-filled; reads and writes can go straight to
 *                   its memory (idm_backing_map), with no copy at all
 *   null:SIZE       reads zeros, drops writes (benchmarks)
 *   file:PATH:SIZE  a regular file (created sparse at SIZE when missing or
 *                   smaller) or a block device (SIZE may be omitted);
 *                   I/O through the reactor's io_uring; FUA and flush
 *                   reach the disk (fdatasync / RWF_DSYNC)
 *   rbd:POOL/IMAGE, rbd:POOL/NAMESPACE/IMAGE
 *                   a Ceph RBD image through librbd's asynchronous calls
 *                   (built when librbd is found); the cluster is found as
 *                   the rbd CLI finds it, or from idm_backing_options
 * SIZE takes K, M, G, T suffixes (powers of 1024).
 */
#ifndef IDM_BACKING_H
#define IDM_BACKING_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "idm/reactor.h"

struct idm_backing;

enum idm_backing_op {
	IDM_BACKING_READ,
	IDM_BACKING_WRITE,
	IDM_BACKING_FLUSH, /* make every completed write durable */
	/* Zero [offset, offset+len); the blocks stay allocated. */
	IDM_BACKING_WRITE_ZEROES,
	/* Deallocate [offset, offset+len) where the store can (a hole in a
	 * file, pages given back on mem); the range reads as zeros after. */
	IDM_BACKING_UNMAP,
	/* Optional ops, only for a store whose native_ops has their bit
	 * (idm_backing_has_op); the SCSI layer emulates them elsewhere. */
	/* Write the one block in `buf` (block_size bytes) to every block
	 * of [offset, offset+len). */
	IDM_BACKING_WRITE_SAME,
	/* Atomically: compare [offset, offset+len) with the first len bytes
	 * of `buf` and, when equal, write the next len bytes there. On a
	 * difference nothing is written and the request completes with
	 * -EILSEQ, `moved` holding the offset of the first differing byte
	 * from `offset`. -EOPNOTSUPP: not for this range, emulate it. */
	IDM_BACKING_COMPARE_AND_WRITE,
};

/* One asynchronous request. The caller owns it until `done` runs. */
struct idm_backing_io {
	enum idm_backing_op op;
	uint64_t offset; /* bytes */
	uint32_t len;    /* bytes */
	uint8_t *buf;
	bool fua;        /* WRITE: durable before completion */
	void (*done)(struct idm_backing_io *io, int status); /* 0 or -errno */
	void *arg;
	/* private to the store */
	struct idm_backing *store;
	struct idm_uring_req ureq;
	uint32_t moved;  /* bytes done so far (short reads/writes resume) */
	/* private to asynchronous stores that complete on other threads */
	struct idm_reactor *home; /* where `done` runs */
	void *handle;             /* the library's request (rbd completion) */
	uint64_t result;          /* filled by the library (CAW mismatch) */
	uint8_t stage;            /* e.g. FUA: write done, flush running */
};

struct idm_backing_ops {
	const char *kind;
	/* Start `io`. With r == NULL the store completes it synchronously
	 * (tests, shutdown flush). `done` may run before submit returns. */
	void (*submit)(struct idm_backing *b, struct idm_backing_io *io, struct idm_reactor *r);
	/* Memory holding bytes [offset, offset+len), or NULL if the store has
	 * none (file, null). */
	uint8_t *(*map)(struct idm_backing *b, uint64_t offset, uint32_t len);
	void (*close)(struct idm_backing *b);
	/* Whether byte `offset` is allocated, and how many bytes from it
	 * (at least 1, at most to the end) share that state. Synchronous.
	 * NULL: everything is allocated. */
	int (*lba_status)(struct idm_backing *b, uint64_t offset, bool *mapped, uint64_t *run);
	/* For a store whose synchronous calls (lba_status) wait on a
	 * network: run work(io) on a thread of the store's own, then
	 * io->done(io, 0) on reactor r (inline when r is NULL). NULL: those
	 * calls are quick, make them on the reactor. */
	void (*offload)(struct idm_backing *b, struct idm_backing_io *io,
			void (*work)(struct idm_backing_io *io), struct idm_reactor *r);
	/* Change the size to `size` bytes (a multiple of the block size); no
	 * I/O may be in flight beyond the smaller of the two sizes. 0 or
	 * -errno. NULL: the store cannot be resized. */
	int (*resize)(struct idm_backing *b, uint64_t size);
};

/*
 * A store that several idmd gateways reach at once (rbd): what they
 * coordinate through the cluster. NULL on a store one process owns.
 * The blocking calls wait on the cluster: never on a reactor (the
 * store's control thread through ops->offload, or start and stop).
 */
struct idm_backing_cluster_ops {
	/* The medium's id, equal on every gateway that opens it (the RBD
	 * image id): the LU's serial and NAA are derived from it. */
	const char *(*medium_id)(struct idm_backing *b);
	/* Gateway `self` (1..65535, unique in its group) joins the image's
	 * group: it says in the cluster which lock owner it is, and calls
	 * on_owner(arg, owner) from the store's control thread at once and
	 * whenever the gateway holding the image's exclusive lock changes
	 * (owner 0: none holds it). 0 or -errno. */
	int (*gateway_join)(struct idm_backing *b, uint16_t self,
	                    void (*on_owner)(void *arg, uint16_t owner), void *arg);
	/* Make this gateway the lock holder (an explicit move, SET TARGET
	 * PORT GROUPS) without losing a write of the old holder; runs on the
	 * control thread, done(arg, 0 or -errno) there. */
	void (*gateway_take)(struct idm_backing *b, void (*done)(void *arg, int rc), void *arg);
	/* Is gateway `id` of the group alive: its client still watches the
	 * image (a gateway that died stops watching when the cluster times
	 * its watch out; a blocklisted one at once)? 1 yes, 0 no, -errno
	 * when the cluster did not say. Blocking. */
	int (*gateway_live)(struct idm_backing *b, uint16_t id);
	/* A small record shared by the gateways (persistent reservations),
	 * named `key` and versioned. Read: the bytes and their version (a
	 * record never written reads empty, version 0). Write: only while
	 * its version is still `expect` (else -ECANCELED: another gateway
	 * wrote first; read again), atomically; *version gets the new one.
	 * Blocking. */
	int (*record_read)(struct idm_backing *b, const char *key, char *buf, size_t cap,
	                   size_t *len, uint64_t *version);
	int (*record_write)(struct idm_backing *b, const char *key, const char *buf, size_t len,
	                    uint64_t expect, uint64_t *version);
	/* After any gateway's record_write of `key`, changed(arg) runs on
	 * this gateway (store thread), and the writer's record_write returns
	 * only after every live watcher's changed() has returned: a gateway
	 * acts on a record as soon as its writer reports it written. */
	int (*record_watch)(struct idm_backing *b, const char *key, void (*changed)(void *arg),
	                    void *arg);
};

struct idm_backing {
	const struct idm_backing_ops *ops;
	const struct idm_backing_cluster_ops *cluster; /* NULL: not shared */
	uint64_t size;          /* bytes; a store that can grow or shrink
	                         * under us changes it (atomically) and
	                         * calls on_resize */
	uint32_t block_size;    /* 512 or 4096: the LU's logical block size */
	bool discards_writes;   /* null store */
	/* Every completed write is durable (no volatile cache): WCE=0. */
	bool write_through;
	/* Atomic. The store cannot reach its medium for now (a cluster that
	 * did not answer at start, a client fenced off): its requests fail
	 * with -ESHUTDOWN and the LU reports NOT READY until it clears. */
	bool offline;
	unsigned native_ops;    /* 1u << op for each optional op supported */
	/* Set by the user of the store (the LU): called from any thread
	 * when the size changed behind our back, with the new size. */
	void (*on_resize)(void *arg, uint64_t new_size);
	void *on_resize_arg;
	char desc[256];         /* "file:/var/lib/idm/lun0.img:1G" */
};

static inline bool idm_backing_has_op(const struct idm_backing *b, enum idm_backing_op op)
{
	return (b->native_ops >> op) & 1u;
}

/* Options of stores that reach a cluster (rbd); NULL fields: defaults
 * (as the rbd CLI: $CEPH_CONF or /etc/ceph/ceph.conf, client.admin,
 * the keyring the config names). */
struct idm_backing_options {
	const char *ceph_conf;
	const char *ceph_id;      /* "idm" for client.idm */
	const char *ceph_keyring;
	/* A cluster that does not answer at open: open the store offline
	 * and connect in the background, instead of failing the open. */
	bool start_offline;
	/* Several processes open the medium at once (the idmd of a gateway
	 * group): no cache of the store's own. A write another gateway's
	 * cache still holds, or a block one cached before another wrote it,
	 * would let a read through one port miss a write completed through
	 * another. The store is then write-through (WCE=0). */
	bool shared;
};

/*
 * Open a store from its spec string (see above). On failure returns a
 * negative errno and writes one clear line into `err`.
 */
int idm_backing_open(const char *spec, uint32_t block_size, struct idm_backing **out,
		     char *err, size_t errlen);
/* The same, with options (NULL: defaults). */
int idm_backing_open_opts(const char *spec, uint32_t block_size,
			  const struct idm_backing_options *opts, struct idm_backing **out,
			  char *err, size_t errlen);
void idm_backing_close(struct idm_backing *b);

static inline void idm_backing_submit(struct idm_backing *b, struct idm_backing_io *io,
				      struct idm_reactor *r)
{
	io->store = b;
	io->moved = 0;
	b->ops->submit(b, io, r);
}

static inline uint8_t *idm_backing_map(struct idm_backing *b, uint64_t off, uint32_t len)
{
	return b->ops->map ? b->ops->map(b, off, len) : NULL;
}

/* Allocation state at byte `offset` (< size): see ops->lba_status. */
static inline int idm_backing_lba_status(struct idm_backing *b, uint64_t offset, bool *mapped,
					 uint64_t *run)
{
	if (offset >= b->size) {
		return -ERANGE;
	}
	if (!b->ops->lba_status) {
		*mapped = true;
		*run = b->size - offset;
		return 0;
	}
	return b->ops->lba_status(b, offset, mapped, run);
}

/* Parse "1G", "512M", "4096" into bytes. Returns 0 or -EINVAL. */
/* Resize a store (see ops->resize); -EOPNOTSUPP when it cannot be. */
static inline int idm_backing_resize(struct idm_backing *b, uint64_t size)
{
	if (!b->ops->resize) {
		return -EOPNOTSUPP;
	}
	if (size == 0 || size % b->block_size) {
		return -EINVAL;
	}
	return b->ops->resize(b, size);
}

int idm_parse_size(const char *s, uint64_t *out);

#endif
