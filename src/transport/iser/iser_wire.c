/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * iSER header, Hello/HelloReply and CM private data (RFC 7145 section 9).
 * Every field is written byte by byte in network order: no bitfields, so
 * the layout does not depend on the compiler or the host's endianness.
 */
#include "transport/iser/iser_wire.h"

#include <errno.h>
#include <string.h>

#include "idm/pdu.h"
#include "idm/wire.h"

/* Field offsets of the control-type header. */
enum {
	OFF_FLAGS = 0,
	OFF_WRITE_STAG = 4, /* bytes 1-3 are reserved */
	OFF_WRITE_VA = 8,
	OFF_READ_STAG = 16,
	OFF_READ_VA = 20,
};

/* Hello and HelloReply: byte 1 holds two version nibbles, bytes 2-3 IRD/ORD. */
enum {
	OFF_VERSIONS = 1,
	OFF_IRD_ORD = 2,
};

_Static_assert(OFF_READ_VA + 8 == ISER_HDR_LEN, "iSER header is 28 bytes");
_Static_assert(ISER_HDR_LEN + 48 == 76, "iSER header + BHS is 76 bytes");
_Static_assert(OFF_IRD_ORD + 2 + 8 == ISER_HELLO_LEN, "Hello is 12 bytes");
_Static_assert(ISER_CM_PRIV_LEN == 4, "CM private data is 4 bytes");

/* The opcode nibble of a message, after checking it is long enough to carry one. */
int iser_msg_opcode(const uint8_t *buf, size_t len)
{
	int op;

	if (!buf || len < ISER_HELLO_LEN) {
		return -EINVAL;
	}
	op = buf[0] >> 4;
	if (op == ISER_OP_CONTROL && len < ISER_HDR_LEN) {
		return -EINVAL;
	}
	if (op != ISER_OP_CONTROL && op != ISER_OP_HELLO && op != ISER_OP_HELLO_REPLY) {
		return -EINVAL;
	}
	return op;
}

/* Write a control-type header; an address whose flag is clear is sent as zeros. */
void iser_hdr_encode(uint8_t out[ISER_HDR_LEN], const struct iser_hdr *h)
{
	bool wsv = h->flags & ISER_WSV;
	bool rsv = h->flags & ISER_RSV;

	memset(out, 0, ISER_HDR_LEN);
	out[OFF_FLAGS] = (uint8_t)(ISER_OP_CONTROL << 4) | (h->flags & (ISER_WSV | ISER_RSV));
	put_be32(out + OFF_WRITE_STAG, wsv ? h->write_stag : 0);
	put_be64(out + OFF_WRITE_VA, wsv ? h->write_va : 0);
	put_be32(out + OFF_READ_STAG, rsv ? h->read_stag : 0);
	put_be64(out + OFF_READ_VA, rsv ? h->read_va : 0);
}

/*
 * Read a control-type header. Reserved bits are ignored as RFC 7145 asks
 * of a receiver; an address whose valid flag is clear is reported as zero
 * so no caller can use a stale STag by mistake.
 */
int iser_hdr_decode(const uint8_t *buf, size_t len, struct iser_hdr *h)
{
	if (!buf || !h || len < ISER_HDR_LEN || (buf[0] >> 4) != ISER_OP_CONTROL) {
		return -EINVAL;
	}
	memset(h, 0, sizeof(*h));
	h->flags = buf[OFF_FLAGS] & (ISER_WSV | ISER_RSV);
	if (h->flags & ISER_WSV) {
		h->write_stag = get_be32(buf + OFF_WRITE_STAG);
		h->write_va = get_be64(buf + OFF_WRITE_VA);
	}
	if (h->flags & ISER_RSV) {
		h->read_stag = get_be32(buf + OFF_READ_STAG);
		h->read_va = get_be64(buf + OFF_READ_VA);
	}
	return 0;
}

/* Versions are 4-bit, start at 1, and a range must not be upside down. */
static bool versions_ok(uint8_t high, uint8_t low)
{
	return high <= 0xf && low >= 1 && low <= high;
}

/* Write a Hello. -EINVAL when the versions do not fit or are inverted. */
int iser_hello_encode(uint8_t out[ISER_HELLO_LEN], const struct iser_hello *h)
{
	if (!out || !h || !versions_ok(h->max_ver, h->min_ver)) {
		return -EINVAL;
	}
	memset(out, 0, ISER_HELLO_LEN);
	out[0] = ISER_OP_HELLO << 4;
	out[OFF_VERSIONS] = (uint8_t)(h->max_ver << 4 | h->min_ver);
	put_be16(out + OFF_IRD_ORD, h->ird);
	return 0;
}

