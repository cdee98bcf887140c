/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests for the key negotiation engine (src/idm/keys.c), both roles. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "idm/keys.h"
#include "idm/pdu.h"

#define SEC IDM_NEGO_SECURITY
#define OPER IDM_NEGO_OPERATIONAL
#define FFP IDM_NEGO_FFP

/* One side of a negotiation with its result and output text. */
struct side {
	struct idm_nego n;
	struct idm_params res;
	struct idm_textbuf out;
};

/* The target's tunables used throughout. */
static void target_local(struct idm_params *l)
{
	idm_params_init(l);
	l->header_digest = true;
	l->data_digest = false;
	l->max_recv_dsl = 65536;
	l->max_burst_length = 262144;
	l->first_burst_length = 65536;
	l->default_time2wait = 5;
	l->default_time2retain = 20;
	l->max_outstanding_r2t = 4;
	l->max_connections = 8;
	l->initial_r2t = false;
	l->immediate_data = false;
	l->error_recovery_level = 0;
	l->target_portal_group_tag = 1;
}

static void initiator_local(struct idm_params *l, enum idm_session_type type)
{
	idm_params_init(l);
	snprintf(l->initiator_name, sizeof(l->initiator_name), "iqn.2026-01.org.test:ini");
	snprintf(l->target_name, sizeof(l->target_name), "iqn.2026-01.org.test:tgt");
	l->session_type = type;
	l->header_digest = true;
	l->data_digest = true;
	l->max_recv_dsl = 131072;
	l->max_burst_length = 1048576;
	l->first_burst_length = 262144;
	l->max_connections = 4;
	l->initial_r2t = false;
	l->immediate_data = true;
	l->max_outstanding_r2t = 16;
	l->default_time2wait = 0;
	l->default_time2retain = 60;
	l->error_recovery_level = 2;
}

/* (Re)start a side; `s` must be zeroed or previously initialised. */
static void side_init(struct side *s, enum idm_role role, bool leading,
                      const struct idm_params *local)
{
	idm_textbuf_free(&s->out);
	memset(s, 0, sizeof(*s));
	idm_nego_init(&s->n, role, leading, local, &s->res);
	idm_textbuf_init(&s->out);
}

static void target_init(struct side *s, bool leading)
{
	struct idm_params l;

	target_local(&l);
	side_init(s, IDM_ROLE_TARGET, leading, &l);
}

/* Target answers `len` bytes of request text into s->out (reset first). */
static int respond(struct side *s, enum idm_nego_stage stage, const char *t, size_t len)
{
	idm_textbuf_reset(&s->out);
	return idm_nego_respond(&s->n, stage, t, len, &s->out);
}

#define RESPOND(s, stage, lit) respond(s, stage, lit, sizeof(lit) - 1)

/* The value of `key` in a text buffer, or NULL. */
static const char *val(const struct idm_textbuf *t, const char *key)
{
	size_t off = 0, klen = strlen(key);

	while (off < t->len) {
		const char *p = t->buf + off;

		if (!strncmp(p, key, klen) && p[klen] == '=') {
			return p + klen + 1;
		}
		off += strlen(p) + 1;
	}
	return NULL;
}

static int npairs(const struct idm_textbuf *t)
{
	int n = 0;

	for (size_t off = 0; off < t->len; off += strlen(t->buf + off) + 1) {
		n++;
	}
	return n;
}

/* ---- defaults ------------------------------------------------------ */

static void test_params_defaults(void **state)
{
	struct idm_params p;

	idm_params_init(&p);
	assert_false(p.header_digest);
	assert_false(p.data_digest);
	assert_int_equal(p.max_recv_dsl, 8192);
	assert_int_equal(p.max_xmit_dsl, 8192);
	assert_int_equal(p.max_connections, 1);
	assert_true(p.initial_r2t);
	assert_true(p.immediate_data);
	assert_int_equal(p.max_burst_length, 262144);
	assert_int_equal(p.first_burst_length, 65536);
	assert_int_equal(p.default_time2wait, 2);
	assert_int_equal(p.default_time2retain, 20);
	assert_int_equal(p.max_outstanding_r2t, 1);
	assert_true(p.data_pdu_in_order);
	assert_true(p.data_sequence_in_order);
	assert_int_equal(p.error_recovery_level, 0);
	assert_int_equal(p.session_type, IDM_SESSION_NORMAL);
	assert_false(p.rdma_extensions);
	assert_int_equal(p.target_rdsl, 8192);
	assert_int_equal(p.initiator_rdsl, 8192);
	assert_int_equal(p.max_outstanding_unexpected_pdus, 0);
	assert_string_equal(p.auth_method, "None");
}

/* ---- list keys ----------------------------------------------------- */

static void test_list_first_supported_of_offer(void **state)
{
	struct side t = {0};

	target_init(&t, true);
	assert_int_equal(RESPOND(&t, OPER, "HeaderDigest=CRC32C,None\0DataDigest=CRC32C,None\0"),
	                 0);
	assert_string_equal(val(&t.out, "HeaderDigest"), "CRC32C");
	assert_string_equal(val(&t.out, "DataDigest"), "None"); /* we don't do data CRC */
	assert_true(t.res.header_digest);
	assert_false(t.res.data_digest);
	idm_textbuf_free(&t.out);
}

static void test_list_offer_order_wins(void **state)
{
	struct side t = {0};

	target_init(&t, true);
	assert_int_equal(RESPOND(&t, OPER, "HeaderDigest=None,CRC32C\0"), 0);
	assert_string_equal(val(&t.out, "HeaderDigest"), "None");
	assert_false(t.res.header_digest);
	idm_textbuf_free(&t.out);
}

static void test_list_no_common_value_rejects(void **state)
{
	struct side t = {0};

	target_init(&t, true);
	assert_int_equal(RESPOND(&t, OPER, "DataDigest=CRC32C\0HeaderDigest=md5,sha1\0"), 0);
	assert_string_equal(val(&t.out, "DataDigest"), "Reject");
	assert_string_equal(val(&t.out, "HeaderDigest"), "Reject");
	assert_false(t.res.data_digest);
	assert_false(t.res.header_digest);
	idm_textbuf_free(&t.out);
}

static void test_list_malformed_rejects(void **state)
{
	struct side t = {0};

	target_init(&t, true);
	assert_int_equal(RESPOND(&t, OPER, "HeaderDigest=,None\0DataDigest=\0"), 0);
	assert_string_equal(val(&t.out, "HeaderDigest"), "Reject");
	assert_string_equal(val(&t.out, "DataDigest"), "Reject");
	idm_textbuf_free(&t.out);
}

static void test_auth_method_selection(void **state)
{
	struct idm_params l;
	struct side t = {0};

	target_init(&t, true);
	assert_int_equal(RESPOND(&t, SEC, "AuthMethod=CHAP,None\0"), 0);
	assert_string_equal(val(&t.out, "AuthMethod"), "None");
	assert_string_equal(t.res.auth_method, "None");
	idm_textbuf_free(&t.out);

	target_local(&l);
	snprintf(l.auth_method, sizeof(l.auth_method), "CHAP");
	side_init(&t, IDM_ROLE_TARGET, true, &l);
	assert_int_equal(RESPOND(&t, SEC, "AuthMethod=KRB5,CHAP,None\0"), 0);
	assert_string_equal(val(&t.out, "AuthMethod"), "CHAP");
	assert_string_equal(t.res.auth_method, "CHAP");
	idm_textbuf_free(&t.out);

	side_init(&t, IDM_ROLE_TARGET, true, &l);
	assert_int_equal(RESPOND(&t, SEC, "AuthMethod=None\0"), 0);
	assert_string_equal(val(&t.out, "AuthMethod"), "Reject");
	idm_textbuf_free(&t.out);
}

