/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Persistent reservations shared by gateways (pr_share.c): two (and
 * three) LUs over one fake cluster record stand for gateways exporting
 * one image. The fake keeps one versioned record, writes it only when
 * the version is still the one expected (else -ECANCELED), calls every
 * watcher before a write returns, and runs offloaded work inline.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idm/wire.h"
#include "scsi/pr_int.h"
#include "scsi_test.h"

#define BS 512
#define BLOCKS 64
#define TARGET "iqn.2026-11.org.idm:disk1"
#define PRIN 0x5e
#define PROUT 0x5f
#define KEY_A 0x1111111111111111ull
#define KEY_B 0x2222222222222222ull
#define KEY_C 0x3333333333333333ull
#define GATEWAYS 3

enum { SA_REGISTER, SA_RESERVE, SA_RELEASE, SA_CLEAR, SA_PREEMPT, SA_PREEMPT_ABORT };
enum { TYPE_WE = 1, TYPE_EA = 3, TYPE_WE_RO = 5, TYPE_EA_RO = 6, TYPE_WE_AR = 7, TYPE_EA_AR = 8 };

/* The cluster: one record "pr" and the gateways watching it. */
static struct {
	char text[PR_RECORD_MAX];
	size_t len;
	uint64_t version;
	void (*changed[GATEWAYS])(void *arg);
	void *arg[GATEWAYS];
	unsigned watchers;
	unsigned writes, cancels;
	unsigned force_cancel;   /* answer -ECANCELED this many times */
	void (*race)(void *ctx); /* runs once inside the next write */
	void *race_ctx;
} cl;

static int fake_read(struct idm_backing *b, const char *key, char *buf, size_t cap, size_t *len,
                     uint64_t *version)
{
	(void)b;
	assert_string_equal(key, "pr");
	assert_true(cl.len <= cap);
	memcpy(buf, cl.text, cl.len);
	*len = cl.len;
	*version = cl.version;
	return 0;
}

static void notify(void)
{
	for (unsigned i = 0; i < cl.watchers; i++) {
		cl.changed[i](cl.arg[i]);
	}
}

static int fake_write(struct idm_backing *b, const char *key, const char *buf, size_t len,
                      uint64_t expect, uint64_t *version)
{
	void (*race)(void *) = cl.race;

	(void)b;
	assert_string_equal(key, "pr");
	assert_true(len <= sizeof(cl.text));
	if (race) {
		cl.race = NULL;
		race(cl.race_ctx); /* another gateway writes first */
	}
	if (cl.force_cancel > 0 || expect != cl.version) {
		cl.force_cancel -= cl.force_cancel > 0;
		cl.cancels++;
		return -ECANCELED;
	}
	memcpy(cl.text, buf, len);
	cl.len = len;
	*version = ++cl.version;
	cl.writes++;
	notify();
	return 0;
}

static int fake_watch(struct idm_backing *b, const char *key, void (*changed)(void *arg), void *arg)
{
	(void)b;
	assert_string_equal(key, "pr");
	assert_true(cl.watchers < GATEWAYS);
	cl.changed[cl.watchers] = changed;
	cl.arg[cl.watchers++] = arg;
	return 0;
}

static const struct idm_backing_cluster_ops fake_cluster = {
    .record_read = fake_read, .record_write = fake_write, .record_watch = fake_watch};

static void inline_offload(struct idm_backing *b, struct idm_backing_io *io,
                           void (*work)(struct idm_backing_io *io), struct idm_reactor *r)
{
	(void)b;
	(void)r;
	work(io);
	io->done(io, 0);
}

/* A gateway: its LU over the shared image. */
struct gw {
	struct idm_backing_ops ops;
	struct scsi_lu *lu;
	struct scsi_lu_set set;
	unsigned aborts;
	char aborted[SCSI_PORT_NAME_MAX];
};

/* An initiator port through one gateway (target port group `tpgt`). */
struct ini {
	struct scsi_nexus nexus;
	uint32_t ua_seen[SCSI_MAX_LUNS];
};

/* One command in flight: its own buffers, so a racing gateway's
 * command can run inside another's write. */
