/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Hostile lengths in CDBs and parameter lists: every length a command
 * takes from the network at its extremes (0, just short, just past, all
 * ones, values whose sums wrap 32 bits), each refused with the sense
 * SPC-4 / SBC-3 give, and nothing read or written outside the list or
 * the LU. Parameter lists are placed in a buffer whose bytes past the
 * list hold a valid-looking stale copy, which must never be used.
 */
#include <stdlib.h>
#include <string.h>

#include "idm/wire.h"
#include "scsi_test.h"

#define BS T_ENV_BS
#define BLOCKS T_ENV_BLOCKS
#define STALE 0xa5

/* Run `cdb` with `list` (len bytes) as its parameter list, the rest of a
 * 64 KiB buffer filled with STALE; returns setup's rc. */
static int run_list(struct t_env *e, const uint8_t *cdb, const uint8_t *list, uint32_t len)
{
	memset(e->buf, STALE, 64 << 10);
	memcpy(e->buf, list, len);
	return t_run(e, cdb, 16);
}

/* No block of the LU changed from the fake store's initial pattern. */
static void expect_medium_untouched(struct t_env *e)
{
	struct fake_store *ref = fake_store_new(BS, (uint64_t)BLOCKS * BS, true);

	assert_memory_equal(e->fs->mem, ref->mem, (size_t)BLOCKS * BS);
	ref->b.ops->close(&ref->b);
}

static void expect_list_length_error(struct t_env *e)
{
	t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_PARAM_LIST_LENGTH_ERROR);
}

/* ---- UNMAP ---- */

static void unmap_cdb(uint8_t *cdb, uint16_t len)
{
	memset(cdb, 0, 16);
	cdb[0] = 0x42;
	put_be16(cdb + 7, len);
}

static void test_unmap_lengths(void **state)
{
	struct t_env *e = *state;
	uint8_t cdb[16], list[64 << 10];

	memset(list, 0, sizeof(list));
	/* Shorter than the header. */
	for (uint16_t len = 1; len < 8; len++) {
		unmap_cdb(cdb, len);
		assert_int_equal(t_run(e, cdb, 16), 1);
		expect_list_length_error(e);
	}
	/* A descriptor length past the list: only what was sent counts;
	 * the stale bytes after it (all A5h) would be out of range. */
	unmap_cdb(cdb, 24);
	put_be16(list + 2, 0xffff);
	put_be64(list + 8, 10);
	put_be32(list + 16, 2);
	assert_int_equal(run_list(e, cdb, list, 24), 0);
	t_expect_good(e);
	assert_int_equal(e->fs->unmaps, 1);
	/* A partial trailing descriptor is ignored, not read. */
	unmap_cdb(cdb, 8 + 16 + 15);
	assert_int_equal(run_list(e, cdb, list, 8 + 16 + 15), 0);
	t_expect_good(e);
	/* Ranges that wrap or pass the end. */
	{
		static const struct {
			uint64_t lba;
			uint32_t n;
		} bad[] = {{UINT64_MAX, 1},
		           {UINT64_MAX - 1, 2},
		           {0, UINT32_MAX},
		           {BLOCKS, 1},
		           {BLOCKS - 1, 2},
		           {1ull << 63, 1u << 31},
		           {UINT64_MAX - 0xfffe, 0xffff}};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			unmap_cdb(cdb, 24);
			put_be16(list + 2, 16);
			put_be64(list + 8, bad[i].lba);
			put_be32(list + 16, bad[i].n);
			assert_int_equal(run_list(e, cdb, list, 24), 0);
			t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
		}
	}
	/* More descriptors than the Block Limits page allows. */
	unmap_cdb(cdb, 0xffff);
	memset(list, 0, sizeof(list));
	put_be16(list + 2, 0xfff0);
	assert_int_equal(run_list(e, cdb, list, 0xffff), 0);
	t_expect_param(e, 2);
	/* A good descriptor after a bad one: nothing is unmapped. */
	e->fs->unmaps = 0;
	unmap_cdb(cdb, 40);
	put_be16(list + 2, 32);
	put_be64(list + 8, 0);
	put_be32(list + 16, 4);
	put_be64(list + 24, BLOCKS);
	put_be32(list + 32, 1);
	assert_int_equal(run_list(e, cdb, list, 40), 0);
	t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
	assert_int_equal(e->fs->unmaps, 0);
}

/* ---- MODE SELECT ---- */

