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

/* ---- a copy between two LUs, seen from two initiators ---- */

#define BIG_BLOCKS 16384 /* 8 MiB: several 1 MiB chunks */

struct ini {
	struct scsi_nexus nexus;
	uint32_t ua_seen[SCSI_MAX_LUNS];
};

struct two {
	struct t_env *e;
	struct scsi_lu *lu1;
	struct fake_store *fs1;
	struct ini a, b;
	struct scsi_cmd cmd; /* a second command beside e->cmd */
	uint8_t cdb[16];
	unsigned done_calls; /* of e->cmd */
	unsigned side_done;  /* of cmd */
};

static int two_setup(void **state)
{
	struct two *t = calloc(1, sizeof(*t));
	const uint8_t isid_a[6] = {0x80, 0, 0, 0, 0, 1}, isid_b[6] = {0x80, 0, 0, 0, 0, 2};

	assert_non_null(t);
	t->e = t_env_new(BS, BIG_BLOCKS, false);
	t->fs1 = fake_store_new(BS, (uint64_t)BIG_BLOCKS * BS, false);
	assert_int_equal(scsi_lu_create(1, &t->fs1->b, "iqn.2026-11.org.idm:disk1", &t->lu1), 0);
	t->e->set.lu[1] = t->lu1;
	t->e->set.count = 2;
	/* LU 1 starts different from LU 0, so a copy shows. */
	for (size_t i = 0; i < (size_t)BIG_BLOCKS * BS; i++) {
		t->fs1->mem[i] = (uint8_t)(i * 13 + 1);
	}
	scsi_nexus_init(&t->a.nexus, "iqn.test:a", isid_a, "iqn.2026-11.org.idm:disk1", 1, 1);
	scsi_nexus_init(&t->b.nexus, "iqn.test:b", isid_b, "iqn.2026-11.org.idm:disk1", 1, 2);
	*state = t;
	return 0;
}

static int two_teardown(void **state)
{
	struct two *t = *state;

	t_env_free(t->e);
	free(t);
	return 0;
}

static void two_done(struct scsi_cmd *cmd)
{
	struct two *t = cmd->priv;

	if (cmd == &t->e->cmd) {
		t->done_calls++;
	} else {
		t->side_done++;
	}
}

/* Set up and run `cdb` from `in` on `lun` in `cmd` (WRITE data from
 * `data`); returns the status, or 0xff while the command still runs. */
static uint8_t run_on(struct two *t, struct scsi_cmd *cmd, uint8_t *cdb_store, struct ini *in,
                      uint64_t lun, const uint8_t *cdb, uint8_t *data, uint32_t len)
{
	unsigned *done = cmd == &t->e->cmd ? &t->done_calls : &t->side_done;

	memset(cmd, 0, sizeof(*cmd));
	memcpy(cdb_store, cdb, 16);
	cmd->luns = &t->e->set;
	cmd->lun = lun;
	cmd->cdb = cdb_store;
	cmd->cdb_len = 16;
	cmd->ua_seen = in->ua_seen;
	cmd->nexus = &in->nexus;
	cmd->done = two_done;
	cmd->priv = t;
	if (scsi_cmd_setup(cmd) != 0) {
		return cmd->status;
	}
	cmd->data = data;
	cmd->data_cap = len;
	*done = 0;
	scsi_cmd_exec(cmd);
	return *done ? cmd->status : 0xff;
}

static uint8_t run_a(struct two *t, struct ini *in, uint64_t lun, const uint8_t *cdb, uint8_t *data,
                     uint32_t len)
{
	return run_on(t, &t->e->cmd, t->e->cdb, in, lun, cdb, data, len);
}