struct ctx {
	struct scsi_cmd cmd;
	uint8_t cdb[16];
	uint8_t buf[8192];
};

struct env {
	struct gw gw[GATEWAYS];
	struct ini a1, b2, c2; /* initiator a through gateway 1, b and c through 2 */
	struct ctx main, racer;
};

static void on_abort(void *arg, struct scsi_cmd *by, struct scsi_lu *lu, const char *iport)
{
	struct gw *g = arg;

	(void)by;
	(void)lu;
	g->aborts++;
	snprintf(g->aborted, sizeof(g->aborted), "%s", iport);
}

/* Start gateway `g` (its LU, over the same image); share_pr's result. */
static int gw_start(struct gw *g, char *why, size_t whylen)
{
	struct fake_store *fs = fake_store_new(BS, BLOCKS * BS, true);

	g->ops = *fs->b.ops;
	g->ops.offload = inline_offload;
	fs->b.ops = &g->ops;
	fs->b.cluster = &fake_cluster;
	assert_int_equal(scsi_lu_create(0, &fs->b, TARGET, &g->lu), 0);
	g->set.lu[0] = g->lu;
	g->set.count = 1;
	g->set.abort_nexus = on_abort;
	g->set.abort_ctx = g;
	return scsi_lu_share_pr(g->lu, why, whylen);
}

static void ini_init(struct ini *in, const char *name, uint8_t id, uint16_t tpgt)
{
	const uint8_t isid[6] = {0x80, 0, 0, 0, 0, id};

	scsi_nexus_init(&in->nexus, name, isid, TARGET, tpgt, id);
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	char why[256] = "";

	assert_non_null(e);
	memset(&cl, 0, sizeof(cl));
	assert_int_equal(gw_start(&e->gw[0], why, sizeof(why)), 0);
	assert_int_equal(gw_start(&e->gw[1], why, sizeof(why)), 0);
	ini_init(&e->a1, "iqn.test:a", 1, 1);
	ini_init(&e->b2, "iqn.test:b", 2, 2);
	ini_init(&e->c2, "iqn.test:c", 3, 2);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	for (unsigned i = 0; i < GATEWAYS; i++) {
		scsi_lu_free(e->gw[i].lu);
	}
	free(e);
	return 0;
}

static void done(struct scsi_cmd *cmd)
{
	(void)cmd;
}

static uint8_t run(struct ctx *x, struct gw *g, struct ini *in, const uint8_t *cdb,
                   const uint8_t *data, uint32_t len)
{
	struct scsi_cmd *cmd = &x->cmd;

	memset(cmd, 0, sizeof(*cmd));
	memcpy(x->cdb, cdb, 16);
	cmd->luns = &g->set;
	cmd->cdb = x->cdb;
	cmd->cdb_len = 16;
	cmd->ua_seen = in->ua_seen;
	cmd->nexus = &in->nexus;
	cmd->done = done;
	if (scsi_cmd_setup(cmd) != 0) {
		return cmd->status;
	}
	if (data) {
		memcpy(x->buf, data, len);
	}
	cmd->data = x->buf;
	cmd->data_cap = sizeof(x->buf);
	scsi_cmd_exec(cmd);
	return cmd->status;
}

static uint8_t prout_on(struct ctx *x, struct gw *g, struct ini *in, uint8_t sa, uint8_t type,
                        uint64_t key, uint64_t sa_key)
{
	uint8_t cdb[16] = {PROUT, sa, type};
	uint8_t param[24] = {0};

	put_be32(cdb + 5, sizeof(param));
	put_be64(param, key);
	put_be64(param + 8, sa_key);
	return run(x, g, in, cdb, param, sizeof(param));
}

static uint8_t prout(struct env *e, struct gw *g, struct ini *in, uint8_t sa, uint8_t type,
                     uint64_t key, uint64_t sa_key)
{
	return prout_on(&e->main, g, in, sa, type, key, sa_key);
}

static uint8_t prin(struct env *e, struct gw *g, struct ini *in, uint8_t sa)
{
	uint8_t cdb[16] = {PRIN, sa};

	put_be16(cdb + 7, 4096);
	return run(&e->main, g, in, cdb, NULL, 0);
}

