/* SPDX-License-Identifier: BSD-3-Clause */
/* CRC32C digest against the RFC 3720 appendix B.4 vectors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "idm/pdu.h"

static void test_rfc_vectors(void **state)
{
	uint8_t buf[32];

	memset(buf, 0, sizeof(buf));
	assert_int_equal(idm_digest(buf, 32), 0x8a9136aa);
	memset(buf, 0xff, sizeof(buf));
	assert_int_equal(idm_digest(buf, 32), 0x62a8ab43);
	for (int i = 0; i < 32; i++) {
		buf[i] = (uint8_t)i;
	}
	assert_int_equal(idm_digest(buf, 32), 0x46dd794e);
	for (int i = 0; i < 32; i++) {
		buf[i] = (uint8_t)(31 - i);
	}
	assert_int_equal(idm_digest(buf, 32), 0x113fdb5c);
}

/* RFC 3720 B.4: an iSCSI Read (10) command PDU. */
static void test_rfc_scsi_read(void **state)
{
	static const uint8_t pdu[48] = {
	    0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	    0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
	    0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
	    0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	};

	assert_int_equal(idm_digest(pdu, sizeof(pdu)), 0xd9963a56);
}

static void test_iov(void **state)
{
	uint8_t buf[100];
	struct iovec iov[3];

	for (unsigned i = 0; i < sizeof(buf); i++) {
		buf[i] = (uint8_t)(i * 7 + 3);
	}
	iov[0] = (struct iovec){buf, 10};
	iov[1] = (struct iovec){buf + 10, 0};
	iov[2] = (struct iovec){buf + 10, 90};
	assert_int_equal(idm_digest_iov(iov, 3), idm_digest(buf, 100));
	assert_int_equal(idm_digest_iov(iov, 0), idm_digest(buf, 0));
	/* chaining raw updates is the same as one pass */
	uint32_t c = idm_crc32c(0xffffffffu, buf, 33);
	c = idm_crc32c(c, buf + 33, 67);
	assert_int_equal(~c, idm_digest(buf, 100));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc_vectors),
	    cmocka_unit_test(test_rfc_scsi_read),
	    cmocka_unit_test(test_iov),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
