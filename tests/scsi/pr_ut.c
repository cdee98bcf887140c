/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Persistent reservations, SPC-2 RESERVE/RELEASE and the APTPL state
 * file: every service action, the conflict table for each type, the
 * unit attentions, and a save / load round trip.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "idm/wire.h"
#include "scsi_test.h"

#define BS 512
#define BLOCKS 1000
#define PRIN 0x5e
#define PROUT 0x5f
#define KEY_A 0x1111111111111111ull
#define KEY_B 0x2222222222222222ull

enum {
	SA_REGISTER,
	SA_RESERVE,
	SA_RELEASE,
	SA_CLEAR,
	SA_PREEMPT,
	SA_PREEMPT_ABORT,
	SA_REGISTER_IGNORE,
	SA_REGISTER_MOVE
};
enum { TYPE_WE = 1, TYPE_EA = 3, TYPE_WE_RO = 5, TYPE_EA_RO = 6, TYPE_WE_AR = 7, TYPE_EA_AR = 8 };

/* One initiator: its nexus and what it has seen of the LU-wide UAs. */
struct ini {
	struct scsi_nexus nexus;
	uint32_t ua_seen[SCSI_MAX_LUNS];
};

struct pr_env {
	struct t_env *e;
	struct ini a, b;
	unsigned aborts;
	char aborted[SCSI_PORT_NAME_MAX];
};

static void on_abort(void *ctx, struct scsi_cmd *by, struct scsi_lu *lu, const char *iport)
{
	struct pr_env *p = ctx;

	(void)lu;
	assert_non_null(by); /* the PREEMPT AND ABORT command, still running */
	p->aborts++;
	snprintf(p->aborted, sizeof(p->aborted), "%s", iport);
}

static int env_setup(void **state)
{
	struct pr_env *p = calloc(1, sizeof(*p));
	const uint8_t isid_a[6] = {0x80, 0, 0, 0, 0, 1}, isid_b[6] = {0x80, 0, 0, 0, 0, 2};

	p->e = t_env_new(BS, BLOCKS, true);
	scsi_nexus_init(&p->a.nexus, "iqn.test:a", isid_a, "iqn.2026-11.org.idm:disk1", 1, 1);
	scsi_nexus_init(&p->b.nexus, "iqn.test:b", isid_b, "iqn.2026-11.org.idm:disk1", 1, 2);
	p->e->set.abort_nexus = on_abort;
	p->e->set.abort_ctx = p;
	*state = p;
	return 0;
}

static int env_teardown(void **state)
{
	struct pr_env *p = *state;

	t_env_free(p->e);
	free(p);
	return 0;
}

static void done(struct scsi_cmd *cmd)
{
	(void)cmd;
}

/* Run `cdb` from initiator `in` with `data` (WRITE) or e->buf (READ). */
static uint8_t run(struct pr_env *p, struct ini *in, const uint8_t *cdb, const uint8_t *data,
                   uint32_t len)
{
	struct t_env *e = p->e;
	struct scsi_cmd *cmd = &e->cmd;

	memset(cmd, 0, sizeof(*cmd));
	memcpy(e->cdb, cdb, 16);
	cmd->luns = &e->set;
	cmd->cdb = e->cdb;
	cmd->cdb_len = 16;
	cmd->ua_seen = in->ua_seen;
	cmd->nexus = in->nexus.initiator_port[0] ? &in->nexus : NULL;
	cmd->done = done;
	if (scsi_cmd_setup(cmd) != 0) {
		return cmd->status;
	}
	if (data) {
		memcpy(e->buf, data, len);
	}
	cmd->data = e->buf;
	cmd->data_cap = e->buf_cap;
	scsi_cmd_exec(cmd);
	return cmd->status;
}

static uint8_t prout_full(struct pr_env *p, struct ini *in, uint8_t sa, uint8_t type, uint64_t key,
                          uint64_t sa_key, uint8_t flags)
{
	uint8_t cdb[16] = {PROUT, sa, type};
	uint8_t param[24] = {0};

	put_be32(cdb + 5, sizeof(param));
	put_be64(param, key);
	put_be64(param + 8, sa_key);
	param[20] = flags;
	return run(p, in, cdb, param, sizeof(param));
}

static uint8_t prout(struct pr_env *p, struct ini *in, uint8_t sa, uint8_t type, uint64_t key,
                     uint64_t sa_key)
{
	return prout_full(p, in, sa, type, key, sa_key, 0);
}

static uint8_t prin(struct pr_env *p, struct ini *in, uint8_t sa)
{
	uint8_t cdb[16] = {PRIN, sa};

	put_be16(cdb + 7, 4096);
	return run(p, in, cdb, NULL, 0);
}

static uint8_t rw(struct pr_env *p, struct ini *in, uint8_t op)
{
	uint8_t cdb[16];
	uint8_t zero[BS] = {0};

	t_cdb10(cdb, op, 0, 0, 1);
	return run(p, in, cdb, zero, BS);
}