static uint8_t simple(struct env *e, struct gw *g, struct ini *in, uint8_t op)
{
	uint8_t cdb[16] = {op};
	uint8_t zero[BS] = {0};

	if (op == 0x28 || op == 0x2a) {
		t_cdb10(cdb, op, 0, 0, 1);
	}
	return run(&e->main, g, in, cdb, zero, sizeof(zero));
}

/* The unit attention TEST UNIT READY reports (0: none). */
static uint16_t ua_of(struct env *e, struct gw *g, struct ini *in)
{
	if (simple(e, g, in, 0x00) != SCSI_STATUS_CHECK_CONDITION) {
		return 0;
	}
	assert_int_equal(e->main.cmd.sense[2] & 0x0f, SCSI_SENSE_UNIT_ATTENTION);
	return get_be16(e->main.cmd.sense + 12);
}

static void clear_ua(struct env *e, struct gw *g, struct ini *in)
{
	while (ua_of(e, g, in) != 0) {
	}
}

static void expect_sense(struct env *e, uint8_t key, uint16_t asc)
{
	assert_int_equal(e->main.cmd.status, SCSI_STATUS_CHECK_CONDITION);
	assert_int_equal(e->main.cmd.sense[2] & 0x0f, key);
	assert_int_equal(get_be16(e->main.cmd.sense + 12), asc);
}

struct access_row {
	uint8_t type;
	bool reg_read, reg_write, unreg_read, unreg_write;
};

/* A reservation made through gateway 1 binds every command through
 * gateway 2 as its type demands (SPC-4 5.12.1, table 68). */
static void test_conflict_by_type(void **state)
{
	static const struct access_row rows[] = {
	    {TYPE_WE, true, false, true, false},   {TYPE_EA, false, false, false, false},
	    {TYPE_WE_RO, true, true, true, false}, {TYPE_EA_RO, true, true, false, false},
	    {TYPE_WE_AR, true, true, true, false}, {TYPE_EA_AR, true, true, false, false},
	};
	struct env *e = *state;
	struct gw *g1 = &e->gw[0], *g2 = &e->gw[1];

	clear_ua(e, g1, &e->a1);
	clear_ua(e, g2, &e->b2);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct access_row *r = &rows[i];

		print_message("type %u\n", r->type);
		assert_int_equal(prout(e, g1, &e->a1, SA_REGISTER, 0, 0, KEY_A), SCSI_STATUS_GOOD);
		assert_int_equal(prout(e, g1, &e->a1, SA_RESERVE, r->type, KEY_A, 0),
		                 SCSI_STATUS_GOOD);
		assert_int_equal(simple(e, g1, &e->a1, 0x2a), SCSI_STATUS_GOOD);
		assert_int_equal(simple(e, g2, &e->b2, 0x28) == SCSI_STATUS_GOOD, r->unreg_read);
		assert_int_equal(simple(e, g2, &e->b2, 0x2a) == SCSI_STATUS_GOOD, r->unreg_write);
		assert_int_equal(prout(e, g2, &e->b2, SA_REGISTER, 0, 0, KEY_B), SCSI_STATUS_GOOD);
		assert_int_equal(simple(e, g2, &e->b2, 0x28) == SCSI_STATUS_GOOD, r->reg_read);
		assert_int_equal(simple(e, g2, &e->b2, 0x2a) == SCSI_STATUS_GOOD, r->reg_write);
		/* Another type through gateway 2 conflicts. */
		assert_int_equal(prout(e, g2, &e->b2, SA_RESERVE, r->type == 1 ? 3 : 1, KEY_B, 0),
		                 SCSI_STATUS_RESERVATION_CONFLICT);
		/* CLEAR through 1: b, through 2, is told its registration went. */
		assert_int_equal(prout(e, g1, &e->a1, SA_CLEAR, 0, KEY_A, 0), SCSI_STATUS_GOOD);
		assert_int_equal(ua_of(e, g2, &e->b2), SCSI_ASC_RESERVATIONS_PREEMPTED);
		assert_int_equal(ua_of(e, g1, &e->a1), 0);
		assert_int_equal(simple(e, g2, &e->b2, 0x2a), SCSI_STATUS_GOOD);
	}
}

