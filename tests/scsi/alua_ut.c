/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ALUA: REPORT TARGET PORT GROUPS with and without groups, the unit
 * attention of a state change, what each access state lets through,
 * SET TARGET PORT GROUPS and its request hook, TPGS, the port
 * designators of VPD 0x83, and the seqlock under a racing writer.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/scsi/scsi_int.h" /* the pure decisions: refusal, parse */
#include "idm/wire.h"
#include "scsi_test.h"

#define BS 512
#define BLOCKS 1000
#define TARGET "iqn.2026-11.org.idm:disk1"

#define AO SCSI_ALUA_ACTIVE_OPTIMIZED
#define AN SCSI_ALUA_ACTIVE_NON_OPTIMIZED
#define SB SCSI_ALUA_STANDBY
#define UN SCSI_ALUA_UNAVAILABLE
#define TR SCSI_ALUA_TRANSITIONING

#define ASC_STANDBY 0x040b
#define ASC_UNAVAILABLE 0x040c
#define ASC_TRANSITION 0x040a
#define ASC_STPG_FAILED 0x670a

/* One initiator through one gateway: its nexus and the LU-wide UAs it
 * has seen. */
struct ini {
	struct scsi_nexus nexus;
	uint32_t ua_seen[SCSI_MAX_LUNS];
};

struct alua_env {
	struct t_env *e;
	struct ini a, b, c;   /* through groups 1, 2 and 3 */
	unsigned requests;    /* calls of the request hook */
	uint16_t requested;   /* its last group */
	int request_rc;       /* what it answers */
	bool request_applies; /* the hook makes the group optimized at once */
};

static void ini_init(struct ini *in, const char *name, uint8_t isid_last, uint16_t tpgt)
{
	const uint8_t isid[6] = {0x80, 0, 0, 0, 0, isid_last};

	scsi_nexus_init(&in->nexus, name, isid, TARGET, tpgt, isid_last);
}

static int env_setup(void **state)
{
	struct alua_env *p = calloc(1, sizeof(*p));

	assert_non_null(p);
	p->e = t_env_new(BS, BLOCKS, true);
	ini_init(&p->a, "iqn.test:a", 1, 1);
	ini_init(&p->b, "iqn.test:b", 2, 2);
	ini_init(&p->c, "iqn.test:c", 3, 3);
	*state = p;
	return 0;
}

static int env_teardown(void **state)
{
	struct alua_env *p = *state;

	t_env_free(p->e);
	free(p);
	return 0;
}

/* Run `cdb` from `in` (NULL: no nexus) with `data` (WRITE) or e->buf
 * (READ). Returns the status. */
static uint8_t run(struct alua_env *p, struct ini *in, const uint8_t *cdb, const uint8_t *data,
                   uint32_t len)
{
	return t_run_nexus(p->e, in ? &in->nexus : NULL, in ? in->ua_seen : NULL, cdb, data, len);
}

static void expect_sense(struct alua_env *p, uint8_t key, uint16_t asc)
{
	t_expect_sense(p->e, key, asc);
}

/* The LU's groups: ids 1..n with these states. */
static void set_groups(struct alua_env *p, unsigned n, const uint8_t *states)
{
	struct scsi_alua a;
	unsigned i;

	memset(&a, 0, sizeof(a));
	a.n = n;
	for (i = 0; i < n; i++) {
		a.group[i].id = (uint16_t)(i + 1);
		a.group[i].state = states[i];
	}
	scsi_lu_set_alua(p->e->lu, &a);
}

static uint8_t rtpg(struct alua_env *p, struct ini *in, bool ext, uint32_t alloc)
{
	uint8_t cdb[16] = {0xa3, (uint8_t)((ext ? 0x20 : 0) | 0x0a)};

	put_be32(cdb + 6, alloc);
	return run(p, in, cdb, NULL, 0);
}

static uint8_t test_unit_ready(struct alua_env *p, struct ini *in)
{
	const uint8_t cdb[16] = {0x00};

	return run(p, in, cdb, NULL, 0);
}

static uint8_t read10(struct alua_env *p, struct ini *in)
{
	uint8_t cdb[16];

	t_cdb10(cdb, 0x28, 0, 0, 1);
	return run(p, in, cdb, NULL, 0);
}