/* Read a Hello. -EINVAL for a short buffer, another opcode or bad versions. */
int iser_hello_decode(const uint8_t *buf, size_t len, struct iser_hello *h)
{
	if (!buf || !h || len < ISER_HELLO_LEN || (buf[0] >> 4) != ISER_OP_HELLO) {
		return -EINVAL;
	}
	h->max_ver = buf[OFF_VERSIONS] >> 4;
	h->min_ver = buf[OFF_VERSIONS] & 0xf;
	h->ird = get_be16(buf + OFF_IRD_ORD);
	return versions_ok(h->max_ver, h->min_ver) ? 0 : -EINVAL;
}

/*
 * Write a HelloReply. A rejecting reply still carries the target's
 * MaxVer (so the initiator can retry); CurVer then means nothing.
 */
int iser_hello_reply_encode(uint8_t out[ISER_HELLO_LEN], const struct iser_hello_reply *r)
{
	if (!out || !r || r->max_ver > 0xf || r->cur_ver > 0xf) {
		return -EINVAL;
	}
	if (!r->reject && !versions_ok(r->max_ver, r->cur_ver)) {
		return -EINVAL;
	}
	memset(out, 0, ISER_HELLO_LEN);
	out[0] = (uint8_t)(ISER_OP_HELLO_REPLY << 4) | (r->reject ? ISER_HELLO_REJECT : 0);
	out[OFF_VERSIONS] = (uint8_t)(r->max_ver << 4 | r->cur_ver);
	put_be16(out + OFF_IRD_ORD, r->ord);
	return 0;
}

/* Read a HelloReply. An accepting reply must name a version within MaxVer. */
int iser_hello_reply_decode(const uint8_t *buf, size_t len, struct iser_hello_reply *r)
{
	if (!buf || !r || len < ISER_HELLO_LEN || (buf[0] >> 4) != ISER_OP_HELLO_REPLY) {
		return -EINVAL;
	}
	r->reject = buf[0] & ISER_HELLO_REJECT;
	r->max_ver = buf[OFF_VERSIONS] >> 4;
	r->cur_ver = buf[OFF_VERSIONS] & 0xf;
	r->ord = get_be16(buf + OFF_IRD_ORD);
	if (!r->reject && !versions_ok(r->max_ver, r->cur_ver)) {
		return -EINVAL;
	}
	return 0;
}

/*
 * Write the CM private data. The flags go in byte 0 explicitly: a
 * bitfield struct can place them in another byte on a little-endian host.
 */
void iser_cm_priv_encode(uint8_t out[ISER_CM_PRIV_LEN], const struct iser_cm_priv *p)
{
	memset(out, 0, ISER_CM_PRIV_LEN);
	out[0] = (uint8_t)((p->zbva_unsupported ? ISER_CM_ZBVA_UNSUPPORTED : 0) |
	                   (p->send_inv_unsupported ? ISER_CM_SEND_INV_UNSUPPORTED : 0));
}

/* Read the CM private data; longer data (a transport's own prefix) is not ours. */
int iser_cm_priv_decode(const uint8_t *buf, size_t len, struct iser_cm_priv *p)
{
	if (!buf || !p || len < ISER_CM_PRIV_LEN) {
		return -EINVAL;
	}
	p->zbva_unsupported = buf[0] & ISER_CM_ZBVA_UNSUPPORTED;
	p->send_inv_unsupported = buf[0] & ISER_CM_SEND_INV_UNSUPPORTED;
	return 0;
}

int iser_ctrl_pdu_parse(uint8_t *msg, uint32_t len, uint32_t max_ahs, uint32_t max_data,
                        struct iser_hdr *h, struct idm_pdu *pdu)
{
	const uint32_t hdrs = ISER_HDR_LEN + IDM_BHS_LEN;
	struct idm_conn *c = pdu->conn;
	uint32_t dlen;

	memset(pdu, 0, sizeof(*pdu));
	pdu->conn = c;
	if (len < hdrs || iser_hdr_decode(msg, len, h) != 0) {
		return -EBADMSG;
	}
	memcpy(pdu->bhs, msg + ISER_HDR_LEN, IDM_BHS_LEN);
	pdu->ahs_len = idm_pdu_ahs_length(pdu);
	dlen = get_be24(pdu->bhs + BHS_DATA_SEG_LEN);
	if (pdu->ahs_len > max_ahs || dlen > max_data ||
	    (uint64_t)hdrs + pdu->ahs_len + dlen > len) {
		return -EMSGSIZE;
	}
	pdu->ahs = pdu->ahs_len ? msg + hdrs : NULL;
	pdu->data = dlen ? msg + hdrs + pdu->ahs_len : NULL;
	pdu->data_len = dlen;
	return 0;
}
