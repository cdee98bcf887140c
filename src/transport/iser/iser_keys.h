/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The login keys iSER owns (RFC 7145 section 6), as a key hook for the
 * negotiation engine (struct idm_nego_hook in idm/keys.h). The transport
 * installs it on every iSER connection; it sees each received key before
 * the engine and either answers it, consumes it, fails the login, or
 * passes it on.
 */
#ifndef IDM_ISER_KEYS_H
#define IDM_ISER_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "idm/keys.h"

#define ISER_RDSL_MIN 512u
#define ISER_RDSL_MAX ((1u << 24) - 1)
#define ISER_RDSL_DEFAULT 8192u

/* Per-connection state of the hook, and the values it settled. */
struct iser_key_state {
	enum idm_role role;    /* which side of the login we are */
	bool leading;          /* leading connection: RDMAExtensions is ours */
	bool rdma_ext;         /* RDMAExtensions=Yes is in force */
	uint32_t own_rdsl_max; /* largest control-PDU data segment we can receive */
	/* outcome (RFC 7145 defaults until the peer says otherwise) */
	uint32_t target_rdsl;
	uint32_t initiator_rdsl;
	uint32_t max_unexpected; /* MaxOutstandingUnexpectedPDUs; 0 = no limit */
};

/*
 * Start a login. `leading` false means the session already runs iSER
 * (RDMAExtensions is leading-only). `own_rdsl_max` is clamped to the
 * RFC range.
 */
void iser_key_state_init(struct iser_key_state *st, enum idm_role role, bool leading,
                         uint32_t own_rdsl_max);

/*
 * Judge one received key. Returns IDM_HOOK_ANSWERED with the value to
 * send back in `answer`, IDM_HOOK_NOTED for a declaration taken as is,
 * IDM_HOOK_FAIL for a value that must fail the login, or IDM_HOOK_PASS
 * for keys the engine negotiates.
 */
enum idm_hook_result iser_negotiate_key(struct iser_key_state *st, const char *key,
                                        const char *value, char *answer, size_t cap);

/* The same, shaped for struct idm_nego_hook (arg is the iser_key_state). */
enum idm_hook_result iser_nego_hook_key(void *arg, const char *key, const char *value, char *answer,
                                        size_t cap);

#endif
