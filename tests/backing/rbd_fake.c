/* SPDX-License-Identifier: BSD-3-Clause */
/* The fake librados/librbd of rbd_fake.h. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rados/librados.h>
#include <rbd/librbd.h>

#include "rbd_fake.h"

struct fake_rbd fake_rbd;

/* Opaque handles: any non-NULL pointer will do. */
static int cluster_token, ioctx_token, image_token;

struct fake_comp {
	rbd_callback_t cb;
	void *arg;
	ssize_t ret;
	bool done;
	unsigned refs; /* the caller's and, while it runs, the finisher's */
	pthread_mutex_t lock;
	pthread_cond_t cond;
};

void fake_rbd_reset(uint64_t size)
{
	fake_rbd_free();
	memset(&fake_rbd, 0, sizeof(fake_rbd));
	fake_rbd.size = size;
	fake_rbd.obj_size = 4u << 20;
	fake_rbd.cache = true;
	fake_rbd.mem = calloc(1, size);
	fake_rbd.allocated = calloc(1, size / FAKE_CHUNK + 1);
}

void fake_rbd_free(void)
{
	free(fake_rbd.mem);
	free(fake_rbd.allocated);
	fake_rbd.mem = NULL;
	fake_rbd.allocated = NULL;
}

/* ---- librados ---- */

int rados_create(rados_t *cluster, const char *const id)
{
	snprintf(fake_rbd.client_id, sizeof(fake_rbd.client_id), "%s", id ? id : "admin");
	fake_rbd.clients++;
	*cluster = &cluster_token;
	return 0;
}

int rados_conf_read_file(rados_t cluster, const char *path)
{
	return path && strcmp(path, "/nonexistent.conf") == 0 ? -ENOENT : 0;
}

int rados_conf_parse_env(rados_t cluster, const char *var)
{
	return 0;
}

int rados_conf_set(rados_t cluster, const char *option, const char *value)
{
	if (strcmp(option, "keyring") == 0) {
		snprintf(fake_rbd.keyring, sizeof(fake_rbd.keyring), "%s", value);
	} else if (strcmp(option, "rbd_cache") == 0) {
		fake_rbd.cache = strcmp(value, "true") == 0;
		fake_rbd.cache_set = true;
	} else if (strcmp(option, "rbd_skip_partial_discard") == 0) {
		fake_rbd.skip_partial_discard_off = strcmp(value, "false") == 0;
	}
	return 0;
}

int rados_conf_get(rados_t cluster, const char *option, char *buf, size_t len)
{
	if (strcmp(option, "rbd_cache") != 0) {
		return -ENOENT;
	}
	snprintf(buf, len, "%s", fake_rbd.cache ? "true" : "false");
	return 0;
}

int rados_connect(rados_t cluster)
{
	fake_rbd.cluster_up = fake_rbd.connect_rc == 0;
	return fake_rbd.connect_rc;
}

void rados_shutdown(rados_t cluster)
{
	fake_rbd.cluster_up = false;
}

int rados_ioctx_create(rados_t cluster, const char *pool_name, rados_ioctx_t *ioctx)
{
	*ioctx = &ioctx_token;
	return fake_rbd.ioctx_rc;
}

void rados_ioctx_set_namespace(rados_ioctx_t io, const char *nspace)
{
}

void rados_ioctx_destroy(rados_ioctx_t io)
{
}

/* ---- librbd: control ---- */

int rbd_open(rados_ioctx_t io, const char *name, rbd_image_t *image, const char *snap_name)
{
	if (fake_rbd.open_rc) {
		return fake_rbd.open_rc;
	}
	*image = &image_token;
	fake_rbd.open = true;
	return 0;
}

int rbd_get_id(rbd_image_t image, char *id, size_t id_len)
{
	snprintf(id, id_len, "fake1d");
	return 0;
}

int rbd_close(rbd_image_t image)
{
	fake_rbd.open = false;
	return 0;
}

int rbd_stat(rbd_image_t image, rbd_image_info_t *info, size_t infosize)
{
	memset(info, 0, infosize);
	info->size = fake_rbd.size;
	info->obj_size = fake_rbd.obj_size;
	return 0;
}