/* Clear the LU-wide power-on UA and any queued one for `in`. */
static void clear_ua(struct pr_env *p, struct ini *in)
{
	uint8_t tur[16] = {0};

	while (run(p, in, tur, NULL, 0) == SCSI_STATUS_CHECK_CONDITION) {
	}
}

static uint16_t ua_of(struct pr_env *p, struct ini *in)
{
	uint8_t tur[16] = {0};

	if (run(p, in, tur, NULL, 0) != SCSI_STATUS_CHECK_CONDITION) {
		return 0;
	}
	assert_int_equal(p->e->cmd.sense[2] & 0x0f, SCSI_SENSE_UNIT_ATTENTION);
	return get_be16(p->e->cmd.sense + 12);
}

static void test_register_and_read_keys(void **state)
{
	struct pr_env *p = *state;
	uint8_t *b = p->e->buf;

	clear_ua(p, &p->a);
	assert_int_equal(prin(p, &p->a, 0), SCSI_STATUS_GOOD);
	assert_int_equal(get_be32(b + 4), 0);
	/* An unregistered nexus giving a key conflicts. */
	assert_int_equal(prout(p, &p->a, SA_REGISTER, 0, KEY_B, KEY_A),
	                 SCSI_STATUS_RESERVATION_CONFLICT);
	assert_int_equal(prout(p, &p->a, SA_REGISTER, 0, 0, KEY_A), SCSI_STATUS_GOOD);
	assert_int_equal(prin(p, &p->a, 0), SCSI_STATUS_GOOD);
	assert_int_equal(get_be32(b), 1); /* PRgeneration */
	assert_int_equal(get_be32(b + 4), 8);
	assert_true(get_be64(b + 8) == KEY_A);
	/* Wrong key: conflict; REGISTER AND IGNORE changes it anyway. */
	assert_int_equal(prout(p, &p->a, SA_REGISTER, 0, KEY_B, KEY_B),
	                 SCSI_STATUS_RESERVATION_CONFLICT);
	assert_int_equal(prout(p, &p->a, SA_REGISTER_IGNORE, 0, 0, KEY_B), SCSI_STATUS_GOOD);
	assert_int_equal(prin(p, &p->a, 0), SCSI_STATUS_GOOD);
	assert_true(get_be64(b + 8) == KEY_B);
	/* Unregister with key 0. */
	assert_int_equal(prout(p, &p->a, SA_REGISTER, 0, KEY_B, 0), SCSI_STATUS_GOOD);
	assert_int_equal(prin(p, &p->a, 0), SCSI_STATUS_GOOD);
	assert_int_equal(get_be32(b + 4), 0);
	assert_int_equal(get_be32(b), 3);
}

static void test_prin_fields(void **state)
{
	struct pr_env *p = *state;
	uint8_t cdb[16] = {PRIN, 4};
	uint8_t *b = p->e->buf;

	clear_ua(p, &p->a);
	assert_int_equal(run(p, &p->a, cdb, NULL, 0), SCSI_STATUS_CHECK_CONDITION);
	t_expect_field(p->e, 1, 4);
	assert_int_equal(prin(p, &p->a, 2), SCSI_STATUS_GOOD);
	assert_int_equal(get_be16(b), 8);
	assert_int_equal(b[3] & 0x70, 0x10); /* ALLOW COMMANDS 001b */
	assert_int_equal(b[4], 0xea);
	assert_int_equal(b[5], 0x01);
	/* READ FULL STATUS names the holder with its TransportID. */
	prout(p, &p->a, SA_REGISTER, 0, 0, KEY_A);
	prout(p, &p->a, SA_RESERVE, TYPE_WE, KEY_A, 0);
	assert_int_equal(prin(p, &p->a, 3), SCSI_STATUS_GOOD);
	assert_true(get_be64(b + 8) == KEY_A);
	assert_int_equal(b[8 + 12], 0x01);
	assert_int_equal(b[8 + 13], TYPE_WE);
	assert_int_equal(b[8 + 24], 0x45);
	assert_string_equal((const char *)b + 8 + 28, "iqn.test:a,i,0x800000000001");
	/* Bad PR OUT parameter list length. */
	{
		uint8_t out[16] = {PROUT, SA_REGISTER};

		put_be32(out + 5, 20);
		assert_int_equal(run(p, &p->a, out, NULL, 0), SCSI_STATUS_CHECK_CONDITION);
		t_expect_sense(p->e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_PARAM_LIST_LENGTH_ERROR);
	}
}

/* Reads / writes from a registered and an unregistered other nexus. */
struct access_row {
	uint8_t type;
	bool reg_read, reg_write, unreg_read, unreg_write;
};

