/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * CHAP (src/auth): message decoding and response checking, both roles,
 * driven through the key engine as the login code drives it.
 *
 * Input: one byte of settings, then records separated by '\n', each the
 * peer's text of one security-stage Login PDU ("key=value\0..."). A value
 * "CHAP_R=*" is replaced by the right response to the last challenge we
 * sent (so the fuzzer gets past the check and on to mutual CHAP and what
 * follows it). Settings bits:
 *   0 role initiator, 1 mutual CHAP, 2 we write base64, 3-4 algorithms
 *   (0 all, 1 MD5, 2 SHA-1 and SHA-256, 3 SHA3-256), 5 the rest of the
 *   input is one binary value for idm_chap_decode / encode instead.
 * No error text may hold a secret; the target lets the login leave the
 * security stage only after a correct response.
 */
#include <errno.h>

#include "fuzz.h"
#include "idm/auth.h"

#define USER "alice"
#define SECRET "initiator-secret-1"
#define TUSER "tgt"
#define TSECRET "target-secret-22"

static struct idm_chap_account account;

static int lookup(void *arg, const struct idm_params *who, struct idm_chap_account *out)
{
	(void)arg;
	(void)who;
	*out = account;
	return 0;
}

static void codec(struct fuzz_in *in)
{
	uint8_t cap = fuzz_u8(in);
	char *s = fuzz_dup(in->p, in->n);
	uint8_t *bin = malloc(cap ? cap : 1), back[256];
	char enc[2 * 256 + 8];
	size_t len = 0, len2 = 0;

	FUZZ_CHECK(bin != NULL);
	if (idm_chap_decode(s, bin, cap, &len) == 0) {
		FUZZ_CHECK(len > 0 && len <= cap);
		for (int e = IDM_CHAP_HEX; e <= IDM_CHAP_BASE64; e++) {
			FUZZ_CHECK(idm_chap_encode(e, bin, len, enc, sizeof(enc)) == 0);
			FUZZ_CHECK(idm_chap_decode(enc, back, sizeof(back), &len2) == 0);
			FUZZ_CHECK(len2 == len && memcmp(back, bin, len) == 0);
		}
	}
	free(bin);
	free(s);
}

/* The record with "CHAP_R=*" replaced by the right response. */
static uint8_t *with_response(const uint8_t *rec, size_t len, const struct idm_chap *c,
                              size_t *out_len)
{
	static const char mark[] = "CHAP_R=*";
	const size_t mlen = sizeof(mark) - 1;
	const uint8_t *secret = c->role == IDM_ROLE_TARGET ? account.secret : account.target_secret;
	size_t secret_len =
	    c->role == IDM_ROLE_TARGET ? account.secret_len : account.target_secret_len;
	char enc[3 + 2 * IDM_CHAP_DIGEST_MAX];
	uint8_t r[IDM_CHAP_DIGEST_MAX], *out;
	size_t r_len, at;

	for (at = 0; at + mlen <= len; at++) {
		if (memcmp(rec + at, mark, mlen) == 0 && (at == 0 || rec[at - 1] == '\0') &&
		    (at + mlen == len || rec[at + mlen] == '\0')) {
			break;
		}
	}
	if (at + mlen > len || idm_chap_response(c->alg, c->id, secret, secret_len, c->challenge,
	                                         c->challenge_len, r, &r_len) != 0) {
		*out_len = len;
		return fuzz_copy(rec, len);
	}
	FUZZ_CHECK(idm_chap_encode(IDM_CHAP_HEX, r, r_len, enc, sizeof(enc)) == 0);
	*out_len = len - 1 + strlen(enc);
	out = malloc(*out_len);
	FUZZ_CHECK(out != NULL);
	memcpy(out, rec, at + mlen - 1);
	memcpy(out + at + mlen - 1, enc, strlen(enc));
	memcpy(out + at + mlen - 1 + strlen(enc), rec + at + mlen, len - at - mlen);
	return out;
}

