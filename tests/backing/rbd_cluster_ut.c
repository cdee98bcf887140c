/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The rbd store's gateway-group code (rbd_cluster.c), its decisions
 * without a cluster: gateway map names, record versions and keys, and
 * when the control thread has work, the re-registration of watches.
 * Includes the .c to reach its static functions; the only librados calls
 * made are the watch calls faked below (t_rbd_cluster.sh runs the rest
 * over a real cluster).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "../../src/backing/rbd_cluster.c"

/* The watch calls of librados, counted (defined here, they are found
 * before the library's). */
static unsigned n_watch, n_unwatch, n_flush;

int rados_watch3(rados_ioctx_t io, const char *o, uint64_t *cookie, rados_watchcb2_t watchcb,
                 rados_watcherrcb_t watcherrcb, uint32_t timeout, void *arg)
{
	(void)io, (void)o, (void)watchcb, (void)watcherrcb, (void)timeout, (void)arg;
	*cookie = ++n_watch;
	return 0;
}

int rados_unwatch2(rados_ioctx_t io, uint64_t cookie)
{
	(void)io, (void)cookie;
	n_unwatch++;
	return -EBLOCKLISTED;
}

int rados_watch_flush(rados_t cluster)
{
	(void)cluster;
	n_flush++;
	return 0;
}

static void test_gateway_names(void **state)
{
	(void)state;
	assert_int_equal(gw_name_number("gw.1"), 1);
	assert_int_equal(gw_name_number("gw.65535"), 65535);
	assert_int_equal(gw_name_number("gw.65536"), 0);
	assert_int_equal(gw_name_number("gw.0"), 0);
	assert_int_equal(gw_name_number("gw.01"), 0);
	assert_int_equal(gw_name_number("gw.1x"), 0);
	assert_int_equal(gw_name_number("gw."), 0);
	assert_int_equal(gw_name_number("gx.1"), 0);
	assert_int_equal(gw_name_number("idm.version"), 0);
	assert_int_equal(gw_name_number("gw.99999999999999999999999"), 0);
}