static void test_access_by_type(void **state)
{
	static const struct access_row rows[] = {
	    {TYPE_WE, true, false, true, false},   {TYPE_EA, false, false, false, false},
	    {TYPE_WE_RO, true, true, true, false}, {TYPE_EA_RO, true, true, false, false},
	    {TYPE_WE_AR, true, true, true, false}, {TYPE_EA_AR, true, true, false, false},
	};
	struct pr_env *p = *state;

	clear_ua(p, &p->a);
	clear_ua(p, &p->b);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct access_row *r = &rows[i];

		assert_int_equal(prout(p, &p->a, SA_REGISTER, 0, 0, KEY_A), SCSI_STATUS_GOOD);
		assert_int_equal(prout(p, &p->a, SA_RESERVE, r->type, KEY_A, 0), SCSI_STATUS_GOOD);
		assert_int_equal(rw(p, &p->a, 0x28), SCSI_STATUS_GOOD);
		assert_int_equal(rw(p, &p->a, 0x2a), SCSI_STATUS_GOOD);
		assert_int_equal(rw(p, &p->b, 0x28) == SCSI_STATUS_GOOD, r->unreg_read);
		assert_int_equal(rw(p, &p->b, 0x2a) == SCSI_STATUS_GOOD, r->unreg_write);
		assert_int_equal(prout(p, &p->b, SA_REGISTER, 0, 0, KEY_B), SCSI_STATUS_GOOD);
		assert_int_equal(rw(p, &p->b, 0x28) == SCSI_STATUS_GOOD, r->reg_read);
		assert_int_equal(rw(p, &p->b, 0x2a) == SCSI_STATUS_GOOD, r->reg_write);
		/* INQUIRY is always allowed. */
		{
			uint8_t inq[16] = {0x12, 0, 0, 0, 96};

			assert_int_equal(run(p, &p->b, inq, NULL, 0), SCSI_STATUS_GOOD);
		}
		/* Another reservation conflicts; the holder's same one is GOOD. */
		assert_int_equal(prout(p, &p->a, SA_RESERVE, r->type, KEY_A, 0), SCSI_STATUS_GOOD);
		assert_int_equal(prout(p, &p->a, SA_RESERVE, r->type == 1 ? 3 : 1, KEY_A, 0),
		                 SCSI_STATUS_RESERVATION_CONFLICT);
		assert_int_equal(prout(p, &p->a, SA_CLEAR, 0, KEY_A, 0), SCSI_STATUS_GOOD);
		assert_int_equal(ua_of(p, &p->b), SCSI_ASC_RESERVATIONS_PREEMPTED);
		assert_int_equal(rw(p, &p->b, 0x2a), SCSI_STATUS_GOOD);
	}
}

static void test_release(void **state)
{
	struct pr_env *p = *state;
	uint8_t *b = p->e->buf;

	clear_ua(p, &p->a);
	clear_ua(p, &p->b);
	prout(p, &p->a, SA_REGISTER, 0, 0, KEY_A);
	prout(p, &p->b, SA_REGISTER, 0, 0, KEY_B);
	assert_int_equal(prout(p, &p->a, SA_RESERVE, TYPE_WE_RO, KEY_A, 0), SCSI_STATUS_GOOD);
	/* A non-holder's RELEASE does nothing; a wrong type is an error. */
	assert_int_equal(prout(p, &p->b, SA_RELEASE, TYPE_WE_RO, KEY_B, 0), SCSI_STATUS_GOOD);
	assert_int_equal(prout(p, &p->a, SA_RELEASE, TYPE_WE, KEY_A, 0),
	                 SCSI_STATUS_CHECK_CONDITION);
	t_expect_sense(p->e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_INVALID_RELEASE_OF_PR);
	assert_int_equal(prout(p, &p->a, SA_RELEASE, TYPE_WE_RO, KEY_A, 0), SCSI_STATUS_GOOD);
	assert_int_equal(prin(p, &p->a, 1), SCSI_STATUS_GOOD);
	assert_int_equal(get_be32(b + 4), 0);
	assert_int_equal(ua_of(p, &p->b), SCSI_ASC_RESERVATIONS_RELEASED);
	assert_int_equal(ua_of(p, &p->a), 0);
	/* The holder unregistering releases a WE reservation silently. */
	prout(p, &p->a, SA_RESERVE, TYPE_WE, KEY_A, 0);
	assert_int_equal(prout(p, &p->a, SA_REGISTER, 0, KEY_A, 0), SCSI_STATUS_GOOD);
	assert_int_equal(prin(p, &p->a, 1), SCSI_STATUS_GOOD);
	assert_int_equal(get_be32(b + 4), 0);
	assert_int_equal(ua_of(p, &p->b), 0);
}