int rbd_get_size(rbd_image_t image, uint64_t *size)
{
	*size = fake_rbd.size;
	return 0;
}

int rbd_update_watch(rbd_image_t image, uint64_t *handle, rbd_update_callback_t watch_cb, void *arg)
{
	fake_rbd.watch_cb = watch_cb;
	fake_rbd.watch_arg = arg;
	*handle = 1;
	return 0;
}

int rbd_update_unwatch(rbd_image_t image, uint64_t handle)
{
	fake_rbd.watch_cb = NULL;
	return 0;
}

int rbd_diff_iterate2(rbd_image_t image, const char *fromsnapname, uint64_t ofs, uint64_t len,
                      uint8_t include_parent, uint8_t whole_object,
                      int (*cb)(uint64_t, size_t, int, void *), void *arg)
{
	uint64_t c;

	/* One call per allocated chunk: the store must merge them. */
	for (c = ofs / FAKE_CHUNK; c * FAKE_CHUNK < ofs + len; c++) {
		uint64_t s = c * FAKE_CHUNK > ofs ? c * FAKE_CHUNK : ofs;
		uint64_t e = (c + 1) * FAKE_CHUNK < ofs + len ? (c + 1) * FAKE_CHUNK : ofs + len;
		int rc;

		if (!fake_rbd.allocated[c]) {
			continue;
		}
		rc = cb(s, (size_t)(e - s), 1, arg);
		if (rc) {
			return rc;
		}
	}
	return 0;
}

/* ---- librbd: completions ---- */

int rbd_aio_create_completion(void *cb_arg, rbd_callback_t complete_cb, rbd_completion_t *c)
{
	struct fake_comp *fc = calloc(1, sizeof(*fc));

	if (!fc) {
		return -ENOMEM;
	}
	fc->cb = complete_cb;
	fc->arg = cb_arg;
	fc->refs = 1;
	pthread_mutex_init(&fc->lock, NULL);
	pthread_cond_init(&fc->cond, NULL);
	__atomic_add_fetch(&fake_rbd.completions_live, 1, __ATOMIC_SEQ_CST);
	*c = fc;
	return 0;
}

ssize_t rbd_aio_get_return_value(rbd_completion_t c)
{
	return ((struct fake_comp *)c)->ret;
}

int rbd_aio_wait_for_complete(rbd_completion_t c)
{
	struct fake_comp *fc = c;

	pthread_mutex_lock(&fc->lock);
	while (!fc->done) {
		pthread_cond_wait(&fc->cond, &fc->lock);
	}
	pthread_mutex_unlock(&fc->lock);
	return 0;
}

/* Like librbd's, completions are reference counted: the caller may
 * release one while (or before) the library finishes with it. */
static void comp_put(struct fake_comp *fc)
{
	if (__atomic_sub_fetch(&fc->refs, 1, __ATOMIC_SEQ_CST) > 0) {
		return;
	}
	pthread_mutex_destroy(&fc->lock);
	pthread_cond_destroy(&fc->cond);
	free(fc);
	__atomic_sub_fetch(&fake_rbd.completions_live, 1, __ATOMIC_SEQ_CST);
}

void rbd_aio_release(rbd_completion_t c)
{
	comp_put(c);
}

/* librbd's side, from a thread of its own: call back, then wake the
 * waiters, then drop the library's reference. */
