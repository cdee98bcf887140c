/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * EXTENDED COPY (LID1), RECEIVE COPY RESULTS, REPORT TARGET PORT GROUPS
 * and the port designators of VPD page 83h.
 */
#include <stdlib.h>
#include <string.h>

#include "idm/wire.h"
#include "scsi_test.h"

#define BS 512
#define BLOCKS 1000
#define XCOPY 0x83
#define RCR 0x84
#define HDR 16
#define TGT 32
#define SEG 28

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

/* An E4h target descriptor naming `lu` by its NAA designator. */
static void put_target(uint8_t *d, const struct scsi_lu *lu, uint8_t type)
{
	memset(d, 0, TGT);
	d[0] = type;
	d[4] = 0x01; /* binary */
	d[5] = 0x03; /* NAA, LU association */
	d[7] = 16;
	memcpy(d + 8, lu->naa, 16);
	put_be24(d + 29, lu->block_size);
}

static void put_segment(uint8_t *d, uint8_t type, uint16_t src, uint16_t dst, uint16_t n,
                        uint64_t src_lba, uint64_t dst_lba)
{
	memset(d, 0, SEG);
	d[0] = type;
	put_be16(d + 2, SEG - 4);
	put_be16(d + 4, src);
	put_be16(d + 6, dst);
	put_be16(d + 10, n);
	put_be64(d + 12, src_lba);
	put_be64(d + 20, dst_lba);
}

/* Run EXTENDED COPY over `ntgt` targets and `nseg` segments in p. */
static int xcopy(struct t_env *e, uint8_t *p, uint8_t list_id, unsigned ntgt, unsigned nseg)
{
	uint8_t cdb[16] = {XCOPY, 0};
	uint32_t len = HDR + ntgt * TGT + nseg * SEG;
	uint8_t *data = malloc(len);
	int rc;

	p[0] = list_id;
	p[1] = 0; /* LIST ID USAGE 00b: hold the results */
	put_be16(p + 2, (uint16_t)(ntgt * TGT));
	put_be32(p + 8, nseg * SEG);
	put_be32(cdb + 10, len);
	memcpy(data, p, len);
	rc = t_run_data(e, cdb, 16, data, len);
	free(data);
	return rc;
}

static int rcr(struct t_env *e, uint8_t sa, uint8_t list_id)
{
	uint8_t cdb[16] = {RCR, sa, list_id};

	put_be32(cdb + 10, 1024);
	return t_run(e, cdb, 16);
}

static void test_copy_and_status(void **state)
{
	struct t_env *e = *state;
	uint8_t p[HDR + TGT + SEG] = {0};

	memset(e->fs->mem, 'A', 8 * BS);
	memset(e->fs->mem + 900 * BS, 0, 8 * BS);
	put_target(p + HDR, e->lu, 0xe4);
	put_segment(p + HDR + TGT, 0x02, 0, 0, 8, 0, 900);
	assert_int_equal(xcopy(e, p, 7, 1, 1), 0);
	t_expect_good(e);
	assert_memory_equal(e->fs->mem + 900 * BS, e->fs->mem, 8 * BS);
	assert_int_equal(rcr(e, 0x00, 7), 0);
	t_expect_good(e);
	assert_int_equal(e->buf[4], 0x01);         /* completed, good */
	assert_int_equal(get_be16(e->buf + 5), 1); /* segments */
	assert_int_equal(get_be32(e->buf + 8), 8 * BS);
	assert_int_equal(rcr(e, 0x04, 7), 0);
	assert_int_equal(get_be32(e->buf), 0); /* no failure */
	/* Unknown list id. */
	assert_int_equal(rcr(e, 0x00, 8), 1);
	t_expect_field(e, 2, -1);
}

static void test_operating_parameters(void **state)
{
	struct t_env *e = *state;

	assert_int_equal(rcr(e, 0x03, 0), 0);
	t_expect_good(e);
	assert_int_equal(get_be16(e->buf + 8), 2);
	assert_int_equal(get_be16(e->buf + 10), 64);
	assert_int_equal(e->buf[43], 2);
	assert_int_equal(e->buf[44], 0x02);
	assert_int_equal(e->buf[45], 0xe4);
	/* An unsupported service action. */
	assert_int_equal(rcr(e, 0x05, 0), 1);
	t_expect_field(e, 1, 4);
}