static void test_preempt(void **state)
{
	struct pr_env *p = *state;
	uint8_t *b = p->e->buf;

	clear_ua(p, &p->a);
	clear_ua(p, &p->b);
	prout(p, &p->a, SA_REGISTER, 0, 0, KEY_A);
	prout(p, &p->b, SA_REGISTER, 0, 0, KEY_B);
	/* No reservation: removes the registration only. */
	assert_int_equal(prout(p, &p->a, SA_PREEMPT, TYPE_WE, KEY_A, KEY_B), SCSI_STATUS_GOOD);
	assert_int_equal(ua_of(p, &p->b), SCSI_ASC_REGISTRATIONS_PREEMPTED);
	assert_int_equal(prin(p, &p->a, 0), SCSI_STATUS_GOOD);
	assert_int_equal(get_be32(b + 4), 8);
	/* A key nobody holds conflicts; key 0 without AR is invalid. */
	assert_int_equal(prout(p, &p->a, SA_PREEMPT, TYPE_WE, KEY_A, KEY_B),
	                 SCSI_STATUS_RESERVATION_CONFLICT);
	assert_int_equal(prout(p, &p->a, SA_PREEMPT, TYPE_WE, KEY_A, 0),
	                 SCSI_STATUS_CHECK_CONDITION);
	/* Preempting the holder takes its reservation, with a new type. */
	prout(p, &p->b, SA_REGISTER, 0, 0, KEY_B);
	prout(p, &p->b, SA_RESERVE, TYPE_EA, KEY_B, 0);
	assert_int_equal(prout(p, &p->a, SA_PREEMPT_ABORT, TYPE_WE, KEY_A, KEY_B),
	                 SCSI_STATUS_GOOD);
	assert_int_equal(p->aborts, 1);
	assert_string_equal(p->aborted, p->b.nexus.initiator_port);
	assert_int_equal(prin(p, &p->a, 1), SCSI_STATUS_GOOD);
	assert_true(get_be64(b + 8) == KEY_A);
	assert_int_equal(b[21], TYPE_WE);
	assert_int_equal(ua_of(p, &p->b), SCSI_ASC_REGISTRATIONS_PREEMPTED);
	/* All registrants: key 0 preempts every other registrant. */
	prout(p, &p->a, SA_CLEAR, 0, KEY_A, 0);
	clear_ua(p, &p->b);
	prout(p, &p->a, SA_REGISTER, 0, 0, KEY_A);
	prout(p, &p->b, SA_REGISTER, 0, 0, KEY_B);
	prout(p, &p->b, SA_RESERVE, TYPE_EA_AR, KEY_B, 0);
	assert_int_equal(prout(p, &p->a, SA_PREEMPT, TYPE_EA, KEY_A, 0), SCSI_STATUS_GOOD);
	assert_int_equal(rw(p, &p->b, 0x28), SCSI_STATUS_CHECK_CONDITION); /* the UA first */
	assert_int_equal(rw(p, &p->b, 0x28), SCSI_STATUS_RESERVATION_CONFLICT);
}

static void test_register_and_move(void **state)
{
	struct pr_env *p = *state;
	uint8_t cdb[16] = {PROUT, SA_REGISTER_MOVE, TYPE_WE};
	uint8_t param[24 + 4 + 32] = {0};
	const char *dest = "iqn.test:b,i,0x800000000002";
	uint8_t *b = p->e->buf;

	clear_ua(p, &p->a);
	clear_ua(p, &p->b);
	prout(p, &p->a, SA_REGISTER, 0, 0, KEY_A);
	prout(p, &p->a, SA_RESERVE, TYPE_WE, KEY_A, 0);
	put_be32(cdb + 5, sizeof(param));
	put_be64(param, KEY_A);
	put_be64(param + 8, KEY_B);
	param[17] = 0x02; /* UNREG */
	put_be16(param + 18, 1);
	put_be32(param + 20, 4 + 32);
	param[24] = 0x45;
	put_be16(param + 26, 32);
	memcpy(param + 28, dest, strlen(dest) + 1);
	assert_int_equal(run(p, &p->a, cdb, param, sizeof(param)), SCSI_STATUS_GOOD);
	assert_int_equal(prin(p, &p->b, 1), SCSI_STATUS_GOOD);
	assert_true(get_be64(b + 8) == KEY_B);
	assert_int_equal(prin(p, &p->b, 0), SCSI_STATUS_GOOD);
	assert_int_equal(get_be32(b + 4), 8); /* the source unregistered */
	assert_int_equal(rw(p, &p->b, 0x2a), SCSI_STATUS_GOOD);
	assert_int_equal(rw(p, &p->a, 0x2a), SCSI_STATUS_RESERVATION_CONFLICT);
}

/* An iSCSI TransportID (format 01b) for `name` at `d`; returns its length. */
static uint32_t put_tid(uint8_t *d, const char *name)
{
	uint32_t len = (uint32_t)strlen(name) + 1;
	uint32_t padded = (len + 3) & ~3u;

	memset(d, 0, 4 + padded);
	d[0] = 0x45;
	put_be16(d + 2, (uint16_t)padded);
	memcpy(d + 4, name, len);
	return 4 + padded;
}

/* REGISTER AND MOVE whose TransportID length field says `tid_len` over a
 * parameter list of `list_len` bytes, while the buffer past the list
 * still holds a stale TransportID naming another initiator. */
