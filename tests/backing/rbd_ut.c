/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The rbd store over a fake of librados/librbd (rbd_fake.c): how each
 * request maps onto librbd's calls, that completions come back to the
 * submitting reactor's thread, the open errors, allocation status and a
 * size change seen through the watch.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "backing/rbd_spec.h"
#include "idm/backing.h"
#include "idm/reactor.h"
#include "idm/scsi.h"
#include "rbd_fake.h"

#define BS 512u
#define IMAGE_BYTES (16u << 20)

struct req {
	struct idm_backing_io io;
	int status;
	int calls;
	pthread_t thread; /* where done ran */
};

static void req_done(struct idm_backing_io *io, int status)
{
	struct req *q = (struct req *)io;

	q->status = status;
	q->calls++;
	q->thread = pthread_self();
}

struct env {
	struct idm_reactor *r;
	struct idm_backing *b;
	uint8_t *buf;
};

static struct idm_backing *open_store(const char *spec, const struct idm_backing_options *o,
                                      char *err, size_t errlen, int *rc)
{
	struct idm_backing *b = NULL;

	*rc = idm_backing_open_opts(spec, BS, o, &b, err, errlen);
	return b;
}

/* Wait up to 5 s for *flag to become `want`. */
static bool wait_flag(bool *flag, bool want)
{
	uint64_t end = idm_now_ms() + 5000;

	while (__atomic_load_n(flag, __ATOMIC_SEQ_CST) != want && idm_now_ms() < end) {
		usleep(1000);
	}
	return __atomic_load_n(flag, __ATOMIC_SEQ_CST) == want;
}

/* Every completion given back (the fake's threads may still be
 * finishing a callback), before the fake is reset for the next test. */
static void wait_completions_released(void)
{
	uint64_t end = idm_now_ms() + 2000;

	while (__atomic_load_n(&fake_rbd.completions_live, __ATOMIC_SEQ_CST) &&
	       idm_now_ms() < end) {
		usleep(1000);
	}
	assert_int_equal(fake_rbd.completions_live, 0);
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	char err[512] = "";
	int rc;

	fake_rbd_reset(IMAGE_BYTES + 100); /* not a whole number of blocks */
	e->r = idm_reactor_create(0);
	e->buf = malloc(2 * 1024 * 1024);
	e->b = open_store("rbd:pool/img", NULL, err, sizeof(err), &rc);
	assert_int_equal(rc, 0);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	idm_backing_close(e->b);
	wait_completions_released();
	assert_false(fake_rbd.open);
	idm_reactor_destroy(e->r);
	free(e->buf);
	free(e);
	fake_rbd_free();
	return 0;
}

/* Run one request through the reactor; it must complete on this thread
 * (the reactor's), never on the fake librbd's. */
static int run(struct env *e, enum idm_backing_op op, uint64_t off, uint32_t len, uint8_t *buf,
               bool fua, uint32_t *moved)
{
	struct req q = {
	    .io = {.op = op, .offset = off, .len = len, .buf = buf, .fua = fua, .done = req_done}};
	uint64_t end = idm_now_ms() + 5000;

	idm_backing_submit(e->b, &q.io, e->r);
	while (q.calls == 0 && idm_now_ms() < end) {
		assert_true(idm_reactor_poll(e->r, 50) >= 0);
	}
	assert_int_equal(q.calls, 1);
	assert_true(pthread_equal(q.thread, pthread_self()));
	if (moved) {
		*moved = q.io.moved;
	}
	return q.status;
}

