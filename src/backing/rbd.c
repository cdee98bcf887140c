/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rbd: a Ceph RBD image through librbd.
 *
 * Control path (idmd's start and stop, the store's own control thread):
 * connect, open, stat, watch and close, all blocking librbd calls, never
 * on a reactor.
 *
 * Data path: every request is one rbd_aio_* call straight on the task's
 * buffer (no copy). librbd completes it on one of its own threads; the
 * completion callback posts the request back to the reactor that
 * submitted it (idm_reactor_send), where `done` runs as for every other
 * store. We post to the submitting reactor's message queue rather than
 * poll an eventfd given by rbd_set_image_notification because one LU is
 * shared by connections on every reactor: librbd has one notification fd
 * per image, which only one reactor could own, while the message queue
 * delivers each completion to its own reactor, in batches (one wakeup
 * for every completion queued before the reactor runs), allocating
 * nothing in steady state.
 *
 * Mapping: READ/WRITE -> rbd_aio_read/write; FUA -> the write, then
 * rbd_aio_flush before completion when librbd caches (rbd_cache); FLUSH
 * -> rbd_aio_flush; UNMAP -> rbd_aio_discard (partial discards zero, so
 * unmapped blocks read zeros); WRITE ZEROES -> rbd_aio_write_zeroes;
 * WRITE SAME -> rbd_aio_writesame; COMPARE AND WRITE ->
 * rbd_aio_compare_and_write, atomic in the cluster, so across gateways
 * too (librbd takes one within one object only: a range that crosses an
 * object boundary completes with -EOPNOTSUPP and the SCSI layer
 * emulates it); allocation status -> rbd_diff_iterate2, which waits on
 * the cluster: GET LBA STATUS runs on the control thread (offload).
 *
 * A size change made elsewhere (rbd resize) reaches us through
 * rbd_update_watch; the control thread reads the new size and tells the
 * LU (on_resize). A client blocklisted by the cluster (-EBLOCKLISTED)
 * fails every request from then on with -ESHUTDOWN, logged once.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rados/librados.h>
#include <rbd/librbd.h>

#include "backing/backing_priv.h"
#include "backing/rbd_spec.h"

#ifndef EBLOCKLISTED
#define EBLOCKLISTED ESHUTDOWN /* what librados returns for it */
#endif

/* Seconds librados waits for the monitors at start, and for an OSD
 * operation before it fails the request (the SCSI layer then reports
 * NOT READY): an OSD that stays down must not hang commands forever. */
#define RBD_MOUNT_TIMEOUT_S "10"
#define RBD_OSD_OP_TIMEOUT_S "30"

/* Calls waiting for the control thread (GET LBA STATUS); one more
 * than this runs on its reactor instead, so a burst is bounded. */
#define RBD_CTL_JOBS 32

struct rbd_job {
	struct idm_backing_io *io;
	void (*work)(struct idm_backing_io *io);
};

enum rbd_stage {
	STAGE_MAIN = 0,  /* the request's own librbd call */
	STAGE_FUA_FLUSH, /* a FUA write's flush */
};

struct rbd_store {
	struct idm_backing b;
	rados_t cluster;
	rados_ioctx_t ioctx;
	rbd_image_t image;
	uint64_t object_size;
	bool cache;   /* librbd caches writes (rbd_cache): FUA needs a flush */
	bool watched; /* update watch registered */
	uint64_t watch_handle;
	bool blocklisted; /* atomic: told once, then every request fails */
	/* The control thread: reads the size again when the watch fires,
	 * runs the offloaded calls. */
	pthread_t ctl;
	bool ctl_started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool resize_pending;               /* under lock */
	bool stopping;                     /* under lock */
	struct rbd_job jobs[RBD_CTL_JOBS]; /* under lock: a ring */
	unsigned job_head, job_count;
	char name[IDM_RBD_NAME_MAX * 3 + 4]; /* "pool/ns/image" for messages */
};

static struct rbd_store *io_rbd(struct idm_backing_io *io)
{
	return (struct rbd_store *)io->store;
}

/* ---- completion: librbd's thread -> the submitting reactor ---- */

static void rbd_issue(struct idm_backing_io *io);

/*
 * The offset of a COMPARE AND WRITE's first differing byte from the
 * request's start. librbd 16.2 (LIBRBD 1.16) reports the image offset of
 * the object holding the range plus the offset in the compared buffer
 * (it leaves out where in the object the range starts); later librbd is
 * taken to report the image offset of the byte itself. A value outside
 * the range reads as 0 (the first byte).
 */
