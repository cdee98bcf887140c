/* SPDX-License-Identifier: BSD-3-Clause */
/* INQUIRY: standard data and every VPD page. */
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

/* INQUIRY with EVPD set to `evpd`, page `page`, allocation length `alloc`. */
static int inquiry(struct t_env *e, int evpd, uint8_t page, uint16_t alloc)
{
	uint8_t cdb[6] = {0x12, (uint8_t)evpd, page, 0, 0, 0};

	put_be16(cdb + 3, alloc);
	return t_run(e, cdb, 6);
}

static void test_standard(void **state)
{
	struct t_env *e = *state;
	const uint8_t *d = e->buf;
	bool sbc3 = false;
	int i;

	assert_int_equal(inquiry(e, 0, 0, 260), 0);
	t_expect_good(e);
	assert_int_equal(e->cmd.dir, SCSI_DIR_READ);
	assert_int_equal(e->cmd.xfer_len, 260);
	assert_int_equal(e->cmd.data_len, 96);
	assert_int_equal(d[0], 0x00);     /* qualifier 0, direct access */
	assert_int_equal(d[1], 0x00);     /* not removable */
	assert_int_equal(d[2], 0x06);     /* SPC-4 */
	assert_int_equal(d[3] & 0x0f, 2); /* response data format */
	assert_int_equal(d[3] & 0xc0, 0); /* no AERC, TRMTSK */
	assert_int_equal(d[4], 96 - 5);
	assert_true(d[7] & 0x02); /* CMDQUE */
	assert_memory_equal(d + 8, "IDM     ", 8);
	assert_memory_equal(d + 16, "idm disk        ", 16);
	assert_memory_equal(d + 32, "0001", 4);
	for (i = 8; i < 36; i++) {
		assert_true(d[i] >= 0x20 && d[i] <= 0x7e);
	}
	for (i = 58; i < 74; i += 2) {
		uint16_t v = get_be16(d + i);

		sbc3 |= v >= 0x04c0 && v <= 0x04ff;
	}
	assert_true(sbc3);
}

static void test_standard_truncated(void **state)
{
	struct t_env *e = *state;

	memset(e->buf, 0xee, 64);
	assert_int_equal(inquiry(e, 0, 0, 5), 0);
	t_expect_good(e);
	assert_int_equal(e->cmd.data_len, 5);
	assert_int_equal(e->buf[4], 91);
	assert_int_equal(e->buf[5], 0xee);

	assert_int_equal(inquiry(e, 0, 0, 0), 0);
	t_expect_good(e);
	assert_int_equal(e->cmd.xfer_len, 0);
	assert_int_equal(e->cmd.data_len, 0);
}

static void test_standard_small_buffer(void **state)
{
	struct t_env *e = *state;
	uint8_t small[10];
	const uint8_t cdb[6] = {0x12, 0, 0, 0, 255, 0};

	assert_int_equal(t_run_data(e, cdb, 6, small, sizeof(small)), 0);
	assert_int_equal(e->cmd.data_len, sizeof(small));
	assert_int_equal(t_run_data(e, cdb, 6, NULL, 0), 0);
	assert_int_equal(e->cmd.data_len, 0);
}

static void test_bad_fields(void **state)
{
	struct t_env *e = *state;

	assert_int_equal(inquiry(e, 0, 0x80, 255), 1);
	t_expect_field(e, 2, -1);
	assert_int_equal(inquiry(e, 1, 0x42, 255), 1);
	t_expect_field(e, 2, -1);
	assert_int_equal(inquiry(e, 2, 0, 255), 1); /* CMDDT */
	t_expect_field(e, 1, 1);
}

/* Fetch a VPD page and check its header; returns the page length. */
static uint16_t vpd(struct t_env *e, uint8_t page)
{
	assert_int_equal(inquiry(e, 1, page, 512), 0);
	t_expect_good(e);
	assert_int_equal(e->buf[0], 0x00);
	assert_int_equal(e->buf[1], page);
	assert_int_equal(e->cmd.data_len, 4u + get_be16(e->buf + 2));
	return get_be16(e->buf + 2);
}

static void test_vpd_supported_pages(void **state)
{
	struct t_env *e = *state;
	const uint8_t want[] = {0x00, 0x80, 0x83, 0x86, 0x8f, 0xb0, 0xb1, 0xb2};
	uint8_t pages[16];
	uint16_t n = vpd(e, 0x00);
	uint16_t i;

	assert_int_equal(n, sizeof(want));
	assert_memory_equal(e->buf + 4, want, sizeof(want));
	/* Every page listed can be read. */
	memcpy(pages, e->buf + 4, n);
	for (i = 0; i < n; i++) {
		vpd(e, pages[i]);
	}
}

static void test_vpd_serial(void **state)
{
	struct t_env *e = *state;
	uint16_t n = vpd(e, 0x80);

	assert_int_equal(n, 32);
	assert_memory_equal(e->buf + 4, e->lu->serial, 32);
}

