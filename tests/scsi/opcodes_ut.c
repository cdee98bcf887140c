/* SPDX-License-Identifier: BSD-3-Clause */
/* REPORT SUPPORTED OPERATION CODES, and that it matches what
 * scsi_cmd_setup() accepts. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "idm/wire.h"
#include "scsi_test.h"

#define BS 512
#define BLOCKS 1000

static int env_setup(void **state)
{
	*state = t_env_new(BS, BLOCKS, true);
	return 0;
}

static int env_teardown(void **state)
{
	t_env_free(*state);
	return 0;
}

static int rsoc(struct t_env *e, uint8_t b2, uint8_t op, uint16_t sa, uint32_t alloc)
{
	uint8_t cdb[12] = {0xa3, 0x0c, b2, op};

	put_be16(cdb + 4, sa);
	put_be32(cdb + 6, alloc);
	return t_run(e, cdb, 12);
}

struct desc {
	uint8_t op;
	uint16_t sa;
	bool servactv;
};

/* Parse the "all commands" list into d[]; returns how many. */
static unsigned parse_all(struct t_env *e, bool rctd, struct desc *d, unsigned max)
{
	uint32_t len = get_be32(e->buf), off = 4;
	unsigned n = 0;

	assert_int_equal(e->cmd.data_len, len + 4);
	while (off < len + 4) {
		const uint8_t *p = e->buf + off;

		assert_true(n < max);
		d[n].op = p[0];
		d[n].sa = get_be16(p + 2);
		d[n].servactv = p[5] & 0x01;
		assert_int_equal(get_be16(p + 6), scsi_cdb_length(p[0]));
		if (!d[n].servactv) {
			assert_int_equal(d[n].sa, 0);
		}
		if (rctd) {
			assert_true(p[5] & 0x02); /* CTDP */
			assert_int_equal(get_be16(p + 8), 0x0a);
			off += 20;
		} else {
			assert_int_equal(p[5] & 0x02, 0);
			off += 8;
		}
		n++;
	}
	assert_int_equal(off, len + 4);
	return n;
}

static bool listed(const struct desc *d, unsigned n, uint8_t op)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		if (d[i].op == op) {
			return true;
		}
	}
	return false;
}

static void test_all_commands(void **state)
{
	struct t_env *e = *state;
	struct desc d[128];
	unsigned n, i;

	assert_int_equal(rsoc(e, 0, 0, 0, 65535), 0);
	t_expect_good(e);
	n = parse_all(e, false, d, 128);
	assert_int_equal(n, 42 + 8); /* opcodes, service actions of 9Eh, A3h, 83h, 84h */
	for (i = 1; i < n; i++) {    /* ascending opcode, then service action */
		assert_true(d[i - 1].op < d[i].op ||
		            (d[i - 1].op == d[i].op && d[i - 1].sa < d[i].sa));
	}
	assert_true(listed(d, n, 0x89));
	assert_true(listed(d, n, 0x42));
	for (i = 0; i < n; i++) {
		if (d[i].op == 0x9e || d[i].op == 0xa3 || d[i].op == 0x83 || d[i].op == 0x84) {
			assert_true(d[i].servactv);
		} else {
			assert_false(d[i].servactv);
		}
	}
	/* The same list with timeouts descriptors. */
	assert_int_equal(rsoc(e, 0x80, 0, 0, 65535), 0);
	assert_int_equal(parse_all(e, true, d, 128), n);
}

/* Every opcode setup accepts is listed, and no other. */
static void test_list_matches_setup(void **state)
{
	struct t_env *e = *state;
	struct desc d[128];
	unsigned n, op;

	assert_int_equal(rsoc(e, 0, 0, 0, 65535), 0);
	n = parse_all(e, false, d, 128);
	for (op = 0; op < 256; op++) {
		uint8_t cdb[16] = {(uint8_t)op};
		bool unsupported;

		t_run(e, cdb, 16);
		unsupported = e->cmd.status == SCSI_STATUS_CHECK_CONDITION &&
		              get_be16(e->cmd.sense + 12) == SCSI_ASC_INVALID_OPCODE;
		assert_int_equal(listed(d, n, (uint8_t)op), !unsupported);
	}
}

