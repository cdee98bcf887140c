/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of the iSER login-key hook, one case per rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "transport/iser/iser_keys.h"

static struct iser_key_state st;
static char ans[64];

/* Fresh target-side state on a leading connection, 64 KiB receive limit. */
static int setup_target(void **state)
{
	(void)state;
	iser_key_state_init(&st, IDM_ROLE_TARGET, true, 65536);
	memset(ans, 0, sizeof(ans));
	return 0;
}

static enum idm_hook_result key(const char *k, const char *v)
{
	ans[0] = '\0';
	return iser_negotiate_key(&st, k, v, ans, sizeof(ans));
}

static void test_defaults(void **state)
{
	(void)state;
	assert_int_equal(st.target_rdsl, 8192);
	assert_int_equal(st.initiator_rdsl, 8192);
	assert_int_equal(st.max_unexpected, 0);
	assert_false(st.rdma_ext);
}

/* RDMAExtensions=Yes is answered Yes; a No offer is countered with Yes. */
static void test_rdma_ext_target(void **state)
{
	(void)state;
	assert_int_equal(key("RDMAExtensions", "Yes"), IDM_HOOK_ANSWERED);
	assert_string_equal(ans, "Yes");
	assert_true(st.rdma_ext);
	iser_key_state_init(&st, IDM_ROLE_TARGET, true, 65536);
	assert_int_equal(key("RDMAExtensions", "No"), IDM_HOOK_ANSWERED);
	assert_string_equal(ans, "Yes");
	assert_true(st.rdma_ext);
	assert_int_equal(key("RDMAExtensions", "Maybe"), IDM_HOOK_FAIL);
}

/* The initiator takes a Yes answer and fails the login on No. */
static void test_rdma_ext_initiator(void **state)
{
	(void)state;
	iser_key_state_init(&st, IDM_ROLE_INITIATOR, true, 65536);
	assert_int_equal(key("RDMAExtensions", "Yes"), IDM_HOOK_NOTED);
	assert_true(st.rdma_ext);
	assert_int_equal(key("RDMAExtensions", "No"), IDM_HOOK_FAIL);
}

/* On a non-leading connection the key is out of place: the engine decides. */
static void test_rdma_ext_non_leading(void **state)
{
	(void)state;
	iser_key_state_init(&st, IDM_ROLE_TARGET, false, 65536);
	assert_true(st.rdma_ext);
	assert_int_equal(key("RDMAExtensions", "Yes"), IDM_HOOK_PASS);
}

/* Declarative lengths within range are noted, with no answer. */
static void test_rdsl_declarative(void **state)
{
	(void)state;
	assert_int_equal(key("InitiatorRecvDataSegmentLength", "262144"), IDM_HOOK_NOTED);
	assert_int_equal(st.initiator_rdsl, 262144);
	assert_string_equal(ans, "");
	assert_int_equal(key("TargetRecvDataSegmentLength", "0x1000"), IDM_HOOK_NOTED);
	assert_int_equal(st.target_rdsl, 4096);
	assert_int_equal(key("TargetRecvDataSegmentLength", "512"), IDM_HOOK_NOTED);
	assert_int_equal(key("TargetRecvDataSegmentLength", "16777215"), IDM_HOOK_ANSWERED);
}

/* Our own limit declared above the implementation maximum is answered with it. */
static void test_rdsl_over_impl_max(void **state)
{
	(void)state;
	assert_int_equal(key("TargetRecvDataSegmentLength", "1048576"), IDM_HOOK_ANSWERED);
	assert_string_equal(ans, "65536");
	assert_int_equal(st.target_rdsl, 65536);
	/* the peer's own limit is the peer's business */
	assert_int_equal(key("InitiatorRecvDataSegmentLength", "1048576"), IDM_HOOK_NOTED);
	assert_int_equal(st.initiator_rdsl, 1048576);
}

/* The initiator side counters InitiatorRecvDataSegmentLength instead. */
static void test_rdsl_initiator_own(void **state)
{
	(void)state;
	iser_key_state_init(&st, IDM_ROLE_INITIATOR, true, 8192);
	assert_int_equal(key("InitiatorRecvDataSegmentLength", "9000"), IDM_HOOK_ANSWERED);
	assert_string_equal(ans, "8192");
	assert_int_equal(key("TargetRecvDataSegmentLength", "9000"), IDM_HOOK_NOTED);
}

/* Under the minimum, over the RFC maximum or malformed: the login fails. */
static void test_rdsl_out_of_range(void **state)
{
	(void)state;
	assert_int_equal(key("TargetRecvDataSegmentLength", "511"), IDM_HOOK_FAIL);
	assert_int_equal(key("InitiatorRecvDataSegmentLength", "16777216"), IDM_HOOK_FAIL);
	assert_int_equal(key("InitiatorRecvDataSegmentLength", ""), IDM_HOOK_FAIL);
	assert_int_equal(key("InitiatorRecvDataSegmentLength", "-8192"), IDM_HOOK_FAIL);
	assert_int_equal(key("InitiatorRecvDataSegmentLength", "8k"), IDM_HOOK_FAIL);
	assert_int_equal(key("InitiatorRecvDataSegmentLength", "0x"), IDM_HOOK_FAIL);
	assert_int_equal(key("InitiatorRecvDataSegmentLength", "99999999999999999999999"),
	                 IDM_HOOK_FAIL);
	assert_int_equal(st.initiator_rdsl, 8192);
}

