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
	char err[256];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_not_equal(conf_load_json(cases[i].json, c, err, sizeof(err)), 0);
		if (!strstr(err, cases[i].msg)) {
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].msg);
		}
		assert_null(strchr(err, '\n'));
	}
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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
