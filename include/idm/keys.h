/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Login and text key negotiation (RFC 7143 sections 6 and 13).
 *
 * One table describes every key: its type and result function (list,
 * boolean AND/OR, numerical min/max, declarative), range, scope
 * (leading-only, session-wide, connection-only) and the stages where it
 * may appear. One engine serves both roles:
 *   - the target answers the keys it receives (idm_nego_respond),
 *   - the initiator offers keys (idm_nego_offer) and processes the
 *     answers and any keys the target offers (idm_nego_process).
 * The outcome lands in struct idm_params, which the datamover reads.
 *
 * A transport may see each key before the engine (iSER owns
 * RDMAExtensions and forces digests to None): see idm_nego_hook.
 */
#ifndef IDM_KEYS_H
#define IDM_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IDM_NAME_MAX 224   /* iSCSI names are at most 223 bytes + NUL */
#define IDM_VALUE_MAX 8192 /* longest key value we accept (CHAP_C, ...) */
#define IDM_KEY_NAME_MAX 64

enum idm_role { IDM_ROLE_TARGET, IDM_ROLE_INITIATOR };

enum idm_session_type { IDM_SESSION_NORMAL, IDM_SESSION_DISCOVERY };

/* Operational parameters, initialised to the RFC defaults by idm_params_init. */
struct idm_params {
	/* connection scope */
	bool header_digest;         /* CRC32C when true */
	bool data_digest;
	uint32_t max_recv_dsl;      /* what this side receives (it declared it) */
	uint32_t max_xmit_dsl;      /* what the peer receives (peer declared) */
	bool of_marker;
	bool if_marker;
	/* session scope */
	uint32_t max_connections;
	bool initial_r2t;
	bool immediate_data;
	uint32_t max_burst_length;
	uint32_t first_burst_length;
	uint32_t default_time2wait;
	uint32_t default_time2retain;
	uint32_t max_outstanding_r2t;
	bool data_pdu_in_order;
	bool data_sequence_in_order;
	uint32_t error_recovery_level;
	enum idm_session_type session_type;
	char target_name[IDM_NAME_MAX];
	char initiator_name[IDM_NAME_MAX];
	char target_alias[256];
	char initiator_alias[256];
	uint32_t target_portal_group_tag;
	/* iSER (RFC 7145) */
	bool rdma_extensions;
	uint32_t target_rdsl;
	uint32_t initiator_rdsl;
	uint32_t max_outstanding_unexpected_pdus;
	/* security: the method both sides settled on ("None", "CHAP") */
	char auth_method[16];
};

/* Fill with RFC 7143 defaults (MaxRecvDataSegmentLength 8192, ...). */
void idm_params_init(struct idm_params *p);

/* A growable "key=value\0key=value\0" buffer. */
struct idm_textbuf {
	char *buf;
	size_t len;
	size_t cap;
	bool overflow; /* set when an append failed for lack of memory */
};

