/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of the mem, null and file stores: data, FUA / FLUSH, short
 * transfers, sparse files, io_uring and synchronous paths. */
/* cmocka needs these first, in this order */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backing_test.h"

static void fill(uint8_t *buf, size_t len, unsigned seed)
{
	size_t i;

	for (i = 0; i < len; i++) {
		buf[i] = (uint8_t)(seed * 31 + i * 7 + (i >> 9));
	}
}

/* Write distinct data at several offsets (the first block, an odd
 * middle one, the last one) and read each back. */
static void check_read_after_write(struct idm_backing *b, struct idm_reactor *r)
{
	uint64_t offs[] = {0, 4096, 3 * 4096 + 512, b->size - 8192, b->size - 512};
	uint32_t lens[] = {4096, 8192, 512, 8192, 512};
	uint8_t *wbuf = malloc(8192), *rbuf = malloc(8192);
	size_t i;

	for (i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		fill(wbuf, lens[i], (unsigned)i + 1);
		assert_int_equal(
		    run_io_ex(b, r, IDM_BACKING_WRITE, offs[i], lens[i], wbuf, i == 1, NULL), 0);
	}
	for (i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		/* The last two overlap: the later write wins. */
		size_t skip = i == 3 ? 8192 - 512 : lens[i];

		fill(wbuf, lens[i], (unsigned)i + 1);
		memset(rbuf, 0xee, 8192);
		assert_int_equal(
		    run_io(b, r, IDM_BACKING_READ, offs[i], lens[i], rbuf), 0);
		assert_memory_equal(rbuf, wbuf, skip);
	}
	assert_int_equal(run_io(b, r, IDM_BACKING_FLUSH, 0, 0, NULL), 0);
	free(wbuf);
	free(rbuf);
}

/* Requests outside the store or malformed fail cleanly. */
static void check_bad_requests(struct idm_backing *b, struct idm_reactor *r)
{
	uint8_t buf[512];

	assert_int_equal(run_io(b, r, IDM_BACKING_READ, b->size, 512, buf), -ERANGE);
	assert_int_equal(run_io(b, r, IDM_BACKING_WRITE, b->size - 512, 1024, buf), -ERANGE);
	assert_int_equal(run_io(b, r, IDM_BACKING_READ, UINT64_MAX - 100, 512, buf), -ERANGE);
	assert_int_equal(run_io(b, r, IDM_BACKING_READ, 0, 512, NULL), -EINVAL);
	assert_int_equal(run_io(b, r, (enum idm_backing_op)42, 0, 512, buf), -EINVAL);
	assert_int_equal(run_io(b, r, IDM_BACKING_READ, 0, 0, buf), 0);
	assert_int_equal(run_io(b, r, IDM_BACKING_WRITE, b->size, 0, buf), 0);
}

static void test_mem_store(void **state)
{
	struct idm_backing *b = open_ok("mem:4M", 512);
	struct idm_reactor *r = idm_reactor_create(0);
	uint8_t buf[4096], *m;
	bool inl;

	assert_non_null(r);
	check_read_after_write(b, NULL);
	check_read_after_write(b, r);
	check_bad_requests(b, NULL);
	/* Fresh memory reads as zeros. */
	memset(buf, 1, sizeof(buf));
	assert_int_equal(run_io_ex(b, NULL, IDM_BACKING_READ, 2 * MiB, 4096, buf, false, &inl), 0);
	assert_true(inl);
	for (size_t i = 0; i < sizeof(buf); i++) {
		assert_int_equal(buf[i], 0);
	}
	/* Zero copy: data placed through map() is the store's; submitting
	 * the mapped memory itself moves nothing and succeeds. */
	m = idm_backing_map(b, 1 * MiB, 4096);
	assert_non_null(m);
	memset(m, 0x5a, 4096);
	assert_int_equal(run_io_ex(b, r, IDM_BACKING_WRITE, 1 * MiB, 4096, m, true, NULL), 0);
	assert_int_equal(run_io(b, r, IDM_BACKING_READ, 1 * MiB, 4096, m), 0);
	assert_int_equal(run_io(b, NULL, IDM_BACKING_READ, 1 * MiB, 4096, buf), 0);
	assert_memory_equal(buf, m, 4096);
	assert_ptr_equal(idm_backing_map(b, 4 * MiB - 512, 512), m - 1 * MiB + 4 * MiB - 512);
	assert_null(idm_backing_map(b, 4 * MiB - 512, 1024));
	assert_null(idm_backing_map(b, UINT64_MAX, 1));
	idm_backing_close(b);
	idm_reactor_destroy(r);
}

