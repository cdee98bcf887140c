/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the access keys of idmd's JSON configuration
 * (src/target/config.c): "acl", "chap", "discovery", "chap_algorithms".
 * Bad values fail with a message that never shows a secret.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config_test.h"

#define HEAD "{\"portals\": [{\"addr\": \"127.0.0.1\"}], "
#define TGT_OPEN "\"targets\": [{\"iqn\": \"iqn.2026-11.org.idm:a\", " \
		 "\"luns\": [{\"spec\": \"mem:1M\"}]"

static void access_config_loads(void **state)
{
	struct idm_target_conf_all *c = *state;
	char err[256];

	assert_int_equal(conf_load_json(HEAD TGT_OPEN ", \"acl\": [\"iqn.x:1\", \"iqn.x:2\"],"
			" \"chap\": {\"user\": \"u\", \"secret\": \"secret-of-u-1\","
			"  \"target_user\": \"t\", \"target_secret\": \"secret-of-t-2\"}}],"
			" \"discovery\": {\"chap\": {\"user\": \"d\", \"secret\": \"disc-secret-3\"},"
			"  \"acl_filter\": false},"
			" \"chap_algorithms\": [\"SHA-256\", \"MD5\"]}",
			c, err, sizeof(err)),
			 0);
	assert_int_equal(c->targets[0].nacl, 2);
	assert_string_equal(c->targets[0].acl[1], "iqn.x:2");
	assert_true(c->targets[0].has_chap);
	assert_string_equal(c->targets[0].chap.user, "u");
	assert_int_equal(c->targets[0].chap.secret_len, strlen("secret-of-u-1"));
	assert_memory_equal(c->targets[0].chap.secret, "secret-of-u-1", 13);
	assert_string_equal(c->targets[0].chap.target_user, "t");
	assert_int_equal(c->targets[0].chap.target_secret_len, strlen("secret-of-t-2"));
	assert_true(c->discovery.has_chap);
	assert_string_equal(c->discovery.chap.user, "d");
	assert_int_equal(c->discovery.chap.target_secret_len, 0);
	assert_true(c->discovery.list_all);
	assert_int_equal(c->nchap_algs, 2);
	assert_int_equal(c->chap_algs[0], IDM_CHAP_SHA256);
	assert_int_equal(c->chap_algs[1], IDM_CHAP_MD5);
}

/* "lun_map": {"LUN": TARGET_LUN}; each number once on each side, in range. */
static void lun_maps(void **state)
{
	struct idm_target_conf_all *c = *state;
	static const char *const bad[] = {
	    "{\"0\": 64}", "{\"64\": 0}", "{\"-1\": 0}", "{\"x\": 0}", "{\"01\": 0}",
	    "{\"0\": \"1\"}", "{\"0\": 1, \"1\": 1}", "[0]", "{\"0\": -1}", "{\"\": 0}",
	};
	char json[512], err[256];

	assert_int_equal(conf_load_json(HEAD TGT_OPEN ", \"acl\": [{\"initiator\": \"iqn.x:1\","
	                                " \"lun_map\": {\"7\": 0, \"2\": 63}}, \"iqn.x:2\","
	                                " {\"initiator\": \"iqn.x:3\", \"lun_map\": {}}]}]}",
	                                c, err, sizeof(err)),
	                 0);
	assert_true(c->targets[0].acl_map[0].has);
	assert_int_equal(c->targets[0].acl_map[0].n, 2);
	assert_int_equal(c->targets[0].acl_map[0].e[0].lun, 2);
	assert_int_equal(c->targets[0].acl_map[0].e[0].target_lun, 63);
	assert_false(c->targets[0].acl_map[1].has);
	assert_true(c->targets[0].acl_map[2].has); /* sees no LUN */
	assert_int_equal(c->targets[0].acl_map[2].n, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(json, sizeof(json),
		         HEAD TGT_OPEN ", \"acl\": [{\"initiator\": \"iqn.x:1\", \"lun_map\": %s}]}]}",
		         bad[i]);
		memset(c, 0, sizeof(*c));
		idm_target_conf_init(c);
		assert_int_not_equal(conf_load_json(json, c, err, sizeof(err)), 0);
		assert_non_null(strstr(err, "lun_map"));
	}
}