/* The first command of `in` after a change reports it. */
static void take_ua(struct alua_env *p, struct ini *in)
{
	assert_int_equal(test_unit_ready(p, in), SCSI_STATUS_CHECK_CONDITION);
	expect_sense(p, SCSI_SENSE_UNIT_ATTENTION, SCSI_ASC_ASYMMETRIC_ACCESS_STATE_CHANGED);
}

/* ---- REPORT TARGET PORT GROUPS ---- */

static void test_rtpg_without_groups(void **state)
{
	struct alua_env *p = *state;
	const uint8_t *b = p->e->buf;
	int ext;

	for (ext = 0; ext < 2; ext++) {
		const uint8_t *d = b + (ext ? 8 : 4);

		assert_int_equal(rtpg(p, &p->b, ext, 256), SCSI_STATUS_GOOD);
		assert_int_equal(p->e->cmd.data_len, (ext ? 8 : 4) + 12);
		assert_int_equal(get_be32(b), (ext ? 4 : 0) + 12);
		if (ext) {
			assert_int_equal(b[4], 0x10);
			assert_int_equal(b[5], 0); /* never transitions */
		}
		assert_int_equal(d[0], 0x80 | AO);    /* PREF, active/optimized */
		assert_int_equal(d[1], 0x01);         /* AO_SUP only */
		assert_int_equal(get_be16(d + 2), 2); /* the nexus's portal group */
		assert_int_equal(d[7], 1);
		assert_int_equal(get_be16(d + 10), 2);
	}
	/* Without a nexus: group and port 1. */
	assert_int_equal(rtpg(p, NULL, false, 256), SCSI_STATUS_GOOD);
	assert_int_equal(get_be16(b + 4 + 2), 1);
}

/* n groups: ids 1..n, group 1 optimized, the others non-optimized. */
static void check_rtpg_groups(struct alua_env *p, unsigned n)
{
	static const uint8_t states[3] = {AO, AN, SB};
	const uint8_t *b = p->e->buf;
	unsigned i;
	int ext;

	set_groups(p, n, states);
	take_ua(p, n > 1 ? &p->b : &p->a);
	for (ext = 0; ext < 2; ext++) {
		uint32_t hdr = ext ? 8 : 4;

		/* Any nexus sees every group, its own or not. */
		assert_int_equal(rtpg(p, n > 1 ? &p->b : &p->a, ext, 4096), SCSI_STATUS_GOOD);
		assert_int_equal(p->e->cmd.data_len, hdr + 12 * n);
		assert_int_equal(get_be32(b), hdr - 4 + 12 * n);
		if (ext) {
			assert_int_equal(b[4], 0x10);
			assert_int_not_equal(b[5], 0); /* implicit transition time */
		}
		for (i = 0; i < n; i++) {
			const uint8_t *d = b + hdr + 12 * i;

			assert_int_equal(d[0], states[i]); /* PREF off */
			assert_int_equal(d[1], 0x8f);      /* T, U, S, AN, AO supported */
			assert_int_equal(get_be16(d + 2), i + 1);
			assert_int_equal(d[7], 1);
			assert_int_equal(get_be16(d + 10), i + 1); /* its one port */
		}
	}
}

static void test_rtpg_one_group(void **state)
{
	check_rtpg_groups(*state, 1);
}

static void test_rtpg_two_groups(void **state)
{
	check_rtpg_groups(*state, 2);
}

static void test_rtpg_three_groups(void **state)
{
	check_rtpg_groups(*state, 3);
}

/* A short allocation length cuts the data, never the length field. */
static void test_rtpg_short_allocation(void **state)
{
	static const uint8_t states[3] = {AO, AN, AN};
	static const uint32_t allocs[] = {0, 1, 4, 7, 8, 19, 20, 43};
	struct alua_env *p = *state;
	const uint8_t *b = p->e->buf;
	size_t i;
	int ext;

	set_groups(p, 3, states);
	take_ua(p, &p->a);
	for (ext = 0; ext < 2; ext++) {
		for (i = 0; i < sizeof(allocs) / sizeof(allocs[0]); i++) {
			memset(p->e->buf, 0xee, 64);
			assert_int_equal(rtpg(p, &p->a, ext, allocs[i]), SCSI_STATUS_GOOD);
			uint32_t total = (ext ? 8 : 4) + 36;
			uint32_t want = allocs[i] < total ? allocs[i] : total;

			assert_int_equal(p->e->cmd.data_len, want);
			assert_int_equal(b[want], 0xee); /* nothing beyond */
			if (allocs[i] >= 4) {
				assert_int_equal(get_be32(b), (ext ? 4 : 0) + 36);
			}
		}
	}
}