static void no_secret(const char *s, size_t len)
{
	if (len) {
		FUZZ_CHECK(memmem(s, len, SECRET, strlen(SECRET)) == NULL);
		FUZZ_CHECK(memmem(s, len, TSECRET, strlen(TSECRET)) == NULL);
	}
}

static void config(struct idm_chap_config *cfg, uint8_t settings)
{
	static const uint8_t algs[4][2] = {
	    {0, 0}, {IDM_CHAP_MD5, 0}, {IDM_CHAP_SHA1, IDM_CHAP_SHA256}, {IDM_CHAP_SHA3_256, 0}};
	const uint8_t *a = algs[(settings >> 3) & 3];

	memset(cfg, 0, sizeof(*cfg));
	cfg->encoding = (settings & 4) ? IDM_CHAP_BASE64 : IDM_CHAP_HEX;
	for (int i = 0; i < 2 && a[i]; i++) {
		cfg->algs[cfg->nalgs++] = a[i];
	}
}

static void exchange(struct fuzz_in *in, uint8_t settings)
{
	bool initiator = settings & 1, mutual = settings & 2;
	enum idm_role role = initiator ? IDM_ROLE_INITIATOR : IDM_ROLE_TARGET;
	struct idm_chap_config cfg;
	struct idm_params local, result;
	struct idm_nego_hook hook;
	struct idm_textbuf out;
	struct idm_nego n;
	struct idm_chap c;
	const uint8_t *line;
	size_t len;

	FUZZ_CHECK(idm_chap_account_set(&account, USER, SECRET, mutual ? TUSER : NULL,
	                                mutual ? TSECRET : NULL) == 0);
	config(&cfg, settings);
	if (initiator) {
		cfg.account = &account;
		cfg.mutual = mutual;
	} else {
		cfg.lookup = lookup;
	}
	FUZZ_CHECK(idm_chap_init(&c, role, &cfg) == 0);
	idm_params_init(&local);
	snprintf(local.initiator_name, sizeof(local.initiator_name), "iqn.2026-11.org.idm:ini");
	snprintf(local.target_name, sizeof(local.target_name), "iqn.2026-11.org.idm:disk");
	snprintf(local.auth_method, sizeof(local.auth_method), "CHAP");
	idm_nego_init(&n, role, true, &local, &result);
	idm_chap_hook(&c, &hook);
	idm_nego_add_hook(&n, &hook);
	idm_textbuf_init(&out);
	if (initiator) {
		(void)idm_nego_offer(&n, IDM_NEGO_SECURITY, &out);
	}
	while (fuzz_line(in, &line, &len)) {
		size_t tlen;
		uint8_t *text = with_response(line, len, &c, &tlen);
		int rc;

		idm_textbuf_reset(&out);
		if (initiator) {
			rc =
			    idm_nego_process(&n, IDM_NEGO_SECURITY, (const char *)text, tlen, &out);
			rc = rc ? rc : idm_chap_initiator_step(&c, &n, &out);
		} else {
			rc =
			    idm_nego_respond(&n, IDM_NEGO_SECURITY, (const char *)text, tlen, &out);
			rc = rc ? rc : idm_chap_target_step(&c, &n, &out);
		}
		FUZZ_CHECK(memchr(c.error, '\0', sizeof(c.error)) != NULL);
		/* a secret we say or log came from us, unless the peer said it first */
		if (!memmem(text, tlen, "secret", 6)) {
			no_secret(n.error, strlen(n.error));
			no_secret(c.error, strlen(c.error));
			no_secret(out.buf, out.len);
		}
		free(text);
		if (!initiator && idm_auth_may_transit(&c, &n)) {
			FUZZ_CHECK(c.state == IDM_CHAP_DONE);
		}
		if (rc) {
			FUZZ_CHECK(n.status != 0);
			break;
		}
	}
	(void)idm_auth_may_ask_transit(&c, &n);
	idm_textbuf_free(&out);
	idm_chap_clear(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	uint8_t settings = fuzz_u8(&in);

	if (settings & 32) {
		codec(&in);
	} else {
		exchange(&in, settings);
	}
	return 0;
}