static void test_task_reporting(void **state)
{
	struct side t = {0};

	target_init(&t, true);
	assert_int_equal(RESPOND(&t, OPER, "TaskReporting=FastAbort,RFC3720\0"), 0);
	assert_string_equal(val(&t.out, "TaskReporting"), "RFC3720");
	target_init(&t, true);
	assert_int_equal(RESPOND(&t, OPER, "TaskReporting=ResponseFence\0"), 0);
	assert_string_equal(val(&t.out, "TaskReporting"), "Reject");
	idm_textbuf_free(&t.out);
}

/* ---- booleans ------------------------------------------------------ */

static void test_bool_and(void **state)
{
	struct side t = {0};

	target_init(&t, true); /* target ImmediateData=No */
	assert_int_equal(RESPOND(&t, OPER, "ImmediateData=Yes\0"), 0);
	assert_string_equal(val(&t.out, "ImmediateData"), "No");
	assert_false(t.res.immediate_data);
	idm_textbuf_free(&t.out);
}

static void test_bool_and_no_needs_no_answer(void **state)
{
	struct side t = {0};

	target_init(&t, true);
	assert_int_equal(RESPOND(&t, OPER, "ImmediateData=No\0"), 0);
	assert_null(val(&t.out, "ImmediateData"));
	assert_false(t.res.immediate_data);
	idm_textbuf_free(&t.out);
}

static void test_bool_or(void **state)
{
	struct side t = {0};

	target_init(&t, true); /* target InitialR2T=No */
	assert_int_equal(RESPOND(&t, OPER, "InitialR2T=No\0DataPDUInOrder=No\0"), 0);
	assert_string_equal(val(&t.out, "InitialR2T"), "No");
	assert_false(t.res.initial_r2t);
	/* target wants DataPDUInOrder=Yes: OR gives Yes */
	assert_string_equal(val(&t.out, "DataPDUInOrder"), "Yes");
	assert_true(t.res.data_pdu_in_order);
	idm_textbuf_free(&t.out);
}

static void test_bool_or_yes_needs_no_answer(void **state)
{
	struct side t = {0};

	target_init(&t, true);
	assert_int_equal(RESPOND(&t, OPER, "InitialR2T=Yes\0DataSequenceInOrder=Yes\0"), 0);
	assert_int_equal(t.out.len, 0);
	assert_true(t.res.initial_r2t);
	assert_true(t.res.data_sequence_in_order);
	idm_textbuf_free(&t.out);
}

static void test_bool_malformed_rejects(void **state)
{
	struct side t = {0};

	target_init(&t, true);
	assert_int_equal(RESPOND(&t, OPER, "InitialR2T=yes\0ImmediateData=1\0"), 0);
	assert_string_equal(val(&t.out, "InitialR2T"), "Reject");
	assert_string_equal(val(&t.out, "ImmediateData"), "Reject");
	assert_true(t.res.initial_r2t); /* defaults kept */
	assert_true(t.res.immediate_data);
	idm_textbuf_free(&t.out);
}

/* ---- numbers ------------------------------------------------------- */

static void test_numeric_min(void **state)
{
	struct side t = {0};

	target_init(&t, true);
	assert_int_equal(RESPOND(&t, OPER,
	                         "MaxBurstLength=1048576\0MaxOutstandingR2T=2\0"
	                         "MaxConnections=65535\0ErrorRecoveryLevel=2\0"),
	                 0);
	assert_string_equal(val(&t.out, "MaxBurstLength"), "262144");
	assert_string_equal(val(&t.out, "MaxOutstandingR2T"), "2");
	assert_string_equal(val(&t.out, "MaxConnections"), "8");
	assert_string_equal(val(&t.out, "ErrorRecoveryLevel"), "0");
	assert_int_equal(t.res.max_burst_length, 262144);
	assert_int_equal(t.res.max_outstanding_r2t, 2);
	assert_int_equal(t.res.max_connections, 8);
	idm_textbuf_free(&t.out);
}

static void test_numeric_max(void **state)
{
	struct side t = {0};

	target_init(&t, true); /* DefaultTime2Wait 5 */
	assert_int_equal(RESPOND(&t, OPER, "DefaultTime2Wait=1\0DefaultTime2Retain=0\0"), 0);
	assert_string_equal(val(&t.out, "DefaultTime2Wait"), "5");
	assert_string_equal(val(&t.out, "DefaultTime2Retain"), "0");
	assert_int_equal(t.res.default_time2wait, 5);
	assert_int_equal(t.res.default_time2retain, 0);
	idm_textbuf_free(&t.out);
}

static void test_numeric_out_of_range_rejects(void **state)
{
	struct side t = {0};

	target_init(&t, true);
	assert_int_equal(RESPOND(&t, OPER,
	                         "MaxBurstLength=511\0ErrorRecoveryLevel=3\0"
	                         "DefaultTime2Wait=3601\0MaxOutstandingR2T=0\0"
	                         "MaxConnections=4294967296\0"),
	                 0);
	assert_string_equal(val(&t.out, "MaxBurstLength"), "Reject");
	assert_string_equal(val(&t.out, "ErrorRecoveryLevel"), "Reject");
	assert_string_equal(val(&t.out, "DefaultTime2Wait"), "Reject");
	assert_string_equal(val(&t.out, "MaxOutstandingR2T"), "Reject");
	assert_string_equal(val(&t.out, "MaxConnections"), "Reject");
	assert_int_equal(t.res.max_burst_length, 262144);
	assert_int_equal(t.res.error_recovery_level, 0);
	idm_textbuf_free(&t.out);
}

static void test_numeric_malformed_rejects(void **state)
{
	struct side t = {0};

	target_init(&t, true);
	assert_int_equal(RESPOND(&t, OPER,
	                         "MaxBurstLength=12a\0MaxOutstandingR2T=\0"
	                         "DefaultTime2Wait=-1\0DefaultTime2Retain= 5\0"
	                         "MaxConnections=0x\0ErrorRecoveryLevel=0b!!!!\0"),
	                 0);
	assert_int_equal(npairs(&t.out), 6);
	assert_string_equal(val(&t.out, "MaxBurstLength"), "Reject");
	assert_string_equal(val(&t.out, "MaxOutstandingR2T"), "Reject");
	assert_string_equal(val(&t.out, "DefaultTime2Wait"), "Reject");
	assert_string_equal(val(&t.out, "DefaultTime2Retain"), "Reject");
	assert_string_equal(val(&t.out, "MaxConnections"), "Reject");
	assert_string_equal(val(&t.out, "ErrorRecoveryLevel"), "Reject");
	idm_textbuf_free(&t.out);
}

