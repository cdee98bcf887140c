/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Configuration defaults (include/idm/target.h documents each one).
 */
#include <stdio.h>
#include <string.h>

#include "idm/idm.h"
#include "idm/target.h"

static void tunables_init(struct idm_target_tunables *t)
{
	t->max_recv_dsl = 262144;
	t->max_burst_length = 1048576;
	t->first_burst_length = 262144;
	t->max_outstanding_r2t = 16;
	t->initial_r2t = false;
	t->immediate_data = true;
	t->queue_depth = 128;
	t->nop_interval_s = 30;
	t->nop_timeout_s = 15;
	t->login_timeout_s = 15;
	t->shutdown_grace_s = 5;
	t->iser_copy_threshold = 131072;
	t->tx_queue_max_bytes = IDM_TX_MAX_BYTES_DEFAULT;
	t->tx_queue_max_pdus = IDM_TX_MAX_PDUS_DEFAULT;
	t->tx_stall_timeout_s = IDM_TX_STALL_TIMEOUT_DEFAULT_S;
	t->max_connections = 4096;
	t->max_connections_per_portal = 4096;
	t->max_connections_per_address = 1024;
	t->max_prelogin_connections = 256;
	t->prelogin_timeout_s = 5;
	t->max_sessions_per_target = 1024;
	t->max_sessions_per_initiator = 1024;
	t->max_discovery_sessions = 64;
	t->dataout_timeout_s = 30;
	t->text_timeout_s = 15;
}

void idm_target_conf_init(struct idm_target_conf_all *c)
{
	memset(c, 0, sizeof(*c));
	c->nreactors = 0;
	snprintf(c->state_dir, sizeof(c->state_dir), "/var/lib/idm");
	tunables_init(&c->tun);
}
