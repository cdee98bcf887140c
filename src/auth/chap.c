/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The CHAP exchange of RFC 7143 section 12.1.3 for both roles: a hook
 * records the CHAP_* keys of each PDU, a step per role checks them
 * against the state and writes our keys (see include/idm/auth.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "idm/auth.h"
#include "idm/pdu.h"

#define BIT(k) (1u << (k))
#define ENCODED_DIGEST_MAX (3 + 2 * IDM_CHAP_DIGEST_MAX)

static const char *const key_names[IDM_CHAP_NKEYS] = {
    [IDM_CHAP_KEY_A] = "CHAP_A", [IDM_CHAP_KEY_I] = "CHAP_I", [IDM_CHAP_KEY_C] = "CHAP_C",
    [IDM_CHAP_KEY_N] = "CHAP_N", [IDM_CHAP_KEY_R] = "CHAP_R",
};

/* Strongest first: what we offer or accept when not configured. */
static const uint8_t default_algs[] = {IDM_CHAP_SHA3_256, IDM_CHAP_SHA256, IDM_CHAP_SHA1,
                                       IDM_CHAP_MD5};

/* ---- setup ----------------------------------------------------------- */

static int check_algs(struct idm_chap_config *cfg)
{
	if (cfg->nalgs < 0 || cfg->nalgs > IDM_CHAP_ALGS_MAX) {
		return -EINVAL;
	}
	if (!cfg->nalgs) {
		memcpy(cfg->algs, default_algs, sizeof(default_algs));
		cfg->nalgs = (int)sizeof(default_algs);
	}
	for (int i = 0; i < cfg->nalgs; i++) {
		if (!idm_chap_digest_len(cfg->algs[i])) {
			return -EINVAL;
		}
	}
	return 0;
}

int idm_chap_init(struct idm_chap *c, enum idm_role role, const struct idm_chap_config *cfg)
{
	memset(c, 0, sizeof(*c));
	c->role = role;
	c->cfg = *cfg;
	if (check_algs(&c->cfg)) {
		return -EINVAL;
	}
	if (role == IDM_ROLE_TARGET) {
		c->cfg.account = NULL;
		return cfg->lookup ? 0 : -EINVAL;
	}
	if (!cfg->account || idm_chap_account_check(cfg->account)) {
		return -EINVAL;
	}
	if (cfg->mutual && !cfg->account->target_secret_len) {
		return -EINVAL;
	}
	c->account = *cfg->account;
	c->cfg.account = NULL; /* keep our copy only */
	return 0;
}

void idm_chap_clear(struct idm_chap *c)
{
	OPENSSL_cleanse(c, sizeof(*c));
	c->state = IDM_CHAP_FAILED;
}

/* ---- the hook: record, never judge ----------------------------------- */

static int chap_key_index(const char *key)
{
	for (int i = 0; i < IDM_CHAP_NKEYS; i++) {
		if (!strcmp(key, key_names[i])) {
			return i;
		}
	}
	return -1;
}

enum idm_hook_result idm_chap_hook_key(void *arg, const char *key, const char *value, char *answer,
                                       size_t answer_cap)
{
	struct idm_chap_rx *rx = &((struct idm_chap *)arg)->rx;
	int i = chap_key_index(key);
	size_t len;

	if (i < 0) {
		return IDM_HOOK_PASS; /* the engine answers NotUnderstood */
	}
	if (rx->present & BIT(i)) {
		rx->repeated |= BIT(i);
		return IDM_HOOK_NOTED;
	}
	rx->present |= BIT(i);
	len = strlen(value);
	if (len > IDM_CHAP_VALUE_MAX) {
		rx->toolong |= BIT(i);
		return IDM_HOOK_NOTED;
	}
	memcpy(rx->value[i], value, len + 1);
	return IDM_HOOK_NOTED;
}

void idm_chap_hook(struct idm_chap *c, struct idm_nego_hook *hook)
{
	hook->key = idm_chap_hook_key;
	hook->arg = c;
}

/* Forget the PDU's keys once a step has looked at them. */
static void rx_reset(struct idm_chap_rx *rx)
{
	OPENSSL_cleanse(rx, sizeof(*rx));
}

/* ---- failures -------------------------------------------------------- */

/* Record a failure; `reason` is a constant text, never a value. */
static int chap_fail(struct idm_chap *c, struct idm_nego *n, const char *reason)
{
	c->state = IDM_CHAP_FAILED;
	snprintf(c->error, sizeof(c->error), "CHAP: %s", reason);
	n->status = ISCSI_LOGIN_AUTH_FAILED;
	snprintf(n->error, sizeof(n->error), "%s", c->error);
	return -EACCES;
}

static int chap_oom(struct idm_chap *c, struct idm_nego *n)
{
	c->state = IDM_CHAP_FAILED;
	snprintf(c->error, sizeof(c->error), "CHAP: out of memory");
	n->status = ISCSI_LOGIN_OUT_OF_RESOURCES;
	snprintf(n->error, sizeof(n->error), "%s", c->error);
	return -ENOMEM;
}

/*
 * The keys of this PDU must be exactly `want` plus any of `optional`,
 * each once and of sane length.
 */
static const char *rx_shape(const struct idm_chap_rx *rx, unsigned want, unsigned optional)
{
	if (rx->repeated) {
		return "key repeated";
	}
	if (rx->toolong) {
		return "value too long";
	}
	if (rx->present & ~(want | optional)) {
		return "key out of order";
	}
	if ((rx->present & want) != want) {
		return "key missing";
	}
	return NULL;
}

static bool auth_is_chap(const struct idm_nego *n)
{
	return !strcmp(n->result->auth_method, "CHAP");
}

/* ---- values ---------------------------------------------------------- */

/* CHAP_I: a number 0..255, decimal or encoded. */
static int parse_id(const char *s, uint8_t *id)
{
	uint8_t buf[8];
	size_t len = 0;
	unsigned v = 0;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X' || s[1] == 'b' || s[1] == 'B')) {
		if (idm_chap_decode(s, buf, sizeof(buf), &len)) {
			return -EINVAL;
		}
		for (size_t i = 0; i < len; i++) {
			if (v > 0xff) {
				return -EINVAL;
			}
			v = v << 8 | buf[i];
		}
	} else {
		size_t digits = strspn(s, "0123456789");

		if (!digits || s[digits] || digits > 3) {
			return -EINVAL;
		}
		for (size_t i = 0; i < digits; i++) {
			v = v * 10 + (unsigned)(s[i] - '0');
		}
	}
	if (v > 255) {
		return -EINVAL;
	}
	*id = (uint8_t)v;
	return 0;
}