static void test_null_store(void **state)
{
	struct idm_backing *b = open_ok("null:1G", 4096);
	uint8_t buf[8192];

	assert_true(b->discards_writes);
	assert_null(idm_backing_map(b, 0, 4096));
	memset(buf, 0x77, sizeof(buf));
	assert_int_equal(run_io_ex(b, NULL, IDM_BACKING_WRITE, 0, 8192, buf, true, NULL), 0);
	assert_int_equal(
	    run_io(b, NULL, IDM_BACKING_READ, (1ull << 30) - 8192, 8192, buf), 0);
	for (size_t i = 0; i < sizeof(buf); i++) {
		assert_int_equal(buf[i], 0);
	}
	assert_int_equal(run_io(b, NULL, IDM_BACKING_FLUSH, 0, 0, NULL), 0);
	check_bad_requests(b, NULL);
	idm_backing_close(b);
}

static struct idm_backing *open_file(const char *name, const char *size, uint32_t bs, char *path,
                                     size_t pathlen)
{
	char spec[300];

	snprintf(path, pathlen, "%s/%s", bt_dir(), name);
	snprintf(spec, sizeof(spec), "file:%s%s%s", path, size ? ":" : "", size ? size : "");
	return open_ok(spec, bs);
}

static void test_file_sync_path(void **state)
{
	char path[200];
	struct idm_backing *b = open_file("sync.img", "8M", 512, path, sizeof(path));
	struct stat st;
	uint8_t buf[4096];
	bool inl;

	/* Created sparse: almost nothing allocated yet. */
	assert_int_equal(stat(path, &st), 0);
	assert_true(st.st_size == 8 * MiB);
	assert_true(st.st_blocks * 512 < 1 * MiB);
	assert_null(idm_backing_map(b, 0, 512));
	check_read_after_write(b, NULL);
	check_bad_requests(b, NULL);
	fill(buf, sizeof(buf), 4);
	assert_int_equal(run_io_ex(b, NULL, IDM_BACKING_WRITE, 0, 4096, buf, true, &inl), 0);
	assert_true(inl); /* r == NULL: done before submit returns */
	idm_backing_close(b);
	assert_int_equal(stat(path, &st), 0);
	assert_true(st.st_blocks * 512 < 1 * MiB); /* still sparse */
}

static void test_file_uring_path(void **state)
{
	struct idm_reactor *r = idm_reactor_create(0);
	char path[200];
	struct idm_backing *b = open_file("uring.img", "4M", 4096, path, sizeof(path));
	uint8_t buf[4096];
	bool inl = true;

	assert_non_null(r);
	if (!have_uring(r)) {
		idm_backing_close(b);
		idm_reactor_destroy(r);
		skip();
	}
	check_read_after_write(b, r);
	check_bad_requests(b, r);
	/* Really asynchronous: completion comes from the reactor. */
	fill(buf, sizeof(buf), 9);
	assert_int_equal(run_io_ex(b, r, IDM_BACKING_WRITE, 4096, 4096, buf, true, &inl), 0);
	assert_false(inl);
	assert_int_equal(run_io_ex(b, r, IDM_BACKING_FLUSH, 0, 0, NULL, false, &inl), 0);
	assert_false(inl);
	/* And the other path sees the same bytes. */
	memset(buf, 0, sizeof(buf));
	assert_int_equal(run_io(b, NULL, IDM_BACKING_READ, 4096, 4096, buf), 0);
	{
		uint8_t want[4096];

		fill(want, sizeof(want), 9);
		assert_memory_equal(buf, want, sizeof(buf));
	}
	idm_backing_close(b);
	idm_reactor_destroy(r);
}

