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

/* admin_stats.c */
json_object *tgt_admin_stats(struct idm_server *srv);
/* The Prometheus text exposition format (version 0.0.4); malloc'ed. */
char *tgt_admin_metrics(struct idm_server *srv);

#endif
