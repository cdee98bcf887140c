/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of the iSER header, Hello/HelloReply and CM private data. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "idm/pdu.h"
#include "idm/wire.h"
#include "transport/iser/iser_wire.h"

/* A header with both addresses lands big-endian at the RFC's offsets. */
static void test_hdr_encode_layout(void **state)
{
	struct iser_hdr h = {
	    .flags = ISER_WSV | ISER_RSV,
	    .write_stag = 0x11223344,
	    .write_va = 0x0102030405060708ULL,
	    .read_stag = 0xa1b2c3d4,
	    .read_va = 0xf1f2f3f4f5f6f7f8ULL,
	};
	static const uint8_t want[ISER_HDR_LEN] = {
	    0x1c, 0, 0,    0,    0x11, 0x22, 0x33, 0x44, 1,    2,    3,    4,    5,    6,
	    7,    8, 0xa1, 0xb2, 0xc3, 0xd4, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
	};
	uint8_t buf[ISER_HDR_LEN];

	(void)state;
	iser_hdr_encode(buf, &h);
	assert_memory_equal(buf, want, sizeof(want));
}

/* Encode then decode gives back the header; a clear flag zeroes its address. */
static void test_hdr_roundtrip(void **state)
{
	struct iser_hdr h = {.flags = ISER_RSV,
	                     .write_stag = 7,
	                     .write_va = 9,
	                     .read_stag = 0xdeadbeef,
	                     .read_va = 0x1000};
	struct iser_hdr out;
	uint8_t buf[ISER_HDR_LEN];

	(void)state;
	iser_hdr_encode(buf, &h);
	assert_int_equal(buf[0], 0x14);
	assert_int_equal(iser_hdr_decode(buf, sizeof(buf), &out), 0);
	assert_int_equal(out.flags, ISER_RSV);
	assert_int_equal(out.write_stag, 0);
	assert_true(out.write_va == 0);
	assert_int_equal(out.read_stag, 0xdeadbeef);
	assert_true(out.read_va == 0x1000);
	assert_int_equal(iser_msg_opcode(buf, sizeof(buf)), ISER_OP_CONTROL);
}

/* Short buffers, other opcodes and NULLs are refused. */
static void test_hdr_decode_rejects(void **state)
{
	uint8_t buf[ISER_HDR_LEN] = {0x10};
	struct iser_hdr out;

	(void)state;
	assert_int_equal(iser_hdr_decode(buf, ISER_HDR_LEN - 1, &out), -EINVAL);
	assert_int_equal(iser_hdr_decode(NULL, ISER_HDR_LEN, &out), -EINVAL);
	assert_int_equal(iser_hdr_decode(buf, ISER_HDR_LEN, NULL), -EINVAL);
	buf[0] = 0x20;
	assert_int_equal(iser_hdr_decode(buf, ISER_HDR_LEN, &out), -EINVAL);
	buf[0] = 0x13; /* reserved bits are ignored */
	assert_int_equal(iser_hdr_decode(buf, ISER_HDR_LEN, &out), 0);
	assert_int_equal(out.flags, 0);
}

/* The opcode dispatcher checks the length each kind of message needs. */
static void test_msg_opcode(void **state)
{
	uint8_t buf[ISER_HDR_LEN] = {0};

	(void)state;
	buf[0] = 0x10;
	assert_int_equal(iser_msg_opcode(buf, ISER_HELLO_LEN), -EINVAL);
	buf[0] = 0x20;
	assert_int_equal(iser_msg_opcode(buf, ISER_HELLO_LEN), ISER_OP_HELLO);
	assert_int_equal(iser_msg_opcode(buf, ISER_HELLO_LEN - 1), -EINVAL);
	buf[0] = 0x30;
	assert_int_equal(iser_msg_opcode(buf, ISER_HELLO_LEN), ISER_OP_HELLO_REPLY);
	buf[0] = 0x40;
	assert_int_equal(iser_msg_opcode(buf, ISER_HDR_LEN), -EINVAL);
	buf[0] = 0x00;
	assert_int_equal(iser_msg_opcode(buf, ISER_HDR_LEN), -EINVAL);
	assert_int_equal(iser_msg_opcode(NULL, ISER_HDR_LEN), -EINVAL);
}

/* Hello: versions in byte 1, IRD in bytes 2-3, the rest zero. */
static void test_hello(void **state)
{
	struct iser_hello h = {.max_ver = 2, .min_ver = 1, .ird = 0x1234}, out;
	static const uint8_t want[ISER_HELLO_LEN] = {0x20, 0x21, 0x12, 0x34};
	uint8_t buf[ISER_HELLO_LEN];

	(void)state;
	assert_int_equal(iser_hello_encode(buf, &h), 0);
	assert_memory_equal(buf, want, sizeof(want));
	assert_int_equal(iser_hello_decode(buf, sizeof(buf), &out), 0);
	assert_int_equal(out.max_ver, 2);
	assert_int_equal(out.min_ver, 1);
	assert_int_equal(out.ird, 0x1234);
	buf[1] = 0x12; /* MinVer above MaxVer */
	assert_int_equal(iser_hello_decode(buf, sizeof(buf), &out), -EINVAL);
	buf[1] = 0x10; /* MinVer 0 */
	assert_int_equal(iser_hello_decode(buf, sizeof(buf), &out), -EINVAL);
	assert_int_equal(iser_hello_decode(want, ISER_HELLO_LEN - 1, &out), -EINVAL);
	h.max_ver = 16;
	assert_int_equal(iser_hello_encode(buf, &h), -EINVAL);
	h.max_ver = 1;
	h.min_ver = 2;
	assert_int_equal(iser_hello_encode(buf, &h), -EINVAL);
}