static bool alg_configured(const struct idm_chap *c, unsigned long alg)
{
	for (int i = 0; i < c->cfg.nalgs; i++) {
		if (c->cfg.algs[i] == alg) {
			return true;
		}
	}
	return false;
}

/* One decimal list item of CHAP_A; -1 for anything else (ignored). */
static long list_item(const char *p, size_t len)
{
	long v = 0;

	if (!len || len > 3 || strspn(p, "0123456789") < len) {
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		v = v * 10 + (p[i] - '0');
	}
	return v;
}

/* Target: the first algorithm of the initiator's list we accept, or 0. */
static uint8_t pick_alg(const struct idm_chap *c, const char *list)
{
	const char *p = list;

	for (;;) {
		size_t len = strcspn(p, ",");
		long v = list_item(p, len);

		if (v > 0 && alg_configured(c, (unsigned long)v)) {
			return (uint8_t)v;
		}
		if (!p[len]) {
			return 0;
		}
		p += len + 1;
	}
}

/* Append one binary value, encoded as configured. */
static int emit_binary(struct idm_chap *c, struct idm_textbuf *out, const char *key,
                       const uint8_t *v, size_t len)
{
	char text[3 + 2 * IDM_CHAP_CHALLENGE_MAX];
	int rc;

	if (idm_chap_encode(c->cfg.encoding, v, len, text, sizeof(text))) {
		return -ENOSPC;
	}
	rc = idm_textbuf_add(out, key, text);
	OPENSSL_cleanse(text, sizeof(text));
	return rc;
}

/* Our challenge: a random identifier and digest-sized random bytes. */
static int make_challenge(struct idm_chap *c)
{
	c->challenge_len = idm_chap_digest_len(c->alg);
	if (c->challenge_len < 16) {
		c->challenge_len = 16;
	}
	if (RAND_bytes(&c->id, 1) != 1 || RAND_bytes(c->challenge, (int)c->challenge_len) != 1) {
		return -EIO;
	}
	return 0;
}

