/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The core's choice of transport, over fake transports: an initiator's
 * connection (tcp, iser, auto and the fallback from iSER to TCP at each
 * point it can fail) and a portal's services (TCP always, iSER where it
 * can). Each fake records whether the core asked it anything.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "fake_transport.h"
#include "idm/core_priv.h"

/* What the fake RDMA and TCP transports do, and what they were asked. */
static struct {
	bool rdma_reaches;  /* conn_is_capable */
	int rdma_create_rc; /* ini_conn_create */
	int rdma_svc_rc;    /* svc_create */
	int tcp_svc_rc;
	int capable_calls;
	int rdma_creates, tcp_creates;
	int rdma_connects, tcp_connects;
	int svc_creates, svc_destroys;
} fx;

static bool rdma_capable(const struct sockaddr *peer, socklen_t len)
{
	fx.capable_calls++;
	return fx.rdma_reaches;
}

static int rdma_conn_create(struct idm_conn *c, const struct sockaddr *peer, socklen_t len)
{
	fx.rdma_creates++;
	return fx.rdma_create_rc;
}

static int tcp_conn_create(struct idm_conn *c, const struct sockaddr *peer, socklen_t len)
{
	fx.tcp_creates++;
	return 0;
}

static int rdma_connect(struct idm_conn *c)
{
	fx.rdma_connects++;
	return 0;
}

static int tcp_connect(struct idm_conn *c)
{
	fx.tcp_connects++;
	return 0;
}

static void rdma_propose(const struct idm_conn *c, struct idm_params *p)
{
	p->rdma_extensions = true;
	p->header_digest = false;
}

static int rdma_svc_create(struct idm_svc *svc)
{
	fx.svc_creates++;
	if (fx.rdma_svc_rc != 0) {
		snprintf(svc->error, sizeof(svc->error), "iSER disabled: no RDMA device");
	}
	return fx.rdma_svc_rc;
}

static int tcp_svc_create(struct idm_svc *svc)
{
	fx.svc_creates++;
	return fx.tcp_svc_rc;
}

static void svc_destroy(struct idm_svc *svc)
{
	fx.svc_destroys++;
}

static const struct idm_transport_ops rdma_ops = {
    .tx_pdu = fake_tx_pdu,
    .conn_is_capable = rdma_capable,
    .ini_propose = rdma_propose,
    .ini_conn_create = rdma_conn_create,
    .conn_connect = rdma_connect,
    .conn_disconnect = fake_disconnect,
    .svc_create = rdma_svc_create,
    .svc_destroy = svc_destroy,
};

static const struct idm_transport_ops tcp_ops = {
    .tx_pdu = fake_tx_pdu,
    .ini_conn_create = tcp_conn_create,
    .conn_connect = tcp_connect,
    .conn_disconnect = fake_disconnect,
    .svc_create = tcp_svc_create,
    .svc_destroy = svc_destroy,
};

static const struct idm_transport_caps rdma_caps = {.rdma = true};
static const struct idm_transport_caps tcp_caps = {.data_in_status = true, .digests = true};
static const struct idm_transport fake_rdma = {"iser", &rdma_ops, &rdma_caps, 0};
static const struct idm_transport fake_tcp = {"tcp", &tcp_ops, &tcp_caps, 0};

/* A host with iSER built, and one without. */
static const struct idm_xport_slot both_slots[] = {
    {"iSER", true, &fake_rdma, NULL},
    {"TCP", false, &fake_tcp, NULL},
};
static const struct idm_xport_list both = {both_slots, 2};
static const struct idm_xport_slot tcp_only_slots[] = {
    {"iSER", true, NULL, "iSER is not in this build"},
    {"TCP", false, &fake_tcp, NULL},
};
static const struct idm_xport_list tcp_only = {tcp_only_slots, 2};

static struct sockaddr_in peer = {.sin_family = AF_INET};
static int client_tag;
static char err[256];

static int fx_reset(void **state)
{
	(void)state;
	memset(&fx, 0, sizeof(fx));
	fx.rdma_reaches = true;
	fake_reset();
	err[0] = '\0';
	return 0;
}

