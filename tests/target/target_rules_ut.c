/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the target's pure logic: CmdSN window, ISID/TSIH rules,
 * login stage checks, residuals and transfer plans, TMF decisions,
 * SendTargets text and configuration defaults.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "target/gateway.h"
#include "target/target_int.h"

/* ---- CmdSN window ---- */

static void window_opens_with_queue_depth(void **state)
{
	struct tgt_window w;

	(void)state;
	tgt_window_init(&w, 100, 128);
	assert_int_equal(w.exp_cmd_sn, 100);
	assert_int_equal(w.max_cmd_sn, 227);
	assert_true(tgt_window_in(&w, 100));
	assert_true(tgt_window_in(&w, 227));
	assert_false(tgt_window_in(&w, 99));
	assert_false(tgt_window_in(&w, 228));
}

static void window_drops_outside_and_advances_inside(void **state)
{
	struct tgt_window w;

	(void)state;
	tgt_window_init(&w, 10, 4); /* [10, 13] */
	assert_int_equal(tgt_window_accept(&w, 9, false), -ERANGE);
	assert_int_equal(tgt_window_accept(&w, 14, false), -ERANGE);
	assert_int_equal(w.exp_cmd_sn, 10);
	assert_int_equal(tgt_window_accept(&w, 10, false), 0);
	assert_int_equal(w.exp_cmd_sn, 11);
	/* a repeat of an accepted CmdSN is below the window now */
	assert_int_equal(tgt_window_accept(&w, 10, false), -ERANGE);
	/* immediate PDUs pass and move nothing */
	assert_int_equal(tgt_window_accept(&w, 5000, true), 0);
	assert_int_equal(w.exp_cmd_sn, 11);
	/* the window does not grow until a command finishes */
	assert_int_equal(tgt_window_accept(&w, 11, false), 0);
	assert_int_equal(tgt_window_accept(&w, 12, false), 0);
	assert_int_equal(tgt_window_accept(&w, 13, false), 0);
	assert_int_equal(tgt_window_accept(&w, 14, false), -ERANGE);
	tgt_window_credit(&w);
	assert_int_equal(w.max_cmd_sn, 14);
	assert_int_equal(tgt_window_accept(&w, 14, false), 0);
}

static void window_wraps(void **state)
{
	struct tgt_window w;

	(void)state;
	tgt_window_init(&w, 0xfffffffeu, 4); /* [fffffffe, 1] */
	assert_true(tgt_window_in(&w, 0xffffffffu));
	assert_true(tgt_window_in(&w, 0));
	assert_true(tgt_window_in(&w, 1));
	assert_false(tgt_window_in(&w, 2));
	assert_false(tgt_window_in(&w, 0xfffffffdu));
	assert_int_equal(tgt_window_accept(&w, 0xfffffffeu, false), 0);
	assert_int_equal(tgt_window_accept(&w, 0xffffffffu, false), 0);
	assert_int_equal(w.exp_cmd_sn, 0);
}

/* ---- sessions ---- */

static const uint8_t isid_a[6] = {0x80, 0, 0, 1, 0, 1};
static const uint8_t isid_b[6] = {0x80, 0, 0, 1, 0, 2};

static void fill_session(struct tgt_session *s, const uint8_t *isid, const char *ini,
			 struct tgt_target *t, uint16_t tsih)
{
	memset(s, 0, sizeof(*s));
	memcpy(s->isid, isid, 6);
	snprintf(s->initiator_name, sizeof(s->initiator_name), "%s", ini);
	s->target = t;
	s->tsih = tsih;
}