/* ---- ASYMMETRIC ACCESS STATE CHANGED ---- */

static void expect_ua_once(struct alua_env *p, struct ini *in)
{
	take_ua(p, in);
	assert_int_equal(test_unit_ready(p, in), SCSI_STATUS_GOOD);
}

static void test_state_change_ua(void **state)
{
	static const uint8_t first[2] = {AO, AN}, moved[2] = {AN, AO};
	struct alua_env *p = *state;
	struct ini *ins[2] = {&p->a, &p->b};
	const uint8_t *b = p->e->buf;
	unsigned i;

	/* Both nexuses exist before the groups come. */
	assert_int_equal(test_unit_ready(p, &p->a), SCSI_STATUS_GOOD);
	assert_int_equal(test_unit_ready(p, &p->b), SCSI_STATUS_GOOD);
	set_groups(p, 2, first);
	for (i = 0; i < 2; i++) {
		expect_ua_once(p, ins[i]);
	}
	/* The same states again: no unit attention. */
	set_groups(p, 2, first);
	for (i = 0; i < 2; i++) {
		assert_int_equal(test_unit_ready(p, ins[i]), SCSI_STATUS_GOOD);
	}
	/* The optimized path moves: one each, and RTPG says implicit. */
	set_groups(p, 2, moved);
	for (i = 0; i < 2; i++) {
		expect_ua_once(p, ins[i]);
	}
	assert_int_equal(rtpg(p, &p->a, false, 256), SCSI_STATUS_GOOD);
	assert_int_equal(b[4], AN);
	assert_int_equal(b[4 + 5], 0x02); /* altered by implicit transition */
	assert_int_equal(b[16], AO);
	assert_int_equal(b[16 + 5], 0x02);
	/* A group added, then removed: each a change. */
	set_groups(p, 3, (const uint8_t[]){AN, AO, SB});
	expect_ua_once(p, &p->a);
	set_groups(p, 2, moved);
	expect_ua_once(p, &p->a);
	/* Back to no groups: a change too, then nothing more. */
	scsi_lu_set_alua(p->e->lu, NULL);
	expect_ua_once(p, &p->b);
	scsi_lu_set_alua(p->e->lu, NULL);
	assert_int_equal(test_unit_ready(p, &p->a),
	                 SCSI_STATUS_CHECK_CONDITION); /* the earlier one */
	assert_int_equal(test_unit_ready(p, &p->a), SCSI_STATUS_GOOD);
	assert_int_equal(test_unit_ready(p, &p->b), SCSI_STATUS_GOOD);
}

/* ---- Access states ---- */

struct pass_case {
	uint8_t op, b1;
	uint16_t standby, unavailable, transitioning; /* 0: runs, else the ASC */
};

