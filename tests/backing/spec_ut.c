/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of size parsing and backing store specs (every error path). */
/* cmocka needs these first, in this order */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "idm/backing.h"

static void test_parse_size_table(void **state)
{
	static const struct {
		const char *text;
		uint64_t bytes;
	} good[] = {
	    {"1", 1},
	    {"4096", 4096},
	    {"1K", 1024},
	    {"1k", 1024},
	    {"512M", 512ull << 20},
	    {"1G", 1ull << 30},
	    {"3g", 3ull << 30},
	    {"2T", 2ull << 40},
	    {"16777215T", 16777215ull << 40},
	    {"18446744073709551615", UINT64_MAX},
	    {"007", 7},
	};
	static const char *const bad[] = {
	    "",
	    "0",
	    "0K",
	    "K",
	    "1KB",
	    "1 K",
	    " 1",
	    "-1",
	    "+1",
	    "1.5G",
	    "1X",
	    "1K ",
	    "0x10",
	    "1e3",
	    "G1",
	    "16777216T",
	    "18446744073709551616",
	    "99999999999999999999999",
	};
	uint64_t v;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = 0;
		assert_int_equal(idm_parse_size(good[i].text, &v), 0);
		assert_true(v == good[i].bytes);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 12345;
		if (idm_parse_size(bad[i], &v) != -EINVAL) {
			fail_msg("'%s' was accepted", bad[i]);
		}
		assert_true(v == 12345); /* untouched on failure */
	}
	assert_int_equal(idm_parse_size(NULL, &v), -EINVAL);
}

/* A scratch directory per test run. */
static char dir[64];

