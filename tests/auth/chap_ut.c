/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for the CHAP state machines (src/auth/chap.c) driven through
 * the key negotiation engine, as the login code will drive them.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "idm/auth.h"
#include "idm/keys.h"
#include "idm/pdu.h"

#define SEC IDM_NEGO_SECURITY
#define USER "iqn.2026-01.org.test:ini-user"
#define SECRET "initiator-secret-42"
#define TUSER "target-user"
#define TSECRET "target-secret-0815"
#define DUSER "disc-user"
#define DSECRET "discovery-secret-7"

/* What the target's lookup callback serves. */
struct accounts {
	struct idm_chap_account normal;
	struct idm_chap_account discovery;
	bool have_normal;
	int calls;
};

/* One side of a login: engine, result, output text, CHAP state. */
struct peer {
	struct idm_params local;
	struct idm_nego n;
	struct idm_params res;
	struct idm_textbuf out;
	struct idm_chap chap;
	struct idm_nego_hook hook;
	int rc; /* of the last step */
};

static int lookup(void *arg, const struct idm_params *who, struct idm_chap_account *out)
{
	struct accounts *a = arg;

	a->calls++;
	if (who->session_type == IDM_SESSION_DISCOVERY) {
		*out = a->discovery;
		return 0;
	}
	if (!a->have_normal || strcmp(who->target_name, "iqn.2026-01.org.test:tgt")) {
		return -ENOENT;
	}
	*out = a->normal;
	return 0;
}

static void accounts_init(struct accounts *a, bool mutual)
{
	memset(a, 0, sizeof(*a));
	assert_int_equal(idm_chap_account_set(&a->normal, USER, SECRET, mutual ? TUSER : NULL,
	                                      mutual ? TSECRET : NULL),
	                 0);
	assert_int_equal(idm_chap_account_set(&a->discovery, DUSER, DSECRET, NULL, NULL), 0);
	a->have_normal = true;
}

static void peer_free(struct peer *p)
{
	idm_textbuf_free(&p->out);
	idm_chap_clear(&p->chap);
}

static void target_init(struct peer *t, struct accounts *a, const uint8_t *algs, int nalgs,
                        enum idm_chap_encoding enc, const char *methods)
{
	struct idm_chap_config cfg = {
	    .nalgs = nalgs, .encoding = enc, .lookup = lookup, .lookup_arg = a};

	memset(t, 0, sizeof(*t));
	if (nalgs) {
		memcpy(cfg.algs, algs, (size_t)nalgs);
	}
	idm_params_init(&t->local);
	snprintf(t->local.auth_method, sizeof(t->local.auth_method), "%s", methods);
	idm_nego_init(&t->n, IDM_ROLE_TARGET, true, &t->local, &t->res);
	idm_textbuf_init(&t->out);
	assert_int_equal(idm_chap_init(&t->chap, IDM_ROLE_TARGET, &cfg), 0);
	idm_chap_hook(&t->chap, &t->hook);
	idm_nego_add_hook(&t->n, &t->hook);
}

static void initiator_init(struct peer *i, const struct idm_chap_account *acct, const uint8_t *algs,
                           int nalgs, enum idm_chap_encoding enc, bool mutual, const char *methods)
{
	struct idm_chap_config cfg = {
	    .nalgs = nalgs, .encoding = enc, .account = acct, .mutual = mutual};

	memset(i, 0, sizeof(*i));
	if (nalgs) {
		memcpy(cfg.algs, algs, (size_t)nalgs);
	}
	idm_params_init(&i->local);
	snprintf(i->local.initiator_name, sizeof(i->local.initiator_name),
	         "iqn.2026-01.org.test:ini");
	snprintf(i->local.target_name, sizeof(i->local.target_name), "iqn.2026-01.org.test:tgt");
	snprintf(i->local.auth_method, sizeof(i->local.auth_method), "%s", methods);
	idm_nego_init(&i->n, IDM_ROLE_INITIATOR, true, &i->local, &i->res);
	idm_textbuf_init(&i->out);
	assert_int_equal(idm_chap_init(&i->chap, IDM_ROLE_INITIATOR, &cfg), 0);
	idm_chap_hook(&i->chap, &i->hook);
	idm_nego_add_hook(&i->n, &i->hook);
}

/* Build "k=v\0k=v\0" from "k=v|k=v". */
static size_t text(char *buf, size_t cap, const char *s)
{
	size_t len = strlen(s);

	assert_true(len + 1 < cap);
	memcpy(buf, s, len + 1);
	for (size_t i = 0; i < len; i++) {
		buf[i] = buf[i] == '|' ? '\0' : buf[i];
	}
	return len + 1;
}

/* The target handles one Login Request's text the way the login code will. */
static int target_rx(struct peer *t, const char *req, size_t len)
{
	int rc;

	idm_textbuf_reset(&t->out);
	rc = idm_nego_respond(&t->n, SEC, req, len, &t->out);
	if (!rc) {
		rc = idm_chap_target_step(&t->chap, &t->n, &t->out);
	}
	t->rc = rc;
	return rc;
}

static int target_rx_str(struct peer *t, const char *s)
{
	char buf[8192];

	return target_rx(t, buf, text(buf, sizeof(buf), s));
}

static int initiator_rx(struct peer *i, const char *rsp, size_t len)
{
	int rc;

	idm_textbuf_reset(&i->out);
	rc = idm_nego_process(&i->n, SEC, rsp, len, &i->out);
	if (!rc) {
		rc = idm_chap_initiator_step(&i->chap, &i->n, &i->out);
	}
	i->rc = rc;
	return rc;
}

/* The value of `key` in a text buffer, or NULL. */
static const char *find(const struct idm_textbuf *t, const char *key)
{
	size_t klen = strlen(key);

	for (size_t off = 0; off < t->len; off += strlen(t->buf + off) + 1) {
		if (!strncmp(t->buf + off, key, klen) && t->buf[off + klen] == '=') {
			return t->buf + off + klen + 1;
		}
	}
	return NULL;
}

static const EVP_MD *md_of(uint8_t alg)
{
	switch (alg) {
	case IDM_CHAP_MD5:
		return EVP_md5();
	case IDM_CHAP_SHA1:
		return EVP_sha1();
	case IDM_CHAP_SHA256:
		return EVP_sha256();
	default:
		return EVP_sha3_256();
	}
}

/* Independent response: one buffer, one EVP_Digest call. Returns its length. */
static size_t reference(uint8_t alg, uint8_t id, const char *secret, const uint8_t *chal,
                        size_t clen, uint8_t *out)
{
	uint8_t buf[2048];
	size_t slen = strlen(secret);
	unsigned int len = 0;

	buf[0] = id;
	memcpy(buf + 1, secret, slen);
	memcpy(buf + 1 + slen, chal, clen);
	assert_int_equal(EVP_Digest(buf, 1 + slen + clen, out, &len, md_of(alg), NULL), 1);
	return len;
}