/* Append CHAP_I and CHAP_C with a fresh challenge. */
static int emit_challenge(struct idm_chap *c, struct idm_nego *n, struct idm_textbuf *out)
{
	if (make_challenge(c)) {
		return chap_fail(c, n, "no random bytes for a challenge");
	}
	if (idm_textbuf_addf(out, "CHAP_I", "%u", c->id) ||
	    emit_binary(c, out, "CHAP_C", c->challenge, c->challenge_len)) {
		return chap_oom(c, n);
	}
	return 0;
}

/* Compare a received response with the expected one in constant time. */
static bool response_matches(const struct idm_chap *c, const char *text, const uint8_t *secret,
                             size_t secret_len)
{
	uint8_t got[IDM_CHAP_DIGEST_MAX], want[IDM_CHAP_DIGEST_MAX];
	size_t got_len = 0, want_len = 0;
	bool ok;

	ok = !idm_chap_decode(text, got, sizeof(got), &got_len) &&
	     !idm_chap_response(c->alg, c->id, secret, secret_len, c->challenge, c->challenge_len,
	                        want, &want_len) &&
	     got_len == want_len && !CRYPTO_memcmp(got, want, want_len);
	OPENSSL_cleanse(want, sizeof(want));
	OPENSSL_cleanse(got, sizeof(got));
	return ok;
}

/* Answer the peer's challenge: CHAP_N then CHAP_R. */
static int emit_answer(struct idm_chap *c, struct idm_nego *n, struct idm_textbuf *out,
                       const char *name, const uint8_t *secret, size_t secret_len, uint8_t id,
                       const uint8_t *chal, size_t chal_len)
{
	uint8_t r[IDM_CHAP_DIGEST_MAX];
	size_t r_len;
	int rc;

	if (idm_chap_response(c->alg, id, secret, secret_len, chal, chal_len, r, &r_len)) {
		return chap_fail(c, n, "cannot compute a response");
	}
	rc = idm_textbuf_add(out, "CHAP_N", name);
	rc = rc ? rc : emit_binary(c, out, "CHAP_R", r, r_len);
	OPENSSL_cleanse(r, sizeof(r));
	return rc ? chap_oom(c, n) : 0;
}

/* Decode the peer's CHAP_I and CHAP_C. */
static const char *peer_challenge(const struct idm_chap_rx *rx, uint8_t *id, uint8_t *chal,
                                  size_t *chal_len)
{
	if (parse_id(rx->value[IDM_CHAP_KEY_I], id)) {
		return "malformed CHAP_I";
	}
	if (idm_chap_decode(rx->value[IDM_CHAP_KEY_C], chal, IDM_CHAP_CHALLENGE_MAX, chal_len)) {
		return "malformed CHAP_C";
	}
	return NULL;
}

/* ---- target ---------------------------------------------------------- */

/* CHAP_A received: pick the algorithm, find the account, challenge. */
static int target_on_alg(struct idm_chap *c, struct idm_nego *n, struct idm_textbuf *out)
{
	const char *bad = rx_shape(&c->rx, BIT(IDM_CHAP_KEY_A), 0);

	if (bad) {
		return chap_fail(c, n, bad);
	}
	c->alg = pick_alg(c, c->rx.value[IDM_CHAP_KEY_A]);
	if (!c->alg) {
		return chap_fail(c, n, "no supported algorithm in CHAP_A");
	}
	if (c->cfg.lookup(c->cfg.lookup_arg, n->result, &c->account) ||
	    idm_chap_account_check(&c->account)) {
		return chap_fail(c, n, "no usable account for this login");
	}
	if (idm_textbuf_addf(out, "CHAP_A", "%u", c->alg)) {
		return chap_oom(c, n);
	}
	c->state = IDM_CHAP_CHALLENGED;
	return emit_challenge(c, n, out);
}

/* Mutual CHAP: prove ourselves to the initiator. */
static int target_mutual(struct idm_chap *c, struct idm_nego *n, struct idm_textbuf *out)
{
	uint8_t chal[IDM_CHAP_CHALLENGE_MAX];
	size_t chal_len = 0;
	uint8_t id;
	const char *bad = peer_challenge(&c->rx, &id, chal, &chal_len);
	int rc;

	if (bad) {
		return chap_fail(c, n, bad);
	}
	if (!c->account.target_secret_len) {
		return chap_fail(c, n, "mutual authentication asked but not configured");
	}
	if (chal_len == c->challenge_len && !CRYPTO_memcmp(chal, c->challenge, chal_len)) {
		return chap_fail(c, n, "reflected challenge");
	}
	rc = emit_answer(c, n, out, c->account.target_user, c->account.target_secret,
	                 c->account.target_secret_len, id, chal, chal_len);
	OPENSSL_cleanse(chal, sizeof(chal));
	return rc;
}