static void test_numeric_hex_and_base64(void **state)
{
	struct side t = {0};

	target_init(&t, true);
	/* 0x10000 = 65536; base64 AAEAAA== is 00 01 00 00 = 65536 */
	assert_int_equal(RESPOND(&t, OPER,
	                         "MaxBurstLength=0x10000\0"
	                         "MaxRecvDataSegmentLength=0bAAEAAA==\0"
	                         "MaxOutstandingR2T=0X3\0"),
	                 0);
	assert_string_equal(val(&t.out, "MaxBurstLength"), "65536");
	assert_string_equal(val(&t.out, "MaxOutstandingR2T"), "3");
	assert_int_equal(t.res.max_xmit_dsl, 65536);
	idm_textbuf_free(&t.out);
}

static void test_first_burst_not_above_max_burst(void **state)
{
	struct side t = {0};

	target_init(&t, true);
	/* FirstBurstLength arrives before MaxBurstLength in the same PDU */
	assert_int_equal(RESPOND(&t, OPER,
	                         "FirstBurstLength=65536\0MaxBurstLength=16384\0"
	                         "InitialR2T=No\0"),
	                 0);
	assert_string_equal(val(&t.out, "MaxBurstLength"), "16384");
	assert_string_equal(val(&t.out, "FirstBurstLength"), "16384");
	assert_int_equal(t.res.first_burst_length, 16384);
	assert_true(t.res.first_burst_length <= t.res.max_burst_length);
	idm_textbuf_free(&t.out);
}

static void test_first_burst_irrelevant_without_unsolicited_data(void **state)
{
	struct side t = {0};

	target_init(&t, true);
	assert_int_equal(RESPOND(&t, OPER,
	                         "FirstBurstLength=4096\0InitialR2T=Yes\0"
	                         "ImmediateData=No\0"),
	                 0);
	assert_string_equal(val(&t.out, "FirstBurstLength"), "Irrelevant");
	assert_int_equal(t.res.first_burst_length, 65536);
	idm_textbuf_free(&t.out);
}

/* ---- declarations -------------------------------------------------- */

static void test_declarative_mrdsl_two_sides(void **state)
{
	struct side t = {0};

	target_init(&t, true);
	assert_int_equal(RESPOND(&t, OPER,
	                         "MaxRecvDataSegmentLength=262144\0"
	                         "InitiatorAlias=host1\0"),
	                 0);
	assert_null(val(&t.out, "MaxRecvDataSegmentLength"));
	assert_null(val(&t.out, "InitiatorAlias"));
	assert_int_equal(t.res.max_xmit_dsl, 262144); /* what we may send */
	assert_int_equal(t.res.max_recv_dsl, 8192);   /* not declared yet */
	assert_string_equal(t.res.initiator_alias, "host1");
	assert_int_equal(idm_nego_finish_stage(&t.n, OPER, &t.out), 0);
	assert_string_equal(val(&t.out, "MaxRecvDataSegmentLength"), "65536");
	assert_int_equal(t.res.max_recv_dsl, 65536);
	idm_textbuf_free(&t.out);
}

static void test_declarative_out_of_range_rejects(void **state)
{
	struct side t = {0};

	target_init(&t, true);
	assert_int_equal(RESPOND(&t, OPER, "MaxRecvDataSegmentLength=16777216\0"), 0);
	assert_string_equal(val(&t.out, "MaxRecvDataSegmentLength"), "Reject");
	assert_int_equal(t.res.max_xmit_dsl, 8192);
	idm_textbuf_free(&t.out);
}

static void test_names_stored_and_too_long(void **state)
{
	char req[600];
	size_t len;
	struct side t = {0};

	target_init(&t, true);
	assert_int_equal(RESPOND(&t, SEC, "InitiatorName=iqn.a:b\0TargetName=iqn.c:d\0"), 0);
	assert_int_equal(t.out.len, 0);
	assert_string_equal(t.res.initiator_name, "iqn.a:b");
	assert_string_equal(t.res.target_name, "iqn.c:d");

	target_init(&t, true);
	len = (size_t)snprintf(req, sizeof(req), "TargetName=%0300d", 7) + 1;
	assert_int_equal(respond(&t, SEC, req, len), 0);
	assert_string_equal(val(&t.out, "TargetName"), "Reject");
	assert_string_equal(t.res.target_name, "");
	idm_textbuf_free(&t.out);
}

/* ---- where keys may appear ----------------------------------------- */

static void test_discovery_session_irrelevant_keys(void **state)
{
	struct side t = {0};

	target_init(&t, true);
	/* SessionType comes last but governs the whole PDU */
	assert_int_equal(RESPOND(&t, SEC,
	                         "InitiatorName=iqn.a:b\0MaxBurstLength=4096\0"
	                         "InitialR2T=No\0MaxConnections=2\0HeaderDigest=None\0"
	                         "ErrorRecoveryLevel=1\0DefaultTime2Wait=7\0"
	                         "SessionType=Discovery\0"),
	                 0);
	assert_int_equal(t.res.session_type, IDM_SESSION_DISCOVERY);
	assert_string_equal(val(&t.out, "MaxBurstLength"), "Irrelevant");
	assert_string_equal(val(&t.out, "InitialR2T"), "Irrelevant");
	assert_string_equal(val(&t.out, "MaxConnections"), "Irrelevant");
	assert_string_equal(val(&t.out, "HeaderDigest"), "None");
	assert_string_equal(val(&t.out, "ErrorRecoveryLevel"), "0");
	assert_string_equal(val(&t.out, "DefaultTime2Wait"), "7");
	assert_int_equal(t.res.max_burst_length, 262144);
	assert_true(t.res.initial_r2t);
	assert_int_equal(idm_nego_check_required(&t.n), 0); /* no TargetName needed */
	/* no TargetPortalGroupTag for a Discovery session */
	idm_textbuf_reset(&t.out);
	assert_int_equal(idm_nego_finish_stage(&t.n, SEC, &t.out), 0);
	assert_null(val(&t.out, "TargetPortalGroupTag"));
	idm_textbuf_free(&t.out);
}

static void test_leading_only_on_non_leading(void **state)
{
	struct side t = {0};

	target_init(&t, false);
	assert_int_equal(RESPOND(&t, OPER,
	                         "MaxConnections=2\0InitialR2T=No\0"
	                         "MaxBurstLength=4096\0HeaderDigest=CRC32C\0"
	                         "MaxRecvDataSegmentLength=4096\0"),
	                 0);
	assert_string_equal(val(&t.out, "MaxConnections"), "Irrelevant");
	assert_string_equal(val(&t.out, "InitialR2T"), "Irrelevant");
	assert_string_equal(val(&t.out, "MaxBurstLength"), "Irrelevant");
	assert_string_equal(val(&t.out, "HeaderDigest"), "CRC32C");
	assert_int_equal(t.res.max_xmit_dsl, 4096);
	idm_textbuf_free(&t.out);
}