/* The response to the target's CHAP_I/CHAP_C in its last output, encoded. */
static void answer_target(const struct peer *t, uint8_t alg, const char *secret,
                          enum idm_chap_encoding enc, char *out, size_t cap)
{
	uint8_t chal[IDM_CHAP_CHALLENGE_MAX], r[64];
	size_t clen = 0, rlen;
	const char *id = find(&t->out, "CHAP_I");
	const char *c = find(&t->out, "CHAP_C");

	assert_non_null(id);
	assert_non_null(c);
	assert_int_equal(idm_chap_decode(c, chal, sizeof(chal), &clen), 0);
	rlen = reference(alg, (uint8_t)atoi(id), secret, chal, clen, r);
	assert_int_equal(idm_chap_encode(enc, r, rlen, out, cap), 0);
}

static const char first_pdu[] = "InitiatorName=iqn.2026-01.org.test:ini|SessionType=Normal|"
                                "TargetName=iqn.2026-01.org.test:tgt|AuthMethod=CHAP,None";

/* Take the target through AuthMethod and CHAP_A=<list>; check its challenge. */
static void target_to_challenge(struct peer *t, const char *list, uint8_t expect_alg)
{
	char buf[64];
	uint8_t chal[IDM_CHAP_CHALLENGE_MAX];
	size_t clen = 0;

	assert_int_equal(target_rx_str(t, first_pdu), 0);
	assert_string_equal(find(&t->out, "AuthMethod"), "CHAP");
	assert_null(find(&t->out, "CHAP_A"));
	assert_false(idm_auth_may_transit(&t->chap, &t->n));
	snprintf(buf, sizeof(buf), "CHAP_A=%s", list);
	assert_int_equal(target_rx_str(t, buf), 0);
	snprintf(buf, sizeof(buf), "%u", expect_alg);
	assert_string_equal(find(&t->out, "CHAP_A"), buf);
	assert_int_equal(idm_chap_decode(find(&t->out, "CHAP_C"), chal, sizeof(chal), &clen), 0);
	assert_true(clen >= 16);
	assert_true(clen >= idm_chap_digest_len(expect_alg));
	assert_false(idm_auth_may_transit(&t->chap, &t->n));
}

static const uint8_t all_algs[] = {IDM_CHAP_MD5, IDM_CHAP_SHA1, IDM_CHAP_SHA256, IDM_CHAP_SHA3_256};

/* ---- target: one-way ------------------------------------------------- */

static void one_way(uint8_t alg, enum idm_chap_encoding enc)
{
	struct accounts a;
	struct peer t;
	char r[200], req[400];

	accounts_init(&a, false);
	target_init(&t, &a, all_algs, 4, IDM_CHAP_HEX, "CHAP,None");
	snprintf(req, sizeof(req), "%u", alg);
	target_to_challenge(&t, req, alg);
	answer_target(&t, alg, SECRET, enc, r, sizeof(r));
	snprintf(req, sizeof(req), "CHAP_N=%s|CHAP_R=%s", USER, r);
	assert_int_equal(target_rx_str(&t, req), 0);
	assert_null(find(&t.out, "CHAP_R"));
	assert_int_equal(t.chap.state, IDM_CHAP_DONE);
	assert_true(idm_auth_may_transit(&t.chap, &t.n));
	peer_free(&t);
}

static void test_target_one_way_every_alg(void **state)
{
	for (size_t i = 0; i < sizeof(all_algs); i++) {
		one_way(all_algs[i], IDM_CHAP_HEX);
		one_way(all_algs[i], IDM_CHAP_BASE64);
	}
}

/* Fail at the response with the given CHAP_N and secret. */
static void expect_response_failure(const char *user, const char *secret)
{
	struct accounts a;
	struct peer t;
	char r[200], req[400];

	accounts_init(&a, false);
	target_init(&t, &a, all_algs, 4, IDM_CHAP_HEX, "CHAP,None");
	target_to_challenge(&t, "5", IDM_CHAP_MD5);
	answer_target(&t, IDM_CHAP_MD5, secret, IDM_CHAP_HEX, r, sizeof(r));
	snprintf(req, sizeof(req), "CHAP_N=%s|CHAP_R=%s", user, r);
	assert_int_equal(target_rx_str(&t, req), -EACCES);
	assert_int_equal(t.n.status, ISCSI_LOGIN_AUTH_FAILED);
	assert_int_equal(t.chap.state, IDM_CHAP_FAILED);
	assert_false(idm_auth_may_transit(&t.chap, &t.n));
	assert_null(strstr(t.n.error, secret));
	assert_null(strstr(t.n.error, SECRET));
	assert_null(strstr(t.n.error, r));
	peer_free(&t);
}

static void test_target_wrong_secret(void **state)
{
	expect_response_failure(USER, "not-the-secret!");
}

static void test_target_wrong_user(void **state)
{
	expect_response_failure("someone-else", SECRET);
}

/* A response one byte short (or long) is refused though its prefix matches. */
static void test_target_response_wrong_length(void **state)
{
	struct accounts a;
	struct peer t;
	char r[200], req[400];

	for (int delta = -2; delta <= 2; delta += 4) {
		accounts_init(&a, false);
		target_init(&t, &a, all_algs, 4, IDM_CHAP_HEX, "CHAP,None");
		target_to_challenge(&t, "7", IDM_CHAP_SHA256);
		answer_target(&t, IDM_CHAP_SHA256, SECRET, IDM_CHAP_HEX, r, sizeof(r));
		if (delta < 0) {
			r[strlen(r) - 2] = '\0';
		} else {
			strcat(r, "00");
		}
		snprintf(req, sizeof(req), "CHAP_N=%s|CHAP_R=%s", USER, r);
		assert_int_equal(target_rx_str(&t, req), -EACCES);
		assert_int_equal(t.n.status, ISCSI_LOGIN_AUTH_FAILED);
		peer_free(&t);
	}
}

static void test_target_malformed_response(void **state)
{
	static const char *const bad[] = {"0xZZ", "12345", "0b@@@@", "", "0x"};
	struct accounts a;
	struct peer t;
	char req[400];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		accounts_init(&a, false);
		target_init(&t, &a, all_algs, 4, IDM_CHAP_HEX, "CHAP,None");
		target_to_challenge(&t, "5", IDM_CHAP_MD5);
		snprintf(req, sizeof(req), "CHAP_N=%s|CHAP_R=%s", USER, bad[i]);
		assert_int_not_equal(target_rx_str(&t, req), 0);
		assert_false(idm_auth_may_transit(&t.chap, &t.n));
		peer_free(&t);
	}
}

/* ---- target: mutual -------------------------------------------------- */

/* Send the response plus CHAP_I/CHAP_C = `chal` (hex text) with id `id`. */
static int send_mutual(struct peer *t, uint8_t alg, const char *id, const char *chal)
{
	char r[200], req[4400];

	answer_target(t, alg, SECRET, IDM_CHAP_HEX, r, sizeof(r));
	snprintf(req, sizeof(req), "CHAP_N=%s|CHAP_R=%s|CHAP_I=%s|CHAP_C=%s", USER, r, id, chal);
	return target_rx_str(t, req);
}

