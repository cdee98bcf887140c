/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * iSER wire formats (RFC 7145 section 9): the 28-byte header in front of
 * every iSCSI control-type PDU sent as an RCaP message, the Hello and
 * HelloReply messages, and the 4-byte private data of the connection
 * manager's request and accept. Pure encode/decode, no state.
 */
#ifndef IDM_ISER_WIRE_H
#define IDM_ISER_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ISER_HDR_LEN 28    /* iSER header of a control-type PDU */
#define ISER_HELLO_LEN 12  /* Hello / HelloReply: one word + two reserved */
#define ISER_CM_PRIV_LEN 4 /* iSER CM REQ/REP private data */

/* Opcodes, in the high nibble of byte 0. */
enum iser_opcode {
	ISER_OP_CONTROL = 0x1,     /* iSCSI control-type PDU follows */
	ISER_OP_HELLO = 0x2,       /* initiator's optional Hello */
	ISER_OP_HELLO_REPLY = 0x3, /* target's answer to a Hello */
};

/* Byte 0 flags of a control-type header. */
#define ISER_WSV 0x08 /* Write STag and VA are valid */
#define ISER_RSV 0x04 /* Read STag and VA are valid */

/* Byte 0 flag of a HelloReply: the target rejects the initiator's versions. */
#define ISER_HELLO_REJECT 0x01

/* The iSER protocol version this code speaks (Linux sends 1 as MaxVer). */
#define ISER_VERSION 1

/* Byte 0 of the CM private data (flags say what is NOT supported). */
#define ISER_CM_ZBVA_UNSUPPORTED 0x80     /* zero-based virtual addressing */
#define ISER_CM_SEND_INV_UNSUPPORTED 0x40 /* Send with Invalidate */

/* A decoded control-type header. STags/VAs are zero unless their flag is set. */
struct iser_hdr {
	uint8_t flags; /* ISER_WSV | ISER_RSV */
	uint32_t write_stag;
	uint64_t write_va;
	uint32_t read_stag;
	uint64_t read_va;
};

struct iser_hello {
	uint8_t max_ver; /* 4 bits */
	uint8_t min_ver; /* 4 bits */
	uint16_t ird;    /* iSER-IRD: RDMA Reads the initiator will accept */
};

struct iser_hello_reply {
	bool reject;
	uint8_t max_ver; /* 4 bits */
	uint8_t cur_ver; /* 4 bits: the version chosen */
	uint16_t ord;    /* iSER-ORD: RDMA Reads the target will issue */
};

struct iser_cm_priv {
	bool zbva_unsupported;
	bool send_inv_unsupported;
};

/* The opcode of a received message, or -EINVAL if it is too short or unknown. */
int iser_msg_opcode(const uint8_t *buf, size_t len);

void iser_hdr_encode(uint8_t out[ISER_HDR_LEN], const struct iser_hdr *h);
int iser_hdr_decode(const uint8_t *buf, size_t len, struct iser_hdr *h);

struct idm_pdu;
/*
 * Lay `pdu` over a received control message, in place: the BHS behind the
 * iSER header, then AHS and data segment (both roles receive this way).
 * -EBADMSG: not even the two headers; -EMSGSIZE: the BHS asks for more AHS
 * or data than `max_ahs` / `max_data` or than arrived (pdu->bhs is filled,
 * to reject). 0 otherwise.
 */
int iser_ctrl_pdu_parse(uint8_t *msg, uint32_t len, uint32_t max_ahs, uint32_t max_data,
                        struct iser_hdr *h, struct idm_pdu *pdu);

int iser_hello_encode(uint8_t out[ISER_HELLO_LEN], const struct iser_hello *h);
int iser_hello_decode(const uint8_t *buf, size_t len, struct iser_hello *h);

int iser_hello_reply_encode(uint8_t out[ISER_HELLO_LEN], const struct iser_hello_reply *r);
int iser_hello_reply_decode(const uint8_t *buf, size_t len, struct iser_hello_reply *r);

void iser_cm_priv_encode(uint8_t out[ISER_CM_PRIV_LEN], const struct iser_cm_priv *p);
int iser_cm_priv_decode(const uint8_t *buf, size_t len, struct iser_cm_priv *p);

#endif