#define S ASC_STANDBY
#define U ASC_UNAVAILABLE
#define T ASC_TRANSITION
static const struct pass_case pass_cases[] = {
    {0x12, 0, 0, 0, 0},    /* INQUIRY */
    {0xa0, 0, 0, 0, 0},    /* REPORT LUNS */
    {0x03, 0, 0, 0, 0},    /* REQUEST SENSE */
    {0xa3, 0x0a, 0, 0, 0}, /* REPORT TARGET PORT GROUPS */
    {0xa3, 0x0c, 0, 0, 0}, /* REPORT SUPPORTED OPERATION CODES */
    {0xa3, 0x0d, 0, 0, 0}, /* REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS */
    {0xa3, 0x05, S, U, T}, /* REPORT IDENTIFYING INFORMATION */
    {0xa4, 0x0a, 0, 0, T}, /* SET TARGET PORT GROUPS */
    {0xa4, 0x06, S, U, T}, /* SET IDENTIFYING INFORMATION */
    {0x3c, 0x0a, 0, 0, 0}, /* READ BUFFER, echo buffer */
    {0x3c, 0x02, S, U, T}, /* READ BUFFER, data */
    {0x3b, 0x0a, 0, 0, 0}, /* WRITE BUFFER, echo buffer */
    {0x4c, 0, 0, U, T},    /* LOG SELECT */
    {0x4d, 0, 0, U, T},    /* LOG SENSE */
    {0x15, 0, 0, U, T},    /* MODE SELECT(6) */
    {0x55, 0, 0, U, T},    /* MODE SELECT(10) */
    {0x1a, 0, 0, U, T},    /* MODE SENSE(6) */
    {0x5a, 0, 0, U, T},    /* MODE SENSE(10) */
    {0x1c, 0, 0, U, T},    /* RECEIVE DIAGNOSTIC RESULTS */
    {0x1d, 0, 0, U, T},    /* SEND DIAGNOSTIC */
    {0x5e, 0, 0, U, T},    /* PERSISTENT RESERVE IN */
    {0x5f, 0, 0, U, T},    /* PERSISTENT RESERVE OUT */
    {0x00, 0, S, U, T},    /* TEST UNIT READY */
    {0x25, 0, S, U, T},    /* READ CAPACITY(10): not in the lists */
    {0x9e, 0x10, S, U, T}, /* READ CAPACITY(16) */
    {0x28, 0, S, U, T},    /* READ(10) */
    {0x2a, 0, S, U, T},    /* WRITE(10) */
    {0x88, 0, S, U, T},    /* READ(16) */
    {0x8a, 0, S, U, T},    /* WRITE(16) */
    {0x89, 0, S, U, T},    /* COMPARE AND WRITE */
    {0x35, 0, S, U, T},    /* SYNCHRONIZE CACHE(10) */
    {0x42, 0, S, U, T},    /* UNMAP */
    {0x16, 0, S, U, T},    /* RESERVE(6) */
    {0x83, 0, S, U, T},    /* EXTENDED COPY */
    {0x1b, 0, S, U, T},    /* START STOP UNIT */
};
#undef S
#undef U
#undef T

static void test_access_states(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(pass_cases) / sizeof(pass_cases[0]); i++) {
		const struct pass_case *c = &pass_cases[i];
		uint8_t cdb[16] = {c->op, c->b1};

		assert_int_equal(scsi_alua_refusal(AO, cdb), 0);
		assert_int_equal(scsi_alua_refusal(AN, cdb), 0);
		assert_int_equal(scsi_alua_refusal(SB, cdb), c->standby);
		assert_int_equal(scsi_alua_refusal(UN, cdb), c->unavailable);
		assert_int_equal(scsi_alua_refusal(TR, cdb), c->transitioning);
		/* A state we do not know counts as transitioning. */
		assert_int_equal(scsi_alua_refusal(0x7, cdb), c->transitioning);
	}
}

/* The states through scsi_cmd_setup, by the nexus's group. */
static void test_access_through_setup(void **state)
{
	static const uint8_t states[3] = {AN, SB, UN};
	struct alua_env *p = *state;
	struct ini other = {0}; /* nothing seen yet */
	uint8_t inq[16] = {0x12, 0, 0, 0, 96};

	set_groups(p, 3, states);
	/* Each reports the change first. */
	assert_int_equal(read10(p, &p->a), SCSI_STATUS_CHECK_CONDITION);
	expect_sense(p, SCSI_SENSE_UNIT_ATTENTION, SCSI_ASC_ASYMMETRIC_ACCESS_STATE_CHANGED);
	assert_int_equal(inq[0], 0x12); /* INQUIRY neither reports nor clears it */
	assert_int_equal(run(p, &p->b, inq, NULL, 0), SCSI_STATUS_GOOD);
	assert_int_equal(read10(p, &p->b), SCSI_STATUS_CHECK_CONDITION);
	expect_sense(p, SCSI_SENSE_UNIT_ATTENTION, SCSI_ASC_ASYMMETRIC_ACCESS_STATE_CHANGED);
	assert_int_equal(read10(p, &p->c), SCSI_STATUS_CHECK_CONDITION);
	expect_sense(p, SCSI_SENSE_UNIT_ATTENTION, SCSI_ASC_ASYMMETRIC_ACCESS_STATE_CHANGED);

	assert_int_equal(read10(p, &p->a), SCSI_STATUS_GOOD); /* non-optimized */
	assert_int_equal(read10(p, &p->b), SCSI_STATUS_CHECK_CONDITION);
	expect_sense(p, SCSI_SENSE_NOT_READY, ASC_STANDBY);
	assert_int_equal(run(p, &p->b, inq, NULL, 0), SCSI_STATUS_GOOD);
	assert_int_equal(rtpg(p, &p->b, false, 256), SCSI_STATUS_GOOD);
	assert_int_equal(read10(p, &p->c), SCSI_STATUS_CHECK_CONDITION);
	expect_sense(p, SCSI_SENSE_NOT_READY, ASC_UNAVAILABLE);
	assert_int_equal(rtpg(p, &p->c, true, 256), SCSI_STATUS_GOOD);
	/* No nexus, or a port of no group: active/optimized. */
	assert_int_equal(read10(p, NULL), SCSI_STATUS_GOOD);
	ini_init(&other, "iqn.test:d", 4, 9);
	assert_int_equal(read10(p, &other), SCSI_STATUS_CHECK_CONDITION); /* its UA */
	assert_int_equal(read10(p, &other), SCSI_STATUS_GOOD);
	/* The group comes back: it runs again. */
	set_groups(p, 3, (const uint8_t[]){AN, AO, UN});
	assert_int_equal(read10(p, &p->b), SCSI_STATUS_CHECK_CONDITION);
	assert_int_equal(read10(p, &p->b), SCSI_STATUS_GOOD);
}

