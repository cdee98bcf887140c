/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests for the pure PDU helpers (src/idm/pdu.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "idm/pdu.h"

static void test_bhs_init(void **state)
{
	uint8_t bhs[IDM_BHS_LEN];

	memset(bhs, 0xaa, sizeof(bhs));
	idm_bhs_init(bhs, ISCSI_OP_SCSI_CMD, true);
	assert_int_equal(bhs[0], 0x41);
	for (int i = 1; i < IDM_BHS_LEN; i++) {
		assert_int_equal(bhs[i], 0);
	}
	idm_bhs_init(bhs, ISCSI_OP_NOP_IN, false);
	assert_int_equal(bhs[0], 0x20);
}

static void test_dlength(void **state)
{
	struct idm_pdu p;

	memset(&p, 0, sizeof(p));
	idm_bhs_set_dlength(p.bhs, 0x123456);
	assert_int_equal(p.bhs[5], 0x12);
	assert_int_equal(p.bhs[6], 0x34);
	assert_int_equal(p.bhs[7], 0x56);
	assert_int_equal(idm_pdu_dlength(&p), 0x123456);
	p.bhs[BHS_TOTAL_AHS_LEN] = 3;
	assert_int_equal(idm_pdu_ahs_length(&p), 12);
	assert_int_equal(idm_pad4(0), 0);
	assert_int_equal(idm_pad4(1), 3);
	assert_int_equal(idm_pad4(2), 2);
	assert_int_equal(idm_pad4(3), 1);
	assert_int_equal(idm_pad4(4), 0);
}

static void test_opcode_sets(void **state)
{
	static const uint8_t ini[] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x10};
	static const uint8_t tgt[] = {0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x31, 0x32, 0x3f};
	int nini = 0, ntgt = 0;

	for (unsigned i = 0; i < sizeof(ini); i++) {
		assert_true(idm_opcode_is_initiator(ini[i]));
		assert_false(idm_opcode_is_target(ini[i]));
	}
	for (unsigned i = 0; i < sizeof(tgt); i++) {
		assert_true(idm_opcode_is_target(tgt[i]));
		assert_false(idm_opcode_is_initiator(tgt[i]));
	}
	for (unsigned op = 0; op < 64; op++) {
		nini += idm_opcode_is_initiator((uint8_t)op);
		ntgt += idm_opcode_is_target((uint8_t)op);
		assert_non_null(idm_opcode_name((uint8_t)op));
	}
	assert_int_equal(nini, 8);
	assert_int_equal(ntgt, 10);
	assert_string_equal(idm_opcode_name(ISCSI_OP_SCSI_CMD), "SCSI Command");
	assert_string_equal(idm_opcode_name(0x41), "SCSI Command");
	assert_string_equal(idm_opcode_name(0x3e), "unknown");
}

static void test_lun(void **state)
{
	uint8_t f[8];
	static const uint8_t zero6[6];

	idm_lun_encode(f, 0);
	assert_int_equal(f[0], 0);
	assert_int_equal(f[1], 0);
	idm_lun_encode(f, 5);
	assert_int_equal(f[0], 0x00);
	assert_int_equal(f[1], 0x05);
	assert_memory_equal(f + 2, zero6, 6);
	assert_int_equal(idm_lun_decode(f), 5);
	idm_lun_encode(f, 300);
	assert_int_equal(f[0], 0x41);
	assert_int_equal(f[1], 0x2c);
	assert_int_equal(idm_lun_decode(f), 300);
	idm_lun_encode(f, 16383);
	assert_int_equal(idm_lun_decode(f), 16383);
	for (uint64_t l = 0; l < 16384; l += 97) {
		idm_lun_encode(f, l);
		assert_int_equal(idm_lun_decode(f), l);
	}
	/* flat addressing of a small LUN decodes too */
	memset(f, 0, 8);
	f[0] = 0x40;
	f[1] = 7;
	assert_int_equal(idm_lun_decode(f), 7);
	/* peripheral with a bus number, extended, multi-level: never small */
	f[0] = 0x01;
	assert_true(idm_lun_decode(f) >= 16384);
	f[0] = 0xc0;
	assert_true(idm_lun_decode(f) >= 16384);
	memset(f, 0, 8);
	f[1] = 1;
	f[2] = 0x00;
	f[3] = 1;
	assert_true(idm_lun_decode(f) >= 16384);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bhs_init),
	    cmocka_unit_test(test_dlength),
	    cmocka_unit_test(test_opcode_sets),
	    cmocka_unit_test(test_lun),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
