/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * iSCSI PDUs (RFC 7143 section 11): opcodes, Basic Header Segment field
 * offsets, and the in-memory PDU object shared by every transport.
 *
 * The BHS is kept as the 48 raw bytes it has on the wire; fields are read
 * and written with the get_be / put_be helpers at the offsets below. Pure
 * encode/decode helpers live in src/idm/pdu.c.
 */
#ifndef IDM_PDU_H
#define IDM_PDU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "idm/wire.h"

#define IDM_BHS_LEN 48
#define IDM_DIGEST_LEN 4
#define IDM_MAX_AHS_LEN (255 * 4) /* TotalAHSLength is in 4-byte words */
#define IDM_RESERVED_TAG 0xffffffffu

_Static_assert(IDM_BHS_LEN == 48, "the BHS is 48 bytes");

/* Opcodes (byte 0, low six bits). */
enum idm_opcode {
	/* initiator to target */
	ISCSI_OP_NOP_OUT = 0x00,
	ISCSI_OP_SCSI_CMD = 0x01,
	ISCSI_OP_TMF_REQ = 0x02,
	ISCSI_OP_LOGIN_REQ = 0x03,
	ISCSI_OP_TEXT_REQ = 0x04,
	ISCSI_OP_SCSI_DATA_OUT = 0x05,
	ISCSI_OP_LOGOUT_REQ = 0x06,
	ISCSI_OP_SNACK_REQ = 0x10,
	/* target to initiator */
	ISCSI_OP_NOP_IN = 0x20,
	ISCSI_OP_SCSI_RSP = 0x21,
	ISCSI_OP_TMF_RSP = 0x22,
	ISCSI_OP_LOGIN_RSP = 0x23,
	ISCSI_OP_TEXT_RSP = 0x24,
	ISCSI_OP_SCSI_DATA_IN = 0x25,
	ISCSI_OP_LOGOUT_RSP = 0x26,
	ISCSI_OP_R2T = 0x31,
	ISCSI_OP_ASYNC_MSG = 0x32,
	ISCSI_OP_REJECT = 0x3f,
};

#define ISCSI_OPCODE_MASK 0x3f
#define ISCSI_FLAG_IMMEDIATE 0x40 /* byte 0: I bit */
#define ISCSI_FLAG_FINAL 0x80     /* byte 1: F bit */

/* Byte offsets of fields common to most PDUs. */
enum {
	BHS_OPCODE = 0,
	BHS_FLAGS = 1,
	BHS_TOTAL_AHS_LEN = 4, /* 1 byte, 4-byte words */
	BHS_DATA_SEG_LEN = 5,  /* 3 bytes */
	BHS_LUN = 8,           /* 8 bytes */
	BHS_ITT = 16,
	BHS_TTT = 20,          /* or ExpectedDataTransferLength, ... */
	BHS_CMDSN = 24,        /* StatSN in target-to-initiator PDUs */
	BHS_EXPSTATSN = 28,    /* ExpCmdSN in target-to-initiator PDUs */
	BHS_MAXCMDSN = 32,
};

/* SCSI Command (0x01). */
enum {
	SCSI_CMD_FLAG_READ = 0x40,
	SCSI_CMD_FLAG_WRITE = 0x20,
	SCSI_CMD_ATTR_MASK = 0x07,
	SCSI_CMD_EDTL = 20,
	SCSI_CMD_CMDSN = 24,
	SCSI_CMD_EXPSTATSN = 28,
	SCSI_CMD_CDB = 32, /* 16 bytes; longer CDBs continue in an AHS */
};

/* SCSI Response (0x21). */
enum {
	SCSI_RSP_FLAG_BIDI_OVERFLOW = 0x10,
	SCSI_RSP_FLAG_BIDI_UNDERFLOW = 0x08,
	SCSI_RSP_FLAG_OVERFLOW = 0x04,
	SCSI_RSP_FLAG_UNDERFLOW = 0x02,
	SCSI_RSP_RESPONSE = 2,
	SCSI_RSP_STATUS = 3,
	SCSI_RSP_SNACK_TAG = 20,
	SCSI_RSP_STATSN = 24,
	SCSI_RSP_EXPCMDSN = 28,
	SCSI_RSP_MAXCMDSN = 32,
	SCSI_RSP_EXPDATASN = 36,
	SCSI_RSP_BIDI_RESIDUAL = 40,
	SCSI_RSP_RESIDUAL = 44,
};

/* iSCSI response codes (SCSI Response byte 2). */
enum {
	ISCSI_RESPONSE_COMPLETED = 0x00,
	ISCSI_RESPONSE_TARGET_FAILURE = 0x01,
};