static void access_defaults(void **state)
{
	struct idm_target_conf_all *c = *state;
	char err[256];

	assert_int_equal(conf_load_json(HEAD TGT_OPEN "}]}", c, err, sizeof(err)), 0);
	assert_int_equal(c->targets[0].nacl, 0);
	assert_false(c->targets[0].has_chap);
	assert_false(c->discovery.has_chap);
	assert_false(c->discovery.list_all); /* acl_filter defaults to true */
	assert_int_equal(c->nchap_algs, 0);
	assert_int_equal(conf_load_json(HEAD TGT_OPEN ", \"acl\": []}], \"discovery\": {\"acl_filter\": true}}",
			c, err, sizeof(err)),
			 0);
	assert_int_equal(c->targets[0].nacl, 0);
	assert_false(c->discovery.list_all);
}

/* Each bad document fails naming the problem and never the secret. */
static void bad_access_fails_without_secrets(void **state)
{
	static const struct {
		const char *json;
		const char *msg;
	} cases[] = {
		{HEAD TGT_OPEN ", \"acl\": \"iqn.x\"}]}", "\"acl\" must be an array"},
		{HEAD TGT_OPEN ", \"acl\": [5]}]}", "ACL entry must be a string"},
		{HEAD TGT_OPEN ", \"acl\": [\"\"]}]}", "ACL entry must be 1 to"},
		{HEAD TGT_OPEN ", \"chap\": [\"SeCrEt-0001\"]}]}", "\"chap\" must be an object"},
		{HEAD TGT_OPEN ", \"chap\": {\"user\": \"u\"}}]}", "needs \"user\" and \"secret\""},
		{HEAD TGT_OPEN ", \"chap\": {\"secret\": \"SeCrEt-0001\"}}]}",
		 "needs \"user\" and \"secret\""},
		{HEAD TGT_OPEN ", \"chap\": {\"user\": \"u\", \"secret\": \"SeCrEt-0001\", "
			       "\"passwd\": \"SeCrEt-0001\"}}]}",
		 "unknown chap key \"passwd\""},
		{HEAD TGT_OPEN ", \"chap\": {\"user\": \"u\", \"secret\": \"SeCrEt-0001\", "
			       "\"target_secret\": \"SeCrEt-0002\"}}]}",
		 "go together"},
		{HEAD TGT_OPEN ", \"chap\": {\"user\": \"u\", \"secret\": \"SeCrEt-0001\", "
			       "\"target_user\": \"t\", \"target_secret\": \"SeCrEt-0001\"}}]}",
		 "secrets must differ"},
		{HEAD TGT_OPEN ", \"chap\": {\"user\": \"u\", \"secret\": \"\"}}]}", "bad chap account"},
		{HEAD TGT_OPEN ", \"chap\": {\"user\": \"u\", \"secret\": 12}}]}",
		 "chap secret must be a string"},
		{HEAD TGT_OPEN "}], \"discovery\": {\"acl_filter\": 1}}", "acl_filter must be true"},
		{HEAD TGT_OPEN "}], \"discovery\": {\"chap\": {\"user\": \"d\"}}}", "discovery: chap needs"},
		{HEAD TGT_OPEN "}], \"discovery\": {\"other\": 1}}", "unknown discovery key \"other\""},
		{HEAD TGT_OPEN "}], \"chap_algorithms\": [\"SHA-512\"]}", "chap_algorithms: each"},
		{HEAD TGT_OPEN "}], \"chap_algorithms\": [\"MD5\", \"md5\"]}", "appears twice"},
		{HEAD TGT_OPEN "}], \"chap_algorithms\": []}", "at least one"},
		{HEAD TGT_OPEN "}], \"chap_algorithms\": [\"MD5\", \"SHA1\", \"SHA-256\", \"SHA3-256\", "
			       "\"MD5\"]}",
		 "at most 4"},
	};
	struct idm_target_conf_all *c = *state;
	char err[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_not_equal(conf_load_json(cases[i].json, c, err, sizeof(err)), 0);
		if (!strstr(err, cases[i].msg)) {
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].msg);
		}
		assert_null(strstr(err, "SeCrEt"));
		assert_null(strchr(err, '\n'));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(access_config_loads, conf_setup, conf_teardown),
		cmocka_unit_test_setup_teardown(access_defaults, conf_setup, conf_teardown),
		cmocka_unit_test_setup_teardown(lun_maps, conf_setup, conf_teardown),
		cmocka_unit_test_setup_teardown(bad_access_fails_without_secrets, conf_setup,
						conf_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