static void test_key_twice_across_pdus_fails(void **state)
{
	struct side t = {0};

	target_init(&t, true);
	assert_int_equal(RESPOND(&t, SEC, "InitiatorName=iqn.a:b\0MaxBurstLength=4096\0"), 0);
	assert_int_equal(RESPOND(&t, OPER, "MaxBurstLength=8192\0"), -EINVAL);
	assert_int_equal(t.n.status, ISCSI_LOGIN_INITIATOR_ERROR);
	idm_textbuf_free(&t.out);
}

static void test_key_twice_in_one_pdu_fails(void **state)
{
	struct side t = {0};

	target_init(&t, true);
	assert_int_equal(RESPOND(&t, OPER, "MaxBurstLength=4096\0MaxBurstLength=8192\0"), -EINVAL);
	assert_int_equal(t.n.status, ISCSI_LOGIN_INITIATOR_ERROR);
	target_init(&t, true);
	assert_int_equal(RESPOND(&t, SEC, "TargetName=a\0TargetName=b\0"), -EINVAL);
	assert_int_equal(t.n.status, ISCSI_LOGIN_INITIATOR_ERROR);
	idm_textbuf_free(&t.out);
}

static void test_security_keys_in_operational_fail(void **state)
{
	struct side t = {0};

	target_init(&t, true);
	assert_int_equal(RESPOND(&t, OPER, "AuthMethod=None\0"), -EINVAL);
	assert_int_equal(t.n.status, ISCSI_LOGIN_INITIATOR_ERROR);
	target_init(&t, true);
	assert_int_equal(RESPOND(&t, OPER, "CHAP_A=5\0"), -EINVAL);
	assert_int_equal(t.n.status, ISCSI_LOGIN_INITIATOR_ERROR);
	idm_textbuf_free(&t.out);
}

static void test_missing_target_name(void **state)
{
	struct side t = {0};

	target_init(&t, true);
	assert_int_equal(RESPOND(&t, SEC, "InitiatorName=iqn.a:b\0SessionType=Normal\0"), 0);
	assert_int_equal(idm_nego_check_required(&t.n), -EINVAL);
	assert_int_equal(t.n.status, ISCSI_LOGIN_MISSING_PARAMETER);

	target_init(&t, true);
	assert_int_equal(RESPOND(&t, SEC, "TargetName=iqn.c:d\0"), 0);
	assert_int_equal(idm_nego_check_required(&t.n), -EINVAL);
	assert_int_equal(t.n.status, ISCSI_LOGIN_MISSING_PARAMETER);

	target_init(&t, true);
	assert_int_equal(RESPOND(&t, SEC, "TargetName=iqn.c:d\0InitiatorName=iqn.a:b\0"), 0);
	assert_int_equal(idm_nego_check_required(&t.n), 0);
	idm_textbuf_free(&t.out);
}

static void test_unknown_and_private_keys_not_understood(void **state)
{
	struct side t = {0};

	target_init(&t, true);
	assert_int_equal(RESPOND(&t, OPER,
	                         "X-com.example.foo=1\0X#bar=2\0Bogus=3\0"
	                         "X-ans=NotUnderstood\0"),
	                 0);
	assert_string_equal(val(&t.out, "X-com.example.foo"), "NotUnderstood");
	assert_string_equal(val(&t.out, "X#bar"), "NotUnderstood");
	assert_string_equal(val(&t.out, "Bogus"), "NotUnderstood");
	assert_null(val(&t.out, "X-ans")); /* never answer an answer */
	idm_textbuf_free(&t.out);
}

static void test_obsolete_markers(void **state)
{
	struct side t = {0};

	target_init(&t, true);
	assert_int_equal(RESPOND(&t, OPER,
	                         "OFMarker=Yes\0IFMarker=No\0OFMarkInt=1-65535\0"
	                         "IFMarkInt=2048\0"),
	                 0);
	assert_string_equal(val(&t.out, "OFMarker"), "No");
	assert_string_equal(val(&t.out, "IFMarker"), "No");
	assert_string_equal(val(&t.out, "OFMarkInt"), "Reject");
	assert_string_equal(val(&t.out, "IFMarkInt"), "Reject");
	assert_false(t.res.of_marker);
	assert_false(t.res.if_marker);
	idm_textbuf_free(&t.out);
}

static void test_bad_session_type_fails(void **state)
{
	struct side t = {0};

	target_init(&t, true);
	assert_int_equal(RESPOND(&t, SEC, "SessionType=Sideways\0"), -EINVAL);
	assert_int_equal(t.n.status, ISCSI_LOGIN_SESSION_TYPE_UNSUPPORTED);
	idm_textbuf_free(&t.out);
}

static void test_target_only_key_from_initiator_rejected(void **state)
{
	struct side t = {0};

	target_init(&t, true);
	assert_int_equal(RESPOND(&t, SEC, "TargetPortalGroupTag=3\0TargetAlias=x\0"), 0);
	assert_string_equal(val(&t.out, "TargetPortalGroupTag"), "Reject");
	assert_string_equal(val(&t.out, "TargetAlias"), "Reject");
	idm_textbuf_free(&t.out);
}

static void test_login_only_keys_in_text_rejected(void **state)
{
	struct side t = {0};

	target_init(&t, true);
	assert_int_equal(RESPOND(&t, FFP,
	                         "MaxBurstLength=4096\0HeaderDigest=None\0"
	                         "MaxRecvDataSegmentLength=16384\0"),
	                 0);
	assert_string_equal(val(&t.out, "MaxBurstLength"), "Reject");
	assert_string_equal(val(&t.out, "HeaderDigest"), "Reject");
	assert_null(val(&t.out, "MaxRecvDataSegmentLength"));
	assert_int_equal(t.res.max_xmit_dsl, 16384);
	idm_textbuf_free(&t.out);
}

static void test_unsolicited_special_value_fails(void **state)
{
	struct side t = {0};

	target_init(&t, true);
	assert_int_equal(RESPOND(&t, OPER, "HeaderDigest=Reject\0"), -EINVAL);
	assert_int_equal(t.n.status, ISCSI_LOGIN_INITIATOR_ERROR);
	idm_textbuf_free(&t.out);
}

static void test_malformed_text_fails_login(void **state)
{
	struct side t = {0};

	target_init(&t, true);
	assert_int_equal(RESPOND(&t, SEC, "InitiatorName=iqn.a:b\0garbage\0"), -EINVAL);
	assert_int_equal(t.n.status, ISCSI_LOGIN_INITIATOR_ERROR);
	assert_null(val(&t.out, "InitiatorName"));
	assert_string_equal(t.res.initiator_name, "");
	idm_textbuf_free(&t.out);
}

static void test_protocol_level(void **state)
{
	struct side t = {0};

	target_init(&t, true);
	assert_int_equal(RESPOND(&t, SEC, "iSCSIProtocolLevel=2\0"), 0);
	assert_string_equal(val(&t.out, "iSCSIProtocolLevel"), "1");
	target_init(&t, true);
	assert_int_equal(RESPOND(&t, SEC, "iSCSIProtocolLevel=32\0"), 0);
	assert_string_equal(val(&t.out, "iSCSIProtocolLevel"), "Reject");
	idm_textbuf_free(&t.out);
}