static void test_spec(void **state)
{
	struct idm_rbd_spec s;
	char why[256];
	char longname[200];

	assert_int_equal(idm_rbd_parse_spec("rbd/disk1", &s, why, sizeof(why)), 0);
	assert_string_equal(s.pool, "rbd");
	assert_string_equal(s.ns, "");
	assert_string_equal(s.image, "disk1");
	assert_int_equal(idm_rbd_parse_spec("p/ns1/i", &s, why, sizeof(why)), 0);
	assert_string_equal(s.pool, "p");
	assert_string_equal(s.ns, "ns1");
	assert_string_equal(s.image, "i");
	assert_int_equal(idm_rbd_parse_spec("disk", &s, why, sizeof(why)), -EINVAL);
	assert_int_equal(idm_rbd_parse_spec("/disk", &s, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "pool"));
	assert_int_equal(idm_rbd_parse_spec("p/", &s, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "image"));
	assert_int_equal(idm_rbd_parse_spec("p//i", &s, why, sizeof(why)), -EINVAL);
	assert_int_equal(idm_rbd_parse_spec("a/b/c/d", &s, why, sizeof(why)), -EINVAL);
	assert_int_equal(idm_rbd_parse_spec("p/i@snap", &s, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "snapshot"));
	assert_int_equal(idm_rbd_parse_spec("p/i x", &s, why, sizeof(why)), -EINVAL);
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	longname[0] = 'p';
	longname[1] = '/';
	assert_int_equal(idm_rbd_parse_spec(longname, &s, why, sizeof(why)), -ENAMETOOLONG);
}

/* A cluster that does not answer, a missing pool or image: one line
 * naming the image and what failed, and nothing left open. */
static void test_open_errors(void **state)
{
	const struct idm_backing_options bad_conf = {.ceph_conf = "/nonexistent.conf"};
	char err[512];
	int rc;

	fake_rbd_reset(IMAGE_BYTES);
	fake_rbd.connect_rc = -ETIMEDOUT;
	assert_null(open_store("rbd:pool/ns/img", NULL, err, sizeof(err), &rc));
	assert_int_equal(rc, -ETIMEDOUT);
	assert_non_null(strstr(err, "rbd:pool/ns/img"));
	assert_non_null(strstr(err, "cannot connect"));
	assert_non_null(strstr(err, "timed out"));
	assert_false(fake_rbd.cluster_up);

	fake_rbd.connect_rc = 0;
	fake_rbd.ioctx_rc = -ENOENT;
	assert_null(open_store("rbd:pool/img", NULL, err, sizeof(err), &rc));
	assert_non_null(strstr(err, "no such pool"));

	fake_rbd.ioctx_rc = 0;
	fake_rbd.open_rc = -ENOENT;
	assert_null(open_store("rbd:pool/img", NULL, err, sizeof(err), &rc));
	assert_non_null(strstr(err, "no such image"));
	assert_non_null(strstr(err, "pool/img"));

	fake_rbd.open_rc = 0;
	assert_null(open_store("rbd:pool/img", &bad_conf, err, sizeof(err), &rc));
	assert_non_null(strstr(err, "/nonexistent.conf"));

	fake_rbd_reset(100); /* smaller than a block */
	assert_null(open_store("rbd:pool/img", NULL, err, sizeof(err), &rc));
	assert_int_equal(rc, -EINVAL);
	assert_false(fake_rbd.open);
	fake_rbd_free();
}

/* Options reach librados; the store tells its size, native ops and
 * whether writes are cached; partial discards are made to zero. */
static void test_open_options(void **state)
{
	const struct idm_backing_options o = {.ceph_id = "idm", .ceph_keyring = "/k/idm.keyring"};
	struct idm_backing *b;
	char err[512];
	int rc;

	fake_rbd_reset(IMAGE_BYTES + 100);
	fake_rbd.cache = false;
	b = open_store("rbd:pool/img", &o, err, sizeof(err), &rc);
	assert_int_equal(rc, 0);
	assert_string_equal(fake_rbd.client_id, "idm");
	assert_string_equal(fake_rbd.keyring, "/k/idm.keyring");
	assert_true(fake_rbd.skip_partial_discard_off);
	assert_int_equal(b->size, IMAGE_BYTES);
	assert_true(b->write_through);
	assert_true(idm_backing_has_op(b, IDM_BACKING_WRITE_SAME));
	assert_true(idm_backing_has_op(b, IDM_BACKING_COMPARE_AND_WRITE));
	assert_string_equal(b->desc, "rbd:pool/img");
	/* shared by gateways: the medium is the image id */
	assert_non_null(b->cluster);
	assert_string_equal(b->cluster->medium_id(b), "fake1d");
	idm_backing_close(b);
	assert_false(fake_rbd.open);
	fake_rbd_free();
}

