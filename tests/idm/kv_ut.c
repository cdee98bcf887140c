/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests for the key=value text buffer and parser (src/idm/textbuf.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "idm/keys.h"

#define TEXT(lit) lit, sizeof(lit) - 1

/* Records what the parser delivered, "k=v;" per pair. */
struct rec {
	char log[256];
	int calls;
	int fail_at; /* return -EIO on this call (1-based), 0 never */
};

static int rec_fn(void *arg, const char *key, const char *value)
{
	struct rec *r = arg;
	size_t l = strlen(r->log);

	r->calls++;
	snprintf(r->log + l, sizeof(r->log) - l, "%s=%s;", key, value);
	return r->calls == r->fail_at ? -EIO : 0;
}

static int parse(const char *t, size_t len, struct rec *r)
{
	memset(r, 0, sizeof(*r));
	return idm_kv_parse(t, len, rec_fn, r);
}

static void test_textbuf_add(void **state)
{
	struct idm_textbuf t;

	idm_textbuf_init(&t);
	assert_int_equal(idm_textbuf_add(&t, "HeaderDigest", "None"), 0);
	assert_int_equal(idm_textbuf_addf(&t, "MaxBurstLength", "%u", 262144u), 0);
	assert_int_equal(t.len, sizeof("HeaderDigest=None\0MaxBurstLength=262144"));
	assert_memory_equal(t.buf, "HeaderDigest=None\0MaxBurstLength=262144", t.len);
	assert_false(t.overflow);
	idm_textbuf_free(&t);
	assert_null(t.buf);
}

static void test_textbuf_grows_and_resets(void **state)
{
	struct idm_textbuf t;
	char key[16];

	idm_textbuf_init(&t);
	for (int i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "X-k%d", i);
		assert_int_equal(idm_textbuf_addf(&t, key, "%d", i), 0);
	}
	assert_true(t.cap >= t.len);
	assert_memory_equal(t.buf, "X-k0=0", 7);
	idm_textbuf_reset(&t);
	assert_int_equal(t.len, 0);
	assert_non_null(t.buf);
	assert_int_equal(idm_textbuf_add(&t, "a", ""), 0);
	assert_memory_equal(t.buf, "a=", 3);
	idm_textbuf_free(&t);
}

static void test_parse_pairs(void **state)
{
	struct rec r;

	assert_int_equal(parse(TEXT("A=1\0B=two\0"), &r), 0);
	assert_string_equal(r.log, "A=1;B=two;");
}

static void test_parse_missing_trailing_nul(void **state)
{
	struct rec r;

	assert_int_equal(parse(TEXT("A=1\0B=two"), &r), 0);
	assert_string_equal(r.log, "A=1;B=two;");
}

static void test_parse_extra_trailing_nuls_and_empty(void **state)
{
	struct rec r;

	assert_int_equal(parse(TEXT("A=1\0\0\0\0"), &r), 0);
	assert_string_equal(r.log, "A=1;");
	assert_int_equal(parse(TEXT(""), &r), 0);
	assert_int_equal(r.calls, 0);
	assert_int_equal(parse(NULL, 0, &r), 0);
}

static void test_parse_value_with_equals_and_empty(void **state)
{
	struct rec r;

	assert_int_equal(parse(TEXT("A=b=c\0B=\0"), &r), 0);
	assert_string_equal(r.log, "A=b=c;B=;");
}

static void test_parse_no_equals(void **state)
{
	struct rec r;

	assert_int_equal(parse(TEXT("A=1\0Bogus\0"), &r), -EINVAL);
	assert_int_equal(r.calls, 0); /* nothing delivered from bad text */
}

static void test_parse_empty_key(void **state)
{
	struct rec r;

	assert_int_equal(parse(TEXT("=value\0"), &r), -EINVAL);
}

static void test_parse_key_length_limit(void **state)
{
	char t[128];
	struct rec r;

	memset(t, 'K', IDM_KEY_NAME_MAX - 1);
	strcpy(t + IDM_KEY_NAME_MAX - 1, "=v");
	assert_int_equal(parse(t, strlen(t) + 1, &r), 0);
	memset(t, 'K', IDM_KEY_NAME_MAX);
	strcpy(t + IDM_KEY_NAME_MAX, "=v");
	assert_int_equal(parse(t, strlen(t) + 1, &r), -EINVAL);
}

