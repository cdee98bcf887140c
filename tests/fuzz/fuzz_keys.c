/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Key=value text parsing and negotiation (src/idm/keys.c, textbuf.c),
 * both roles.
 *
 * Input: one byte of settings, then records separated by '\n', each a
 * stage digit ('0' security, '1' operational, '3' full feature phase: a
 * Text Request) and the peer's text ("key=value\0..."). The target answers
 * each record (idm_nego_respond, then idm_nego_finish_stage); the
 * initiator offers its keys on entering a stage and processes each record
 * as the target's answer (idm_nego_process). Settings bits:
 *   0 role initiator, 1 leading connection, 2 discovery session,
 *   3 iSER (RDMAExtensions offered), 4 AuthMethod list "CHAP,None",
 *   5 HeaderDigest/DataDigest CRC32C wanted, 6 small MaxRecvDSL.
 * Whatever we send must be text our own parser takes back, with no key
 * twice; what a negotiation settles stays inside the RFC's ranges.
 */
#include <errno.h>

#include "fuzz.h"
#include "idm/keys.h"

struct out_check {
	char keys[64][IDM_KEY_NAME_MAX + 1];
	unsigned n;
};

static int out_key(void *arg, const char *key, const char *value)
{
	struct out_check *oc = arg;

	FUZZ_CHECK(strlen(key) <= IDM_KEY_NAME_MAX);
	FUZZ_CHECK(strlen(value) <= IDM_VALUE_MAX);
	for (unsigned i = 0; i < oc->n; i++) {
		FUZZ_CHECK(strcmp(oc->keys[i], key) != 0); /* one answer per key */
	}
	if (oc->n < 64) {
		snprintf(oc->keys[oc->n++], sizeof(oc->keys[0]), "%s", key);
	}
	return 0;
}

/* What we send parses as text, without a repeated key. */
static void check_sent(const struct idm_textbuf *t)
{
	struct out_check oc = {.n = 0};

	FUZZ_CHECK(t->len <= t->cap || t->len == 0);
	if (t->len) {
		FUZZ_CHECK(idm_kv_parse(t->buf, t->len, out_key, &oc) == 0);
	}
}

static void check_result(const struct idm_params *r)
{
	FUZZ_CHECK(r->max_xmit_dsl >= 512 && r->max_xmit_dsl <= 16777215);
	FUZZ_CHECK(r->max_burst_length >= 512 && r->max_burst_length <= 16777215);
	FUZZ_CHECK(r->first_burst_length >= 512 && r->first_burst_length <= 16777215);
	FUZZ_CHECK(r->max_connections >= 1 && r->max_connections <= 65535);
	FUZZ_CHECK(r->max_outstanding_r2t >= 1 && r->max_outstanding_r2t <= 65535);
	FUZZ_CHECK(r->error_recovery_level <= 2);
	FUZZ_CHECK(r->default_time2wait <= 3600 && r->default_time2retain <= 3600);
	FUZZ_CHECK(memchr(r->target_name, '\0', sizeof(r->target_name)) != NULL);
	FUZZ_CHECK(memchr(r->initiator_name, '\0', sizeof(r->initiator_name)) != NULL);
	FUZZ_CHECK(memchr(r->target_alias, '\0', sizeof(r->target_alias)) != NULL);
	FUZZ_CHECK(memchr(r->auth_method, '\0', sizeof(r->auth_method)) != NULL);
}

static void local_params(struct idm_params *p, uint8_t cfg)
{
	idm_params_init(p);
	p->session_type = (cfg & 4) ? IDM_SESSION_DISCOVERY : IDM_SESSION_NORMAL;
	snprintf(p->initiator_name, sizeof(p->initiator_name), "iqn.2026-11.org.idm:fuzz-ini");
	if (!(cfg & 4)) {
		snprintf(p->target_name, sizeof(p->target_name), "iqn.2026-11.org.idm:fuzz-tgt");
	}
	snprintf(p->target_alias, sizeof(p->target_alias), "fuzz");
	p->target_portal_group_tag = 1;
	p->rdma_extensions = cfg & 8;
	p->header_digest = p->data_digest = cfg & 32;
	p->max_recv_dsl = (cfg & 64) ? 512 : 262144;
	p->max_burst_length = 1048576;
	p->first_burst_length = 262144;
	p->max_outstanding_r2t = 16;
	p->initial_r2t = false;
	snprintf(p->auth_method, sizeof(p->auth_method), "%s", (cfg & 16) ? "CHAP,None" : "None");
}

/* Parse the raw text once more, numbers included. */
static int number_cb(void *arg, const char *key, const char *value)
{
	uint64_t v;

	(void)arg;
	(void)key;
	(void)idm_key_parse_number(value, &v);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	uint8_t cfg = fuzz_u8(&in);
	struct idm_params local, result;
	struct idm_textbuf offer, out;
	struct fuzz_nego_rec rec;
	struct idm_nego n;
	int offered = -1;
	bool first = true;

	{
		uint8_t *raw = fuzz_copy(in.p, in.n);

		(void)idm_kv_parse((const char *)raw, in.n, number_cb, NULL);
		free(raw);
	}
	local_params(&local, cfg);
	idm_nego_init(&n, (cfg & 1) ? IDM_ROLE_INITIATOR : IDM_ROLE_TARGET, cfg & 2, &local,
	              &result);
	n.iser = cfg & 8;
	idm_textbuf_init(&offer);
	idm_textbuf_init(&out);
	while (fuzz_nego_next(&in, &rec)) {
		int rc = fuzz_nego_step(&n, &offered, &rec, &offer, &out);

		if (!rc && first && n.role == IDM_ROLE_TARGET) {
			rc = idm_nego_check_required(&n);
		}
		free(rec.text);
		first = false;
		FUZZ_CHECK(rc <= 0);
		FUZZ_CHECK(memchr(n.error, '\0', sizeof(n.error)) != NULL);
		check_sent(&offer);
		if (rc) {
			FUZZ_CHECK(n.status != 0);
			break;
		}
		check_sent(&out);
		check_result(&result);
	}
	(void)idm_nego_complete(&n);
	idm_textbuf_free(&offer);
	idm_textbuf_free(&out);
	return 0;
}