static void test_finish_stage_tpgt_once(void **state)
{
	struct side t = {0};

	target_init(&t, true);
	assert_int_equal(RESPOND(&t, SEC, "InitiatorName=i\0TargetName=t\0AuthMethod=None\0"), 0);
	assert_int_equal(idm_nego_finish_stage(&t.n, SEC, &t.out), 0);
	assert_string_equal(val(&t.out, "TargetPortalGroupTag"), "1");
	assert_null(val(&t.out, "MaxRecvDataSegmentLength")); /* operational stage only */
	assert_int_equal(t.res.target_portal_group_tag, 1);
	idm_textbuf_reset(&t.out);
	assert_int_equal(idm_nego_finish_stage(&t.n, OPER, &t.out), 0);
	assert_null(val(&t.out, "TargetPortalGroupTag"));
	assert_string_equal(val(&t.out, "MaxRecvDataSegmentLength"), "65536");
	idm_textbuf_reset(&t.out);
	assert_int_equal(idm_nego_finish_stage(&t.n, OPER, &t.out), 0);
	assert_int_equal(t.out.len, 0);
	assert_true(idm_nego_complete(&t.n)); /* declarations need no answer */
	idm_textbuf_free(&t.out);
}

static void test_finish_stage_no_tpgt_when_zero(void **state)
{
	struct idm_params l;
	struct side t = {0};

	target_local(&l);
	l.target_portal_group_tag = 0;
	side_init(&t, IDM_ROLE_TARGET, true, &l);
	assert_int_equal(idm_nego_finish_stage(&t.n, SEC, &t.out), 0);
	assert_int_equal(t.out.len, 0);
	idm_textbuf_free(&t.out);
}

/* ---- hooks --------------------------------------------------------- */

struct hook_log {
	int seen;
	char last[64];
};

static enum idm_hook_result test_hook(void *arg, const char *key, const char *value, char *answer,
                                      size_t cap)
{
	struct hook_log *h = arg;

	h->seen++;
	snprintf(h->last, sizeof(h->last), "%s", key);
	if (!strcmp(key, "HeaderDigest")) {
		snprintf(answer, cap, "None");
		return IDM_HOOK_ANSWERED;
	}
	if (!strcmp(key, "X-noted")) {
		return IDM_HOOK_NOTED;
	}
	if (!strcmp(key, "X-bad")) {
		return IDM_HOOK_FAIL;
	}
	if (!strcmp(key, "SendTargets")) {
		snprintf(answer, cap, "handled");
		return IDM_HOOK_ANSWERED;
	}
	return IDM_HOOK_PASS;
}

static void test_hooks(void **state)
{
	struct hook_log h = {0};
	struct idm_nego_hook hook = {.key = test_hook, .arg = &h};
	struct side t = {0};

	target_init(&t, true);
	idm_nego_add_hook(&t.n, &hook);
	assert_int_equal(RESPOND(&t, OPER,
	                         "HeaderDigest=CRC32C,None\0X-noted=1\0"
	                         "MaxBurstLength=4096\0"),
	                 0);
	assert_int_equal(h.seen, 3);
	assert_string_equal(val(&t.out, "HeaderDigest"), "None"); /* hook's answer */
	assert_false(t.res.header_digest);
	assert_null(val(&t.out, "X-noted"));
	assert_string_equal(val(&t.out, "MaxBurstLength"), "4096"); /* engine's */
	assert_int_equal(npairs(&t.out), 2);
	assert_int_equal(RESPOND(&t, OPER, "X-bad=1\0"), -EINVAL);
	assert_int_equal(t.n.status, ISCSI_LOGIN_INITIATOR_ERROR);
	idm_textbuf_free(&t.out);
}

static void test_send_targets(void **state)
{
	struct hook_log h = {0};
	struct idm_nego_hook hook = {.key = test_hook, .arg = &h};
	struct side t = {0};

	target_init(&t, true);
	assert_int_equal(RESPOND(&t, FFP, "SendTargets=All\0"), 0);
	assert_string_equal(val(&t.out, "SendTargets"), "Irrelevant");
	target_init(&t, true);
	idm_nego_add_hook(&t.n, &hook);
	assert_int_equal(RESPOND(&t, FFP, "SendTargets=All\0"), 0);
	assert_string_equal(val(&t.out, "SendTargets"), "handled");
	idm_textbuf_free(&t.out);
}

/* ---- iSER keys ----------------------------------------------------- */

static void test_iser_keys_need_rdma_extensions(void **state)
{
	struct idm_params l;
	struct side t = {0};

	target_init(&t, true);
	assert_int_equal(RESPOND(&t, OPER,
	                         "RDMAExtensions=Yes\0"
	                         "InitiatorRecvDataSegmentLength=262144\0"),
	                 0);
	assert_string_equal(val(&t.out, "RDMAExtensions"), "No");
	assert_string_equal(val(&t.out, "InitiatorRecvDataSegmentLength"), "Irrelevant");
	assert_false(t.res.rdma_extensions);

	target_local(&l);
	l.rdma_extensions = true;
	side_init(&t, IDM_ROLE_TARGET, true, &l);
	assert_int_equal(RESPOND(&t, OPER,
	                         "InitiatorRecvDataSegmentLength=262144\0"
	                         "MaxOutstandingUnexpectedPDUs=0\0RDMAExtensions=Yes\0"),
	                 0);
	assert_string_equal(val(&t.out, "RDMAExtensions"), "Yes");
	assert_string_equal(val(&t.out, "InitiatorRecvDataSegmentLength"), "8192");
	assert_string_equal(val(&t.out, "MaxOutstandingUnexpectedPDUs"), "0");
	assert_true(t.res.rdma_extensions);
	assert_int_equal(t.res.initiator_rdsl, 8192);
	assert_int_equal(t.res.max_outstanding_unexpected_pdus, 0);
	idm_textbuf_reset(&t.out);
	assert_int_equal(idm_nego_finish_stage(&t.n, OPER, &t.out), 0);
	assert_null(val(&t.out, "TargetRecvDataSegmentLength"));
	idm_textbuf_free(&t.out);
}

static void test_iser_unexpected_pdus_range(void **state)
{
	struct idm_params l;
	struct side t = {0};

	target_local(&l);
	l.rdma_extensions = true;
	side_init(&t, IDM_ROLE_TARGET, true, &l);
	assert_int_equal(RESPOND(&t, OPER, "RDMAExtensions=Yes\0MaxOutstandingUnexpectedPDUs=1\0"),
	                 0);
	assert_string_equal(val(&t.out, "MaxOutstandingUnexpectedPDUs"), "Reject");
	idm_textbuf_free(&t.out);
}

/* ---- initiator ----------------------------------------------------- */

static void initiator_init(struct side *s, enum idm_session_type type, bool leading)
{
	struct idm_params l;

	initiator_local(&l, type);
	side_init(s, IDM_ROLE_INITIATOR, leading, &l);
}