static uint32_t caw_mismatch(const struct rbd_store *s, const struct idm_backing_io *io)
{
	uint64_t base = io->offset;

#if LIBRBD_VERSION_CODE <= LIBRBD_VERSION(1, 16, 0)
	base -= s->object_size ? io->offset % s->object_size : 0;
#endif
	if (io->result < base || io->result - base >= io->len) {
		return 0;
	}
	return (uint32_t)(io->result - base);
}

/* librbd's status of one call, as 0 or -errno for `done`. */
static int rbd_status(struct rbd_store *s, struct idm_backing_io *io, long ret)
{
	if (ret >= 0) {
		return 0;
	}
	if (ret == -EBLOCKLISTED || ret == -ESHUTDOWN) {
		if (!__atomic_exchange_n(&s->blocklisted, true, __ATOMIC_RELAXED)) {
			fprintf(stderr,
			        "idm: backing '%s': this client was blocklisted by the Ceph "
			        "cluster; the LU reports NOT READY until idmd restarts\n",
			        s->b.desc);
		}
		return -ESHUTDOWN;
	}
	if (ret == -EILSEQ && io->op == IDM_BACKING_COMPARE_AND_WRITE) {
		io->moved = caw_mismatch(s, io);
	}
	if (ret == -EINVAL && io->op == IDM_BACKING_COMPARE_AND_WRITE) {
		return -EOPNOTSUPP; /* e.g. across an object boundary */
	}
	return (int)ret;
}

/* On the home reactor (or the submitting thread without one): the
 * librbd call finished; go on with the next stage or complete. */
static void rbd_finish(struct idm_backing_io *io)
{
	struct rbd_store *s = io_rbd(io);
	rbd_completion_t c = io->handle;
	long ret = (long)rbd_aio_get_return_value(c);
	int status;

	rbd_aio_release(c);
	io->handle = NULL;
	status = rbd_status(s, io, ret);
	if (status == 0 && io->stage == STAGE_MAIN && io->op == IDM_BACKING_WRITE && io->fua &&
	    s->cache) {
		io->stage = STAGE_FUA_FLUSH;
		rbd_issue(io);
		return;
	}
	if (status == 0 && io->op != IDM_BACKING_FLUSH) {
		io->moved = io->len;
	}
	idm_backing_complete(io, status);
}

static void rbd_finish_msg(void *arg)
{
	rbd_finish(arg);
}

/* From another thread: run fn(io) on io's home reactor. */
static void post_home(struct idm_backing_io *io, void (*fn)(void *arg))
{
	struct timespec pause = {0, 1000000};

	/* Fails only without memory to grow the queue: wait for some. */
	while (idm_reactor_send(io->home, fn, io) != 0) {
		nanosleep(&pause, NULL);
	}
}

/* librbd's thread. Only posts: `done` belongs to the home reactor. */
static void rbd_aio_cb(rbd_completion_t c, void *arg)
{
	struct idm_backing_io *io = arg;

	if (io->home) { /* else synchronous: the submitter waits for it */
		post_home(io, rbd_finish_msg);
	}
}

/* Start the librbd call of io's current stage on `c`. 0 or -errno. */
static int rbd_start(struct rbd_store *s, struct idm_backing_io *io, rbd_completion_t c)
{
	char *buf = (char *)io->buf;

	if (io->stage == STAGE_FUA_FLUSH) {
		return rbd_aio_flush(s->image, c);
	}
	switch (io->op) {
	case IDM_BACKING_READ:
		return rbd_aio_read(s->image, io->offset, io->len, buf, c);
	case IDM_BACKING_WRITE:
		return rbd_aio_write(s->image, io->offset, io->len, buf, c);
	case IDM_BACKING_FLUSH:
		return rbd_aio_flush(s->image, c);
	case IDM_BACKING_UNMAP:
		return rbd_aio_discard(s->image, io->offset, io->len, c);
	case IDM_BACKING_WRITE_ZEROES:
		return rbd_aio_write_zeroes(s->image, io->offset, io->len, c, 0, 0);
	case IDM_BACKING_WRITE_SAME:
		return rbd_aio_writesame(s->image, io->offset, io->len, buf, s->b.block_size, c, 0);
	case IDM_BACKING_COMPARE_AND_WRITE:
		return (int)rbd_aio_compare_and_write(s->image, io->offset, io->len, buf,
		                                      buf + io->len, c, &io->result, 0);
	}
	return -EINVAL;
}