/* PREEMPT through gateway 2 takes gateway 1's reservation; a, through 1,
 * gets REGISTRATIONS PREEMPTED and conflicts from then on. */
static void test_preempt_across(void **state)
{
	struct env *e = *state;
	struct gw *g1 = &e->gw[0], *g2 = &e->gw[1];
	uint8_t *b = e->main.buf;

	clear_ua(e, g1, &e->a1);
	clear_ua(e, g2, &e->b2);
	prout(e, g1, &e->a1, SA_REGISTER, 0, 0, KEY_A);
	assert_int_equal(prout(e, g1, &e->a1, SA_RESERVE, TYPE_EA, KEY_A, 0), SCSI_STATUS_GOOD);
	prout(e, g2, &e->b2, SA_REGISTER, 0, 0, KEY_B);
	assert_int_equal(simple(e, g2, &e->b2, 0x28), SCSI_STATUS_RESERVATION_CONFLICT);
	assert_int_equal(prout(e, g2, &e->b2, SA_PREEMPT_ABORT, TYPE_WE, KEY_B, KEY_A),
	                 SCSI_STATUS_GOOD);
	/* Both gateways' abort hooks ran for a's port, once each: the
	 * preempting one for its command, gateway 1 from the record. */
	assert_int_equal(g2->aborts, 1);
	assert_string_equal(g2->aborted, e->a1.nexus.initiator_port);
	assert_int_equal(g1->aborts, 1);
	assert_string_equal(g1->aborted, e->a1.nexus.initiator_port);
	assert_int_equal(ua_of(e, g1, &e->a1), SCSI_ASC_REGISTRATIONS_PREEMPTED);
	assert_int_equal(ua_of(e, g1, &e->a1), 0);
	assert_int_equal(ua_of(e, g2, &e->b2), 0);
	assert_int_equal(simple(e, g1, &e->a1, 0x2a), SCSI_STATUS_RESERVATION_CONFLICT);
	assert_int_equal(simple(e, g1, &e->a1, 0x28), SCSI_STATUS_GOOD); /* WE now */
	assert_int_equal(simple(e, g2, &e->b2, 0x2a), SCSI_STATUS_GOOD);
	assert_int_equal(prin(e, g1, &e->a1, 1), SCSI_STATUS_GOOD);
	assert_true(get_be64(b + 8) == KEY_B);
	assert_int_equal(b[21], TYPE_WE);
	/* RELEASE of a registrants-only type through 2 tells a, through 1,
	 * once a is registered again. */
	prout(e, g1, &e->a1, SA_REGISTER, 0, 0, KEY_A);
	assert_int_equal(prout(e, g2, &e->b2, SA_RELEASE, TYPE_WE, KEY_B, 0), SCSI_STATUS_GOOD);
	assert_int_equal(prout(e, g2, &e->b2, SA_RESERVE, TYPE_WE_RO, KEY_B, 0), SCSI_STATUS_GOOD);
	assert_int_equal(prout(e, g2, &e->b2, SA_RELEASE, TYPE_WE_RO, KEY_B, 0), SCSI_STATUS_GOOD);
	assert_int_equal(ua_of(e, g1, &e->a1), SCSI_ASC_RESERVATIONS_RELEASED);
	assert_int_equal(ua_of(e, g2, &e->b2), 0);
	/* Preempting a nexus of its own gateway aborts once, for the
	 * command (whose status waits), not again from its watch. */
	clear_ua(e, g2, &e->c2);
	assert_int_equal(prout(e, g2, &e->c2, SA_REGISTER, 0, 0, KEY_C), SCSI_STATUS_GOOD);
	assert_int_equal(prout(e, g2, &e->b2, SA_PREEMPT_ABORT, TYPE_WE, KEY_B, KEY_C),
	                 SCSI_STATUS_GOOD);
	assert_int_equal(g2->aborts, 2);
	assert_string_equal(g2->aborted, e->c2.nexus.initiator_port);
	assert_int_equal(g1->aborts, 1);
	assert_int_equal(ua_of(e, g2, &e->c2), SCSI_ASC_REGISTRATIONS_PREEMPTED);
	/* No gateway holds attentions for nexuses it does not serve (they
	 * would cost every command a lock). */
	assert_int_equal(g1->lu->pr_ua_pending, 0);
	assert_int_equal(g2->lu->pr_ua_pending, 0);
}