/* A parameter list copying `n` blocks from LU `src` (LBA 0) to `dst` (LBA 0). */
static uint32_t copy_list(uint8_t *p, uint8_t list_id, const struct scsi_lu *src,
                          const struct scsi_lu *dst, uint16_t n)
{
	memset(p, 0, HDR + 2 * TGT + SEG);
	p[0] = list_id;
	put_be16(p + 2, 2 * TGT);
	put_be32(p + 8, SEG);
	put_target(p + HDR, src, 0xe4);
	put_target(p + HDR + TGT, dst, 0xe4);
	put_segment(p + HDR + 2 * TGT, 0x02, 0, 1, n, 0, 0);
	return HDR + 2 * TGT + SEG;
}

/* EXTENDED COPY from `in`, sent to LUN 0, copying n blocks src -> dst. */
static uint8_t copy(struct two *t, struct ini *in, const struct scsi_lu *src,
                    const struct scsi_lu *dst, uint16_t n)
{
	static uint8_t p[HDR + 2 * TGT + SEG];
	uint8_t cdb[16] = {XCOPY, 0};
	uint32_t len = copy_list(p, 1, src, dst, n);

	put_be32(cdb + 10, len);
	return run_a(t, in, 0, cdb, p, len);
}

static uint8_t prout_on(struct two *t, struct ini *in, uint64_t lun, uint8_t sa, uint8_t type,
                        uint64_t key, uint64_t sa_key)
{
	uint8_t cdb[16] = {0x5f, sa, type};
	static uint8_t param[24];

	memset(param, 0, sizeof(param));
	put_be32(cdb + 5, sizeof(param));
	put_be64(param, key);
	put_be64(param + 8, sa_key);
	return run_a(t, in, lun, cdb, param, sizeof(param));
}

static void clear_uas(struct two *t)
{
	uint8_t tur[16] = {0};

	for (uint64_t lun = 0; lun < 2; lun++) {
		while (run_a(t, &t->a, lun, tur, NULL, 0) != SCSI_STATUS_GOOD) {
		}
		while (run_a(t, &t->b, lun, tur, NULL, 0) != SCSI_STATUS_GOOD) {
		}
	}
}

/* LU 1's first blocks still hold their own pattern. */
static bool lu1_untouched(struct two *t, uint32_t blocks)
{
	return memcmp(t->fs1->mem, t->e->fs->mem, (size_t)blocks * BS) != 0;
}

/* A copy is checked on the LUs it names as a READ of the source and a
 * WRITE of the destination, not only on the LU it was sent to. */
static void test_reservation_on_named_lus(void **state)
{
	struct two *t = *state;
	struct scsi_lu *lu0 = t->e->lu, *lu1 = t->lu1;

	clear_uas(t);
	/* b holds LU 1 under Exclusive Access: a may neither read nor write it. */
	assert_int_equal(prout_on(t, &t->b, 1, 0, 0, 0, 0xb), SCSI_STATUS_GOOD);
	assert_int_equal(prout_on(t, &t->b, 1, 1, 3, 0xb, 0), SCSI_STATUS_GOOD);
	assert_int_equal(copy(t, &t->a, lu0, lu1, 8), SCSI_STATUS_RESERVATION_CONFLICT);
	assert_true(lu1_untouched(t, 8));
	assert_int_equal(copy(t, &t->a, lu1, lu0, 8), SCSI_STATUS_RESERVATION_CONFLICT);
	/* The holder itself copies. */
	assert_int_equal(copy(t, &t->b, lu0, lu1, 8), SCSI_STATUS_GOOD);
	assert_memory_equal(t->fs1->mem, t->e->fs->mem, 8 * BS);
	/* Write Exclusive: a may read LU 1 but not write it. */
	memset(t->fs1->mem, 0x5a, 8 * BS);
	assert_int_equal(prout_on(t, &t->b, 1, 3, 0, 0xb, 0), SCSI_STATUS_GOOD); /* CLEAR */
	assert_int_equal(prout_on(t, &t->b, 1, 0, 0, 0, 0xb), SCSI_STATUS_GOOD);
	assert_int_equal(prout_on(t, &t->b, 1, 1, 1, 0xb, 0), SCSI_STATUS_GOOD);
	assert_int_equal(copy(t, &t->a, lu0, lu1, 8), SCSI_STATUS_RESERVATION_CONFLICT);
	assert_true(lu1_untouched(t, 8));
	assert_int_equal(copy(t, &t->a, lu1, lu0, 8), SCSI_STATUS_GOOD);
	assert_int_equal(t->e->fs->mem[0], 0x5a);
}