static void test_target_mutual_success(void **state)
{
	for (size_t k = 0; k < sizeof(all_algs); k++) {
		const uint8_t chal[] = {0xde, 0xad, 0xbe, 0xef, 1, 2,  3,  4,
		                        5,    6,    7,    8,    9, 10, 11, 12};
		uint8_t want[64], got[64];
		size_t wlen, glen = 0;
		struct accounts a;
		struct peer t;
		char list[8];

		accounts_init(&a, true);
		target_init(&t, &a, all_algs, 4, IDM_CHAP_BASE64, "CHAP");
		snprintf(list, sizeof(list), "%u", all_algs[k]);
		target_to_challenge(&t, list, all_algs[k]);
		assert_int_equal(
		    send_mutual(&t, all_algs[k], "77", "0xdeadbeef0102030405060708090a0b0c"), 0);
		assert_string_equal(find(&t.out, "CHAP_N"), TUSER);
		assert_int_equal(idm_chap_decode(find(&t.out, "CHAP_R"), got, sizeof(got), &glen),
		                 0);
		assert_int_equal(strncmp(find(&t.out, "CHAP_R"), "0b", 2), 0);
		wlen = reference(all_algs[k], 77, TSECRET, chal, sizeof(chal), want);
		assert_int_equal(glen, wlen);
		assert_memory_equal(got, want, wlen);
		assert_true(idm_auth_may_transit(&t.chap, &t.n));
		peer_free(&t);
	}
}

static void test_target_reflected_challenge(void **state)
{
	struct accounts a;
	struct peer t;
	char chal[IDM_CHAP_VALUE_MAX + 1];

	accounts_init(&a, true);
	target_init(&t, &a, all_algs, 4, IDM_CHAP_HEX, "CHAP,None");
	target_to_challenge(&t, "7", IDM_CHAP_SHA256);
	snprintf(chal, sizeof(chal), "%s", find(&t.out, "CHAP_C"));
	assert_int_equal(send_mutual(&t, IDM_CHAP_SHA256, "1", chal), -EACCES);
	assert_int_equal(t.n.status, ISCSI_LOGIN_AUTH_FAILED);
	assert_null(find(&t.out, "CHAP_R"));
	assert_non_null(strstr(t.n.error, "reflected"));
	assert_false(idm_auth_may_transit(&t.chap, &t.n));
	peer_free(&t);
}

/* The same bytes in the other encoding are still a reflection. */
static void test_target_reflected_challenge_base64(void **state)
{
	struct accounts a;
	struct peer t;
	uint8_t raw[IDM_CHAP_CHALLENGE_MAX];
	size_t len = 0;
	char chal[IDM_CHAP_VALUE_MAX + 1];

	accounts_init(&a, true);
	target_init(&t, &a, all_algs, 4, IDM_CHAP_HEX, "CHAP,None");
	target_to_challenge(&t, "5", IDM_CHAP_MD5);
	assert_int_equal(idm_chap_decode(find(&t.out, "CHAP_C"), raw, sizeof(raw), &len), 0);
	assert_int_equal(idm_chap_encode(IDM_CHAP_BASE64, raw, len, chal, sizeof(chal)), 0);
	assert_int_equal(send_mutual(&t, IDM_CHAP_MD5, "1", chal), -EACCES);
	peer_free(&t);
}

static void test_target_mutual_without_target_secret(void **state)
{
	struct accounts a;
	struct peer t;

	accounts_init(&a, false);
	target_init(&t, &a, all_algs, 4, IDM_CHAP_HEX, "CHAP,None");
	target_to_challenge(&t, "6", IDM_CHAP_SHA1);
	assert_int_equal(send_mutual(&t, IDM_CHAP_SHA1, "3", "0x00112233445566778899aabbccddeeff"),
	                 -EACCES);
	assert_int_equal(t.n.status, ISCSI_LOGIN_AUTH_FAILED);
	assert_null(find(&t.out, "CHAP_N"));
	assert_false(idm_auth_may_transit(&t.chap, &t.n));
	peer_free(&t);
}

static void test_target_mutual_half_or_malformed(void **state)
{
	static const char *const tails[] = {
	    "CHAP_I=5",                 /* CHAP_C missing */
	    "CHAP_C=0x00112233",        /* CHAP_I missing */
	    "CHAP_I=256|CHAP_C=0x0011", /* identifier out of range */
	    "CHAP_I=abc|CHAP_C=0x0011", /* not a number */
	    "CHAP_I=-1|CHAP_C=0x0011",
	    "CHAP_I=1|CHAP_C=0xnothex", /* malformed challenge */
	    "CHAP_I=1|CHAP_C=plain",
	};
	struct accounts a;
	struct peer t;
	char r[200], req[600];

	for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
		accounts_init(&a, true);
		target_init(&t, &a, all_algs, 4, IDM_CHAP_HEX, "CHAP,None");
		target_to_challenge(&t, "5", IDM_CHAP_MD5);
		answer_target(&t, IDM_CHAP_MD5, SECRET, IDM_CHAP_HEX, r, sizeof(r));
		snprintf(req, sizeof(req), "CHAP_N=%s|CHAP_R=%s|%s", USER, r, tails[i]);
		assert_int_equal(target_rx_str(&t, req), -EACCES);
		assert_int_equal(t.n.status, ISCSI_LOGIN_AUTH_FAILED);
		assert_false(idm_auth_may_transit(&t.chap, &t.n));
		peer_free(&t);
	}
}

/* CHAP_I may be hex or base64 encoded too. */
static void test_target_mutual_encoded_id(void **state)
{
	static const char *const ids[] = {"0x4d", "0bTQ==", "077"};
	static const uint8_t want_id[] = {0x4d, 0x4d, 77};
	const uint8_t chal[] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 9, 8, 7, 6, 5, 4};

	for (size_t i = 0; i < 3; i++) {
		uint8_t want[64], got[64];
		size_t glen = 0, wlen;
		struct accounts a;
		struct peer t;

		accounts_init(&a, true);
		target_init(&t, &a, all_algs, 4, IDM_CHAP_HEX, "CHAP,None");
		target_to_challenge(&t, "5", IDM_CHAP_MD5);
		assert_int_equal(
		    send_mutual(&t, IDM_CHAP_MD5, ids[i], "0x09080706050403020100090807060504"), 0);
		assert_int_equal(idm_chap_decode(find(&t.out, "CHAP_R"), got, sizeof(got), &glen),
		                 0);
		wlen = reference(IDM_CHAP_MD5, want_id[i], TSECRET, chal, sizeof(chal), want);
		assert_int_equal(glen, wlen);
		assert_memory_equal(got, want, wlen);
		peer_free(&t);
	}
}

/* ---- algorithm negotiation ------------------------------------------- */

