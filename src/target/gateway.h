/* SPDX-License-Identifier: BSD-3-Clause */
/* Gateway groups (gateway.c): one LU per shared image, ALUA from its lock. */
#ifndef IDM_TARGET_GATEWAY_H
#define IDM_TARGET_GATEWAY_H

#include "target/target_int.h"

/* Pure: the groups' ALUA states while gateway `owner` (0: none) holds
 * the image's lock. */
void tgt_gateway_states(const struct idm_gateway_conf *gw, uint16_t owner, struct scsi_alua *out);
/* This idmd is a gateway of a group: the stores it opens that can be
 * shared (rbd) are the group's. */
bool tgt_gateway_member(const struct idm_server *srv);
/* This idmd is a gateway and `store` is shared by the group (rbd). */
bool tgt_gateway_shares(const struct idm_server *srv, const struct idm_backing *store);
/* The serial and NAA of a shared store's LU: derived from the medium id,
 * except what `lc` sets. 0 or -errno. */
int tgt_gateway_ident(const struct idm_lun_conf *lc, struct idm_backing *store, char serial[33],
                      uint8_t naa[16]);
/* The LU at index `l` of `t` joins the group: ALUA states, shared
 * reservations, the lock holder tracked. Blocking (start, control
 * socket). 0 or -errno with one line in `why`. */
int tgt_gateway_lun_join(struct tgt_target *t, unsigned l, struct scsi_lu *lu, char *why,
                         size_t whylen);
void tgt_gateway_lun_free(struct tgt_target *t, unsigned l);
/* The gateway holding LU `l`'s lock (0: none); *shared: it is in a group;
 * *optimized: the group's optimized gateway (0: none chosen yet). */
uint16_t tgt_gateway_owner(const struct tgt_target *t, unsigned l, bool *shared,
                           uint16_t *optimized);
/* A LOGICAL UNIT RESET of LU `l` reached this gateway: tell the others
 * (their nexuses get the unit attention), then done(arg) on `home`.
 * false: not in a group (or no memory), nothing to wait for. */
bool tgt_gateway_lu_reset(struct tgt_target *t, unsigned l, struct idm_reactor *home,
                          void (*done)(void *arg), void *arg);
/* Pure: the number after `word` in a one-line record ("optimized 2\n"),
 * 0 for an empty or foreign one. */
uint64_t tgt_gateway_record_value(const char *buf, size_t len, const char *word);
/* Make this gateway LU `l`'s optimized path (takes the lock, in the
 * background). 0, or -ENOENT when the LU is not in a group. */
int tgt_gateway_move_here(struct tgt_target *t, unsigned l);

#endif