static void test_initiator_offer_security(void **state)
{
	struct side i = {0};

	initiator_init(&i, IDM_SESSION_NORMAL, true);
	assert_int_equal(idm_nego_offer(&i.n, SEC, &i.out), 0);
	assert_string_equal(val(&i.out, "InitiatorName"), "iqn.2026-01.org.test:ini");
	assert_string_equal(val(&i.out, "TargetName"), "iqn.2026-01.org.test:tgt");
	assert_string_equal(val(&i.out, "SessionType"), "Normal");
	assert_string_equal(val(&i.out, "AuthMethod"), "None");
	assert_null(val(&i.out, "MaxBurstLength"));
	assert_false(idm_nego_complete(&i.n)); /* AuthMethod awaits an answer */
	idm_textbuf_free(&i.out);

	initiator_init(&i, IDM_SESSION_DISCOVERY, true);
	assert_int_equal(idm_nego_offer(&i.n, SEC, &i.out), 0);
	assert_string_equal(val(&i.out, "SessionType"), "Discovery");
	assert_null(val(&i.out, "TargetName"));
	assert_int_equal(i.res.session_type, IDM_SESSION_DISCOVERY);
	idm_textbuf_free(&i.out);
}

static void test_initiator_offer_operational(void **state)
{
	struct side i = {0};

	initiator_init(&i, IDM_SESSION_NORMAL, true);
	assert_int_equal(idm_nego_offer(&i.n, OPER, &i.out), 0);
	/* identity keys go into the first request whatever its stage */
	assert_non_null(val(&i.out, "InitiatorName"));
	assert_null(val(&i.out, "AuthMethod"));
	assert_string_equal(val(&i.out, "HeaderDigest"), "CRC32C,None");
	assert_string_equal(val(&i.out, "MaxBurstLength"), "1048576");
	assert_string_equal(val(&i.out, "FirstBurstLength"), "262144");
	assert_string_equal(val(&i.out, "MaxRecvDataSegmentLength"), "131072");
	assert_string_equal(val(&i.out, "ImmediateData"), "Yes");
	assert_null(val(&i.out, "RDMAExtensions"));
	assert_int_equal(i.res.max_recv_dsl, 131072);
	idm_textbuf_free(&i.out);

	initiator_init(&i, IDM_SESSION_DISCOVERY, true);
	assert_int_equal(idm_nego_offer(&i.n, OPER, &i.out), 0);
	assert_null(val(&i.out, "MaxBurstLength"));
	assert_null(val(&i.out, "InitialR2T"));
	assert_non_null(val(&i.out, "HeaderDigest"));
	assert_non_null(val(&i.out, "ErrorRecoveryLevel"));
	idm_textbuf_free(&i.out);

	initiator_init(&i, IDM_SESSION_NORMAL, false);
	assert_int_equal(idm_nego_offer(&i.n, OPER, &i.out), 0);
	assert_null(val(&i.out, "MaxConnections"));
	assert_null(val(&i.out, "SessionType"));
	assert_non_null(val(&i.out, "TargetName"));
	assert_non_null(val(&i.out, "HeaderDigest"));
	idm_textbuf_free(&i.out);
}

static int process(struct side *s, enum idm_nego_stage stage, const char *t, size_t len)
{
	idm_textbuf_reset(&s->out);
	return idm_nego_process(&s->n, stage, t, len, &s->out);
}

#define PROCESS(s, stage, lit) process(s, stage, lit, sizeof(lit) - 1)

static void offered_operational(struct side *i)
{
	initiator_init(i, IDM_SESSION_NORMAL, true);
	assert_int_equal(idm_nego_offer(&i->n, OPER, &i->out), 0);
}

static void test_initiator_rejects_list_answer_not_offered(void **state)
{
	struct side i = {0};

	offered_operational(&i);
	assert_int_equal(PROCESS(&i, OPER, "HeaderDigest=MD5\0"), -EINVAL);
	offered_operational(&i);
	assert_int_equal(PROCESS(&i, OPER, "HeaderDigest=CRC32C,None\0"), -EINVAL);
	idm_textbuf_free(&i.out);
}

static void test_initiator_rejects_min_answer_above_offer(void **state)
{
	struct side i = {0};

	offered_operational(&i);
	assert_int_equal(PROCESS(&i, OPER, "MaxBurstLength=2097152\0"), -EINVAL);
	assert_int_equal(i.n.status, ISCSI_LOGIN_INITIATOR_ERROR);
	offered_operational(&i); /* DefaultTime2Wait is a max function: 0 offered */
	assert_int_equal(PROCESS(&i, OPER, "DefaultTime2Wait=3\0"), 0);
	assert_int_equal(i.res.default_time2wait, 3);
	idm_textbuf_free(&i.out);
}

static void test_initiator_rejects_bool_answer_against_offer(void **state)
{
	struct idm_params l;
	struct side i = {0};

	initiator_local(&l, IDM_SESSION_NORMAL);
	l.immediate_data = false;
	side_init(&i, IDM_ROLE_INITIATOR, true, &l);
	assert_int_equal(idm_nego_offer(&i.n, OPER, &i.out), 0);
	assert_false(i.res.immediate_data); /* settled by our offer alone */
	assert_int_equal(PROCESS(&i, OPER, "ImmediateData=Yes\0"), -EINVAL);
	idm_textbuf_free(&i.out);
}

static void test_initiator_settles_answers(void **state)
{
	struct side i = {0};

	offered_operational(&i);
	assert_false(idm_nego_complete(&i.n));
	assert_int_equal(PROCESS(&i, OPER,
	                         "HeaderDigest=None\0DataDigest=CRC32C\0"
	                         "MaxBurstLength=262144\0FirstBurstLength=Irrelevant\0"
	                         "MaxConnections=Reject\0InitialR2T=No\0"),
	                 0);
	assert_false(i.res.header_digest);
	assert_true(i.res.data_digest);
	assert_int_equal(i.res.max_burst_length, 262144);
	assert_int_equal(i.res.first_burst_length, 65536); /* default kept */
	assert_int_equal(i.res.max_connections, 1);
	assert_false(i.res.initial_r2t);
	assert_int_equal(i.out.len, 0);
	assert_false(idm_nego_complete(&i.n)); /* MaxOutstandingR2T etc. pending */
	idm_textbuf_free(&i.out);
}

static void test_initiator_answers_target_offer(void **state)
{
	struct side i = {0};

	initiator_init(&i, IDM_SESSION_NORMAL, true);
	assert_int_equal(PROCESS(&i, OPER,
	                         "MaxRecvDataSegmentLength=16384\0"
	                         "TargetPortalGroupTag=5\0TargetAlias=disk\0"
	                         "X-vendor=1\0"),
	                 0);
	assert_int_equal(i.res.max_xmit_dsl, 16384);
	assert_int_equal(i.res.target_portal_group_tag, 5);
	assert_string_equal(i.res.target_alias, "disk");
	assert_string_equal(val(&i.out, "X-vendor"), "NotUnderstood");
	idm_textbuf_free(&i.out);

	initiator_init(&i, IDM_SESSION_NORMAL, true);
	assert_int_equal(PROCESS(&i, OPER, "DataDigest=CRC32C,None\0MaxBurstLength=65536\0"), 0);
	assert_string_equal(val(&i.out, "DataDigest"), "CRC32C");
	assert_string_equal(val(&i.out, "MaxBurstLength"), "65536");
	assert_true(i.res.data_digest);
	assert_int_equal(i.res.max_burst_length, 65536);
	idm_textbuf_free(&i.out);
}

