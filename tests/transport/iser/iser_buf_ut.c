/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of the copy threshold and the pre-registered pool (fake registrar). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "transport/iser/iser_buf.h"

/* A fake device: counts calls, can be told to fail. */
struct fake {
	int allocs, frees, regs, deregs;
	int reg_rc;
	bool alloc_fails;
	int handle;
};

static void *fake_alloc(void *ctx, size_t len)
{
	struct fake *f = ctx;

	if (f->alloc_fails) {
		return NULL;
	}
	f->allocs++;
	return malloc(len);
}

static void fake_free(void *ctx, void *mem, size_t len)
{
	struct fake *f = ctx;

	(void)len;
	f->frees++;
	free(mem);
}

static int fake_reg(void *ctx, void *mem, size_t len, void **handle, uint32_t *lkey, uint32_t *rkey)
{
	struct fake *f = ctx;

	(void)mem;
	(void)len;
	if (f->reg_rc) {
		return f->reg_rc;
	}
	f->regs++;
	*handle = &f->handle;
	*lkey = 0x1111;
	*rkey = 0x2222;
	return 0;
}

static void fake_dereg(void *ctx, void *handle)
{
	struct fake *f = ctx;

	assert_ptr_equal(handle, &f->handle);
	f->deregs++;
}

static struct iser_mem_ops ops_for(struct fake *f)
{
	struct iser_mem_ops ops = {fake_alloc, fake_free, fake_reg, fake_dereg, f};

	return ops;
}

/* Below the threshold copies; at or above it (or too big for a buffer) registers. */
static void test_threshold(void **state)
{
	size_t t = ISER_COPY_THRESHOLD_DEFAULT;

	(void)state;
	assert_int_equal(t, 131072);
	assert_int_equal(iser_buf_path(0, t, t), ISER_BUF_COPY);
	assert_int_equal(iser_buf_path(4096, t, t), ISER_BUF_COPY);
	assert_int_equal(iser_buf_path(t - 1, t, t), ISER_BUF_COPY);
	assert_int_equal(iser_buf_path(t, t, t), ISER_BUF_REGISTER);
	assert_int_equal(iser_buf_path(1 << 20, t, t), ISER_BUF_REGISTER);
	assert_int_equal(iser_buf_path(8192, t, 4096), ISER_BUF_REGISTER);
	assert_int_equal(iser_buf_path(8192, 0, t), ISER_BUF_REGISTER);
}

/* One registration for the whole pool; buffers are disjoint slices of it. */
static void test_pool_get_put(void **state)
{
	struct fake f = {0};
	struct iser_mem_ops ops = ops_for(&f);
	struct iser_pool p;
	struct iser_pool_buf *b[4];

	(void)state;
	assert_int_equal(iser_pool_create(&p, &ops, 4, 8192), 0);
	assert_int_equal(f.regs, 1);
	for (int i = 0; i < 4; i++) {
		b[i] = iser_pool_get(&p);
		assert_non_null(b[i]);
		assert_int_equal(b[i]->cap, 8192);
		assert_int_equal(b[i]->lkey, 0x1111);
		assert_int_equal(b[i]->rkey, 0x2222);
		memset(b[i]->addr, i, b[i]->cap);
	}
	assert_null(iser_pool_get(&p));
	assert_int_equal(p.nfree, 0);
	assert_int_equal(iser_pool_put(&p, b[2]), 0);
	assert_ptr_equal(iser_pool_get(&p), b[2]);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(iser_pool_put(&p, b[i]), 0);
	}
	assert_int_equal(p.nfree, 4);
	iser_pool_destroy(&p);
	assert_int_equal(f.deregs, 1);
	assert_int_equal(f.frees, 1);
}

/* Double puts and foreign buffers are refused, not corrupting the list. */
static void test_pool_put_rejects(void **state)
{
	struct fake f = {0};
	struct iser_mem_ops ops = ops_for(&f);
	struct iser_pool p;
	struct iser_pool_buf stray = {0}, *b;

	(void)state;
	assert_int_equal(iser_pool_create(&p, &ops, 2, 4096), 0);
	b = iser_pool_get(&p);
	assert_int_equal(iser_pool_put(&p, b), 0);
	assert_int_equal(iser_pool_put(&p, b), -EINVAL);
	stray.in_use = true;
	assert_int_equal(iser_pool_put(&p, &stray), -EINVAL);
	assert_int_equal(iser_pool_put(&p, (struct iser_pool_buf *)((char *)b + 1)), -EINVAL);
	assert_int_equal(iser_pool_put(&p, NULL), -EINVAL);
	assert_int_equal(p.nfree, 2);
	iser_pool_destroy(&p);
}

/* Bad sizes, allocation and registration failures leave nothing behind. */
static void test_pool_create_errors(void **state)
{
	struct fake f = {0};
	struct iser_mem_ops ops = ops_for(&f);
	struct iser_mem_ops bad = ops;
	struct iser_pool p;

	(void)state;
	assert_int_equal(iser_pool_create(&p, &ops, 0, 4096), -EINVAL);
	assert_int_equal(iser_pool_create(&p, &ops, 4, 0), -EINVAL);
	assert_int_equal(iser_pool_create(&p, &ops, 4, SIZE_MAX / 2), -EINVAL);
	assert_int_equal(iser_pool_create(NULL, &ops, 4, 4096), -EINVAL);
	bad.reg = NULL;
	assert_int_equal(iser_pool_create(&p, &bad, 4, 4096), -EINVAL);
	f.alloc_fails = true;
	assert_int_equal(iser_pool_create(&p, &ops, 4, 4096), -ENOMEM);
	f.alloc_fails = false;
	f.reg_rc = -ENOMEM;
	assert_int_equal(iser_pool_create(&p, &ops, 4, 4096), -ENOMEM);
	assert_int_equal(f.allocs, f.frees);
	assert_null(iser_pool_get(&p));
	iser_pool_destroy(&p); /* harmless after a failed create */
	assert_int_equal(f.deregs, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_threshold),
	    cmocka_unit_test(test_pool_get_put),
	    cmocka_unit_test(test_pool_put_rejects),
	    cmocka_unit_test(test_pool_create_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
