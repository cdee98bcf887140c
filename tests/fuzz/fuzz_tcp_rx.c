/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The TCP receive path after a completed login: framing, AHS, digests,
 * immediate and unsolicited data, Data-Out, every opcode, with the real
 * core, the real target and a mem: LU behind it.
 *
 * Kept to the stable public entry points only, so it survives rewrites of
 * the receive path: a reactor polled from this thread (idm_reactor_poll),
 * a target connection on the TCP transport (idm_conn_create +
 * idm_tcp_conn_adopt, as the listener does) over a socketpair, whose peer
 * end this harness writes.
 *
 * Input: one byte of settings, then the bytes the initiator sends after
 * its login. Settings bits:
 *   0 HeaderDigest=CRC32C, 1 DataDigest=CRC32C, 2 a discovery session,
 *   3 InitialR2T=Yes ImmediateData=No, 4-6 how the bytes are cut into
 *   writes (all at once, or 3, 7, 48, 53, 512, 1000, 4096 bytes),
 *   7 the input carries no digests: the harness frames it (BHS, AHS, data
 *   lengths from each BHS) and inserts correct digests where negotiated.
 * Afterwards the initiator closes its end: the connection, its session
 * and its tasks must all go.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"
#include "idm/backing.h"
#include "idm/core_priv.h"
#include "idm/reactor.h"
#include "target/target_int.h"
#include "transport/tcp/tcp_priv.h"

#define IQN_T "iqn.2026-11.org.idm:disk"
#define IQN_I "iqn.2026-11.org.idm:ini"
#define LU_SPEC "mem:1M"
#define MAX_POLLS 20000 /* a connection that does not go away by then is stuck */

static struct idm_reactor *reactor;
static struct idm_server srv;
static struct tgt_target target;
static struct idm_svc svc;
static int peer = -1;
static struct idm_target_conf_all defaults;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	reactor = idm_reactor_create(0);
	FUZZ_CHECK(reactor != NULL);
	srv.magic = TGT_SERVER_MAGIC;
	/* idmd's defaults (limits included), then this harness's choices */
	idm_target_conf_init(&defaults);
	srv.tun = defaults.tun;
	srv.tun.queue_depth = 16;
	srv.tun.max_recv_dsl = 65536;
	srv.tun.max_burst_length = 262144;
	srv.tun.first_burst_length = 65536;
	srv.tun.max_outstanding_r2t = 4;
	srv.tun.immediate_data = true;
	srv.tun.login_timeout_s = 15;
	srv.next_tsih = 1;
	pthread_mutex_init(&srv.lock, NULL);
	pthread_cond_init(&srv.cond, NULL);
	snprintf(target.iqn, sizeof(target.iqn), IQN_T);
	target.srv = &srv;
	target.luns.abort_nexus = tgt_abort_nexus;
	target.luns.abort_ctx = &target;
	srv.targets = &target;
	srv.ntargets = 1;
	srv.portals[0].srv = &srv;
	srv.portals[0].conf.tpgt = 1;
	snprintf(srv.portals[0].conf.addr, sizeof(srv.portals[0].conf.addr), "127.0.0.1");
	srv.portals[0].conf.port = 3260;
	srv.nportals = 1;
	svc.magic = IDM_SVC_MAGIC;
	svc.transport = &idm_tcp_transport;
	svc.req.client = &tgt_client_ops;
	svc.req.client_arg = &srv.portals[0];
	return 0;
}

static void lus_open(void)
{
	for (uint64_t lun = 0; lun < 1; lun++) {
		struct idm_backing *store;
		char why[200];

		FUZZ_CHECK(idm_backing_open(LU_SPEC, 512, &store, why, sizeof(why)) == 0);
		FUZZ_CHECK(scsi_lu_create(lun, store, IQN_T, &target.luns.lu[lun]) == 0);
		target.luns.count++;
	}
}

static void lus_close(void)
{
	for (unsigned l = 0; l < SCSI_MAX_LUNS; l++) {
		if (target.luns.lu[l]) {
			scsi_lu_free(target.luns.lu[l]);
			target.luns.lu[l] = NULL;
		}
	}
	target.luns.count = 0;
}

/* What the target sent: read and dropped; true when anything came. */
static bool peer_drain(bool *eof)
{
	uint8_t buf[65536];
	bool got = false;
	ssize_t n;

	while ((n = read(peer, buf, sizeof(buf))) > 0) {
		got = true;
	}
	if (n == 0) {
		*eof = true;
	}
	return got;
}