static void mode_select_cdb(uint8_t *cdb, bool ten, uint16_t len)
{
	memset(cdb, 0, 16);
	cdb[0] = ten ? 0x55 : 0x15;
	cdb[1] = 0x10; /* PF */
	if (ten) {
		put_be16(cdb + 7, len);
	} else {
		cdb[4] = (uint8_t)len;
	}
}

static void test_mode_select_lengths(void **state)
{
	struct t_env *e = *state;
	uint8_t cdb[16], list[64 << 10];
	bool wce = e->lu->write_cache;

	memset(list, 0, sizeof(list));
	/* Shorter than the header. */
	mode_select_cdb(cdb, true, 7);
	assert_int_equal(run_list(e, cdb, list, 7), 0);
	expect_list_length_error(e);
	mode_select_cdb(cdb, false, 3);
	assert_int_equal(run_list(e, cdb, list, 3), 0);
	expect_list_length_error(e);
	/* Block descriptor lengths past the list. */
	mode_select_cdb(cdb, true, 16);
	put_be16(list + 6, 0xffff);
	assert_int_equal(run_list(e, cdb, list, 16), 0);
	expect_list_length_error(e);
	put_be16(list + 6, 9);
	assert_int_equal(run_list(e, cdb, list, 16), 0);
	expect_list_length_error(e);
	memset(list, 0, 16);
	mode_select_cdb(cdb, false, 12);
	list[3] = 0xff;
	assert_int_equal(run_list(e, cdb, list, 12), 0);
	expect_list_length_error(e);
	/* A page whose length runs past the list, or whose header is cut. */
	memset(list, 0, 64);
	mode_select_cdb(cdb, true, 8 + 20);
	list[8] = 0x08;
	list[9] = 0xff;
	assert_int_equal(run_list(e, cdb, list, 8 + 20), 0);
	expect_list_length_error(e);
	mode_select_cdb(cdb, true, 8 + 20 + 1);
	list[9] = 18;
	list[10] = wce ? 0x04 : 0;
	list[28] = 0x0a;
	assert_int_equal(run_list(e, cdb, list, 8 + 20 + 1), 0);
	expect_list_length_error(e);
	/* A page length that is not the page's. */
	mode_select_cdb(cdb, true, 8 + 20);
	list[9] = 17;
	assert_int_equal(run_list(e, cdb, list, 8 + 20), 0);
	t_expect_param(e, 9);
	/* The largest list, all zeros: page 0 is unknown. */
	memset(list, 0, sizeof(list));
	mode_select_cdb(cdb, true, 0xffff);
	assert_int_equal(run_list(e, cdb, list, 0xffff), 0);
	t_expect_param(e, 8);
	assert_int_equal(e->lu->write_cache, wce);
}

/* ---- WRITE SAME ---- */

static void test_write_same_lengths(void **state)
{
	struct t_env *e = *state;
	static const struct {
		uint64_t lba;
		uint32_t n;
		uint16_t asc;
	} bad[] = {
	    {0, UINT32_MAX, SCSI_ASC_INVALID_FIELD_IN_CDB},
	    {0, (16u << 20) / BS + 1, SCSI_ASC_INVALID_FIELD_IN_CDB},
	    {UINT64_MAX, 1, SCSI_ASC_LBA_OUT_OF_RANGE},
	    {UINT64_MAX, 0, SCSI_ASC_LBA_OUT_OF_RANGE},
	    {BLOCKS + 1, 0, SCSI_ASC_LBA_OUT_OF_RANGE},
	    {BLOCKS - 1, 2, SCSI_ASC_LBA_OUT_OF_RANGE},
	    {UINT64_MAX - 3, 8, SCSI_ASC_LBA_OUT_OF_RANGE},
	};
	uint8_t cdb[16], block[BS];

	memset(block, 0x11, sizeof(block));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		t_cdb16(cdb, 0x93, 0, bad[i].lba, bad[i].n);
		assert_int_equal(run_list(e, cdb, block, BS), 1);
		t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, bad[i].asc);
	}
	/* WRITE SAME(10): its 16-bit count and 32-bit LBA at the extremes. */
	t_cdb10(cdb, 0x41, 0, UINT32_MAX, 0xffff);
	assert_int_equal(run_list(e, cdb, block, BS), 1);
	t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
	/* An EXPECTED DATA TRANSFER LENGTH other than one block. */
	e->edtl = UINT32_MAX;
	t_cdb16(cdb, 0x93, 0, 0, 4);
	assert_int_equal(run_list(e, cdb, block, BS), 1);
	t_expect_field(e, 10, -1);
	e->edtl = BS - 1;
	assert_int_equal(run_list(e, cdb, block, BS), 1);
	e->edtl = 0;
	expect_medium_untouched(e);
}