static void pick(const uint8_t *ours, int nours, const char *list, uint8_t expect)
{
	struct accounts a;
	struct peer t;

	accounts_init(&a, false);
	target_init(&t, &a, ours, nours, IDM_CHAP_HEX, "CHAP,None");
	target_to_challenge(&t, list, expect);
	peer_free(&t);
}

static void test_alg_list_order(void **state)
{
	const uint8_t md5_sha256[] = {IDM_CHAP_MD5, IDM_CHAP_SHA256};
	const uint8_t sha1[] = {IDM_CHAP_SHA1};

	/* The initiator's order wins among what we accept. */
	pick(md5_sha256, 2, "7,5", IDM_CHAP_SHA256);
	pick(md5_sha256, 2, "5,7", IDM_CHAP_MD5);
	pick(md5_sha256, 2, "8,6,7,5", IDM_CHAP_SHA256);
	pick(all_algs, 4, "8,5", IDM_CHAP_SHA3_256);
	pick(sha1, 1, "5,7,6", IDM_CHAP_SHA1);
	/* Unknown and odd entries are skipped, not fatal. */
	pick(all_algs, 4, "99,abc,,0x5,6", IDM_CHAP_SHA1);
	pick(all_algs, 4, "1000,5", IDM_CHAP_MD5);
	/* Defaults accept all four. */
	pick(NULL, 0, "5", IDM_CHAP_MD5);
	pick(NULL, 0, "8", IDM_CHAP_SHA3_256);
}

static void test_alg_unsupported(void **state)
{
	static const char *const lists[] = {"1", "4,9,128", "abc", "0", "7"};
	const uint8_t md5[] = {IDM_CHAP_MD5};
	struct accounts a;
	struct peer t;
	char req[64];

	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		accounts_init(&a, false);
		target_init(&t, &a, md5, 1, IDM_CHAP_HEX, "CHAP,None");
		assert_int_equal(target_rx_str(&t, first_pdu), 0);
		snprintf(req, sizeof(req), "CHAP_A=%s", lists[i]);
		assert_int_equal(target_rx_str(&t, req), -EACCES);
		assert_int_equal(t.n.status, ISCSI_LOGIN_AUTH_FAILED);
		assert_non_null(strstr(t.n.error, "algorithm"));
		assert_null(find(&t.out, "CHAP_C"));
		peer_free(&t);
	}
}

static void test_init_rejects_bad_config(void **state)
{
	struct idm_chap c;
	struct idm_chap_account acct;
	struct accounts a;
	struct idm_chap_config cfg = {.lookup = lookup, .lookup_arg = &a};

	assert_int_equal(idm_chap_init(&c, IDM_ROLE_TARGET, &cfg), 0);
	cfg.algs[0] = 9;
	cfg.nalgs = 1;
	assert_int_equal(idm_chap_init(&c, IDM_ROLE_TARGET, &cfg), -EINVAL);
	cfg.nalgs = 5;
	assert_int_equal(idm_chap_init(&c, IDM_ROLE_TARGET, &cfg), -EINVAL);
	cfg.nalgs = 0;
	cfg.lookup = NULL;
	assert_int_equal(idm_chap_init(&c, IDM_ROLE_TARGET, &cfg), -EINVAL);
	/* The initiator needs an account, and a target secret for mutual. */
	assert_int_equal(idm_chap_init(&c, IDM_ROLE_INITIATOR, &cfg), -EINVAL);
	assert_int_equal(idm_chap_account_set(&acct, USER, SECRET, NULL, NULL), 0);
	cfg.account = &acct;
	assert_int_equal(idm_chap_init(&c, IDM_ROLE_INITIATOR, &cfg), 0);
	cfg.mutual = true;
	assert_int_equal(idm_chap_init(&c, IDM_ROLE_INITIATOR, &cfg), -EINVAL);
	idm_chap_clear(&c);
}

/* ---- order, repeats, missing keys ------------------------------------ */

static void expect_target_fail_after(const char *setup_list, const char *req)
{
	struct accounts a;
	struct peer t;

	accounts_init(&a, false);
	target_init(&t, &a, all_algs, 4, IDM_CHAP_HEX, "CHAP,None");
	if (setup_list) {
		target_to_challenge(&t, setup_list, (uint8_t)atoi(setup_list));
	} else {
		assert_int_equal(target_rx_str(&t, first_pdu), 0);
	}
	assert_int_not_equal(target_rx_str(&t, req), 0);
	assert_int_equal(t.n.status, ISCSI_LOGIN_AUTH_FAILED);
	assert_false(idm_auth_may_transit(&t.chap, &t.n));
	/* Once failed, always failed. */
	assert_int_equal(idm_chap_target_step(&t.chap, &t.n, &t.out), -EACCES);
	peer_free(&t);
}

static void test_keys_out_of_order(void **state)
{
	/* A response before any challenge. */
	expect_target_fail_after(NULL, "CHAP_N=" USER "|CHAP_R=0x00112233445566778899aabbccddeeff");
	expect_target_fail_after(NULL, "CHAP_I=1|CHAP_C=0x00112233445566778899aabbccddeeff");
	/* CHAP_A together with a response. */
	expect_target_fail_after(NULL, "CHAP_A=5|CHAP_N=" USER);
	/* CHAP_A again after the challenge (a replay). */
	expect_target_fail_after("5", "CHAP_A=5");
	/* Target-only keys from the initiator. */
	expect_target_fail_after("5", "CHAP_A=5|CHAP_N=" USER "|CHAP_R=0x00");
}

static void test_missing_keys(void **state)
{
	expect_target_fail_after("5", "CHAP_N=" USER);
	expect_target_fail_after("5", "CHAP_R=0x00112233445566778899aabbccddeeff");
	expect_target_fail_after("5", "CHAP_I=1|CHAP_C=0x00112233445566778899aabbccddeeff");
}

/* A key recorded twice before a step ran is refused. */
static void test_repeated_key_in_hook(void **state)
{
	struct accounts a;
	struct peer t;
	char answer[16];

	accounts_init(&a, false);
	target_init(&t, &a, all_algs, 4, IDM_CHAP_HEX, "CHAP,None");
	assert_int_equal(target_rx_str(&t, first_pdu), 0);
	assert_int_equal(idm_chap_hook_key(&t.chap, "CHAP_A", "5", answer, sizeof(answer)),
	                 IDM_HOOK_NOTED);
	assert_int_equal(idm_chap_hook_key(&t.chap, "CHAP_A", "7", answer, sizeof(answer)),
	                 IDM_HOOK_NOTED);
	assert_int_equal(idm_chap_target_step(&t.chap, &t.n, &t.out), -EACCES);
	assert_non_null(strstr(t.n.error, "repeated"));
	peer_free(&t);
}

/* The engine refuses a key repeated inside one text. */
static void test_repeated_key_in_text(void **state)
{
	struct accounts a;
	struct peer t;

	accounts_init(&a, false);
	target_init(&t, &a, all_algs, 4, IDM_CHAP_HEX, "CHAP,None");
	assert_int_equal(target_rx_str(&t, first_pdu), 0);
	assert_int_not_equal(target_rx_str(&t, "CHAP_A=5|CHAP_A=5"), 0);
	peer_free(&t);
}