static void test_versions(void **state)
{
	uint64_t v = 7;

	(void)state;
	assert_int_equal(parse_version("0", 1, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(parse_version("42xyz", 2, &v), 0); /* only len bytes are the value */
	assert_int_equal(v, 42);
	assert_int_equal(parse_version("9999999999999999999", 19, &v), 0);
	assert_true(v == 9999999999999999999ull);
	assert_int_equal(parse_version("99999999999999999999", 20, &v), -EBADMSG);
	assert_int_equal(parse_version("", 0, &v), -EBADMSG);
	assert_int_equal(parse_version("1a", 2, &v), -EBADMSG);
	assert_int_equal(parse_version("-1", 2, &v), -EBADMSG);
}

static void test_record_keys(void **state)
{
	struct rbd_store s;
	char oid[OID_MAX], key[RECORD_KEY_MAX + 2];

	(void)state;
	memset(&s, 0, sizeof(s));
	assert_int_equal(record_oid(&s, "pr", oid, sizeof(oid)), -ESHUTDOWN); /* never opened */
	strcpy(s.image_id, "10213cef0ec9");
	assert_int_equal(record_oid(&s, "pr", oid, sizeof(oid)), 0);
	assert_string_equal(oid, "idm.10213cef0ec9.record.pr");
	assert_int_equal(record_oid(&s, "pr.v1_a-B", oid, sizeof(oid)), 0);
	assert_int_equal(record_oid(&s, "", oid, sizeof(oid)), -EINVAL);
	assert_int_equal(record_oid(&s, "../x", oid, sizeof(oid)), -EINVAL);
	assert_int_equal(record_oid(&s, "a b", oid, sizeof(oid)), -EINVAL);
	memset(key, 'k', RECORD_KEY_MAX);
	key[RECORD_KEY_MAX] = '\0';
	strcpy(s.image_id, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde");
	assert_int_equal(record_oid(&s, key, oid, sizeof(oid)), 0); /* the longest fits */
	assert_int_equal(strlen(oid), OID_MAX - 2);
	key[RECORD_KEY_MAX] = 'k';
	key[RECORD_KEY_MAX + 1] = '\0';
	assert_int_equal(record_oid(&s, key, oid, sizeof(oid)), -EINVAL);
	assert_int_equal(gw_map_oid(&s, oid, sizeof(oid)), 0);
	assert_string_equal(oid,
	                    "idm.0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde."
	                    "gateways");
}

/* When the control thread has work (the store's lock held). */
static void test_due(void **state)
{
	struct rbd_store s;
	struct rbd_cluster_state cl;

	(void)state;
	memset(&s, 0, sizeof(s));
	memset(&cl, 0, sizeof(cl));
	s.cl = &cl;
	/* watches only, all registered: nothing, no polling */
	assert_true(idm_rbd_cluster_due_ms(&s) == UINT64_MAX);
	cl.rewatch_pending = true;
	cl.retry_at_ms = 5000;
	assert_true(idm_rbd_cluster_due_ms(&s) == 5000);
	s.b.offline = true; /* offline: nothing to register on */
	assert_true(idm_rbd_cluster_due_ms(&s) == UINT64_MAX);
	cl.joined = true;
	cl.next_poll_ms = 7000;
	assert_true(idm_rbd_cluster_due_ms(&s) == 7000); /* offline: still reports */
	s.b.offline = false;
	assert_true(idm_rbd_cluster_due_ms(&s) == 5000);
	cl.rewatch_pending = false;
	cl.publish_pending = true;
	cl.retry_at_ms = 9000;
	assert_true(idm_rbd_cluster_due_ms(&s) == 7000);
	cl.ntakes = 1;
	assert_true(idm_rbd_cluster_due_ms(&s) == 0);
	cl.ntakes = 0;
	cl.poll_now = true;
	assert_true(idm_rbd_cluster_due_ms(&s) == 0);
}

/* A broken watch is unregistered even when the store went offline
 * before the control thread got to it (it used to be forgotten, and
 * librados kept the registration); it is registered again once online,
 * and the close unregisters what is registered, once. */
static void test_rewatch_offline(void **state)
{
	struct rbd_store s;
	struct rbd_cluster_state cl;
	struct record_watch *w = &cl.watches[0];

	(void)state;
	memset(&s, 0, sizeof(s));
	memset(&cl, 0, sizeof(cl));
	pthread_mutex_init(&s.lock, NULL);
	pthread_cond_init(&s.cond, NULL);
	pthread_mutex_init(&cl.watch_lock, NULL);
	s.cl = &cl;
	s.ioctx = (rados_ioctx_t)&s; /* never dereferenced: the calls are ours */
	n_watch = n_unwatch = n_flush = 0;
	*w = (struct record_watch){.s = &s, .header = true, .watching = true, .broken = true,
	                           .cookie = 7};
	cl.nwatches = 1;

	s.b.offline = true; /* fenced between the online check and the re-watch */
	assert_int_equal(records_rewatch(&s), -ESHUTDOWN);
	assert_int_equal(n_unwatch, 1);
	assert_int_equal(n_watch, 0);
	assert_false(w->watching);
	idm_rbd_cluster_detach(&s); /* nothing registered: nothing to drop */
	assert_int_equal(n_unwatch, 1);
	assert_int_equal(n_flush, 0);

	s.b.offline = false; /* a new client: registered again */
	assert_int_equal(records_rewatch(&s), 0);
	assert_int_equal(n_watch, 1);
	assert_true(w->watching);
	assert_false(w->broken);
	assert_true(cl.poll_now); /* the header's: look at the lock now */
	assert_int_equal(records_rewatch(&s), 0); /* healthy: left alone */
	assert_int_equal(n_watch + n_unwatch, 2);
	idm_rbd_cluster_detach(&s);
	assert_int_equal(n_unwatch, 2);
	assert_int_equal(n_flush, 1);
	assert_false(w->watching);

	pthread_mutex_destroy(&cl.watch_lock);
	pthread_cond_destroy(&s.cond);
	pthread_mutex_destroy(&s.lock);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_gateway_names),
	    cmocka_unit_test(test_versions),
	    cmocka_unit_test(test_record_keys),
	    cmocka_unit_test(test_due),
	    cmocka_unit_test(test_rewatch_offline),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