/* HelloReply: the reject bit is the low bit of byte 0, ORD in bytes 2-3. */
static void test_hello_reply(void **state)
{
	struct iser_hello_reply r = {.max_ver = 1, .cur_ver = 1, .ord = 16}, out;
	uint8_t buf[ISER_HELLO_LEN];

	(void)state;
	assert_int_equal(iser_hello_reply_encode(buf, &r), 0);
	assert_int_equal(buf[0], 0x30);
	assert_int_equal(buf[1], 0x11);
	assert_int_equal(buf[2], 0);
	assert_int_equal(buf[3], 16);
	assert_int_equal(iser_hello_reply_decode(buf, sizeof(buf), &out), 0);
	assert_false(out.reject);
	assert_int_equal(out.ord, 16);

	r.reject = true;
	r.cur_ver = 0;
	assert_int_equal(iser_hello_reply_encode(buf, &r), 0);
	assert_int_equal(buf[0], 0x31);
	assert_int_equal(iser_hello_reply_decode(buf, sizeof(buf), &out), 0);
	assert_true(out.reject);
	assert_int_equal(out.max_ver, 1);

	buf[0] = 0x30; /* accepting with CurVer 0 is malformed */
	assert_int_equal(iser_hello_reply_decode(buf, sizeof(buf), &out), -EINVAL);
	buf[0] = 0x20;
	assert_int_equal(iser_hello_reply_decode(buf, sizeof(buf), &out), -EINVAL);
	r.reject = false;
	r.cur_ver = 2; /* above MaxVer */
	assert_int_equal(iser_hello_reply_encode(buf, &r), -EINVAL);
}

/* CM private data: the flags are byte 0, bytes 1-3 are zero. */
static void test_cm_priv(void **state)
{
	struct iser_cm_priv p = {.zbva_unsupported = true}, out;
	uint8_t buf[ISER_CM_PRIV_LEN];

	(void)state;
	memset(buf, 0xff, sizeof(buf));
	iser_cm_priv_encode(buf, &p);
	assert_int_equal(buf[0], 0x80);
	assert_int_equal(buf[1] | buf[2] | buf[3], 0);
	p.send_inv_unsupported = true;
	iser_cm_priv_encode(buf, &p);
	assert_int_equal(buf[0], 0xc0);
	assert_int_equal(iser_cm_priv_decode(buf, sizeof(buf), &out), 0);
	assert_true(out.zbva_unsupported);
	assert_true(out.send_inv_unsupported);
	buf[0] = 0x40;
	assert_int_equal(iser_cm_priv_decode(buf, sizeof(buf), &out), 0);
	assert_false(out.zbva_unsupported);
	assert_true(out.send_inv_unsupported);
	assert_int_equal(iser_cm_priv_decode(buf, 3, &out), -EINVAL);
	assert_int_equal(iser_cm_priv_decode(NULL, 4, &out), -EINVAL);
}

/* A control message laid out as a PDU in place; lengths checked both ways. */
static void test_ctrl_pdu_parse(void **state)
{
	uint8_t msg[ISER_HDR_LEN + IDM_BHS_LEN + 16 + 8] = {0};
	uint8_t *bhs = msg + ISER_HDR_LEN;
	struct idm_pdu pdu = {0};
	struct iser_hdr h;

	(void)state;
	iser_hdr_encode(msg, &(struct iser_hdr){0});
	bhs[BHS_TOTAL_AHS_LEN] = 4; /* 16 bytes */
	put_be24(bhs + BHS_DATA_SEG_LEN, 8);
	assert_int_equal(iser_ctrl_pdu_parse(msg, sizeof(msg), 16, 8192, &h, &pdu), 0);
	assert_ptr_equal(pdu.ahs, msg + ISER_HDR_LEN + IDM_BHS_LEN);
	assert_ptr_equal(pdu.data, msg + ISER_HDR_LEN + IDM_BHS_LEN + 16);
	assert_int_equal(pdu.data_len, 8);
	/* more than arrived, more AHS or data than allowed: the BHS is kept */
	assert_int_equal(iser_ctrl_pdu_parse(msg, sizeof(msg) - 1, 16, 8192, &h, &pdu), -EMSGSIZE);
	assert_int_equal(pdu.bhs[BHS_TOTAL_AHS_LEN], 4);
	assert_int_equal(iser_ctrl_pdu_parse(msg, sizeof(msg), 12, 8192, &h, &pdu), -EMSGSIZE);
	assert_int_equal(iser_ctrl_pdu_parse(msg, sizeof(msg), 16, 7, &h, &pdu), -EMSGSIZE);
	/* not even the headers */
	assert_int_equal(iser_ctrl_pdu_parse(msg, ISER_HDR_LEN + IDM_BHS_LEN - 1, 16, 8192, &h, &pdu),
	                 -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hdr_encode_layout),
	    cmocka_unit_test(test_hdr_roundtrip),
	    cmocka_unit_test(test_hdr_decode_rejects),
	    cmocka_unit_test(test_msg_opcode),
	    cmocka_unit_test(test_hello),
	    cmocka_unit_test(test_hello_reply),
	    cmocka_unit_test(test_cm_priv),
	    cmocka_unit_test(test_ctrl_pdu_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
