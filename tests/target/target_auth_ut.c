/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Login with CHAP and ACLs (src/target/login.c) against the real key
 * engine and CHAP code: a fake initiator, built from idm_nego and the
 * initiator role of idm_chap, logs in over every CHAP algorithm, one-way
 * and mutual; wrong secrets, skipped or refused authentication, ACL
 * refusals and unknown targets get their login status and leave no
 * session behind; SendTargets lists only the targets an ACL admits.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "idm/auth.h"
#include "target_fakes.h"

#define IQN_T "iqn.2026-11.org.idm:disk"
#define IQN_T2 "iqn.2026-11.org.idm:other"
#define IQN_I "iqn.2026-11.org.idm:ini"
#define SECRET "initiator-secret-1"
#define TSECRET "target-secret-22"

/* The fake initiator's failures, beside real login statuses. */
#define INI_UNFINISHED 0xfff0 /* no final response within the step budget */
#define INI_NEGO_FAILED 0xfff1
#define INI_CHAP_FAILED 0xfff2 /* our CHAP step refused the target's answer */
#define INI_BAD_TRANSIT 0xfff3 /* target transited before authenticating */

static int fake_enable_datamover(struct idm_conn *c)
{
	return 0;
}

static const struct idm_transport_ops fake_tp_ops = {.enable_datamover = fake_enable_datamover};
static const struct idm_transport_caps fake_caps = {.data_in_status = true};
static const struct idm_transport fake_tp = {"fake", &fake_tp_ops, &fake_caps, 0};

static struct idm_server srv;
static struct tgt_target targets[2];
static struct idm_svc svc;

static void env_setup(void)
{
	fake_reset();
	fake_server_init(&srv, targets, 2, &svc);
	snprintf(targets[0].iqn, sizeof(targets[0].iqn), IQN_T);
	snprintf(targets[1].iqn, sizeof(targets[1].iqn), IQN_T2);
}

static int setup(void **state)
{
	env_setup();
	return 0;
}

static int teardown(void **state)
{
	fake_server_fini(&srv);
	return 0;
}

static struct idm_conn *conn_new(void)
{
	return fake_conn_new(&svc, &fake_tp);
}

static void conn_gone(struct idm_conn *c)
{
	fake_conn_gone(c);
}

static void account(struct idm_chap_account *a, const char *secret, const char *tsecret)
{
	assert_int_equal(idm_chap_account_set(a, "alice", secret, tsecret ? "tgt" : NULL, tsecret),
			 0);
}

/* ---- the fake initiator ---- */

struct fake_ini {
	struct idm_params local, result;
	struct idm_nego n;
	struct idm_chap chap;
	bool use_chap;
	struct idm_textbuf out;
	int stage;
};

static void ini_init(struct fake_ini *fi, enum idm_session_type type, const char *target,
		     const char *methods, const struct idm_chap_account *acct, bool mutual,
		     uint8_t alg)
{
	struct idm_chap_config cfg = {.account = acct, .mutual = mutual};
	struct idm_nego_hook hook;

	memset(fi, 0, sizeof(*fi));
	idm_params_init(&fi->local);
	fi->local.session_type = type;
	snprintf(fi->local.initiator_name, sizeof(fi->local.initiator_name), IQN_I);
	snprintf(fi->local.target_name, sizeof(fi->local.target_name), "%s", target);
	snprintf(fi->local.auth_method, sizeof(fi->local.auth_method), "%s", methods);
	idm_nego_init(&fi->n, IDM_ROLE_INITIATOR, true, &fi->local, &fi->result);
	idm_textbuf_init(&fi->out);
	if (acct) {
		if (alg) {
			cfg.algs[0] = alg;
			cfg.nalgs = 1;
		}
		assert_int_equal(idm_chap_init(&fi->chap, IDM_ROLE_INITIATOR, &cfg), 0);
		idm_chap_hook(&fi->chap, &hook);
		idm_nego_add_hook(&fi->n, &hook);
		fi->use_chap = true;
	}
}