/* The file shrinks behind the store's back: a read across the new end
 * comes back short, resumes, hits EOF, and the rest reads as zeros. */
static void check_short_read(struct idm_reactor *r, const char *name)
{
	char path[200];
	struct idm_backing *b = open_file(name, "64K", 512, path, sizeof(path));
	uint8_t buf[16384], want[16384];

	fill(want, sizeof(want), 3);
	assert_int_equal(run_io(b, r, IDM_BACKING_WRITE, 16384, 16384, want), 0);
	assert_int_equal(truncate(path, 16384 + 6000), 0);
	memset(want + 6000, 0, sizeof(want) - 6000);
	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(run_io(b, r, IDM_BACKING_READ, 16384, 16384, buf), 0);
	assert_memory_equal(buf, want, sizeof(buf));
	/* Wholly past the end: all zeros. */
	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(run_io(b, r, IDM_BACKING_READ, 65536 - 16384, 16384, buf), 0);
	memset(want, 0, sizeof(want));
	assert_memory_equal(buf, want, sizeof(buf));
	idm_backing_close(b);
}

static void test_file_short_read_resumes(void **state)
{
	struct idm_reactor *r = idm_reactor_create(0);

	assert_non_null(r);
	check_short_read(NULL, "short_sync.img");
	if (have_uring(r)) {
		check_short_read(r, "short_uring.img");
	}
	idm_reactor_destroy(r);
}

static void test_file_existing_larger_keeps_size(void **state)
{
	char path[200];
	struct idm_backing *b;
	struct stat st;
	uint8_t buf[512], got[512];
	int fd;

	snprintf(path, sizeof(path), "%s/big.img", bt_dir());
	fd = open(path, O_RDWR | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 4 * MiB), 0);
	fill(buf, sizeof(buf), 5);
	assert_int_equal(pwrite(fd, buf, sizeof(buf), 1 * MiB - 512), 512);
	close(fd);

	b = open_file("big.img", "1M", 512, path, sizeof(path));
	assert_true(b->size == 1 * MiB); /* the LU is what was asked */
	assert_int_equal(run_io(b, NULL, IDM_BACKING_READ, 1 * MiB - 512, 512, got), 0);
	assert_memory_equal(got, buf, sizeof(buf)); /* existing data kept */
	assert_int_equal(run_io(b, NULL, IDM_BACKING_READ, 1 * MiB, 512, got), -ERANGE);
	idm_backing_close(b);
	assert_int_equal(stat(path, &st), 0);
	assert_true(st.st_size == 4 * MiB); /* the file is not shrunk */

	/* A smaller existing file is extended, keeping its data. */
	assert_int_equal(truncate(path, 1 * MiB), 0);
	b = open_file("big.img", "2M", 512, path, sizeof(path));
	assert_true(b->size == 2 * MiB);
	assert_int_equal(run_io(b, NULL, IDM_BACKING_READ, 1 * MiB - 512, 512, got), 0);
	assert_memory_equal(got, buf, sizeof(buf));
	idm_backing_close(b);
	assert_int_equal(stat(path, &st), 0);
	assert_true(st.st_size == 2 * MiB);
}

/* ---- short transfers faked at the io_uring completion ---- */

/* A completion to deliver on the reactor thread, as the kernel would. */
struct fake_completion {
	void (*uring_done)(struct idm_uring_req *req, int res); /* the store's */
	struct probe *p;
	int res;
};