/* Data-In (0x25) and Data-Out (0x05). */
enum {
	DATA_FLAG_ACK = 0x40,      /* Data-In A bit */
	DATA_FLAG_OVERFLOW = 0x04, /* Data-In O bit */
	DATA_FLAG_UNDERFLOW = 0x02,
	DATA_FLAG_STATUS = 0x01,   /* Data-In S bit */
	DATA_STATUS = 3,
	DATA_TTT = 20,
	DATA_STATSN = 24,          /* Data-In only, when S is set */
	DATA_EXPCMDSN = 24 + 4,
	DATA_MAXCMDSN = 32,
	DATA_DATASN = 36,
	DATA_BUFFER_OFFSET = 40,
	DATA_RESIDUAL = 44,
};

/* R2T (0x31). */
enum {
	R2T_TTT = 20,
	R2T_STATSN = 24,
	R2T_EXPCMDSN = 28,
	R2T_MAXCMDSN = 32,
	R2T_R2TSN = 36,
	R2T_BUFFER_OFFSET = 40,
	R2T_DESIRED_LEN = 44,
};

/* Login Request (0x03) / Response (0x23). */
enum {
	LOGIN_FLAG_TRANSIT = 0x80,
	LOGIN_FLAG_CONTINUE = 0x40,
	LOGIN_CSG_SHIFT = 2,
	LOGIN_CSG_MASK = 0x0c,
	LOGIN_NSG_MASK = 0x03,
	LOGIN_VERSION_MAX = 2,
	LOGIN_VERSION_MIN = 3, /* Version-active in the response */
	LOGIN_ISID = 8,        /* 6 bytes */
	LOGIN_TSIH = 14,
	LOGIN_CID = 20,        /* 2 bytes, request only */
	LOGIN_CMDSN = 24,      /* StatSN in the response */
	LOGIN_EXPSTATSN = 28,  /* ExpCmdSN in the response */
	LOGIN_MAXCMDSN = 32,
	LOGIN_STATUS_CLASS = 36,
	LOGIN_STATUS_DETAIL = 37,
};

enum idm_login_stage {
	ISCSI_SECURITY_NEGOTIATION = 0,
	ISCSI_OP_PARMS_NEGOTIATION = 1,
	ISCSI_FULL_FEATURE_PHASE = 3,
};

/* Login status (class << 8 | detail), RFC 7143 section 11.13.5. */
enum idm_login_status {
	ISCSI_LOGIN_OK = 0x0000,
	ISCSI_LOGIN_TARGET_MOVED_TEMP = 0x0101,
	ISCSI_LOGIN_TARGET_MOVED_PERM = 0x0102,
	ISCSI_LOGIN_INITIATOR_ERROR = 0x0200,
	ISCSI_LOGIN_AUTH_FAILED = 0x0201,
	ISCSI_LOGIN_AUTHORIZATION_FAILED = 0x0202,
	ISCSI_LOGIN_TARGET_NOT_FOUND = 0x0203,
	ISCSI_LOGIN_TARGET_REMOVED = 0x0204,
	ISCSI_LOGIN_UNSUPPORTED_VERSION = 0x0205,
	ISCSI_LOGIN_TOO_MANY_CONNECTIONS = 0x0206,
	ISCSI_LOGIN_MISSING_PARAMETER = 0x0207,
	ISCSI_LOGIN_CANT_INCLUDE_IN_SESSION = 0x0208,
	ISCSI_LOGIN_SESSION_TYPE_UNSUPPORTED = 0x0209,
	ISCSI_LOGIN_SESSION_DOES_NOT_EXIST = 0x020a,
	ISCSI_LOGIN_INVALID_DURING_LOGIN = 0x020b,
	ISCSI_LOGIN_TARGET_ERROR = 0x0300,
	ISCSI_LOGIN_SERVICE_UNAVAILABLE = 0x0301,
	ISCSI_LOGIN_OUT_OF_RESOURCES = 0x0302,
};

/* Text Request (0x04) / Response (0x24). */
enum {
	TEXT_FLAG_CONTINUE = 0x40,
	TEXT_TTT = 20,
	TEXT_CMDSN = 24,
	TEXT_EXPSTATSN = 28,
};

/* Task Management Function Request (0x02) / Response (0x22). */
enum {
	TMF_FUNCTION_MASK = 0x7f,
	TMF_REFERENCED_TASK_TAG = 20,
	TMF_CMDSN = 24,
	TMF_EXPSTATSN = 28,
	TMF_REFCMDSN = 32,
	TMF_EXPDATASN = 36,
	TMF_RSP_RESPONSE = 2,
};

