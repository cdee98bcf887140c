/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit test of `config save` (src/target/config_save.c): a configuration
 * with every kind of key, saved and loaded again, is the same
 * configuration, and saving it again writes the same bytes; the file is
 * mode 0600 (it holds secrets).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "target/config_save.h"

static const char full_config[] =
    "{ \"reactors\": 3, \"state_dir\": \"/tmp/idm-state\","
    "  \"control_socket\": \"/tmp/idm.sock\", \"log_level\": \"debug\","
    "  \"metrics_listen\": \"127.0.0.1:9100\","
    "  \"portals\": [ { \"addr\": \"127.0.0.1\", \"port\": 3261, \"tpgt\": 2,"
    "                   \"transports\": [ \"tcp\" ] },"
    "                 { \"addr\": \"::1\" } ],"
    "  \"targets\": [ { \"iqn\": \"iqn.2026-11.org.idm:a\", \"alias\": \"a\","
    "      \"luns\": [ { \"lun\": 3, \"spec\": \"mem:16M\", \"block_size\": 4096,"
    "                    \"write_cache\": false, \"vendor\": \"ACME\","
    "                    \"product\": \"Fast Disk\", \"serial\": \"SN-42\","
    "                    \"naa\": \"6001405AA8E1C7F3C6A3B2B1E0D9C8B7\" },"
    "                  { \"spec\": \"null:1G\", \"read_only\": true,"
    "                    \"ceph_id\": \"gw\", \"start_offline\": true } ],"
    "      \"acl\": [ \"iqn.x:one\", { \"initiator\": \"iqn.x:two\","
    "                 \"chap\": { \"user\": \"two\", \"secret\": \"two-secret-123\" } },"
    "               { \"initiator\": \"iqn.x:three\", \"lun_map\": { \"5\": 1, \"0\": 3 } } ],"
    "      \"chap\": { \"user\": \"u\", \"secret\": \"secret-one-12\","
    "                \"target_user\": \"t\", \"target_secret\": \"secret-two-12\" },"
    "      \"transports\": [ \"tcp\" ] },"
    "    { \"iqn\": \"iqn.2026-11.org.idm:b\", \"luns\": [] } ],"
    "  \"discovery\": { \"chap\": { \"user\": \"d\", \"secret\": \"disc-secret-1\" },"
    "                 \"acl_filter\": false },"
    "  \"chap_algorithms\": [ \"SHA-256\", \"MD5\" ],"
    "  \"tunables\": { \"queue_depth\": 64, \"immediate_data\": false } }\n";

static char *write_temp(const char *text)
{
	static char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/config_save_ut.XXXXXX");
	close(mkstemp(path));
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 1 << 16);

	assert_non_null(f);
	assert_true(fread(buf, 1, (1 << 16) - 1, f) > 0);
	fclose(f);
	return buf;
}

/* What `config save` adds to a LUN that derives its serial and NAA: the
 * derived values, written explicitly (config_save.c says why). */
static void pin_identity(struct idm_target_conf_all *c)
{
	for (unsigned t = 0; t < c->ntargets; t++) {
		for (unsigned l = 0; l < c->targets[t].nluns; l++) {
			struct idm_lun_conf *lc = &c->targets[t].luns[l];
			char serial[33];
			uint8_t naa[16];

			assert_int_equal(
			    idm_lun_ident_effective(lc, c->targets[t].iqn, serial, naa), 0);
			memset(lc->serial, 0, sizeof(lc->serial)); /* as the loader leaves it */
			snprintf(lc->serial, sizeof(lc->serial), "%s", serial);
			memcpy(lc->naa, naa, sizeof(naa));
			lc->has_naa = true;
		}
	}
}