struct resize_seen {
	uint64_t size;
	int calls;
};

static void on_resize(void *arg, uint64_t size)
{
	struct resize_seen *r = arg;

	__atomic_store_n(&r->size, size, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&r->calls, 1, __ATOMIC_SEQ_CST);
}

/* start_offline: a cluster that does not answer leaves the store open
 * but offline (one block for a size, requests failing with NOT READY's
 * errno) until the control thread gets through; then the LU hears of
 * the real size. A cluster that answers no still fails the open. */
static void test_start_offline(void **state)
{
	const struct idm_backing_options o = {.start_offline = true};
	struct resize_seen seen = {0};
	struct req q = {.io = {.op = IDM_BACKING_READ, .len = BS, .done = req_done}};
	struct idm_backing *b;
	uint8_t buf[BS];
	char err[512];
	int rc;

	fake_rbd_reset(IMAGE_BYTES);
	fake_rbd.connect_rc = -EACCES;
	assert_null(open_store("rbd:pool/img", &o, err, sizeof(err), &rc));
	assert_int_equal(rc, -EACCES);

	fake_rbd.connect_rc = -ETIMEDOUT;
	b = open_store("rbd:pool/img", &o, err, sizeof(err), &rc);
	assert_int_equal(rc, 0);
	assert_true(__atomic_load_n(&b->offline, __ATOMIC_SEQ_CST));
	assert_int_equal(b->size, BS);
	assert_null(b->cluster->medium_id(b)); /* never opened: not known */
	b->on_resize_arg = &seen;
	__atomic_store_n(&b->on_resize, on_resize, __ATOMIC_SEQ_CST);
	q.io.buf = buf;
	idm_backing_submit(b, &q.io, NULL);
	assert_int_equal(q.status, -ESHUTDOWN);
	assert_int_equal(fake_rbd.calls[FC_READ], 0);

	__atomic_store_n(&fake_rbd.connect_rc, 0, __ATOMIC_SEQ_CST);
	assert_true(wait_flag(&b->offline, false));
	assert_int_equal(__atomic_load_n(&seen.calls, __ATOMIC_SEQ_CST), 1);
	assert_int_equal(seen.size, IMAGE_BYTES);
	assert_int_equal(b->size, IMAGE_BYTES);
	assert_string_equal(b->cluster->medium_id(b), "fake1d");
	idm_backing_submit(b, &q.io, NULL);
	assert_int_equal(q.status, 0);
	idm_backing_close(b);
	assert_false(fake_rbd.open);
	wait_completions_released();
	fake_rbd_free();
}

/* Data straight from and into the caller's buffer; done on the reactor. */
static void test_read_write(void **state)
{
	struct env *e = *state;
	uint8_t *back = e->buf + 1024 * 1024;
	uint32_t moved = 0;

	assert_false(e->b->write_through);
	memset(e->buf, 0xa5, 64 * 1024);
	assert_int_equal(run(e, IDM_BACKING_WRITE, 8192, 64 * 1024, e->buf, false, &moved), 0);
	assert_int_equal(moved, 64 * 1024);
	assert_ptr_equal(fake_rbd.last_buf, e->buf);
	assert_int_equal(fake_rbd.last_off, 8192);
	assert_int_equal(fake_rbd.calls[FC_FLUSH], 0);
	assert_int_equal(run(e, IDM_BACKING_READ, 8192, 64 * 1024, back, false, NULL), 0);
	assert_ptr_equal(fake_rbd.last_buf, back);
	assert_memory_equal(back, e->buf, 64 * 1024);
	/* Beyond the end: refused before librbd sees it. */
	assert_int_equal(run(e, IDM_BACKING_READ, IMAGE_BYTES - 512, 1024, back, false, NULL),
	                 -ERANGE);
	assert_int_equal(fake_rbd.calls[FC_READ], 1);
}