static void *finisher(void *p)
{
	struct fake_comp *fc = p;

	fc->cb(fc, fc->arg);
	pthread_mutex_lock(&fc->lock);
	fc->done = true;
	pthread_cond_broadcast(&fc->cond);
	pthread_mutex_unlock(&fc->lock);
	comp_put(fc);
	__atomic_sub_fetch(&fake_rbd.finishers_live, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static int finish(rbd_completion_t c, ssize_t ret)
{
	struct fake_comp *fc = c;
	pthread_t t;

	fc->ret = fake_rbd.aio_rc ? fake_rbd.aio_rc : ret;
	__atomic_add_fetch(&fake_rbd.finishers_live, 1, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&fc->refs, 1, __ATOMIC_SEQ_CST);
	if (pthread_create(&t, NULL, finisher, fc) != 0) {
		__atomic_sub_fetch(&fc->refs, 1, __ATOMIC_SEQ_CST);
		__atomic_sub_fetch(&fake_rbd.finishers_live, 1, __ATOMIC_SEQ_CST);
		return -EAGAIN;
	}
	pthread_detach(t);
	return 0;
}

static void record(enum fake_call call, const void *buf, uint64_t off, uint64_t len)
{
	fake_rbd.calls[call]++;
	fake_rbd.last_thread = pthread_self();
	fake_rbd.last_buf = buf;
	fake_rbd.last_off = off;
	fake_rbd.last_len = len;
}

static bool in_image(uint64_t off, uint64_t len)
{
	return off <= fake_rbd.size && len <= fake_rbd.size - off;
}

static void mark(uint64_t off, uint64_t len, uint8_t allocated)
{
	uint64_t c;

	for (c = off / FAKE_CHUNK; c * FAKE_CHUNK < off + len; c++) {
		fake_rbd.allocated[c] = allocated;
	}
}

/* ---- librbd: data ---- */

int rbd_aio_read(rbd_image_t image, uint64_t off, size_t len, char *buf, rbd_completion_t c)
{
	record(FC_READ, buf, off, len);
	if (!in_image(off, len)) {
		return -EINVAL;
	}
	memcpy(buf, fake_rbd.mem + off, len);
	return finish(c, (ssize_t)len);
}

int rbd_aio_write(rbd_image_t image, uint64_t off, size_t len, const char *buf, rbd_completion_t c)
{
	record(FC_WRITE, buf, off, len);
	if (!in_image(off, len)) {
		return -EINVAL;
	}
	memcpy(fake_rbd.mem + off, buf, len);
	mark(off, len, 1);
	return finish(c, (ssize_t)len);
}

int rbd_aio_flush(rbd_image_t image, rbd_completion_t c)
{
	record(FC_FLUSH, NULL, 0, 0);
	return finish(c, 0);
}

int rbd_aio_discard(rbd_image_t image, uint64_t off, uint64_t len, rbd_completion_t c)
{
	record(FC_DISCARD, NULL, off, len);
	memset(fake_rbd.mem + off, 0, len);
	mark(off, len, 0);
	return finish(c, 0);
}

int rbd_aio_write_zeroes(rbd_image_t image, uint64_t off, size_t len, rbd_completion_t c,
                         int zero_flags, int op_flags)
{
	record(FC_WRITE_ZEROES, NULL, off, len);
	memset(fake_rbd.mem + off, 0, len);
	return finish(c, 0);
}

int rbd_aio_writesame(rbd_image_t image, uint64_t off, size_t len, const char *buf, size_t data_len,
                      rbd_completion_t c, int op_flags)
{
	size_t i;

	record(FC_WRITESAME, buf, off, len);
	fake_rbd.last_data_len = data_len;
	if (data_len == 0 || len % data_len) {
		return -EINVAL;
	}
	for (i = 0; i < len; i += data_len) {
		memcpy(fake_rbd.mem + off + i, buf, data_len);
	}
	mark(off, len, 1);
	return finish(c, (ssize_t)len);
}

/* Like librbd 16.2: one object at most; the mismatch as the image
 * offset of the object plus the offset in the compared buffer. */
ssize_t rbd_aio_compare_and_write(rbd_image_t image, uint64_t off, size_t len, const char *cmp_buf,
                                  const char *buf, rbd_completion_t c, uint64_t *mismatch_off,
                                  int op_flags)
{
	size_t i;

	record(FC_CAW, cmp_buf, off, len);
	if (off / fake_rbd.obj_size != (off + len - 1) / fake_rbd.obj_size) {
		return -EINVAL;
	}
	for (i = 0; i < len; i++) {
		if (fake_rbd.mem[off + i] != (uint8_t)cmp_buf[i]) {
			*mismatch_off = off - off % fake_rbd.obj_size + i;
			return finish(c, -EILSEQ);
		}
	}
	memcpy(fake_rbd.mem + off, buf, len);
	mark(off, len, 1);
	return finish(c, (ssize_t)len);
}