static uint8_t move_hostile(struct pr_env *p, uint32_t tid_len, uint32_t list_len)
{
	uint8_t cdb[16] = {PROUT, SA_REGISTER_MOVE, TYPE_WE};
	uint8_t param[512] = {0};
	uint8_t *b = p->e->buf;

	memset(b, 0, 4096);
	put_tid(b + 24, "iqn.stale:leak,i,0x800000000009");
	put_tid(b + list_len, "iqn.stale:leak,i,0x800000000009");
	put_be32(cdb + 5, list_len);
	put_be64(param, KEY_A);
	put_be64(param + 8, KEY_B);
	put_be16(param + 18, 1);
	put_be32(param + 20, tid_len);
	return run(p, &p->a, cdb, param, list_len < 24 ? list_len : 24);
}

/* No READ FULL STATUS entry names the stale initiator. */
static void expect_no_leak(struct pr_env *p)
{
	uint8_t *b = p->e->buf;
	uint32_t len;

	assert_int_equal(prin(p, &p->a, 3), SCSI_STATUS_GOOD);
	len = get_be32(b + 4);
	assert_true(len + 8 <= 4096);
	for (uint32_t i = 8; i + 5 < len + 8; i++) {
		assert_false(memcmp(b + i, "stale", 5) == 0);
	}
}

/* Hostile TransportID lengths: each refused, nothing read past the list. */
static void test_register_and_move_lengths(void **state)
{
	static const uint32_t too_long[] = {0xffffffe8u, 0xffffffe9u, 0xfffffff0u,
	                                    0xfffffffcu, 0xffffffffu, 1u + 24u};
	struct pr_env *p = *state;

	clear_ua(p, &p->a);
	prout(p, &p->a, SA_REGISTER, 0, 0, KEY_A);
	prout(p, &p->a, SA_RESERVE, TYPE_WE, KEY_A, 0);
	/* Shorter than the smallest iSCSI TransportID (24 bytes). */
	assert_int_equal(move_hostile(p, 0, 48), SCSI_STATUS_CHECK_CONDITION);
	t_expect_param(p->e, 20);
	assert_int_equal(move_hostile(p, 23, 48), SCSI_STATUS_CHECK_CONDITION);
	t_expect_param(p->e, 20);
	/* 24 bytes of zeros: a well-sized but invalid TransportID. */
	assert_int_equal(move_hostile(p, 24, 48), SCSI_STATUS_CHECK_CONDITION);
	t_expect_sense(p->e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_INVALID_FIELD_IN_PARAM_LIST);
	expect_no_leak(p);
	/* Past the end of the list, wrapping 24 + length or not. */
	for (size_t i = 0; i < sizeof(too_long) / sizeof(too_long[0]); i++) {
		assert_int_equal(move_hostile(p, too_long[i], 24), SCSI_STATUS_CHECK_CONDITION);
		t_expect_sense(p->e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_PARAM_LIST_LENGTH_ERROR);
		expect_no_leak(p);
	}
	for (uint32_t len = 0xffffffe8u; len != 0; len++) {
		assert_int_equal(move_hostile(p, len, 48), SCSI_STATUS_CHECK_CONDITION);
		t_expect_sense(p->e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_PARAM_LIST_LENGTH_ERROR);
	}
	expect_no_leak(p);
	/* One byte more than the list holds. */
	assert_int_equal(move_hostile(p, 48 - 24 + 1, 48), SCSI_STATUS_CHECK_CONDITION);
	t_expect_sense(p->e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_PARAM_LIST_LENGTH_ERROR);
	expect_no_leak(p);
	/* The holder still holds its reservation. */
	assert_int_equal(prin(p, &p->a, 1), SCSI_STATUS_GOOD);
	assert_true(get_be64(p->e->buf + 8) == KEY_A);
}

static uint8_t spc2(struct pr_env *p, struct ini *in, uint8_t op)
{
	uint8_t cdb[16] = {op};

	return run(p, in, cdb, NULL, 0);
}

static void test_spc2_reserve(void **state)
{
	struct pr_env *p = *state;

	clear_ua(p, &p->a);
	clear_ua(p, &p->b);
	assert_int_equal(spc2(p, &p->a, 0x16), SCSI_STATUS_GOOD);
	assert_int_equal(spc2(p, &p->a, 0x16), SCSI_STATUS_GOOD);
	assert_int_equal(spc2(p, &p->b, 0x16), SCSI_STATUS_RESERVATION_CONFLICT);
	assert_int_equal(spc2(p, &p->b, 0x56), SCSI_STATUS_RESERVATION_CONFLICT);
	assert_int_equal(rw(p, &p->b, 0x28), SCSI_STATUS_RESERVATION_CONFLICT);
	assert_int_equal(spc2(p, &p->b, 0x17), SCSI_STATUS_GOOD); /* not the holder: no-op */
	assert_int_equal(rw(p, &p->b, 0x28), SCSI_STATUS_RESERVATION_CONFLICT);
	assert_int_equal(prout(p, &p->a, SA_REGISTER, 0, 0, KEY_A),
	                 SCSI_STATUS_RESERVATION_CONFLICT);
	assert_int_equal(rw(p, &p->a, 0x2a), SCSI_STATUS_GOOD);
	/* Released by the loss of the nexus, and by a reset. */
	scsi_lu_nexus_gone(p->e->lu, &p->a.nexus);
	assert_int_equal(spc2(p, &p->b, 0x56), SCSI_STATUS_GOOD);
	scsi_lu_raise_ua(p->e->lu, SCSI_ASC_BUS_DEVICE_RESET);
	clear_ua(p, &p->a);
	assert_int_equal(spc2(p, &p->a, 0x16), SCSI_STATUS_GOOD);
	assert_int_equal(spc2(p, &p->a, 0x57), SCSI_STATUS_GOOD);
	/* Registrations make RESERVE / RELEASE conflict. */
	clear_ua(p, &p->b);
	assert_int_equal(prout(p, &p->b, SA_REGISTER, 0, 0, KEY_B), SCSI_STATUS_GOOD);
	assert_int_equal(spc2(p, &p->a, 0x16), SCSI_STATUS_RESERVATION_CONFLICT);
	assert_int_equal(spc2(p, &p->b, 0x17), SCSI_STATUS_RESERVATION_CONFLICT);
	/* Third-party RESERVE(10) is not supported. */
	{
		uint8_t cdb[16] = {0x56, 0x10};

		assert_int_equal(run(p, &p->a, cdb, NULL, 0), SCSI_STATUS_CHECK_CONDITION);
	}
}

