/* SPDX-License-Identifier: BSD-3-Clause */
/* MODE SENSE(6) and MODE SENSE(10). */
#include <stdlib.h>
#include <string.h>

#include "idm/wire.h"
#include "scsi_test.h"

static int env_setup(void **state)
{
	*state = t_env_new(512, 4096, true);
	return 0;
}

static int env_teardown(void **state)
{
	t_env_free(*state);
	return 0;
}

static int sense6(struct t_env *e, uint8_t b1, uint8_t pc, uint8_t page, uint8_t sub, uint8_t alloc)
{
	const uint8_t cdb[6] = {0x1a, b1, (uint8_t)(pc << 6 | page), sub, alloc, 0};

	return t_run(e, cdb, 6);
}

static int sense10(struct t_env *e, uint8_t b1, uint8_t pc, uint8_t page, uint16_t alloc)
{
	uint8_t cdb[10] = {0x5a, b1, (uint8_t)(pc << 6 | page), 0};

	put_be16(cdb + 7, alloc);
	return t_run(e, cdb, 10);
}

static void test_all_pages6(void **state)
{
	struct t_env *e = *state;
	const uint8_t *d = e->buf;

	assert_int_equal(sense6(e, 0, 0, 0x3f, 0, 255), 0);
	t_expect_good(e);
	/* 4 header + 8 block descriptor + 20 caching + 12 control + 12 IE */
	assert_int_equal(e->cmd.data_len, 56);
	assert_int_equal(d[0], 55);
	assert_int_equal(d[1], 0);
	assert_int_equal(d[2], 0x10); /* DPOFUA, not write protected */
	assert_int_equal(d[3], 8);
	assert_int_equal(get_be32(d + 4), 4096);
	assert_int_equal(get_be24(d + 9), 512);
	assert_int_equal(d[12], 0x08);
	assert_int_equal(d[13], 18);
	assert_int_equal(d[14] & 0x04, 0x04); /* WCE */
	assert_int_equal(d[32], 0x0a);
	assert_int_equal(d[33], 10);
	assert_int_equal(d[34] & 0x04, 0); /* D_SENSE: fixed format */
	assert_int_equal(d[44], 0x1c);
	assert_int_equal(d[45], 10);
	assert_int_equal(d[46] & 0x08, 0x08); /* DEXCPT */
}

static void test_all_subpages6(void **state)
{
	struct t_env *e = *state;

	assert_int_equal(sense6(e, 0, 0, 0x3f, 0xff, 255), 0);
	t_expect_good(e);
	assert_int_equal(e->cmd.data_len, 56);
}

static void test_dbd(void **state)
{
	struct t_env *e = *state;

	assert_int_equal(sense6(e, 0x08, 0, 0x08, 0, 255), 0);
	t_expect_good(e);
	assert_int_equal(e->cmd.data_len, 24);
	assert_int_equal(e->buf[0], 23);
	assert_int_equal(e->buf[3], 0);
	assert_int_equal(e->buf[4], 0x08);
}

static void test_caching_wce_follows_lu(void **state)
{
	struct t_env *e = *state;

	e->lu->write_cache = false;
	assert_int_equal(sense6(e, 0x08, 0, 0x08, 0, 255), 0);
	assert_int_equal(e->buf[6] & 0x04, 0);
	/* The default stays write-back. */
	assert_int_equal(sense6(e, 0x08, 2, 0x08, 0, 255), 0);
	assert_int_equal(e->buf[6] & 0x04, 0x04);
}

/* Only WCE (caching page, byte 2, bit 2) is changeable. */
static void test_changeable_only_wce(void **state)
{
	struct t_env *e = *state;
	int i;

	assert_int_equal(sense6(e, 0x08, 1, 0x3f, 0, 255), 0);
	t_expect_good(e);
	assert_int_equal(e->cmd.data_len, 48);
	for (i = 4; i < 48; i += 2 + e->buf[i + 1]) {
		int j;

		for (j = 2; j < 2 + e->buf[i + 1]; j++) {
			bool wce = e->buf[i] == 0x08 && j == 2;

			assert_int_equal(e->buf[i + j], wce ? 0x04 : 0);
		}
	}
}