/* ---- SET TARGET PORT GROUPS ---- */

static int on_request(void *arg, struct scsi_lu *lu, uint16_t group)
{
	struct alua_env *p = arg;

	assert_ptr_equal(lu, p->e->lu);
	p->requests++;
	p->requested = group;
	if (p->request_rc == 0 && p->request_applies) {
		uint8_t states[3] = {AN, AN, AN};

		states[group - 1] = AO;
		set_groups(p, 3, states);
	}
	return p->request_rc;
}

static uint8_t stpg(struct alua_env *p, struct ini *in, const uint8_t *param, uint32_t len)
{
	uint8_t cdb[16] = {0xa4, 0x0a};

	put_be32(cdb + 6, len);
	return run(p, in, cdb, param, len);
}

static bool rsoc_lists_stpg(struct alua_env *p)
{
	uint8_t cdb[16] = {0xa3, 0x0c, 0x02, 0xa4, 0x00, 0x0a};

	put_be32(cdb + 6, 64);
	assert_int_equal(run(p, &p->a, cdb, NULL, 0), SCSI_STATUS_GOOD);
	return (p->e->buf[1] & 0x07) == 0x03;
}

static uint8_t inquiry_tpgs(struct alua_env *p)
{
	const uint8_t cdb[16] = {0x12, 0, 0, 0, 96};

	assert_int_equal(run(p, &p->a, cdb, NULL, 0), SCSI_STATUS_GOOD);
	return p->e->buf[5] & 0x30;
}

static void test_stpg_without_hook(void **state)
{
	static const uint8_t param[8] = {0, 0, 0, 0, AO, 0, 0, 2};
	struct alua_env *p = *state;

	set_groups(p, 3, (const uint8_t[]){AO, AN, AN});
	assert_int_equal(test_unit_ready(p, &p->a), SCSI_STATUS_CHECK_CONDITION); /* the UA */
	assert_int_equal(stpg(p, &p->a, param, sizeof(param)), SCSI_STATUS_CHECK_CONDITION);
	expect_sense(p, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_INVALID_OPCODE);
	/* Any service action of MAINTENANCE OUT: not there at all. */
	assert_int_equal(run(p, &p->a, (const uint8_t[16]){0xa4, 0x06}, NULL, 0),
	                 SCSI_STATUS_CHECK_CONDITION);
	expect_sense(p, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_INVALID_OPCODE);
	assert_false(rsoc_lists_stpg(p));
	assert_int_equal(inquiry_tpgs(p), 0x10); /* implicit only */
	assert_int_equal(p->requests, 0);
}