static void test_initiator_refused_offer_keeps_default(void **state)
{
	struct side i = {0};

	offered_operational(&i);
	assert_int_equal(PROCESS(&i, OPER,
	                         "MaxBurstLength=Reject\0"
	                         "MaxRecvDataSegmentLength=NotUnderstood\0"),
	                 0);
	assert_int_equal(i.res.max_burst_length, 262144);
	assert_int_equal(i.res.max_recv_dsl, 8192); /* our declaration was refused */
	assert_int_equal(i.out.len, 0);
	idm_textbuf_free(&i.out);
}

static void test_initiator_determined_target_offer_needs_no_answer(void **state)
{
	struct side i = {0};

	initiator_init(&i, IDM_SESSION_NORMAL, true);
	assert_int_equal(PROCESS(&i, OPER, "ImmediateData=No\0InitialR2T=Yes\0"), 0);
	assert_int_equal(i.out.len, 0);
	assert_false(i.res.immediate_data);
	assert_true(i.res.initial_r2t);
	idm_textbuf_free(&i.out);
}

static void test_initiator_offers_nothing_in_ffp(void **state)
{
	struct side i = {0};

	initiator_init(&i, IDM_SESSION_NORMAL, true);
	assert_int_equal(idm_nego_offer(&i.n, FFP, &i.out), 0);
	assert_int_equal(i.out.len, 0);
	idm_textbuf_free(&i.out);
}

static void test_missing_output_buffer_fails_cleanly(void **state)
{
	struct side t = {0};

	target_init(&t, true);
	assert_int_equal(idm_nego_respond(&t.n, OPER, "X-a=1", 5, NULL), -EINVAL);
	assert_int_equal(t.n.status, ISCSI_LOGIN_TARGET_ERROR);
	idm_textbuf_free(&t.out);
}

static void iser_initiator(struct side *i, uint32_t unexpected)
{
	struct idm_params l;

	initiator_local(&l, IDM_SESSION_NORMAL);
	l.rdma_extensions = true;
	l.max_outstanding_unexpected_pdus = unexpected;
	side_init(i, IDM_ROLE_INITIATOR, true, &l);
	assert_int_equal(idm_nego_offer(&i->n, OPER, &i->out), 0);
	assert_string_equal(val(&i->out, "RDMAExtensions"), "Yes");
	assert_non_null(val(&i->out, "InitiatorRecvDataSegmentLength"));
}

/* MaxOutstandingUnexpectedPDUs: 0 is "no limit", so any limit may answer it. */
static void test_initiator_unexpected_pdus_zero_is_no_limit(void **state)
{
	struct side i = {0};

	iser_initiator(&i, 0);
	assert_int_equal(PROCESS(&i, OPER, "RDMAExtensions=Yes\0MaxOutstandingUnexpectedPDUs=5\0"),
	                 0);
	assert_int_equal(i.res.max_outstanding_unexpected_pdus, 5);
	iser_initiator(&i, 16);
	assert_int_equal(PROCESS(&i, OPER, "MaxOutstandingUnexpectedPDUs=0\0"), -EINVAL);
	iser_initiator(&i, 16);
	assert_int_equal(PROCESS(&i, OPER, "MaxOutstandingUnexpectedPDUs=17\0"), -EINVAL);
	idm_textbuf_free(&i.out);
}

/* ---- end to end ---------------------------------------------------- */

/* One request/response round trip; the initiator's answers go back once. */
static void exchange(struct side *i, struct side *t, enum idm_nego_stage stage)
{
	struct idm_textbuf req;

	idm_textbuf_init(&req);
	assert_int_equal(idm_nego_offer(&i->n, stage, &req), 0);
	assert_int_equal(respond(t, stage, req.buf, req.len), 0);
	assert_int_equal(idm_nego_finish_stage(&t->n, stage, &t->out), 0);
	assert_int_equal(process(i, stage, t->out.buf, t->out.len), 0);
	if (i->out.len) {
		assert_int_equal(respond(t, stage, i->out.buf, i->out.len), 0);
		assert_int_equal(t->out.len, 0);
	}
	idm_textbuf_free(&req);
}

static void assert_agree(const struct idm_params *a, const struct idm_params *b)
{
	assert_int_equal(a->header_digest, b->header_digest);
	assert_int_equal(a->data_digest, b->data_digest);
	assert_int_equal(a->max_recv_dsl, b->max_xmit_dsl);
	assert_int_equal(a->max_xmit_dsl, b->max_recv_dsl);
	assert_int_equal(a->max_connections, b->max_connections);
	assert_int_equal(a->initial_r2t, b->initial_r2t);
	assert_int_equal(a->immediate_data, b->immediate_data);
	assert_int_equal(a->max_burst_length, b->max_burst_length);
	assert_int_equal(a->first_burst_length, b->first_burst_length);
	assert_int_equal(a->default_time2wait, b->default_time2wait);
	assert_int_equal(a->default_time2retain, b->default_time2retain);
	assert_int_equal(a->max_outstanding_r2t, b->max_outstanding_r2t);
	assert_int_equal(a->data_pdu_in_order, b->data_pdu_in_order);
	assert_int_equal(a->data_sequence_in_order, b->data_sequence_in_order);
	assert_int_equal(a->error_recovery_level, b->error_recovery_level);
	assert_int_equal(a->session_type, b->session_type);
	assert_string_equal(a->target_name, b->target_name);
	assert_string_equal(a->initiator_name, b->initiator_name);
	assert_int_equal(a->target_portal_group_tag, b->target_portal_group_tag);
	assert_int_equal(a->rdma_extensions, b->rdma_extensions);
	assert_int_equal(a->target_rdsl, b->target_rdsl);
	assert_int_equal(a->initiator_rdsl, b->initiator_rdsl);
	assert_string_equal(a->auth_method, b->auth_method);
}

static void test_end_to_end_normal(void **state)
{
	struct side i = {0}, t = {0};

	initiator_init(&i, IDM_SESSION_NORMAL, true);
	target_init(&t, true);
	exchange(&i, &t, SEC);
	assert_int_equal(idm_nego_check_required(&t.n), 0);
	exchange(&i, &t, OPER);
	assert_true(idm_nego_complete(&i.n));
	assert_true(idm_nego_complete(&t.n));
	assert_agree(&i.res, &t.res);
	assert_true(i.res.header_digest);
	assert_false(i.res.data_digest);
	assert_int_equal(i.res.max_burst_length, 262144);
	assert_int_equal(i.res.first_burst_length, 65536);
	assert_int_equal(i.res.max_connections, 4);
	assert_false(i.res.initial_r2t);
	assert_false(i.res.immediate_data);
	assert_int_equal(i.res.max_outstanding_r2t, 4);
	assert_int_equal(i.res.default_time2wait, 5);
	assert_int_equal(i.res.error_recovery_level, 0);
	assert_int_equal(i.res.max_recv_dsl, 131072);
	assert_int_equal(i.res.max_xmit_dsl, 65536);
	assert_int_equal(i.res.target_portal_group_tag, 1);
	idm_textbuf_free(&i.out);
	idm_textbuf_free(&t.out);
}