static void test_spc2_reserve_on_named_lu(void **state)
{
	struct two *t = *state;
	uint8_t reserve6[16] = {0x16}, release6[16] = {0x17};

	clear_uas(t);
	assert_int_equal(run_a(t, &t->b, 1, reserve6, NULL, 0), SCSI_STATUS_GOOD);
	assert_int_equal(copy(t, &t->a, t->e->lu, t->lu1, 8), SCSI_STATUS_RESERVATION_CONFLICT);
	assert_true(lu1_untouched(t, 8));
	assert_int_equal(copy(t, &t->a, t->lu1, t->e->lu, 8), SCSI_STATUS_RESERVATION_CONFLICT);
	assert_int_equal(run_a(t, &t->b, 1, release6, NULL, 0), SCSI_STATUS_GOOD);
	assert_int_equal(copy(t, &t->a, t->e->lu, t->lu1, 8), SCSI_STATUS_GOOD);
}

static void test_stopped_and_ua_on_named_lu(void **state)
{
	struct two *t = *state;
	uint8_t stop[16] = {0x1b, 0, 0, 0, 0x04}, start[16] = {0x1b, 0, 0, 0, 0x01};
	struct scsi_cmd *cmd = &t->e->cmd;

	clear_uas(t);
	assert_int_equal(run_a(t, &t->b, 1, stop, NULL, 0), SCSI_STATUS_GOOD);
	assert_int_equal(copy(t, &t->a, t->e->lu, t->lu1, 8), SCSI_STATUS_CHECK_CONDITION);
	assert_int_equal(cmd->sense[2] & 0x0f, SCSI_SENSE_NOT_READY);
	assert_int_equal(get_be16(cmd->sense + 12), 0x0402);
	assert_true(lu1_untouched(t, 8));
	assert_int_equal(run_a(t, &t->b, 1, start, NULL, 0), SCSI_STATUS_GOOD);
	/* A unit attention on LU 1 is reported once, then the copy runs. */
	scsi_lu_raise_ua(t->lu1, SCSI_ASC_BUS_DEVICE_RESET);
	assert_int_equal(copy(t, &t->a, t->e->lu, t->lu1, 8), SCSI_STATUS_CHECK_CONDITION);
	assert_int_equal(cmd->sense[2] & 0x0f, SCSI_SENSE_UNIT_ATTENTION);
	assert_int_equal(get_be16(cmd->sense + 12), SCSI_ASC_BUS_DEVICE_RESET);
	assert_true(lu1_untouched(t, 8));
	assert_int_equal(copy(t, &t->a, t->e->lu, t->lu1, 8), SCSI_STATUS_GOOD);
	assert_memory_equal(t->fs1->mem, t->e->fs->mem, 8 * BS);
}

/* RECEIVE COPY STATUS on the side, for list id 1, from `in`. */
static uint8_t copy_status(struct two *t, struct ini *in, uint8_t *buf)
{
	uint8_t cdb[16] = {RCR, 0x00, 1};

	put_be32(cdb + 10, 64);
	return run_on(t, &t->cmd, t->cdb, in, 0, cdb, buf, 64);
}

/* A long copy goes through the store one bounded request at a time,
 * waiting for each; RECEIVE COPY RESULTS shows its progress and the
 * same list id cannot start twice. */
