/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of idmd's JSON configuration loader (src/target/config.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config_test.h"

static void full_config_loads(void **state)
{
	struct idm_target_conf_all *c = *state;
	char err[256];

	assert_int_equal(conf_load_json("{\"reactors\": 2, \"state_dir\": \"/tmp/idm-state\","
			" \"portals\": [{\"addr\": \"::1\", \"port\": 3270, \"tpgt\": 7}],"
			" \"targets\": [{\"iqn\": \"iqn.2026-11.org.idm:a\", \"alias\": \"a\","
			"   \"transports\": [\"iser\"],"
			"   \"luns\": [{\"spec\": \"mem:1G\"},"
			"              {\"lun\": 5, \"spec\": \"null:1T\", \"block_size\": 4096,"
			"               \"start_offline\": true}]}],"
			" \"tunables\": {\"queue_depth\": 64, \"immediate_data\": false,"
			"   \"iser_copy_threshold\": 4096, \"tx_queue_max_bytes\": 1048576,"
			"   \"tx_queue_max_pdus\": 256, \"tx_stall_timeout_s\": 7}}",
			c, err, sizeof(err)),
			 0);
	assert_int_equal(c->nreactors, 2);
	assert_string_equal(c->state_dir, "/tmp/idm-state");
	assert_int_equal(c->nportals, 1);
	assert_string_equal(c->portals[0].addr, "::1");
	assert_int_equal(c->portals[0].port, 3270);
	assert_int_equal(c->portals[0].tpgt, 7);
	assert_int_equal(c->ntargets, 1);
	assert_string_equal(c->targets[0].iqn, "iqn.2026-11.org.idm:a");
	assert_int_equal(c->targets[0].nluns, 2);
	assert_int_equal(c->targets[0].luns[0].lun, 0);
	assert_int_equal(c->targets[0].luns[0].block_size, 512);
	assert_int_equal(c->targets[0].luns[1].lun, 5);
	assert_int_equal(c->targets[0].luns[1].block_size, 4096);
	assert_string_equal(c->targets[0].luns[1].spec, "null:1T");
	assert_false(c->targets[0].luns[0].start_offline);
	assert_true(c->targets[0].luns[1].start_offline);
	assert_int_equal(c->tun.queue_depth, 64);
	assert_false(c->tun.immediate_data);
	assert_int_equal(c->tun.iser_copy_threshold, 4096);
	assert_int_equal(c->tun.tx_queue_max_bytes, 1048576);
	assert_int_equal(c->tun.tx_queue_max_pdus, 256);
	assert_int_equal(c->tun.tx_stall_timeout_s, 7);
	assert_int_equal(c->targets[0].offered_on, IDM_OFFER_ISER);
}

/* `json` (case `i`) fails to load with one line holding `msg`. */
static void expect_refused(struct idm_target_conf_all *c, const char *json, size_t i,
                           const char *msg)
{
	char err[256];

	assert_int_not_equal(conf_load_json(json, c, err, sizeof(err)), 0);
	if (!strstr(err, msg)) {
		fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, msg);
	}
	assert_null(strchr(err, '\n'));
}

/* Each bad document fails with a message naming the problem. */
static void bad_configs_fail_clearly(void **state)
{
	static const struct {
		const char *json;
		const char *msg;
	} cases[] = {
		{"{", "cannot read or parse"},
		{"[]", "top level must be an object"},
		{"{\"portal\": []}", "unknown key \"portal\""},
		{"{\"portals\": [{\"addr\": \"1.2.3.4\", \"port\": 70000}]}", "portal port"},
		{"{\"portals\": [{\"port\": 3260}]}", "needs \"addr\""},
		{"{\"portals\": [{\"addr\": \"127.0.0.1\"}]}", "no targets"},
		{"{\"targets\": [{\"iqn\": \"x\"}]}", "no portals"},
		{"{\"targets\": [{\"luns\": []}]}", "needs \"iqn\""},
		{"{\"targets\": [{\"iqn\": \"x\", \"luns\": [{\"spec\": 5}]}]}", "LUN spec must be a string"},
		{"{\"targets\": [{\"iqn\": \"x\", \"luns\": [{\"spec\": \"mem:1G\", \"block_size\": 1024}]}]}",
		 "block_size must be 512 or 4096"},
		{"{\"targets\": [{\"iqn\": \"x\", \"luns\": [{\"spec\": \"rbd:p/i\", \"start_offline\": 1}]}]}",
		 "start_offline must be true or false"},
		{"{\"targets\": [{\"iqn\": \"x\", \"luns\": [{\"spec\": \"mem:1G\"}, {\"lun\": 0, \"spec\": \"mem:1G\"}]}]}",
		 "appears twice"},
		{"{\"tunables\": {\"queue_depth\": 0}}", "queue_depth must be between"},
		{"{\"tunables\": {\"initial_r2t\": 1}}", "initial_r2t must be true or false"},
		{"{\"tunables\": {\"bogus\": 1}}", "unknown tunable \"bogus\""},
		{"{\"targets\": [{\"iqn\": \"iqn.x\", \"transports\": [\"rdma\"]}]}",
		 "unknown transport \"rdma\""},
		{"{\"targets\": [{\"iqn\": \"iqn.x\", \"transports\": []}]}",
		 "\"transports\" must be a non-empty array"},
		{"{\"tunables\": {\"iser_copy_threshold\": 131073}}",
		 "iser_copy_threshold must be between"},
		{"{\"tunables\": {\"tx_queue_max_bytes\": 0}}", "tx_queue_max_bytes must be between"},
		{"{\"tunables\": {\"tx_queue_max_pdus\": 10}}", "tx_queue_max_pdus must be between"},
		{"{\"tunables\": {\"tx_stall_timeout_s\": 0}}", "tx_stall_timeout_s must be between"},
	};
	struct idm_target_conf_all *c = *state;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		expect_refused(c, cases[i].json, i, cases[i].msg);
	}
}