static void ini_free(struct fake_ini *fi)
{
	idm_textbuf_free(&fi->out);
	idm_chap_clear(&fi->chap);
}

static void login_pdu(struct idm_pdu *p, uint8_t flags, const struct idm_textbuf *t)
{
	static const uint8_t isid[6] = {0x80, 0x12, 0x34, 0x56, 0x00, 0x01};

	memset(p, 0, sizeof(*p));
	p->bhs[0] = ISCSI_OP_LOGIN_REQ | ISCSI_FLAG_IMMEDIATE;
	p->bhs[1] = flags;
	put_be32(p->bhs + BHS_ITT, 0x10);
	put_be32(p->bhs + BHS_CMDSN, 1);
	memcpy(p->bhs + LOGIN_ISID, isid, 6);
	put_be32(p->bhs + LOGIN_EXPSTATSN, 500);
	p->data = (uint8_t *)t->buf;
	p->data_len = (uint32_t)t->len;
	put_be24(p->bhs + BHS_DATA_SEG_LEN, p->data_len);
}

static uint16_t rsp_status(const struct fake_sent *s)
{
	return (uint16_t)(s->bhs[LOGIN_STATUS_CLASS] << 8 | s->bhs[LOGIN_STATUS_DETAIL]);
}

/* What the initiator makes of one Login Response; 0 to go on. */
static uint16_t ini_on_response(struct fake_ini *fi, const struct fake_sent *rsp, bool *done)
{
	enum idm_nego_stage stage = fi->stage ? IDM_NEGO_OPERATIONAL : IDM_NEGO_SECURITY;

	if (rsp_status(rsp)) {
		return rsp_status(rsp);
	}
	idm_textbuf_reset(&fi->out);
	if (idm_nego_process(&fi->n, stage, (const char *)rsp->data, rsp->data_len, &fi->out)) {
		return INI_NEGO_FAILED;
	}
	if (stage == IDM_NEGO_SECURITY && fi->use_chap &&
	    idm_chap_initiator_step(&fi->chap, &fi->n, &fi->out)) {
		return INI_CHAP_FAILED;
	}
	if (!(rsp->bhs[BHS_FLAGS] & LOGIN_FLAG_TRANSIT)) {
		return 0;
	}
	if ((rsp->bhs[BHS_FLAGS] & LOGIN_NSG_MASK) == ISCSI_FULL_FEATURE_PHASE) {
		*done = true;
		return 0;
	}
	if (!idm_auth_may_transit(fi->use_chap ? &fi->chap : NULL, &fi->n)) {
		return INI_BAD_TRANSIT;
	}
	fi->stage = ISCSI_OP_PARMS_NEGOTIATION;
	return idm_nego_offer(&fi->n, IDM_NEGO_OPERATIONAL, &fi->out) ? INI_NEGO_FAILED : 0;
}

/* Log in on `c` starting in `first_stage`; the final login status. */
static uint16_t ini_login(struct fake_ini *fi, struct idm_conn *c, int first_stage)
{
	enum idm_nego_stage stage = first_stage ? IDM_NEGO_OPERATIONAL : IDM_NEGO_SECURITY;
	struct idm_pdu p;
	bool done = false;

	fi->stage = first_stage;
	assert_int_equal(idm_nego_offer(&fi->n, stage, &fi->out), 0);
	for (int step = 0; step < 8 && !done; step++) {
		bool transit = fi->stage != ISCSI_SECURITY_NEGOTIATION ||
			       idm_auth_may_ask_transit(fi->use_chap ? &fi->chap : NULL, &fi->n);
		uint8_t flags = (uint8_t)(fi->stage << LOGIN_CSG_SHIFT);
		unsigned before = fk.nsent;
		uint16_t st;

		if (transit) {
			flags |= LOGIN_FLAG_TRANSIT |
				 (fi->stage ? ISCSI_FULL_FEATURE_PHASE : ISCSI_OP_PARMS_NEGOTIATION);
		}
		login_pdu(&p, flags, &fi->out);
		tgt_client_ops.rx_pdu(c, &p);
		assert_int_equal(fk.nsent, before + 1);
		st = ini_on_response(fi, &fk.sent[fk.nsent - 1], &done);
		if (st) {
			return st;
		}
		fk.nsent = 0;
	}
	return done ? 0 : INI_UNFINISHED;
}