/* FUA with librbd's cache on: the write, then a flush, then done. */
static void test_fua_flushes_cache(void **state)
{
	struct env *e = *state;

	assert_int_equal(run(e, IDM_BACKING_WRITE, 0, 4096, e->buf, true, NULL), 0);
	assert_int_equal(fake_rbd.calls[FC_WRITE], 1);
	assert_int_equal(fake_rbd.calls[FC_FLUSH], 1);
	assert_int_equal(run(e, IDM_BACKING_FLUSH, 0, 0, NULL, false, NULL), 0);
	assert_int_equal(fake_rbd.calls[FC_FLUSH], 2);
}

/* Without the cache every completed write is in the cluster already. */
static void test_fua_write_through(void **state)
{
	struct env *e = *state;
	char err[512];
	int rc;

	idm_backing_close(e->b);
	fake_rbd.cache = false;
	e->b = open_store("rbd:pool/img", NULL, err, sizeof(err), &rc);
	assert_int_equal(rc, 0);
	assert_true(e->b->write_through);
	assert_int_equal(run(e, IDM_BACKING_WRITE, 0, 4096, e->buf, true, NULL), 0);
	assert_int_equal(fake_rbd.calls[FC_FLUSH], 0);
}

/* A gateway group's store: librbd's cache goes off although the Ceph
 * config turns it on (the fake's default), so a completed write is in
 * the cluster for the other gateways' reads, and FUA needs no flush. */
static void test_shared_no_cache(void **state)
{
	const struct idm_backing_options shared = {.shared = true};
	struct env *e = *state;
	char err[512];
	int rc;

	assert_false(e->b->write_through); /* not shared: the config's cache */
	assert_false(fake_rbd.cache_set);
	idm_backing_close(e->b);
	e->b = open_store("rbd:pool/img", &shared, err, sizeof(err), &rc);
	assert_int_equal(rc, 0);
	assert_true(fake_rbd.cache_set);
	assert_false(fake_rbd.cache);
	assert_true(e->b->write_through);
	assert_int_equal(run(e, IDM_BACKING_WRITE, 0, 4096, e->buf, true, NULL), 0);
	assert_int_equal(fake_rbd.calls[FC_FLUSH], 0);
}

static void test_unmap_zeroes_writesame(void **state)
{
	struct env *e = *state;
	uint8_t *back = e->buf + 1024 * 1024;
	uint32_t i;

	memset(e->buf, 0x11, 16 * BS);
	assert_int_equal(run(e, IDM_BACKING_WRITE, 0, 16 * BS, e->buf, false, NULL), 0);
	assert_int_equal(run(e, IDM_BACKING_UNMAP, BS, BS, NULL, false, NULL), 0);
	assert_int_equal(fake_rbd.calls[FC_DISCARD], 1);
	assert_int_equal(run(e, IDM_BACKING_WRITE_ZEROES, 3 * BS, BS, NULL, false, NULL), 0);
	assert_int_equal(fake_rbd.calls[FC_WRITE_ZEROES], 1);
	for (i = 0; i < BS; i++) {
		e->buf[i] = (uint8_t)i;
	}
	assert_int_equal(run(e, IDM_BACKING_WRITE_SAME, 8 * BS, 8 * BS, e->buf, false, NULL), 0);
	assert_int_equal(fake_rbd.calls[FC_WRITESAME], 1);
	assert_ptr_equal(fake_rbd.last_buf, e->buf);
	assert_int_equal(fake_rbd.last_data_len, BS);
	assert_int_equal(fake_rbd.last_len, 8 * BS);
	assert_int_equal(run(e, IDM_BACKING_READ, 0, 16 * BS, back, false, NULL), 0);
	assert_int_equal(back[0], 0x11);
	assert_int_equal(back[BS], 0);
	assert_int_equal(back[3 * BS + 7], 0);
	assert_memory_equal(back + 15 * BS, e->buf, BS);
	/* Not a whole number of blocks: refused. */
	assert_int_equal(run(e, IDM_BACKING_WRITE_SAME, 0, BS + 1, e->buf, false, NULL), -EINVAL);
}