static int create(const struct idm_xport_list *list, struct idm_ini_xport *x, struct idm_conn **c)
{
	const struct idm_ini_conn_req req = {
	    .reactor = reactor,
	    .peer = (const struct sockaddr *)&peer,
	    .peer_len = sizeof(peer),
	    .client = &fake_client,
	    .client_priv = &client_tag,
	    .max_tasks = 4,
	};

	*c = NULL;
	return idm_ini_conn_create_from(list, x, &req, c, err, sizeof(err));
}

/* The connection fails before its transport came up; it goes. */
static void fail_connect(struct idm_conn *c)
{
	idm_conn_event(c, IDM_CE_TRANSPORT_FAIL);
}

static void test_tcp_only_host_auto_uses_tcp(void **state)
{
	struct idm_ini_xport x = {.choice = IDM_TRANSPORT_AUTO};
	struct idm_conn *c;

	assert_int_equal(create(&tcp_only, &x, &c), 0);
	assert_non_null(c);
	assert_ptr_equal(x.tp, &fake_tcp);
	assert_ptr_equal(c->transport, &fake_tcp);
	assert_ptr_equal(c->client_priv, &client_tag);
	assert_int_equal(c->state, IDM_CONN_XPT_WAIT);
	assert_int_equal(fx.tcp_connects, 1);
	fail_connect(c);
	/* TCP failing is the end of it: nothing to fall back to */
	assert_false(idm_ini_conn_fall_back(&x, false, "refused"));
}

static void test_tcp_only_host_explicit_iser_fails(void **state)
{
	struct idm_ini_xport x = {.choice = IDM_TRANSPORT_ISER};
	struct idm_conn *c;

	assert_int_equal(create(&tcp_only, &x, &c), -EPROTONOSUPPORT);
	assert_null(c);
	assert_null(x.tp);
	assert_string_equal(err, "iSER is not in this build");
	assert_int_equal(fx.tcp_creates, 0);
}

static void test_explicit_tcp_never_asks_rdma(void **state)
{
	struct idm_ini_xport x = {.choice = IDM_TRANSPORT_TCP};
	struct idm_conn *c;

	assert_int_equal(create(&both, &x, &c), 0);
	assert_ptr_equal(c->transport, &fake_tcp);
	assert_int_equal(fx.capable_calls, 0);
	assert_int_equal(fx.rdma_creates, 0);
	fail_connect(c);
}

static void test_iser_capable_auto_uses_iser(void **state)
{
	struct idm_ini_xport x = {.choice = IDM_TRANSPORT_AUTO};
	struct idm_params p;
	struct idm_conn *c;

	assert_int_equal(create(&both, &x, &c), 0);
	assert_ptr_equal(c->transport, &fake_rdma);
	assert_ptr_equal(x.tp, &fake_rdma);
	assert_int_equal(fx.capable_calls, 1);
	assert_int_equal(fx.rdma_connects, 1);
	assert_int_equal(fx.tcp_creates, 0);
	/* the transport's login proposal through the core */
	idm_params_init(&p);
	p.header_digest = true;
	idm_conn_ini_propose(c, &p);
	assert_true(p.rdma_extensions);
	assert_false(p.header_digest);
	fail_connect(c);
}

static void test_iser_no_route_auto_falls_back(void **state)
{
	struct idm_ini_xport x = {.choice = IDM_TRANSPORT_AUTO};
	struct idm_params p, before;
	struct idm_conn *c;

	fx.rdma_reaches = false;
	assert_int_equal(create(&both, &x, &c), 0);
	assert_ptr_equal(c->transport, &fake_tcp);
	assert_int_equal(fx.rdma_creates, 0);
	/* TCP proposes nothing of its own */
	idm_params_init(&p);
	before = p;
	idm_conn_ini_propose(c, &p);
	assert_memory_equal(&p, &before, sizeof(p));
	fail_connect(c);
}