/* A full login attempt on a fresh connection; checks nothing leaks. */
static uint16_t try_login(struct fake_ini *fi, int first_stage)
{
	struct idm_conn *c = conn_new();
	uint16_t st = ini_login(fi, c, first_stage);

	if (st) {
		assert_null(srv.sessions);
		if (st < INI_UNFINISHED) {
			assert_int_equal(fake_events(IDM_CE_LOGIN_FAIL), 1);
		}
	} else {
		assert_non_null(tgt_conn_of(c)->sess);
		assert_non_null(srv.sessions);
	}
	conn_gone(c);
	assert_null(srv.sessions);
	assert_int_equal(srv.nconns, 0);
	fk.nsent = 0;
	fk.nevents = 0;
	ini_free(fi);
	return st;
}

static bool text_has(const struct fake_sent *s, const char *kv);

/* ---- CHAP ---- */

static void chap_every_algorithm(void **state)
{
	static const uint8_t algs[] = {IDM_CHAP_SHA3_256, IDM_CHAP_SHA256, IDM_CHAP_SHA1,
				       IDM_CHAP_MD5};
	struct idm_chap_account ini, tgt;
	struct idm_conn *c;
	struct fake_ini fi;

	for (size_t i = 0; i < sizeof(algs); i++) {
		/* one-way */
		account(&tgt, SECRET, NULL);
		targets[0].chap = tgt;
		targets[0].has_chap = true;
		account(&ini, SECRET, NULL);
		ini_init(&fi, IDM_SESSION_NORMAL, IQN_T, "CHAP,None", &ini, false, algs[i]);
		c = conn_new();
		assert_int_equal(ini_login(&fi, c, 0), 0);
		assert_int_equal(fi.chap.alg, algs[i]);
		conn_gone(c);
		ini_free(&fi);
		assert_null(srv.sessions);
		fk.nsent = 0;
		/* mutual */
		account(&tgt, SECRET, TSECRET);
		targets[0].chap = tgt;
		account(&ini, SECRET, TSECRET);
		ini_init(&fi, IDM_SESSION_NORMAL, IQN_T, "CHAP", &ini, true, algs[i]);
		assert_int_equal(try_login(&fi, 0), 0);
	}
	/* Nothing the exchange used shows up in the log. */
	assert_null(strstr(fk.log, SECRET));
	assert_null(strstr(fk.log, TSECRET));
}

static void chap_wrong_secret_refused(void **state)
{
	struct idm_chap_account ini;
	struct fake_ini fi;

	account(&targets[0].chap, SECRET, TSECRET);
	targets[0].has_chap = true;
	account(&ini, "not-the-secret!", NULL);
	ini_init(&fi, IDM_SESSION_NORMAL, IQN_T, "CHAP", &ini, false, 0);
	assert_int_equal(try_login(&fi, 0), ISCSI_LOGIN_AUTH_FAILED);
	assert_non_null(strstr(fk.log, "login refused (0x0201)"));
	assert_null(strstr(fk.log, SECRET));
	assert_null(strstr(fk.log, "not-the-secret!"));

	/* The right secret, but another user name. */
	assert_int_equal(idm_chap_account_set(&ini, "mallory", SECRET, NULL, NULL), 0);
	ini_init(&fi, IDM_SESSION_NORMAL, IQN_T, "CHAP", &ini, false, 0);
	assert_int_equal(try_login(&fi, 0), ISCSI_LOGIN_AUTH_FAILED);
}