/* Inside a's REGISTER through 1, c registers through 2 first. */
static void race_register_c(void *arg)
{
	struct env *e = arg;

	assert_int_equal(prout_on(&e->racer, &e->gw[1], &e->c2, SA_REGISTER, 0, 0, KEY_C),
	                 SCSI_STATUS_GOOD);
}

/* A write that lost the compare-and-swap reads again and keeps the
 * winner's change; one that keeps losing ends BUSY. */
static void test_cas_retry(void **state)
{
	struct env *e = *state;
	struct gw *g1 = &e->gw[0], *g2 = &e->gw[1];
	uint8_t *b = e->main.buf;

	clear_ua(e, g1, &e->a1);
	clear_ua(e, g2, &e->c2);
	cl.race = race_register_c;
	cl.race_ctx = e;
	assert_int_equal(prout(e, g1, &e->a1, SA_REGISTER, 0, 0, KEY_A), SCSI_STATUS_GOOD);
	assert_int_equal(cl.cancels, 1);
	assert_int_equal(cl.writes, 2);
	assert_int_equal(prin(e, g2, &e->b2, 0), SCSI_STATUS_GOOD);
	assert_int_equal(get_be32(b), 2);      /* PRgeneration */
	assert_int_equal(get_be32(b + 4), 16); /* both keys */
	assert_true(get_be64(b + 8) == KEY_C || get_be64(b + 16) == KEY_C);
	assert_true(get_be64(b + 8) == KEY_A || get_be64(b + 16) == KEY_A);
	/* A forced -ECANCELED once: retried, GOOD. */
	cl.force_cancel = 1;
	assert_int_equal(prout(e, g1, &e->a1, SA_RESERVE, TYPE_WE, KEY_A, 0), SCSI_STATUS_GOOD);
	assert_int_equal(cl.cancels, 2);
	/* Losing every time: BUSY, nothing changed. */
	cl.force_cancel = 1000;
	assert_int_equal(prout(e, g1, &e->a1, SA_RELEASE, TYPE_WE, KEY_A, 0), SCSI_STATUS_BUSY);
	cl.force_cancel = 0;
	assert_int_equal(prin(e, g2, &e->b2, 1), SCSI_STATUS_GOOD);
	assert_int_equal(e->main.buf[21], TYPE_WE);
}

/* Replace the record as a broken gateway (or an attacker) would. */
static void record_set(const char *text)
{
	snprintf(cl.text, sizeof(cl.text), "%s", text);
	cl.len = strlen(text);
	cl.version++;
	notify();
}

/* A record that does not parse is refused: PR commands fail, a new
 * gateway does not start, I/O keeps the last good copy; a good record
 * heals it. */
