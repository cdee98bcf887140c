/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The target's login state machine (src/target/login.c) fed a sequence
 * of Login Requests, with the real key engine and CHAP (src/idm/keys.c,
 * src/auth) over the fakes of the core the target unit tests use
 * (tests/target/target_fakes.c).
 *
 * Input: one byte of settings, then PDUs as on the wire: a 48-byte BHS
 * followed by its AHS and data segment (padded to 4 bytes; cut short at
 * the end of the input). Every PDU is made a Login Request. Settings bits:
 *   0 the target requires CHAP, 1 mutual CHAP, 2 discovery requires CHAP,
 *   3 the target has an ACL (admits IQN_I only), 4 the target is offered
 *   over iSER only, 5 a second connection takes the PDUs that follow a
 *   completed login (reinstatement, TSIH rules), 6 SHA-256 only.
 * Feeding stops where the core would stop delivering Login PDUs: after a
 * failed login, or once the login completed (on the last connection).
 * Afterwards the connections go: no session and no connection may be left.
 */
#include "../target/target_fakes.h"
#include "fuzz.h"
#include "idm/auth.h"

#define IQN_T "iqn.2026-11.org.idm:disk"
#define IQN_T2 "iqn.2026-11.org.idm:other"
#define IQN_I "iqn.2026-11.org.idm:ini"

static int fake_enable_datamover(struct idm_conn *c)
{
	(void)c;
	return 0;
}

static const struct idm_transport_ops fake_tp_ops = {.enable_datamover = fake_enable_datamover};
static const struct idm_transport_caps fake_caps = {.data_in_status = true};
static const struct idm_transport fake_tp = {.name = "tcp", .ops = &fake_tp_ops, .caps = &fake_caps};

static struct idm_server srv;
static struct tgt_target targets[2];
static struct idm_svc svc;

static void env_setup(uint8_t cfg)
{
	fake_reset();
	fake_server_init(&srv, targets, 2, &svc);
	srv.tun.login_timeout_s = 15;
	snprintf(targets[0].iqn, sizeof(targets[0].iqn), IQN_T);
	snprintf(targets[1].iqn, sizeof(targets[1].iqn), IQN_T2);
	if (cfg & 1) {
		FUZZ_CHECK(idm_chap_account_set(&targets[0].chap, "alice", "initiator-secret-1",
		                                (cfg & 2) ? "tgt" : NULL,
		                                (cfg & 2) ? "target-secret-22" : NULL) == 0);
		targets[0].has_chap = true;
	}
	if (cfg & 4) {
		FUZZ_CHECK(idm_chap_account_set(&srv.disc.chap, "disc", "discovery-secret", NULL,
		                                NULL) == 0);
		srv.disc.has_chap = true;
	}
	if (cfg & 8) {
		snprintf(targets[0].acl[0], sizeof(targets[0].acl[0]), IQN_I);
		targets[0].nacl = 1;
	}
	if (cfg & 16) {
		targets[1].offered_on = IDM_OFFER_ISER;
	}
	if (cfg & 64) {
		srv.chap_algs[0] = IDM_CHAP_SHA256;
		srv.nchap_algs = 1;
	}
}

/* Is the core still delivering Login PDUs to this connection? */
static bool login_open(struct idm_conn *c)
{
	struct tgt_conn *tc = tgt_conn_of(c);

	return fake_events(IDM_CE_LOGIN_FAIL) == 0 && fake_events(IDM_CE_DISCONNECT) == 0 && tc &&
	       !tc->sess;
}

/* The next PDU from the input, or false at its end. */
static bool next_pdu(struct fuzz_in *in, struct idm_pdu *p)
{
	size_t got, ahs, dlen, pad;
	const uint8_t *bhs = fuzz_take(in, IDM_BHS_LEN, &got);

	if (got < IDM_BHS_LEN) {
		return false;
	}
	memset(p, 0, sizeof(*p));
	memcpy(p->bhs, bhs, IDM_BHS_LEN);
	p->bhs[0] = (uint8_t)((p->bhs[0] & ISCSI_FLAG_IMMEDIATE) | ISCSI_OP_LOGIN_REQ);
	(void)fuzz_take(in, (size_t)p->bhs[BHS_TOTAL_AHS_LEN] * 4, &ahs);
	p->bhs[BHS_TOTAL_AHS_LEN] = 0; /* the core refuses AHS on a Login PDU */
	dlen = get_be24(p->bhs + BHS_DATA_SEG_LEN);
	p->data = fuzz_copy(fuzz_take(in, dlen, &got), got);
	p->data_len = (uint32_t)got;
	put_be24(p->bhs + BHS_DATA_SEG_LEN, p->data_len);
	(void)fuzz_take(in, idm_pad4(p->data_len), &pad);
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	uint8_t cfg = fuzz_u8(&in);
	struct idm_conn *conns[2] = {NULL, NULL};
	int cur = 0;
	struct idm_pdu p;

	env_setup(cfg);
	conns[0] = fake_conn_new(&svc, &fake_tp);
	while (next_pdu(&in, &p)) {
		struct idm_conn *c = conns[cur];

		if (!login_open(c) && (cfg & 32) && cur == 0 && tgt_conn_of(c)->sess) {
			fk.nevents = 0;
			conns[++cur] = c = fake_conn_new(&svc, &fake_tp);
		}
		if (login_open(c)) {
			tgt_client_ops.rx_pdu(c, &p);
			FUZZ_CHECK(fk.nsent <= 1);
			if (fk.nsent) {
				FUZZ_CHECK((fk.sent[0].bhs[0] & ISCSI_OPCODE_MASK) ==
				           ISCSI_OP_LOGIN_RSP);
				FUZZ_CHECK(fk.sent[0].data_len <= TGT_LOGIN_DSL);
			}
		}
		fk.nsent = 0;
		free(p.data);
	}
	for (int i = 1; i >= 0; i--) {
		if (conns[i]) {
			fake_conn_gone(conns[i]);
		}
	}
	FUZZ_CHECK(srv.sessions == NULL);
	FUZZ_CHECK(srv.nconns == 0 && srv.conns == NULL);
	fake_server_fini(&srv);
	return 0;
}
