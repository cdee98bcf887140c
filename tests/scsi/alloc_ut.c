/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ALLOCATION LENGTH from the network: every command that returns
 * parameter data, asked with the largest allocation length its CDB can
 * carry, returns its whole response and asks the target for no larger a
 * buffer than that response can be (cmd->xfer_len is what the target
 * allocates); a smaller allocation length truncates the same response.
 */
#include <stdlib.h>
#include <string.h>

#include "idm/wire.h"
#include "scsi_test.h"

/* Largest buffer any of these commands may ask for: the biggest full
 * response is PERSISTENT RESERVE IN's READ FULL STATUS, about 9 KiB. */
#define MAX_RESPONSE (16u << 10)

struct alloc_case {
	const char *name;
	uint8_t cdb[16];
	uint8_t field; /* offset of the ALLOCATION LENGTH */
	uint8_t width; /* its size in bytes: 1, 2 or 4 */
};

static const struct alloc_case cases[] = {
    {"REPORT SUPPORTED OPERATION CODES", {0xa3, 0x0c, 0x00}, 6, 4},
    {"REPORT SUPPORTED OPERATION CODES (RCTD)", {0xa3, 0x0c, 0x80}, 6, 4},
    {"REPORT SUPPORTED OPERATION CODES (one)", {0xa3, 0x0c, 0x81, 0x28}, 6, 4},
    {"RECEIVE COPY OPERATING PARAMETERS", {0x84, 0x03}, 10, 4},
    {"REPORT LUNS", {0xa0}, 6, 4},
    {"GET LBA STATUS", {0x9e, 0x12}, 10, 4},
    {"READ CAPACITY(16)", {0x9e, 0x10}, 10, 4},
    {"REPORT TARGET PORT GROUPS", {0xa3, 0x0a}, 6, 4},
    {"REPORT TARGET PORT GROUPS (extended)", {0xa3, 0x2a}, 6, 4},
    {"READ DEFECT DATA(12)", {0xb7, 0x18}, 6, 4},
    {"READ DEFECT DATA(10)", {0x37, 0, 0x18}, 7, 2},
    {"INQUIRY", {0x12}, 3, 2},
    {"INQUIRY VPD 83h", {0x12, 0x01, 0x83}, 3, 2},
    {"INQUIRY VPD B0h", {0x12, 0x01, 0xb0}, 3, 2},
    {"MODE SENSE(10)", {0x5a, 0, 0x3f}, 7, 2},
    {"MODE SENSE(6)", {0x1a, 0, 0x3f}, 4, 1},
    {"PERSISTENT RESERVE IN READ FULL STATUS", {0x5e, 0x03}, 7, 2},
    {"PERSISTENT RESERVE IN READ KEYS", {0x5e, 0x00}, 7, 2},
    {"REQUEST SENSE", {0x03}, 4, 1},
};

static void set_alloc(uint8_t *cdb, const struct alloc_case *c, uint32_t alloc)
{
	memcpy(cdb, c->cdb, 16);
	if (c->width == 4) {
		put_be32(cdb + c->field, alloc);
	} else if (c->width == 2) {
		put_be16(cdb + c->field, (uint16_t)alloc);
	} else {
		cdb[c->field] = (uint8_t)alloc;
	}
}

static uint32_t max_alloc(const struct alloc_case *c)
{
	return c->width == 4 ? 0xffffffffu : c->width == 2 ? 0xffffu : 0xffu;
}

static void clear_ua(struct t_env *e)
{
	uint8_t tur[16] = {0};

	while (t_run(e, tur, 6) == 0 && e->cmd.status != SCSI_STATUS_GOOD) {
	}
}

static void test_largest_allocation_length(void **state)
{
	struct t_env *e = *state;
	uint8_t *full = malloc(MAX_RESPONSE);
	uint8_t cdb[16];

	assert_non_null(full);
	clear_ua(e);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct alloc_case *c = &cases[i];
		uint32_t len;

		print_message("%s\n", c->name);
		set_alloc(cdb, c, max_alloc(c));
		assert_int_equal(t_run(e, cdb, 16), 0);
		t_expect_good(e);
		/* The buffer the target would allocate for it. */
		assert_true(e->cmd.xfer_len <= MAX_RESPONSE);
		assert_true(e->cmd.data_len > 0);
		assert_true(e->cmd.data_len <= e->cmd.xfer_len);
		len = e->cmd.data_len;
		memcpy(full, e->buf, len);
		/* Exactly the response's length: the same response. */
		set_alloc(cdb, c, len);
		assert_int_equal(t_run(e, cdb, 16), 0);
		t_expect_good(e);
		assert_int_equal(e->cmd.data_len, len);
		assert_memory_equal(e->buf, full, len);
		/* Shorter: truncated, never more than asked. */
		set_alloc(cdb, c, len / 2);
		memset(e->buf, 0xee, len);
		assert_int_equal(t_run(e, cdb, 16), 0);
		t_expect_good(e);
		assert_int_equal(e->cmd.data_len, len / 2);
		assert_int_equal(e->buf[len / 2], 0xee);
	}
	free(full);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_largest_allocation_length, t_env_setup_map,
	                                    t_env_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