static void test_no_nexus(void **state)
{
	struct pr_env *p = *state;
	uint8_t cdb[16] = {PROUT, SA_REGISTER};
	uint8_t param[24] = {0};

	put_be32(cdb + 5, 24);
	put_be64(param + 8, KEY_A);
	clear_ua(p, &p->a);
	/* Without a nexus nothing can be registered. */
	assert_int_equal(run(p, &(struct ini){0}, cdb, param, 24),
	                 SCSI_STATUS_RESERVATION_CONFLICT);
	assert_int_equal(prin(p, &p->a, 0), SCSI_STATUS_GOOD);
}

/* APTPL: save with APTPL=1, load into a fresh LU, remove with APTPL=0. */
static void test_aptpl_round_trip(void **state)
{
	struct pr_env *p = *state;
	char dir[] = "/tmp/idm-pr-ut-XXXXXX";
	char path[512];
	struct scsi_lu *lu2;
	uint8_t *b = p->e->buf;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(scsi_lu_set_state_dir(p->e->lu, dir, NULL, 0), 0);
	snprintf(path, sizeof(path), "%s/pr-iqn.2026-11.org.idm_disk1-lun0.state", dir);
	clear_ua(p, &p->a);
	clear_ua(p, &p->b);
	assert_int_equal(prout_full(p, &p->a, SA_REGISTER, 0, 0, KEY_A, 0x01), SCSI_STATUS_GOOD);
	assert_int_equal(prout(p, &p->b, SA_REGISTER, 0, 0, KEY_B), SCSI_STATUS_GOOD);
	assert_int_equal(prout(p, &p->b, SA_RESERVE, TYPE_EA_RO, KEY_B, 0), SCSI_STATUS_GOOD);
	assert_int_equal(prout_full(p, &p->b, SA_REGISTER, 0, KEY_B, KEY_B, 0x01),
	                 SCSI_STATUS_GOOD);
	assert_int_equal(access(path, R_OK), 0);
	/* A new LU (as after a restart) over the same directory. */
	assert_int_equal(scsi_lu_create(1, &fake_store_new(BS, BLOCKS * BS, true)->b,
	                                "iqn.2026-11.org.idm:disk1", &lu2),
	                 0);
	lu2->lun = 0; /* same name as LUN 0 */
	assert_int_equal(scsi_lu_set_state_dir(lu2, dir, NULL, 0), 0);
	p->e->set.lu[1] = p->e->lu;
	p->e->set.lu[0] = lu2;
	p->e->lu = lu2;
	clear_ua(p, &p->a);
	assert_int_equal(prin(p, &p->a, 0), SCSI_STATUS_GOOD);
	assert_int_equal(get_be32(b + 4), 16);
	assert_int_equal(prin(p, &p->a, 1), SCSI_STATUS_GOOD);
	assert_true(get_be64(b + 8) == KEY_B);
	assert_int_equal(b[21], TYPE_EA_RO);
	assert_int_equal(prin(p, &p->a, 2), SCSI_STATUS_GOOD);
	assert_int_equal(b[3] & 0x01, 1);                       /* PTPL_A */
	assert_int_equal(rw(p, &p->a, 0x28), SCSI_STATUS_GOOD); /* registered */
	/* APTPL=0 drops the file. */
	assert_int_equal(prout(p, &p->a, SA_REGISTER, 0, KEY_A, KEY_A), SCSI_STATUS_GOOD);
	assert_int_equal(access(path, F_OK), -1);
	rmdir(dir);
}

/* A missing state directory is created by the first APTPL save; an
 * unusable one makes APTPL=1 an invalid field (PTPL_C = 0). */