enum idm_tmf_function {
	ISCSI_TMF_ABORT_TASK = 1,
	ISCSI_TMF_ABORT_TASK_SET = 2,
	ISCSI_TMF_CLEAR_ACA = 3,
	ISCSI_TMF_CLEAR_TASK_SET = 4,
	ISCSI_TMF_LOGICAL_UNIT_RESET = 5,
	ISCSI_TMF_TARGET_WARM_RESET = 6,
	ISCSI_TMF_TARGET_COLD_RESET = 7,
	ISCSI_TMF_TASK_REASSIGN = 8,
};

enum idm_tmf_response {
	ISCSI_TMF_RSP_COMPLETE = 0,
	ISCSI_TMF_RSP_NO_TASK = 1,
	ISCSI_TMF_RSP_NO_LUN = 2,
	ISCSI_TMF_RSP_TASK_ALLEGIANT = 3,
	ISCSI_TMF_RSP_NO_REASSIGN = 4,
	ISCSI_TMF_RSP_NOT_SUPPORTED = 5,
	ISCSI_TMF_RSP_AUTH_FAILED = 6,
	ISCSI_TMF_RSP_REJECTED = 255,
};

/* Logout Request (0x06) / Response (0x26). */
enum {
	LOGOUT_REASON_MASK = 0x7f,
	LOGOUT_CID = 20, /* 2 bytes */
	LOGOUT_CMDSN = 24,
	LOGOUT_EXPSTATSN = 28,
	LOGOUT_RSP_RESPONSE = 2,
	LOGOUT_RSP_TIME2WAIT = 40,
	LOGOUT_RSP_TIME2RETAIN = 42,
};

enum idm_logout_reason {
	ISCSI_LOGOUT_CLOSE_SESSION = 0,
	ISCSI_LOGOUT_CLOSE_CONNECTION = 1,
	ISCSI_LOGOUT_REMOVE_FOR_RECOVERY = 2,
};

enum idm_logout_response {
	ISCSI_LOGOUT_RSP_OK = 0,
	ISCSI_LOGOUT_RSP_CID_NOT_FOUND = 1,
	ISCSI_LOGOUT_RSP_RECOVERY_UNSUPPORTED = 2,
	ISCSI_LOGOUT_RSP_CLEANUP_FAILED = 3,
};

/* NOP-Out (0x00) / NOP-In (0x20). */
enum {
	NOP_TTT = 20,
	NOP_CMDSN = 24, /* StatSN in NOP-In */
	NOP_EXPSTATSN = 28,
};

/* Reject (0x3f). */
enum {
	REJECT_REASON = 2,
	REJECT_DATASN = 36,
};

enum idm_reject_reason {
	ISCSI_REJECT_DATA_DIGEST = 0x02,
	ISCSI_REJECT_SNACK = 0x03,
	ISCSI_REJECT_PROTOCOL_ERROR = 0x04,
	ISCSI_REJECT_CMD_NOT_SUPPORTED = 0x05,
	ISCSI_REJECT_IMM_CMD_REJECT = 0x06,
	ISCSI_REJECT_TASK_IN_PROGRESS = 0x07,
	ISCSI_REJECT_INVALID_DATA_ACK = 0x08,
	ISCSI_REJECT_INVALID_PDU_FIELD = 0x09,
	ISCSI_REJECT_LONG_OP_REJECT = 0x0a,
	ISCSI_REJECT_NEGOTIATION_RESET = 0x0b,
	ISCSI_REJECT_WAITING_FOR_LOGOUT = 0x0c,
};

/* Asynchronous Message (0x32). */
enum {
	ASYNC_EVENT = 36,
	ASYNC_VCODE = 37,
	ASYNC_PARAM1 = 38,
	ASYNC_PARAM2 = 40,
	ASYNC_PARAM3 = 42,
};

enum idm_async_event {
	ISCSI_ASYNC_SCSI_EVENT = 0,
	ISCSI_ASYNC_LOGOUT_REQUEST = 1,
	ISCSI_ASYNC_CONN_DROP = 2,
	ISCSI_ASYNC_SESSION_DROP = 3,
	ISCSI_ASYNC_PARAM_NEGOTIATION = 4,
};

/*
 * One PDU in memory. Received PDUs are filled by the transport; PDUs to
 * send are filled by the caller and handed to idm_pdu_tx(). The data
 * segment is described by `data`/`data_len` and may point into a task
 * buffer (no copy) or into `inline_data`-sized storage owned by the pool.
 */
struct idm_conn;
struct idm_pdu;