static void test_parse_value_length_limit(void **state)
{
	size_t len = 2 + IDM_VALUE_MAX + 1;
	char *t = malloc(len + 1);
	struct rec r;

	memcpy(t, "A=", 2);
	memset(t + 2, 'v', IDM_VALUE_MAX);
	t[2 + IDM_VALUE_MAX] = '\0';
	assert_int_equal(parse(t, 2 + IDM_VALUE_MAX + 1, &r), 0);
	t[2 + IDM_VALUE_MAX] = 'v';
	t[3 + IDM_VALUE_MAX] = '\0';
	assert_int_equal(parse(t, len + 1, &r), -EINVAL);
	free(t);
}

static void test_parse_garbage(void **state)
{
	struct rec r;

	assert_int_equal(parse(TEXT("A=1\0\0B=2\0"), &r), -EINVAL); /* empty pair */
	assert_int_equal(parse(TEXT("A=x\x01y\0"), &r), -EINVAL);   /* control byte */
	assert_int_equal(parse(TEXT("A B=1\0"), &r), -EINVAL);      /* space in name */
	assert_int_equal(parse(TEXT("K\xff=1\0"), &r), -EINVAL);    /* 8-bit name */
	assert_int_equal(parse(TEXT("\n=1\0"), &r), -EINVAL);
	assert_int_equal(parse(TEXT("A=1\0\xde\xad\xbe\xef"), &r), -EINVAL);
	assert_int_equal(r.calls, 0);
}

static void test_parse_utf8_value(void **state)
{
	struct rec r;

	assert_int_equal(parse(TEXT("InitiatorAlias=h\xc3\xb4te\0"), &r), 0);
	assert_string_equal(r.log, "InitiatorAlias=h\xc3\xb4te;");
}

static void test_parse_repeated_key(void **state)
{
	struct rec r;

	assert_int_equal(parse(TEXT("A=1\0B=2\0A=3\0"), &r), -EINVAL);
	assert_int_equal(r.calls, 0);
}

static void test_parse_sendtargets_repeats(void **state)
{
	struct rec r;

	assert_int_equal(parse(TEXT("TargetName=t1\0TargetAddress=a:3260,1\0"
	                            "TargetName=t2\0TargetAddress=b:3260,1\0"),
	                       &r),
	                 0);
	assert_int_equal(r.calls, 4);
}

static void test_parse_callback_error_stops(void **state)
{
	struct rec r;

	memset(&r, 0, sizeof(r));
	r.fail_at = 2;
	assert_int_equal(idm_kv_parse(TEXT("A=1\0B=2\0C=3\0"), rec_fn, &r), -EIO);
	assert_int_equal(r.calls, 2);
}

static int count_fn(void *arg, const char *key, const char *value)
{
	(*(int *)arg)++;
	return 0;
}

/* 64 KiB of distinct tiny keys: linear, and one repeat at the end is seen. */
static void test_parse_64k(void **state)
{
	size_t cap = 65536, len = 0;
	char *t = malloc(cap);
	int n = 0, count = 0;

	while (len + 16 < cap) {
		len += (size_t)snprintf(t + len, cap - len, "X-%x=1", n++) + 1;
	}
	assert_int_equal(idm_kv_parse(t, len, count_fn, &count), 0);
	assert_int_equal(count, n);
	len += (size_t)snprintf(t + len, cap - len, "X-0=1") + 1;
	count = 0;
	assert_int_equal(idm_kv_parse(t, len, count_fn, &count), -EINVAL);
	assert_int_equal(count, 0);
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_textbuf_add),
	    cmocka_unit_test(test_textbuf_grows_and_resets),
	    cmocka_unit_test(test_parse_pairs),
	    cmocka_unit_test(test_parse_missing_trailing_nul),
	    cmocka_unit_test(test_parse_extra_trailing_nuls_and_empty),
	    cmocka_unit_test(test_parse_value_with_equals_and_empty),
	    cmocka_unit_test(test_parse_no_equals),
	    cmocka_unit_test(test_parse_empty_key),
	    cmocka_unit_test(test_parse_key_length_limit),
	    cmocka_unit_test(test_parse_value_length_limit),
	    cmocka_unit_test(test_parse_garbage),
	    cmocka_unit_test(test_parse_utf8_value),
	    cmocka_unit_test(test_parse_repeated_key),
	    cmocka_unit_test(test_parse_sendtargets_repeats),
	    cmocka_unit_test(test_parse_callback_error_stops),
	    cmocka_unit_test(test_parse_64k),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
