/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Synchronous wrappers: start the asynchronous operation, then run the
 * context's reactor until its callback has run.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>

#include "initiator/ini_priv.h"

#define SYNC_TIMEOUT_MS 30000

struct sync_wait {
	bool done;
	int status;
};

static void sync_cb(struct idm_ini *s, int status, void *arg)
{
	struct sync_wait *w = arg;

	w->done = true;
	w->status = status;
}

/* Poll until `done` or the timeout; -ETIMEDOUT then. */
static int sync_run(struct idm_ini *s, const bool *done)
{
	uint64_t deadline = idm_now_ms() + SYNC_TIMEOUT_MS;

	while (!*done) {
		if (idm_now_ms() > deadline) {
			ini_fail(s, -ETIMEDOUT, "timed out waiting for the target");
			return -ETIMEDOUT;
		}
		if (idm_reactor_poll(s->r, 100) < 0) {
			ini_fail(s, -EIO, "reactor failed");
			return -EIO;
		}
	}
	return 0;
}

static int sync_finish(struct idm_ini *s, struct sync_wait *w, int rc)
{
	if (rc == 0) {
		rc = sync_run(s, &w->done);
	}
	return rc ? rc : w->status;
}

/* The portal's address (numeric or a name). */
static int resolve(struct idm_ini *s, const struct idm_url *url, struct sockaddr_storage *ss,
                   socklen_t *len)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	char port[8];
	int rc;

	snprintf(port, sizeof(port), "%u", url->port);
	rc = getaddrinfo(url->host, port, &hints, &ai);
	if (rc != 0 || ai == NULL) {
		ini_fail(s, -EHOSTUNREACH, "cannot resolve %s: %s", url->host, gai_strerror(rc));
		return -EHOSTUNREACH;
	}
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

int idm_ini_login_async(struct idm_ini *s, const struct idm_url *url, idm_ini_cb cb, void *arg)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int rc;

	s->url = *url;
	s->err[0] = '\0';
	rc = resolve(s, url, &ss, &len);
	return rc ? rc : ini_connect(s, (struct sockaddr *)&ss, len, cb, arg);
}

static void sync_wait_closed(struct idm_ini *s);

/* One login attempt, synchronously. */
static int login_once(struct idm_ini *s, const struct idm_url *url)
{
	struct sync_wait w = {false, 0};
	int rc = sync_finish(s, &w, idm_ini_login_async(s, url, sync_cb, &w));

	if (rc != 0 && s->err[0] == '\0') {
		ini_fail(s, rc, "login failed: %s", strerror(-rc));
	}
	if (rc != 0 && s->c) {
		char keep[sizeof(s->err)];

		memcpy(keep, s->err, sizeof(keep));
		idm_conn_close(s->c);
		sync_run(s, &w.done);
		memcpy(s->err, keep, sizeof(keep));
	}
	return rc;
}

int idm_ini_login(struct idm_ini *s, const struct idm_url *url)
{
	int rc;

	s->xport.rdma_failed = false; /* auto tries iSER again */
	rc = login_once(s, url);
	if (rc != 0 && ini_fall_back_from_rdma(s)) {
		sync_wait_closed(s); /* the failed connection must be gone first */
		rc = login_once(s, url);
	}
	return rc;
}

/* Wait until the connection is gone (after a logout). */
static void sync_wait_closed(struct idm_ini *s)
{
	uint64_t deadline = idm_now_ms() + 2000;

	while (s->c && idm_now_ms() < deadline) {
		idm_reactor_poll(s->r, 10);
	}
}

int idm_ini_logout(struct idm_ini *s)
{
	struct sync_wait w = {false, 0};
	int rc = sync_finish(s, &w, idm_ini_logout_async(s, sync_cb, &w));

	sync_wait_closed(s);
	return rc;
}

int idm_ini_discover(struct idm_ini *s, struct idm_ini_targets *out)
{
	struct sync_wait w = {false, 0};

	return sync_finish(s, &w, idm_ini_discover_async(s, out, sync_cb, &w));
}

/*
 * A command timed out but is still in flight, and it and `done` live on
 * the caller's stack: close the connection and run the reactor until the
 * teardown has completed the command, so nothing refers to them after.
 */
static void sync_abandon(struct idm_ini *s, const bool *done)
{
	char keep[sizeof(s->err)];
	uint64_t deadline = idm_now_ms() + 5000;

	memcpy(keep, s->err, sizeof(keep));
	if (s->c) {
		idm_conn_close(s->c);
	}
	while (!*done && idm_now_ms() < deadline) {
		idm_reactor_poll(s->r, 10);
	}
	memcpy(s->err, keep, sizeof(keep));
}

static void sync_cmd_done(struct idm_ini_cmd *cmd, int err)
{
	struct sync_wait *w = cmd->arg;

	w->done = true;
	w->status = err;
}

int idm_ini_scsi(struct idm_ini *s, struct idm_ini_cmd *cmd)
{
	struct sync_wait w = {false, 0};
	int rc;

	cmd->done = sync_cmd_done;
	cmd->arg = &w;
	s->err[0] = '\0';
	rc = sync_finish(s, &w, idm_ini_scsi_async(s, cmd));
	if (rc == -ETIMEDOUT && !w.done) {
		sync_abandon(s, &w.done);
	}
	if (rc == 0 && cmd->status != 0) {
		ini_fail(s, -EIO, "SCSI status %#x, sense key %#x", cmd->status,
		         cmd->sense_len > 2 ? cmd->sense[2] & 0x0f : 0);
		return -EIO;
	}
	if (rc != 0 && s->err[0] == '\0') {
		ini_fail(s, rc, "SCSI command failed: %s", strerror(-rc));
	}
	return rc;
}

int idm_ini_tmf(struct idm_ini *s, uint8_t function, uint64_t lun, struct idm_ini_cmd *cmd)
{
	struct sync_wait w = {false, 0};

	return sync_finish(s, &w, idm_ini_tmf_async(s, function, lun, cmd, sync_cb, &w));
}