static void test_vpd_device_identification(void **state)
{
	struct t_env *e = *state;
	uint16_t n = vpd(e, 0x83);
	const uint8_t *p = e->buf + 4, *end = p + n;
	const char *name = "iqn.2026-11.org.idm:disk1";
	int found = 0;

	while (p < end) {
		uint8_t type = p[1] & 0x0f, assoc = (p[1] >> 4) & 3, len = p[3];

		assert_true(p + 4 + len <= end);
		if (type == 3) { /* NAA */
			assert_int_equal(p[0] & 0x0f, 1);
			assert_int_equal(assoc, 0);
			assert_int_equal(len, 16);
			assert_int_equal(p[4] >> 4, 6);
			assert_memory_equal(p + 4, e->lu->naa, 16);
			found |= 1;
		} else if (type == 1) { /* T10 vendor ID */
			assert_int_equal(p[0] & 0x0f, 2);
			assert_int_equal(len, 40);
			assert_memory_equal(p + 4, "IDM     ", 8);
			assert_memory_equal(p + 12, e->lu->serial, 32);
			found |= 2;
		} else if (type == 8) { /* SCSI name string */
			assert_int_equal(p[0], 0x53);
			assert_int_equal(p[1] & 0x80, 0x80);
			assert_int_equal(assoc, 2);
			assert_int_equal(len % 4, 0);
			assert_true(len > strlen(name));
			assert_string_equal((const char *)p + 4, name);
			found |= 4;
		}
		p += 4 + len;
	}
	assert_ptr_equal(p, end);
	assert_int_equal(found, 7);
}

static void test_vpd_block_limits(void **state)
{
	struct t_env *e = *state;
	uint16_t n;

	assert_int_equal(inquiry(e, 1, 0xb0, 64), 0);
	assert_int_equal(e->cmd.data_len, 64);
	n = vpd(e, 0xb0);
	assert_int_equal(n, 0x3c);
	assert_int_equal(get_be16(e->buf + 6), 1);
	assert_int_equal(get_be32(e->buf + 8), (16u << 20) / 512);
	assert_int_equal(get_be32(e->buf + 12), (1u << 20) / 512);
	assert_int_equal(e->buf[4] & 0x01, 0);                      /* WSNZ: 0 blocks allowed */
	assert_int_equal(e->buf[5], 255);                           /* max COMPARE AND WRITE */
	assert_int_equal(get_be32(e->buf + 20), 0xffffffffu);       /* max unmap LBA count */
	assert_int_equal(get_be32(e->buf + 24), 256);               /* max unmap descriptors */
	assert_int_equal(get_be32(e->buf + 28), 1);                 /* unmap granularity */
	assert_int_equal(get_be32(e->buf + 32), 0);                 /* UGAVALID clear */
	assert_int_equal(get_be64(e->buf + 36), (16u << 20) / 512); /* max WRITE SAME */
}

static void test_vpd_block_characteristics(void **state)
{
	struct t_env *e = *state;

	assert_int_equal(vpd(e, 0xb1), 0x3c);
	assert_int_equal(get_be16(e->buf + 4), 1); /* non-rotating */
}

static void test_vpd_provisioning(void **state)
{
	struct t_env *e = *state;

	assert_int_equal(vpd(e, 0xb2), 4);
	assert_int_equal(e->buf[4], 0);    /* threshold exponent */
	assert_int_equal(e->buf[5], 0xe4); /* LBPU, LBPWS, LBPWS10, LBPRZ; no ANC_SUP, DP */
	assert_int_equal(e->buf[6], 0x02); /* thin provisioned */
}

static void test_vpd_truncated(void **state)
{
	struct t_env *e = *state;

	assert_int_equal(inquiry(e, 1, 0x83, 4), 0);
	t_expect_good(e);
	assert_int_equal(e->cmd.data_len, 4);
	assert_int_equal(e->buf[1], 0x83);
	assert_true(get_be16(e->buf + 2) > 0);
}

static void test_vpd_without_target_name(void **state)
{
	struct fake_store *fs = fake_store_new(512, 4096, true);
	struct t_env *e = *state;
	struct scsi_lu *lu;
	uint16_t n;

	assert_int_equal(scsi_lu_create(1, &fs->b, "", &lu), 0);
	e->set.lu[1] = lu;
	assert_int_equal(t_run_lun(e, 1, (const uint8_t[6]){0x12, 1, 0x83, 1, 0, 0}, 6), 0);
	n = get_be16(e->buf + 2);
	assert_int_equal(n, 20 + 44);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, env_setup, env_teardown)
	const struct CMUnitTest tests[] = {
	    T(test_standard),
	    T(test_standard_truncated),
	    T(test_standard_small_buffer),
	    T(test_bad_fields),
	    T(test_vpd_supported_pages),
	    T(test_vpd_serial),
	    T(test_vpd_device_identification),
	    T(test_vpd_block_limits),
	    T(test_vpd_block_characteristics),
	    T(test_vpd_provisioning),
	    T(test_vpd_truncated),
	    T(test_vpd_without_target_name),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