/* CHAP_N and CHAP_R (and perhaps CHAP_I, CHAP_C) received: verify. */
static int target_on_response(struct idm_chap *c, struct idm_nego *n, struct idm_textbuf *out)
{
	const unsigned mutual = BIT(IDM_CHAP_KEY_I) | BIT(IDM_CHAP_KEY_C);
	const char *bad = rx_shape(&c->rx, BIT(IDM_CHAP_KEY_N) | BIT(IDM_CHAP_KEY_R), mutual);
	bool name_ok, response_ok;
	int rc = 0;

	if (bad) {
		return chap_fail(c, n, bad);
	}
	if ((c->rx.present & mutual) && (c->rx.present & mutual) != mutual) {
		return chap_fail(c, n, "CHAP_I and CHAP_C must come together");
	}
	/* Check both before judging: the time taken does not tell which failed. */
	name_ok = !strcmp(c->rx.value[IDM_CHAP_KEY_N], c->account.user);
	response_ok = response_matches(c, c->rx.value[IDM_CHAP_KEY_R], c->account.secret,
	                               c->account.secret_len);
	if (!name_ok) {
		return chap_fail(c, n, "unknown CHAP_N");
	}
	if (!response_ok) {
		return chap_fail(c, n, "CHAP_R does not match");
	}
	if (c->rx.present & mutual) {
		rc = target_mutual(c, n, out);
	}
	if (!rc) {
		c->state = IDM_CHAP_DONE;
	}
	return rc;
}

static int target_dispatch(struct idm_chap *c, struct idm_nego *n, struct idm_textbuf *out)
{
	if (!c->rx.present) {
		return 0; /* e.g. the AuthMethod PDU: wait for CHAP_A */
	}
	if (!auth_is_chap(n)) {
		return chap_fail(c, n, "CHAP keys without AuthMethod=CHAP");
	}
	switch (c->state) {
	case IDM_CHAP_START:
		return target_on_alg(c, n, out);
	case IDM_CHAP_CHALLENGED:
		return target_on_response(c, n, out);
	default:
		return chap_fail(c, n, "key out of order");
	}
}

int idm_chap_target_step(struct idm_chap *c, struct idm_nego *n, struct idm_textbuf *out)
{
	int rc;

	if (c->state == IDM_CHAP_FAILED) {
		rx_reset(&c->rx);
		return chap_fail(c, n, "authentication already failed");
	}
	rc = target_dispatch(c, n, out);
	rx_reset(&c->rx);
	return rc;
}

/* ---- initiator ------------------------------------------------------- */

/* AuthMethod=CHAP settled: offer our algorithms. */
static int initiator_offer(struct idm_chap *c, struct idm_nego *n, struct idm_textbuf *out)
{
	char list[4 * IDM_CHAP_ALGS_MAX + 1] = "";
	size_t used = 0;

	for (int i = 0; i < c->cfg.nalgs; i++) {
		used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%u", i ? "," : "",
		                         c->cfg.algs[i]);
	}
	if (idm_textbuf_add(out, "CHAP_A", list)) {
		return chap_oom(c, n);
	}
	c->state = IDM_CHAP_ALG_SENT;
	return 0;
}

/* The target's algorithm must be a single one of those we offered. */
static int initiator_take_alg(struct idm_chap *c, const char *v)
{
	long alg = list_item(v, strlen(v));

	if (alg <= 0 || !alg_configured(c, (unsigned long)alg)) {
		return -EINVAL;
	}
	c->alg = (uint8_t)alg;
	return 0;
}

