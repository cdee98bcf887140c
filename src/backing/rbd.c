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
 * An image a gateway group shares (idm_backing_options.shared) is opened
 * without librbd's cache, whatever the Ceph config says: every gateway
 * reads what any of them completed, and WCE is 0.
 *
 * A size change made elsewhere (rbd resize) reaches us through
 * rbd_update_watch; the control thread reads the new size and tells the
 * LU (on_resize).
 *
 * Offline (b.offline): the store cannot reach its image, and every
 * request fails at once with -ESHUTDOWN (NOT READY) while the control
 * thread connects again with a bounded backoff. Two ways in:
 * - a cluster that does not answer at start, when the LU asked for it
 *   (idm_backing_options.start_offline); without that flag the open
 *   fails with one line naming the image and what failed;
 * - this client blocklisted by the cluster (-EBLOCKLISTED): the fenced
 *   client's requests fail, it is torn down once no librbd call of it
 *   is left (inflight), and a new client instance (a new address)
 *   opens the image again. A blocklist of the instance does not stop
 *   the new one; one of the whole address (IP) keeps the open failing
 *   until it expires or is removed. Writes librbd held in its cache
 *   (WCE=1, not yet flushed) are lost with the fenced client, as its
 *   fencing intends.
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
#include "backing/rbd_priv.h"

/* Seconds librados waits for the monitors at start, and for an OSD
 * operation before it fails the request (the SCSI layer then reports
 * NOT READY): an OSD that stays down must not hang commands forever. */
#define RBD_MOUNT_TIMEOUT_S "10"
#define RBD_OSD_OP_TIMEOUT_S "30"

/* Offline: the first retry after 1 s, doubling to at most 30 s. */
#define RBD_RETRY_FIRST_MS 1000u
#define RBD_RETRY_MAX_MS 30000u