static void chap_mutual_wrong_target_secret(void **state)
{
	struct idm_chap_account ini;
	struct fake_ini fi;

	account(&targets[0].chap, SECRET, TSECRET);
	targets[0].has_chap = true;
	account(&ini, SECRET, "expected-other-1");
	ini_init(&fi, IDM_SESSION_NORMAL, IQN_T, "CHAP", &ini, true, 0);
	/* The target passes the initiator's proof; the initiator refuses the
	 * target's and never gets to the full feature phase. */
	assert_int_equal(try_login(&fi, 0), INI_CHAP_FAILED);

	/* Mutual asked of a target that has no target secret: refused. */
	account(&targets[0].chap, SECRET, NULL);
	account(&ini, SECRET, TSECRET);
	ini_init(&fi, IDM_SESSION_NORMAL, IQN_T, "CHAP", &ini, true, 0);
	assert_int_equal(try_login(&fi, 0), ISCSI_LOGIN_AUTH_FAILED);
}

static void chap_required_refuses_none(void **state)
{
	struct fake_ini fi;

	account(&targets[0].chap, SECRET, NULL);
	targets[0].has_chap = true;
	/* AuthMethod=None only */
	ini_init(&fi, IDM_SESSION_NORMAL, IQN_T, "None", NULL, false, 0);
	assert_int_equal(try_login(&fi, 0), ISCSI_LOGIN_AUTH_FAILED);
	/* security stage skipped */
	ini_init(&fi, IDM_SESSION_NORMAL, IQN_T, "None", NULL, false, 0);
	assert_int_equal(try_login(&fi, 1), ISCSI_LOGIN_AUTH_FAILED);
	/* another target without CHAP still takes None */
	ini_init(&fi, IDM_SESSION_NORMAL, IQN_T2, "None", NULL, false, 0);
	assert_int_equal(try_login(&fi, 0), 0);
}

/* T=1 asked before CHAP finished: the target answers T=0 and goes on. */
static void chap_transit_withheld_until_done(void **state)
{
	static const char first[] = "InitiatorName=" IQN_I "\0TargetName=" IQN_T
				    "\0SessionType=Normal\0AuthMethod=CHAP,None";
	static const char alg[] = "CHAP_A=5";
	const uint8_t sec_transit = LOGIN_FLAG_TRANSIT | ISCSI_OP_PARMS_NEGOTIATION;
	struct idm_conn *c = conn_new();
	struct idm_textbuf t = {0};
	struct idm_pdu p;

	account(&targets[0].chap, SECRET, NULL);
	targets[0].has_chap = true;
	t.buf = (char *)(uintptr_t)first;
	t.len = sizeof(first);
	login_pdu(&p, sec_transit, &t);
	tgt_client_ops.rx_pdu(c, &p);
	assert_int_equal(rsp_status(&fk.sent[0]), 0);
	assert_int_equal(fk.sent[0].bhs[BHS_FLAGS] & LOGIN_FLAG_TRANSIT, 0);
	assert_true(text_has(&fk.sent[0], "AuthMethod=CHAP"));
	t.buf = (char *)(uintptr_t)alg;
	t.len = sizeof(alg);
	login_pdu(&p, sec_transit, &t);
	tgt_client_ops.rx_pdu(c, &p);
	assert_int_equal(rsp_status(&fk.sent[1]), 0);
	assert_int_equal(fk.sent[1].bhs[BHS_FLAGS] & LOGIN_FLAG_TRANSIT, 0);
	assert_true(text_has(&fk.sent[1], "CHAP_A=5"));
	/* no CHAP_N/CHAP_R but T=1 again: still withheld, no session */
	t.len = 0;
	login_pdu(&p, sec_transit, &t);
	tgt_client_ops.rx_pdu(c, &p);
	assert_int_equal(rsp_status(&fk.sent[2]), 0);
	assert_int_equal(fk.sent[2].bhs[BHS_FLAGS] & LOGIN_FLAG_TRANSIT, 0);
	assert_null(srv.sessions);
	conn_gone(c);
}