/* COMPARE AND WRITE: both halves straight from the buffer; a mismatch
 * reports its offset from the request's start; a range across two
 * objects is handed back for emulation. */
static void test_compare_and_write(void **state)
{
	struct env *e = *state;
	uint64_t obj = fake_rbd.obj_size;
	uint32_t moved = 0;

	memset(e->buf, 0, 2 * BS);
	memset(e->buf + 2 * BS, 0x77, 2 * BS);
	assert_int_equal(
	    run(e, IDM_BACKING_COMPARE_AND_WRITE, obj + BS, 2 * BS, e->buf, false, NULL), 0);
	assert_ptr_equal(fake_rbd.last_buf, e->buf);
	assert_int_equal(fake_rbd.mem[obj + BS], 0x77);
	/* Again with the old data: differs at once, nothing written. */
	e->buf[2 * BS] = 0x78;
	assert_int_equal(
	    run(e, IDM_BACKING_COMPARE_AND_WRITE, obj + BS, 2 * BS, e->buf, false, &moved),
	    -EILSEQ);
	assert_int_equal(moved, 0);
	assert_int_equal(fake_rbd.mem[obj + BS], 0x77);
	/* Matching but for byte BS + 5. */
	memset(e->buf, 0x77, 2 * BS);
	e->buf[BS + 5] = 0;
	assert_int_equal(
	    run(e, IDM_BACKING_COMPARE_AND_WRITE, obj + BS, 2 * BS, e->buf, false, &moved),
	    -EILSEQ);
	assert_int_equal(moved, BS + 5);
	assert_int_equal(
	    run(e, IDM_BACKING_COMPARE_AND_WRITE, obj - BS, 2 * BS, e->buf, false, NULL),
	    -EOPNOTSUPP);
}

/* Blocklisted: that request fails with NOT READY's errno and the store
 * goes offline: later requests fail without reaching librbd, while the
 * control thread opens the image again with a new client instance,
 * trying again (after a backoff) while the open is refused too. */
static void test_blocklisted(void **state)
{
	struct env *e = *state;
	unsigned clients = fake_rbd.clients;
	uint64_t end = idm_now_ms() + 5000;

	__atomic_store_n(&fake_rbd.open_rc, -ESHUTDOWN, __ATOMIC_SEQ_CST); /* still fenced */
	fake_rbd.aio_rc = -ESHUTDOWN;
	assert_int_equal(run(e, IDM_BACKING_WRITE, 0, BS, e->buf, false, NULL), -ESHUTDOWN);
	fake_rbd.aio_rc = 0;
	assert_true(__atomic_load_n(&e->b->offline, __ATOMIC_SEQ_CST));
	assert_int_equal(run(e, IDM_BACKING_READ, 0, BS, e->buf, false, NULL), -ESHUTDOWN);
	assert_int_equal(fake_rbd.calls[FC_READ], 0);
	while (__atomic_load_n(&fake_rbd.clients, __ATOMIC_SEQ_CST) == clients &&
	       idm_now_ms() < end) {
		usleep(1000);
	}
	assert_true(__atomic_load_n(&e->b->offline, __ATOMIC_SEQ_CST)); /* refused */
	__atomic_store_n(&fake_rbd.open_rc, 0, __ATOMIC_SEQ_CST);
	assert_true(wait_flag(&e->b->offline, false));
	assert_true(fake_rbd.clients >= clients + 2);
	assert_true(fake_rbd.open);
	assert_int_equal(run(e, IDM_BACKING_READ, 0, BS, e->buf, false, NULL), 0);
	assert_int_equal(fake_rbd.calls[FC_READ], 1);
}