static void test_async_progress(void **state)
{
	struct two *t = *state;
	static uint8_t p[HDR + 2 * TGT + SEG], q[HDR + 2 * TGT + SEG];
	uint8_t cdb[16] = {XCOPY, 0};
	uint8_t st[64];
	const uint16_t n = 12000; /* 6 MB: six chunks of at most 1 MiB */
	uint32_t len = copy_list(p, 1, t->e->lu, t->lu1, n);
	uint32_t last = 0;
	unsigned requests = 0;

	clear_uas(t);
	put_be32(cdb + 10, len);
	t->e->fs->deferred = true;
	t->fs1->deferred = true;
	assert_int_equal(run_a(t, &t->a, 0, cdb, p, len), 0xff);
	while (t->done_calls == 0) {
		struct fake_store *fs = t->e->fs->pending ? t->e->fs : t->fs1;

		assert_non_null(fs->pending);
		assert_true(fs->pending->len <= (256u << 10));
		fake_complete(fs);
		requests++;
		if (t->done_calls) {
			break;
		}
		/* In progress: status 00h, the count never going back. */
		assert_int_equal(copy_status(t, &t->a, st), SCSI_STATUS_GOOD);
		assert_int_equal(st[4], 0x00);
		assert_true(get_be32(st + 8) >= last);
		last = get_be32(st + 8);
		/* The same list id from the same initiator: OPERATION IN PROGRESS. */
		memcpy(q, p, len);
		assert_int_equal(run_on(t, &t->cmd, t->cdb, &t->a, 0, cdb, q, len),
		                 SCSI_STATUS_CHECK_CONDITION);
		assert_int_equal(get_be16(t->cmd.sense + 12), 0x0016);
	}
	assert_int_equal(t->e->cmd.status, SCSI_STATUS_GOOD);
	assert_true(requests >= 12); /* a read and a write per chunk */
	assert_true(last > 0 && last < (uint32_t)n * BS);
	assert_memory_equal(t->fs1->mem, t->e->fs->mem, (size_t)n * BS);
	t->e->fs->deferred = false;
	t->fs1->deferred = false;
	assert_int_equal(copy_status(t, &t->a, st), SCSI_STATUS_GOOD);
	assert_int_equal(st[4], 0x01);
	assert_int_equal(get_be16(st + 5), 1);
	assert_int_equal(get_be32(st + 8), (uint32_t)n * BS);
}

/* An aborted copy stops before its next chunk; done runs once. */
static void test_abort(void **state)
{
	struct two *t = *state;
	static uint8_t p[HDR + 2 * TGT + SEG];
	uint8_t cdb[16] = {XCOPY, 0};
	uint8_t st[64];
	uint32_t len = copy_list(p, 1, t->e->lu, t->lu1, 12000);

	clear_uas(t);
	put_be32(cdb + 10, len);
	t->e->fs->deferred = true;
	t->fs1->deferred = true;
	assert_int_equal(run_a(t, &t->a, 0, cdb, p, len), 0xff);
	fake_complete(t->e->fs); /* the first chunk's READ */
	scsi_cmd_abort(&t->e->cmd);
	assert_int_equal(t->done_calls, 0);
	fake_complete(t->fs1); /* its WRITE, in flight: it completes */
	assert_int_equal(t->done_calls, 1);
	assert_null(t->e->fs->pending);
	assert_null(t->fs1->pending);
	assert_int_equal(t->e->cmd.sense[2] & 0x0f, SCSI_SENSE_ABORTED_COMMAND);
	assert_int_equal(t->e->fs->reads, 1);
	t->e->fs->deferred = false;
	t->fs1->deferred = false;
	/* The held results say it ended with an error after one chunk. */
	assert_int_equal(copy_status(t, &t->a, st), SCSI_STATUS_GOOD);
	assert_int_equal(st[4], 0x02);
	assert_int_equal(get_be32(st + 8), 256u << 10); /* one chunk */
}

#define T(f) cmocka_unit_test_setup_teardown(f, env_setup, env_teardown)
#define T2(f) cmocka_unit_test_setup_teardown(f, two_setup, two_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_copy_and_status),
	    T(test_operating_parameters),
	    T(test_descriptor_errors),
	    T(test_ports),
	    T2(test_reservation_on_named_lus),
	    T2(test_spc2_reserve_on_named_lu),
	    T2(test_stopped_and_ua_on_named_lu),
	    T2(test_async_progress),
	    T2(test_abort),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