/* A whole exchange replayed after success fails. */
static void test_replay_after_success(void **state)
{
	struct accounts a;
	struct peer t;
	char r[200], req[400];

	accounts_init(&a, false);
	target_init(&t, &a, all_algs, 4, IDM_CHAP_HEX, "CHAP,None");
	target_to_challenge(&t, "5", IDM_CHAP_MD5);
	answer_target(&t, IDM_CHAP_MD5, SECRET, IDM_CHAP_HEX, r, sizeof(r));
	snprintf(req, sizeof(req), "CHAP_N=%s|CHAP_R=%s", USER, r);
	assert_int_equal(target_rx_str(&t, req), 0);
	assert_true(idm_auth_may_transit(&t.chap, &t.n));
	assert_int_equal(target_rx_str(&t, req), -EACCES);
	assert_false(idm_auth_may_transit(&t.chap, &t.n));
	peer_free(&t);
}

/* A PDU without CHAP keys (e.g. an empty continuation) changes nothing. */
static void test_empty_pdu_waits(void **state)
{
	struct accounts a;
	struct peer t;

	accounts_init(&a, false);
	target_init(&t, &a, all_algs, 4, IDM_CHAP_HEX, "CHAP,None");
	target_to_challenge(&t, "5", IDM_CHAP_MD5);
	assert_int_equal(idm_chap_target_step(&t.chap, &t.n, &t.out), 0);
	assert_int_equal(t.chap.state, IDM_CHAP_CHALLENGED);
	peer_free(&t);
}

static void test_value_too_long(void **state)
{
	struct accounts a;
	struct peer t;
	char *req = malloc(IDM_CHAP_VALUE_MAX + 200);

	assert_non_null(req);
	accounts_init(&a, true);
	target_init(&t, &a, all_algs, 4, IDM_CHAP_HEX, "CHAP,None");
	target_to_challenge(&t, "5", IDM_CHAP_MD5);
	strcpy(req, "CHAP_N=" USER "|CHAP_R=0x00|CHAP_I=1|CHAP_C=0x");
	memset(req + strlen(req), 'a', IDM_CHAP_VALUE_MAX);
	req[strlen("CHAP_N=" USER "|CHAP_R=0x00|CHAP_I=1|CHAP_C=0x") + IDM_CHAP_VALUE_MAX] = '\0';
	assert_int_equal(target_rx_str(&t, req), -EACCES);
	assert_non_null(strstr(t.n.error, "too long"));
	free(req);
	peer_free(&t);
}

/* A challenge of exactly IDM_CHAP_CHALLENGE_MAX bytes is fine. */
static void test_longest_challenge(void **state)
{
	struct accounts a;
	struct peer t;
	char *chal = malloc(IDM_CHAP_VALUE_MAX + 1);

	assert_non_null(chal);
	accounts_init(&a, true);
	target_init(&t, &a, all_algs, 4, IDM_CHAP_HEX, "CHAP,None");
	target_to_challenge(&t, "5", IDM_CHAP_MD5);
	strcpy(chal, "0x");
	memset(chal + 2, '5', IDM_CHAP_VALUE_MAX - 2);
	chal[IDM_CHAP_VALUE_MAX] = '\0';
	assert_int_equal(send_mutual(&t, IDM_CHAP_MD5, "9", chal), 0);
	assert_non_null(find(&t.out, "CHAP_R"));
	free(chal);
	peer_free(&t);
}

/* ---- method and account selection ------------------------------------ */

static void test_chap_keys_without_chap_method(void **state)
{
	struct accounts a;
	struct peer t;

	accounts_init(&a, false);
	target_init(&t, &a, all_algs, 4, IDM_CHAP_HEX, "None");
	assert_int_equal(target_rx_str(&t, first_pdu), 0);
	assert_string_equal(find(&t.out, "AuthMethod"), "None");
	assert_true(idm_auth_may_transit(&t.chap, &t.n));
	assert_int_equal(target_rx_str(&t, "CHAP_A=5"), -EACCES);
	assert_int_equal(t.n.status, ISCSI_LOGIN_AUTH_FAILED);
	peer_free(&t);
}

static void test_may_transit_none(void **state)
{
	struct accounts a;
	struct peer t;

	accounts_init(&a, false);
	/* CHAP required: an initiator that never asked for a method may not pass. */
	target_init(&t, &a, all_algs, 4, IDM_CHAP_HEX, "CHAP");
	assert_false(idm_auth_may_transit(&t.chap, &t.n));
	assert_false(idm_auth_may_transit(NULL, &t.n));
	peer_free(&t);
	target_init(&t, &a, all_algs, 4, IDM_CHAP_HEX, "CHAP,None");
	assert_true(idm_auth_may_transit(NULL, &t.n));
	assert_int_equal(target_rx_str(&t, "InitiatorName=i|SessionType=Normal|TargetName=t|"
	                                   "AuthMethod=None"),
	                 0);
	assert_string_equal(find(&t.out, "AuthMethod"), "None");
	assert_true(idm_auth_may_transit(&t.chap, &t.n));
	peer_free(&t);
}

static void test_no_account(void **state)
{
	struct accounts a;
	struct peer t;

	accounts_init(&a, false);
	a.have_normal = false;
	target_init(&t, &a, all_algs, 4, IDM_CHAP_HEX, "CHAP,None");
	assert_int_equal(target_rx_str(&t, first_pdu), 0);
	assert_int_equal(target_rx_str(&t, "CHAP_A=5"), -EACCES);
	assert_int_equal(a.calls, 1);
	assert_int_equal(t.n.status, ISCSI_LOGIN_AUTH_FAILED);
	peer_free(&t);
}

/* A discovery session is served the discovery account. */
static void test_discovery_account(void **state)
{
	struct accounts a;
	struct peer t;
	char r[200], req[400];

	accounts_init(&a, false);
	target_init(&t, &a, all_algs, 4, IDM_CHAP_HEX, "CHAP");
	assert_int_equal(target_rx_str(&t, "InitiatorName=i|SessionType=Discovery|AuthMethod=CHAP"),
	                 0);
	assert_int_equal(target_rx_str(&t, "CHAP_A=7"), 0);
	answer_target(&t, IDM_CHAP_SHA256, DSECRET, IDM_CHAP_HEX, r, sizeof(r));
	snprintf(req, sizeof(req), "CHAP_N=%s|CHAP_R=%s", USER, r);
	assert_int_equal(target_rx_str(&t, req), -EACCES); /* normal user, discovery session */
	peer_free(&t);

	target_init(&t, &a, all_algs, 4, IDM_CHAP_HEX, "CHAP");
	assert_int_equal(target_rx_str(&t, "InitiatorName=i|SessionType=Discovery|AuthMethod=CHAP"),
	                 0);
	assert_int_equal(target_rx_str(&t, "CHAP_A=7"), 0);
	answer_target(&t, IDM_CHAP_SHA256, DSECRET, IDM_CHAP_HEX, r, sizeof(r));
	snprintf(req, sizeof(req), "CHAP_N=%s|CHAP_R=%s", DUSER, r);
	assert_int_equal(target_rx_str(&t, req), 0);
	assert_true(idm_auth_may_transit(&t.chap, &t.n));
	peer_free(&t);
}