/* Other errors pass through as they are. */
static void test_io_error(void **state)
{
	struct env *e = *state;

	fake_rbd.aio_rc = -ETIMEDOUT;
	assert_int_equal(run(e, IDM_BACKING_READ, 0, BS, e->buf, false, NULL), -ETIMEDOUT);
	fake_rbd.aio_rc = 0;
	assert_int_equal(run(e, IDM_BACKING_READ, 0, BS, e->buf, false, NULL), 0);
}

/* Without a reactor the request completes before submit returns. */
static void test_synchronous(void **state)
{
	struct env *e = *state;
	struct req q = {.io = {.op = IDM_BACKING_WRITE,
	                       .offset = 0,
	                       .len = BS,
	                       .buf = e->buf,
	                       .fua = true,
	                       .done = req_done}};

	idm_backing_submit(e->b, &q.io, NULL);
	assert_int_equal(q.calls, 1);
	assert_int_equal(q.status, 0);
	assert_int_equal(fake_rbd.calls[FC_FLUSH], 1);
}

static void test_lba_status(void **state)
{
	struct env *e = *state;
	uint64_t run_len = 0;
	bool mapped = true;

	memset(e->buf, 1, 3 * FAKE_CHUNK);
	assert_int_equal(
	    run(e, IDM_BACKING_WRITE, 2 * FAKE_CHUNK, 3 * FAKE_CHUNK, e->buf, false, NULL), 0);
	assert_int_equal(idm_backing_lba_status(e->b, 0, &mapped, &run_len), 0);
	assert_false(mapped);
	assert_int_equal(run_len, 2 * FAKE_CHUNK);
	assert_int_equal(idm_backing_lba_status(e->b, 2 * FAKE_CHUNK + BS, &mapped, &run_len), 0);
	assert_true(mapped);
	assert_int_equal(run_len, 3 * FAKE_CHUNK - BS); /* three calls merged */
	assert_int_equal(idm_backing_lba_status(e->b, 5 * FAKE_CHUNK, &mapped, &run_len), 0);
	assert_false(mapped);
	assert_int_equal(run_len, IMAGE_BYTES - 5 * FAKE_CHUNK);
}

static pthread_t work_thread;

static void offload_work(struct idm_backing_io *io)
{
	work_thread = pthread_self();
}

/* Calls that wait on the cluster run on the store's control thread;
 * done comes back on the reactor's; without a reactor, inline. */
static void test_offload(void **state)
{
	struct env *e = *state;
	struct req q = {.io = {.done = req_done}};
	uint64_t end = idm_now_ms() + 5000;

	assert_non_null(e->b->ops->offload);
	e->b->ops->offload(e->b, &q.io, offload_work, e->r);
	while (q.calls == 0 && idm_now_ms() < end) {
		assert_true(idm_reactor_poll(e->r, 50) >= 0);
	}
	assert_int_equal(q.calls, 1);
	assert_int_equal(q.status, 0);
	assert_false(pthread_equal(work_thread, pthread_self()));
	assert_true(pthread_equal(q.thread, pthread_self()));
	e->b->ops->offload(e->b, &q.io, offload_work, NULL);
	assert_int_equal(q.calls, 2);
	assert_true(pthread_equal(work_thread, pthread_self()));
}

/* The watch fires on librbd's thread; the control thread reads the new
 * size and tells the user of the store, once per change. */
