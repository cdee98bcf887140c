/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Login and text key negotiation (RFC 7143 sections 6 and 13, RFC 7144,
 * RFC 7145 section 6).
 *
 * Every key is one row of key_table: how its result is computed, its
 * range, where it may appear and where its outcome lives in struct
 * idm_params. The same handlers serve both roles: a key the peer sends
 * is either an answer to something this side sent (settle it) or an
 * offer / declaration (answer it).
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "idm/keys.h"
#include "idm/pdu.h"

/* How a key's outcome is computed (RFC 7143 section 6.2). */
enum key_type {
	KT_LIST,       /* first value of the offer the answerer supports */
	KT_AND,        /* boolean, result is offer AND answer */
	KT_OR,         /* boolean, result is offer OR answer */
	KT_MIN,        /* numerical, result is the smaller */
	KT_MAX,        /* numerical, result is the larger */
	KT_NUM_DECL,   /* numerical declaration, never answered */
	KT_STR_DECL,   /* string declaration, never answered */
	KT_SESSION,    /* SessionType: a declaration with its own failure code */
	KT_OBS_MARKER, /* OFMarker/IFMarker: obsolete, always answered No */
	KT_OBS_INT,    /* OFMarkInt/IFMarkInt: obsolete, always answered Reject */
	KT_SENDTARGETS /* owned by the discovery code through a hook */
};

/* Where the value lives in struct idm_params. */
enum field_kind { FK_NONE, FK_BOOL, FK_U32, FK_STR, FK_DIGEST, FK_SESSION };

enum key_flags {
	KF_LO = 1 << 0,         /* leading connection only (and login only) */
	KF_IO = 1 << 1,         /* login only, never in a Text exchange */
	KF_SEC = 1 << 2,        /* security stage only */
	KF_NODISC = 1 << 3,     /* Irrelevant in a Discovery session */
	KF_ISER = 1 << 4,       /* Irrelevant unless RDMAExtensions=Yes */
	KF_BY_INI = 1 << 5,     /* the initiator may send it */
	KF_BY_TGT = 1 << 6,     /* the target may send it */
	KF_OFFER = 1 << 7,      /* the initiator offers it in the operational stage */
	KF_DECLARE = 1 << 8,    /* the target declares it in the operational stage */
	KF_ZERO_OK = 1 << 9,    /* 0 (no limit) is valid besides the range */
	KF_AFTER_BOOL = 1 << 10 /* depends on InitialR2T/ImmediateData */
};

#define KF_BOTH (KF_BY_INI | KF_BY_TGT)

struct key_def {
	const char *name;
	enum key_type type;
	enum field_kind field;
	uint16_t flags;
	uint8_t phase;    /* handled after the keys of lower phases in one text */
	uint16_t res_off; /* result field for the peer's or the negotiated value */
	uint16_t own_off; /* local field with our value; result field we declare */
	uint16_t size;    /* size of a string field */
	uint32_t min, max;
	uint32_t ours;      /* our value for keys without a field */
	const char *values; /* list keys: what we can support, preferred first */
};

#define OFF(f) ((uint16_t)offsetof(struct idm_params, f))
#define SZ(f) ((uint16_t)sizeof(((struct idm_params *)0)->f))
#define FIELD(f) .res_off = OFF(f), .own_off = OFF(f), .size = SZ(f)
#define MAX24 16777215u

/* Ids index key_table and the nego bitmaps. */
enum key_id {
	K_HEADER_DIGEST,
	K_DATA_DIGEST,
	K_MAX_CONNECTIONS,
	K_SEND_TARGETS,
	K_TARGET_NAME,
	K_INITIATOR_NAME,
	K_TARGET_ALIAS,
	K_INITIATOR_ALIAS,
	K_TARGET_ADDRESS,
	K_TPGT,
	K_INITIAL_R2T,
	K_IMMEDIATE_DATA,
	K_MRDSL,
	K_MAX_BURST,
	K_FIRST_BURST,
	K_T2WAIT,
	K_T2RETAIN,
	K_MAX_R2T,
	K_PDU_IN_ORDER,
	K_SEQ_IN_ORDER,
	K_ERL,
	K_SESSION_TYPE,
	K_AUTH_METHOD,
	K_OF_MARKER,
	K_IF_MARKER,
	K_OF_MARK_INT,
	K_IF_MARK_INT,
	K_TASK_REPORTING,
	K_PROTOCOL_LEVEL,
	K_RDMA_EXT,
	K_TARGET_RDSL,
	K_INITIATOR_RDSL,
	K_MAX_UNEXPECTED,
	K_COUNT
};

_Static_assert(K_COUNT <= 64, "key bitmaps are 64 bits");