/* Run the reactor until nothing moves any more. */
static void settle(void)
{
	bool eof = false;
	int idle = 0;

	for (int i = 0; i < MAX_POLLS && idle < 3; i++) {
		int n = idm_reactor_poll(reactor, 0);
		bool got = peer_drain(&eof);

		idle = (n > 0 || got) ? 0 : idle + 1;
	}
}

/* Write to the target, running its reactor meanwhile; what it sends back
 * is dropped when `drain` (the fuzz bytes), kept for reading otherwise. */
static void peer_write(const uint8_t *p, size_t len, size_t chunk, bool drain)
{
	bool eof = false;

	while (len > 0 && !eof) {
		size_t want = chunk && chunk < len ? chunk : len;
		ssize_t n = send(peer, p, want, MSG_NOSIGNAL);

		if (n < 0) {
			FUZZ_CHECK(errno == EAGAIN || errno == EPIPE || errno == ECONNRESET);
			if (errno != EAGAIN) {
				return; /* the target closed the connection */
			}
			n = 0;
		}
		p += n;
		len -= (size_t)n;
		idm_reactor_poll(reactor, 0);
		if (drain) {
			peer_drain(&eof);
		}
	}
}

/* Read one whole PDU (no digests: login) from the target. */
static bool peer_read_pdu(uint8_t *bhs, uint8_t *data, size_t cap, uint32_t *dlen)
{
	size_t got = 0, need = IDM_BHS_LEN;
	bool have_bhs = false;

	for (int i = 0; i < MAX_POLLS; i++) {
		ssize_t n = read(peer, (have_bhs ? data : bhs) + got, need - got);

		if (n == 0) {
			return false;
		}
		if (n < 0) {
			FUZZ_CHECK(errno == EAGAIN);
			idm_reactor_poll(reactor, 0);
			continue;
		}
		got += (size_t)n;
		if (got < need) {
			continue;
		}
		if (have_bhs) {
			return true;
		}
		have_bhs = true;
		*dlen = get_be24(bhs + BHS_DATA_SEG_LEN);
		need = *dlen + idm_pad4(*dlen);
		got = 0;
		FUZZ_CHECK(need <= cap);
		if (need == 0) {
			return true;
		}
	}
	return false;
}

/* One Login Request from the operational stage straight to full feature phase. */
static void login(uint8_t cfg)
{
	static const uint8_t isid[6] = {0x80, 0x12, 0x34, 0x56, 0x00, 0x01};
	uint8_t pdu[IDM_BHS_LEN + 1024] = {0}, rsp[IDM_BHS_LEN], rdata[8192];
	bool disc = cfg & 4, r2t = cfg & 8;
	uint32_t rlen = 0;
	int len;

	len = snprintf((char *)pdu + IDM_BHS_LEN, 1024,
	               "InitiatorName=" IQN_I "%cSessionType=%s%c%s%sHeaderDigest=%s%c"
	               "DataDigest=%s%cMaxRecvDataSegmentLength=65536%cInitialR2T=%s%c"
	               "ImmediateData=%s%cMaxBurstLength=262144%cFirstBurstLength=65536%c"
	               "MaxOutstandingR2T=4%c",
	               0, disc ? "Discovery" : "Normal", 0, disc ? "" : "TargetName=" IQN_T,
	               disc ? "" : "\x01", (cfg & 1) ? "CRC32C" : "None", 0,
	               (cfg & 2) ? "CRC32C" : "None", 0, 0, r2t ? "Yes" : "No", 0,
	               r2t ? "No" : "Yes", 0, 0, 0, 0);
	for (int i = IDM_BHS_LEN; i < IDM_BHS_LEN + len; i++) {
		pdu[i] = pdu[i] == 1 ? 0 : pdu[i]; /* the NUL after TargetName */
	}
	pdu[0] = ISCSI_OP_LOGIN_REQ | ISCSI_FLAG_IMMEDIATE;
	pdu[1] = LOGIN_FLAG_TRANSIT | (ISCSI_OP_PARMS_NEGOTIATION << LOGIN_CSG_SHIFT) |
	         ISCSI_FULL_FEATURE_PHASE;
	put_be24(pdu + BHS_DATA_SEG_LEN, (uint32_t)len);
	memcpy(pdu + LOGIN_ISID, isid, 6);
	put_be32(pdu + BHS_ITT, 0x1000);
	put_be32(pdu + BHS_CMDSN, 1);
	peer_write(pdu, IDM_BHS_LEN + (size_t)len + idm_pad4((uint32_t)len), 0, false);
	FUZZ_CHECK(peer_read_pdu(rsp, rdata, sizeof(rdata), &rlen));
	FUZZ_CHECK((rsp[0] & ISCSI_OPCODE_MASK) == ISCSI_OP_LOGIN_RSP);
	FUZZ_CHECK(rsp[LOGIN_STATUS_CLASS] == 0 && rsp[LOGIN_STATUS_DETAIL] == 0);
	FUZZ_CHECK((rsp[1] & LOGIN_NSG_MASK) == ISCSI_FULL_FEATURE_PHASE);
}