static void no_chap_configured_takes_none_only(void **state)
{
	struct idm_chap_account ini;
	struct fake_ini fi;

	account(&ini, SECRET, NULL);
	ini_init(&fi, IDM_SESSION_NORMAL, IQN_T, "CHAP", &ini, false, 0);
	assert_int_equal(try_login(&fi, 0), ISCSI_LOGIN_AUTH_FAILED);
	ini_init(&fi, IDM_SESSION_NORMAL, IQN_T, "CHAP,None", &ini, false, 0);
	assert_int_equal(try_login(&fi, 0), 0);
	ini_init(&fi, IDM_SESSION_NORMAL, IQN_T, "None", NULL, false, 0);
	assert_int_equal(try_login(&fi, 0), 0);
}

static void chap_algorithm_restricted(void **state)
{
	struct idm_chap_account ini;
	struct fake_ini fi;

	account(&targets[0].chap, SECRET, NULL);
	targets[0].has_chap = true;
	srv.chap_algs[0] = IDM_CHAP_SHA256;
	srv.nchap_algs = 1;
	account(&ini, SECRET, NULL);
	ini_init(&fi, IDM_SESSION_NORMAL, IQN_T, "CHAP", &ini, false, IDM_CHAP_MD5);
	assert_int_equal(try_login(&fi, 0), ISCSI_LOGIN_AUTH_FAILED);
	ini_init(&fi, IDM_SESSION_NORMAL, IQN_T, "CHAP", &ini, false, 0);
	assert_int_equal(try_login(&fi, 0), 0);
}

static void discovery_chap(void **state)
{
	struct idm_chap_account ini;
	struct fake_ini fi;

	account(&srv.disc.chap, SECRET, NULL);
	srv.disc.has_chap = true;
	ini_init(&fi, IDM_SESSION_DISCOVERY, "", "None", NULL, false, 0);
	assert_int_equal(try_login(&fi, 0), ISCSI_LOGIN_AUTH_FAILED);
	account(&ini, SECRET, NULL);
	ini_init(&fi, IDM_SESSION_DISCOVERY, "", "CHAP,None", &ini, false, 0);
	assert_int_equal(try_login(&fi, 0), 0);
	/* a normal session to a target without CHAP needs none */
	ini_init(&fi, IDM_SESSION_NORMAL, IQN_T, "None", NULL, false, 0);
	assert_int_equal(try_login(&fi, 0), 0);
}

/* ---- ACL and names ---- */

static void acl_admits_listed_only(void **state)
{
	struct fake_ini fi;

	snprintf(targets[0].acl[0], IDM_NAME_MAX, "iqn.2026-11.org.idm:somebody");
	targets[0].nacl = 1;
	ini_init(&fi, IDM_SESSION_NORMAL, IQN_T, "None", NULL, false, 0);
	assert_int_equal(try_login(&fi, 0), ISCSI_LOGIN_AUTHORIZATION_FAILED);
	assert_non_null(strstr(fk.log, "login refused (0x0202)"));
	/* names compare case-insensitively (RFC 3722 normalizes to lower case) */
	snprintf(targets[0].acl[1], IDM_NAME_MAX, "IQN.2026-11.ORG.IDM:INI");
	targets[0].nacl = 2;
	ini_init(&fi, IDM_SESSION_NORMAL, IQN_T, "None", NULL, false, 0);
	assert_int_equal(try_login(&fi, 0), 0);
	assert_true(tgt_acl_admits(&targets[1], "anyone")); /* empty ACL */
}