/* Unknown CHAP_ keys are left to the engine (NotUnderstood). */
static void test_unknown_chap_key(void **state)
{
	struct accounts a;
	struct peer t;

	accounts_init(&a, false);
	target_init(&t, &a, all_algs, 4, IDM_CHAP_HEX, "CHAP,None");
	assert_int_equal(target_rx_str(&t, first_pdu), 0);
	assert_int_equal(target_rx_str(&t, "CHAP_X=1"), 0);
	assert_string_equal(find(&t.out, "CHAP_X"), "NotUnderstood");
	assert_int_equal(t.chap.state, IDM_CHAP_START);
	peer_free(&t);
}

/* CHAP keys are refused outside the security stage by the engine. */
static void test_chap_outside_security(void **state)
{
	struct accounts a;
	struct peer t;
	char buf[64];
	size_t len = text(buf, sizeof(buf), "CHAP_A=5");

	accounts_init(&a, false);
	target_init(&t, &a, all_algs, 4, IDM_CHAP_HEX, "CHAP,None");
	assert_int_not_equal(idm_nego_respond(&t.n, IDM_NEGO_OPERATIONAL, buf, len, &t.out), 0);
	peer_free(&t);
}

/* ---- initiator against the target ------------------------------------ */

/* Run a whole security stage; returns the first failing step's rc. */
static int login(struct peer *i, struct peer *t)
{
	int rc = idm_nego_offer(&i->n, SEC, &i->out);

	for (int round = 0; !rc && round < 6; round++) {
		rc = target_rx(t, i->out.buf, i->out.len);
		if (rc) {
			break;
		}
		rc = initiator_rx(i, t->out.buf, t->out.len);
		if (rc || !i->out.len) {
			break;
		}
	}
	return rc;
}

static void e2e(uint8_t alg, bool mutual, enum idm_chap_encoding enc)
{
	struct accounts a;
	struct peer t, i;

	accounts_init(&a, mutual);
	target_init(&t, &a, &alg, 1, enc, "CHAP");
	initiator_init(&i, &a.normal, all_algs, 4, enc, mutual, "CHAP,None");
	assert_int_equal(login(&i, &t), 0);
	assert_true(idm_auth_may_ask_transit(&i.chap, &i.n));
	assert_int_equal(t.chap.alg, alg);
	assert_int_equal(i.chap.alg, alg);
	assert_int_equal(t.chap.state, IDM_CHAP_DONE);
	assert_int_equal(i.chap.state, IDM_CHAP_DONE);
	assert_true(idm_auth_may_transit(&t.chap, &t.n));
	assert_true(idm_auth_may_transit(&i.chap, &i.n));
	peer_free(&t);
	peer_free(&i);
}

static void test_e2e_matrix(void **state)
{
	for (size_t k = 0; k < sizeof(all_algs); k++) {
		for (int m = 0; m < 2; m++) {
			e2e(all_algs[k], m, IDM_CHAP_HEX);
			e2e(all_algs[k], m, IDM_CHAP_BASE64);
		}
	}
}

/* Each side writes its own encoding; both read either. */
static void test_e2e_mixed_encodings(void **state)
{
	struct accounts a;
	struct peer t, i;

	accounts_init(&a, true);
	target_init(&t, &a, all_algs, 4, IDM_CHAP_BASE64, "CHAP");
	initiator_init(&i, &a.normal, NULL, 0, IDM_CHAP_HEX, true, "CHAP");
	assert_int_equal(login(&i, &t), 0);
	assert_int_equal(i.chap.alg, IDM_CHAP_SHA3_256); /* first of the default list */
	assert_true(idm_auth_may_transit(&i.chap, &i.n));
	peer_free(&t);
	peer_free(&i);
}

static void test_e2e_wrong_secret(void **state)
{
	struct accounts a;
	struct idm_chap_account wrong;
	struct peer t, i;

	accounts_init(&a, false);
	assert_int_equal(idm_chap_account_set(&wrong, USER, "wrong-secret-123", NULL, NULL), 0);
	target_init(&t, &a, all_algs, 4, IDM_CHAP_HEX, "CHAP");
	initiator_init(&i, &wrong, all_algs, 4, IDM_CHAP_HEX, false, "CHAP");
	assert_int_equal(login(&i, &t), -EACCES);
	assert_int_equal(t.n.status, ISCSI_LOGIN_AUTH_FAILED);
	assert_false(idm_auth_may_transit(&t.chap, &t.n));
	peer_free(&t);
	peer_free(&i);
}

/* The initiator catches a target that does not know the mutual secret. */
static void test_e2e_impostor_target(void **state)
{
	struct accounts a, fake;
	struct peer t, i;

	accounts_init(&a, true);
	accounts_init(&fake, true);
	assert_int_equal(idm_chap_account_set(&fake.normal, USER, SECRET, TUSER, "guessed-secret"),
	                 0);
	target_init(&t, &fake, all_algs, 4, IDM_CHAP_HEX, "CHAP");
	initiator_init(&i, &a.normal, all_algs, 4, IDM_CHAP_HEX, true, "CHAP");
	assert_int_equal(login(&i, &t), -EACCES);
	assert_int_equal(i.n.status, ISCSI_LOGIN_AUTH_FAILED);
	assert_int_equal(i.chap.state, IDM_CHAP_FAILED);
	assert_false(idm_auth_may_transit(&i.chap, &i.n));
	assert_null(strstr(i.n.error, TSECRET));
	peer_free(&t);
	peer_free(&i);
}

static void test_e2e_no_common_alg(void **state)
{
	const uint8_t md5[] = {IDM_CHAP_MD5};
	const uint8_t sha256[] = {IDM_CHAP_SHA256};
	struct accounts a;
	struct peer t, i;

	accounts_init(&a, false);
	target_init(&t, &a, sha256, 1, IDM_CHAP_HEX, "CHAP");
	initiator_init(&i, &a.normal, md5, 1, IDM_CHAP_HEX, false, "CHAP");
	assert_int_equal(login(&i, &t), -EACCES);
	assert_int_equal(t.n.status, ISCSI_LOGIN_AUTH_FAILED);
	peer_free(&t);
	peer_free(&i);
}

/* The initiator's CHAP_A list is its configured order. */
static void test_initiator_offer(void **state)
{
	const uint8_t algs[] = {IDM_CHAP_SHA256, IDM_CHAP_MD5};
	struct accounts a;
	struct peer i;
	char buf[64];

	accounts_init(&a, false);
	initiator_init(&i, &a.normal, algs, 2, IDM_CHAP_HEX, false, "CHAP");
	assert_int_equal(initiator_rx(&i, buf, text(buf, sizeof(buf), "AuthMethod=CHAP")), 0);
	assert_string_equal(find(&i.out, "CHAP_A"), "7,5");
	assert_int_equal(i.chap.state, IDM_CHAP_ALG_SENT);
	assert_false(idm_auth_may_transit(&i.chap, &i.n));
	assert_false(idm_auth_may_ask_transit(&i.chap, &i.n));
	peer_free(&i);
}