static const struct key_def key_table[K_COUNT] = {
    [K_HEADER_DIGEST] = {"HeaderDigest", KT_LIST, FK_DIGEST, KF_IO | KF_BOTH | KF_OFFER, 1,
                         FIELD(header_digest), .values = "CRC32C,None"},
    [K_DATA_DIGEST] = {"DataDigest", KT_LIST, FK_DIGEST, KF_IO | KF_BOTH | KF_OFFER, 1,
                       FIELD(data_digest), .values = "CRC32C,None"},
    [K_MAX_CONNECTIONS] = {"MaxConnections", KT_MIN, FK_U32,
                           KF_LO | KF_IO | KF_NODISC | KF_BOTH | KF_OFFER, 1,
                           FIELD(max_connections), 1, 65535},
    [K_SEND_TARGETS] = {"SendTargets", KT_SENDTARGETS, FK_NONE, KF_BY_INI, .phase = 1},
    [K_TARGET_NAME] = {"TargetName", KT_STR_DECL, FK_STR, KF_IO | KF_BY_INI, 1, FIELD(target_name)},
    [K_INITIATOR_NAME] = {"InitiatorName", KT_STR_DECL, FK_STR, KF_IO | KF_BY_INI, 1,
                          FIELD(initiator_name)},
    [K_TARGET_ALIAS] = {"TargetAlias", KT_STR_DECL, FK_STR, KF_BY_TGT, 1, FIELD(target_alias)},
    [K_INITIATOR_ALIAS] = {"InitiatorAlias", KT_STR_DECL, FK_STR, KF_BY_INI, 1,
                           FIELD(initiator_alias)},
    [K_TARGET_ADDRESS] = {"TargetAddress", KT_STR_DECL, FK_NONE, KF_BY_TGT, .phase = 1},
    [K_TPGT] = {"TargetPortalGroupTag", KT_NUM_DECL, FK_U32, KF_IO | KF_BY_TGT, 1,
                FIELD(target_portal_group_tag), 0, 65535},
    [K_INITIAL_R2T] = {"InitialR2T", KT_OR, FK_BOOL, KF_LO | KF_IO | KF_NODISC | KF_BOTH | KF_OFFER,
                       1, FIELD(initial_r2t)},
    [K_IMMEDIATE_DATA] = {"ImmediateData", KT_AND, FK_BOOL,
                          KF_LO | KF_IO | KF_NODISC | KF_BOTH | KF_OFFER, 1, FIELD(immediate_data)},
    /* The peer's declaration is what we may send; ours is what we receive. */
    [K_MRDSL] = {"MaxRecvDataSegmentLength", KT_NUM_DECL, FK_U32, KF_BOTH | KF_OFFER | KF_DECLARE,
                 1, .res_off = OFF(max_xmit_dsl), .own_off = OFF(max_recv_dsl), .min = 512,
                 .max = MAX24},
    [K_MAX_BURST] = {"MaxBurstLength", KT_MIN, FK_U32,
                     KF_LO | KF_IO | KF_NODISC | KF_BOTH | KF_OFFER, 1, FIELD(max_burst_length),
                     512, MAX24},
    [K_FIRST_BURST] = {"FirstBurstLength", KT_MIN, FK_U32,
                       KF_LO | KF_IO | KF_NODISC | KF_BOTH | KF_OFFER | KF_AFTER_BOOL, 2,
                       FIELD(first_burst_length), 512, MAX24},
    [K_T2WAIT] = {"DefaultTime2Wait", KT_MAX, FK_U32, KF_LO | KF_IO | KF_BOTH | KF_OFFER, 1,
                  FIELD(default_time2wait), 0, 3600},
    [K_T2RETAIN] = {"DefaultTime2Retain", KT_MIN, FK_U32, KF_LO | KF_IO | KF_BOTH | KF_OFFER, 1,
                    FIELD(default_time2retain), 0, 3600},
    [K_MAX_R2T] = {"MaxOutstandingR2T", KT_MIN, FK_U32,
                   KF_LO | KF_IO | KF_NODISC | KF_BOTH | KF_OFFER, 1, FIELD(max_outstanding_r2t), 1,
                   65535},
    [K_PDU_IN_ORDER] = {"DataPDUInOrder", KT_OR, FK_BOOL,
                        KF_LO | KF_IO | KF_NODISC | KF_BOTH | KF_OFFER, 1,
                        FIELD(data_pdu_in_order)},
    [K_SEQ_IN_ORDER] = {"DataSequenceInOrder", KT_OR, FK_BOOL,
                        KF_LO | KF_IO | KF_NODISC | KF_BOTH | KF_OFFER, 1,
                        FIELD(data_sequence_in_order)},
    [K_ERL] = {"ErrorRecoveryLevel", KT_MIN, FK_U32, KF_LO | KF_IO | KF_BOTH | KF_OFFER, 1,
               FIELD(error_recovery_level), 0, 2},
    [K_SESSION_TYPE] = {"SessionType", KT_SESSION, FK_SESSION, KF_LO | KF_IO | KF_BY_INI, 0,
                        FIELD(session_type)},
    [K_AUTH_METHOD] = {"AuthMethod", KT_LIST, FK_STR, KF_IO | KF_SEC | KF_BOTH, 1,
                       FIELD(auth_method), .values = "None"},
    [K_OF_MARKER] = {"OFMarker", KT_OBS_MARKER, FK_BOOL, KF_IO | KF_BOTH, 1, FIELD(of_marker)},
    [K_IF_MARKER] = {"IFMarker", KT_OBS_MARKER, FK_BOOL, KF_IO | KF_BOTH, 1, FIELD(if_marker)},
    [K_OF_MARK_INT] = {"OFMarkInt", KT_OBS_INT, FK_NONE, KF_IO | KF_BOTH, .phase = 1},
    [K_IF_MARK_INT] = {"IFMarkInt", KT_OBS_INT, FK_NONE, KF_IO | KF_BOTH, .phase = 1},
    /* We implement the RFC 3720 semantics only (no ResponseFence, FastAbort). */
    [K_TASK_REPORTING] = {"TaskReporting", KT_LIST, FK_NONE, KF_LO | KF_IO | KF_NODISC | KF_BOTH, 1,
                          .values = "RFC3720"},
    /* RFC 7144: we implement RFC 7143, level 1. */
    [K_PROTOCOL_LEVEL] = {"iSCSIProtocolLevel", KT_MIN, FK_NONE, KF_IO | KF_BOTH, 1, .min = 0,
                          .max = 31, .ours = 1},
    /* RFC 7145 section 6 */
    [K_RDMA_EXT] = {"RDMAExtensions", KT_AND, FK_BOOL,
                    KF_LO | KF_IO | KF_NODISC | KF_BOTH | KF_OFFER, 1, FIELD(rdma_extensions)},
    /* Negotiated with a minimum function as deployed iSER stacks do. */
    [K_TARGET_RDSL] = {"TargetRecvDataSegmentLength", KT_MIN, FK_U32,
                       KF_IO | KF_ISER | KF_BOTH | KF_OFFER, 2, FIELD(target_rdsl), 512, MAX24},
    [K_INITIATOR_RDSL] = {"InitiatorRecvDataSegmentLength", KT_MIN, FK_U32,
                          KF_IO | KF_ISER | KF_BOTH | KF_OFFER, 2, FIELD(initiator_rdsl), 512,
                          MAX24},
    /* 0 means no limit, so it loses to any number in the minimum. */
    [K_MAX_UNEXPECTED] = {"MaxOutstandingUnexpectedPDUs", KT_MIN, FK_U32,
                          KF_LO | KF_IO | KF_ISER | KF_BOTH | KF_OFFER | KF_ZERO_OK, 2,
                          FIELD(max_outstanding_unexpected_pdus), 2, UINT32_MAX},
};