static void test_aptpl_dir(void **state)
{
	struct pr_env *p = *state;
	char dir[] = "/tmp/idm-pr-ut-XXXXXX";
	char sub[600], path[700];

	assert_non_null(mkdtemp(dir));
	snprintf(sub, sizeof(sub), "%s/state", dir);
	snprintf(path, sizeof(path), "%s/pr-iqn.2026-11.org.idm_disk1-lun0.state", sub);
	assert_int_equal(scsi_lu_set_state_dir(p->e->lu, sub, NULL, 0), 0);
	clear_ua(p, &p->a);
	assert_int_equal(prout_full(p, &p->a, SA_REGISTER, 0, 0, KEY_A, 0x01), SCSI_STATUS_GOOD);
	assert_int_equal(access(path, R_OK), 0);
	assert_int_equal(prout(p, &p->a, SA_REGISTER, 0, KEY_A, 0), SCSI_STATUS_GOOD);
	assert_int_equal(access(path, F_OK), -1);
	rmdir(sub);
	rmdir(dir);
	assert_int_equal(scsi_lu_set_state_dir(p->e->lu, "/nonexistent-idm/a/b", NULL, 0), 0);
	assert_int_equal(prout_full(p, &p->a, SA_REGISTER, 0, 0, KEY_A, 0x01),
	                 SCSI_STATUS_CHECK_CONDITION);
	t_expect_sense(p->e, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_INVALID_FIELD_IN_PARAM_LIST);
}

/* A damaged state file is refused, not half loaded. */
static void test_aptpl_damaged(void **state)
{
	struct pr_env *p = *state;
	char dir[] = "/tmp/idm-pr-ut-XXXXXX";
	char path[512];
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/pr-iqn.2026-11.org.idm_disk1-lun0.state", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("idm-pr 1\nreservation 3 5\nreg zz\n", f);
	fclose(f);
	assert_int_equal(scsi_lu_set_state_dir(p->e->lu, dir, NULL, 0), -EINVAL);
	clear_ua(p, &p->a);
	assert_int_equal(prin(p, &p->a, 0), SCSI_STATUS_GOOD);
	assert_int_equal(get_be32(p->e->buf + 4), 0);
	unlink(path);
	rmdir(dir);
}

/* The initiator port names READ FULL STATUS reports, in order. */
static unsigned full_status_names(struct pr_env *p, char names[][SCSI_PORT_NAME_MAX], unsigned max)
{
	uint8_t *b = p->e->buf;
	uint32_t end, off = 8;
	unsigned n = 0;

	assert_int_equal(prin(p, &p->a, 3), SCSI_STATUS_GOOD);
	end = 8 + get_be32(b + 4);
	while (off < end && n < max) {
		uint32_t tid = get_be32(b + off + 20);

		snprintf(names[n++], SCSI_PORT_NAME_MAX, "%s", (const char *)b + off + 28);
		off += 24 + tid;
	}
	return n;
}

/* Names with a newline, spaces, '=' and '%' survive a save and a load
 * exactly, and inject nothing. */
static void test_aptpl_names_escaped(void **state)
{
	struct pr_env *p = *state;
	char dir[] = "/tmp/idm-pr-ut-XXXXXX";
	char path[512], why[600] = "";
	char names[4][SCSI_PORT_NAME_MAX];
	const uint8_t isid[6] = {0x80, 0, 0, 0, 0, 3};
	struct ini evil = {0}, odd = {0};
	struct scsi_lu *lu2;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/pr-iqn.2026-11.org.idm_disk1-lun0.state", dir);
	scsi_nexus_init(&evil.nexus,
	                "iqn.test:evil\nreg 3333333333333333 1 iqn.x:inj,i,0x800000000007 t\n"
	                "reservation 3 2",
	                isid, "iqn.2026-11.org.idm:disk1", 1, 3);
	scsi_nexus_init(&odd.nexus, "iqn.test: a=b %41 c\t", isid, "iqn.2026-11.org.idm:disk1", 1,
	                4);
	assert_int_equal(scsi_lu_set_state_dir(p->e->lu, dir, why, sizeof(why)), 0);
	clear_ua(p, &evil);
	clear_ua(p, &odd);
	assert_int_equal(prout_full(p, &evil, SA_REGISTER, 0, 0, KEY_A, 0x01), SCSI_STATUS_GOOD);
	assert_int_equal(prout_full(p, &odd, SA_REGISTER, 0, 0, KEY_B, 0x01), SCSI_STATUS_GOOD);
	assert_int_equal(prout_full(p, &odd, SA_RESERVE, TYPE_WE, KEY_B, 0, 0), SCSI_STATUS_GOOD);
	assert_int_equal(prout_full(p, &odd, SA_REGISTER, 0, KEY_B, KEY_B, 0x01), SCSI_STATUS_GOOD);
	assert_int_equal(access(path, R_OK), 0);
	/* Restart: a new LU over the same directory. */
	assert_int_equal(scsi_lu_create(0, &fake_store_new(BS, BLOCKS * BS, true)->b,
	                                "iqn.2026-11.org.idm:disk1", &lu2),
	                 0);
	assert_int_equal(scsi_lu_set_state_dir(lu2, dir, why, sizeof(why)), 0);
	scsi_lu_free(p->e->lu);
	p->e->set.lu[0] = lu2;
	p->e->lu = lu2;
	clear_ua(p, &p->a);
	assert_int_equal(full_status_names(p, names, 4), 2);
	assert_string_equal(names[0], evil.nexus.initiator_port);
	assert_string_equal(names[1], odd.nexus.initiator_port);
	/* The holder is the odd name's registration, its type kept. */
	assert_int_equal(prin(p, &p->a, 1), SCSI_STATUS_GOOD);
	assert_true(get_be64(p->e->buf + 8) == KEY_B);
	assert_int_equal(p->e->buf[21], TYPE_WE);
	assert_int_equal(rw(p, &odd, 0x2a), SCSI_STATUS_GOOD);
	assert_int_equal(rw(p, &evil, 0x2a), SCSI_STATUS_RESERVATION_CONFLICT);
	unlink(path);
	rmdir(dir);
}