static void initiator_expect_fail(const char *challenge_pdu)
{
	const uint8_t algs[] = {IDM_CHAP_SHA256, IDM_CHAP_MD5};
	struct accounts a;
	struct peer i;
	char buf[256];

	accounts_init(&a, false);
	initiator_init(&i, &a.normal, algs, 2, IDM_CHAP_HEX, false, "CHAP");
	assert_int_equal(initiator_rx(&i, buf, text(buf, sizeof(buf), "AuthMethod=CHAP")), 0);
	assert_int_equal(initiator_rx(&i, buf, text(buf, sizeof(buf), challenge_pdu)), -EACCES);
	assert_int_equal(i.n.status, ISCSI_LOGIN_AUTH_FAILED);
	assert_false(idm_auth_may_transit(&i.chap, &i.n));
	peer_free(&i);
}

static void test_initiator_bad_challenge(void **state)
{
	initiator_expect_fail("CHAP_A=6|CHAP_I=1|CHAP_C=0x00112233");   /* not offered */
	initiator_expect_fail("CHAP_A=7,5|CHAP_I=1|CHAP_C=0x00112233"); /* a list */
	initiator_expect_fail("CHAP_A=7|CHAP_C=0x00112233");            /* no CHAP_I */
	initiator_expect_fail("CHAP_A=7|CHAP_I=1");                     /* no CHAP_C */
	initiator_expect_fail("CHAP_A=7|CHAP_I=300|CHAP_C=0x00112233");
	initiator_expect_fail("CHAP_A=7|CHAP_I=1|CHAP_C=0xqq");
	initiator_expect_fail("CHAP_A=7|CHAP_I=1|CHAP_C=0x00|CHAP_R=0x00");
}

/* The initiator's side of mutual CHAP, step by step, against reference hashes. */
static void initiator_mutual(const char *target_name, int expect_rc)
{
	const uint8_t chal[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
	uint8_t want[64], got[64], ichal[IDM_CHAP_CHALLENGE_MAX];
	size_t wlen, glen = 0, iclen = 0;
	struct accounts a;
	struct peer i;
	char buf[512], r[200];

	accounts_init(&a, true);
	initiator_init(&i, &a.normal, all_algs, 4, IDM_CHAP_HEX, true, "CHAP");
	assert_int_equal(initiator_rx(&i, buf, text(buf, sizeof(buf), "AuthMethod=CHAP")), 0);
	assert_int_equal(
	    initiator_rx(&i, buf,
	                 text(buf, sizeof(buf),
	                      "CHAP_A=7|CHAP_I=3|CHAP_C=0x000102030405060708090a0b0c0d0e0f")),
	    0);
	assert_string_equal(find(&i.out, "CHAP_N"), USER);
	assert_int_equal(idm_chap_decode(find(&i.out, "CHAP_R"), got, sizeof(got), &glen), 0);
	wlen = reference(IDM_CHAP_SHA256, 3, SECRET, chal, sizeof(chal), want);
	assert_int_equal(glen, wlen);
	assert_memory_equal(got, want, wlen);
	assert_int_equal(i.chap.state, IDM_CHAP_RESPONDED);
	assert_true(idm_auth_may_ask_transit(&i.chap, &i.n));
	assert_false(idm_auth_may_transit(&i.chap, &i.n));

	/* Play the target: answer the initiator's challenge. */
	assert_int_equal(idm_chap_decode(find(&i.out, "CHAP_C"), ichal, sizeof(ichal), &iclen), 0);
	assert_int_equal(iclen, 32);
	wlen = reference(IDM_CHAP_SHA256, (uint8_t)atoi(find(&i.out, "CHAP_I")), TSECRET, ichal,
	                 iclen, want);
	assert_int_equal(idm_chap_encode(IDM_CHAP_BASE64, want, wlen, r, sizeof(r)), 0);
	snprintf(buf, sizeof(buf), "CHAP_N=%s|CHAP_R=%s", target_name, r);
	{
		char raw[512];

		assert_int_equal(initiator_rx(&i, raw, text(raw, sizeof(raw), buf)), expect_rc);
	}
	assert_int_equal(idm_auth_may_transit(&i.chap, &i.n), expect_rc == 0);
	peer_free(&i);
}

static void test_initiator_mutual_steps(void **state)
{
	initiator_mutual(TUSER, 0);
	initiator_mutual("other-target", -EACCES);
}

/* A target that settles AuthMethod=None fails an initiator wanting mutual. */
static void test_initiator_mutual_refuses_none(void **state)
{
	struct accounts a;
	struct peer i;
	char buf[64];

	accounts_init(&a, true);
	initiator_init(&i, &a.normal, all_algs, 4, IDM_CHAP_HEX, true, "CHAP,None");
	assert_int_equal(initiator_rx(&i, buf, text(buf, sizeof(buf), "AuthMethod=None")), 0);
	assert_false(idm_auth_may_transit(&i.chap, &i.n));
	peer_free(&i);
	initiator_init(&i, &a.normal, all_algs, 4, IDM_CHAP_HEX, false, "CHAP,None");
	assert_int_equal(initiator_rx(&i, buf, text(buf, sizeof(buf), "AuthMethod=None")), 0);
	assert_true(idm_auth_may_transit(&i.chap, &i.n));
	peer_free(&i);
}

/* ---- no secret ever reaches an error string -------------------------- */

static void assert_clean(const char *s, const char *const *secrets, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		assert_null(strstr(s, secrets[k]));
	}
}

static void test_no_secret_in_errors(void **state)
{
	static const char *const tails[] = {"", "|CHAP_I=1|CHAP_C=0x0011", "|CHAP_I=1",
	                                    "|CHAP_I=1|CHAP_C=0xzz"};
	struct accounts a;
	struct peer t;
	char r[200], req[600];

	for (size_t k = 0; k < sizeof(tails) / sizeof(tails[0]); k++) {
		for (int wrong = 0; wrong < 2; wrong++) {
			accounts_init(&a, k == 1);
			target_init(&t, &a, all_algs, 4, IDM_CHAP_HEX, "CHAP,None");
			target_to_challenge(&t, "5", IDM_CHAP_MD5);
			answer_target(&t, IDM_CHAP_MD5, wrong ? "guess-secret" : SECRET,
			              IDM_CHAP_HEX, r, sizeof(r));
			snprintf(req, sizeof(req), "CHAP_N=%s|CHAP_R=%s%s", USER, r, tails[k]);
			target_rx_str(&t, req);
			{
				const char *const secrets[] = {SECRET, TSECRET,  "guess-secret", r,
				                               r + 2,  "0x0011", "0xzz"};

				if (t.rc) {
					assert_clean(t.n.error, secrets, 7);
				}
				assert_clean(t.chap.error, secrets, 7);
			}
			peer_free(&t);
		}
	}
}