static void test_end_to_end_discovery(void **state)
{
	struct side i = {0}, t = {0};

	initiator_init(&i, IDM_SESSION_DISCOVERY, true);
	target_init(&t, true);
	exchange(&i, &t, SEC);
	assert_int_equal(idm_nego_check_required(&t.n), 0);
	exchange(&i, &t, OPER);
	assert_true(idm_nego_complete(&i.n));
	assert_agree(&i.res, &t.res);
	assert_int_equal(t.res.session_type, IDM_SESSION_DISCOVERY);
	assert_int_equal(t.res.max_burst_length, 262144); /* untouched defaults */
	assert_true(t.res.initial_r2t);
	assert_int_equal(t.res.target_portal_group_tag, 0);
	idm_textbuf_free(&i.out);
	idm_textbuf_free(&t.out);
}

static void test_end_to_end_operational_only_non_leading(void **state)
{
	struct side i = {0}, t = {0};

	initiator_init(&i, IDM_SESSION_NORMAL, false);
	target_init(&t, false);
	exchange(&i, &t, OPER);
	assert_true(idm_nego_complete(&i.n));
	assert_int_equal(i.res.header_digest, t.res.header_digest);
	assert_int_equal(i.res.max_recv_dsl, t.res.max_xmit_dsl);
	assert_int_equal(i.res.max_xmit_dsl, t.res.max_recv_dsl);
	idm_textbuf_free(&i.out);
	idm_textbuf_free(&t.out);
}

static void test_end_to_end_iser(void **state)
{
	struct idm_params il, tl;
	struct side i = {0}, t = {0};

	initiator_local(&il, IDM_SESSION_NORMAL);
	il.rdma_extensions = true;
	il.header_digest = false;
	il.data_digest = false;
	il.initiator_rdsl = 262144;
	il.target_rdsl = 262144;
	il.max_outstanding_unexpected_pdus = 16;
	target_local(&tl);
	tl.rdma_extensions = true;
	tl.target_rdsl = 131072;
	tl.initiator_rdsl = 65536;
	side_init(&i, IDM_ROLE_INITIATOR, true, &il);
	side_init(&t, IDM_ROLE_TARGET, true, &tl);
	exchange(&i, &t, SEC);
	exchange(&i, &t, OPER);
	assert_true(idm_nego_complete(&i.n));
	assert_agree(&i.res, &t.res);
	assert_true(t.res.rdma_extensions);
	assert_int_equal(t.res.initiator_rdsl, 65536);
	assert_int_equal(i.res.target_rdsl, 131072);
	assert_int_equal(t.res.max_outstanding_unexpected_pdus, 16); /* 0 = no limit */
	assert_int_equal(i.res.max_outstanding_unexpected_pdus, 16);
	idm_textbuf_free(&i.out);
	idm_textbuf_free(&t.out);
}

/* 64 KiB of unknown keys: every one answered, in linear time. */
static void test_64k_of_unknown_keys(void **state)
{
	size_t cap = 65536, len = 0;
	char *req = malloc(cap);
	struct side t = {0};
	int n = 0;

	while (len + 16 < cap) {
		len += (size_t)snprintf(req + len, cap - len, "X-%x=1", n++) + 1;
	}
	target_init(&t, true);
	assert_int_equal(respond(&t, OPER, req, len), 0);
	assert_int_equal(npairs(&t.out), n);
	free(req);
	idm_textbuf_free(&t.out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_params_defaults),
	    cmocka_unit_test(test_list_first_supported_of_offer),
	    cmocka_unit_test(test_list_offer_order_wins),
	    cmocka_unit_test(test_list_no_common_value_rejects),
	    cmocka_unit_test(test_list_malformed_rejects),
	    cmocka_unit_test(test_auth_method_selection),
	    cmocka_unit_test(test_task_reporting),
	    cmocka_unit_test(test_bool_and),
	    cmocka_unit_test(test_bool_and_no_needs_no_answer),
	    cmocka_unit_test(test_bool_or),
	    cmocka_unit_test(test_bool_or_yes_needs_no_answer),
	    cmocka_unit_test(test_bool_malformed_rejects),
	    cmocka_unit_test(test_numeric_min),
	    cmocka_unit_test(test_numeric_max),
	    cmocka_unit_test(test_numeric_out_of_range_rejects),
	    cmocka_unit_test(test_numeric_malformed_rejects),
	    cmocka_unit_test(test_numeric_hex_and_base64),
	    cmocka_unit_test(test_first_burst_not_above_max_burst),
	    cmocka_unit_test(test_first_burst_irrelevant_without_unsolicited_data),
	    cmocka_unit_test(test_declarative_mrdsl_two_sides),
	    cmocka_unit_test(test_declarative_out_of_range_rejects),
	    cmocka_unit_test(test_names_stored_and_too_long),
	    cmocka_unit_test(test_discovery_session_irrelevant_keys),
	    cmocka_unit_test(test_leading_only_on_non_leading),
	    cmocka_unit_test(test_key_twice_across_pdus_fails),
	    cmocka_unit_test(test_key_twice_in_one_pdu_fails),
	    cmocka_unit_test(test_security_keys_in_operational_fail),
	    cmocka_unit_test(test_missing_target_name),
	    cmocka_unit_test(test_unknown_and_private_keys_not_understood),
	    cmocka_unit_test(test_obsolete_markers),
	    cmocka_unit_test(test_bad_session_type_fails),
	    cmocka_unit_test(test_target_only_key_from_initiator_rejected),
	    cmocka_unit_test(test_login_only_keys_in_text_rejected),
	    cmocka_unit_test(test_unsolicited_special_value_fails),
	    cmocka_unit_test(test_malformed_text_fails_login),
	    cmocka_unit_test(test_protocol_level),
	    cmocka_unit_test(test_finish_stage_tpgt_once),
	    cmocka_unit_test(test_finish_stage_no_tpgt_when_zero),
	    cmocka_unit_test(test_hooks),
	    cmocka_unit_test(test_send_targets),
	    cmocka_unit_test(test_iser_keys_need_rdma_extensions),
	    cmocka_unit_test(test_iser_unexpected_pdus_range),
	    cmocka_unit_test(test_initiator_offer_security),
	    cmocka_unit_test(test_initiator_offer_operational),
	    cmocka_unit_test(test_initiator_rejects_list_answer_not_offered),
	    cmocka_unit_test(test_initiator_rejects_min_answer_above_offer),
	    cmocka_unit_test(test_initiator_rejects_bool_answer_against_offer),
	    cmocka_unit_test(test_initiator_settles_answers),
	    cmocka_unit_test(test_initiator_answers_target_offer),
	    cmocka_unit_test(test_initiator_refused_offer_keeps_default),
	    cmocka_unit_test(test_initiator_determined_target_offer_needs_no_answer),
	    cmocka_unit_test(test_initiator_offers_nothing_in_ffp),
	    cmocka_unit_test(test_missing_output_buffer_fails_cleanly),
	    cmocka_unit_test(test_initiator_unexpected_pdus_zero_is_no_limit),
	    cmocka_unit_test(test_end_to_end_normal),
	    cmocka_unit_test(test_end_to_end_discovery),
	    cmocka_unit_test(test_end_to_end_operational_only_non_leading),
	    cmocka_unit_test(test_end_to_end_iser),
	    cmocka_unit_test(test_64k_of_unknown_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