/* Each listed command, one at a time: its usage map. */
static void test_one_command(void **state)
{
	struct t_env *e = *state;
	struct desc d[128];
	unsigned n, i;

	assert_int_equal(rsoc(e, 0, 0, 0, 65535), 0);
	n = parse_all(e, false, d, 128);
	for (i = 0; i < n; i++) {
		unsigned len = scsi_cdb_length(d[i].op);

		/* The wrong reporting option for the command fails. */
		assert_int_equal(rsoc(e, d[i].servactv ? 1 : 2, d[i].op, d[i].sa, 65535), 1);
		t_expect_field(e, 3, -1);
		assert_int_equal(rsoc(e, d[i].servactv ? 2 : 1, d[i].op, d[i].sa, 65535), 0);
		t_expect_good(e);
		assert_int_equal(e->buf[1] & 0x07, 3); /* supported */
		assert_int_equal(e->buf[1] & 0x80, 0); /* no CTDP */
		assert_int_equal(get_be16(e->buf + 2), len);
		assert_int_equal(e->cmd.data_len, 4 + len);
		assert_int_equal(e->buf[4], d[i].op);
		if (d[i].servactv) {
			assert_int_equal(e->buf[5] & 0x1f, d[i].sa);
		}
		/* Option 3 gives the same, with the timeouts descriptor. */
		assert_int_equal(rsoc(e, 0x83, d[i].op, d[i].sa, 65535), 0);
		assert_int_equal(e->buf[1], 0x83);
		assert_int_equal(e->cmd.data_len, 4 + len + 12);
		assert_int_equal(get_be16(e->buf + 4 + len), 0x0a);
	}
}

/* DPO/FUA in the usage map where MODE SENSE says DPOFUA (libiscsi
 * checks COMPARE AND WRITE). */
static void test_usage_dpofua(void **state)
{
	struct t_env *e = *state;
	static const uint8_t dpofua[] = {0x28, 0x2a, 0x88, 0x89, 0x8a, 0x8b, 0xa8, 0xaa};
	size_t i;

	for (i = 0; i < sizeof(dpofua); i++) {
		assert_int_equal(rsoc(e, 1, dpofua[i], 0, 64), 0);
		assert_int_equal(e->buf[5] & 0x18, 0x18);
	}
}

static void test_unsupported_and_errors(void **state)
{
	struct t_env *e = *state;

	assert_int_equal(rsoc(e, 1, 0xc0, 0, 64), 0); /* vendor opcode */
	t_expect_good(e);
	assert_int_equal(e->buf[1] & 0x07, 1); /* not supported */
	assert_int_equal(e->cmd.data_len, 4);
	assert_int_equal(rsoc(e, 2, 0x9e, 0x11, 64), 0); /* unknown service action */
	assert_int_equal(e->buf[1] & 0x07, 1);
	assert_int_equal(rsoc(e, 2, 0x9e, 0x1234, 64), 0);
	assert_int_equal(e->buf[1] & 0x07, 1);
	assert_int_equal(rsoc(e, 4, 0, 0, 64), 1); /* reporting option 100b */
	t_expect_field(e, 2, 2);
	assert_int_equal(rsoc(e, 0x40, 0, 0, 64), 1); /* reserved bit */
	t_expect_field(e, 2, -1);
	/* Truncated to the allocation length. */
	assert_int_equal(rsoc(e, 0, 0, 0, 10), 0);
	assert_int_equal(e->cmd.data_len, 10);
	/* Works on a LUN without a LU. */
	{
		uint8_t cdb[12] = {0xa3, 0x0c, 0, 0, 0, 0, 0, 0, 0, 64};

		assert_int_equal(t_run_lun(e, 5, cdb, 12), 0);
		t_expect_good(e);
	}
	/* Another MAINTENANCE IN service action: invalid field. */
	{
		uint8_t cdb[12] = {0xa3, 0x0b, 0, 0, 0, 0, 0, 0, 0, 64};

		assert_int_equal(t_run(e, cdb, 12), 1);
		t_expect_field(e, 1, 4);
	}
}

#define T(f) cmocka_unit_test_setup_teardown(f, env_setup, env_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_all_commands), T(test_list_matches_setup),     T(test_one_command),
	    T(test_usage_dpofua), T(test_unsupported_and_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