/* Issue io's current stage. Without a home reactor, wait for it here
 * (only the shutdown flush and tests do that). */
static void rbd_issue(struct idm_backing_io *io)
{
	struct rbd_store *s = io_rbd(io);
	rbd_completion_t c;
	int rc;

	if (__atomic_load_n(&s->blocklisted, __ATOMIC_RELAXED)) {
		idm_backing_complete(io, -ESHUTDOWN);
		return;
	}
	rc = rbd_aio_create_completion(io, rbd_aio_cb, &c);
	if (rc < 0) {
		idm_backing_complete(io, rc);
		return;
	}
	io->handle = c;
	rc = rbd_start(s, io, c);
	if (rc < 0) {
		rbd_aio_release(c);
		io->handle = NULL;
		idm_backing_complete(io, rbd_status(s, io, rc));
		return;
	}
	if (!io->home) {
		rbd_aio_wait_for_complete(c);
		rbd_finish(io);
	}
}

static void rbd_submit(struct idm_backing *b, struct idm_backing_io *io, struct idm_reactor *r)
{
	if (idm_backing_done_early(b, io)) {
		return;
	}
	io->home = r;
	io->stage = STAGE_MAIN;
	io->result = 0;
	rbd_issue(io);
}

/* ---- allocation status ---- */

struct diff_run {
	uint64_t start, end; /* the first allocated extent found, merged */
	bool found;
};

#define DIFF_STOP 1 /* positive: not an errno, ends the iteration */

static int diff_cb(uint64_t off, size_t len, int exists, void *arg)
{
	struct diff_run *d = arg;

	if (!exists) {
		return d->found ? DIFF_STOP : 0;
	}
	if (!d->found) {
		d->start = off;
		d->end = off + len;
		d->found = true;
		return 0;
	}
	if (off != d->end) {
		return DIFF_STOP;
	}
	d->end += len;
	return 0;
}

/* The window one status looks at: a bounded amount of listing. */
#define LBA_STATUS_WINDOW (1ull << 30)

static int rbd_lba_status(struct idm_backing *b, uint64_t offset, bool *mapped, uint64_t *run)
{
	struct rbd_store *s = (struct rbd_store *)b;
	uint64_t size = __atomic_load_n(&b->size, __ATOMIC_RELAXED);
	uint64_t len = size - offset < LBA_STATUS_WINDOW ? size - offset : LBA_STATUS_WINDOW;
	struct diff_run d = {0};
	int rc;

	rc = rbd_diff_iterate2(s->image, NULL, offset, len, 1, 0, diff_cb, &d);
	if (rc < 0 && rc != -DIFF_STOP) {
		return rc;
	}
	if (!d.found) {
		*mapped = false;
		*run = len;
	} else if (d.start > offset) {
		*mapped = false;
		*run = d.start - offset;
	} else {
		*mapped = true;
		*run = d.end - offset;
	}
	return 0;
}

/* ---- the control thread and the size watch ---- */

static void offload_done_msg(void *arg)
{
	idm_backing_complete(arg, 0);
}

/* Queue work(io) for the control thread; done(io, 0) then runs on r. */
static void rbd_offload(struct idm_backing *b, struct idm_backing_io *io,
                        void (*work)(struct idm_backing_io *io), struct idm_reactor *r)
{
	struct rbd_store *s = (struct rbd_store *)b;
	bool queued = false;

	io->store = b;
	io->home = r;
	if (r) {
		pthread_mutex_lock(&s->lock);
		if (s->job_count < RBD_CTL_JOBS) {
			s->jobs[(s->job_head + s->job_count++) % RBD_CTL_JOBS] =
			    (struct rbd_job){io, work};
			pthread_cond_signal(&s->cond);
			queued = true;
		}
		pthread_mutex_unlock(&s->lock);
	}
	if (!queued) {
		work(io);
		idm_backing_complete(io, 0);
	}
}

/* On the control thread, with the lock held: run one queued job. */
static void ctl_run_job(struct rbd_store *s)
{
	struct rbd_job job = s->jobs[s->job_head];

	s->job_head = (s->job_head + 1) % RBD_CTL_JOBS;
	s->job_count--;
	pthread_mutex_unlock(&s->lock);
	job.work(job.io);
	post_home(job.io, offload_done_msg);
	pthread_mutex_lock(&s->lock);
}