#define NPHASES 3

/* State of one pass over a received text. */
struct nego_ctx {
	struct idm_nego *n;
	enum idm_nego_stage stage;
	struct idm_textbuf *out;
	int phase;
};

/* ---- parameters ---------------------------------------------------- */

/* RFC 7143 section 13 defaults (RFC 7145 for the iSER keys). */
void idm_params_init(struct idm_params *p)
{
	memset(p, 0, sizeof(*p));
	p->max_recv_dsl = 8192;
	p->max_xmit_dsl = 8192;
	p->max_connections = 1;
	p->initial_r2t = true;
	p->immediate_data = true;
	p->max_burst_length = 262144;
	p->first_burst_length = 65536;
	p->default_time2wait = 2;
	p->default_time2retain = 20;
	p->max_outstanding_r2t = 1;
	p->data_pdu_in_order = true;
	p->data_sequence_in_order = true;
	p->session_type = IDM_SESSION_NORMAL;
	p->target_rdsl = 8192;
	p->initiator_rdsl = 8192;
	snprintf(p->auth_method, sizeof(p->auth_method), "None");
}

static void *field_at(const struct idm_params *p, uint16_t off)
{
	return (char *)p + off;
}

static uint64_t key_bit(const struct key_def *k)
{
	return 1ull << (k - key_table);
}

static const struct key_def *key_find(const char *name)
{
	for (int i = 0; i < K_COUNT; i++) {
		if (!strcmp(key_table[i].name, name)) {
			return &key_table[i];
		}
	}
	return NULL;
}

static bool key_negotiated(const struct key_def *k)
{
	return k->type == KT_LIST || k->type == KT_AND || k->type == KT_OR || k->type == KT_MIN ||
	       k->type == KT_MAX;
}