static void session_rules(void **state)
{
	struct tgt_target t1 = {.iqn = "iqn.t1"}, t2 = {.iqn = "iqn.t2"};
	struct tgt_session s1, s2;
	struct tgt_sess_key key = {.isid = isid_a, .initiator_name = "iqn.ini", .target = &t1};
	uint16_t status = 0;

	(void)state;
	fill_session(&s1, isid_a, "iqn.ini", &t1, 5);
	fill_session(&s2, isid_b, "iqn.ini", &t2, 6);
	s1.next = &s2;

	/* TSIH 0 and nothing matching: a new session */
	key.isid = isid_b;
	assert_null(tgt_sessions_find_isid(&s1, &key));
	assert_int_equal(tgt_session_decide(&key, NULL, NULL, &status), TGT_SESS_NEW);
	/* TSIH 0, same ISID + initiator + target: reinstatement */
	key.isid = isid_a;
	assert_ptr_equal(tgt_sessions_find_isid(&s1, &key), &s1);
	assert_int_equal(tgt_session_decide(&key, &s1, NULL, &status), TGT_SESS_REINSTATE);
	/* same ISID for another target is another session */
	key.target = &t2;
	assert_null(tgt_sessions_find_isid(&s1, &key));
	key.target = &t1;
	/* unknown TSIH */
	key.tsih = 77;
	assert_null(tgt_sessions_find_tsih(&s1, 77));
	assert_int_equal(tgt_session_decide(&key, &s1, NULL, &status), TGT_SESS_REFUSE);
	assert_int_equal(status, ISCSI_LOGIN_SESSION_DOES_NOT_EXIST);
	/* TSIH of someone else's session */
	key.tsih = 6;
	assert_int_equal(tgt_session_decide(&key, &s1, &s2, &status), TGT_SESS_REFUSE);
	assert_int_equal(status, ISCSI_LOGIN_SESSION_DOES_NOT_EXIST);
	/* a second connection to our session: MaxConnections is 1 */
	key.tsih = 5;
	assert_ptr_equal(tgt_sessions_find_tsih(&s1, 5), &s1);
	assert_int_equal(tgt_session_decide(&key, &s1, &s1, &status), TGT_SESS_REFUSE);
	assert_int_equal(status, ISCSI_LOGIN_TOO_MANY_CONNECTIONS);
}

static void tsih_alloc_skips_zero_and_used(void **state)
{
	struct tgt_session s1, s2;
	struct tgt_session *head = &s1;
	uint16_t next = 0xffff;

	(void)state;
	fill_session(&s1, isid_a, "i", NULL, 1);
	fill_session(&s2, isid_b, "i", NULL, 2);
	s1.next = &s2;
	assert_int_equal(tgt_tsih_alloc(head, &next), 0xffff);
	assert_int_equal(tgt_tsih_alloc(head, &next), 3);
	tgt_sessions_unlink(&head, &s1);
	assert_ptr_equal(head, &s2);
	assert_null(tgt_sessions_find_tsih(head, 1));
	tgt_sessions_unlink(&head, &s2);
	assert_null(head);
}

/* ---- login checks ---- */

static void login_bhs(uint8_t *bhs, uint8_t flags, uint8_t vmax, uint8_t vmin)
{
	memset(bhs, 0, IDM_BHS_LEN);
	bhs[0] = ISCSI_OP_LOGIN_REQ | ISCSI_FLAG_IMMEDIATE;
	bhs[1] = flags;
	bhs[LOGIN_VERSION_MAX] = vmax;
	bhs[LOGIN_VERSION_MIN] = vmin;
}

#define CSG(s) ((s) << LOGIN_CSG_SHIFT)

static void login_stage_rules(void **state)
{
	uint8_t bhs[IDM_BHS_LEN];

	(void)state;
	/* security -> operational, operational -> FFP, security -> FFP */
	login_bhs(bhs, LOGIN_FLAG_TRANSIT | CSG(0) | 1, 0, 0);
	assert_int_equal(tgt_login_check(bhs, 0, true), 0);
	login_bhs(bhs, LOGIN_FLAG_TRANSIT | CSG(1) | 3, 0, 0);
	assert_int_equal(tgt_login_check(bhs, 0, true), 0); /* may skip security */
	assert_int_equal(tgt_login_check(bhs, 1, false), 0);
	assert_int_equal(tgt_login_check(bhs, 0, false), ISCSI_LOGIN_INITIATOR_ERROR);
	login_bhs(bhs, LOGIN_FLAG_TRANSIT | CSG(0) | 3, 0, 0);
	assert_int_equal(tgt_login_check(bhs, 0, true), 0);
	/* staying in a stage without T */
	login_bhs(bhs, CSG(0), 0, 0);
	assert_int_equal(tgt_login_check(bhs, 0, true), 0);
	/* T and C together, backwards or reserved stages */
	login_bhs(bhs, LOGIN_FLAG_TRANSIT | LOGIN_FLAG_CONTINUE | CSG(0) | 1, 0, 0);
	assert_int_equal(tgt_login_check(bhs, 0, true), ISCSI_LOGIN_INITIATOR_ERROR);
	login_bhs(bhs, LOGIN_FLAG_TRANSIT | CSG(1) | 0, 0, 0);
	assert_int_equal(tgt_login_check(bhs, 1, false), ISCSI_LOGIN_INITIATOR_ERROR);
	login_bhs(bhs, LOGIN_FLAG_TRANSIT | CSG(0) | 2, 0, 0);
	assert_int_equal(tgt_login_check(bhs, 0, true), ISCSI_LOGIN_INITIATOR_ERROR);
	login_bhs(bhs, CSG(2), 0, 0);
	assert_int_equal(tgt_login_check(bhs, 0, true), ISCSI_LOGIN_INITIATOR_ERROR);
	login_bhs(bhs, CSG(3), 0, 0);
	assert_int_equal(tgt_login_check(bhs, 0, true), ISCSI_LOGIN_INITIATOR_ERROR);
}