static void test_corrupt_record(void **state)
{
	struct env *e = *state;
	struct gw *g1 = &e->gw[0], *g2 = &e->gw[1];
	char why[256] = "";

	clear_ua(e, g1, &e->a1);
	clear_ua(e, g2, &e->b2);
	prout(e, g1, &e->a1, SA_REGISTER, 0, 0, KEY_A);
	prout(e, g1, &e->a1, SA_RESERVE, TYPE_WE, KEY_A, 0);
	record_set("idm-pr 1\ngeneration 1\nreservation 9 0\nreg 1111 1 a t\naptpl 0\nserial 1\n");
	assert_int_equal(prin(e, g2, &e->b2, 0), SCSI_STATUS_CHECK_CONDITION);
	expect_sense(e, SCSI_SENSE_HARDWARE_ERROR, SCSI_ASC_INTERNAL_TARGET_FAILURE);
	assert_int_equal(prout(e, g2, &e->b2, SA_REGISTER, 0, 0, KEY_B),
	                 SCSI_STATUS_CHECK_CONDITION);
	expect_sense(e, SCSI_SENSE_HARDWARE_ERROR, SCSI_ASC_INTERNAL_TARGET_FAILURE);
	assert_int_equal(simple(e, g2, &e->b2, 0x2a), SCSI_STATUS_RESERVATION_CONFLICT);
	assert_int_equal(gw_start(&e->gw[2], why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "record pr:3: unknown reservation type 9"));
	/* SPC-2 beside registrations, a unit attention from the future,
	 * a missing serial, an unknown line: each refused. */
	record_set("idm-pr 1\nreg 1111 1 a t\naptpl 0\nserial 1\nspc2 b t\n");
	assert_int_equal(prin(e, g2, &e->b2, 0), SCSI_STATUS_CHECK_CONDITION);
	record_set("idm-pr 1\naptpl 0\nserial 1\nua 2 2a05 - a t\n");
	assert_int_equal(prin(e, g2, &e->b2, 0), SCSI_STATUS_CHECK_CONDITION);
	record_set("idm-pr 1\naptpl 0\nserial 9223372036854775808\n");
	assert_int_equal(prin(e, g2, &e->b2, 0), SCSI_STATUS_CHECK_CONDITION);
	record_set("idm-pr 1\naptpl 1\n");
	assert_int_equal(prin(e, g2, &e->b2, 0), SCSI_STATUS_CHECK_CONDITION);
	record_set("idm-pr 1\naptpl 1\nserial 1\nua 1 2a06 - a t\n");
	assert_int_equal(prin(e, g2, &e->b2, 0), SCSI_STATUS_CHECK_CONDITION);
	record_set("idm-pr 1\naptpl 1\nserial 1\nua 1 2a03 a a t\n"); /* abort, no preempt */
	assert_int_equal(prin(e, g2, &e->b2, 0), SCSI_STATUS_CHECK_CONDITION);
	record_set("idm-pr 1\naptpl 1\nserial 1\nua 1 2a05 x a t\n");
	assert_int_equal(prin(e, g2, &e->b2, 0), SCSI_STATUS_CHECK_CONDITION);
	/* A good one heals every gateway. */
	record_set("idm-pr 1\ngeneration 7\nreservation 0 -1\naptpl 0\nserial 9\n");
	assert_int_equal(prin(e, g2, &e->b2, 0), SCSI_STATUS_GOOD);
	assert_int_equal(get_be32(e->main.buf), 7);
	assert_int_equal(simple(e, g2, &e->b2, 0x2a), SCSI_STATUS_GOOD);
	assert_int_equal(prout(e, g2, &e->b2, SA_REGISTER, 0, 0, KEY_B), SCSI_STATUS_GOOD);
}

/* SPC-2 RESERVE through 1 conflicts through 2, until RELEASE or the
 * loss of the nexus; PERSISTENT RESERVE conflicts with it too. */
static void test_spc2_across(void **state)
{
	struct env *e = *state;
	struct gw *g1 = &e->gw[0], *g2 = &e->gw[1];

	clear_ua(e, g1, &e->a1);
	clear_ua(e, g2, &e->b2);
	assert_int_equal(simple(e, g1, &e->a1, 0x16), SCSI_STATUS_GOOD);
	assert_int_equal(simple(e, g2, &e->b2, 0x28), SCSI_STATUS_RESERVATION_CONFLICT);
	assert_int_equal(simple(e, g2, &e->b2, 0x16), SCSI_STATUS_RESERVATION_CONFLICT);
	assert_int_equal(prout(e, g2, &e->b2, SA_REGISTER, 0, 0, KEY_B),
	                 SCSI_STATUS_RESERVATION_CONFLICT);
	assert_int_equal(simple(e, g1, &e->a1, 0x2a), SCSI_STATUS_GOOD);
	assert_int_equal(simple(e, g1, &e->a1, 0x17), SCSI_STATUS_GOOD);
	assert_int_equal(simple(e, g2, &e->b2, 0x2a), SCSI_STATUS_GOOD);
	/* The nexus going away releases it in the cluster. */
	assert_int_equal(simple(e, g1, &e->a1, 0x16), SCSI_STATUS_GOOD);
	assert_int_equal(simple(e, g2, &e->b2, 0x2a), SCSI_STATUS_RESERVATION_CONFLICT);
	scsi_lu_nexus_gone(g1->lu, &e->a1.nexus);
	assert_int_equal(simple(e, g2, &e->b2, 0x2a), SCSI_STATUS_GOOD);
	/* So does a LOGICAL UNIT RESET through any gateway. */
	assert_int_equal(simple(e, g1, &e->a1, 0x16), SCSI_STATUS_GOOD);
	scsi_lu_raise_ua(g2->lu, SCSI_ASC_BUS_DEVICE_RESET);
	clear_ua(e, g2, &e->b2);
	assert_int_equal(simple(e, g2, &e->b2, 0x2a), SCSI_STATUS_GOOD);
}

