/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * iSER, initiator side (RFC 7145): the pure pieces the initiator core and
 * the unit tests use (login parameters, the command's iSER header, the
 * connection manager's private data). The transport itself is
 * idm_iser_transport (idm/idm.h), one for both roles.
 */
#ifndef IDM_ISER_INI_H
#define IDM_ISER_INI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "idm/keys.h"
#include "transport/iser/iser_wire.h"

/* Data segment one of our receive buffers holds (what we declare). */
#define ISER_INI_RDSL 8192u
/* Receives beyond the task table: NOP-In, Async, Reject, Logout Response. */
#define ISER_INI_RX_EXTRA 16u
/* RDMA Reads the target may have outstanding against our buffers. */
#define ISER_INI_IRD 16u

/*
 * What the initiator proposes on an iSER connection: RDMAExtensions=Yes,
 * both receive data segment lengths at `rdsl`, no digests, and neither
 * immediate nor unsolicited data (the target fetches all write data by
 * RDMA Read, so a command is one Send whatever its size).
 */
void iser_ini_params(struct idm_params *p, uint32_t rdsl);

/*
 * The iSER header of a SCSI Command advertising the task buffer: the read
 * STag and VA for a read, the write STag and VA for a write (both for a
 * bidirectional one), nothing for a command without data.
 */
void iser_ini_cmd_hdr(struct iser_hdr *h, bool is_read, bool is_write, uint32_t stag, uint64_t va);

/* The private data of our connect request: no zero-based VAs, no Send with Invalidate. */
void iser_ini_cm_priv(uint8_t out[ISER_CM_PRIV_LEN]);

/*
 * Is a target's answer to one of the iSER keys we offered a refusal we can
 * live with ("NotUnderstood" or "Irrelevant" for a length or a PDU limit:
 * the RFC 7145 defaults then stand)?
 */
bool iser_ini_answer_ignorable(const char *key, const char *value);

#endif