/* ---- COMPARE AND WRITE ---- */

static void caw_cdb(uint8_t *cdb, uint64_t lba, uint8_t n)
{
	memset(cdb, 0, 16);
	cdb[0] = 0x89;
	put_be64(cdb + 2, lba);
	cdb[13] = n;
}

static void test_caw_lengths(void **state)
{
	static const uint32_t edtls[] = {1, BS, 2 * BS - 1, 2 * BS + 1, UINT32_MAX};
	struct t_env *e = *state;
	uint8_t cdb[16];

	caw_cdb(cdb, UINT64_MAX, 1);
	assert_int_equal(t_run(e, cdb, 16), 1);
	t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
	caw_cdb(cdb, UINT64_MAX - 254, 255);
	assert_int_equal(t_run(e, cdb, 16), 1);
	t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
	caw_cdb(cdb, BLOCKS - 254, 255);
	assert_int_equal(t_run(e, cdb, 16), 1);
	t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
	/* The largest count: both halves, 2 x 255 blocks, no more. */
	caw_cdb(cdb, 0, 255);
	assert_int_equal(t_run(e, cdb, 16), 0);
	assert_int_equal(e->cmd.xfer_len, 2 * 255 * BS);
	/* An EXPECTED DATA TRANSFER LENGTH other than both halves. */
	for (size_t i = 0; i < sizeof(edtls) / sizeof(edtls[0]); i++) {
		e->edtl = edtls[i];
		caw_cdb(cdb, 0, 1);
		assert_int_equal(t_run(e, cdb, 16), 1);
		t_expect_field(e, 13, -1);
	}
	e->edtl = 0;
	expect_medium_untouched(e);
}

/* With 64 KiB blocks, 255 blocks each way would be 33 MB of data-out:
 * the limit is one WRITE's worth, as the Block Limits page says. */
static void test_caw_large_blocks(void **state)
{
	struct t_env *e = t_env_new(65536, 512, false);
	uint8_t cdb[16], vpd[16] = {0x12, 0x01, 0xb0, 0x01, 0x00};

	(void)state;
	assert_int_equal(t_run(e, vpd, 6), 0);
	assert_int_equal(e->buf[5], 128);
	caw_cdb(cdb, 0, 129);
	assert_int_equal(t_run(e, cdb, 16), 1);
	t_expect_field(e, 13, -1);
	caw_cdb(cdb, 0, 255);
	assert_int_equal(t_run(e, cdb, 16), 1);
	t_expect_field(e, 13, -1);
	caw_cdb(cdb, 0, 128);
	assert_int_equal(t_run(e, cdb, 16), 0);
	assert_int_equal(e->cmd.xfer_len, 16u << 20);
	t_env_free(e);
}

/* ---- EXTENDED COPY ---- */

static void xcopy_cdb(uint8_t *cdb, uint32_t len)
{
	memset(cdb, 0, 16);
	cdb[0] = 0x83;
	put_be32(cdb + 10, len);
}

/* A list with one E4h target (this LU) and `nseg` copies of a segment. */
static uint32_t xcopy_list(struct t_env *e, uint8_t *p, unsigned nseg, uint16_t n, uint64_t src,
                           uint64_t dst)
{
	uint8_t *d = p + 16;

	memset(p, 0, 16 + 32 + nseg * 28);
	put_be16(p + 2, 32);
	put_be32(p + 8, nseg * 28);
	d[0] = 0xe4;
	d[4] = 0x01;
	d[5] = 0x03;
	d[7] = 16;
	memcpy(d + 8, e->lu->naa, 16);
	put_be24(d + 29, BS);
	for (unsigned i = 0; i < nseg; i++) {
		uint8_t *s = p + 48 + i * 28;

		s[0] = 0x02;
		put_be16(s + 2, 24);
		put_be16(s + 10, n);
		put_be64(s + 12, src);
		put_be64(s + 20, dst);
	}
	return 16 + 32 + nseg * 28;
}

