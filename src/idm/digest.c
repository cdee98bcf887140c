/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * CRC32C, the iSCSI header and data digest (RFC 7143 section 13.1).
 *
 * ISA-L's crc32_iscsi() is a plain CRC update: it neither inverts the
 * seed on entry nor the result on exit. The iSCSI digest is the usual
 * CRC32C: start from all ones and invert at the end. On the wire the
 * digest is little-endian (RFC 7143 appendix B.4 lists the bytes of
 * 0x8a9136aa as aa 36 91 8a); see idm_digest_put/get in core_priv.h.
 */
#include <isa-l/crc.h>
#include <limits.h>

#include "idm/pdu.h"

uint32_t idm_crc32c(uint32_t seed, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	/* crc32_iscsi takes an int length: feed huge buffers in pieces */
	while (len > 0) {
		int n = len > (size_t)INT_MAX ? INT_MAX : (int)len;

		seed = crc32_iscsi((unsigned char *)p, n, seed);
		p += n;
		len -= (size_t)n;
	}
	return seed;
}

uint32_t idm_digest(const void *buf, size_t len)
{
	return ~idm_crc32c(0xffffffffu, buf, len);
}

uint32_t idm_digest_iov(const struct iovec *iov, int iovcnt)
{
	uint32_t crc = 0xffffffffu;

	for (int i = 0; i < iovcnt; i++) {
		crc = idm_crc32c(crc, iov[i].iov_base, iov[i].iov_len);
	}
	return ~crc;
}