static void test_stpg_good(void **state)
{
	static const uint8_t param[8] = {0, 0, 0, 0, AO, 0, 0, 2};
	struct alua_env *p = *state;
	const uint8_t *b = p->e->buf;

	set_groups(p, 3, (const uint8_t[]){AO, AN, AN});
	scsi_lu_set_alua_request(p->e->lu, on_request, p);
	assert_int_equal(inquiry_tpgs(p), 0x30); /* implicit and explicit */
	assert_true(rsoc_lists_stpg(p));
	assert_int_equal(test_unit_ready(p, &p->b), SCSI_STATUS_CHECK_CONDITION); /* the UA */
	p->request_applies = true;
	assert_int_equal(stpg(p, &p->b, param, sizeof(param)), SCSI_STATUS_GOOD);
	assert_int_equal(p->requests, 1);
	assert_int_equal(p->requested, 2);
	/* The new states, altered by SET TARGET PORT GROUPS. */
	assert_int_equal(rtpg(p, &p->b, false, 256), SCSI_STATUS_CHECK_CONDITION); /* the UA */
	assert_int_equal(rtpg(p, &p->b, false, 256), SCSI_STATUS_GOOD);
	assert_int_equal(b[4], AN);
	assert_int_equal(b[4 + 5], 0x01);
	assert_int_equal(b[16], AO);
	assert_int_equal(b[16 + 5], 0x01);
	assert_int_equal(b[28], AN);
	assert_int_equal(b[28 + 5], 0x00); /* unchanged: as it was */
	/* A later implicit change is implicit again. */
	set_groups(p, 3, (const uint8_t[]){AO, AN, AN});
	assert_int_equal(rtpg(p, &p->b, false, 256), SCSI_STATUS_CHECK_CONDITION);
	assert_int_equal(rtpg(p, &p->b, false, 256), SCSI_STATUS_GOOD);
	assert_int_equal(b[4 + 5], 0x02);
	/* The same group twice is one request; no descriptor, none. */
	assert_int_equal(
	    stpg(p, &p->b, (const uint8_t[]){0, 0, 0, 0, AO, 0, 0, 3, AO, 0, 0, 3}, 12),
	    SCSI_STATUS_GOOD);
	assert_int_equal(p->requests, 2);
	assert_int_equal(p->requested, 3);
	assert_int_equal(stpg(p, &p->c, NULL, 0), SCSI_STATUS_CHECK_CONDITION); /* its UA */
	assert_int_equal(stpg(p, &p->c, NULL, 0), SCSI_STATUS_GOOD);
	assert_int_equal(stpg(p, &p->c, param, 4), SCSI_STATUS_GOOD);
	assert_int_equal(p->requests, 2);
	/* Asking for the group already optimized changes nothing: the
	 * next change is implicit. */
	p->request_applies = false;
	assert_int_equal(stpg(p, &p->c, (const uint8_t[]){0, 0, 0, 0, AO, 0, 0, 3}, 8),
	                 SCSI_STATUS_GOOD);
	assert_int_equal(p->requests, 3);
	set_groups(p, 3, (const uint8_t[]){AO, AN, AN});
	assert_int_equal(rtpg(p, &p->c, false, 256), SCSI_STATUS_CHECK_CONDITION);
	assert_int_equal(rtpg(p, &p->c, false, 256), SCSI_STATUS_GOOD);
	assert_int_equal(b[4 + 5], 0x02);
	assert_int_equal(b[28 + 5], 0x02);
}