static void test_saved_not_supported(void **state)
{
	struct t_env *e = *state;

	assert_int_equal(sense6(e, 0, 3, 0x3f, 0, 255), 1);
	t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_SAVING_PARAMS_NOT_SUPPORTED);
}

static void test_unknown_page(void **state)
{
	struct t_env *e = *state;

	assert_int_equal(sense6(e, 0, 0, 0x19, 0, 255), 1);
	t_expect_field(e, 2, 5);
	assert_int_equal(sense10(e, 0, 0, 0x01, 255), 1);
	t_expect_field(e, 2, 5);
}

static void test_unknown_subpage(void **state)
{
	struct t_env *e = *state;

	assert_int_equal(sense6(e, 0, 0, 0x08, 1, 255), 1);
	t_expect_field(e, 3, -1);
	assert_int_equal(sense6(e, 0, 0, 0x0a, 0xff, 255), 1);
	t_expect_field(e, 3, -1);
}

static void test_truncation(void **state)
{
	struct t_env *e = *state;

	memset(e->buf, 0xee, 16);
	assert_int_equal(sense6(e, 0, 0, 0x3f, 0, 4), 0);
	t_expect_good(e);
	assert_int_equal(e->cmd.data_len, 4);
	assert_int_equal(e->buf[0], 55); /* full length even when truncated */
	assert_int_equal(e->buf[4], 0xee);
}

static void test_sense10_short_descriptor(void **state)
{
	struct t_env *e = *state;
	const uint8_t *d = e->buf;

	assert_int_equal(sense10(e, 0, 0, 0x0a, 512), 0);
	t_expect_good(e);
	assert_int_equal(e->cmd.data_len, 8 + 8 + 12);
	assert_int_equal(get_be16(d), 26);
	assert_int_equal(d[3], 0x10);
	assert_int_equal(d[4], 0);
	assert_int_equal(get_be16(d + 6), 8);
	assert_int_equal(get_be32(d + 8), 4096);
	assert_int_equal(d[16], 0x0a);
}

static void test_sense10_long_descriptor(void **state)
{
	struct t_env *e = *state;
	const uint8_t *d = e->buf;

	assert_int_equal(sense10(e, 0x10, 0, 0x1c, 512), 0);
	t_expect_good(e);
	assert_int_equal(e->cmd.data_len, 8 + 16 + 12);
	assert_int_equal(d[4] & 0x01, 1); /* LONGLBA */
	assert_int_equal(get_be16(d + 6), 16);
	assert_int_equal(get_be64(d + 8), 4096);
	assert_int_equal(get_be32(d + 20), 512);
	assert_int_equal(d[24], 0x1c);
}

static void test_sense10_dbd_llbaa(void **state)
{
	struct t_env *e = *state;

	assert_int_equal(sense10(e, 0x18, 0, 0x3f, 512), 0);
	assert_int_equal(e->cmd.data_len, 8 + 44);
	assert_int_equal(e->buf[4], 0);
	assert_int_equal(get_be16(e->buf + 6), 0);
}

static void test_huge_lu_descriptor(void **state)
{
	struct t_env *e = t_env_new(512, 1ull << 33, false);

	assert_int_equal(sense6(e, 0, 0, 0x08, 0, 255), 0);
	assert_int_equal(get_be32(e->buf + 4), 0xffffffffu);
	t_env_free(e);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, env_setup, env_teardown)
	const struct CMUnitTest tests[] = {
	    T(test_all_pages6),
	    T(test_all_subpages6),
	    T(test_dbd),
	    T(test_caching_wce_follows_lu),
	    T(test_changeable_only_wce),
	    T(test_saved_not_supported),
	    T(test_unknown_page),
	    T(test_unknown_subpage),
	    T(test_truncation),
	    T(test_sense10_short_descriptor),
	    T(test_sense10_long_descriptor),
	    T(test_sense10_dbd_llbaa),
	    cmocka_unit_test(test_huge_lu_descriptor),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
