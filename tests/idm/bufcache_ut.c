/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of the per-reactor buffer cache. */
/* cmocka needs these first, in this order */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <stdint.h>
#include <string.h>

#include "idm/reactor.h"
#include "idm/reactor_priv.h"

#define KiB ((size_t)1024)
#define MiB (KiB * 1024)

static bool aligned_4k(const void *p)
{
	return ((uintptr_t)p & 4095) == 0;
}

static void test_reuse_same_pointer(void **state)
{
	struct idm_reactor *r = idm_reactor_create(0);
	size_t cap = 0, cap2 = 0;
	void *a, *b;

	assert_non_null(r);
	a = idm_buf_get(r, 64 * KiB, &cap);
	assert_non_null(a);
	assert_int_equal(cap, 64 * KiB);
	memset(a, 0xab, cap); /* all of it is usable */
	idm_buf_put(r, a, cap);
	b = idm_buf_get(r, 40 * KiB, &cap2); /* same class */
	assert_ptr_equal(a, b);
	assert_int_equal(cap2, 64 * KiB);
	/* A different class does not take it. */
	idm_buf_put(r, b, cap2);
	a = idm_buf_get(r, 128 * KiB, &cap);
	assert_ptr_not_equal(a, b);
	idm_buf_put(r, a, cap);
	/* LIFO: the most recently freed comes back first. */
	a = idm_buf_get(r, 64 * KiB, &cap);
	b = idm_buf_get(r, 64 * KiB, &cap2);
	assert_ptr_not_equal(a, b);
	idm_buf_put(r, a, cap);
	idm_buf_put(r, b, cap2);
	assert_ptr_equal(idm_buf_get(r, 64 * KiB, &cap), b);
	assert_ptr_equal(idm_buf_get(r, 64 * KiB, &cap), a);
	idm_buf_put(r, a, cap);
	idm_buf_put(r, b, cap);
	idm_reactor_destroy(r); /* frees what is cached */
}

static void test_class_rounding(void **state)
{
	static const struct {
		size_t len, cap;
	} table[] = {
	    {0, 4 * KiB},           {1, 4 * KiB},
	    {4 * KiB, 4 * KiB},     {4 * KiB + 1, 8 * KiB},
	    {12 * KiB, 16 * KiB},   {1 * MiB, 1 * MiB},
	    {1 * MiB + 1, 2 * MiB}, {16 * MiB - 1, 16 * MiB},
	    {16 * MiB, 16 * MiB},
	};
	struct idm_reactor *r = idm_reactor_create(0);
	size_t i, cap;

	assert_non_null(r);
	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		void *p = idm_buf_get(r, table[i].len, &cap);

		assert_non_null(p);
		assert_int_equal(cap, table[i].cap);
		assert_true(aligned_4k(p));
		idm_buf_put(r, p, cap);
	}
	idm_reactor_destroy(r);
}

static void test_oversize(void **state)
{
	struct idm_reactor *r = idm_reactor_create(0);
	struct idm_bufcache *bc;
	size_t cap;
	void *p;

	assert_non_null(r);
	bc = idm_reactor_bufcache(r);
	p = idm_buf_get(r, 16 * MiB + 1, &cap);
	assert_non_null(p);
	assert_int_equal(cap, 16 * MiB + 4 * KiB);
	assert_true(aligned_4k(p));
	((char *)p)[cap - 1] = 1;
	idm_buf_put(r, p, cap); /* freed, not cached */
	assert_int_equal(bc->cached_bytes, 0);
	/* Absurd sizes fail cleanly. */
	assert_null(idm_buf_get(r, SIZE_MAX, &cap));
	idm_buf_put(r, NULL, 4096);
	idm_reactor_destroy(r);
}

static void test_no_reactor(void **state)
{
	size_t cap;
	void *p = idm_buf_get(NULL, 5000, &cap);

	assert_non_null(p);
	assert_int_equal(cap, 8 * KiB);
	assert_true(aligned_4k(p));
	idm_buf_put(NULL, p, cap);
	p = idm_buf_get(NULL, 100, NULL); /* cap is optional */
	assert_non_null(p);
	idm_buf_put(NULL, p, 4 * KiB);
}

static void test_cache_is_bounded(void **state)
{
	struct idm_reactor *r = idm_reactor_create(0);
	struct idm_bufcache *bc;
	void *p[6];
	size_t cap;
	int i;

	assert_non_null(r);
	bc = idm_reactor_bufcache(r);
	for (i = 0; i < 6; i++) {
		p[i] = idm_buf_get(r, 16 * MiB, &cap);
		assert_non_null(p[i]);
	}
	for (i = 0; i < 6; i++) {
		idm_buf_put(r, p[i], cap);
		assert_true(bc->cached_bytes <= IDM_BUF_CACHE_LIMIT);
	}
	assert_int_equal(bc->cached_bytes, IDM_BUF_CACHE_LIMIT);
	/* A cap that is no class (caller confusion) is freed, not cached. */
	p[0] = idm_buf_get(NULL, 12 * KiB, &cap);
	idm_buf_put(r, p[0], 12 * KiB);
	assert_int_equal(bc->cached_bytes, IDM_BUF_CACHE_LIMIT);
	idm_reactor_destroy(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reuse_same_pointer), cmocka_unit_test(test_class_rounding),
	    cmocka_unit_test(test_oversize),           cmocka_unit_test(test_no_reactor),
	    cmocka_unit_test(test_cache_is_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