static void test_iser_setup_refused_auto_falls_back(void **state)
{
	struct idm_ini_xport x = {.choice = IDM_TRANSPORT_AUTO};
	struct idm_conn *c;

	fx.rdma_create_rc = -ENODEV;
	assert_int_equal(create(&both, &x, &c), 0);
	assert_ptr_equal(c->transport, &fake_tcp);
	assert_int_equal(fx.rdma_creates, 1);
	assert_int_equal(fx.rdma_connects, 0);
	assert_int_equal(fx.tcp_connects, 1);
	/* the refused iSER connection went without a word to the client */
	assert_int_equal(fw.ncalls, 0);
	fail_connect(c);
}

static void test_iser_connect_refused_next_attempt_tcp(void **state)
{
	struct idm_ini_xport x = {.choice = IDM_TRANSPORT_AUTO};
	struct idm_conn *c;

	assert_int_equal(create(&both, &x, &c), 0);
	assert_ptr_equal(c->transport, &fake_rdma);
	fail_connect(c); /* e.g. the target has no iSER listener */
	assert_true(idm_ini_conn_fall_back(&x, false, "connection refused"));
	assert_true(x.rdma_failed);
	assert_false(idm_ini_conn_fall_back(&x, false, "again")); /* once */
	assert_int_equal(create(&both, &x, &c), 0);
	assert_ptr_equal(c->transport, &fake_tcp);
	assert_int_equal(fx.rdma_creates, 1);
	fail_connect(c);
}

static void test_iser_login_failure_no_fallback(void **state)
{
	struct idm_ini_xport x = {.choice = IDM_TRANSPORT_AUTO};
	struct idm_conn *c;

	assert_int_equal(create(&both, &x, &c), 0);
	fail_connect(c);
	/* iSER came up and the login failed: TCP would fail the same way */
	assert_false(idm_ini_conn_fall_back(&x, true, "authentication failed"));
	assert_false(x.rdma_failed);
}

static void test_explicit_iser_never_falls_back(void **state)
{
	struct idm_ini_xport x = {.choice = IDM_TRANSPORT_ISER};
	struct idm_conn *c;

	assert_int_equal(create(&both, &x, &c), 0);
	assert_ptr_equal(c->transport, &fake_rdma);
	fail_connect(c);
	assert_false(idm_ini_conn_fall_back(&x, false, "refused"));
}

static void test_explicit_iser_no_rdma_clear_error(void **state)
{
	struct idm_ini_xport x = {.choice = IDM_TRANSPORT_ISER};
	struct idm_conn *c;

	fx.rdma_reaches = false;
	assert_int_equal(create(&both, &x, &c), -ENETUNREACH);
	assert_null(c);
	assert_non_null(strstr(err, "iser cannot reach the portal"));
	assert_int_equal(fx.tcp_creates, 0);
}

static void test_explicit_iser_setup_fails_clear_error(void **state)
{
	struct idm_ini_xport x = {.choice = IDM_TRANSPORT_ISER};
	struct idm_conn *c;

	fx.rdma_create_rc = -ENODEV;
	assert_int_equal(create(&both, &x, &c), -ENODEV);
	assert_null(c);
	assert_non_null(strstr(err, "cannot create a iser connection"));
	assert_int_equal(fx.tcp_creates, 0);
}

static void test_bad_request(void **state)
{
	struct idm_ini_xport x = {.choice = IDM_TRANSPORT_TCP};
	const struct idm_ini_conn_req req = {.reactor = reactor};
	struct idm_conn *c = NULL;

	assert_int_equal(idm_ini_conn_create_from(&both, &x, &req, &c, err, sizeof(err)), -EINVAL);
	assert_null(c);
}

/* ---- portals ---- */

static struct idm_svc_req portal_req(void)
{
	struct idm_svc_req req = {
	    .reactors = &reactor,
	    .nreactors = 1,
	    .client = &fake_client,
	    .max_tasks = 4,
	    .opts = {.rdma_copy_threshold = 65536},
	};
	struct sockaddr_in *in = (struct sockaddr_in *)&req.addr;

