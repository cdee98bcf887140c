/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of WRITE ZEROES, UNMAP and the allocation status query on
 * the mem, null and file stores, inline and through io_uring. */
/* cmocka needs these first, in this order */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backing_test.h"

static bool all_zero(const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (p[i]) {
			return false;
		}
	}
	return true;
}

/*
 * Fill [0, 1 MiB) with 0xaa, then zero an unaligned range with `op`:
 * exactly that range reads as zeros, the bytes around it are kept.
 */
static void check_zeroing(struct idm_backing *b, struct idm_reactor *r, enum idm_backing_op op)
{
	uint8_t *buf = malloc(MiB);
	uint64_t off = 3 * 512, len = 300 * KiB + 512;

	assert_non_null(buf);
	memset(buf, 0xaa, MiB);
	assert_int_equal(run_io(b, r, IDM_BACKING_WRITE, 0, MiB, buf), 0);
	assert_int_equal(run_io(b, r, op, off, (uint32_t)len, NULL), 0);
	memset(buf, 0x55, MiB);
	assert_int_equal(run_io(b, r, IDM_BACKING_READ, 0, MiB, buf), 0);
	assert_true(all_zero(buf + off, len));
	assert_int_equal(buf[off - 1], 0xaa);
	assert_int_equal(buf[off + len], 0xaa);
	assert_int_equal(buf[MiB - 1], 0xaa);
	/* Out of range and empty requests. */
	assert_int_equal(run_io(b, r, op, b->size - 512, 1024, NULL), -ERANGE);
	assert_int_equal(run_io(b, r, op, 0, 0, NULL), 0);
	free(buf);
}

static void test_mem_zero_and_unmap(void **state)
{
	struct idm_backing *b = open_ok("mem:4M", 512);
	bool mapped = false;
	uint64_t run = 0;

	check_zeroing(b, NULL, IDM_BACKING_WRITE_ZEROES);
	check_zeroing(b, NULL, IDM_BACKING_UNMAP);
	/* A whole-store unmap gives the pages back and reads zeros. */
	assert_int_equal(run_io(b, NULL, IDM_BACKING_UNMAP, 0, 4 * MiB, NULL), 0);
	assert_true(all_zero(idm_backing_map(b, 0, 4 * MiB), 4 * MiB));
	/* mem reports everything as mapped. */
	assert_int_equal(idm_backing_lba_status(b, 4096, &mapped, &run), 0);
	assert_true(mapped);
	assert_int_equal(run, 4 * MiB - 4096);
	assert_int_equal(idm_backing_lba_status(b, 4 * MiB, &mapped, &run), -ERANGE);
	idm_backing_close(b);
}

static void test_null_zero_and_unmap(void **state)
{
	struct idm_backing *b = open_ok("null:1G", 4096);
	bool mapped = false;
	uint64_t run = 0;

	assert_int_equal(run_io(b, NULL, IDM_BACKING_WRITE_ZEROES, 0, 1u << 30, NULL), 0);
	assert_int_equal(run_io(b, NULL, IDM_BACKING_UNMAP, 4096, 8192, NULL), 0);
	assert_int_equal(run_io(b, NULL, IDM_BACKING_UNMAP, 1u << 30, 4096, NULL), -ERANGE);
	assert_int_equal(idm_backing_lba_status(b, 0, &mapped, &run), 0);
	assert_true(mapped);
	assert_int_equal(run, 1u << 30);
	idm_backing_close(b);
}

static struct idm_backing *open_file(const char *name, char *path, size_t pathlen)
{
	char spec[300];

	snprintf(path, pathlen, "%s/%s", bt_dir(), name);
	unlink(path);
	snprintf(spec, sizeof(spec), "file:%s:8M", path);
	return open_ok(spec, 512);
}

/* Allocated blocks of the file, in bytes. */
static uint64_t allocated(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (uint64_t)st.st_blocks * 512;
}