/* A LUN's cache and identity keys load as written; unset ones stay
 * unset (the LU's defaults apply). */
static void lun_identity_loads(void **state)
{
	static const char json[] =
	    "{\"portals\": [{\"addr\": \"127.0.0.1\"}], \"targets\": [{\"iqn\": \"iqn.x\","
	    " \"luns\": [{\"spec\": \"mem:1M\", \"write_cache\": false, \"vendor\": \"ACME\","
	    " \"product\": \"Fast Disk 3000 X\", \"serial\": \"SN-0042_a.b\","
	    " \"naa\": \"6001405AA8E1C7F3C6A3B2B1E0D9C8B7\"}, {\"spec\": \"mem:1M\"}]}]}";
	static const uint8_t naa[16] = {0x60, 0x01, 0x40, 0x5a, 0xa8, 0xe1, 0xc7, 0xf3,
	                                0xc6, 0xa3, 0xb2, 0xb1, 0xe0, 0xd9, 0xc8, 0xb7};
	struct idm_target_conf_all *c = *state;
	const struct idm_lun_conf *l = &c->targets[0].luns[0], *plain = &c->targets[0].luns[1];
	char err[256], serial[33], hex[33];
	uint8_t eff[16];

	assert_int_equal(conf_load_json(json, c, err, sizeof(err)), 0);
	assert_true(l->write_cache_set);
	assert_false(l->write_cache);
	assert_string_equal(l->vendor, "ACME");
	assert_string_equal(l->product, "Fast Disk 3000 X");
	assert_string_equal(l->serial, "SN-0042_a.b");
	assert_true(l->has_naa);
	assert_memory_equal(l->naa, naa, 16);
	assert_int_equal(idm_lun_ident_effective(l, "iqn.x", serial, eff), 0);
	assert_string_equal(serial, "SN-0042_a.b");
	assert_memory_equal(eff, naa, 16);
	idm_naa_hex(eff, hex);
	assert_string_equal(hex, "6001405aa8e1c7f3c6a3b2b1e0d9c8b7");
	/* unset: derived from IQN and LUN, as the LU itself derives them */
	assert_false(plain->write_cache_set || plain->has_naa || plain->vendor[0] ||
	             plain->product[0] || plain->serial[0]);
	assert_int_equal(idm_lun_ident_effective(plain, "iqn.x", serial, eff), 0);
	assert_int_equal(strlen(serial), 32);
	assert_int_equal(eff[0] >> 4, 6);
}

/* Hostile identity values are refused whole, with the rule in the error. */
static void lun_identity_hostile_refused(void **state)
{
	static const struct {
		const char *kv;
		const char *msg;
	} cases[] = {
		{"\"vendor\": \"\"", "vendor must be 1 to 8"},
		{"\"vendor\": \"NINECHARS\"", "vendor must be 1 to 8"},
		{"\"vendor\": \" ACME\"", "no leading or trailing space"},
		{"\"vendor\": \"AC\\u00e9\"", "printable ASCII"},
		{"\"vendor\": \"AC\\tME\"", "printable ASCII"},
		{"\"vendor\": 7", "vendor must be a string"},
		{"\"product\": \"seventeen chars!!\"", "product must be 1 to 16"},
		{"\"product\": \"disk \"", "no leading or trailing space"},
		{"\"serial\": \"has space\"", "serial must be 1 to 32 printable ASCII"},
		{"\"serial\": \"0123456789abcdef0123456789abcdef0\"", "serial must be 1 to 32"},
		{"\"serial\": \"nul\\u0000x\"", "serial must not contain a NUL"},
		{"\"serial\": \"\\u007f\"", "serial must be"},
		{"\"naa\": \"5001405aa8e1c7f3c6a3b2b1e0d9c8b7\"", "starting with 6"},
		{"\"naa\": \"6001405aa8e1c7f3c6a3b2b1e0d9c8b\"", "32 hex digits"},
		{"\"naa\": \"6001405aa8e1c7f3c6a3b2b1e0d9c8b7f\"", "32 hex digits"},
		{"\"naa\": \"6001405aa8e1c7f3c6a3b2b1e0d9c8bg\"", "32 hex digits"},
		{"\"naa\": \"0x01405aa8e1c7f3c6a3b2b1e0d9c8b7ff\"", "32 hex digits"},
		{"\"write_cache\": \"yes\"", "write_cache must be true or false"},
	};
	struct idm_target_conf_all *c = *state;
	char json[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(json, sizeof(json),
		         "{\"portals\": [{\"addr\": \"127.0.0.1\"}], \"targets\": [{\"iqn\": "
		         "\"iqn.x\", \"luns\": [{\"spec\": \"mem:1M\", %s}]}]}",
		         cases[i].kv);
		expect_refused(c, json, i, cases[i].msg);
	}
}