/* READ KEYS through 2 sees a registration made through 1; a gateway
 * (re)started over the same record sees all of it. */
static void test_read_keys_and_restart(void **state)
{
	struct env *e = *state;
	struct gw *g1 = &e->gw[0], *g2 = &e->gw[1], *g3 = &e->gw[2];
	uint8_t *b = e->main.buf;
	struct ini a3 = {0};
	char why[256] = "";

	clear_ua(e, g1, &e->a1);
	clear_ua(e, g2, &e->b2);
	assert_int_equal(prin(e, g2, &e->b2, 2), SCSI_STATUS_GOOD);
	assert_int_equal(b[2] & 0x01, 1); /* PTPL_C: the cluster keeps it */
	assert_int_equal(prout(e, g1, &e->a1, SA_REGISTER, 0, 0, KEY_A), SCSI_STATUS_GOOD);
	assert_int_equal(prin(e, g2, &e->b2, 0), SCSI_STATUS_GOOD);
	assert_int_equal(get_be32(b), 1);
	assert_int_equal(get_be32(b + 4), 8);
	assert_true(get_be64(b + 8) == KEY_A);
	assert_int_equal(prout(e, g1, &e->a1, SA_RESERVE, TYPE_EA_RO, KEY_A, 0), SCSI_STATUS_GOOD);
	assert_int_equal(gw_start(g3, why, sizeof(why)), 0);
	ini_init(&a3, "iqn.test:a", 1, 3);
	clear_ua(e, g3, &a3);
	assert_int_equal(prin(e, g3, &a3, 1), SCSI_STATUS_GOOD);
	assert_true(get_be64(b + 8) == KEY_A);
	assert_int_equal(b[21], TYPE_EA_RO);
	assert_int_equal(prin(e, g3, &a3, 3), SCSI_STATUS_GOOD);
	assert_string_equal((const char *)b + 8 + 28, "iqn.test:a,i,0x800000000001");
	/* a through 3 is another I_T nexus, not registered: EA_RO stops it. */
	assert_int_equal(simple(e, g3, &a3, 0x28), SCSI_STATUS_RESERVATION_CONFLICT);
	assert_int_equal(simple(e, g1, &e->a1, 0x28), SCSI_STATUS_GOOD);
}

/* The pure parts: which unit attentions a gateway queues, and which a
 * record keeps. */