/* The initiator's errors are clean too, and cleared state holds no secret. */
static void test_no_secret_after_clear(void **state)
{
	struct accounts a, fake;
	struct peer t, i;
	const char *const secrets[] = {SECRET, TSECRET, "guessed-secret"};

	accounts_init(&a, true);
	accounts_init(&fake, true);
	assert_int_equal(idm_chap_account_set(&fake.normal, USER, SECRET, TUSER, "guessed-secret"),
	                 0);
	target_init(&t, &fake, all_algs, 4, IDM_CHAP_HEX, "CHAP");
	initiator_init(&i, &a.normal, all_algs, 4, IDM_CHAP_HEX, true, "CHAP");
	assert_int_not_equal(login(&i, &t), 0);
	assert_clean(i.n.error, secrets, 3);
	assert_clean(i.chap.error, secrets, 3);
	idm_chap_clear(&i.chap);
	assert_null(memmem(&i.chap, sizeof(i.chap), SECRET, strlen(SECRET)));
	assert_null(memmem(&i.chap, sizeof(i.chap), TSECRET, strlen(TSECRET)));
	peer_free(&t);
	peer_free(&i);
}

/* ---- garbage never crashes ------------------------------------------ */

static void random_value(char *v, size_t cap, unsigned *seed)
{
	static const char chars[] = "0xXbB0123456789abcdefABCDEF+/=,-QZz ";
	size_t len = (size_t)rand_r(seed) % (cap - 1);

	for (size_t i = 0; i < len; i++) {
		v[i] = chars[(size_t)rand_r(seed) % (sizeof(chars) - 1)];
	}
	v[len] = '\0';
	if (len > 2 && rand_r(seed) % 2) {
		v[0] = '0'; /* often a well-prefixed encoding */
	}
}

/* Random CHAP keys in random states: errors, never crashes or leaks. */
static void test_random_garbage(void **state)
{
	static const char *const keys[] = {"CHAP_A", "CHAP_I", "CHAP_C", "CHAP_N", "CHAP_R"};
	unsigned seed = 12345;
	struct accounts a;
	struct peer t;

	accounts_init(&a, true);
	for (int iter = 0; iter < 3000; iter++) {
		char answer[8];
		char v[80];

		target_init(&t, &a, all_algs, 4, IDM_CHAP_HEX, "CHAP,None");
		assert_int_equal(target_rx_str(&t, first_pdu), 0);
		if (iter % 2) {
			assert_int_equal(target_rx_str(&t, "CHAP_A=5,7"), 0);
		}
		for (int k = 0; k < 5; k++) {
			if (rand_r(&seed) % 2) {
				random_value(v, sizeof(v), &seed);
				idm_chap_hook_key(&t.chap, keys[k], v, answer, sizeof(answer));
			}
		}
		if (idm_chap_target_step(&t.chap, &t.n, &t.out)) {
			assert_int_equal(t.n.status, ISCSI_LOGIN_AUTH_FAILED);
			assert_false(idm_auth_may_transit(&t.chap, &t.n));
		}
		peer_free(&t);
	}
}

/* The same for the initiator waiting for a challenge. */
static void test_random_garbage_initiator(void **state)
{
	static const char *const keys[] = {"CHAP_A", "CHAP_I", "CHAP_C", "CHAP_N", "CHAP_R"};
	unsigned seed = 777;
	struct accounts a;
	struct peer i;

	accounts_init(&a, true);
	for (int iter = 0; iter < 3000; iter++) {
		char answer[8], buf[64];
		char v[80];

		initiator_init(&i, &a.normal, all_algs, 4, IDM_CHAP_BASE64, iter % 2, "CHAP");
		assert_int_equal(initiator_rx(&i, buf, text(buf, sizeof(buf), "AuthMethod=CHAP")),
		                 0);
		for (int k = 0; k < 5; k++) {
			if (rand_r(&seed) % 2) {
				random_value(v, sizeof(v), &seed);
				idm_chap_hook_key(&i.chap, keys[k], v, answer, sizeof(answer));
			}
		}
		if (idm_chap_initiator_step(&i.chap, &i.n, &i.out)) {
			assert_int_equal(i.n.status, ISCSI_LOGIN_AUTH_FAILED);
			assert_false(idm_auth_may_transit(&i.chap, &i.n));
		}
		peer_free(&i);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_target_one_way_every_alg),
	    cmocka_unit_test(test_target_wrong_secret),
	    cmocka_unit_test(test_target_wrong_user),
	    cmocka_unit_test(test_target_response_wrong_length),
	    cmocka_unit_test(test_target_malformed_response),
	    cmocka_unit_test(test_target_mutual_success),
	    cmocka_unit_test(test_target_reflected_challenge),
	    cmocka_unit_test(test_target_reflected_challenge_base64),
	    cmocka_unit_test(test_target_mutual_without_target_secret),
	    cmocka_unit_test(test_target_mutual_half_or_malformed),
	    cmocka_unit_test(test_target_mutual_encoded_id),
	    cmocka_unit_test(test_alg_list_order),
	    cmocka_unit_test(test_alg_unsupported),
	    cmocka_unit_test(test_init_rejects_bad_config),
	    cmocka_unit_test(test_keys_out_of_order),
	    cmocka_unit_test(test_missing_keys),
	    cmocka_unit_test(test_repeated_key_in_hook),
	    cmocka_unit_test(test_repeated_key_in_text),
	    cmocka_unit_test(test_replay_after_success),
	    cmocka_unit_test(test_empty_pdu_waits),
	    cmocka_unit_test(test_value_too_long),
	    cmocka_unit_test(test_longest_challenge),
	    cmocka_unit_test(test_chap_keys_without_chap_method),
	    cmocka_unit_test(test_may_transit_none),
	    cmocka_unit_test(test_no_account),
	    cmocka_unit_test(test_discovery_account),
	    cmocka_unit_test(test_unknown_chap_key),
	    cmocka_unit_test(test_chap_outside_security),
	    cmocka_unit_test(test_e2e_matrix),
	    cmocka_unit_test(test_e2e_mixed_encodings),
	    cmocka_unit_test(test_e2e_wrong_secret),
	    cmocka_unit_test(test_e2e_impostor_target),
	    cmocka_unit_test(test_e2e_no_common_alg),
	    cmocka_unit_test(test_initiator_offer),
	    cmocka_unit_test(test_initiator_bad_challenge),
	    cmocka_unit_test(test_initiator_mutual_steps),
	    cmocka_unit_test(test_initiator_mutual_refuses_none),
	    cmocka_unit_test(test_no_secret_in_errors),
	    cmocka_unit_test(test_no_secret_after_clear),
	    cmocka_unit_test(test_random_garbage),
	    cmocka_unit_test(test_random_garbage_initiator),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