	in->sin_family = AF_INET;
	in->sin_port = htons(3260);
	in->sin_addr.s_addr = htonl(0x7f000001);
	req.addrlen = sizeof(*in);
	return req;
}

static void portal_close(struct idm_portal *p)
{
	idm_portal_close(p);
	idm_reactor_poll(reactor, 0); /* the services go on reactor 0 */
}

static void test_portal_opens_every_transport(void **state)
{
	struct idm_svc_req req = portal_req();
	struct idm_portal p;

	assert_int_equal(idm_portal_open_from(&both, &p, &req, err, sizeof(err)), 0);
	idm_reactor_poll(reactor, 0);
	assert_int_equal(p.nsvc, 2);
	assert_true(idm_portal_serves(&p, "tcp"));
	assert_true(idm_portal_serves(&p, "iser"));
	/* the transport options reach every service */
	assert_int_equal(p.svc[1]->req.opts.rdma_copy_threshold, 65536);
	assert_string_equal(p.svc[0]->name, "127.0.0.1:3260");
	portal_close(&p);
	assert_int_equal(fx.svc_destroys, 2);
	assert_int_equal(p.nsvc, 0);
}

static void test_portal_without_rdma_serves_tcp(void **state)
{
	struct idm_svc_req req = portal_req();
	struct idm_portal p;

	fx.rdma_svc_rc = -ENODEV;
	assert_int_equal(idm_portal_open_from(&both, &p, &req, err, sizeof(err)), 0);
	assert_int_equal(p.nsvc, 1);
	assert_true(idm_portal_serves(&p, "tcp"));
	assert_false(idm_portal_serves(&p, "iser"));
	portal_close(&p);
	/* not built at all: the same */
	assert_int_equal(idm_portal_open_from(&tcp_only, &p, &req, err, sizeof(err)), 0);
	assert_int_equal(p.nsvc, 1);
	portal_close(&p);
}

static void test_portal_tcp_failure_closes_all(void **state)
{
	struct idm_svc_req req = portal_req();
	struct idm_portal p;

	fx.tcp_svc_rc = -EADDRINUSE;
	assert_int_equal(idm_portal_open_from(&both, &p, &req, err, sizeof(err)), -EADDRINUSE);
	assert_int_equal(p.nsvc, 0);
	assert_non_null(strstr(err, strerror(EADDRINUSE)));
	/* iSER was not opened without TCP */
	assert_int_equal(fx.svc_creates, 1);
	idm_portal_close(&p); /* harmless on a closed portal */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_tcp_only_host_auto_uses_tcp, fx_reset),
	    cmocka_unit_test_setup(test_tcp_only_host_explicit_iser_fails, fx_reset),
	    cmocka_unit_test_setup(test_explicit_tcp_never_asks_rdma, fx_reset),
	    cmocka_unit_test_setup(test_iser_capable_auto_uses_iser, fx_reset),
	    cmocka_unit_test_setup(test_iser_no_route_auto_falls_back, fx_reset),
	    cmocka_unit_test_setup(test_iser_setup_refused_auto_falls_back, fx_reset),
	    cmocka_unit_test_setup(test_iser_connect_refused_next_attempt_tcp, fx_reset),
	    cmocka_unit_test_setup(test_iser_login_failure_no_fallback, fx_reset),
	    cmocka_unit_test_setup(test_explicit_iser_never_falls_back, fx_reset),
	    cmocka_unit_test_setup(test_explicit_iser_no_rdma_clear_error, fx_reset),
	    cmocka_unit_test_setup(test_explicit_iser_setup_fails_clear_error, fx_reset),
	    cmocka_unit_test_setup(test_bad_request, fx_reset),
	    cmocka_unit_test_setup(test_portal_opens_every_transport, fx_reset),
	    cmocka_unit_test_setup(test_portal_without_rdma_serves_tcp, fx_reset),
	    cmocka_unit_test_setup(test_portal_tcp_failure_closes_all, fx_reset),
	};

	return cmocka_run_group_tests(tests, fake_reactor_setup, fake_reactor_teardown);
}