static void login_version_rules(void **state)
{
	uint8_t bhs[IDM_BHS_LEN];

	(void)state;
	login_bhs(bhs, CSG(0), 0x05, 0x00);
	assert_int_equal(tgt_login_check(bhs, 0, true), 0);
	login_bhs(bhs, CSG(0), 0x05, 0x01);
	assert_int_equal(tgt_login_check(bhs, 0, true), ISCSI_LOGIN_UNSUPPORTED_VERSION);
	login_bhs(bhs, CSG(0), 0x00, 0x02);
	assert_int_equal(tgt_login_check(bhs, 0, true), ISCSI_LOGIN_UNSUPPORTED_VERSION);
	/* versions are only checked on the first PDU */
	assert_int_equal(tgt_login_check(bhs, 0, false), 0);
}

/* ---- residuals and transfer plans ---- */

static void residual_flags(void **state)
{
	uint8_t flags;
	uint32_t resid;

	(void)state;
	tgt_residual(512, 512, &flags, &resid);
	assert_int_equal(flags, 0);
	assert_int_equal(resid, 0);
	tgt_residual(0, 512, &flags, &resid);
	assert_int_equal(flags, SCSI_RSP_FLAG_OVERFLOW);
	assert_int_equal(resid, 512);
	tgt_residual(10000, 512, &flags, &resid);
	assert_int_equal(flags, SCSI_RSP_FLAG_UNDERFLOW);
	assert_int_equal(resid, 9488);
	tgt_residual(200, 512, &flags, &resid);
	assert_int_equal(flags, SCSI_RSP_FLAG_OVERFLOW);
	assert_int_equal(resid, 312);
}

static struct tgt_xfer plan(uint32_t edtl, bool r, bool w, enum scsi_dir dir, uint32_t blocks,
			    uint32_t unsol)
{
	struct tgt_xfer_in in = {.edtl = edtl, .r = r, .w = w, .dir = dir,
				 .xfer_len = blocks * 512, .block_size = 512,
				 .nblocks = blocks, .unsol_limit = unsol};
	struct tgt_xfer out;

	tgt_xfer_plan(&in, &out);
	return out;
}

static void plan_writes(void **state)
{
	struct tgt_xfer x;

	(void)state;
	/* exact: still through a buffer of ours, never straight onto the
	 * medium (an abort must leave the medium untouched) */
	x = plan(1024, false, true, SCSI_DIR_WRITE, 2, 65536);
	assert_int_equal(x.rx_len, 1024);
	assert_int_equal(x.unsol_limit, 1024);
	assert_int_equal(x.nblocks, 2);
	assert_true(x.buf_len >= 1024);
	assert_false(x.direct_ok);
	assert_false(x.skip_exec);
	/* EDTL 0: nothing to fetch or write */
	x = plan(0, false, true, SCSI_DIR_WRITE, 1, 65536);
	assert_int_equal(x.rx_len, 0);
	assert_true(x.skip_exec);
	assert_false(x.direct_ok);
	/* EDTL 200 for one block: take the 200 bytes, write nothing */
	x = plan(200, false, true, SCSI_DIR_WRITE, 1, 65536);
	assert_int_equal(x.rx_len, 200);
	assert_true(x.skip_exec);
	assert_true(x.buf_len >= 200);
	/* EDTL one block for two: write only the first */
	x = plan(512, false, true, SCSI_DIR_WRITE, 2, 65536);
	assert_int_equal(x.rx_len, 512);
	assert_int_equal(x.nblocks, 1);
	assert_false(x.skip_exec);
	/* EDTL longer: only the CDB's blocks, unsolicited slack in buffer */
	x = plan(10000, false, true, SCSI_DIR_WRITE, 1, 65536);
	assert_int_equal(x.rx_len, 512);
	assert_int_equal(x.unsol_limit, 10000);
	assert_true(x.buf_len >= 10000);
	assert_false(x.direct_ok);
	/* a WRITE CDB flagged as a read: no data, nothing written */
	x = plan(512, true, false, SCSI_DIR_WRITE, 1, 65536);
	assert_int_equal(x.rx_len, 0);
	assert_true(x.skip_exec);
}