static void test_resize(void **state)
{
	struct env *e = *state;
	struct resize_seen seen = {0};
	uint64_t end = idm_now_ms() + 3000;

	e->b->on_resize = on_resize;
	e->b->on_resize_arg = &seen;
	assert_non_null(fake_rbd.watch_cb);
	fake_rbd.watch_cb(fake_rbd.watch_arg); /* no size change: nothing */
	fake_rbd.size = 2 * IMAGE_BYTES + 7;
	fake_rbd.watch_cb(fake_rbd.watch_arg);
	while (__atomic_load_n(&seen.calls, __ATOMIC_SEQ_CST) == 0 && idm_now_ms() < end) {
		usleep(1000);
	}
	usleep(20000);
	assert_int_equal(seen.calls, 1);
	assert_int_equal(seen.size, 2 * IMAGE_BYTES);
	assert_int_equal(__atomic_load_n(&e->b->size, __ATOMIC_SEQ_CST), 2 * IMAGE_BYTES);
}

/* ---- through the SCSI layer: commands the store cannot do alone ---- */

struct scsi_seen {
	int calls;
	pthread_t thread;
};

static void scsi_done(struct scsi_cmd *cmd)
{
	struct scsi_seen *q = cmd->priv;

	q->calls++;
	q->thread = pthread_self();
}

/* Set up and run `cdb` on the LU, on the env's reactor, until done.
 * Returns scsi_cmd_setup's result. */
static int scsi_run(struct env *e, struct scsi_lu_set *set, const uint8_t *cdb, uint8_t *data,
                    uint32_t len, struct scsi_cmd *cmd)
{
	struct scsi_seen q = {0};
	uint64_t end = idm_now_ms() + 5000;

	memset(cmd, 0, sizeof(*cmd));
	cmd->luns = set;
	cmd->cdb = cdb;
	cmd->cdb_len = 16;
	cmd->edtl = len;
	cmd->reactor = e->r;
	cmd->done = scsi_done;
	cmd->priv = &q;
	if (scsi_cmd_setup(cmd) != 0) {
		return 1; /* failed before it ran: status and sense set */
	}
	cmd->data = data;
	cmd->data_cap = len;
	scsi_cmd_exec(cmd);
	while (q.calls == 0 && idm_now_ms() < end) {
		assert_true(idm_reactor_poll(e->r, 50) >= 0);
	}
	assert_int_equal(q.calls, 1);
	assert_true(pthread_equal(q.thread, pthread_self()));
	return 0;
}

static void put_be64_at(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8) {
		p[i] = (uint8_t)v;
	}
}

/* A 16-byte CDB: opcode, the LBA at bytes 2-9, byte 13 (a count). */
static void cdb16(uint8_t *cdb, uint8_t op, uint64_t lba, uint8_t byte13)
{
	memset(cdb, 0, 16);
	cdb[0] = op;
	put_be64_at(cdb + 2, lba);
	cdb[13] = byte13;
}

static void expect_key(const struct scsi_cmd *cmd, uint8_t key)
{
	assert_int_equal(cmd->status, SCSI_STATUS_CHECK_CONDITION);
	assert_int_equal(cmd->sense[2] & 0x0f, key);
}

/* A COMPARE AND WRITE across an object boundary (librbd refuses it) and
 * an ORWRITE run read-modify-write under the LU's lock: their blocking
 * librbd calls on the store's control thread, never on the reactor,
 * and the command completes back on the reactor. */