static void save_load_save_is_stable(void **state)
{
	struct idm_target_conf_all *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	char in[64], out1[80], out2[80], err[256];
	char *t1, *t2;
	struct stat st;

	(void)state;
	snprintf(in, sizeof(in), "%s", write_temp(full_config));
	snprintf(out1, sizeof(out1), "%s.1", in);
	snprintf(out2, sizeof(out2), "%s.2", in);
	idm_target_conf_init(a);
	assert_int_equal(idm_target_conf_load(in, a, err, sizeof(err)), 0);
	assert_int_equal(idm_target_conf_save(a, out1, err, sizeof(err)), 0);
	assert_int_equal(stat(out1, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	idm_target_conf_init(b);
	assert_int_equal(idm_target_conf_load(out1, b, err, sizeof(err)), 0);
	/* what the daemon would serve is the same */
	assert_int_equal(b->ntargets, 2);
	assert_int_equal(b->targets[0].nluns, 2);
	assert_int_equal(b->targets[0].luns[0].lun, 3);
	assert_int_equal(b->targets[0].luns[0].block_size, 4096);
	assert_int_equal(b->targets[0].luns[1].lun, 1);
	assert_true(b->targets[0].acl_chap[1].has);
	assert_false(b->targets[0].acl_chap[0].has);
	assert_true(b->targets[0].luns[1].read_only);
	assert_true(b->targets[0].luns[1].start_offline);
	assert_string_equal(b->targets[0].luns[1].ceph_id, "gw");
	assert_false(b->targets[0].luns[0].start_offline);
	assert_int_equal(b->portals[0].transports, IDM_OFFER_TCP);
	/* a LUN map comes back in LUN order */
	assert_false(b->targets[0].acl_map[1].has);
	assert_true(b->targets[0].acl_map[2].has);
	assert_int_equal(b->targets[0].acl_map[2].n, 2);
	assert_int_equal(b->targets[0].acl_map[2].e[0].lun, 0);
	assert_int_equal(b->targets[0].acl_map[2].e[0].target_lun, 3);
	assert_int_equal(b->targets[0].acl_map[2].e[1].lun, 5);
	assert_int_equal(b->targets[0].acl_map[2].e[1].target_lun, 1);
	assert_memory_equal(&a->targets[0].chap, &b->targets[0].chap, sizeof(a->targets[0].chap));
	assert_memory_equal(&a->tun, &b->tun, sizeof(a->tun));
	assert_memory_equal(&a->discovery, &b->discovery, sizeof(a->discovery));
	assert_int_equal(b->nchap_algs, 2);
	assert_string_equal(b->metrics_listen, "127.0.0.1:9100");
	/* cache and identity: the set ones as set */
	assert_true(b->targets[0].luns[0].write_cache_set);
	assert_false(b->targets[0].luns[0].write_cache);
	assert_false(b->targets[0].luns[1].write_cache_set);
	assert_string_equal(b->targets[0].luns[0].vendor, "ACME");
	assert_string_equal(b->targets[0].luns[0].product, "Fast Disk");
	assert_string_equal(b->targets[0].luns[0].serial, "SN-42");
	assert_memory_equal(b->targets[0].luns[0].naa, a->targets[0].luns[0].naa, 16);
	assert_string_equal(b->targets[0].luns[1].vendor, "");
	pin_identity(a);
	assert_memory_equal(a, b, sizeof(*a));
	/* and saves to the same bytes */
	assert_int_equal(idm_target_conf_save(b, out2, err, sizeof(err)), 0);
	t1 = slurp(out1);
	t2 = slurp(out2);
	assert_string_equal(t1, t2);
	free(t1);
	free(t2);
	unlink(in);
	unlink(out1);
	unlink(out2);
	free(a);
	free(b);
}

/* A LUN that derived its serial and NAA keeps them once saved, even when
 * the admin then renumbers it or moves it to another target. */
static void saved_identity_survives_renumbering(void **state)
{
	struct idm_target_conf_all *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	char in[64], out[80], err[256], s0[33], s1[33], moved[33];
	uint8_t n0[16], n1[16], nmoved[16];
	struct idm_lun_conf *l;

	(void)state;
	snprintf(in, sizeof(in), "%s", write_temp(full_config));
	snprintf(out, sizeof(out), "%s.1", in);
	idm_target_conf_init(a);
	assert_int_equal(idm_target_conf_load(in, a, err, sizeof(err)), 0);
	l = &a->targets[0].luns[1];
	assert_int_equal(idm_lun_ident_effective(l, a->targets[0].iqn, s0, n0), 0);
	assert_int_equal(idm_target_conf_save(a, out, err, sizeof(err)), 0);
	idm_target_conf_init(b);
	assert_int_equal(idm_target_conf_load(out, b, err, sizeof(err)), 0);
	l = &b->targets[0].luns[1];
	assert_string_equal(l->serial, s0);
	l->lun = 7; /* renumbered, and under the other target's name */
	assert_int_equal(idm_lun_ident_effective(l, b->targets[1].iqn, s1, n1), 0);
	assert_string_equal(s1, s0);
	assert_memory_equal(n1, n0, 16);
	/* without the save it would have been another disk */
	l = &a->targets[0].luns[1];
	l->lun = 7;
	assert_int_equal(idm_lun_ident_effective(l, a->targets[0].iqn, moved, nmoved), 0);
	assert_string_not_equal(moved, s0);
	assert_memory_not_equal(nmoved, n0, 16);
	unlink(in);
	unlink(out);
	free(a);
	free(b);
}

static void save_into_a_missing_directory_fails_cleanly(void **state)
{
	struct idm_target_conf_all *a = calloc(1, sizeof(*a));
	char err[256] = "";

	(void)state;
	idm_target_conf_init(a);
	assert_true(idm_target_conf_save(a, "/nonexistent-dir/idmd.json", err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "/nonexistent-dir/idmd.json"));
	free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(save_load_save_is_stable),
	    cmocka_unit_test(saved_identity_survives_renumbering),
	    cmocka_unit_test(save_into_a_missing_directory_fails_cleanly),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
