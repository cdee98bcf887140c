/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * iSER's parsers: control messages (iSER header + BHS + AHS + data), the
 * Hello / HelloReply messages, the CM private data (iser_wire.c), and the
 * login keys iSER owns (iser_keys.c) as a hook of the key engine, target
 * and initiator (iser_ini_wire.c).
 *
 * Input: one byte of settings, then by bits 0-1 of it:
 *   0 a received message: 2 bytes of AHS limit (4-byte words), 3 bytes of
 *     data limit, then the message;
 *   1 the same message read as a Hello, HelloReply and CM private data;
 *   2 / 3 login as target / initiator: records separated by '\n', each a
 *     stage digit and the peer's text, as in fuzz_keys.
 * Bit 2: a leading connection. Whatever decodes must encode back to the
 * same; what a parse points at lies inside the message.
 */
#include <errno.h>

#include "fuzz.h"
#include "idm/core_priv.h"
#include "transport/iser/iser_ini.h"
#include "transport/iser/iser_keys.h"
#include "transport/iser/iser_wire.h"

/* Read every byte of a region so ASan checks it is inside the message. */
static uint8_t touch(const uint8_t *p, size_t len)
{
	uint8_t x = 0;

	for (size_t i = 0; i < len; i++) {
		x ^= p[i];
	}
	return x;
}

static void ctrl_message(struct fuzz_in *in)
{
	uint32_t max_ahs = (uint32_t)(fuzz_u8(in) << 8 | fuzz_u8(in)) * 4;
	uint32_t max_data = (uint32_t)(fuzz_u8(in) << 16 | fuzz_u8(in) << 8 | fuzz_u8(in));
	uint8_t *msg = fuzz_copy(in->p, in->n);
	uint32_t len = (uint32_t)in->n;
	struct iser_hdr h, h2;
	struct idm_pdu pdu;
	uint8_t enc[ISER_HDR_LEN];
	int op = iser_msg_opcode(msg, len);

	FUZZ_CHECK(op < 0 || op == ISER_OP_CONTROL || op == ISER_OP_HELLO ||
	           op == ISER_OP_HELLO_REPLY);
	memset(&pdu, 0, sizeof(pdu));
	if (iser_ctrl_pdu_parse(msg, len, max_ahs, max_data, &h, &pdu) == 0) {
		FUZZ_CHECK(pdu.ahs_len <= max_ahs && pdu.data_len <= max_data);
		FUZZ_CHECK((uint64_t)ISER_HDR_LEN + IDM_BHS_LEN + pdu.ahs_len + pdu.data_len <=
		           len);
		if (pdu.ahs) {
			FUZZ_CHECK(pdu.ahs >= msg && pdu.ahs + pdu.ahs_len <= msg + len);
			(void)touch(pdu.ahs, pdu.ahs_len);
		}
		if (pdu.data) {
			FUZZ_CHECK(pdu.data >= msg && pdu.data + pdu.data_len <= msg + len);
			(void)touch(pdu.data, pdu.data_len);
		}
		iser_hdr_encode(enc, &h);
		FUZZ_CHECK(iser_hdr_decode(enc, sizeof(enc), &h2) == 0);
		FUZZ_CHECK(h.flags == h2.flags && h.write_stag == h2.write_stag &&
		           h.write_va == h2.write_va && h.read_stag == h2.read_stag &&
		           h.read_va == h2.read_va);
	}
	free(msg);
}

static void small_messages(struct fuzz_in *in)
{
	uint8_t *msg = fuzz_copy(in->p, in->n);
	uint8_t enc[ISER_HELLO_LEN];
	struct iser_hello hello, hello2;
	struct iser_hello_reply rep, rep2;
	struct iser_cm_priv cm, cm2;
	uint8_t cm_enc[ISER_CM_PRIV_LEN];

	if (iser_hello_decode(msg, in->n, &hello) == 0) {
		FUZZ_CHECK(iser_hello_encode(enc, &hello) == 0);
		FUZZ_CHECK(iser_hello_decode(enc, sizeof(enc), &hello2) == 0);
		FUZZ_CHECK(hello.max_ver == hello2.max_ver && hello.min_ver == hello2.min_ver &&
		           hello.ird == hello2.ird);
	}
	if (iser_hello_reply_decode(msg, in->n, &rep) == 0 &&
	    iser_hello_reply_encode(enc, &rep) == 0) {
		FUZZ_CHECK(iser_hello_reply_decode(enc, sizeof(enc), &rep2) == 0);
		FUZZ_CHECK(rep.reject == rep2.reject && rep.max_ver == rep2.max_ver &&
		           rep.ord == rep2.ord);
	}
	if (iser_cm_priv_decode(msg, in->n, &cm) == 0) {
		iser_cm_priv_encode(cm_enc, &cm);
		FUZZ_CHECK(iser_cm_priv_decode(cm_enc, sizeof(cm_enc), &cm2) == 0);
		FUZZ_CHECK(cm.zbva_unsupported == cm2.zbva_unsupported &&
		           cm.send_inv_unsupported == cm2.send_inv_unsupported);
	}
	free(msg);
}

static int ignorable_cb(void *arg, const char *key, const char *value)
{
	(void)arg;
	(void)iser_ini_answer_ignorable(key, value);
	return 0;
}

static void login_keys(struct fuzz_in *in, bool initiator, bool leading)
{
	struct iser_key_state st;
	struct idm_params local, result;
	struct idm_nego_hook hook = {iser_nego_hook_key, &st};
	struct idm_textbuf offer, out;
	struct fuzz_nego_rec rec;
	struct idm_nego n;
	int offered = -1;

	idm_params_init(&local);
	snprintf(local.initiator_name, sizeof(local.initiator_name), "iqn.2026-11.org.idm:ini");
	snprintf(local.target_name, sizeof(local.target_name), "iqn.2026-11.org.idm:disk");
	iser_ini_params(&local, 8192);
	iser_key_state_init(&st, initiator ? IDM_ROLE_INITIATOR : IDM_ROLE_TARGET, leading, 262144);
	idm_nego_init(&n, initiator ? IDM_ROLE_INITIATOR : IDM_ROLE_TARGET, leading, &local,
	              &result);
	n.iser = true;
	idm_nego_add_hook(&n, &hook);
	idm_textbuf_init(&offer);
	idm_textbuf_init(&out);
	while (fuzz_nego_next(in, &rec)) {
		int rc;

		if (initiator) {
			(void)idm_kv_parse((const char *)rec.text, rec.len, ignorable_cb, NULL);
		}
		rc = fuzz_nego_step(&n, &offered, &rec, &offer, &out);
		free(rec.text);
		FUZZ_CHECK(st.target_rdsl >= ISER_RDSL_MIN && st.target_rdsl <= ISER_RDSL_MAX);
		FUZZ_CHECK(st.initiator_rdsl >= ISER_RDSL_MIN &&
		           st.initiator_rdsl <= ISER_RDSL_MAX);
		FUZZ_CHECK(st.max_unexpected != 1);
		if (rc) {
			break;
		}
	}
	idm_textbuf_free(&offer);
	idm_textbuf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	uint8_t cfg = fuzz_u8(&in);

	switch (cfg & 3) {
	case 0:
		ctrl_message(&in);
		break;
	case 1:
		small_messages(&in);
		break;
	default:
		login_keys(&in, (cfg & 3) == 3, cfg & 4);
		break;
	}
	return 0;
}