static int make_dir(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/idm_spec_ut_XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Open `spec`, expecting failure `rc` and an error line containing `msg`. */
static void expect_error(const char *spec, uint32_t bs, int rc, const char *msg)
{
	struct idm_backing *b = (struct idm_backing *)0x1;
	char err[512] = "";
	int got = idm_backing_open(spec, bs, &b, err, sizeof(err));

	if (got != rc || !strstr(err, msg) || strchr(err, '\n')) {
		fail_msg("spec '%s': got %d '%s', want %d with '%s'", spec ? spec : "(null)", got,
		         err, rc, msg);
	}
	assert_null(b);
}

static void write_file(const char *path, size_t len)
{
	char *data = calloc(1, len + 1);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_non_null(data);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
	free(data);
}

static void test_spec_errors(void **state)
{
	char spec[256], path[200];

	expect_error(NULL, 512, -EINVAL, "empty spec");
	expect_error("", 512, -EINVAL, "empty spec");
	expect_error("mem", 512, -EINVAL, "want KIND:");
	expect_error("disk:1G", 512, -EINVAL, "unknown kind 'disk'");
	expect_error("memory:1G", 512, -EINVAL, "unknown kind 'memory'");
	expect_error(":1G", 512, -EINVAL, "unknown kind ''");
	expect_error("mem:", 512, -EINVAL, "bad size ''");
	expect_error("mem:1Q", 512, -EINVAL, "bad size '1Q'");
	expect_error("mem:0", 512, -EINVAL, "bad size '0'");
	expect_error("null:-1M", 512, -EINVAL, "bad size '-1M'");
	expect_error("mem:1000", 512, -EINVAL, "size 1000 is not a multiple of the block size 512");
	expect_error("null:6K", 4096, -EINVAL, "not a multiple of the block size 4096");
	expect_error("mem:1M", 1000, -EINVAL, "block size 1000");
	expect_error("mem:1M", 0, -EINVAL, "block size 0");
	expect_error("mem:1M", 8192, -EINVAL, "block size 8192");
	expect_error("file:", 512, -EINVAL, "missing path");
	expect_error("file::1M", 512, -EINVAL, "missing path");
	expect_error("file:/x:1000", 512, -EINVAL, "not a multiple of the block size");
	expect_error("file:/nonexistent-idm-dir/x:1M", 512, -ENOENT,
	             "cannot open or create '/nonexistent-idm-dir/x': No such file");
	snprintf(spec, sizeof(spec), "file:%s/missing", dir);
	expect_error(spec, 512, -ENOENT, "does not exist (give a size");
	snprintf(spec, sizeof(spec), "file:%s/missing:1Q", dir);
	expect_error(spec, 512, -ENOENT, "(and '1Q' is not a valid size)");
	snprintf(spec, sizeof(spec), "file:%s", dir);
	expect_error(spec, 512, -EISDIR, "is a directory");
	snprintf(spec, sizeof(spec), "file:%s:1M", dir);
	expect_error(spec, 512, -EISDIR, "is a directory");
	expect_error("file:/dev/null", 512, -EINVAL, "not a regular file or a block device");
	snprintf(path, sizeof(path), "%s/empty", dir);
	write_file(path, 0);
	snprintf(spec, sizeof(spec), "file:%s", path);
	expect_error(spec, 512, -EINVAL, "is empty");
	snprintf(path, sizeof(path), "%s/odd", dir);
	write_file(path, 1000);
	snprintf(spec, sizeof(spec), "file:%s", path);
	expect_error(spec, 512, -EINVAL, "size 1000 of");
}

/* The file cannot grow to the asked size (RLIMIT_FSIZE stands in for a
 * full or read-only disk): the error says so and nothing is left behind. */
static void test_cannot_extend(void **state)
{
	struct rlimit old, small;
	char spec[256], path[200], err[512] = "";
	struct idm_backing *b = NULL;
	struct stat st;
	int rc;

	snprintf(path, sizeof(path), "%s/toobig", dir);
	snprintf(spec, sizeof(spec), "file:%s:2M", path);
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	small = old;
	small.rlim_cur = 1 << 20;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	rc = idm_backing_open(spec, 512, &b, err, sizeof(err));
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_int_equal(rc, -EFBIG);
	assert_null(b);
	assert_non_null(strstr(err, "cannot be extended to 2097152"));
	assert_int_equal(stat(path, &st), -1); /* created by us, so removed */
}

static void test_spec_success(void **state)
{
	char spec[256], path[200], err[512] = "";
	struct idm_backing *b = NULL;
	struct stat st;

	assert_int_equal(idm_backing_open("mem:1M", 512, &b, err, sizeof(err)), 0);
	assert_string_equal(b->ops->kind, "mem");
	assert_true(b->size == 1 << 20);
	assert_int_equal(b->block_size, 512);
	assert_false(b->discards_writes);
	assert_string_equal(b->desc, "mem:1M");
	idm_backing_close(b);

	assert_int_equal(idm_backing_open("null:1T", 4096, &b, err, sizeof(err)), 0);
	assert_string_equal(b->ops->kind, "null");
	assert_true(b->size == 1ull << 40);
	assert_true(b->discards_writes);
	assert_null(idm_backing_map(b, 0, 4096));
	idm_backing_close(b);

	/* A path with ':' in it; SIZE after the last ':'. */
	snprintf(path, sizeof(path), "%s/lun:0", dir);
	snprintf(spec, sizeof(spec), "file:%s:1M", path);
	assert_int_equal(idm_backing_open(spec, 512, &b, err, sizeof(err)), 0);
	assert_string_equal(b->ops->kind, "file");
	assert_true(b->size == 1 << 20);
	assert_string_equal(b->desc, spec);
	idm_backing_close(b);
	assert_int_equal(stat(path, &st), 0);
	assert_true(st.st_size == 1 << 20);
	/* Reopened without a size: the file's. */
	snprintf(spec, sizeof(spec), "file:%s", path);
	assert_int_equal(idm_backing_open(spec, 4096, &b, err, sizeof(err)), 0);
	assert_true(b->size == 1 << 20);
	idm_backing_close(b);
	idm_backing_close(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_size_table),
	    cmocka_unit_test(test_spec_errors),
	    cmocka_unit_test(test_cannot_extend),
	    cmocka_unit_test(test_spec_success),
	};

	return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
