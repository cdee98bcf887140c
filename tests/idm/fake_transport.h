/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A transport and a client that only record what the core asks of them,
 * for the core's unit tests (conn_ut, task_ut). Header-only on purpose:
 * each test program gets its own copy.
 */
#ifndef IDM_TEST_FAKE_TRANSPORT_H
#define IDM_TEST_FAKE_TRANSPORT_H

#include <string.h>

#include "idm/idm.h"
#include "idm/reactor.h"

#define FAKE_MAX_PDUS 64
#define FAKE_MAX_CALLS 32

struct fake_world {
	struct idm_pdu *sent[FAKE_MAX_PDUS]; /* queued by tx_pdu, not yet done */
	int nsent;
	char calls[FAKE_MAX_CALLS][16]; /* "abort", "disconnect", ... in order */
	int ncalls;
	int state_changes;
	int enable_dm;
	bool keep_tasks_on_abort; /* task_abort leaves the ref alone */
};

static struct fake_world fw;

static void fake_call(const char *what)
{
	if (fw.ncalls < FAKE_MAX_CALLS) {
		strncpy(fw.calls[fw.ncalls++], what, sizeof(fw.calls[0]) - 1);
	}
}

static void fake_tx_pdu(struct idm_conn *c, struct idm_pdu *pdu)
{
	if (fw.nsent < FAKE_MAX_PDUS) {
		fw.sent[fw.nsent++] = pdu;
	} else {
		pdu->done(pdu, -ENOBUFS);
	}
}

/* Complete every queued PDU as sent. */
static void fake_complete_all(int status)
{
	int n = fw.nsent;

	fw.nsent = 0;
	for (int i = 0; i < n; i++) {
		fw.sent[i]->done(fw.sent[i], status);
	}
}

static int fake_enable_datamover(struct idm_conn *c)
{
	fw.enable_dm++;
	c->ffp = true;
	return 0;
}

static void fake_disconnect(struct idm_conn *c)
{
	fake_call("disconnect");
	fake_complete_all(-ECONNRESET);
}

static void fake_destroy(struct idm_conn *c)
{
	fake_call("destroy");
}

static const struct idm_transport_ops fake_ops = {
    .tx_pdu = fake_tx_pdu,
    .enable_datamover = fake_enable_datamover,
    .conn_disconnect = fake_disconnect,
    .conn_destroy = fake_destroy,
};

static const struct idm_transport_caps fake_caps = {.data_in_status = true};

static const struct idm_transport fake_transport = {"fake", &fake_ops, &fake_caps, 0};

static void fake_state_change(struct idm_conn *c, enum idm_conn_state from, enum idm_conn_state to)
{
	fw.state_changes++;
}

static void fake_conn_free(struct idm_conn *c)
{
	fake_call("conn_free");
}

static void fake_task_abort(struct idm_task *t)
{
	fake_call("abort");
	if (!fw.keep_tasks_on_abort) {
		idm_task_release(t);
	}
}

static const struct idm_client_ops fake_client = {
    .state_change = fake_state_change,
    .conn_free = fake_conn_free,
    .task_abort = fake_task_abort,
};

static void fake_reset(void)
{
	memset(&fw, 0, sizeof(fw));
}

/* The reactor the test connections live on, for the whole group. */
static struct idm_reactor *reactor;

static int fake_reactor_setup(void **state)
{
	(void)state;
	reactor = idm_reactor_create(0);
	return reactor ? 0 : -1;
}

static int fake_reactor_teardown(void **state)
{
	(void)state;
	idm_reactor_destroy(reactor);
	return 0;
}

#endif