static void deliver_fake(void *arg)
{
	struct fake_completion *fc = arg;

	fc->uring_done(&fc->p->io.ureq, fc->res);
}

/* Pretend the kernel moved `res` bytes (or failed) for a fresh `io` of
 * store `b`, and let the store finish it through reactor `r`. */
static int fake_step(struct idm_backing *b, struct idm_reactor *r,
                     void (*uring_done)(struct idm_uring_req *, int), enum idm_backing_op op,
                     uint64_t off, uint32_t len, uint8_t *buf, int res, uint32_t *moved)
{
	struct probe p = {.io = {.op = op,
	                         .offset = off,
	                         .len = len,
	                         .buf = buf,
	                         .fua = true,
	                         .done = probe_done,
	                         .store = b}};
	struct fake_completion fc = {uring_done, &p, res};
	uint64_t end = idm_now_ms() + 5000;

	assert_int_equal(idm_reactor_send(r, deliver_fake, &fc), 0);
	while (p.calls == 0 && idm_now_ms() < end) {
		idm_reactor_poll(r, 100);
	}
	assert_int_equal(p.calls, 1);
	*moved = p.io.moved;
	return p.status;
}

static void test_file_resumes_faked_short_transfers(void **state)
{
	struct idm_reactor *r = idm_reactor_create(0);
	char path[200];
	struct idm_backing *b = open_file("fake.img", "1M", 512, path, sizeof(path));
	struct probe first = {.io = {.op = IDM_BACKING_FLUSH, .done = probe_done}};
	uint8_t data[8192], got[8192];
	uint32_t moved;
	int fd;

	assert_non_null(r);
	if (!have_uring(r)) {
		idm_backing_close(b);
		idm_reactor_destroy(r);
		skip();
	}
	/* A real request tells us the store's completion function. */
	idm_backing_submit(b, &first.io, r);
	while (first.calls == 0) {
		idm_reactor_poll(r, 100);
	}
	assert_non_null(first.io.ureq.done);

	/* A write the kernel did only 3000 bytes of: the store writes the
	 * remaining 5192 at offset + 3000. */
	fill(data, sizeof(data), 11);
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, data, 3000, 65536), 3000);
	close(fd);
	assert_int_equal(
	    fake_step(b, r, first.io.ureq.done, IDM_BACKING_WRITE, 65536, 8192, data, 3000, &moved),
	    0);
	assert_int_equal(moved, 8192);
	assert_int_equal(run_io(b, NULL, IDM_BACKING_READ, 65536, 8192, got), 0);
	assert_memory_equal(got, data, sizeof(data));

	/* A read that got half: the rest comes from the right place. */
	memset(got, 0xee, sizeof(got));
	assert_int_equal(
	    fake_step(b, r, first.io.ureq.done, IDM_BACKING_READ, 65536, 8192, got, 4096, &moved),
	    0);
	assert_int_equal(moved, 8192);
	assert_memory_equal(got + 4096, data + 4096, 4096);
	assert_int_equal(got[0], 0xee); /* the faked half was never read */

	/* The ring said "again": finished inline. */
	memset(got, 0, sizeof(got));
	assert_int_equal(fake_step(b, r, first.io.ureq.done, IDM_BACKING_READ, 65536, 8192, got,
	                           -EAGAIN, &moved),
	                 0);
	assert_memory_equal(got, data, sizeof(data));

	/* Errors reach the caller; a write that moves nothing is -EIO. */
	assert_int_equal(
	    fake_step(b, r, first.io.ureq.done, IDM_BACKING_WRITE, 0, 512, data, -ENOSPC, &moved),
	    -ENOSPC);
	assert_int_equal(
	    fake_step(b, r, first.io.ureq.done, IDM_BACKING_WRITE, 0, 512, data, 0, &moved), -EIO);
	idm_backing_close(b);
	idm_reactor_destroy(r);
}