static void test_stpg_refused(void **state)
{
	struct alua_env *p = *state;
	uint8_t param[12] = {0, 0, 0, 0, AO, 0, 0, 2, AO, 0, 0, 3};
	uint8_t cdb[16] = {0xa4, 0x0a};
	static const uint32_t bad_lengths[] = {1, 3, 5, 6, 7, 9, 0xfffffffdu};

	set_groups(p, 3, (const uint8_t[]){AO, AN, AN});
	scsi_lu_set_alua_request(p->e->lu, on_request, p);
	assert_int_equal(test_unit_ready(p, &p->a), SCSI_STATUS_CHECK_CONDITION); /* the UA */
	/* A length that cuts the header or a descriptor. */
	for (size_t i = 0; i < sizeof(bad_lengths) / sizeof(bad_lengths[0]); i++) {
		put_be32(cdb + 6, bad_lengths[i]);
		assert_int_equal(run(p, &p->a, cdb, NULL, 0), SCSI_STATUS_CHECK_CONDITION);
		expect_sense(p, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_PARAM_LIST_LENGTH_ERROR);
	}
	/* Longer than one descriptor per group could need: refused before
	 * any data moves. */
	put_be32(cdb + 6, 4 + 4 * (SCSI_ALUA_GROUPS_MAX + 1));
	assert_int_equal(run(p, &p->a, cdb, NULL, 0), SCSI_STATUS_CHECK_CONDITION);
	t_expect_field(p->e, 6, -1);
	put_be32(cdb + 6, 0xfffffffcu);
	assert_int_equal(run(p, &p->a, cdb, NULL, 0), SCSI_STATUS_CHECK_CONDITION);
	t_expect_field(p->e, 6, -1);
	/* Two different groups asked to be optimized. */
	assert_int_equal(stpg(p, &p->a, param, 12), SCSI_STATUS_CHECK_CONDITION);
	t_expect_param(p->e, 10);
	/* An unknown group. */
	param[7] = 7;
	assert_int_equal(stpg(p, &p->a, param, 8), SCSI_STATUS_CHECK_CONDITION);
	t_expect_param(p->e, 6);
	/* Any state but active/optimized. */
	param[7] = 2;
	for (uint8_t s = 1; s < 16; s++) {
		param[4] = s;
		assert_int_equal(stpg(p, &p->a, param, 8), SCSI_STATUS_CHECK_CONDITION);
		t_expect_param(p->e, 4);
	}
	assert_int_equal(p->requests, 0);
	/* The hook fails: the transition failed. */
	param[4] = AO;
	p->request_rc = -EIO;
	assert_int_equal(stpg(p, &p->a, param, 8), SCSI_STATUS_CHECK_CONDITION);
	expect_sense(p, SCSI_SENSE_HARDWARE_ERROR, ASC_STPG_FAILED);
	assert_int_equal(p->requests, 1);
	/* A buffer shorter than the list is a target bug, not a crash. */
	p->request_rc = 0;
	put_be32(cdb + 6, 8);
	assert_int_equal(stpg(p, &p->a, NULL, 0), SCSI_STATUS_GOOD); /* the nexus, in e->cmd */
	memcpy(p->e->cdb, cdb, 16);
	assert_int_equal(scsi_cmd_setup(&p->e->cmd), 0);
	p->e->cmd.data = p->e->buf;
	p->e->cmd.data_cap = 4;
	scsi_cmd_exec(&p->e->cmd);
	expect_sense(p, SCSI_SENSE_HARDWARE_ERROR, SCSI_ASC_INTERNAL_TARGET_FAILURE);
	assert_int_equal(p->requests, 1);
}

/* Without groups the one group there is may be asked for. */
static void test_stpg_without_groups(void **state)
{
	struct alua_env *p = *state;
	uint8_t param[8] = {0, 0, 0, 0, AO, 0, 0, 2};

	scsi_lu_set_alua_request(p->e->lu, on_request, p);
	assert_int_equal(stpg(p, &p->b, param, 8), SCSI_STATUS_GOOD);
	assert_int_equal(p->requested, 2);
	assert_int_equal(stpg(p, &p->a, param, 8), SCSI_STATUS_CHECK_CONDITION);
	t_expect_param(p->e, 6);
	/* The hook gone: refused as before. */
	scsi_lu_set_alua_request(p->e->lu, NULL, NULL);
	assert_int_equal(stpg(p, &p->b, param, 8), SCSI_STATUS_CHECK_CONDITION);
	expect_sense(p, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ASC_INVALID_OPCODE);
}

static void test_stpg_parse(void **state)
{
	struct scsi_alua g = {.n = 2,
	                      .group = {{.id = 10, .state = AN}, {.id = 0x1234, .state = AO}}};
	uint8_t list[12] = {0xff, 0xff, 0xff, 0xff, AO, 0, 0x12, 0x34, AO, 0, 0x12, 0x34};
	uint16_t bad = 0;
	int group;

	(void)state;
	assert_int_equal(scsi_stpg_parse(list, 12, &g, &group, &bad), 0);
	assert_int_equal(group, 0x1234);
	assert_int_equal(scsi_stpg_parse(list, 4, &g, &group, &bad), 0);
	assert_int_equal(group, -1);
	assert_int_equal(scsi_stpg_parse(list, 0, &g, &group, &bad), 0);
	assert_int_equal(group, -1);
	assert_int_equal(scsi_stpg_parse(list, 10, &g, &group, &bad), -EMSGSIZE);
	assert_int_equal(scsi_stpg_parse(list, 2, &g, &group, &bad), -EMSGSIZE);
	list[11] = 10;
	assert_int_equal(scsi_stpg_parse(list, 12, &g, &group, &bad), -EINVAL);
	assert_int_equal(bad, 10);
	g.n = 0;
	assert_int_equal(scsi_stpg_parse(list, 8, &g, &group, &bad), -EINVAL);
	assert_int_equal(bad, 6);
}