static void *rbd_ctl_main(void *arg)
{
	struct rbd_store *s = arg;
	uint64_t size;

	pthread_mutex_lock(&s->lock);
	while (!s->stopping) {
		if (s->job_count) {
			ctl_run_job(s);
			continue;
		}
		if (!s->resize_pending) {
			pthread_cond_wait(&s->cond, &s->lock);
			continue;
		}
		s->resize_pending = false;
		pthread_mutex_unlock(&s->lock);
		if (rbd_get_size(s->image, &size) == 0) {
			size -= size % s->b.block_size;
			if (size != __atomic_load_n(&s->b.size, __ATOMIC_RELAXED) && size > 0) {
				__atomic_store_n(&s->b.size, size, __ATOMIC_RELAXED);
				fprintf(stderr, "idm: backing '%s': size is now %llu bytes\n",
				        s->b.desc, (unsigned long long)size);
				if (s->b.on_resize) {
					s->b.on_resize(s->b.on_resize_arg, size);
				}
			}
		}
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* librbd's thread: the image header changed (a resize among others).
 * Reading the size here could wait on librbd itself: the control
 * thread does it. */
static void rbd_watch_cb(void *arg)
{
	struct rbd_store *s = arg;

	pthread_mutex_lock(&s->lock);
	s->resize_pending = true;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

static void ctl_stop(struct rbd_store *s)
{
	if (!s->ctl_started) {
		return;
	}
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->ctl, NULL);
	s->ctl_started = false;
}

/* ---- open and close ---- */

static void rbd_teardown(struct rbd_store *s)
{
	if (s->watched) {
		rbd_update_unwatch(s->image, s->watch_handle);
	}
	ctl_stop(s);
	if (s->image) {
		int rc = rbd_close(s->image); /* flushes librbd's cache */

		if (rc < 0) {
			fprintf(stderr, "idm: backing '%s': close failed: %s\n", s->b.desc,
			        strerror(-rc));
		}
	}
	if (s->ioctx) {
		rados_ioctx_destroy(s->ioctx);
	}
	if (s->cluster) {
		rados_shutdown(s->cluster);
	}
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static void rbd_close_store(struct idm_backing *b)
{
	rbd_teardown((struct rbd_store *)b);
}

static const struct idm_backing_ops rbd_ops = {
    .kind = "rbd",
    .submit = rbd_submit,
    .map = NULL,
    .close = rbd_close_store,
    .lba_status = rbd_lba_status,
    .offload = rbd_offload,
};

/* A boolean librados/librbd setting ("true"/"false"). */
static bool conf_flag(rados_t cluster, const char *key, bool dflt)
{
	char v[16];

	if (rados_conf_get(cluster, key, v, sizeof(v)) != 0) {
		return dflt;
	}
	return strcmp(v, "true") == 0 || strcmp(v, "1") == 0;
}

/* Settings we rely on, over whatever the config file says:
 * - partial discards zero the range (otherwise librbd skips them and
 *   unmapped blocks would not read as zeros, as LBPRZ promises);
 * - bounded waits for the monitors and OSDs. */
static const char *const rbd_forced_conf[][2] = {
    {"rbd_skip_partial_discard", "false"},
    {"client_mount_timeout", RBD_MOUNT_TIMEOUT_S},
    {"rados_osd_op_timeout", RBD_OSD_OP_TIMEOUT_S},
};

/* Cluster handle: config file, environment, options. */
static int rbd_connect(struct rbd_store *s, const struct idm_backing_options *o, char *why,
                       size_t whylen)
{
	const char *id = o && o->ceph_id ? o->ceph_id : NULL;
	const char *conf = o && o->ceph_conf ? o->ceph_conf : NULL;
	size_t i;
	int rc;

	rc = rados_create(&s->cluster, id);
	if (rc < 0) {
		s->cluster = NULL;
		snprintf(why, whylen, "cannot create a Ceph client (id '%s'): %s",
		         id ? id : "admin", strerror(-rc));
		return rc;
	}
	rc = rados_conf_read_file(s->cluster, conf);
	if (rc < 0) {
		snprintf(why, whylen, "cannot read the Ceph config %s: %s",
		         conf ? conf : "($CEPH_CONF or /etc/ceph/ceph.conf)", strerror(-rc));
		return rc;
	}
	rados_conf_parse_env(s->cluster, NULL);
	if (o && o->ceph_keyring && (rc = rados_conf_set(s->cluster, "keyring", o->ceph_keyring))) {
		snprintf(why, whylen, "bad keyring '%s': %s", o->ceph_keyring, strerror(-rc));
		return rc;
	}
	for (i = 0; i < sizeof(rbd_forced_conf) / sizeof(rbd_forced_conf[0]); i++) {
		rados_conf_set(s->cluster, rbd_forced_conf[i][0], rbd_forced_conf[i][1]);
	}
	rc = rados_connect(s->cluster);
	if (rc < 0) {
		snprintf(why, whylen,
		         "cannot connect to the Ceph cluster (config %s, client.%s) for image "
		         "'%s': %s",
		         conf ? conf : "default", id ? id : "admin", s->name, strerror(-rc));
		return rc;
	}
	return 0;
}

/* Pool, namespace, image: opened, sized, watched. */
static int rbd_open_image(struct rbd_store *s, const struct idm_rbd_spec *sp, uint32_t bs,
                          char *why, size_t whylen)
{
	rbd_image_info_t info;
	int rc;

	rc = rados_ioctx_create(s->cluster, sp->pool, &s->ioctx);
	if (rc < 0) {
		s->ioctx = NULL;
		snprintf(why, whylen, "cannot open pool '%s' for image '%s': %s", sp->pool, s->name,
		         rc == -ENOENT ? "no such pool" : strerror(-rc));
		return rc;
	}
	rados_ioctx_set_namespace(s->ioctx, sp->ns[0] ? sp->ns : NULL);
	rc = rbd_open(s->ioctx, sp->image, &s->image, NULL);
	if (rc < 0) {
		s->image = NULL;
		snprintf(why, whylen, "cannot open image '%s': %s", s->name,
		         rc == -ENOENT ? "no such image" : strerror(-rc));
		return rc;
	}
	rc = rbd_stat(s->image, &info, sizeof(info));
	if (rc < 0) {
		snprintf(why, whylen, "cannot stat image '%s': %s", s->name, strerror(-rc));
		return rc;
	}
	s->b.size = info.size - info.size % bs;
	s->object_size = info.obj_size;
	if (s->b.size == 0) {
		snprintf(why, whylen, "image '%s' is smaller than one block (%u bytes)", s->name,
		         bs);
		return -EINVAL;
	}
	rc = rbd_update_watch(s->image, &s->watch_handle, rbd_watch_cb, s);
	if (rc < 0) {
		snprintf(why, whylen, "cannot watch image '%s' for size changes: %s", s->name,
		         strerror(-rc));
		return rc;
	}
	s->watched = true;
	return 0;
}

int idm_rbd_open(const char *body, uint32_t block_size, const struct idm_backing_options *opts,
                 struct idm_backing **out, char *why, size_t whylen)
{
	struct idm_rbd_spec sp;
	struct rbd_store *s;
	int rc;

	rc = idm_rbd_parse_spec(body, &sp, why, whylen);
	if (rc) {
		return rc;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	snprintf(s->name, sizeof(s->name), "%s/%s%s%s", sp.pool, sp.ns, sp.ns[0] ? "/" : "",
	         sp.image);
	s->b.ops = &rbd_ops;
	s->b.block_size = block_size;
	s->b.native_ops = 1u << IDM_BACKING_WRITE_SAME | 1u << IDM_BACKING_COMPARE_AND_WRITE;
	snprintf(s->b.desc, sizeof(s->b.desc), "rbd:%s", body);
	rc = rbd_connect(s, opts, why, whylen);
	if (rc == 0) {
		rc = rbd_open_image(s, &sp, block_size, why, whylen);
	}
	if (rc == 0) {
		rc = -pthread_create(&s->ctl, NULL, rbd_ctl_main, s);
		s->ctl_started = rc == 0;
		if (rc) {
			snprintf(why, whylen, "cannot start the control thread: %s", strerror(-rc));
		}
	}
	if (rc) {
		rbd_teardown(s);
		return rc;
	}
	/* WCE tells the truth: without librbd's cache, a completed write is
	 * in the cluster. */
	s->cache = conf_flag(s->cluster, "rbd_cache", true);
	s->b.write_through = !s->cache;
	*out = &s->b;
	return 0;
}