static void test_uas_pure(void **state)
{
	static const char local[2][SCSI_PORT_NAME_MAX] = {"t,1", "t,2"};
	struct pr_ua rec[PR_MAX_UAS] = {0}, fresh[PR_MAX_UAS] = {0}, out[PR_MAX_UAS];
	unsigned n;

	(void)state;
	rec[0] = (struct pr_ua){.used = true, .asc = 0x2a05, .serial = 3, .port = {"a", "t,1"}};
	rec[1] = (struct pr_ua){.used = true, .asc = 0x2a03, .serial = 4, .port = {"b", "t,9"}};
	rec[2] = (struct pr_ua){.used = true, .asc = 0x2a04, .serial = 5, .port = {"c", "t,2"}};
	rec[3] = (struct pr_ua){.used = true, .asc = 0x2a03, .serial = 6, .port = {"a", "t,1"}};
	n = pr_share_uas_due(rec, 3, local, 2, out);
	assert_int_equal(n, 2); /* serial 3 seen, t,9 elsewhere */
	assert_string_equal(out[0].port.iport, "c");
	assert_int_equal(out[1].asc, 0x2a03);
	assert_int_equal(pr_share_uas_due(rec, 6, local, 2, out), 0);
	assert_int_equal(pr_share_uas_due(rec, 0, local, 0, out), 0);
	/* Merge: fresh ones stamped and last; old ones within the window. */
	fresh[5] = (struct pr_ua){.used = true, .asc = 0x2a05, .port = {"d", "t,1"}};
	pr_share_uas_merge(fresh, rec, 10, out);
	assert_true(out[0].used && out[0].serial == 3);
	assert_true(out[3].used && out[3].serial == 6);
	assert_true(out[4].used && out[4].serial == 10);
	assert_string_equal(out[4].port.iport, "d");
	assert_false(out[5].used);
	pr_share_uas_merge(fresh, rec, 12, out); /* 12 - 3 and 12 - 4 too old */
	assert_int_equal(out[0].serial, 5);
	assert_int_equal(out[2].serial, 12);
	assert_false(out[3].used);
}

/* The record text round-trips through format and the strict parser,
 * names escaped, the shared lines kept. */
static void test_record_round_trip(void **state)
{
	static const char nul[] = "idm-pr 1\naptpl 1\0\nserial 1\n";
	struct scsi_pr *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	char *text = malloc(PR_RECORD_MAX), why[256] = "";
	size_t len;

	(void)state;
	a->holder = -1;
	a->generation = 4;
	a->aptpl = true;
	a->serial = 17;
	a->r2_held = true;
	snprintf(a->r2_port.iport, SCSI_PORT_NAME_MAX, "iqn.x: evil\nreg 1 1 a t");
	snprintf(a->r2_port.tport, SCSI_PORT_NAME_MAX, "t,0x0002");
	a->uas[3] = (struct pr_ua){.used = true, .asc = 0x2a04, .serial = 16, .port = {"p%", "t"}};
	a->uas[7] = (struct pr_ua){
	    .used = true, .asc = 0x2a05, .serial = 17, .abort = true, .port = {"q", "t"}};
	assert_int_equal(pr_state_format(a, true, text, PR_RECORD_MAX, &len), 0);
	assert_int_equal(pr_state_parse(text, len, "rec", true, b, why, sizeof(why)), 0);
	assert_int_equal(b->generation, 4);
	assert_true(b->aptpl && b->r2_held && b->serial == 17);
	assert_string_equal(b->r2_port.iport, a->r2_port.iport);
	assert_true(b->uas[0].used && b->uas[0].serial == 16 && b->uas[0].asc == 0x2a04);
	assert_string_equal(b->uas[0].port.iport, "p%");
	assert_false(b->uas[0].abort);
	assert_true(b->uas[1].abort && b->uas[1].serial == 17);
	/* Too small a buffer: -ENOSPC, never a cut record. */
	assert_int_equal(pr_state_format(a, true, text, 40, &len), -ENOSPC);
	/* The file form refuses the shared lines; a NUL byte is refused. */
	assert_int_equal(pr_state_format(a, true, text, PR_RECORD_MAX, &len), 0);
	assert_int_equal(pr_state_parse(text, len, "f", false, b, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "f:4: unknown line 'aptpl'"));
	assert_int_equal(pr_state_parse(nul, sizeof(nul) - 1, "r", true, b, why, sizeof(why)),
	                 -EINVAL);
	assert_non_null(strstr(why, "r:2: a NUL byte"));
	free(text);
	free(a);
	free(b);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_conflict_by_type),
	    T(test_preempt_across),
	    T(test_cas_retry),
	    T(test_corrupt_record),
	    T(test_spc2_across),
	    T(test_read_keys_and_restart),
	    cmocka_unit_test(test_uas_pure),
	    cmocka_unit_test(test_record_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