/* MaxOutstandingUnexpectedPDUs: 0 or 2..2^32-1, declarative. */
static void test_max_unexpected(void **state)
{
	(void)state;
	assert_int_equal(key("MaxOutstandingUnexpectedPDUs", "0"), IDM_HOOK_NOTED);
	assert_int_equal(st.max_unexpected, 0);
	assert_int_equal(key("MaxOutstandingUnexpectedPDUs", "2"), IDM_HOOK_NOTED);
	assert_int_equal(st.max_unexpected, 2);
	assert_int_equal(key("MaxOutstandingUnexpectedPDUs", "4294967295"), IDM_HOOK_NOTED);
	assert_int_equal(st.max_unexpected, 4294967295u);
	assert_int_equal(key("MaxOutstandingUnexpectedPDUs", "1"), IDM_HOOK_FAIL);
	assert_int_equal(key("MaxOutstandingUnexpectedPDUs", "4294967296"), IDM_HOOK_FAIL);
	assert_int_equal(key("MaxOutstandingUnexpectedPDUs", "x"), IDM_HOOK_FAIL);
}

/* Digests are forced to None, markers to No. */
static void test_forced(void **state)
{
	(void)state;
	assert_int_equal(key("HeaderDigest", "CRC32C,None"), IDM_HOOK_ANSWERED);
	assert_string_equal(ans, "None");
	assert_int_equal(key("DataDigest", "CRC32C"), IDM_HOOK_ANSWERED);
	assert_string_equal(ans, "None");
	assert_int_equal(key("OFMarker", "Yes"), IDM_HOOK_ANSWERED);
	assert_string_equal(ans, "No");
	assert_int_equal(key("IFMarker", "No"), IDM_HOOK_ANSWERED);
	assert_string_equal(ans, "No");
	assert_int_equal(key("HeaderDigest", ""), IDM_HOOK_FAIL);
	iser_key_state_init(&st, IDM_ROLE_INITIATOR, true, 8192);
	assert_int_equal(key("HeaderDigest", "None"), IDM_HOOK_NOTED);
	assert_int_equal(key("DataDigest", "CRC32C"), IDM_HOOK_FAIL);
}

/* MaxRecvDataSegmentLength is consumed only once RDMAExtensions=Yes. */
static void test_mrdsl(void **state)
{
	(void)state;
	assert_int_equal(key("MaxRecvDataSegmentLength", "8192"), IDM_HOOK_PASS);
	assert_int_equal(key("RDMAExtensions", "Yes"), IDM_HOOK_ANSWERED);
	assert_int_equal(key("MaxRecvDataSegmentLength", "262144"), IDM_HOOK_NOTED);
}

/* Other keys go to the engine; bad arguments and small answers fail. */
static void test_pass_and_args(void **state)
{
	char tiny[2];

	(void)state;
	assert_int_equal(key("ImmediateData", "Yes"), IDM_HOOK_PASS);
	assert_int_equal(key("MaxBurstLength", "262144"), IDM_HOOK_PASS);
	assert_int_equal(iser_negotiate_key(NULL, "HeaderDigest", "None", ans, sizeof(ans)),
	                 IDM_HOOK_FAIL);
	assert_int_equal(iser_negotiate_key(&st, "HeaderDigest", "None", tiny, sizeof(tiny)),
	                 IDM_HOOK_FAIL);
	assert_int_equal(iser_nego_hook_key(&st, "OFMarker", "No", ans, sizeof(ans)),
	                 IDM_HOOK_ANSWERED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_defaults, setup_target),
	    cmocka_unit_test_setup(test_rdma_ext_target, setup_target),
	    cmocka_unit_test_setup(test_rdma_ext_initiator, setup_target),
	    cmocka_unit_test_setup(test_rdma_ext_non_leading, setup_target),
	    cmocka_unit_test_setup(test_rdsl_declarative, setup_target),
	    cmocka_unit_test_setup(test_rdsl_over_impl_max, setup_target),
	    cmocka_unit_test_setup(test_rdsl_initiator_own, setup_target),
	    cmocka_unit_test_setup(test_rdsl_out_of_range, setup_target),
	    cmocka_unit_test_setup(test_max_unexpected, setup_target),
	    cmocka_unit_test_setup(test_forced, setup_target),
	    cmocka_unit_test_setup(test_mrdsl, setup_target),
	    cmocka_unit_test_setup(test_pass_and_args, setup_target),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