void idm_textbuf_init(struct idm_textbuf *t);
void idm_textbuf_free(struct idm_textbuf *t);
void idm_textbuf_reset(struct idm_textbuf *t);
/* Append "key=value\0". Returns 0 or -ENOMEM. */
int idm_textbuf_add(struct idm_textbuf *t, const char *key, const char *value);
int idm_textbuf_addf(struct idm_textbuf *t, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Split received text into key=value pairs and call `fn` for each, in
 * order. Returns 0, the first non-zero value `fn` returned, or -EINVAL for
 * malformed text (no '=', empty or over-long name, value over
 * IDM_VALUE_MAX, a key repeated). A trailing NUL is optional.
 * TargetName, TargetAddress and TargetAlias may repeat (a SendTargets
 * response lists many targets); the engine refuses their repeats in a login.
 */
typedef int (*idm_kv_fn)(void *arg, const char *key, const char *value);
int idm_kv_parse(const char *text, size_t len, idm_kv_fn fn, void *arg);

/*
 * An RFC 7143 numerical value: decimal, hex (0x...) or base64 (0b...)
 * constant. Returns 0, -EINVAL for malformed text or -ERANGE on overflow.
 */
int idm_key_parse_number(const char *s, uint64_t *out);

/* What a hook did with a key. */
enum idm_hook_result {
	IDM_HOOK_PASS,    /* not mine: let the engine negotiate it */
	IDM_HOOK_ANSWERED, /* answer written into `answer` */
	IDM_HOOK_NOTED,   /* consumed; nothing to answer (a declared value) */
	IDM_HOOK_FAIL,    /* the value is unacceptable: fail the login */
};

/*
 * Keys a layer above or below the engine owns: the transport (iSER keys),
 * the authentication module (AuthMethod values, CHAP_*). Called for
 * every received key before the engine looks at it.
 */
struct idm_nego_hook {
	enum idm_hook_result (*key)(void *arg, const char *key, const char *value,
				    char *answer, size_t answer_cap);
	void *arg;
};

enum idm_nego_stage { IDM_NEGO_SECURITY, IDM_NEGO_OPERATIONAL, IDM_NEGO_FFP };

/* Negotiation state of one connection's login (or a text exchange). */
struct idm_nego {
	enum idm_role role;
	bool leading;             /* leading connection: LO keys allowed */
	bool iser;                /* RDMAExtensions=Yes is offered/accepted */
	struct idm_params local;  /* what this side wants / supports */
	struct idm_params *result; /* outcome, starts at RFC defaults */
	struct idm_nego_hook hooks[2];
	int nhooks;
	uint64_t sent;            /* bitmap by key id: offered or answered */
	uint64_t received;        /* bitmap by key id: seen from the peer */
	uint64_t settled;         /* bitmap by key id: negotiation complete */
	uint16_t status;          /* enum idm_login_status of a failure */
	char error[128];          /* human text for the log */
};

/*
 * Start a negotiation. `local` holds this side's wishes; `result` gets the
 * outcome and is reset to RFC defaults.
 */
void idm_nego_init(struct idm_nego *n, enum idm_role role, bool leading,
		   const struct idm_params *local, struct idm_params *result);
void idm_nego_add_hook(struct idm_nego *n, const struct idm_nego_hook *hook);

/*
 * Target: answer every key in `req` (one Login or Text Request's data,
 * already reassembled across C-bit continuations), appending the answers
 * to `resp`. Unknown keys are answered NotUnderstood, keys out of place
 * Irrelevant, malformed values Reject. Returns 0, or a negative errno
 * with n->status set to the login status class/detail to send.
 */
int idm_nego_respond(struct idm_nego *n, enum idm_nego_stage stage, const char *req,
		     size_t len, struct idm_textbuf *resp);

/*
 * Target: append the keys the target must still declare or offer before
 * leaving `stage` (for example its MaxRecvDataSegmentLength, or
 * TargetPortalGroupTag on the first response). Safe to call repeatedly.
 */
int idm_nego_finish_stage(struct idm_nego *n, enum idm_nego_stage stage,
			  struct idm_textbuf *resp);

/* Initiator: append the keys to offer in `stage`. */
int idm_nego_offer(struct idm_nego *n, enum idm_nego_stage stage, struct idm_textbuf *out);

/*
 * Initiator: process the target's response text. Answers to our offers
 * settle keys; keys the target offers are answered into `out`.
 * Returns 0 or a negative errno with n->status set.
 */
int idm_nego_process(struct idm_nego *n, enum idm_nego_stage stage, const char *rsp,
		     size_t len, struct idm_textbuf *out);

/*
 * Target, after the first Login Request: RFC 7143 requires InitiatorName,
 * and TargetName for a Normal session. Returns 0, or -EINVAL with
 * n->status = ISCSI_LOGIN_MISSING_PARAMETER.
 */
int idm_nego_check_required(struct idm_nego *n);

/* True when every key this side offered has an answer. */
bool idm_nego_complete(const struct idm_nego *n);

#endif
