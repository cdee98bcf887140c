/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Per-connection log rate limit (src/idm/log_conn.c): the decision on a clock
 * the test drives, then the lines idm_log_conn really writes to stderr.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "idm/core_priv.h"

/* The first IDM_LOG_CONN_BURST lines pass, the rest are counted. */
static void test_burst_then_suppress(void **state)
{
	struct idm_log_limit l = {0};
	uint32_t summary;

	for (uint32_t i = 0; i < IDM_LOG_CONN_BURST; i++) {
		assert_true(idm_log_limit_admit(&l, 1000 + i, &summary));
		assert_int_equal(summary, 0);
	}
	for (int i = 0; i < 500; i++) {
		assert_false(idm_log_limit_admit(&l, 2000, &summary));
		assert_int_equal(summary, 0);
	}
	assert_int_equal(l.suppressed, 500);
}

/* A new window reports what the last one suppressed, once, and refills. */
static void test_window_summary(void **state)
{
	struct idm_log_limit l = {0};
	uint64_t t0 = 50000;
	uint32_t summary;

	for (uint32_t i = 0; i < IDM_LOG_CONN_BURST + 7; i++) {
		idm_log_limit_admit(&l, t0, &summary);
	}
	/* still the same window one millisecond before its end */
	assert_false(idm_log_limit_admit(&l, t0 + IDM_LOG_CONN_WINDOW_MS - 1, &summary));
	assert_int_equal(summary, 0);
	assert_true(idm_log_limit_admit(&l, t0 + IDM_LOG_CONN_WINDOW_MS, &summary));
	assert_int_equal(summary, 8);
	assert_true(idm_log_limit_admit(&l, t0 + IDM_LOG_CONN_WINDOW_MS + 1, &summary));
	assert_int_equal(summary, 0);
	/* a quiet window: no summary, full burst again */
	for (uint32_t i = 0; i < IDM_LOG_CONN_BURST; i++) {
		assert_true(idm_log_limit_admit(&l, t0 + 5 * IDM_LOG_CONN_WINDOW_MS, &summary));
		assert_int_equal(summary, 0);
	}
}

/* Run fn with stderr going to a file; return what was written (malloc'd). */
static char *capture_stderr(void (*fn)(struct idm_conn *c), struct idm_conn *c)
{
	char path[] = "/tmp/idm-log-ut.XXXXXX";
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);
	char *out = calloc(1, 1 << 16);
	ssize_t n;

	assert_true(fd >= 0 && saved >= 0 && out != NULL);
	unlink(path);
	dup2(fd, STDERR_FILENO);
	fn(c);
	dup2(saved, STDERR_FILENO);
	close(saved);
	n = pread(fd, out, (1 << 16) - 1, 0);
	assert_true(n >= 0);
	close(fd);
	return out;
}

static int count_lines(const char *s, const char *needle)
{
	int n = 0;

	for (const char *p = s; (p = strstr(p, needle)) != NULL; p++) {
		n++;
	}
	return n;
}

static void flood_then_close(struct idm_conn *c)
{
	for (int i = 0; i < 1000; i++) {
		idm_log_conn(c, "reject %d", i);
	}
	idm_log_conn_close(c, "closing for good");
	idm_log_conn_flush(c); /* nothing left to say */
}

/* 1000 lines in a burst: 10 printed, one summary, then the close reason. */
static void test_conn_lines(void **state)
{
	struct idm_conn *c = calloc(1, sizeof(*c));
	char *out;

	assert_non_null(c);
	snprintf(c->peer_name, sizeof(c->peer_name), "192.0.2.1:4000");
	out = capture_stderr(flood_then_close, c);
	assert_int_equal(count_lines(out, "\n"), IDM_LOG_CONN_BURST + 2);
	assert_int_equal(count_lines(out, "conn: 192.0.2.1:4000: reject "), IDM_LOG_CONN_BURST);
	assert_non_null(strstr(out, "conn: 192.0.2.1:4000: reject 9\n"));
	assert_null(strstr(out, "reject 10\n"));
	assert_non_null(strstr(out, "192.0.2.1:4000: 990 more messages suppressed\n"));
	assert_true(strstr(out, "suppressed") < strstr(out, "closing for good"));
	free(out);
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_burst_then_suppress),
	    cmocka_unit_test(test_window_summary),
	    cmocka_unit_test(test_conn_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
