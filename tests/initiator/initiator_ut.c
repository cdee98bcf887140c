/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the initiator's pure parts: URLs, SendTargets parsing,
 * CmdSN window / ExpStatSN / ITT bookkeeping, and Data-Out planning.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "initiator/ini_priv.h"

/* ---- URLs ---- */

static void url_full(void **state)
{
	struct idm_url u;
	char err[128];

	assert_int_equal(idm_url_parse("iscsi://bob%secret@10.0.0.1:3261/iqn.2001-04.com.ex:disk/3",
	                               &u, err, sizeof(err)),
	                 0);
	assert_false(u.iser);
	assert_string_equal(u.user, "bob");
	assert_string_equal(u.password, "secret");
	assert_string_equal(u.host, "10.0.0.1");
	assert_int_equal(u.port, 3261);
	assert_string_equal(u.target, "iqn.2001-04.com.ex:disk");
	assert_true(u.has_lun);
	assert_int_equal(u.lun, 3);
}

static void url_defaults_and_ipv6(void **state)
{
	struct idm_url u;

	assert_int_equal(idm_url_parse("iser://[fe80::1]/iqn.x:y/0", &u, NULL, 0), 0);
	assert_true(u.iser);
	assert_string_equal(u.host, "fe80::1");
	assert_int_equal(u.port, 3260);
	assert_string_equal(u.user, "");
	assert_int_equal(idm_url_parse("iscsi://[::1]:3262/iqn.x:y/12", &u, NULL, 0), 0);
	assert_string_equal(u.host, "::1");
	assert_int_equal(u.port, 3262);
	assert_int_equal(u.lun, 12);
	/* a portal only (discovery) */
	assert_int_equal(idm_url_parse("iscsi://host.example", &u, NULL, 0), 0);
	assert_string_equal(u.host, "host.example");
	assert_false(u.has_lun);
	assert_int_equal(idm_url_parse("iscsi://user@h:1/", &u, NULL, 0), 0);
	assert_string_equal(u.user, "user");
	assert_string_equal(u.target, "");
}

static void url_bad(void **state)
{
	static const char *const bad[] = {
	    "http://h/iqn/0",    "iscsi://",
	    "iscsi://h:0/iqn/0", "iscsi://h:99999/iqn/0",
	    "iscsi://h:/iqn/0",  "iscsi://[::1/iqn/0",
	    "iscsi://[]/iqn/0",  "iscsi://h/iqn",
	    "iscsi://h/iqn/x",   "iscsi://h/iqn/70000",
	    "iscsi://@h/iqn/0",  "iscsi://%p@h/iqn/0",
	    "iscsi://h//0",      "iscsi://[::1]x/iqn/0",
	};
	struct idm_url u;
	char err[128];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(idm_url_parse(bad[i], &u, err, sizeof(err)), -EINVAL);
		assert_true(strncmp(err, "bad URL", 7) == 0);
	}
	assert_int_equal(idm_url_parse(NULL, &u, NULL, 0), -EINVAL);
}

/* ---- SendTargets ---- */

static void sendtargets_pairs(void **state)
{
	static const char text[] = "TargetName=iqn.a:1\0TargetAddress=10.0.0.1:3260,1\0"
	                           "TargetAddress=[::1]:3260,2\0TargetAlias=x\0"
	                           "TargetName=iqn.a:2\0TargetAddress=10.0.0.2:3260,1";
	struct idm_ini_targets l;

	assert_int_equal(idm_ini_sendtargets_parse(text, sizeof(text) - 1, &l), 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.t[0].name, "iqn.a:1");
	assert_int_equal(l.t[0].naddr, 2);
	assert_string_equal(l.t[0].addr[1], "[::1]:3260,2");
	assert_string_equal(l.t[1].name, "iqn.a:2");
	assert_int_equal(l.t[1].naddr, 1);
	idm_ini_targets_free(&l);
	assert_int_equal(idm_ini_sendtargets_parse("", 0, &l), 0);
	assert_int_equal(l.n, 0);
}

static void sendtargets_bad(void **state)
{
	static const char orphan[] = "TargetAddress=1.2.3.4:3260,1";
	static const char junk[] = "TargetName";
	struct idm_ini_targets l;

	assert_true(idm_ini_sendtargets_parse(orphan, sizeof(orphan) - 1, &l) < 0);
	assert_null(l.t);
	assert_true(idm_ini_sendtargets_parse(junk, sizeof(junk) - 1, &l) < 0);
}

/* ---- CmdSN / StatSN / ITT ---- */