static void test_xcopy_lengths(void **state)
{
	struct t_env *e = *state;
	uint8_t cdb[16], list[8192];
	uint32_t len;

	/* The CDB's list length: past the largest list, all ones. */
	xcopy_cdb(cdb, 16 + 4096 + 1);
	assert_int_equal(t_run(e, cdb, 16), 1);
	expect_list_length_error(e);
	xcopy_cdb(cdb, UINT32_MAX);
	assert_int_equal(t_run(e, cdb, 16), 1);
	expect_list_length_error(e);
	/* Shorter than its header. */
	xcopy_cdb(cdb, 15);
	assert_int_equal(run_list(e, cdb, list, 0), 0);
	expect_list_length_error(e);
	/* Descriptor list lengths past the list, or wrapping 32 bits. */
	{
		static const struct {
			uint16_t tgt;
			uint32_t seg;
		} bad[] = {{0xffff, 28}, {32, UINT32_MAX}, {32, 0xfffffff0u},  {0xffe0, 0x10020u},
		           {32, 29},     {33, 28},         {32, 4096 - 32 + 1}};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			len = xcopy_list(e, list, 1, 1, 0, 10);
			put_be16(list + 2, bad[i].tgt);
			put_be32(list + 8, bad[i].seg);
			xcopy_cdb(cdb, len);
			assert_int_equal(run_list(e, cdb, list, len), 0);
			expect_list_length_error(e);
		}
	}
	/* A target descriptor cut short inside a longer list. */
	len = xcopy_list(e, list, 1, 1, 0, 10);
	put_be16(list + 2, 40);
	put_be32(list + 8, 20);
	xcopy_cdb(cdb, len);
	assert_int_equal(run_list(e, cdb, list, len), 0);
	expect_list_length_error(e);
	/* Inline data: not supported, whatever its length. */
	len = xcopy_list(e, list, 1, 1, 0, 10);
	put_be32(list + 12, UINT32_MAX);
	xcopy_cdb(cdb, len);
	assert_int_equal(run_list(e, cdb, list, len), 0);
	t_expect_param(e, 12);
	/* A segment descriptor length other than 18h. */
	len = xcopy_list(e, list, 1, 1, 0, 10);
	put_be16(list + 48 + 2, 0xffff);
	xcopy_cdb(cdb, len);
	assert_int_equal(run_list(e, cdb, list, len), 0);
	t_expect_param(e, 48 + 2);
	/* More segments than the operating parameters allow. */
	len = xcopy_list(e, list, 65, 1, 0, 10);
	xcopy_cdb(cdb, len);
	assert_int_equal(run_list(e, cdb, list, len), 0);
	t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, 0x2608);
	/* Block counts and LBAs whose range wraps or passes the end. */
	{
		static const struct {
			uint16_t n;
			uint64_t src, dst;
		} bad[] = {{0xffff, 0, 10},    {1, UINT64_MAX, 0},
		           {1, 0, UINT64_MAX}, {0xffff, UINT64_MAX - 0xfffe, 0},
		           {2, BLOCKS - 1, 0}, {1, 0, BLOCKS}};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			len = xcopy_list(e, list, 1, bad[i].n, bad[i].src, bad[i].dst);
			xcopy_cdb(cdb, len);
			assert_int_equal(run_list(e, cdb, list, len), 0);
			t_expect_sense(e, 0x0a, SCSI_ASC_NONE); /* COPY ABORTED */
		}
	}
	/* A target index past the descriptors. */
	len = xcopy_list(e, list, 1, 1, 0, 10);
	put_be16(list + 48 + 6, 0xffff);
	xcopy_cdb(cdb, len);
	assert_int_equal(run_list(e, cdb, list, len), 0);
	t_expect_sense(e, 0x0a, 0x0d02);
	expect_medium_untouched(e);
}

/* ---- PERSISTENT RESERVE OUT ---- */

static void test_prout_lengths(void **state)
{
	struct t_env *e = *state;
	static const uint32_t bad[] = {0, 23, 25, 4097, UINT32_MAX};
	uint8_t cdb[16] = {0x5f, 0x00};
	uint8_t move[16] = {0x5f, 0x07, 0x01};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		put_be32(cdb + 5, bad[i]);
		assert_int_equal(t_run(e, cdb, 16), 1);
		expect_list_length_error(e);
		if (bad[i] < 24 || bad[i] > 4096) {
			put_be32(move + 5, bad[i]);
			assert_int_equal(t_run(e, move, 16), 1);
			expect_list_length_error(e);
		}
	}
}

#define T(f) cmocka_unit_test_setup_teardown(f, t_env_setup_map, t_env_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_unmap_lengths),
	    T(test_mode_select_lengths),
	    T(test_write_same_lengths),
	    T(test_caw_lengths),
	    cmocka_unit_test(test_caw_large_blocks),
	    T(test_xcopy_lengths),
	    T(test_prout_lengths),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
