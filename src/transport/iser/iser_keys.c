/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * iSER's login-key rules (RFC 7145 section 6 and ISER.md):
 *   RDMAExtensions            must end Yes (a No offer is countered Yes)
 *   Target/InitiatorRecvDataSegmentLength
 *                             declarative, 512..2^24-1, default 8192
 *   MaxOutstandingUnexpectedPDUs
 *                             declarative, 0 (no limit) or 2..2^32-1
 *   HeaderDigest, DataDigest  None: the RCaP already protects the data
 *   OFMarker, IFMarker        No (obsolete)
 *   MaxRecvDataSegmentLength  not used once RDMAExtensions=Yes
 * A value out of range is a login failure, never a silent clamp.
 */
#include "transport/iser/iser_keys.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum iser_key_id {
	IK_RDMA_EXT,
	IK_TARGET_RDSL,
	IK_INITIATOR_RDSL,
	IK_MAX_UNEXPECTED,
	IK_DIGEST,
	IK_MARKER,
	IK_MRDSL,
	IK_NONE,
};

static const struct {
	const char *name;
	enum iser_key_id id;
} iser_key_table[] = {
    {"RDMAExtensions", IK_RDMA_EXT},
    {"TargetRecvDataSegmentLength", IK_TARGET_RDSL},
    {"InitiatorRecvDataSegmentLength", IK_INITIATOR_RDSL},
    {"MaxOutstandingUnexpectedPDUs", IK_MAX_UNEXPECTED},
    {"HeaderDigest", IK_DIGEST},
    {"DataDigest", IK_DIGEST},
    {"OFMarker", IK_MARKER},
    {"IFMarker", IK_MARKER},
    {"MaxRecvDataSegmentLength", IK_MRDSL},
};

/* Which of our keys `key` is, or IK_NONE. */
static enum iser_key_id lookup(const char *key)
{
	for (size_t i = 0; i < sizeof(iser_key_table) / sizeof(iser_key_table[0]); i++) {
		if (strcmp(key, iser_key_table[i].name) == 0) {
			return iser_key_table[i].id;
		}
	}
	return IK_NONE;
}

/* Clamp a receive limit into the range RFC 7145 allows. */
static uint32_t clamp_rdsl(uint32_t v)
{
	if (v < ISER_RDSL_MIN) {
		return ISER_RDSL_MIN;
	}
	return v > ISER_RDSL_MAX ? ISER_RDSL_MAX : v;
}

void iser_key_state_init(struct iser_key_state *st, enum idm_role role, bool leading,
                         uint32_t own_rdsl_max)
{
	memset(st, 0, sizeof(*st));
	st->role = role;
	st->leading = leading;
	st->rdma_ext = !leading; /* the leading login already settled it */
	st->own_rdsl_max = clamp_rdsl(own_rdsl_max);
	st->target_rdsl = ISER_RDSL_DEFAULT;
	st->initiator_rdsl = ISER_RDSL_DEFAULT;
	st->max_unexpected = 0;
}