static void acl_refusal_before_chap(void **state)
{
	struct idm_chap_account ini;
	struct fake_ini fi;

	account(&targets[0].chap, SECRET, NULL);
	targets[0].has_chap = true;
	snprintf(targets[0].acl[0], IDM_NAME_MAX, "iqn.2026-11.org.idm:somebody");
	targets[0].nacl = 1;
	account(&ini, SECRET, NULL);
	ini_init(&fi, IDM_SESSION_NORMAL, IQN_T, "CHAP", &ini, false, 0);
	assert_int_equal(try_login(&fi, 0), ISCSI_LOGIN_AUTHORIZATION_FAILED);
}

static void unknown_target_refused(void **state)
{
	struct idm_chap_account ini;
	struct fake_ini fi;

	account(&ini, SECRET, NULL);
	ini_init(&fi, IDM_SESSION_NORMAL, "iqn.2026-11.org.idm:nope", "CHAP,None", &ini, false,
		 0);
	assert_int_equal(try_login(&fi, 0), ISCSI_LOGIN_TARGET_NOT_FOUND);
}

/* ---- SendTargets ---- */

static bool text_has(const struct fake_sent *s, const char *kv)
{
	for (uint32_t off = 0; off < s->data_len;
	     off += (uint32_t)strlen((const char *)s->data + off) + 1) {
		if (strcmp((const char *)s->data + off, kv) == 0) {
			return true;
		}
	}
	return false;
}

/* Log a discovery session in and ask SendTargets=All. */
static struct fake_sent send_targets_all(void)
{
	static const char st[] = "SendTargets=All";
	struct idm_conn *c = conn_new();
	struct fake_sent answer;
	struct fake_ini fi;
	struct idm_pdu p;

	ini_init(&fi, IDM_SESSION_DISCOVERY, "", "None", NULL, false, 0);
	assert_int_equal(ini_login(&fi, c, 0), 0);
	ini_free(&fi);
	fk.nsent = 0;
	memset(&p, 0, sizeof(p));
	p.bhs[0] = ISCSI_OP_TEXT_REQ;
	p.bhs[1] = ISCSI_FLAG_FINAL;
	put_be32(p.bhs + BHS_ITT, 3);
	put_be32(p.bhs + BHS_CMDSN, 1);
	put_be32(p.bhs + BHS_TTT, IDM_RESERVED_TAG);
	p.data = (uint8_t *)(uintptr_t)st;
	p.data_len = sizeof(st);
	put_be24(p.bhs + BHS_DATA_SEG_LEN, p.data_len);
	tgt_client_ops.rx_pdu(c, &p);
	assert_int_equal(fk.nsent, 1);
	answer = fk.sent[0];
	conn_gone(c);
	fk.nsent = 0;
	return answer;
}

static void sendtargets_filtered_by_acl(void **state)
{
	struct fake_sent a;

	snprintf(targets[1].acl[0], IDM_NAME_MAX, "iqn.2026-11.org.idm:somebody");
	targets[1].nacl = 1;
	a = send_targets_all();
	assert_true(text_has(&a, "TargetName=" IQN_T));
	assert_false(text_has(&a, "TargetName=" IQN_T2));
	/* "acl_filter": false lists every target */
	srv.disc.list_all = true;
	a = send_targets_all();
	assert_true(text_has(&a, "TargetName=" IQN_T));
	assert_true(text_has(&a, "TargetName=" IQN_T2));
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(chap_every_algorithm),
		T(chap_wrong_secret_refused),
		T(chap_mutual_wrong_target_secret),
		T(chap_required_refuses_none),
		T(chap_transit_withheld_until_done),
		T(no_chap_configured_takes_none_only),
		T(chap_algorithm_restricted),
		T(discovery_chap),
		T(acl_admits_listed_only),
		T(acl_refusal_before_chap),
		T(unknown_target_refused),
		T(sendtargets_filtered_by_acl),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