static void plan_reads(void **state)
{
	struct tgt_xfer x;

	(void)state;
	x = plan(512, true, false, SCSI_DIR_READ, 1, 65536);
	assert_int_equal(x.buf_len, 512);
	assert_int_equal(x.rx_len, 0);
	assert_true(x.direct_ok);
	x = plan(200, true, false, SCSI_DIR_READ, 1, 65536);
	assert_int_equal(x.buf_len, 512);
	assert_false(x.direct_ok);
	/* a READ CDB flagged as a write: the data is taken and dropped */
	x = plan(512, false, true, SCSI_DIR_READ, 1, 65536);
	assert_true(x.discard);
	assert_int_equal(x.rx_len, 512);
	assert_true(x.buf_len >= 512);
	assert_false(x.direct_ok);
	/* no data at all */
	x = plan(0, false, false, SCSI_DIR_NONE, 0, 65536);
	assert_int_equal(x.buf_len, 0);
	assert_int_equal(x.rx_len, 0);
	/* a huge EDTL to drop is bounded */
	x = plan(0xffffffffu, false, true, SCSI_DIR_NONE, 0, 65536);
	assert_int_equal(x.rx_len, TGT_DISCARD_MAX);
}

/* ---- TMF ---- */

static uint8_t tmf(uint8_t fn, bool lun, bool found, bool inwin)
{
	struct tgt_tmf_in in = {.function = fn, .lun_exists = lun, .task_found = found,
				.refcmdsn_in_window = inwin};

	return tgt_tmf_decide(&in);
}

static void tmf_decisions(void **state)
{
	struct tgt_tmf_in disc = {.function = ISCSI_TMF_ABORT_TASK, .discovery = true};

	(void)state;
	assert_int_equal(tmf(ISCSI_TMF_ABORT_TASK, true, true, false), ISCSI_TMF_RSP_COMPLETE);
	assert_int_equal(tmf(ISCSI_TMF_ABORT_TASK, true, false, false), ISCSI_TMF_RSP_NO_TASK);
	assert_int_equal(tmf(ISCSI_TMF_ABORT_TASK, true, false, true), ISCSI_TMF_RSP_COMPLETE);
	assert_int_equal(tmf(ISCSI_TMF_ABORT_TASK, false, false, false), ISCSI_TMF_RSP_NO_LUN);
	assert_int_equal(tmf(ISCSI_TMF_ABORT_TASK_SET, true, false, false), ISCSI_TMF_RSP_COMPLETE);
	assert_int_equal(tmf(ISCSI_TMF_CLEAR_TASK_SET, false, false, false), ISCSI_TMF_RSP_NO_LUN);
	assert_int_equal(tmf(ISCSI_TMF_LOGICAL_UNIT_RESET, true, false, false),
			 ISCSI_TMF_RSP_COMPLETE);
	assert_int_equal(tmf(ISCSI_TMF_TARGET_WARM_RESET, false, false, false),
			 ISCSI_TMF_RSP_COMPLETE);
	assert_int_equal(tmf(ISCSI_TMF_TARGET_COLD_RESET, true, false, false),
			 ISCSI_TMF_RSP_NOT_SUPPORTED);
	assert_int_equal(tmf(ISCSI_TMF_CLEAR_ACA, true, false, false), ISCSI_TMF_RSP_NOT_SUPPORTED);
	assert_int_equal(tmf(ISCSI_TMF_TASK_REASSIGN, true, false, false),
			 ISCSI_TMF_RSP_NO_REASSIGN);
	assert_int_equal(tmf(0x7f, true, false, false), ISCSI_TMF_RSP_REJECTED);
	assert_int_equal(tmf(0, true, false, false), ISCSI_TMF_RSP_REJECTED);
	assert_int_equal(tgt_tmf_decide(&disc), ISCSI_TMF_RSP_REJECTED);
}

/* ---- discovery ---- */

