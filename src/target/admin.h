/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What idmd's control socket (and its SIGHUP reload) asks of a running
 * server: reports as JSON objects, and operations. They run on the
 * control thread; what belongs to a reactor (connections, sessions,
 * counters) is read or changed there through idm_reactor_send, so no
 * reactor ever waits for them.
 */
#ifndef IDM_TARGET_ADMIN_H
#define IDM_TARGET_ADMIN_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "target/target_int.h"

/* Run fn(arg, slot) on every reactor (slot = its index) and wait for all.
 * fn runs on the reactors concurrently: it guards what it shares. */
void tgt_fanout(struct idm_server *srv, void (*fn)(void *arg, unsigned slot), void *arg);

json_object *tgt_admin_status(struct idm_server *srv);
json_object *tgt_admin_portals(struct idm_server *srv);
json_object *tgt_admin_targets(struct idm_server *srv);
/* LUNs of one target (iqn) or of all (NULL); NULL with err when unknown. */
json_object *tgt_admin_luns(struct idm_server *srv, const char *iqn, char *err, size_t errlen);
json_object *tgt_admin_sessions(struct idm_server *srv);
/* Ask the session TSIH to log out (Async Message), close it when the
 * grace period ends; 0, or -ENOENT. *closed: it had to be closed. */
int tgt_admin_session_logout(struct idm_server *srv, uint16_t tsih, bool *closed);

/* live.c: changes to the running server; 0 or -errno with one line in
 * err. The running configuration (srv->conf) follows each. */
int tgt_live_target_create(struct idm_server *srv, const struct idm_target_conf *tc, char *err,
                           size_t errlen);
/* Its sessions are asked to log out, closed after the grace period. */
int tgt_live_target_delete(struct idm_server *srv, const char *iqn, char *err, size_t errlen);
int tgt_live_lun_add(struct idm_server *srv, const char *iqn, const struct idm_lun_conf *lc,
                     char *err, size_t errlen);
/* I/O in flight on it finishes first. */
int tgt_live_lun_remove(struct idm_server *srv, const char *iqn, uint32_t lun, char *err,
                        size_t errlen);
/* Shrinking needs `force`. */
int tgt_live_lun_resize(struct idm_server *srv, const char *iqn, uint32_t lun, uint64_t size,
                        bool force, char *err, size_t errlen);
/* Write-protect a LUN or lift it; the LU's initiators get MODE
 * PARAMETERS CHANGED. */
int tgt_live_lun_read_only(struct idm_server *srv, const char *iqn, uint32_t lun, bool read_only,
                           char *err, size_t errlen);
/* An initiator into target iqn's ACL (with its own CHAP account when
 * chap->has; an entry already there gets the new account; a map, when
 * not NULL, replaces its LUN map: its sessions see the new LUNs at once,
 * after a REPORTED LUNS DATA HAS CHANGED), or out of it.
 * Sessions already in go on; the first entry closes the target to every
 * initiator not listed. */
int tgt_live_acl_add(struct idm_server *srv, const char *iqn, const char *initiator,
		     const struct idm_acl_chap *chap, const struct idm_lun_map *map, char *err,
		     size_t errlen);
int tgt_live_acl_remove(struct idm_server *srv, const char *iqn, const char *initiator,
			char *err, size_t errlen);
/* Listen on a new portal (its transports: pc->transports, 0 = all there
 * are), or stop listening on one: its sessions are asked to log out and
 * closed after the grace period. */
int tgt_live_portal_add(struct idm_server *srv, const struct idm_portal_conf *pc, char *err,
                        size_t errlen);
int tgt_live_portal_remove(struct idm_server *srv, const char *addr, uint16_t port, char *err,
                           size_t errlen);
/* admin.c: this gateway, its group, and per shared LU the lock holder and
 * every group's ALUA state. */
json_object *tgt_admin_gateway(struct idm_server *srv);
/* Make this gateway LU `lun`'s optimized path: it takes the image's lock in
 * the background (gateway.show tells when). 0 or -errno with err. */
int tgt_admin_gateway_move(struct idm_server *srv, const char *iqn, uint32_t lun, char *err,
                           size_t errlen);
/* admin.c: target iqn's ACL (secrets left out); NULL with err. */
json_object *tgt_admin_acl(struct idm_server *srv, const char *iqn, char *err, size_t errlen);

/* reload.c: a target's alias, ACL and CHAP account replaced; new logins
 * use them, sessions already in go on. */
void tgt_live_target_access(struct idm_server *srv, const struct idm_target_conf *next);
/* Apply the difference between the running configuration and `next`
 * (targets and LUNs added, removed or resized, access replaced). */
int tgt_live_reload(struct idm_server *srv, const struct idm_target_conf_all *next, char *err,
                    size_t errlen);

/* admin_stats.c */
json_object *tgt_admin_stats(struct idm_server *srv);
/* The Prometheus text exposition format (version 0.0.4); malloc'ed. */
char *tgt_admin_metrics(struct idm_server *srv);

#endif