/* Each damaged file is refused with an error naming the file and the
 * line, and loads nothing. */
static void test_aptpl_corrupt_lines(void **state)
{
	static const struct {
		const char *text;
		unsigned line;
	} bad[] = {
	    {"", 1},
	    {"idm-pr 2\n", 1},
	    {"idm-pr 1 \n", 1},
	    {"idm-pr 1\ngeneration x\n", 2},
	    {"idm-pr 1\ngeneration 1 2\n", 2},
	    {"idm-pr 1\ngeneration -1\n", 2},
	    {"idm-pr 1\ngeneration 99999999999\n", 2},
	    {"idm-pr 1\ngeneration 1\nfoo bar\n", 3},
	    {"idm-pr 1\nreservation 3 0\nreg 1111 1 a,i,0x1 t\nreg 22 1 b c d\n", 4},
	    {"idm-pr 1\nreg 1111 1 a,i,0x1 t\nreg 2222 1 b%zz t\n", 3},
	    {"idm-pr 1\nreg 1111 1 a,i,0x1 t\nreg 2222 1 b%00 t\n", 3},
	    {"idm-pr 1\nreg 1111 70000 a,i,0x1 t\n", 2},
	    {"idm-pr 1\nreg 11111111111111111 1 a t\n", 2},
	    {"idm-pr 1\nreg 1111  1 a t\n", 2},
	    {"idm-pr 1\nreg 1111 1 a t", 2},
	    {"idm-pr 1\nreg 1111 1 a t\nreg 2222 1 a t\n", 3},
	    {"idm-pr 1\nreservation 3 1\nreg 1111 1 a t\n", 2},
	    {"idm-pr 1\nreservation 2 0\nreg 1111 1 a t\n", 2},
	    {"idm-pr 1\nreservation 7 0\nreg 1111 1 a t\n", 2},
	    {"idm-pr 1\nreservation 1 0\nreservation 1 0\nreg 1111 1 a t\n", 3},
	};
	struct pr_env *p = *state;
	char dir[] = "/tmp/idm-pr-ut-XXXXXX";
	char path[512], want[600], why[1024];

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/pr-iqn.2026-11.org.idm_disk1-lun0.state", dir);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		FILE *f = fopen(path, "w");

		assert_non_null(f);
		fputs(bad[i].text, f);
		fclose(f);
		why[0] = '\0';
		print_message("case %zu\n", i);
		assert_int_equal(scsi_lu_set_state_dir(p->e->lu, dir, why, sizeof(why)), -EINVAL);
		snprintf(want, sizeof(want), "%s:%u: ", path, bad[i].line);
		assert_ptr_not_equal(strstr(why, want), NULL);
		clear_ua(p, &p->a);
		assert_int_equal(prin(p, &p->a, 0), SCSI_STATUS_GOOD);
		assert_int_equal(get_be32(p->e->buf + 4), 0);
	}
	/* A good file still loads after them. */
	{
		FILE *f = fopen(path, "w");

		assert_non_null(f);
		fputs("idm-pr 1\ngeneration 5\nreservation 0 -1\nreg 1111 1 a,i,0x1 t\n", f);
		fclose(f);
		assert_int_equal(scsi_lu_set_state_dir(p->e->lu, dir, why, sizeof(why)), 0);
		assert_int_equal(prin(p, &p->a, 0), SCSI_STATUS_GOOD);
		assert_int_equal(get_be32(p->e->buf), 5);
		assert_int_equal(get_be32(p->e->buf + 4), 8);
	}
	unlink(path);
	rmdir(dir);
}

#define T(f) cmocka_unit_test_setup_teardown(f, env_setup, env_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_register_and_read_keys),
	    T(test_prin_fields),
	    T(test_access_by_type),
	    T(test_release),
	    T(test_preempt),
	    T(test_register_and_move),
	    T(test_register_and_move_lengths),
	    T(test_spc2_reserve),
	    T(test_no_nexus),
	    T(test_aptpl_round_trip),
	    T(test_aptpl_damaged),
	    T(test_aptpl_dir),
	    T(test_aptpl_names_escaped),
	    T(test_aptpl_corrupt_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
