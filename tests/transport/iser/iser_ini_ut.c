/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the iSER initiator's pure parts: the SCSI Command's iSER
 * header (read / write STag advertisement), the connect request's private
 * data, the login proposal as the key engine sends it, and the initiator
 * side of the iSER key rules.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "idm/keys.h"
#include "transport/iser/iser_ini.h"
#include "transport/iser/iser_keys.h"

/* A read advertises RSV with the read STag/VA, on the wire at bytes 16..27. */
static void test_cmd_hdr_read(void **state)
{
	struct iser_hdr h, back;
	uint8_t wire[ISER_HDR_LEN];

	(void)state;
	iser_ini_cmd_hdr(&h, true, false, 0x1234abcd, 0x00007f0011223000ULL);
	assert_int_equal(h.flags, ISER_RSV);
	iser_hdr_encode(wire, &h);
	assert_int_equal(wire[0], 0x14);
	assert_memory_equal(wire + 4, "\0\0\0\0\0\0\0\0\0\0\0\0", 12); /* no write STag/VA */
	assert_memory_equal(wire + 16, "\x12\x34\xab\xcd\x00\x00\x7f\x00\x11\x22\x30\x00", 12);
	assert_int_equal(iser_hdr_decode(wire, sizeof(wire), &back), 0);
	assert_int_equal(back.read_stag, 0x1234abcd);
	assert_true(back.read_va == 0x00007f0011223000ULL);
}

/* A write advertises WSV with the write STag/VA at bytes 4..15; the Write
 * Base Offset is the buffer itself (no unsolicited data is sent). */
static void test_cmd_hdr_write(void **state)
{
	struct iser_hdr h;
	uint8_t wire[ISER_HDR_LEN];

	(void)state;
	iser_ini_cmd_hdr(&h, false, true, 0x55, 0x1000);
	assert_int_equal(h.flags, ISER_WSV);
	iser_hdr_encode(wire, &h);
	assert_int_equal(wire[0], 0x18);
	assert_memory_equal(wire + 4, "\0\0\0\x55\0\0\0\0\0\0\x10\0", 12);
	assert_memory_equal(wire + 16, "\0\0\0\0\0\0\0\0\0\0\0\0", 12);
}

/* No data: a plain control header; bidirectional: both. */
static void test_cmd_hdr_none_and_bidi(void **state)
{
	struct iser_hdr h;
	uint8_t wire[ISER_HDR_LEN];

	(void)state;
	iser_ini_cmd_hdr(&h, false, false, 9, 9);
	iser_hdr_encode(wire, &h);
	assert_int_equal(wire[0], 0x10);
	iser_ini_cmd_hdr(&h, true, true, 9, 0x2000);
	assert_int_equal(h.flags, ISER_WSV | ISER_RSV);
	assert_int_equal(h.read_stag, 9);
	assert_int_equal(h.write_stag, 9);
}

/* The connect request says: no zero-based VAs, no Send with Invalidate. */
static void test_cm_priv(void **state)
{
	uint8_t priv[ISER_CM_PRIV_LEN];
	struct iser_cm_priv p;

	(void)state;
	iser_ini_cm_priv(priv);
	assert_int_equal(priv[0], 0xc0);
	assert_int_equal(priv[1] | priv[2] | priv[3], 0);
	assert_int_equal(iser_cm_priv_decode(priv, sizeof(priv), &p), 0);
	assert_true(p.zbva_unsupported);
	assert_true(p.send_inv_unsupported);
}

/* Is "key=value" in the NUL-separated text? */
static bool has_kv(const struct idm_textbuf *t, const char *kv)
{
	for (size_t off = 0; off < t->len; off += strlen(t->buf + off) + 1) {
		if (strcmp(t->buf + off, kv) == 0) {
			return true;
		}
	}
	return false;
}

/* The operational stage offer of a normal iSER session. */
static void test_proposal_offer(void **state)
{
	struct idm_params local, result;
	struct idm_nego n;
	struct idm_textbuf t;

	(void)state;
	idm_params_init(&local);
	strcpy(local.initiator_name, "iqn.2024-01.org.idm:ut");
	strcpy(local.target_name, "iqn.2024-01.org.idm:t");
	local.session_type = IDM_SESSION_NORMAL;
	iser_ini_params(&local, ISER_INI_RDSL);
	idm_nego_init(&n, IDM_ROLE_INITIATOR, true, &local, &result);
	idm_textbuf_init(&t);
	assert_int_equal(idm_nego_offer(&n, IDM_NEGO_OPERATIONAL, &t), 0);
	assert_true(has_kv(&t, "RDMAExtensions=Yes"));
	assert_true(has_kv(&t, "TargetRecvDataSegmentLength=8192"));
	assert_true(has_kv(&t, "InitiatorRecvDataSegmentLength=8192"));
	assert_true(has_kv(&t, "ImmediateData=No"));
	assert_true(has_kv(&t, "InitialR2T=Yes"));
	assert_true(has_kv(&t, "HeaderDigest=None"));
	assert_true(has_kv(&t, "DataDigest=None"));
	idm_textbuf_free(&t);
}

/* The initiator's key rules: a target refusing RDMA fails the login;
 * declared lengths are taken; forced digests must come back None. */
static void test_initiator_keys(void **state)
{
	struct iser_key_state st;
	char ans[64];

	(void)state;
	iser_key_state_init(&st, IDM_ROLE_INITIATOR, true, ISER_INI_RDSL);
	assert_int_equal(iser_negotiate_key(&st, "RDMAExtensions", "No", ans, sizeof(ans)),
	                 IDM_HOOK_FAIL);
	assert_int_equal(iser_negotiate_key(&st, "RDMAExtensions", "Yes", ans, sizeof(ans)),
	                 IDM_HOOK_NOTED);
	assert_true(st.rdma_ext);
	assert_int_equal(
	    iser_negotiate_key(&st, "TargetRecvDataSegmentLength", "262144", ans, sizeof(ans)),
	    IDM_HOOK_NOTED);
	assert_int_equal(st.target_rdsl, 262144);
	assert_int_equal(iser_negotiate_key(&st, "HeaderDigest", "CRC32C", ans, sizeof(ans)),
	                 IDM_HOOK_FAIL);
	assert_int_equal(iser_negotiate_key(&st, "DataDigest", "None", ans, sizeof(ans)),
	                 IDM_HOOK_NOTED);
}

/* A target that does not know the iSER lengths leaves the defaults. */
static void test_answer_ignorable(void **state)
{
	(void)state;
	assert_true(iser_ini_answer_ignorable("TargetRecvDataSegmentLength", "NotUnderstood"));
	assert_true(iser_ini_answer_ignorable("MaxOutstandingUnexpectedPDUs", "Irrelevant"));
	assert_false(iser_ini_answer_ignorable("RDMAExtensions", "NotUnderstood"));
	assert_false(iser_ini_answer_ignorable("InitiatorRecvDataSegmentLength", "8192"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cmd_hdr_read),          cmocka_unit_test(test_cmd_hdr_write),
	    cmocka_unit_test(test_cmd_hdr_none_and_bidi), cmocka_unit_test(test_cm_priv),
	    cmocka_unit_test(test_proposal_offer),        cmocka_unit_test(test_initiator_keys),
	    cmocka_unit_test(test_answer_ignorable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