/* Record a failure: the login status to send and a line for the log. */
static int nego_fail(struct idm_nego *n, uint16_t status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int nego_fail(struct idm_nego *n, uint16_t status, const char *fmt, ...)
{
	va_list ap;

	n->status = status;
	va_start(ap, fmt);
	vsnprintf(n->error, sizeof(n->error), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Append one key=value to the output; every text this engine writes goes here. */
static int emit(struct nego_ctx *c, const char *key, const char *value)
{
	if (!c->out) {
		return nego_fail(c->n, ISCSI_LOGIN_TARGET_ERROR, "no buffer for %s", key);
	}
	if (idm_textbuf_add(c->out, key, value)) {
		c->n->status = ISCSI_LOGIN_OUT_OF_RESOURCES;
		snprintf(c->n->error, sizeof(c->n->error), "out of memory");
		return -ENOMEM;
	}
	return 0;
}

/* ---- value formats (RFC 7143 section 6.1) ------------------------- */

static int b64_digit(char c)
{
	if (c >= 'A' && c <= 'Z') {
		return c - 'A';
	}
	if (c >= 'a' && c <= 'z') {
		return c - 'a' + 26;
	}
	if (c >= '0' && c <= '9') {
		return c - '0' + 52;
	}
	return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* A base64 constant ("0b...") of at most 8 bytes, big-endian. */
static int parse_base64(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	size_t bits = 0, len = strlen(s), pad = 0;

	while (len > 0 && s[len - 1] == '=' && pad < 2) {
		len--;
		pad++;
	}
	if (len == 0 || (len + pad) % 4 != 0) {
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i++) {
		int d = b64_digit(s[i]);

		if (d < 0) {
			return -EINVAL;
		}
		bits += 6;
		if (bits > 64 + 6 || (bits > 64 && (v >> 58))) {
			return -ERANGE;
		}
		v = (v << 6) | (uint64_t)d;
	}
	*out = v >> (bits % 8); /* drop the filler bits of the last group */
	return 0;
}

static int parse_digits(const char *s, unsigned base, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s) {
		return -EINVAL;
	}
	for (; *s; s++) {
		unsigned d;

		if (*s >= '0' && *s <= '9') {
			d = (unsigned)(*s - '0');
		} else if (base == 16 && *s >= 'a' && *s <= 'f') {
			d = (unsigned)(*s - 'a' + 10);
		} else if (base == 16 && *s >= 'A' && *s <= 'F') {
			d = (unsigned)(*s - 'A' + 10);
		} else {
			return -EINVAL;
		}
		if (v > (UINT64_MAX - d) / base) {
			return -ERANGE;
		}
		v = v * base + d;
	}
	*out = v;
	return 0;
}

int idm_key_parse_number(const char *s, uint64_t *out)
{
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		return parse_digits(s + 2, 16, out);
	}
	if (s[0] == '0' && (s[1] == 'b' || s[1] == 'B')) {
		return parse_base64(s + 2, out);
	}
	return parse_digits(s, 10, out);
}

/* A number within the key's range. */
static int parse_ranged(const struct key_def *k, const char *s, uint32_t *out)
{
	uint64_t v;
	int rc = idm_key_parse_number(s, &v);

	if (rc) {
		return rc;
	}
	if (!(v == 0 && (k->flags & KF_ZERO_OK)) && (v < k->min || v > k->max)) {
		return -ERANGE;
	}
	*out = (uint32_t)v;
	return 0;
}

static int parse_bool(const char *s, bool *out)
{
	if (!strcmp(s, "Yes")) {
		*out = true;
		return 0;
	}
	if (!strcmp(s, "No")) {
		*out = false;
		return 0;
	}
	return -EINVAL;
}

/* The answers that are not values (RFC 7143 section 6.2). */
static bool is_special(const char *s)
{
	return !strcmp(s, "Reject") || !strcmp(s, "Irrelevant") || !strcmp(s, "NotUnderstood");
}

/* Is `item` (of length len) one of the comma-separated `list`? */
static bool list_has(const char *list, const char *item, size_t len)
{
	while (*list) {
		size_t l = strcspn(list, ",");

		if (l == len && !strncmp(list, item, len)) {
			return true;
		}
		list += l + (list[l] == ',');
	}
	return false;
}

/*
 * First value of the offered list that `ours` supports, copied to `out`.
 * -EINVAL for a malformed list, -ENOENT when nothing is common.
 */
static int list_select(const char *offer, const char *ours, char *out, size_t cap)
{
	const char *p = offer;

	for (;;) {
		size_t l = strcspn(p, ",");

		if (l == 0 || l > 255) {
			return -EINVAL;
		}
		if (list_has(ours, p, l) && l < cap) {
			memcpy(out, p, l);
			out[l] = '\0';
			return 0;
		}
		if (!p[l]) {
			return -ENOENT;
		}
		p += l + 1;
	}
}

/* ---- our side's values --------------------------------------------- */

static bool local_bool(const struct idm_nego *n, const struct key_def *k)
{
	if (k == &key_table[K_RDMA_EXT]) {
		return n->iser || n->local.rdma_extensions;
	}
	return *(const bool *)field_at(&n->local, k->own_off);
}

static uint32_t local_u32(const struct idm_nego *n, const struct key_def *k)
{
	uint32_t v;

	if (k->field == FK_NONE) {
		return k->ours;
	}
	v = *(const uint32_t *)field_at(&n->local, k->own_off);
	if (k == &key_table[K_FIRST_BURST] && v > n->local.max_burst_length) {
		v = n->local.max_burst_length; /* FirstBurstLength <= MaxBurstLength */
	}
	return v;
}

/* The values we support for a list key, preferred first. */
static const char *local_list(const struct idm_nego *n, const struct key_def *k)
{
	if (k->field == FK_DIGEST) {
		return local_bool(n, k) ? "CRC32C,None" : "None";
	}
	if (k->field == FK_STR) {
		const char *s = field_at(&n->local, k->own_off);

		return *s ? s : k->values;
	}
	return k->values;
}

/* Our value of any key as text. */
static void local_text(const struct idm_nego *n, const struct key_def *k, char *buf, size_t cap)
{
	switch (k->type) {
	case KT_LIST:
		snprintf(buf, cap, "%s", local_list(n, k));
		break;
	case KT_AND:
	case KT_OR:
		snprintf(buf, cap, "%s", local_bool(n, k) ? "Yes" : "No");
		break;
	case KT_SESSION:
		snprintf(buf, cap, "%s",
		         n->local.session_type == IDM_SESSION_DISCOVERY ? "Discovery" : "Normal");
		break;
	case KT_STR_DECL:
		snprintf(buf, cap, "%s", (const char *)field_at(&n->local, k->own_off));
		break;
	default:
		snprintf(buf, cap, "%u", local_u32(n, k));
		break;
	}
}

/* ---- storing outcomes ---------------------------------------------- */

/* Put a checked value of key k into the result field at `off`. */
static int store_value(struct idm_nego *n, const struct key_def *k, uint16_t off, const char *v)
{
	void *f = field_at(n->result, off);
	uint32_t u;
	bool b;

	switch (k->field) {
	case FK_NONE:
		return 0;
	case FK_DIGEST:
		if (strcmp(v, "CRC32C") && strcmp(v, "None")) {
			return -EINVAL;
		}
		*(bool *)f = !strcmp(v, "CRC32C");
		return 0;
	case FK_BOOL:
		if (parse_bool(v, &b)) {
			return -EINVAL;
		}
		*(bool *)f = b;
		return 0;
	case FK_U32:
		if (parse_ranged(k, v, &u)) {
			return -EINVAL;
		}
		*(uint32_t *)f = u;
		return 0;
	case FK_SESSION:
		if (strcmp(v, "Discovery") && strcmp(v, "Normal")) {
			return -EINVAL;
		}
		*(enum idm_session_type *)f =
		    !strcmp(v, "Discovery") ? IDM_SESSION_DISCOVERY : IDM_SESSION_NORMAL;
		return 0;
	case FK_STR:
		if (!*v || strlen(v) >= k->size) {
			return -EINVAL;
		}
		memcpy(f, v, strlen(v) + 1);
		return 0;
	}
	return -EINVAL;
}

/* Back to the RFC default, for a key the peer refused. */
static void restore_default(struct idm_nego *n, const struct key_def *k, uint16_t off)
{
	struct idm_params d;

	if (k->field == FK_NONE) {
		return;
	}
	idm_params_init(&d);
	memcpy(field_at(n->result, off), field_at(&d, off),
	       k->field == FK_STR       ? k->size
	       : k->field == FK_U32     ? sizeof(uint32_t)
	       : k->field == FK_SESSION ? sizeof(enum idm_session_type)
	                                : sizeof(bool));
}

static int store_bool(struct idm_nego *n, const struct key_def *k, bool v)
{
	return store_value(n, k, k->res_off, v ? "Yes" : "No");
}

static int store_u32(struct idm_nego *n, const struct key_def *k, uint32_t v)
{
	char buf[16];

	snprintf(buf, sizeof(buf), "%u", v);
	return store_value(n, k, k->res_off, buf);
}

/* ---- where a key may appear ---------------------------------------- */

static bool peer_may_send(const struct idm_nego *n, const struct key_def *k)
{
	return k->flags & (n->role == IDM_ROLE_TARGET ? KF_BY_INI : KF_BY_TGT);
}

/* Keys whose value does not matter here (answered Irrelevant). */
static bool key_irrelevant(const struct idm_nego *n, const struct key_def *k)
{
	const struct idm_params *r = n->result;

	if ((k->flags & KF_LO) && !n->leading) {
		return true;
	}
	if ((k->flags & KF_NODISC) && r->session_type == IDM_SESSION_DISCOVERY) {
		return true;
	}
	if ((k->flags & KF_ISER) && !r->rdma_extensions) {
		return true;
	}
	return (k->flags & KF_AFTER_BOOL) && r->initial_r2t && !r->immediate_data;
}

/*
 * Keys not worth offering on this connection: the initiator decides from
 * its own wishes, which bound the outcome of the negotiation.
 */
static bool offer_irrelevant(const struct idm_nego *n, const struct key_def *k)
{
	const struct idm_params *l = &n->local;

	if ((k->flags & KF_LO) && !n->leading) {
		return true;
	}
	if ((k->flags & KF_NODISC) && l->session_type == IDM_SESSION_DISCOVERY) {
		return true;
	}
	if ((k->flags & KF_ISER) || k == &key_table[K_RDMA_EXT]) {
		return !(n->iser || l->rdma_extensions);
	}
	return (k->flags & KF_AFTER_BOOL) && l->initial_r2t && !l->immediate_data;
}

/* Security keys of the authentication methods (RFC 7143 section 12). */
static bool security_key(const char *key, const struct key_def *k)
{
	static const char *const prefixes[] = {"CHAP_", "SRP_", "KRB_", "SPKM_"};

	if (k) {
		return k->flags & KF_SEC;
	}
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		if (!strncmp(key, prefixes[i], strlen(prefixes[i]))) {
			return true;
		}
	}
	return false;
}

/* ---- answering what the peer offered or declared ------------------- */

static void settle(struct idm_nego *n, const struct key_def *k)
{
	n->sent |= key_bit(k);
	n->settled |= key_bit(k);
}

static int answer_text(struct nego_ctx *c, const struct key_def *k, const char *v)
{
	settle(c->n, k);
	return emit(c, k->name, v);
}

static int respond_list(struct nego_ctx *c, const struct key_def *k, const char *v)
{
	char pick[256];

	if (list_select(v, local_list(c->n, k), pick, sizeof(pick))) {
		return answer_text(c, k, "Reject");
	}
	store_value(c->n, k, k->res_off, pick);
	return answer_text(c, k, pick);
}

/*
 * AND with an offered No, or OR with an offered Yes, is settled by the
 * offer alone: no answer is needed (RFC 7143 section 6.2.2).
 */
static bool bool_determined(const struct key_def *k, bool offer)
{
	return k->type == KT_AND ? !offer : offer;
}

static int respond_bool(struct nego_ctx *c, const struct key_def *k, const char *v)
{
	bool offer, res;

	if (parse_bool(v, &offer)) {
		return answer_text(c, k, "Reject");
	}
	res = k->type == KT_AND ? offer && local_bool(c->n, k) : offer || local_bool(c->n, k);
	store_bool(c->n, k, res);
	if (bool_determined(k, offer)) {
		c->n->settled |= key_bit(k);
		return 0;
	}
	return answer_text(c, k, res ? "Yes" : "No");
}

/* Outcome of a numerical negotiation between two values of key k. */
static uint32_t num_result(const struct key_def *k, uint32_t a, uint32_t b)
{
	if (k->type == KT_MAX) {
		return a > b ? a : b;
	}
	if ((k->flags & KF_ZERO_OK) && (a == 0 || b == 0)) {
		return a ? a : b;
	}
	return a < b ? a : b;
}

static int respond_minmax(struct nego_ctx *c, const struct key_def *k, const char *v)
{
	uint32_t offer, ours = local_u32(c->n, k), res;
	char buf[16];

	if (parse_ranged(k, v, &offer)) {
		return answer_text(c, k, "Reject");
	}
	res = num_result(k, offer, ours);
	if (k == &key_table[K_FIRST_BURST] && res > c->n->result->max_burst_length) {
		res = c->n->result->max_burst_length;
	}
	store_u32(c->n, k, res);
	snprintf(buf, sizeof(buf), "%u", res);
	return answer_text(c, k, buf);
}

/* A declaration needs no answer unless its value is unusable. */
static int respond_decl(struct nego_ctx *c, const struct key_def *k, const char *v)
{
	uint32_t u;

	if (k->type == KT_NUM_DECL ? parse_ranged(k, v, &u) != 0
	                           : (!*v || (k->field == FK_STR && strlen(v) >= k->size))) {
		return answer_text(c, k, "Reject");
	}
	c->n->settled |= key_bit(k);
	store_value(c->n, k, k->res_off, v);
	return 0;
}

static int respond_session(struct nego_ctx *c, const struct key_def *k, const char *v)
{
	if (store_value(c->n, k, k->res_off, v)) {
		return nego_fail(c->n, ISCSI_LOGIN_SESSION_TYPE_UNSUPPORTED,
		                 "SessionType=%.40s not supported", v);
	}
	c->n->settled |= key_bit(k);
	return 0;
}

/* RFC 7143 section 13.26: obsolete keys are never NotUnderstood. */
static int respond_obsolete(struct nego_ctx *c, const struct key_def *k, const char *v)
{
	if (k->type == KT_OBS_MARKER) {
		store_bool(c->n, k, false);
		return answer_text(c, k, "No");
	}
	return answer_text(c, k, "Reject");
}

static int respond_key(struct nego_ctx *c, const struct key_def *k, const char *v)
{
	switch (k->type) {
	case KT_LIST:
		return respond_list(c, k, v);
	case KT_AND:
	case KT_OR:
		return respond_bool(c, k, v);
	case KT_MIN:
	case KT_MAX:
		return respond_minmax(c, k, v);
	case KT_NUM_DECL:
	case KT_STR_DECL:
		return respond_decl(c, k, v);
	case KT_SESSION:
		return respond_session(c, k, v);
	case KT_OBS_MARKER:
	case KT_OBS_INT:
		return respond_obsolete(c, k, v);
	case KT_SENDTARGETS:
		break;
	}
	return answer_text(c, k, "Irrelevant");
}

/* ---- settling answers to what we sent ------------------------------ */

static int bad_answer(struct nego_ctx *c, const struct key_def *k, const char *v)
{
	return nego_fail(c->n, ISCSI_LOGIN_INITIATOR_ERROR, "%s=%.40s is not a valid answer",
	                 k->name, v);
}

static int accept_list(struct nego_ctx *c, const struct key_def *k, const char *v)
{
	if (strchr(v, ',') || !list_has(local_list(c->n, k), v, strlen(v))) {
		return bad_answer(c, k, v);
	}
	return store_value(c->n, k, k->res_off, v) ? bad_answer(c, k, v) : 0;
}

static int accept_bool(struct nego_ctx *c, const struct key_def *k, const char *v)
{
	bool offer = local_bool(c->n, k), ans;

	if (parse_bool(v, &ans)) {
		return bad_answer(c, k, v);
	}
	if (bool_determined(k, offer) && ans != offer) {
		return bad_answer(c, k, v);
	}
	return store_bool(c->n, k, ans);
}

static int accept_minmax(struct nego_ctx *c, const struct key_def *k, const char *v)
{
	uint32_t offer = local_u32(c->n, k), ans;

	if (parse_ranged(k, v, &ans)) {
		return bad_answer(c, k, v);
	}
	if (num_result(k, offer, ans) != ans) { /* e.g. a minimum above our offer */
		return bad_answer(c, k, v);
	}
	store_u32(c->n, k, ans);
	return 0;
}

/* The peer answered a key we offered. */
static int accept_answer(struct nego_ctx *c, const struct key_def *k, const char *v)
{
	c->n->settled |= key_bit(k);
	if (k->type == KT_LIST) {
		return accept_list(c, k, v);
	}
	if (k->type == KT_AND || k->type == KT_OR) {
		return accept_bool(c, k, v);
	}
	return accept_minmax(c, k, v);
}

/* Reject, Irrelevant or NotUnderstood: only valid for a key we sent. */
static int accept_special(struct nego_ctx *c, const struct key_def *k, const char *v)
{
	if (!(c->n->sent & key_bit(k))) {
		return nego_fail(c->n, ISCSI_LOGIN_INITIATOR_ERROR, "%s=%s answers nothing",
		                 k->name, v);
	}
	c->n->settled |= key_bit(k);
	restore_default(c->n, k, k->type == KT_NUM_DECL ? k->own_off : k->res_off);
	return 0;
}

/* ---- one received key ---------------------------------------------- */

/* Let the hooks see the key first. Returns 1 when none claimed it. */
static int run_hooks(struct nego_ctx *c, const struct key_def *k, const char *key,
                     const char *value)
{
	struct idm_nego *n = c->n;
	char answer[IDM_VALUE_MAX + 1];

	for (int i = 0; i < n->nhooks; i++) {
		enum idm_hook_result r;

		answer[0] = '\0';
		r = n->hooks[i].key(n->hooks[i].arg, key, value, answer, sizeof(answer));
		if (r == IDM_HOOK_PASS) {
			continue;
		}
		if (r == IDM_HOOK_FAIL) {
			return nego_fail(n, ISCSI_LOGIN_INITIATOR_ERROR, "%s=%.40s refused", key,
			                 value);
		}
		if (k) {
			n->settled |= key_bit(k);
			n->sent |= r == IDM_HOOK_ANSWERED ? key_bit(k) : 0;
			store_value(n, k, k->res_off, r == IDM_HOOK_ANSWERED ? answer : value);
		}
		return r == IDM_HOOK_ANSWERED ? emit(c, key, answer) : 0;
	}
	return 1;
}

static int handle_unknown(struct nego_ctx *c, const char *key, const char *value)
{
	if (is_special(value)) {
		return 0; /* an answer to nothing we know: nothing to say */
	}
	return emit(c, key, "NotUnderstood");
}

static int handle_known(struct nego_ctx *c, const struct key_def *k, const char *v)
{
	struct idm_nego *n = c->n;

	if (is_special(v)) {
		return accept_special(c, k, v);
	}
	if (key_negotiated(k) && (n->sent & key_bit(k))) {
		return accept_answer(c, k, v);
	}
	if (!peer_may_send(n, k) || (c->stage == IDM_NEGO_FFP && (k->flags & KF_IO))) {
		return answer_text(c, k, "Reject");
	}
	if (key_irrelevant(n, k)) {
		return answer_text(c, k, "Irrelevant");
	}
	return respond_key(c, k, v);
}

/* idm_kv_fn for one pass: handle the keys that belong to this phase. */
static int handle_key(void *arg, const char *key, const char *value)
{
	struct nego_ctx *c = arg;
	struct idm_nego *n = c->n;
	const struct key_def *k = key_find(key);
	int rc;

	if ((k ? k->phase : 1) != c->phase) {
		return 0;
	}
	if (security_key(key, k) && c->stage != IDM_NEGO_SECURITY) {
		return nego_fail(n, ISCSI_LOGIN_INITIATOR_ERROR, "%s outside the security stage",
		                 key);
	}
	if (k && (n->received & key_bit(k))) {
		return nego_fail(n, ISCSI_LOGIN_INITIATOR_ERROR, "%s sent twice", key);
	}
	if (k) {
		n->received |= key_bit(k);
	}
	rc = run_hooks(c, k, key, value);
	if (rc != 1) {
		return rc;
	}
	return k ? handle_known(c, k, value) : handle_unknown(c, key, value);
}

/* Keep the result consistent whatever the order keys arrived in. */
static void fix_result(struct idm_params *r)
{
	if (r->first_burst_length > r->max_burst_length) {
		r->first_burst_length = r->max_burst_length;
	}
}

/* Both roles: handle every key of a received text, phase by phase. */
static int nego_receive(struct idm_nego *n, enum idm_nego_stage stage, const char *text, size_t len,
                        struct idm_textbuf *out)
{
	struct nego_ctx c = {.n = n, .stage = stage, .out = out};
	int rc = 0;

	for (c.phase = 0; c.phase < NPHASES && !rc; c.phase++) {
		rc = idm_kv_parse(text, len, handle_key, &c);
	}
	fix_result(n->result);
	if (rc && !n->status) {
		n->status =
		    rc == -ENOMEM ? ISCSI_LOGIN_OUT_OF_RESOURCES : ISCSI_LOGIN_INITIATOR_ERROR;
		snprintf(n->error, sizeof(n->error), "%s",
		         rc == -ENOMEM ? "out of memory" : "malformed key=value text");
	}
	return rc;
}

/* ---- public entry points ------------------------------------------- */

void idm_nego_init(struct idm_nego *n, enum idm_role role, bool leading,
                   const struct idm_params *local, struct idm_params *result)
{
	memset(n, 0, sizeof(*n));
	n->role = role;
	n->leading = leading;
	n->local = *local;
	n->iser = local->rdma_extensions;
	n->result = result;
	idm_params_init(result);
}

void idm_nego_add_hook(struct idm_nego *n, const struct idm_nego_hook *hook)
{
	if (n->nhooks < (int)(sizeof(n->hooks) / sizeof(n->hooks[0]))) {
		n->hooks[n->nhooks++] = *hook;
	}
}

int idm_nego_respond(struct idm_nego *n, enum idm_nego_stage stage, const char *req, size_t len,
                     struct idm_textbuf *resp)
{
	return nego_receive(n, stage, req, len, resp);
}

int idm_nego_process(struct idm_nego *n, enum idm_nego_stage stage, const char *rsp, size_t len,
                     struct idm_textbuf *out)
{
	return nego_receive(n, stage, rsp, len, out);
}

/*
 * Send our value of key k (an offer or a declaration), once. A
 * declaration, or a boolean our offer alone decides, is settled at once.
 */
static int send_key(struct nego_ctx *c, const struct key_def *k)
{
	struct idm_nego *n = c->n;
	char v[IDM_NAME_MAX + 32];

	if (n->sent & key_bit(k)) {
		return 0;
	}
	local_text(n, k, v, sizeof(v));
	if (!key_negotiated(k)) {
		store_value(n, k, k->own_off, v);
		n->settled |= key_bit(k);
	} else if ((k->type == KT_AND || k->type == KT_OR) &&
	           bool_determined(k, local_bool(n, k))) {
		store_value(n, k, k->res_off, v);
		n->settled |= key_bit(k);
	}
	n->sent |= key_bit(k);
	return emit(c, k->name, v);
}

/* Send every key carrying `flag` that matters on this connection. */
static int send_flagged(struct nego_ctx *c, uint16_t flag)
{
	int rc = 0;

	for (int i = 0; i < K_COUNT && !rc; i++) {
		const struct key_def *k = &key_table[i];

		bool skip = c->n->role == IDM_ROLE_INITIATOR ? offer_irrelevant(c->n, k)
		                                             : key_irrelevant(c->n, k);

		if (!(k->flags & flag) || skip) {
			continue;
		}
		rc = send_key(c, k);
	}
	return rc;
}

/* The declarations of the first Login Request (RFC 7143 section 6.3). */
static int offer_identity(struct nego_ctx *c)
{
	const struct idm_params *l = &c->n->local;
	int rc = send_key(c, &key_table[K_INITIATOR_NAME]);

	if (!rc && l->initiator_alias[0]) {
		rc = send_key(c, &key_table[K_INITIATOR_ALIAS]);
	}
	if (!rc && c->n->leading) {
		rc = send_key(c, &key_table[K_SESSION_TYPE]);
	}
	if (!rc && l->session_type == IDM_SESSION_NORMAL) {
		rc = send_key(c, &key_table[K_TARGET_NAME]);
	}
	return rc;
}

int idm_nego_offer(struct idm_nego *n, enum idm_nego_stage stage, struct idm_textbuf *out)
{
	struct nego_ctx c = {.n = n, .stage = stage, .out = out};
	int rc = 0;

	if (stage == IDM_NEGO_FFP) {
		return 0;
	}
	if (!(n->sent & key_bit(&key_table[K_INITIATOR_NAME]))) {
		rc = offer_identity(&c);
		/* the result must say what kind of session this is from now on */
		n->result->session_type = n->local.session_type;
	}
	if (!rc && stage == IDM_NEGO_SECURITY) {
		rc = send_key(&c, &key_table[K_AUTH_METHOD]);
	}
	if (!rc && stage == IDM_NEGO_OPERATIONAL) {
		rc = send_flagged(&c, KF_OFFER);
	}
	return rc;
}

int idm_nego_finish_stage(struct idm_nego *n, enum idm_nego_stage stage, struct idm_textbuf *resp)
{
	struct nego_ctx c = {.n = n, .stage = stage, .out = resp};
	int rc = 0;

	if (stage == IDM_NEGO_FFP) {
		return 0;
	}
	if (n->result->session_type == IDM_SESSION_NORMAL && n->local.target_portal_group_tag) {
		rc = send_key(&c, &key_table[K_TPGT]);
	}
	if (!rc && n->local.target_alias[0]) {
		rc = send_key(&c, &key_table[K_TARGET_ALIAS]);
	}
	if (!rc && stage == IDM_NEGO_OPERATIONAL) {
		rc = send_flagged(&c, KF_DECLARE);
	}
	return rc;
}

bool idm_nego_complete(const struct idm_nego *n)
{
	uint64_t pending = 0;

	for (int i = 0; i < K_COUNT; i++) {
		if (key_negotiated(&key_table[i])) {
			pending |= 1ull << i;
		}
	}
	return (n->sent & pending & ~n->settled) == 0;
}

int idm_nego_check_required(struct idm_nego *n)
{
	if (!n->result->initiator_name[0]) {
		return nego_fail(n, ISCSI_LOGIN_MISSING_PARAMETER, "InitiatorName missing");
	}
	if (n->result->session_type == IDM_SESSION_NORMAL && !n->result->target_name[0]) {
		return nego_fail(n, ISCSI_LOGIN_MISSING_PARAMETER, "TargetName missing");
	}
	return 0;
}