typedef void (*idm_pdu_done_fn)(struct idm_pdu *pdu, int status);

struct idm_pdu {
	uint8_t bhs[IDM_BHS_LEN];
	uint8_t *ahs;           /* NULL when TotalAHSLength is 0 */
	uint32_t ahs_len;       /* bytes */
	uint8_t *data;          /* data segment, without padding */
	uint32_t data_len;
	uint32_t data_cap;      /* bytes of storage behind `data` when owned */
	struct idm_conn *conn;
	idm_pdu_done_fn done;   /* called once the PDU is sent or dropped */
	void *private;          /* owner's cookie (task, request, ...) */
	struct idm_pdu *next;   /* send queue / free list linkage */
	uint32_t flags;         /* IDM_PDU_F_* */
	uint8_t hdigest[IDM_DIGEST_LEN];
	uint8_t ddigest[IDM_DIGEST_LEN];
	uint8_t ahs_storage[64]; /* small AHS (extended CDB) without malloc */
};

enum {
	IDM_PDU_F_OWNS_DATA = 1u << 0, /* `data` is malloc'ed by the pool */
	IDM_PDU_F_DATA_IN_TASK = 1u << 1, /* `data` points into a task buffer */
	IDM_PDU_F_KEEP = 1u << 2, /* set by `done`: the core must not free the
				   * PDU; its owner calls idm_pdu_free later */
};

static inline uint8_t idm_pdu_opcode(const struct idm_pdu *p)
{
	return p->bhs[BHS_OPCODE] & ISCSI_OPCODE_MASK;
}

static inline bool idm_pdu_immediate(const struct idm_pdu *p)
{
	return (p->bhs[BHS_OPCODE] & ISCSI_FLAG_IMMEDIATE) != 0;
}

static inline uint32_t idm_pdu_itt(const struct idm_pdu *p)
{
	return get_be32(p->bhs + BHS_ITT);
}

static inline uint32_t idm_pdu_dlength(const struct idm_pdu *p)
{
	return get_be24(p->bhs + BHS_DATA_SEG_LEN);
}

static inline uint32_t idm_pdu_ahs_length(const struct idm_pdu *p)
{
	return (uint32_t)p->bhs[BHS_TOTAL_AHS_LEN] * 4;
}

/* PDUs in order, linked through `next`: a transport's send queue. */
struct idm_pdu_fifo {
	struct idm_pdu *head, *tail;
};

static inline void idm_pdu_fifo_push(struct idm_pdu_fifo *q, struct idm_pdu *p)
{
	p->next = NULL;
	if (q->tail) {
		q->tail->next = p;
	} else {
		q->head = p;
	}
	q->tail = p;
}

/* The oldest PDU, unlinked; NULL when the queue is empty. */
static inline struct idm_pdu *idm_pdu_fifo_pop(struct idm_pdu_fifo *q)
{
	struct idm_pdu *p = q->head;

	if (p) {
		q->head = p->next;
		if (q->head == NULL) {
			q->tail = NULL;
		}
		p->next = NULL;
	}
	return p;
}

/* Pure helpers (src/idm/pdu.c). */

/* Zero the BHS and set the opcode byte (with the I bit when asked). */
void idm_bhs_init(uint8_t *bhs, uint8_t opcode, bool immediate);
/* Set DataSegmentLength in the BHS. */
void idm_bhs_set_dlength(uint8_t *bhs, uint32_t len);
/* Bytes of padding after a data segment of `len` bytes (0..3). */
static inline uint32_t idm_pad4(uint32_t len)
{
	return (4 - (len & 3)) & 3;
}
/* Name of an opcode for logs ("SCSI Command", "unknown"). */
const char *idm_opcode_name(uint8_t opcode);
/* True for the opcodes an initiator may send / a target may send. */
bool idm_opcode_is_initiator(uint8_t opcode);
bool idm_opcode_is_target(uint8_t opcode);
/* Does this target PDU (its BHS) consume a StatSN (RFC 7143 11.x)? */
bool idm_bhs_advances_statsn(const uint8_t *bhs);

/* Format / parse a LUN field (SAM-5 single level: flat or peripheral). */
void idm_lun_encode(uint8_t *field, uint64_t lun);
uint64_t idm_lun_decode(const uint8_t *field);

/* CRC32C over iovecs, the iSCSI digest (ISA-L underneath). */
uint32_t idm_crc32c(uint32_t seed, const void *buf, size_t len);
uint32_t idm_digest(const void *buf, size_t len);
uint32_t idm_digest_iov(const struct iovec *iov, int iovcnt);

#endif