/*
 * The initiator's bytes with digests put in: each PDU's BHS, AHS and data
 * segment come from the input (lengths from the BHS, cut short at its end).
 */
static uint8_t *frame_with_digests(const uint8_t *in, size_t len, bool hd, bool dd, size_t *out_len)
{
	uint8_t *out = malloc(len * 2 + 64), *o = out;
	size_t off = 0;

	FUZZ_CHECK(out != NULL);
	while (off < len) {
		size_t hdr = IDM_BHS_LEN, data;

		if (len - off < IDM_BHS_LEN) {
			memcpy(o, in + off, len - off);
			o += len - off;
			break;
		}
		hdr += (size_t)in[off + BHS_TOTAL_AHS_LEN] * 4;
		hdr = hdr < len - off ? hdr : len - off;
		data = get_be24(in + off + BHS_DATA_SEG_LEN);
		data += idm_pad4((uint32_t)data);
		memcpy(o, in + off, hdr);
		if (hd) {
			idm_digest_put(o + hdr, idm_digest(o, hdr));
			o += 4;
		}
		o += hdr;
		off += hdr;
		data = data < len - off ? data : len - off;
		if (data) {
			memcpy(o, in + off, data);
			if (dd) {
				idm_digest_put(o + data, idm_digest(o, data));
				o += 4;
			}
			o += data;
			off += data;
		}
		/* at most 4 bytes of digest for every 48 bytes of input */
		FUZZ_CHECK((size_t)(o - out) <= len * 2 + 64);
	}
	*out_len = (size_t)(o - out);
	return out;
}

static struct idm_conn *conn_accept(int fd)
{
	struct idm_conn *c =
	    idm_conn_create(reactor, IDM_ROLE_TARGET, &idm_tcp_transport, &tgt_client_ops,
	                    sizeof(struct tgt_task), srv.tun.queue_depth + TGT_TASK_SLACK);

	FUZZ_CHECK(c != NULL);
	c->svc = &svc;
	FUZZ_CHECK(idm_tcp_conn_adopt(c, fd) == 0);
	idm_conn_hold(c);
	tgt_accepted(&svc, c);
	if (c->state == IDM_CONN_FREE) {
		idm_conn_event(c, IDM_CE_ACCEPTED);
	}
	idm_conn_release(c);
	return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t chunks[8] = {0, 3, 7, 48, 53, 512, 1000, 4096};
	struct fuzz_in in = {data, size};
	uint8_t cfg = fuzz_u8(&in);
	uint8_t *framed = NULL;
	size_t flen;
	int sv[2];
	bool eof = false;

	lus_open();
	FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	peer = sv[1];
	fcntl(peer, F_SETFL, fcntl(peer, F_GETFL) | O_NONBLOCK);
	(void)conn_accept(sv[0]);
	login(cfg);
	if (cfg & 128) {
		framed = frame_with_digests(in.p, in.n, cfg & 1, cfg & 2, &flen);
		peer_write(framed, flen, chunks[(cfg >> 4) & 7], true);
		free(framed);
	} else {
		peer_write(in.p, in.n, chunks[(cfg >> 4) & 7], true);
	}
	settle();
	/* The initiator goes away: everything of the connection must go too. */
	shutdown(peer, SHUT_WR);
	for (int i = 0; i < MAX_POLLS && srv.nconns > 0; i++) {
		idm_reactor_poll(reactor, 0);
		peer_drain(&eof);
	}
	FUZZ_CHECK(srv.nconns == 0);
	FUZZ_CHECK(srv.sessions == NULL);
	close(peer);
	peer = -1;
	lus_close();
	return 0;
}