static void test_descriptor_errors(void **state)
{
	struct t_env *e = *state;
	uint8_t p[HDR + 3 * TGT + 2 * SEG];

	memset(p, 0, sizeof(p));
	/* Too many target descriptors. */
	for (int i = 0; i < 3; i++) {
		put_target(p + HDR + i * TGT, e->lu, 0xe4);
	}
	put_segment(p + HDR + 3 * TGT, 0x02, 0, 0, 1, 0, 1);
	xcopy(e, p, 1, 3, 1);
	t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, 0x2606);
	/* Unsupported target and segment descriptor types. */
	put_target(p + HDR, e->lu, 0xe0);
	put_segment(p + HDR + TGT, 0x02, 0, 0, 1, 0, 1);
	xcopy(e, p, 1, 1, 1);
	t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, 0x2607);
	put_target(p + HDR, e->lu, 0xe4);
	put_segment(p + HDR + TGT, 0x00, 0, 0, 1, 0, 1);
	xcopy(e, p, 1, 1, 1);
	t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, 0x2609);
	/* A bad target index and a range past the end: COPY ABORTED. */
	put_segment(p + HDR + TGT, 0x02, 0, 1, 1, 0, 1);
	xcopy(e, p, 1, 1, 1);
	t_expect_sense(e, 0x0a, 0x0d02);
	put_segment(p + HDR + TGT, 0x02, 0, 0, 8, 0, BLOCKS - 1);
	xcopy(e, p, 2, 1, 1);
	t_expect_sense(e, 0x0a, 0x0000);
	assert_int_equal(rcr(e, 0x04, 2), 0);
	assert_int_equal(e->buf[56], SCSI_STATUS_CHECK_CONDITION);
	assert_int_equal(get_be16(e->buf + 58), 18);
	/* A parameter list shorter than its header says. */
	{
		uint8_t cdb[16] = {XCOPY, 0};

		put_be16(p + 2, TGT);
		put_be32(p + 8, SEG);
		put_be32(cdb + 10, HDR + TGT + SEG - 1);
		t_run_data(e, cdb, 16, p, HDR + TGT + SEG - 1);
		t_expect_sense(e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_PARAM_LIST_LENGTH_ERROR);
	}
	/* A zero parameter list length copies nothing. */
	{
		uint8_t cdb[16] = {XCOPY, 0};

		assert_int_equal(t_run(e, cdb, 16), 0);
		t_expect_good(e);
	}
}

static void test_ports(void **state)
{
	struct t_env *e = *state;
	uint8_t rtpg[16] = {0xa3, 0x0a};
	uint8_t inq[16] = {0x12, 0x01, 0x83, 0x01, 0x00};
	static const uint8_t isid[6] = {0x80, 1, 2, 3, 4, 5};
	struct scsi_nexus n;
	struct scsi_cmd *cmd = &e->cmd;

	scsi_nexus_init(&n, "iqn.test:a", isid, "iqn.2026-11.org.idm:disk1", 3, 9);
	assert_string_equal(n.initiator_port, "iqn.test:a,i,0x800102030405");
	assert_string_equal(n.target_port, "iqn.2026-11.org.idm:disk1,t,0x0003");
	/* Without a nexus: group 1, port 1. */
	put_be32(rtpg + 6, 64);
	assert_int_equal(t_run(e, rtpg, 12), 0);
	t_expect_good(e);
	assert_int_equal(get_be32(e->buf), 12);
	assert_int_equal(e->buf[4], 0x80);
	assert_int_equal(get_be16(e->buf + 6), 1);
	assert_int_equal(e->buf[11], 1);
	/* With one: the designators of VPD 83h name its port and group. */
	memset(cmd, 0, sizeof(*cmd));
	cmd->luns = &e->set;
	cmd->cdb = inq;
	cmd->cdb_len = 16;
	cmd->nexus = &n;
	cmd->data = e->buf;
	cmd->data_cap = e->buf_cap;
	assert_int_equal(scsi_cmd_setup(cmd), 0);
	scsi_cmd_exec(cmd);
	{
		uint16_t len = get_be16(e->buf + 2);
		const uint8_t *d = e->buf + 4;
		bool rel = false, tpg = false;

		for (uint16_t off = 0; off < len; off += 4 + d[off + 3]) {
			if ((d[off + 1] & 0x3f) == 0x14) {
				rel = get_be16(d + off + 6) == 3;
			}
			if ((d[off + 1] & 0x3f) == 0x15) {
				tpg = get_be16(d + off + 6) == 3;
			}
		}
		assert_true(rel);
		assert_true(tpg);
	}
}

#define T(f) cmocka_unit_test_setup_teardown(f, env_setup, env_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_copy_and_status),
	    T(test_operating_parameters),
	    T(test_descriptor_errors),
	    T(test_ports),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