static void addresses_format(void **state)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	char buf[80];

	(void)state;
	memset(&ss, 0, sizeof(ss));
	in->sin_family = AF_INET;
	in->sin_port = htons(3260);
	inet_pton(AF_INET, "127.0.0.1", &in->sin_addr);
	assert_int_equal(tgt_format_addr(&ss, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "127.0.0.1:3260");
	memset(&ss, 0, sizeof(ss));
	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons(3261);
	inet_pton(AF_INET6, "::1", &in6->sin6_addr);
	assert_int_equal(tgt_format_addr(&ss, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "[::1]:3261");
	ss.ss_family = AF_UNIX;
	assert_int_equal(tgt_format_addr(&ss, buf, sizeof(buf)), -EINVAL);
	ss.ss_family = AF_INET;
	assert_int_equal(tgt_format_addr(&ss, buf, 4), -EINVAL);
}

static const struct idm_transport_caps tcp_caps = {.data_in_status = true};
static const struct idm_transport_caps rdma_caps = {.rdma = true};
static const struct idm_transport tcp_like = {"tcp", NULL, &tcp_caps, 0};
static const struct idm_transport rdma_like = {"iser", NULL, &rdma_caps, 0};

static void sendtargets_text(void **state)
{
	struct tgt_target t[2] = {{.iqn = "iqn.2026-11.org.idm:a"}, {.iqn = "iqn.2026-11.org.idm:b"}};
	static const char all[] = "TargetName=iqn.2026-11.org.idm:a\0"
				  "TargetAddress=10.0.0.1:3260,1\0"
				  "TargetName=iqn.2026-11.org.idm:b\0"
				  "TargetAddress=10.0.0.1:3260,1";
	char out[512];
	int n;

	(void)state;
	/* discovery session: every target */
	n = tgt_sendtargets_build(t, 2, NULL, "All", "10.0.0.1:3260", 1, out, sizeof(out));
	assert_int_equal(n, sizeof(all));
	assert_memory_equal(out, all, sizeof(all));
	/* one by name */
	n = tgt_sendtargets_build(t, 2, NULL, "iqn.2026-11.org.idm:b", "[::1]:3260", 2, out,
				  sizeof(out));
	assert_true(n > 0);
	assert_string_equal(out, "TargetName=iqn.2026-11.org.idm:b");
	assert_string_equal(out + strlen(out) + 1, "TargetAddress=[::1]:3260,2");
	/* unknown name, or an empty value in a discovery session: nothing */
	assert_int_equal(tgt_sendtargets_build(t, 2, NULL, "iqn.x", "a:1", 1, out, sizeof(out)), 0);
	assert_int_equal(tgt_sendtargets_build(t, 2, NULL, "", "a:1", 1, out, sizeof(out)), 0);
	/* over a transport a target is not offered on, it is not listed */
	t[0].offered_on = IDM_OFFER_ISER;
	n = tgt_sendtargets_build_for(t, 2, NULL, NULL, &tcp_like, "All", "a:1", 1, out,
				      sizeof(out));
	assert_true(n > 0);
	assert_string_equal(out, "TargetName=iqn.2026-11.org.idm:b");
	n = tgt_sendtargets_build_for(t, 2, NULL, NULL, &rdma_like, "All", "a:1", 1, out,
				      sizeof(out));
	assert_string_equal(out, "TargetName=iqn.2026-11.org.idm:a");
	assert_true(tgt_offered_over(&t[1], &rdma_like) && tgt_offered_over(&t[1], &tcp_like));
	t[0].offered_on = 0;
	/* normal session: only its own target */
	n = tgt_sendtargets_build(t, 2, &t[1], "All", "a:1", 1, out, sizeof(out));
	assert_true(n > 0);
	assert_string_equal(out, "TargetName=iqn.2026-11.org.idm:b");
	n = tgt_sendtargets_build(t, 2, &t[1], "", "a:1", 1, out, sizeof(out));
	assert_true(n > 0);
	assert_int_equal(tgt_sendtargets_build(t, 2, &t[1], "iqn.2026-11.org.idm:a", "a:1", 1, out,
					       sizeof(out)),
			 0);
	/* too small */
	assert_int_equal(tgt_sendtargets_build(t, 2, NULL, "All", "a:1", 1, out, 40), -ENOSPC);
}

/* ---- defaults ---- */

static void conf_defaults(void **state)
{
	static struct idm_target_conf_all c; /* ~2 MiB: not on the stack */

	(void)state;
	memset(&c, 0xa5, sizeof(c));
	idm_target_conf_init(&c);
	assert_int_equal(c.nportals, 0);
	assert_int_equal(c.ntargets, 0);
	assert_int_equal(c.nreactors, 0);
	assert_int_equal(c.tun.max_recv_dsl, 262144);
	assert_int_equal(c.tun.max_burst_length, 1048576);
	assert_int_equal(c.tun.first_burst_length, 262144);
	assert_int_equal(c.tun.max_outstanding_r2t, 16);
	assert_false(c.tun.initial_r2t);
	assert_true(c.tun.immediate_data);
	assert_int_equal(c.tun.queue_depth, 128);
	assert_int_equal(c.tun.nop_interval_s, 30);
	assert_int_equal(c.tun.nop_timeout_s, 15);
	assert_int_equal(c.tun.login_timeout_s, 15);
	assert_int_equal(c.tun.max_connections, 4096);
	assert_int_equal(c.tun.max_connections_per_address, 1024);
	assert_int_equal(c.tun.max_prelogin_connections, 256);
	assert_int_equal(c.tun.prelogin_timeout_s, 5);
	assert_int_equal(c.tun.max_sessions_per_target, 1024);
	assert_int_equal(c.tun.max_discovery_sessions, 64);
	assert_int_equal(c.tun.dataout_timeout_s, 30);
	assert_int_equal(c.tun.text_timeout_s, 15);
}

/* ---- admission limits ---- */

static bool every_tsih_taken(void *arg, uint16_t tsih)
{
	(*(unsigned *)arg)++;
	return true;
}

static bool tsih_taken_below_10(void *arg, uint16_t tsih)
{
	return tsih < 10;
}

static void tsih_pick_is_bounded(void **state)
{
	unsigned asked = 0;
	uint16_t next = 5;

	(void)state;
	/* all 65535 taken: 0 (refused), after asking about each once */
	assert_int_equal(tgt_tsih_pick(&next, 0xffff, every_tsih_taken, &asked), 0);
	assert_int_equal(asked, 0xffff);
	next = 0xfffe;
	assert_int_equal(tgt_tsih_pick(&next, 20, tsih_taken_below_10, NULL), 0xfffe);
	next = 0xffff;
	assert_int_equal(tgt_tsih_pick(&next, 20, tsih_taken_below_10, NULL), 0xffff);
	/* 0 is skipped, 1..9 are taken */
	assert_int_equal(tgt_tsih_pick(&next, 20, tsih_taken_below_10, NULL), 10);
	next = 1;
	assert_int_equal(tgt_tsih_pick(&next, 5, tsih_taken_below_10, NULL), 0);
}

static void conn_limits_refuse_at_the_bound(void **state)
{
	static struct idm_target_conf_all c;
	struct tgt_conn_counts n = {0};

	(void)state;
	idm_target_conf_init(&c);
	c.tun.max_connections = 10;
	c.tun.max_connections_per_portal = 8;
	c.tun.max_connections_per_address = 4;
	c.tun.max_prelogin_connections = 2;
	assert_null(tgt_conn_limit_hit(&c.tun, &n));
	n = (struct tgt_conn_counts){.total = 9, .portal = 7, .address = 3, .prelogin = 1};
	assert_null(tgt_conn_limit_hit(&c.tun, &n));
	n.prelogin = 2;
	assert_string_equal(tgt_conn_limit_hit(&c.tun, &n), "max_prelogin_connections");
	n.address = 4;
	assert_string_equal(tgt_conn_limit_hit(&c.tun, &n), "max_connections_per_address");
	n.portal = 8;
	assert_string_equal(tgt_conn_limit_hit(&c.tun, &n), "max_connections_per_portal");
	n.total = 10;
	assert_string_equal(tgt_conn_limit_hit(&c.tun, &n), "max_connections");
}

static void session_limits_count_the_table(void **state)
{
	static struct idm_target_conf_all c;
	struct tgt_target t1 = {.iqn = "iqn.t1"}, t2 = {.iqn = "iqn.t2"};
	struct tgt_session s[4];
	struct tgt_sess_counts n;

	(void)state;
	idm_target_conf_init(&c);
	c.tun.max_sessions_per_target = 2;
	c.tun.max_sessions_per_initiator = 3;
	c.tun.max_discovery_sessions = 1;
	fill_session(&s[0], isid_a, "iqn.i1", &t1, 1);
	fill_session(&s[1], isid_b, "IQN.I1", &t1, 2);
	fill_session(&s[2], isid_a, "iqn.i2", &t2, 3);
	fill_session(&s[3], isid_a, "iqn.i1", NULL, 4);
	s[3].type = IDM_SESSION_DISCOVERY;
	s[0].next = &s[1];
	s[1].next = &s[2];
	s[2].next = &s[3];
	tgt_sess_count(&s[0], &t1, "iqn.i1", NULL, &n);
	assert_int_equal(n.target, 2);
	assert_int_equal(n.initiator, 2); /* names are case-insensitive */
	assert_int_equal(n.discovery, 1);
	assert_string_equal(tgt_sess_limit_hit(&c.tun, IDM_SESSION_NORMAL, &n),
	                    "max_sessions_per_target");
	assert_string_equal(tgt_sess_limit_hit(&c.tun, IDM_SESSION_DISCOVERY, &n),
	                    "max_discovery_sessions");
	/* reinstating s[1]: it does not count against its successor */
	tgt_sess_count(&s[0], &t1, "iqn.i1", &s[1], &n);
	assert_null(tgt_sess_limit_hit(&c.tun, IDM_SESSION_NORMAL, &n));
	tgt_sess_count(&s[0], &t2, "iqn.i1", NULL, &n);
	assert_null(tgt_sess_limit_hit(&c.tun, IDM_SESSION_NORMAL, &n));
	c.tun.max_sessions_per_initiator = 2;
	assert_string_equal(tgt_sess_limit_hit(&c.tun, IDM_SESSION_NORMAL, &n),
	                    "max_sessions_per_initiator");
}

static void same_host_ignores_the_port(void **state)
{
	struct sockaddr_storage a = {0}, b = {0}, c6 = {0};
	struct sockaddr_in *a4 = (void *)&a, *b4 = (void *)&b;
	struct sockaddr_in6 *v6 = (void *)&c6;

	(void)state;
	a4->sin_family = b4->sin_family = AF_INET;
	inet_pton(AF_INET, "127.0.0.1", &a4->sin_addr);
	inet_pton(AF_INET, "127.0.0.1", &b4->sin_addr);
	a4->sin_port = htons(1000);
	b4->sin_port = htons(2000);
	assert_true(tgt_same_host(&a, &b));
	inet_pton(AF_INET, "127.0.0.2", &b4->sin_addr);
	assert_false(tgt_same_host(&a, &b));
	v6->sin6_family = AF_INET6;
	inet_pton(AF_INET6, "::1", &v6->sin6_addr);
	assert_false(tgt_same_host(&a, &c6));
	assert_true(tgt_same_host(&c6, &c6));
}

/* ---- per-initiator CHAP accounts ---- */

static void acl_entry_account_overrides_the_target_one(void **state)
{
	static struct tgt_target t;

	(void)state;
	memset(&t, 0, sizeof(t));
	assert_null(tgt_acl_account(&t, "iqn.x:a"));
	t.has_chap = true;
	snprintf(t.chap.user, sizeof(t.chap.user), "target");
	snprintf(t.acl[0], sizeof(t.acl[0]), "iqn.x:a");
	snprintf(t.acl[1], sizeof(t.acl[1]), "iqn.x:b");
	t.nacl = 2;
	t.acl_chap[1].has = true;
	snprintf(t.acl_chap[1].chap.user, sizeof(t.acl_chap[1].chap.user), "bee");
	assert_ptr_equal(tgt_acl_account(&t, "iqn.x:a"), &t.chap);
	assert_ptr_equal(tgt_acl_account(&t, "IQN.X:B"), &t.acl_chap[1].chap); /* case-insensitive */
	assert_ptr_equal(tgt_acl_account(&t, "iqn.x:c"), &t.chap);
	assert_ptr_equal(tgt_acl_account(&t, NULL), &t.chap);
	t.has_chap = false;
	assert_null(tgt_acl_account(&t, "iqn.x:a"));
	assert_ptr_equal(tgt_acl_account(&t, "iqn.x:b"), &t.acl_chap[1].chap);
	/* an entry past nacl does not count */
	t.nacl = 1;
	assert_null(tgt_acl_account(&t, "iqn.x:b"));
}

/* An ACL entry's LUN map is its initiator's view; others see every LUN. */
static void acl_entry_lun_map_is_the_view(void **state)
{
	static struct tgt_target t;
	static struct scsi_lun_map view;

	(void)state;
	memset(&t, 0, sizeof(t));
	snprintf(t.acl[0], sizeof(t.acl[0]), "iqn.x:a");
	snprintf(t.acl[1], sizeof(t.acl[1]), "iqn.x:b");
	t.nacl = 2;
	t.acl_map[1] = (struct idm_lun_map){.has = true, .n = 1, .e = {{.lun = 4, .target_lun = 9}}};
	tgt_acl_lun_view(&t, "IQN.X:B", &view);
	assert_false(view.all);
	assert_int_equal(scsi_lun_map_lu(&view, 4), 9);
	assert_int_equal(scsi_lun_map_lu(&view, 9), SCSI_MAX_LUNS);
	assert_int_equal(scsi_lun_map_lu(&view, 0), SCSI_MAX_LUNS);
	tgt_acl_lun_view(&t, "iqn.x:a", &view);
	assert_true(view.all);
	assert_int_equal(scsi_lun_map_lu(&view, 9), 9);
	tgt_acl_lun_view(&t, "iqn.x:c", &view);
	assert_true(view.all);
	assert_true(tgt_acl_lists(&t, "iqn.x:b"));
	assert_false(tgt_acl_lists(&t, "iqn.x:c"));
	t.nacl = 1; /* past nacl: no entry, no map */
	tgt_acl_lun_view(&t, "iqn.x:b", &view);
	assert_true(view.all);
}

/* Gateway groups: the lock holder is active/optimized, the others
 * active/non-optimized or standby; with no holder every path may write. */
static void gateway_states_follow_the_lock(void **state)
{
	struct idm_gateway_conf gw = {.id = 2, .group = {3, 1, 2}, .ngroup = 3};
	struct scsi_alua a;

	(void)state;
	tgt_gateway_states(&gw, 1, &a);
	assert_int_equal(a.n, 3);
	assert_int_equal(a.group[0].id, 3);
	assert_int_equal(a.group[0].state, SCSI_ALUA_ACTIVE_NON_OPTIMIZED);
	assert_int_equal(a.group[1].state, SCSI_ALUA_ACTIVE_OPTIMIZED);
	assert_int_equal(a.group[2].state, SCSI_ALUA_ACTIVE_NON_OPTIMIZED);
	gw.standby = true;
	tgt_gateway_states(&gw, 2, &a);
	assert_int_equal(a.group[0].state, SCSI_ALUA_STANDBY);
	assert_int_equal(a.group[1].state, SCSI_ALUA_STANDBY);
	assert_int_equal(a.group[2].state, SCSI_ALUA_ACTIVE_OPTIMIZED);
	tgt_gateway_states(&gw, 0, &a);
	for (unsigned i = 0; i < a.n; i++) {
		assert_int_equal(a.group[i].state, SCSI_ALUA_ACTIVE_NON_OPTIMIZED);
	}
	/* a holder outside the group (a stale published id): none optimized */
	tgt_gateway_states(&gw, 9, &a);
	for (unsigned i = 0; i < a.n; i++) {
		assert_int_not_equal(a.group[i].state, SCSI_ALUA_ACTIVE_OPTIMIZED);
	}
}

/* The group's one-line records come from the cluster: anything but
 * "WORD N" reads as nothing recorded. */
static void gateway_records_parse_strictly(void **state)
{
	static const struct {
		const char *text, *word;
		uint64_t want;
	} cases[] = {
	    {"optimized 2\n", "optimized", 2},   {"optimized 65535", "optimized", 65535},
	    {"resets 18446744073709551615\n", "resets", UINT64_MAX},
	    {"", "optimized", 0},                 {"optimized\n", "optimized", 0},
	    {"optimized -1\n", "optimized", 0},  {"optimized 2x\n", "optimized", 0},
	    {"optimizedd 2\n", "optimized", 0},  {"resets 3\n", "optimized", 0},
	    {"optimized 2\nmore\n", "optimized", 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t got = tgt_gateway_record_value(cases[i].text, strlen(cases[i].text),
		                                        cases[i].word);

		if (got != cases[i].want) {
			fail_msg("case %zu \"%s\": %llu", i, cases[i].text, (unsigned long long)got);
		}
	}
	/* a record longer than a line is nothing we wrote */
	char big[200];
	memset(big, '1', sizeof(big));
	memcpy(big, "resets ", 7);
	assert_int_equal(tgt_gateway_record_value(big, sizeof(big), "resets"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(window_opens_with_queue_depth),
		cmocka_unit_test(window_drops_outside_and_advances_inside),
		cmocka_unit_test(window_wraps),
		cmocka_unit_test(session_rules),
		cmocka_unit_test(tsih_alloc_skips_zero_and_used),
		cmocka_unit_test(tsih_pick_is_bounded),
		cmocka_unit_test(conn_limits_refuse_at_the_bound),
		cmocka_unit_test(session_limits_count_the_table),
		cmocka_unit_test(same_host_ignores_the_port),
		cmocka_unit_test(login_stage_rules),
		cmocka_unit_test(login_version_rules),
		cmocka_unit_test(residual_flags),
		cmocka_unit_test(plan_writes),
		cmocka_unit_test(plan_reads),
		cmocka_unit_test(tmf_decisions),
		cmocka_unit_test(addresses_format),
		cmocka_unit_test(sendtargets_text),
		cmocka_unit_test(conf_defaults),
		cmocka_unit_test(acl_entry_account_overrides_the_target_one),
		cmocka_unit_test(acl_entry_lun_map_is_the_view),
		cmocka_unit_test(gateway_states_follow_the_lock),
		cmocka_unit_test(gateway_records_parse_strictly),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