static void sn_window(void **state)
{
	struct ini_sn sn;

	ini_sn_init(&sn, 1);
	assert_true(ini_sn_can_send(&sn)); /* CmdSN 1 <= MaxCmdSN 1 */
	sn.cmd_sn++;
	assert_false(ini_sn_can_send(&sn));
	ini_sn_window(&sn, 2, 33);
	assert_true(ini_sn_can_send(&sn));
	/* stale values never move the window back */
	ini_sn_window(&sn, 1, 10);
	assert_int_equal(sn.exp_cmd_sn, 2);
	assert_int_equal(sn.max_cmd_sn, 33);
	/* MaxCmdSN < ExpCmdSN - 1 is invalid: ignored */
	ini_sn_window(&sn, 50, 40);
	assert_int_equal(sn.exp_cmd_sn, 2);
	/* MaxCmdSN = ExpCmdSN - 1 closes the window (legal) */
	sn.cmd_sn = 34;
	ini_sn_window(&sn, 34, 33);
	assert_false(ini_sn_can_send(&sn));
	/* wrap around 2^32 */
	ini_sn_init(&sn, 0xfffffffeu);
	ini_sn_window(&sn, 0xfffffffeu, 3);
	sn.cmd_sn = 2;
	assert_true(ini_sn_can_send(&sn));
}

static void sn_statsn(void **state)
{
	struct ini_sn sn;

	ini_sn_init(&sn, 1);
	ini_sn_stat(&sn, 7);
	assert_int_equal(sn.exp_stat_sn, 8);
	ini_sn_stat(&sn, 5); /* older: kept */
	assert_int_equal(sn.exp_stat_sn, 8);
	sn.exp_stat_sn = 0xfffffff0u; /* near the wrap */
	ini_sn_stat(&sn, 0xffffffffu);
	assert_int_equal(sn.exp_stat_sn, 0);
}

static void itt_alloc(void **state)
{
	uint32_t ctr = 0x7ffffffeu;
	uint32_t a = ini_itt_next(&ctr, false);
	uint32_t b = ini_itt_next(&ctr, false);
	uint32_t m = ini_itt_next(&ctr, true);

	assert_int_equal(a, 0x7fffffffu);
	assert_int_equal(b, 0); /* wrapped inside the SCSI space */
	assert_true(m & INI_ITT_MGMT);
	ctr = 0x7ffffffeu;
	assert_int_not_equal(ini_itt_next(&ctr, true), IDM_RESERVED_TAG);
}

/* ---- Data-Out planning ---- */

static void burst_split(void **state)
{
	struct ini_burst b;
	struct ini_dataout d;

	ini_burst_init(&b, 8192, 20000, 0x1234);
	assert_true(ini_burst_next(&b, 8192, &d));
	assert_int_equal(d.off, 8192);
	assert_int_equal(d.len, 8192);
	assert_int_equal(d.data_sn, 0);
	assert_false(d.final);
	assert_true(ini_burst_next(&b, 8192, &d));
	assert_int_equal(d.off, 16384);
	assert_int_equal(d.data_sn, 1);
	assert_true(ini_burst_next(&b, 8192, &d));
	assert_int_equal(d.off, 24576);
	assert_int_equal(d.len, 20000 - 16384);
	assert_int_equal(d.data_sn, 2);
	assert_true(d.final);
	assert_false(ini_burst_next(&b, 8192, &d));
	assert_int_equal(b.ttt, 0x1234);
	/* an empty burst sends nothing; a zero MaxRecvDSL is refused */
	ini_burst_init(&b, 0, 0, IDM_RESERVED_TAG);
	assert_false(ini_burst_next(&b, 8192, &d));
	ini_burst_init(&b, 0, 10, IDM_RESERVED_TAG);
	assert_false(ini_burst_next(&b, 0, &d));
}

static void unsol_plan(void **state)
{
	struct idm_params p;
	struct ini_unsol u;

	idm_params_init(&p); /* InitialR2T=Yes, ImmediateData=Yes, FBL 64k, MRDSL 8k */
	p.max_xmit_dsl = 8192;
	ini_unsol_plan(&p, 100000, &u);
	assert_int_equal(u.immediate, 8192);
	assert_int_equal(u.end, 8192);
	p.initial_r2t = false;
	ini_unsol_plan(&p, 100000, &u);
	assert_int_equal(u.immediate, 8192);
	assert_int_equal(u.end, p.first_burst_length);
	ini_unsol_plan(&p, 4096, &u);
	assert_int_equal(u.immediate, 4096);
	assert_int_equal(u.end, 4096);
	p.immediate_data = false;
	ini_unsol_plan(&p, 100000, &u);
	assert_int_equal(u.immediate, 0);
	assert_int_equal(u.end, p.first_burst_length);
	p.initial_r2t = true;
	ini_unsol_plan(&p, 100000, &u);
	assert_int_equal(u.immediate, 0);
	assert_int_equal(u.end, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(url_full),        cmocka_unit_test(url_defaults_and_ipv6),
	    cmocka_unit_test(url_bad),         cmocka_unit_test(sendtargets_pairs),
	    cmocka_unit_test(sendtargets_bad), cmocka_unit_test(sn_window),
	    cmocka_unit_test(sn_statsn),       cmocka_unit_test(itt_alloc),
	    cmocka_unit_test(burst_split),     cmocka_unit_test(unsol_plan),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