static void test_scsi_rmw_off_reactor(void **state)
{
	struct env *e = *state;
	uint64_t lba = fake_rbd.obj_size / BS - 1; /* the last block of object 0 */
	struct scsi_lu_set set = {.count = 1};
	struct scsi_cmd cmd;
	uint8_t cdb[16], *data = e->buf;

	assert_int_equal(scsi_lu_create(0, e->b, "iqn.2026-11.org.idm:rbd", &set.lu[0]), 0);
	cdb16(cdb, 0x89, lba, 2); /* COMPARE AND WRITE, 2 blocks */
	memset(data, 0, 2 * BS);
	memset(data + 2 * BS, 0x5a, 2 * BS);
	assert_int_equal(scsi_run(e, &set, cdb, data, 4 * BS, &cmd), 0);
	assert_int_equal(cmd.status, SCSI_STATUS_GOOD);
	assert_int_equal(fake_rbd.calls[FC_CAW], 1); /* refused: two objects */
	assert_int_equal(fake_rbd.calls[FC_READ], 1);
	assert_int_equal(fake_rbd.calls[FC_WRITE], 1);
	assert_false(pthread_equal(fake_rbd.last_thread, pthread_self()));
	assert_int_equal(fake_rbd.mem[lba * BS], 0x5a);
	assert_int_equal(fake_rbd.mem[lba * BS + 2 * BS - 1], 0x5a);
	/* The same again: the medium now differs at its first byte. */
	assert_int_equal(scsi_run(e, &set, cdb, data, 4 * BS, &cmd), 0);
	expect_key(&cmd, SCSI_SENSE_MISCOMPARE);
	assert_int_equal(fake_rbd.calls[FC_WRITE], 1);

	cdb16(cdb, 0x8b, lba, 2); /* ORWRITE(16): 0x5a | 0x0f */
	memset(data, 0x0f, 2 * BS);
	assert_int_equal(scsi_run(e, &set, cdb, data, 2 * BS, &cmd), 0);
	assert_int_equal(cmd.status, SCSI_STATUS_GOOD);
	assert_int_equal(fake_rbd.calls[FC_WRITE], 2);
	assert_false(pthread_equal(fake_rbd.last_thread, pthread_self()));
	assert_int_equal(fake_rbd.mem[lba * BS + BS], 0x5f);
	set.lu[0]->store = NULL; /* the env closes it */
	scsi_lu_free(set.lu[0]);
}

/* An offline store: medium commands are NOT READY before they run
 * (librbd not reached), READ CAPACITY has no capacity to tell. */
static void test_scsi_offline(void **state)
{
	struct env *e = *state;
	struct scsi_lu_set set = {.count = 1};
	struct scsi_cmd cmd;
	uint8_t cdb[16], *data = e->buf;

	assert_int_equal(scsi_lu_create(0, e->b, "iqn.2026-11.org.idm:rbd", &set.lu[0]), 0);
	__atomic_store_n(&e->b->offline, true, __ATOMIC_SEQ_CST);
	cdb16(cdb, 0x8b, 0, 2); /* ORWRITE(16) */
	assert_int_equal(scsi_run(e, &set, cdb, data, 2 * BS, &cmd), 1);
	expect_key(&cmd, SCSI_SENSE_NOT_READY);
	assert_int_equal(fake_rbd.calls[FC_READ], 0);
	cdb16(cdb, 0x9e, 0, 32); /* READ CAPACITY(16) */
	cdb[1] = 0x10;
	assert_int_equal(scsi_run(e, &set, cdb, data, 32, &cmd), 0);
	expect_key(&cmd, SCSI_SENSE_NOT_READY);
	__atomic_store_n(&e->b->offline, false, __ATOMIC_SEQ_CST);
	assert_int_equal(scsi_run(e, &set, cdb, data, 32, &cmd), 0);
	assert_int_equal(cmd.status, SCSI_STATUS_GOOD);
	set.lu[0]->store = NULL; /* the env closes it */
	scsi_lu_free(set.lu[0]);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_spec),
	    cmocka_unit_test(test_open_errors),
	    cmocka_unit_test(test_open_options),
	    cmocka_unit_test(test_start_offline),
	    T(test_read_write),
	    T(test_fua_flushes_cache),
	    T(test_fua_write_through),
	    T(test_shared_no_cache),
	    T(test_unmap_zeroes_writesame),
	    T(test_compare_and_write),
	    T(test_blocklisted),
	    T(test_io_error),
	    T(test_synchronous),
	    T(test_lba_status),
	    T(test_offload),
	    T(test_resize),
	    T(test_scsi_rmw_off_reactor),
	    T(test_scsi_offline),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