/* Write the answer value; an answer that does not fit fails the login. */
static enum idm_hook_result answer_with(char *answer, size_t cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(answer, cap, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= cap ? IDM_HOOK_FAIL : IDM_HOOK_ANSWERED;
}

/*
 * RDMAExtensions: the target counters a No with Yes (an iSER portal
 * speaks nothing else); the initiator fails the login on a No, and its
 * caller then falls back to TCP. Leading-only: elsewhere the engine
 * answers it as out of place.
 */
static enum idm_hook_result rdma_ext_key(struct iser_key_state *st, const char *value, char *answer,
                                         size_t cap)
{
	bool yes = strcmp(value, "Yes") == 0;

	if (!st->leading) {
		return IDM_HOOK_PASS;
	}
	if (!yes && strcmp(value, "No") != 0) {
		return IDM_HOOK_FAIL;
	}
	if (st->role == IDM_ROLE_INITIATOR) {
		st->rdma_ext = yes;
		return yes ? IDM_HOOK_NOTED : IDM_HOOK_FAIL;
	}
	st->rdma_ext = true;
	return answer_with(answer, cap, "Yes");
}

/* True when `id` declares the receive limit of our own side. */
static bool own_limit(const struct iser_key_state *st, enum iser_key_id id)
{
	return (st->role == IDM_ROLE_TARGET && id == IK_TARGET_RDSL) ||
	       (st->role == IDM_ROLE_INITIATOR && id == IK_INITIATOR_RDSL);
}

/*
 * Target/InitiatorRecvDataSegmentLength: declarations. A peer that
 * declares our own side's limit above what we can receive is answered
 * with our limit (as the seed does); anything else is taken as declared.
 */
static enum idm_hook_result rdsl_key(struct iser_key_state *st, enum iser_key_id id,
                                     const char *value, char *answer, size_t cap)
{
	uint32_t *slot = id == IK_TARGET_RDSL ? &st->target_rdsl : &st->initiator_rdsl;
	uint64_t v;

	if (idm_key_parse_number(value, &v) != 0 || v < ISER_RDSL_MIN || v > ISER_RDSL_MAX) {
		return IDM_HOOK_FAIL;
	}
	if (own_limit(st, id) && v > st->own_rdsl_max) {
		*slot = st->own_rdsl_max;
		return answer_with(answer, cap, "%u", st->own_rdsl_max);
	}
	*slot = (uint32_t)v;
	return IDM_HOOK_NOTED;
}

/* MaxOutstandingUnexpectedPDUs: 0 means no limit; 1 is not allowed. */
static enum idm_hook_result unexpected_key(struct iser_key_state *st, const char *value)
{
	uint64_t v;

	if (idm_key_parse_number(value, &v) != 0 || v == 1 || v > UINT32_MAX) {
		return IDM_HOOK_FAIL;
	}
	st->max_unexpected = (uint32_t)v;
	return IDM_HOOK_NOTED;
}

/*
 * Digests and markers: the target answers with the forced value whatever
 * was offered; the initiator accepts only that value as an answer.
 */
static enum idm_hook_result forced_key(const struct iser_key_state *st, const char *value,
                                       const char *forced, char *answer, size_t cap)
{
	if (value[0] == '\0') {
		return IDM_HOOK_FAIL;
	}
	if (st->role == IDM_ROLE_INITIATOR) {
		return strcmp(value, forced) == 0 ? IDM_HOOK_NOTED : IDM_HOOK_FAIL;
	}
	return answer_with(answer, cap, "%s", forced);
}

enum idm_hook_result iser_negotiate_key(struct iser_key_state *st, const char *key,
                                        const char *value, char *answer, size_t cap)
{
	enum iser_key_id id;

	if (!st || !key || !value || !answer || cap == 0) {
		return IDM_HOOK_FAIL;
	}
	id = lookup(key);
	switch (id) {
	case IK_RDMA_EXT:
		return rdma_ext_key(st, value, answer, cap);
	case IK_TARGET_RDSL:
	case IK_INITIATOR_RDSL:
		return rdsl_key(st, id, value, answer, cap);
	case IK_MAX_UNEXPECTED:
		return unexpected_key(st, value);
	case IK_DIGEST:
		return forced_key(st, value, "None", answer, cap);
	case IK_MARKER:
		return forced_key(st, value, "No", answer, cap);
	case IK_MRDSL:
		/* The iSER lengths replace it; consume it so it changes nothing. */
		return st->rdma_ext ? IDM_HOOK_NOTED : IDM_HOOK_PASS;
	case IK_NONE:
		break;
	}
	return IDM_HOOK_PASS;
}

enum idm_hook_result iser_nego_hook_key(void *arg, const char *key, const char *value, char *answer,
                                        size_t cap)
{
	return iser_negotiate_key(arg, key, value, answer, cap);
}
