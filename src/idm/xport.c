/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The clients' door to the transport ops: the target and the initiator
 * reach a transport only through these (and the task data calls in
 * task.c), never through its ops vector or its private headers.
 */
#include <errno.h>

#include "idm/core_priv.h"

static enum idm_hook_result key_hook(void *arg, const char *key, const char *value, char *answer,
                                     size_t cap)
{
	struct idm_conn *c = arg;

	return c->transport->ops->negotiate_key(c, key, value, answer, cap);
}

bool idm_conn_key_hook(struct idm_conn *c, struct idm_nego_hook *hook)
{
	if (c->transport->ops->negotiate_key == NULL) {
		return false;
	}
	*hook = (struct idm_nego_hook){.key = key_hook, .arg = c};
	return true;
}

bool idm_transport_reaches(const struct idm_transport *tp, const struct sockaddr *peer,
                           socklen_t len)
{
	return tp->ops->conn_is_capable == NULL || tp->ops->conn_is_capable(peer, len);
}

int idm_conn_connect(struct idm_conn *c, const struct sockaddr *peer, socklen_t len)
{
	int rc;

	if (c->transport->ops->ini_conn_create == NULL) {
		return -ENOTSUP;
	}
	rc = c->transport->ops->ini_conn_create(c, peer, len);
	if (rc == 0) {
		idm_conn_event(c, IDM_CE_CONNECT_REQ);
	}
	return rc;
}

void *idm_conn_buf_alloc(struct idm_conn *c, size_t len)
{
	return c->transport->ops->buf_alloc ? c->transport->ops->buf_alloc(c, len) : NULL;
}

bool idm_conn_buf_free(struct idm_conn *c, void *buf, size_t len)
{
	if (c->transport->ops->buf_free == NULL) {
		return false;
	}
	c->transport->ops->buf_free(c, buf, len);
	return true;
}