/* Holes punched by UNMAP show in the status query and in st_blocks. */
static void check_holes(struct idm_backing *b, struct idm_reactor *r, const char *path)
{
	uint8_t *buf = malloc(2 * MiB);
	bool mapped = true;
	uint64_t run = 0, before;

	assert_non_null(buf);
	memset(buf, 0x11, 2 * MiB);
	assert_int_equal(run_io(b, r, IDM_BACKING_WRITE, MiB, 2 * MiB, buf), 0);
	assert_int_equal(run_io(b, r, IDM_BACKING_FLUSH, 0, 0, NULL), 0);
	before = allocated(path);
	assert_true(before >= 2 * MiB);
	/* The start of the file was never written: a hole up to 1 MiB. */
	assert_int_equal(idm_backing_lba_status(b, 0, &mapped, &run), 0);
	assert_false(mapped);
	assert_int_equal(run, MiB);
	assert_int_equal(idm_backing_lba_status(b, MiB, &mapped, &run), 0);
	assert_true(mapped);
	assert_int_equal(run, 2 * MiB);
	/* Punch [1.5 MiB, 2 MiB): allocation shrinks, the status shows it. */
	assert_int_equal(run_io(b, r, IDM_BACKING_UNMAP, MiB + MiB / 2, MiB / 2, NULL), 0);
	assert_true(allocated(path) <= before - MiB / 2);
	assert_int_equal(idm_backing_lba_status(b, MiB + MiB / 2, &mapped, &run), 0);
	assert_false(mapped);
	assert_int_equal(run, MiB / 2);
	/* Past the last data: a hole to the end of the store. */
	assert_int_equal(idm_backing_lba_status(b, 3 * MiB, &mapped, &run), 0);
	assert_false(mapped);
	assert_int_equal(run, 5 * MiB);
	assert_int_equal(idm_backing_lba_status(b, 8 * MiB, &mapped, &run), -ERANGE);
	/* WRITE ZEROES keeps the blocks allocated. */
	before = allocated(path);
	assert_int_equal(run_io(b, r, IDM_BACKING_WRITE_ZEROES, MiB, MiB / 2, NULL), 0);
	assert_int_equal(allocated(path), before);
	assert_int_equal(run_io(b, r, IDM_BACKING_READ, MiB, MiB, buf), 0);
	assert_true(all_zero(buf, MiB));
	free(buf);
}

static void test_file_sync(void **state)
{
	char path[200];
	struct idm_backing *b = open_file("sync.img", path, sizeof(path));

	check_zeroing(b, NULL, IDM_BACKING_WRITE_ZEROES);
	check_zeroing(b, NULL, IDM_BACKING_UNMAP);
	idm_backing_close(b);
	b = open_file("holes.img", path, sizeof(path));
	check_holes(b, NULL, path);
	idm_backing_close(b);
	/* The size never changes (KEEP_SIZE). */
	{
		struct stat st;

		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_size, 8 * MiB);
	}
}

/* tmpfs has PUNCH_HOLE but not ZERO_RANGE: WRITE ZEROES falls back to
 * writing zeros, inline and from an io_uring completion. */
static void test_file_zero_fallback(void **state)
{
	struct idm_reactor *r = idm_reactor_create(0);
	struct idm_backing *b;
	char spec[128];

	snprintf(spec, sizeof(spec), "file:/dev/shm/idm_thin_ut_%d.img:4M", (int)getpid());
	assert_non_null(r);
	if (access("/dev/shm", W_OK) != 0) {
		idm_reactor_destroy(r);
		skip();
	}
	b = open_ok(spec, 512);
	check_zeroing(b, NULL, IDM_BACKING_WRITE_ZEROES);
	check_zeroing(b, r, IDM_BACKING_WRITE_ZEROES);
	check_zeroing(b, r, IDM_BACKING_UNMAP);
	idm_backing_close(b);
	unlink(spec + 5);
	idm_reactor_destroy(r);
}

static void test_file_uring(void **state)
{
	struct idm_reactor *r = idm_reactor_create(0);
	char path[200];
	struct idm_backing *b;

	assert_non_null(r);
	if (!have_uring(r)) {
		idm_reactor_destroy(r);
		skip();
	}
	b = open_file("uring.img", path, sizeof(path));
	check_zeroing(b, r, IDM_BACKING_WRITE_ZEROES);
	check_zeroing(b, r, IDM_BACKING_UNMAP);
	idm_backing_close(b);
	b = open_file("uring_holes.img", path, sizeof(path));
	check_holes(b, r, path);
	idm_backing_close(b);
	idm_reactor_destroy(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mem_zero_and_unmap), cmocka_unit_test(test_null_zero_and_unmap),
	    cmocka_unit_test(test_file_sync),          cmocka_unit_test(test_file_uring),
	    cmocka_unit_test(test_file_zero_fallback),
	};

	return cmocka_run_group_tests(tests, bt_make_dir, bt_remove_dir);
}