enum rbd_stage {
	STAGE_MAIN = 0,  /* the request's own librbd call */
	STAGE_FUA_FLUSH, /* a FUA write's flush */
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

/* Any thread: go offline (once) and have the control thread connect
 * again. */
static void go_offline(struct rbd_store *s)
{
	if (__atomic_exchange_n(&s->b.offline, true, __ATOMIC_SEQ_CST)) {
		return;
	}
	pthread_mutex_lock(&s->lock);
	s->reconnect_pending = true;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

/* librbd's status of one call, as 0 or -errno for `done`. */
static int rbd_status(struct rbd_store *s, struct idm_backing_io *io, long ret)
{
	if (ret >= 0) {
		return 0;
	}
	if (ret == -EBLOCKLISTED || ret == -ESHUTDOWN) {
		if (!__atomic_load_n(&s->b.offline, __ATOMIC_RELAXED)) {
			fprintf(stderr,
			        "idm: backing '%s': this client was blocklisted by the Ceph "
			        "cluster; the LU reports NOT READY until a new client has opened "
			        "the image again\n",
			        s->b.desc);
		}
		go_offline(s);
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
	__atomic_sub_fetch(&s->inflight, 1, __ATOMIC_RELEASE);
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

/* Count a librbd call on the image, unless the store is offline (then
 * the image may be closing). The control thread sets offline first and
 * then waits for inflight to drain: with both sides sequentially
 * consistent, either it sees this call or this call sees offline. */
static bool image_enter(struct rbd_store *s)
{
	if (__atomic_load_n(&s->b.offline, __ATOMIC_ACQUIRE)) {
		return false;
	}
	__atomic_add_fetch(&s->inflight, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&s->b.offline, __ATOMIC_SEQ_CST)) {
		__atomic_sub_fetch(&s->inflight, 1, __ATOMIC_RELEASE);
		return false;
	}
	return true;
}

bool idm_rbd_image_enter(struct rbd_store *s)
{
	return image_enter(s);
}

void idm_rbd_image_leave(struct rbd_store *s)
{
	__atomic_sub_fetch(&s->inflight, 1, __ATOMIC_RELEASE);
}

void idm_rbd_check_fenced(struct rbd_store *s, int rc)
{
	if (rc == -EBLOCKLISTED || rc == -ESHUTDOWN) {
		go_offline(s);
	}
}

/* Issue io's current stage. Without a home reactor, wait for it here
 * (only the shutdown flush, the control thread's jobs and tests). */
static void rbd_issue(struct idm_backing_io *io)
{
	struct rbd_store *s = io_rbd(io);
	rbd_completion_t c;
	int rc;

	if (!image_enter(s)) {
		idm_backing_complete(io, -ESHUTDOWN);
		return;
	}
	rc = rbd_aio_create_completion(io, rbd_aio_cb, &c);
	if (rc < 0) {
		__atomic_sub_fetch(&s->inflight, 1, __ATOMIC_RELEASE);
		idm_backing_complete(io, rc);
		return;
	}
	io->handle = c;
	rc = rbd_start(s, io, c);
	if (rc < 0) {
		rbd_aio_release(c);
		io->handle = NULL;
		__atomic_sub_fetch(&s->inflight, 1, __ATOMIC_RELEASE);
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

	if (!image_enter(s)) {
		return -ESHUTDOWN;
	}
	rc = rbd_diff_iterate2(s->image, NULL, offset, len, 1, 0, diff_cb, &d);
	__atomic_sub_fetch(&s->inflight, 1, __ATOMIC_RELEASE);
	if (rc == -EBLOCKLISTED || rc == -ESHUTDOWN) {
		go_offline(s);
		return -ESHUTDOWN;
	}
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

/* ---- the control thread ---- */

static void offload_done_msg(void *arg)
{
	idm_backing_complete(arg, 0);
}

/* Queue work(io) for the control thread; done(io, 0) then runs on r.
 * Without a reactor, inline. */
static void rbd_offload(struct idm_backing *b, struct idm_backing_io *io,
                        void (*work)(struct idm_backing_io *io), struct idm_reactor *r)
{
	struct rbd_store *s = (struct rbd_store *)b;

	io->store = b;
	io->home = r;
	if (!r) {
		work(io);
		idm_backing_complete(io, 0);
		return;
	}
	/* The work rides in `result`, the link in `handle`: both are the
	 * store's and unused until the job runs. */
	io->result = (uint64_t)(uintptr_t)work;
	io->handle = NULL;
	pthread_mutex_lock(&s->lock);
	if (s->job_tail) {
		s->job_tail->handle = io;
	} else {
		s->job_head = io;
	}
	s->job_tail = io;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

/* On the control thread, with the lock held: run the first queued job. */
static void ctl_run_job(struct rbd_store *s)
{
	struct idm_backing_io *io = s->job_head;
	void (*work)(struct idm_backing_io * io) =
	    (void (*)(struct idm_backing_io *))(uintptr_t)io->result;

	s->job_head = io->handle;
	if (!s->job_head) {
		s->job_tail = NULL;
	}
	io->handle = NULL;
	pthread_mutex_unlock(&s->lock);
	work(io);
	post_home(io, offload_done_msg);
	pthread_mutex_lock(&s->lock);
}

/* The control thread, lock not held: read the size again (a watch
 * fired, or the image was opened again) and tell the LU of a change. */
static void ctl_read_size(struct rbd_store *s)
{
	void (*on_resize)(void *arg, uint64_t new_size);
	uint64_t size;

	if (rbd_get_size(s->image, &size) != 0) {
		return;
	}
	size -= size % s->b.block_size;
	if (size == __atomic_load_n(&s->b.size, __ATOMIC_SEQ_CST) || size == 0) {
		return;
	}
	__atomic_store_n(&s->b.size, size, __ATOMIC_SEQ_CST);
	fprintf(stderr, "idm: backing '%s': size is now %llu bytes\n", s->b.desc,
	        (unsigned long long)size);
	on_resize = __atomic_load_n(&s->b.on_resize, __ATOMIC_SEQ_CST);
	if (on_resize) {
		on_resize(s->b.on_resize_arg, size);
	}
}

static int rbd_connect(struct rbd_store *s, char *why, size_t whylen);
static int rbd_open_image(struct rbd_store *s, char *why, size_t whylen);
static void rbd_close_cluster(struct rbd_store *s);

/* The control thread, lock not held, offline: drop the old client once
 * no call of it is left, then try once to connect and open the image.
 * On success the store is online again; else the next try is later. */
static void ctl_reconnect(struct rbd_store *s)
{
	char why[512] = "";
	struct timespec pause = {0, 10 * 1000000};
	int rc;

	while (__atomic_load_n(&s->inflight, __ATOMIC_SEQ_CST)) {
		if (__atomic_load_n(&s->stopping, __ATOMIC_RELAXED)) {
			return; /* idmd stops: its reactors may not finish them */
		}
		nanosleep(&pause, NULL); /* a fenced client's calls fail soon */
	}
	rbd_close_cluster(s);
	rc = rbd_connect(s, why, sizeof(why));
	if (rc == 0) {
		rc = rbd_open_image(s, why, sizeof(why));
	}
	if (rc) {
		if (s->retry_ms == RBD_RETRY_FIRST_MS) {
			fprintf(stderr, "idm: backing '%s': still offline: %s (trying again)\n",
			        s->b.desc, why);
		}
		rbd_close_cluster(s);
		s->retry_at_ms = idm_now_ms() + s->retry_ms;
		s->retry_ms =
		    s->retry_ms * 2 > RBD_RETRY_MAX_MS ? RBD_RETRY_MAX_MS : s->retry_ms * 2;
		return;
	}
	s->retry_ms = RBD_RETRY_FIRST_MS;
	ctl_read_size(s);
	idm_rbd_cluster_reopened(s);
	pthread_mutex_lock(&s->lock);
	s->reconnect_pending = false;
	pthread_mutex_unlock(&s->lock);
	__atomic_store_n(&s->b.offline, false, __ATOMIC_SEQ_CST);
	fprintf(stderr, "idm: backing '%s': online (%llu bytes)\n", s->b.desc,
	        (unsigned long long)__atomic_load_n(&s->b.size, __ATOMIC_RELAXED));
}

/* With the lock held: wait for work, at most until the next retry. */
static void ctl_wait(struct rbd_store *s)
{
	struct timespec until;
	uint64_t now = idm_now_ms();
	uint64_t at = s->reconnect_pending ? s->retry_at_ms : UINT64_MAX;
	uint64_t cluster_at = s->cl ? idm_rbd_cluster_due_ms(s) : UINT64_MAX;

	at = cluster_at < at ? cluster_at : at;
	if (at == UINT64_MAX) {
		pthread_cond_wait(&s->cond, &s->lock);
		return;
	}
	if (at <= now) {
		return;
	}
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (time_t)((at - now) / 1000);
	until.tv_nsec += (long)((at - now) % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_cond_timedwait(&s->cond, &s->lock, &until);
}

static void *rbd_ctl_main(void *arg)
{
	struct rbd_store *s = arg;

	pthread_mutex_lock(&s->lock);
	while (!s->stopping) {
		if (s->job_head) {
			ctl_run_job(s); /* offline: the job's calls fail at once */
			continue;
		}
		if (s->reconnect_pending && s->retry_at_ms <= idm_now_ms()) {
			s->resize_pending = false; /* reading the size is part of it */
			pthread_mutex_unlock(&s->lock);
			ctl_reconnect(s);
			pthread_mutex_lock(&s->lock);
			continue;
		}
		if (s->resize_pending && !s->reconnect_pending) {
			s->resize_pending = false;
			pthread_mutex_unlock(&s->lock);
			ctl_read_size(s);
			pthread_mutex_lock(&s->lock);
			continue;
		}
		if (s->cl && idm_rbd_cluster_due_ms(s) <= idm_now_ms()) {
			pthread_mutex_unlock(&s->lock);
			idm_rbd_cluster_work(s); /* the gateway group's */
			pthread_mutex_lock(&s->lock);
			continue;
		}
		ctl_wait(s);
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
	__atomic_store_n(&s->stopping, true, __ATOMIC_RELAXED);
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->ctl, NULL);
	s->ctl_started = false;
}

/* ---- open and close ---- */

/* Close the image and drop the client (any part that is open). */
static void rbd_close_cluster(struct rbd_store *s)
{
	idm_rbd_cluster_detach(s);
	if (s->watched) {
		rbd_update_unwatch(s->image, s->watch_handle);
		s->watched = false;
	}
	if (s->image) {
		int rc = rbd_close(s->image); /* flushes librbd's cache */

		if (rc < 0 && !__atomic_load_n(&s->b.offline, __ATOMIC_RELAXED)) {
			fprintf(stderr, "idm: backing '%s': close failed: %s\n", s->b.desc,
			        strerror(-rc));
		}
		s->image = NULL;
	}
	if (s->ioctx) {
		rados_ioctx_destroy(s->ioctx);
		s->ioctx = NULL;
	}
	if (s->cluster) {
		rados_shutdown(s->cluster);
		s->cluster = NULL;
	}
}

static void rbd_teardown(struct rbd_store *s)
{
	ctl_stop(s); /* first: it may be opening the image again */
	rbd_close_cluster(s);
	idm_rbd_cluster_free(s);
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
static int rbd_connect(struct rbd_store *s, char *why, size_t whylen)
{
	const char *id = s->id[0] ? s->id : NULL;
	const char *conf = s->conf[0] ? s->conf : NULL;
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
	if (s->keyring[0] && (rc = rados_conf_set(s->cluster, "keyring", s->keyring))) {
		snprintf(why, whylen, "bad keyring '%s': %s", s->keyring, strerror(-rc));
		return rc;
	}
	for (i = 0; i < sizeof(rbd_forced_conf) / sizeof(rbd_forced_conf[0]); i++) {
		rados_conf_set(s->cluster, rbd_forced_conf[i][0], rbd_forced_conf[i][1]);
	}
	/* Each gateway's librbd would cache for itself: its write-back or
	 * write-around cache completes a write before the OSDs have it, and
	 * its read cache keeps blocks another gateway has written since. */
	if (s->shared && (rc = rados_conf_set(s->cluster, "rbd_cache", "false")) < 0) {
		snprintf(why, whylen, "cannot turn librbd's cache off for image '%s', which a "
		         "gateway group shares: %s", s->name, strerror(-rc));
		return rc;
	}
	/* WCE tells the truth: without librbd's cache, a completed write is
	 * in the cluster. */
	s->cache = conf_flag(s->cluster, "rbd_cache", true);
	s->b.write_through = !s->cache;
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

/* The image id: the medium's identity across gateways. Opened again,
 * an image of the same name and another id is another image (removed
 * and created again): refused. Written once, its first byte last, so
 * other threads read it without a lock once that byte is set. */
static int keep_image_id(struct rbd_store *s, char *why, size_t whylen)
{
	char id[sizeof(s->image_id)];
	int rc = rbd_get_id(s->image, id, sizeof(id));

	if (rc < 0) {
		snprintf(why, whylen, "cannot read the id of image '%s': %s", s->name,
		         strerror(-rc));
		return rc;
	}
	if (__atomic_load_n(&s->image_id[0], __ATOMIC_ACQUIRE)) {
		if (strcmp(id, s->image_id) != 0) {
			snprintf(why, whylen, "image '%s' is another image now (id %s, was %s)",
			         s->name, id, s->image_id);
			return -ESTALE;
		}
		return 0;
	}
	memcpy(s->image_id + 1, id + 1, sizeof(id) - 1);
	__atomic_store_n(&s->image_id[0], id[0], __ATOMIC_RELEASE);
	return 0;
}

/* Pool, namespace, image: opened, sized, watched. */
static int rbd_open_image(struct rbd_store *s, char *why, size_t whylen)
{
	const struct idm_rbd_spec *sp = &s->spec;
	uint32_t bs = s->b.block_size;
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
	rc = keep_image_id(s, why, whylen);
	if (rc < 0) {
		return rc;
	}
	rc = rbd_stat(s->image, &info, sizeof(info));
	if (rc < 0) {
		snprintf(why, whylen, "cannot stat image '%s': %s", s->name, strerror(-rc));
		return rc;
	}
	if (info.size - info.size % bs == 0) {
		snprintf(why, whylen, "image '%s' is smaller than one block (%u bytes)", s->name,
		         bs);
		return -EINVAL;
	}
	s->object_size = info.obj_size;
	rc = rbd_update_watch(s->image, &s->watch_handle, rbd_watch_cb, s);
	if (rc < 0) {
		snprintf(why, whylen, "cannot watch image '%s' for size changes: %s", s->name,
		         strerror(-rc));
		return rc;
	}
	s->watched = true;
	if (__atomic_load_n(&s->b.size, __ATOMIC_RELAXED) == 0) {
		s->b.size = info.size - info.size % bs; /* the first open */
	}
	return 0;
}

/* A failure that says the cluster did not answer (rather than that it
 * answered no: a missing pool or image, a refused key). */
static bool cluster_unreachable(int rc)
{
	return rc == -ETIMEDOUT || rc == -ENOTCONN || rc == -ECONNREFUSED || rc == -EHOSTUNREACH ||
	       rc == -ENETUNREACH || rc == -ESHUTDOWN || rc == -EAGAIN || rc == -EINTR;
}

/* Copy what connecting again needs. */
static int rbd_keep_options(struct rbd_store *s, const struct idm_backing_options *o, char *why,
                            size_t whylen)
{
	const char *src[3] = {o ? o->ceph_conf : NULL, o ? o->ceph_id : NULL,
	                      o ? o->ceph_keyring : NULL};
	char *dst[3] = {s->conf, s->id, s->keyring};
	const size_t cap[3] = {sizeof(s->conf), sizeof(s->id), sizeof(s->keyring)};
	static const char *const what[3] = {"ceph_conf", "ceph_id", "ceph_keyring"};

	for (int i = 0; i < 3; i++) {
		if (src[i] && strlen(src[i]) >= cap[i]) {
			snprintf(why, whylen, "%s is too long", what[i]);
			return -ENAMETOOLONG;
		}
		snprintf(dst[i], cap[i], "%s", src[i] ? src[i] : "");
	}
	s->shared = o && o->shared;
	return 0;
}

/* The cluster did not answer and the LU asked to start offline: one
 * block stands in for the size until the image is opened. */
static void start_offline(struct rbd_store *s, const char *why)
{
	fprintf(stderr,
	        "idm: backing '%s': %s; starting offline (NOT READY), connecting again in "
	        "the background\n",
	        s->b.desc, why);
	rbd_close_cluster(s);
	s->b.offline = true;
	s->b.size = s->b.block_size;
	s->reconnect_pending = true;
	s->retry_ms = RBD_RETRY_FIRST_MS;
	s->retry_at_ms = idm_now_ms() + s->retry_ms;
}

int idm_rbd_open(const char *body, uint32_t block_size, const struct idm_backing_options *opts,
                 struct idm_backing **out, char *why, size_t whylen)
{
	struct rbd_store *s;
	int rc;

	s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	rc = idm_rbd_parse_spec(body, &s->spec, why, whylen);
	if (rc == 0) {
		rc = rbd_keep_options(s, opts, why, whylen);
	}
	if (rc) {
		free(s);
		return rc;
	}
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	snprintf(s->name, sizeof(s->name), "%s/%s%s%s", s->spec.pool, s->spec.ns,
	         s->spec.ns[0] ? "/" : "", s->spec.image);
	s->b.ops = &rbd_ops;
	s->b.cluster = &idm_rbd_cluster_ops;
	s->b.block_size = block_size;
	s->b.native_ops = 1u << IDM_BACKING_WRITE_SAME | 1u << IDM_BACKING_COMPARE_AND_WRITE;
	s->retry_ms = RBD_RETRY_FIRST_MS;
	snprintf(s->b.desc, sizeof(s->b.desc), "rbd:%s", body);
	rc = rbd_connect(s, why, whylen);
	if (rc == 0) {
		rc = rbd_open_image(s, why, whylen);
	}
	if (rc && s->cluster && opts && opts->start_offline && cluster_unreachable(rc)) {
		start_offline(s, why);
		rc = 0;
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
	*out = &s->b;
	return 0;
}