/* ---- VPD 0x83: the designators of the answering port ---- */

static void test_vpd83_port_designators(void **state)
{
	struct alua_env *p = *state;
	const uint8_t cdb[16] = {0x12, 0x01, 0x83, 0x01, 0x00};
	const uint8_t *b = p->e->buf;
	unsigned off, found = 0;

	assert_int_equal(run(p, &p->c, cdb, NULL, 0), SCSI_STATUS_GOOD);
	for (off = 4; off + 4 <= 4u + get_be16(b + 2); off += 4u + b[off + 3]) {
		const uint8_t *d = b + off;
		uint8_t type = d[1] & 0x0f;

		if (type != 4 && type != 5) {
			continue;
		}
		assert_int_equal(d[0], 0x51);               /* iSCSI, binary */
		assert_int_equal(d[1], 0x80 | 0x10 | type); /* PIV, target port */
		assert_int_equal(d[3], 4);
		assert_int_equal(get_be16(d + 4), 0);
		assert_int_equal(get_be16(d + 6), 3); /* port and group of nexus c */
		found |= 1u << type;
	}
	assert_int_equal(found, (1u << 4) | (1u << 5));
}

/* ---- The seqlock under a writer on another thread ---- */

struct flipper {
	struct scsi_lu *lu;
	bool stop;      /* atomic */
	unsigned flips; /* atomic */
};

/* Moves the optimized group among 1..3: every copy has exactly one. */
static void *flip(void *arg)
{
	struct flipper *f = arg;
	struct scsi_alua a = {.n = 3};
	unsigned i;

	unsigned n = 0;

	while (!__atomic_load_n(&f->stop, __ATOMIC_RELAXED)) {
		for (i = 0; i < 3; i++) {
			a.group[i].id = (uint16_t)(i + 1);
			a.group[i].state = i == n % 3 ? AO : SB;
		}
		scsi_lu_set_alua(f->lu, &a);
		__atomic_store_n(&f->flips, ++n, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void test_seqlock_consistent(void **state)
{
	struct alua_env *p = *state;
	struct flipper f = {.lu = p->e->lu};
	uint8_t status[SCSI_ALUA_GROUPS_MAX];
	struct scsi_alua a;
	pthread_t t;
	unsigned i, j, optimized;

	assert_int_equal(pthread_create(&t, NULL, flip, &f), 0);
	/* Until the writer has flipped often enough while we read. */
	for (i = 0; i < 200000 || __atomic_load_n(&f.flips, __ATOMIC_RELAXED) < 20000; i++) {
		scsi_alua_snapshot(p->e->lu, &a, status);
		if (a.n == 0) {
			continue; /* before the first copy */
		}
		assert_int_equal(a.n, 3);
		optimized = 0;
		for (j = 0; j < 3; j++) {
			assert_int_equal(a.group[j].id, j + 1);
			optimized += a.group[j].state == AO;
		}
		assert_int_equal(optimized, 1);
		uint8_t st = scsi_alua_state_of(p->e->lu, &p->a.nexus);
		assert_true(st == AO || st == SB);
	}
	__atomic_store_n(&f.stop, true, __ATOMIC_RELAXED);
	assert_int_equal(pthread_join(t, NULL), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, env_setup, env_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_rtpg_without_groups),
	    T(test_rtpg_one_group),
	    T(test_rtpg_two_groups),
	    T(test_rtpg_three_groups),
	    T(test_rtpg_short_allocation),
	    T(test_state_change_ua),
	    T(test_access_states),
	    T(test_access_through_setup),
	    T(test_stpg_without_hook),
	    T(test_stpg_good),
	    T(test_stpg_refused),
	    T(test_stpg_without_groups),
	    T(test_stpg_parse),
	    T(test_vpd83_port_designators),
	    T(test_seqlock_consistent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