/* CHAP_A, CHAP_I, CHAP_C received: answer, and challenge for mutual. */
static int initiator_on_challenge(struct idm_chap *c, struct idm_nego *n, struct idm_textbuf *out)
{
	const char *bad =
	    rx_shape(&c->rx, BIT(IDM_CHAP_KEY_A) | BIT(IDM_CHAP_KEY_I) | BIT(IDM_CHAP_KEY_C), 0);
	uint8_t chal[IDM_CHAP_CHALLENGE_MAX];
	size_t chal_len = 0;
	uint8_t id;
	int rc;

	if (bad) {
		return chap_fail(c, n, bad);
	}
	if (initiator_take_alg(c, c->rx.value[IDM_CHAP_KEY_A])) {
		return chap_fail(c, n, "the target chose an algorithm we did not offer");
	}
	bad = peer_challenge(&c->rx, &id, chal, &chal_len);
	if (bad) {
		return chap_fail(c, n, bad);
	}
	rc = emit_answer(c, n, out, c->account.user, c->account.secret, c->account.secret_len, id,
	                 chal, chal_len);
	OPENSSL_cleanse(chal, sizeof(chal));
	if (rc || !c->cfg.mutual) {
		c->state = rc ? IDM_CHAP_FAILED : IDM_CHAP_DONE;
		return rc;
	}
	c->state = IDM_CHAP_RESPONDED;
	return emit_challenge(c, n, out);
}

/* Mutual: the target's CHAP_N and CHAP_R. */
static int initiator_on_response(struct idm_chap *c, struct idm_nego *n)
{
	const char *bad = rx_shape(&c->rx, BIT(IDM_CHAP_KEY_N) | BIT(IDM_CHAP_KEY_R), 0);

	if (bad) {
		return chap_fail(c, n, bad);
	}
	if (strcmp(c->rx.value[IDM_CHAP_KEY_N], c->account.target_user)) {
		return chap_fail(c, n, "unexpected target CHAP_N");
	}
	if (!response_matches(c, c->rx.value[IDM_CHAP_KEY_R], c->account.target_secret,
	                      c->account.target_secret_len)) {
		return chap_fail(c, n, "the target's CHAP_R does not match");
	}
	c->state = IDM_CHAP_DONE;
	return 0;
}

static int initiator_dispatch(struct idm_chap *c, struct idm_nego *n, struct idm_textbuf *out)
{
	if (!auth_is_chap(n)) {
		return c->rx.present ? chap_fail(c, n, "CHAP keys without AuthMethod=CHAP") : 0;
	}
	switch (c->state) {
	case IDM_CHAP_START:
		if (c->rx.present) {
			return chap_fail(c, n, "key out of order");
		}
		return initiator_offer(c, n, out);
	case IDM_CHAP_ALG_SENT:
		return c->rx.present ? initiator_on_challenge(c, n, out) : 0;
	case IDM_CHAP_RESPONDED:
		return c->rx.present ? initiator_on_response(c, n) : 0;
	default:
		return c->rx.present ? chap_fail(c, n, "key out of order") : 0;
	}
}

int idm_chap_initiator_step(struct idm_chap *c, struct idm_nego *n, struct idm_textbuf *out)
{
	int rc;

	if (c->state == IDM_CHAP_FAILED) {
		rx_reset(&c->rx);
		return chap_fail(c, n, "authentication already failed");
	}
	rc = initiator_dispatch(c, n, out);
	rx_reset(&c->rx);
	return rc;
}

/* ---- may the login go on? -------------------------------------------- */

/* Is `item` in the comma list `list`? */
static bool in_list(const char *list, const char *item)
{
	size_t len = strlen(item);

	for (const char *p = list; *p;) {
		size_t l = strcspn(p, ",");

		if (l == len && !strncmp(p, item, len)) {
			return true;
		}
		p += l + (p[l] ? 1 : 0);
	}
	return false;
}

bool idm_auth_may_transit(const struct idm_chap *c, const struct idm_nego *n)
{
	if (auth_is_chap(n)) {
		return c && c->state == IDM_CHAP_DONE;
	}
	if (strcmp(n->result->auth_method, "None") || !in_list(n->local.auth_method, "None")) {
		return false;
	}
	/* An initiator that wants the target proven refuses None. */
	return !(c && c->role == IDM_ROLE_INITIATOR && c->cfg.mutual);
}

bool idm_auth_may_ask_transit(const struct idm_chap *c, const struct idm_nego *n)
{
	if (auth_is_chap(n) && c && c->role == IDM_ROLE_INITIATOR) {
		return c->state == IDM_CHAP_RESPONDED || c->state == IDM_CHAP_DONE;
	}
	return idm_auth_may_transit(c, n);
}