/* ---- block devices ---- */

/* Attach `file_fd` to a free loop device that detaches itself when its
 * last user closes it. Returns the loop fd (name in `dev`) or -1. */
static int loop_attach(int file_fd, char *dev, size_t devlen)
{
	struct loop_info64 info = {.lo_flags = LO_FLAGS_AUTOCLEAR};
	int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	int n = ctl >= 0 ? ioctl(ctl, LOOP_CTL_GET_FREE) : -1;
	int fd = -1;

	if (ctl >= 0) {
		close(ctl);
	}
	if (n < 0) {
		return -1;
	}
	snprintf(dev, devlen, "/dev/loop%d", n);
	fd = open(dev, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		return -1;
	}
	if (ioctl(fd, LOOP_SET_FD, file_fd) != 0) {
		close(fd);
		return -1;
	}
	if (ioctl(fd, LOOP_SET_STATUS64, &info) != 0) {
		ioctl(fd, LOOP_CLR_FD, 0);
		close(fd);
		return -1;
	}
	return fd;
}

static void test_file_block_device(void **state)
{
	char path[200], dev[64], spec[128], err[512];
	struct idm_backing *b = NULL;
	uint8_t data[4096], got[4096];
	int ffd, lfd;

	snprintf(path, sizeof(path), "%s/loop.img", bt_dir());
	ffd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	assert_true(ffd >= 0);
	assert_int_equal(ftruncate(ffd, 4 * MiB + 3 * 512), 0);
	lfd = loop_attach(ffd, dev, sizeof(dev));
	close(ffd);
	if (lfd < 0) {
		skip(); /* no loop devices here (not root, container) */
	}
	/* No size: the device's, rounded down to whole 4 KiB blocks. */
	snprintf(spec, sizeof(spec), "file:%s", dev);
	b = open_ok(spec, 4096);
	assert_true(b->size == 4 * MiB);
	fill(data, sizeof(data), 21);
	assert_int_equal(
	    run_io_ex(b, NULL, IDM_BACKING_WRITE, b->size - 4096, 4096, data, true, NULL), 0);
	assert_int_equal(run_io(b, NULL, IDM_BACKING_READ, b->size - 4096, 4096, got), 0);
	assert_memory_equal(got, data, sizeof(data));
	/* Claimed exclusively: a second store on it is refused. */
	{
		struct idm_backing *b2 = (struct idm_backing *)0x1;

		assert_int_equal(idm_backing_open(spec, 4096, &b2, err, sizeof(err)), -EBUSY);
		assert_null(b2);
		assert_non_null(strstr(err, "is in use (mounted or claimed)"));
	}
	idm_backing_close(b);
	/* A size the device holds; then one it does not. */
	snprintf(spec, sizeof(spec), "file:%s:1M", dev);
	b = open_ok(spec, 512);
	assert_true(b->size == 1 * MiB);
	idm_backing_close(b);
	snprintf(spec, sizeof(spec), "file:%s:8M", dev);
	b = (struct idm_backing *)0x1;
	assert_int_equal(idm_backing_open(spec, 512, &b, err, sizeof(err)), -ENOSPC);
	assert_null(b);
	assert_non_null(strstr(err, "holds 4195840 bytes, 8388608 asked"));
	close(lfd); /* autoclear detaches the loop device */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mem_store),
	    cmocka_unit_test(test_null_store),
	    cmocka_unit_test(test_file_sync_path),
	    cmocka_unit_test(test_file_uring_path),
	    cmocka_unit_test(test_file_short_read_resumes),
	    cmocka_unit_test(test_file_existing_larger_keeps_size),
	    cmocka_unit_test(test_file_resumes_faked_short_transfers),
	    cmocka_unit_test(test_file_block_device),
	};

	return cmocka_run_group_tests(tests, bt_make_dir, bt_remove_dir);
}
