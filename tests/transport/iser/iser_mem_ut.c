/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of the device-backed pool memory that run without a device. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "transport/iser/iser_mem.h"

/* Allocation is page-aligned; registration without a PD fails cleanly. */
static void test_ops_without_device(void **state)
{
	struct iser_rdma_mem mem = {.pd = NULL, .remote = false};
	struct iser_mem_ops ops;
	struct iser_pool pool;
	void *handle = NULL;
	uint32_t lkey = 0, rkey = 0;
	void *p;

	(void)state;
	iser_mem_ops_rdma(&ops, &mem);
	assert_ptr_equal(ops.ctx, &mem);
	p = ops.alloc(ops.ctx, 8192);
	assert_non_null(p);
	assert_int_equal((uintptr_t)p % 4096, 0);
	assert_int_equal(ops.reg(ops.ctx, p, 8192, &handle, &lkey, &rkey), -EINVAL);
	assert_null(handle);
	ops.free(ops.ctx, p, 8192);
	/* a pool over it fails to create and leaks nothing */
	assert_int_equal(iser_pool_create(&pool, &ops, 4, 4096), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ops_without_device),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