/* A gateway group: the portals take the gateway's id as their tpgt;
 * a group without this gateway, a repeated id or a portal in another
 * group is refused. */
static void gateway_group_loads(void **state)
{
	static const char good[] =
	    "{\"gateway\": {\"id\": 2, \"group\": [1, 2, 3], \"standby\": true},"
	    " \"portals\": [{\"addr\": \"127.0.0.2\"}, {\"addr\": \"::1\", \"tpgt\": 2}],"
	    " \"targets\": [{\"iqn\": \"iqn.x\", \"luns\": [{\"spec\": \"mem:1M\"}]}]}";
	static const char plain[] =
	    "{\"portals\": [{\"addr\": \"127.0.0.1\"}],"
	    " \"targets\": [{\"iqn\": \"iqn.x\", \"luns\": [{\"spec\": \"mem:1M\"}]}]}";
	static const struct {
		const char *gateway, *portal_extra, *msg;
	} cases[] = {
	    {"{\"id\": 4, \"group\": [1, 2]}", "", "must list this gateway's id 4"},
	    {"{\"id\": 1, \"group\": [1, 1]}", "", "id 1 appears twice"},
	    {"{\"group\": [1, 2]}", "", "\"id\" (1-65535) is required"},
	    {"{\"id\": 1, \"group\": [1, 2]}", ", \"tpgt\": 2", "target port group 1"},
	    {"{\"id\": 1, \"group\": [1, 0]}", "", "between 1 and 65535"},
	    {"{\"id\": 1, \"group\": [1], \"x\": 1}", "", "unknown gateway key \"x\""},
	};
	struct idm_target_conf_all *c = *state;
	char err[256], json[512];

	assert_int_equal(conf_load_json(good, c, err, sizeof(err)), 0);
	assert_int_equal(c->gateway.id, 2);
	assert_int_equal(c->gateway.ngroup, 3);
	assert_int_equal(c->gateway.group[2], 3);
	assert_true(c->gateway.standby);
	assert_int_equal(c->portals[0].tpgt, 2);
	assert_int_equal(c->portals[1].tpgt, 2);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		idm_target_conf_init(c);
		snprintf(json, sizeof(json),
		         "{\"gateway\": %s, \"portals\": [{\"addr\": \"127.0.0.1\"%s}],"
		         " \"targets\": [{\"iqn\": \"iqn.x\", \"luns\": [{\"spec\": \"mem:1M\"}]}]}",
		         cases[i].gateway, cases[i].portal_extra);
		expect_refused(c, json, i, cases[i].msg);
	}
	/* Without a group, a portal's tpgt is 1 unless given. */
	idm_target_conf_init(c);
	assert_int_equal(conf_load_json(plain, c, err, sizeof(err)), 0);
	assert_int_equal(c->portals[0].tpgt, 1);
	assert_int_equal(c->gateway.id, 0);
}

static void missing_file_fails(void **state)
{
	struct idm_target_conf_all *c = *state;
	char err[256];

	assert_int_not_equal(idm_target_conf_load("/nonexistent/idm.json", c, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "/nonexistent/idm.json"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(full_config_loads, conf_setup, conf_teardown),
		cmocka_unit_test_setup_teardown(bad_configs_fail_clearly, conf_setup, conf_teardown),
		cmocka_unit_test_setup_teardown(missing_file_fails, conf_setup, conf_teardown),
		cmocka_unit_test_setup_teardown(gateway_group_loads, conf_setup, conf_teardown),
		cmocka_unit_test_setup_teardown(lun_identity_loads, conf_setup, conf_teardown),
		cmocka_unit_test_setup_teardown(lun_identity_hostile_refused, conf_setup,
		                                conf_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
