/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * idmd's JSON configuration:
 *
 * {
 *   "reactors": 2,
 *   "state_dir": "/var/lib/idm",
 *   "portals": [ { "addr": "127.0.0.1", "port": 3260, "tpgt": 1 } ],
 *   "targets": [ { "iqn": "iqn.2026-11.org.idm:disk1", "alias": "disk1",
 *                  "luns": [ { "lun": 0, "spec": "file:/var/lib/idm/d1.img:10G",
 *                              "block_size": 512, "read_only": false },
 *                            { "lun": 1, "spec": "rbd:rbd/disk2",
 *                              "ceph_conf": "/etc/ceph/ceph.conf",
 *                              "ceph_id": "idm",
 *                              "ceph_keyring": "/etc/ceph/ceph.client.idm.keyring",
 *                              "start_offline": false,
 *                              "write_cache": true, "vendor": "ACME",
 *                              "product": "fast disk", "serial": "A1B2C3",
 *                              "naa": "6001405aa8e1c7f3c6a3b2b1e0d9c8b7" } ],
 *                  "acl": [ "iqn.1993-08.org.debian:01:host1",
 *                           { "initiator": "iqn.1993-08.org.debian:01:host2",
 *                             "chap": { "user": "host2", "secret": "..." },
 *                             "lun_map": { "0": 1 } } ],
 *                  "chap": { "user": "host1", "secret": "at-least-12-bytes",
 *                            "target_user": "disk1", "target_secret": "another-secret" } } ],
 *   "discovery": { "chap": { "user": "...", "secret": "..." }, "acl_filter": true },
 *   "gateway": { "id": 1, "group": [ 1, 2 ], "standby": false },
 *   "chap_algorithms": [ "SHA3-256", "SHA-256", "SHA1", "MD5" ],
 *   "tunables": { "max_recv_dsl": 262144, "max_burst_length": 1048576,
 *                 "first_burst_length": 262144, "max_outstanding_r2t": 16,
 *                 "initial_r2t": false, "immediate_data": true,
 *                 "queue_depth": 128, "nop_interval_s": 30, "nop_timeout_s": 15,
 *                 "login_timeout_s": 15, "shutdown_grace_s": 5,
 *                 "iser_copy_threshold": 131072, "tx_queue_max_bytes": 50331648,
 *                 "tx_queue_max_pdus": 8192, "tx_stall_timeout_s": 30,
 *                 "max_connections": 4096, ... (README "Limits") }
 * }
 *
 * Unknown keys and values of the wrong type are errors: a typo in a
 * storage config should stop the daemon, not be ignored.
 *
 * "acl": initiator names allowed to log in (absent or empty: any); an
 * entry's "lun_map" shows that initiator only these LUNs, its LUN "0"
 * being the target's LUN 1 above (without one it sees every LUN).
 * A LUN's "write_cache" sets WCE (default: the store's; a write-through
 * store keeps WCE=0); "vendor", "product", "serial" and "naa" set its
 * identity (lun_ident.c), else serial and NAA derive from IQN and LUN.
 * "transports": ["tcp"], ["iser"] or both (absent: both), per target.
 * "chap": the initiator must authenticate with CHAP; with target_user and
 * target_secret it may also ask the target to (mutual CHAP). "discovery"
 * does the same for discovery sessions; its "acl_filter" (default true)
 * makes SendTargets list only the targets the asking initiator may log in
 * to. "chap_algorithms" restricts and orders the CHAP_A values accepted.
 * "gateway": this idmd is gateway "id" of a group (gateway.c); its portals'
 * tpgt is its id (a portal naming another is an error).
 * Error messages name a bad key, never a secret's value.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "idm/auth.h"
#include "idm/idm.h"
#include "idm/target.h"
#include "target/config_save.h"

struct conf_ctx {
	char *err;
	size_t errlen;
	const char *path;
};

static int conf_error(struct conf_ctx *cx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int conf_error(struct conf_ctx *cx, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	msg[strcspn(msg, "\n")] = '\0'; /* json-c's messages end in a newline */
	snprintf(cx->err, cx->errlen, "%s: %s", cx->path, msg);
	return -EINVAL;
}

/* Copy a JSON string into a fixed buffer; too long or not a string fails. */
static int conf_string(struct conf_ctx *cx, json_object *v, const char *what, char *dst,
		       size_t cap)
{
	const char *s;

	if (!json_object_is_type(v, json_type_string)) {
		return conf_error(cx, "%s must be a string", what);
	}
	s = json_object_get_string(v);
	if (strlen(s) == 0 || strlen(s) >= cap) {
		return conf_error(cx, "%s must be 1 to %zu characters", what, cap - 1);
	}
	memcpy(dst, s, strlen(s) + 1);
	return 0;
}

static int conf_uint(struct conf_ctx *cx, json_object *v, const char *what, uint64_t min,
		     uint64_t max, uint64_t *out)
{
	int64_t n;

	if (!json_object_is_type(v, json_type_int)) {
		return conf_error(cx, "%s must be an integer", what);
	}
	n = json_object_get_int64(v);
	if (n < 0 || (uint64_t)n < min || (uint64_t)n > max) {
		return conf_error(cx, "%s must be between %llu and %llu", what,
				  (unsigned long long)min, (unsigned long long)max);
	}
	*out = (uint64_t)n;
	return 0;
}

static int conf_bool(struct conf_ctx *cx, json_object *v, const char *what, bool *out)
{
	if (!json_object_is_type(v, json_type_boolean)) {
		return conf_error(cx, "%s must be true or false", what);
	}
	*out = json_object_get_boolean(v);
	return 0;
}

static int conf_transport_bits(struct conf_ctx *cx, json_object *arr, uint8_t *bits);

static int conf_portal(struct conf_ctx *cx, json_object *o, struct idm_portal_conf *p)
{
	uint64_t n;
	int rc = 0;

	if (!json_object_is_type(o, json_type_object)) {
		return conf_error(cx, "each portal must be an object");
	}
	p->port = 3260;
	p->tpgt = 0; /* not given: 1, or the gateway id (conf_portals_finish) */
	json_object_object_foreach(o, key, val) {
		if (strcmp(key, "addr") == 0) {
			rc = conf_string(cx, val, "portal addr", p->addr, sizeof(p->addr));
		} else if (strcmp(key, "port") == 0) {
			rc = conf_uint(cx, val, "portal port", 1, 65535, &n);
			p->port = (uint16_t)n;
		} else if (strcmp(key, "tpgt") == 0) {
			rc = conf_uint(cx, val, "portal tpgt", 1, 65535, &n);
			p->tpgt = (uint16_t)n;
		} else if (strcmp(key, "transports") == 0) {
			rc = conf_transport_bits(cx, val, &p->transports);
		} else {
			rc = conf_error(cx, "unknown portal key \"%s\"", key);
		}
		if (rc) {
			return rc;
		}
	}
	if (p->addr[0] == '\0') {
		return conf_error(cx, "a portal needs \"addr\"");
	}
	return 0;
}

static int conf_lun_ident(struct conf_ctx *cx, struct idm_lun_conf *l, const char *key,
			  json_object *val)
{
	char why[160];

	if (!json_object_is_type(val, json_type_string)) {
		return conf_error(cx, "LUN %s must be a string", key);
	}
	/* An embedded NUL would cut the value short, silently. */
	if (strlen(json_object_get_string(val)) != (size_t)json_object_get_string_len(val)) {
		return conf_error(cx, "LUN %s must not contain a NUL", key);
	}
	if (idm_lun_ident_set(l, key, json_object_get_string(val), why, sizeof(why)) < 0) {
		return conf_error(cx, "LUN %s", why);
	}
	return 0;
}

static int conf_lun(struct conf_ctx *cx, json_object *o, struct idm_lun_conf *l, uint32_t index)
{
	uint64_t n;
	int rc = 0;

	if (!json_object_is_type(o, json_type_object)) {
		return conf_error(cx, "each LUN must be an object");
	}
	l->lun = index;
	l->block_size = 512;
	json_object_object_foreach(o, key, val) {
		if (strcmp(key, "lun") == 0) {
			rc = conf_uint(cx, val, "lun", 0, IDM_MAX_LUNS_PER_TARGET - 1, &n);
			l->lun = (uint32_t)n;
		} else if (strcmp(key, "spec") == 0) {
			rc = conf_string(cx, val, "LUN spec", l->spec, sizeof(l->spec));
		} else if (strcmp(key, "block_size") == 0) {
			rc = conf_uint(cx, val, "block_size", 512, 4096, &n);
			if (rc == 0 && n != 512 && n != 4096) {
				rc = conf_error(cx, "block_size must be 512 or 4096");
			}
			l->block_size = (uint32_t)n;
		} else if (strcmp(key, "read_only") == 0) {
			rc = conf_bool(cx, val, "read_only", &l->read_only);
		} else if (strcmp(key, "ceph_conf") == 0) {
			rc = conf_string(cx, val, "ceph_conf", l->ceph_conf, sizeof(l->ceph_conf));
		} else if (strcmp(key, "ceph_id") == 0) {
			rc = conf_string(cx, val, "ceph_id", l->ceph_id, sizeof(l->ceph_id));
		} else if (strcmp(key, "ceph_keyring") == 0) {
			rc = conf_string(cx, val, "ceph_keyring", l->ceph_keyring,
					 sizeof(l->ceph_keyring));
		} else if (strcmp(key, "start_offline") == 0) {
			rc = conf_bool(cx, val, "start_offline", &l->start_offline);
		} else if (strcmp(key, "write_cache") == 0) {
			rc = conf_bool(cx, val, "write_cache", &l->write_cache);
			l->write_cache_set = true;
		} else if (strcmp(key, "vendor") == 0 || strcmp(key, "product") == 0 ||
			   strcmp(key, "serial") == 0 || strcmp(key, "naa") == 0) {
			rc = conf_lun_ident(cx, l, key, val);
		} else {
			rc = conf_error(cx, "unknown LUN key \"%s\"", key);
		}
		if (rc) {
			return rc;
		}
	}
	if (l->spec[0] == '\0') {
		return conf_error(cx, "LUN %u needs \"spec\"", l->lun);
	}
	return 0;
}

static int conf_luns(struct conf_ctx *cx, json_object *arr, struct idm_target_conf *t)
{
	size_t i, j, n;
	int rc;

	if (!json_object_is_type(arr, json_type_array)) {
		return conf_error(cx, "\"luns\" must be an array");
	}
	n = json_object_array_length(arr);
	if (n > IDM_MAX_LUNS_PER_TARGET) {
		return conf_error(cx, "at most %d LUNs per target", IDM_MAX_LUNS_PER_TARGET);
	}
	for (i = 0; i < n; i++) {
		rc = conf_lun(cx, json_object_array_get_idx(arr, i), &t->luns[i], (uint32_t)i);
		if (rc) {
			return rc;
		}
		for (j = 0; j < i; j++) {
			if (t->luns[j].lun == t->luns[i].lun) {
				return conf_error(cx, "target %s: LUN %u appears twice", t->iqn,
						  t->luns[i].lun);
			}
		}
	}
	t->nluns = (unsigned)n;
	return 0;
}

static int conf_chap(struct conf_ctx *cx, json_object *o, const char *where,
		     struct idm_chap_account *a, bool *has);

int idm_lun_map_from_json(json_object *o, struct idm_lun_map *m, char *why, size_t whylen)
{
	uint8_t seen[IDM_MAX_LUNS_PER_TARGET] = {0};

	memset(m, 0, sizeof(*m));
	if (!json_object_is_type(o, json_type_object)) {
		snprintf(why, whylen, "lun_map must be an object {\"LUN\": TARGET_LUN, ...}");
		return -EINVAL;
	}
	json_object_object_foreach(o, key, val) {
		char *end;
		long lun = strtol(key, &end, 10);
		int64_t tl = json_object_is_type(val, json_type_int) ? json_object_get_int64(val) : -1;

		if (*end || end == key || lun < 0 || lun >= IDM_MAX_LUNS_PER_TARGET || tl < 0 ||
		    tl >= IDM_MAX_LUNS_PER_TARGET) {
			snprintf(why, whylen, "lun_map: \"%.16s\": each LUN and target LUN is 0 to %d",
				 key, IDM_MAX_LUNS_PER_TARGET - 1);
			return -EINVAL;
		}
		if (seen[lun] & 1 || seen[tl] & 2) {
			snprintf(why, whylen, "lun_map: LUN %ld or target LUN %lld appears twice", lun,
				 (long long)tl);
			return -EINVAL;
		}
		seen[lun] |= 1;
		seen[tl] |= 2;
	}
	/* In LUN order, so that a saved file is the same whatever the input's. */
	for (unsigned lun = 0; lun < IDM_MAX_LUNS_PER_TARGET; lun++) {
		json_object *v;
		char name[8];

		snprintf(name, sizeof(name), "%u", lun);
		if ((seen[lun] & 1) && json_object_object_get_ex(o, name, &v)) {
			m->e[m->n].lun = (uint8_t)lun;
			m->e[m->n++].target_lun = (uint8_t)json_object_get_int64(v);
		}
	}
	if (m->n != (unsigned)json_object_object_length(o)) {
		snprintf(why, whylen, "lun_map: write each LUN as a plain number (\"0\", \"12\")");
		return -EINVAL;
	}
	m->has = true;
	return 0;
}

/* An ACL entry: an initiator name, or {"initiator": NAME, "chap": {...},
 * "lun_map": {...}} with that initiator's own CHAP account and LUN map. */
static int conf_acl_entry(struct conf_ctx *cx, json_object *e, struct idm_target_conf *t,
			  size_t i)
{
	int rc = 0;

	if (!json_object_is_type(e, json_type_object)) {
		return conf_string(cx, e, "ACL entry", t->acl[i], sizeof(t->acl[i]));
	}
	json_object_object_foreach(e, key, val) {
		if (strcmp(key, "initiator") == 0) {
			rc = conf_string(cx, val, "ACL initiator", t->acl[i], sizeof(t->acl[i]));
		} else if (strcmp(key, "chap") == 0) {
			rc = conf_chap(cx, val, "ACL entry", &t->acl_chap[i].chap,
				       &t->acl_chap[i].has);
		} else if (strcmp(key, "lun_map") == 0) {
			char why[160];

			rc = idm_lun_map_from_json(val, &t->acl_map[i], why, sizeof(why));
			if (rc) {
				rc = conf_error(cx, "%s", why);
			}
		} else {
			rc = conf_error(cx, "unknown ACL entry key \"%s\"", key);
		}
		if (rc) {
			return rc;
		}
	}
	return t->acl[i][0] ? 0 : conf_error(cx, "an ACL entry needs \"initiator\"");
}

static int conf_acl(struct conf_ctx *cx, json_object *arr, struct idm_target_conf *t)
{
	size_t n;
	int rc;

	if (!json_object_is_type(arr, json_type_array)) {
		return conf_error(cx, "\"acl\" must be an array of initiator names");
	}
	n = json_object_array_length(arr);
	if (n > IDM_MAX_ACL) {
		return conf_error(cx, "at most %d initiator names per ACL", IDM_MAX_ACL);
	}
	for (size_t i = 0; i < n; i++) {
		rc = conf_acl_entry(cx, json_object_array_get_idx(arr, i), t, i);
		if (rc) {
			return rc;
		}
	}
	t->nacl = (unsigned)n;
	return 0;
}

/* The strings of a "chap" object; secrets stay out of error messages. */
struct chap_strings {
	const char *v[4]; /* user, secret, target_user, target_secret */
};

static const char *const chap_keys[4] = {"user", "secret", "target_user", "target_secret"};

static int conf_chap(struct conf_ctx *cx, json_object *o, const char *where,
		     struct idm_chap_account *a, bool *has)
{
	struct chap_strings cs = {{NULL}};
	unsigned k;

	if (!json_object_is_type(o, json_type_object)) {
		return conf_error(cx, "%s \"chap\" must be an object", where);
	}
	json_object_object_foreach(o, key, val) {
		for (k = 0; k < 4 && strcmp(key, chap_keys[k]) != 0; k++) {
		}
		if (k == 4) {
			return conf_error(cx, "%s: unknown chap key \"%s\"", where, key);
		}
		if (!json_object_is_type(val, json_type_string)) {
			return conf_error(cx, "%s: chap %s must be a string", where, key);
		}
		cs.v[k] = json_object_get_string(val);
	}
	if (!cs.v[0] || !cs.v[1]) {
		return conf_error(cx, "%s: chap needs \"user\" and \"secret\"", where);
	}
	if (!cs.v[2] != !cs.v[3]) {
		return conf_error(cx, "%s: chap target_user and target_secret go together", where);
	}
	if (idm_chap_account_set(a, cs.v[0], cs.v[1], cs.v[2], cs.v[3]) != 0) {
		return conf_error(cx,
				  "%s: bad chap account (names 1-255 characters, secrets 1-255 "
				  "bytes, and the two secrets must differ)",
				  where);
	}
	*has = true;
	return 0;
}

/* "transports": the ones a target is offered on or a portal listens
 * with, ["tcp"], ["iser"] or both. */
static int conf_transport_bits(struct conf_ctx *cx, json_object *arr, uint8_t *bits)
{
	size_t n;

	if (!json_object_is_type(arr, json_type_array) ||
	    (n = json_object_array_length(arr)) == 0) {
		return conf_error(cx, "\"transports\" must be a non-empty array of \"tcp\", \"iser\"");
	}
	*bits = 0;
	for (size_t i = 0; i < n; i++) {
		json_object *v = json_object_array_get_idx(arr, i);
		const char *name = json_object_is_type(v, json_type_string) ? json_object_get_string(v)
									    : "";

		if (strcmp(name, "tcp") == 0) {
			*bits |= IDM_OFFER_TCP;
		} else if (strcmp(name, "iser") == 0) {
			*bits |= IDM_OFFER_ISER;
		} else {
			return conf_error(cx, "unknown transport \"%s\" (tcp or iser)", name);
		}
	}
	return 0;
}

static int conf_target(struct conf_ctx *cx, json_object *o, struct idm_target_conf *t)
{
	int rc = 0;

	if (!json_object_is_type(o, json_type_object)) {
		return conf_error(cx, "each target must be an object");
	}
	json_object_object_foreach(o, key, val) {
		if (strcmp(key, "iqn") == 0) {
			rc = conf_string(cx, val, "target iqn", t->iqn, sizeof(t->iqn));
		} else if (strcmp(key, "alias") == 0) {
			rc = conf_string(cx, val, "target alias", t->alias, sizeof(t->alias));
		} else if (strcmp(key, "luns") == 0) {
			rc = conf_luns(cx, val, t);
		} else if (strcmp(key, "acl") == 0) {
			rc = conf_acl(cx, val, t);
		} else if (strcmp(key, "chap") == 0) {
			rc = conf_chap(cx, val, "target", &t->chap, &t->has_chap);
		} else if (strcmp(key, "transports") == 0) {
			rc = conf_transport_bits(cx, val, &t->offered_on);
		} else {
			rc = conf_error(cx, "unknown target key \"%s\"", key);
		}
		if (rc) {
			return rc;
		}
	}
	if (t->iqn[0] == '\0') {
		return conf_error(cx, "a target needs \"iqn\"");
	}
	return 0;
}

/* Tunables: a table from JSON name to field, so adding one is one line. */
struct tunable_desc {
	const char *name;
	size_t offset;
	bool is_bool;
	uint32_t min, max;
};

#define TUN_U32(n, lo, hi) {#n, offsetof(struct idm_target_tunables, n), false, lo, hi}
#define TUN_BOOL(n) {#n, offsetof(struct idm_target_tunables, n), true, 0, 1}

static const struct tunable_desc tunables[] = {
	TUN_U32(max_recv_dsl, 512, 16777215),
	TUN_U32(max_burst_length, 512, 16777215),
	TUN_U32(first_burst_length, 512, 16777215),
	TUN_U32(max_outstanding_r2t, 1, 65535),
	TUN_BOOL(initial_r2t),
	TUN_BOOL(immediate_data),
	TUN_U32(queue_depth, 1, 4096),
	TUN_U32(nop_interval_s, 0, 3600),
	TUN_U32(nop_timeout_s, 1, 3600),
	TUN_U32(login_timeout_s, 1, 3600),
	TUN_U32(shutdown_grace_s, 0, 3600),
	TUN_U32(iser_copy_threshold, 1, 131072),
	TUN_U32(tx_queue_max_bytes, 65536, 1u << 30),
	TUN_U32(tx_queue_max_pdus, 64, 1u << 20),
	TUN_U32(tx_stall_timeout_s, 1, 3600),
	TUN_U32(max_connections, 1, 1u << 20),
	TUN_U32(max_connections_per_portal, 1, 1u << 20),
	TUN_U32(max_connections_per_address, 1, 1u << 20),
	TUN_U32(max_prelogin_connections, 1, 1u << 20),
	TUN_U32(prelogin_timeout_s, 1, 3600),
	TUN_U32(max_sessions_per_target, 1, 65535),
	TUN_U32(max_sessions_per_initiator, 1, 65535),
	TUN_U32(max_discovery_sessions, 1, 65535),
	TUN_U32(dataout_timeout_s, 1, 3600),
	TUN_U32(text_timeout_s, 1, 3600),
};

static int conf_tunable(struct conf_ctx *cx, const char *key, json_object *val,
			struct idm_target_tunables *tun)
{
	const struct tunable_desc *d;
	uint64_t n;
	int rc;

	for (d = tunables; d < tunables + sizeof(tunables) / sizeof(tunables[0]); d++) {
		if (strcmp(d->name, key) != 0) {
			continue;
		}
		if (d->is_bool) {
			return conf_bool(cx, val, key, (bool *)((char *)tun + d->offset));
		}
		rc = conf_uint(cx, val, key, d->min, d->max, &n);
		if (rc == 0) {
			*(uint32_t *)((char *)tun + d->offset) = (uint32_t)n;
		}
		return rc;
	}
	return conf_error(cx, "unknown tunable \"%s\"", key);
}

/* Every tunable by its JSON name into `out` (config save, config_save.c). */
void idm_target_conf_tunables_json(const struct idm_target_tunables *tun, json_object *out)
{
	const struct tunable_desc *d;

	for (d = tunables; d < tunables + sizeof(tunables) / sizeof(tunables[0]); d++) {
		const char *field = (const char *)tun + d->offset;

		json_object_object_add(out, d->name,
				       d->is_bool ? json_object_new_boolean(*(const bool *)field)
						  : json_object_new_int64(*(const uint32_t *)field));
	}
}

static int conf_array(struct conf_ctx *cx, json_object *arr, const char *what, unsigned max,
		      unsigned *count)
{
	if (!json_object_is_type(arr, json_type_array)) {
		return conf_error(cx, "\"%s\" must be an array", what);
	}
	if (json_object_array_length(arr) > max) {
		return conf_error(cx, "at most %u %s", max, what);
	}
	*count = (unsigned)json_object_array_length(arr);
	return 0;
}

static int conf_discovery(struct conf_ctx *cx, json_object *o, struct idm_discovery_conf *d)
{
	bool filter = true;
	int rc = 0;

	if (!json_object_is_type(o, json_type_object)) {
		return conf_error(cx, "\"discovery\" must be an object");
	}
	json_object_object_foreach(o, key, val) {
		if (strcmp(key, "chap") == 0) {
			rc = conf_chap(cx, val, "discovery", &d->chap, &d->has_chap);
		} else if (strcmp(key, "acl_filter") == 0) {
			rc = conf_bool(cx, val, "discovery acl_filter", &filter);
		} else {
			rc = conf_error(cx, "unknown discovery key \"%s\"", key);
		}
		if (rc) {
			return rc;
		}
	}
	d->list_all = !filter;
	return 0;
}

/* "gateway": { "id": 2, "group": [1, 2, 3], "standby": false } */
static int conf_gateway(struct conf_ctx *cx, json_object *o, struct idm_gateway_conf *g)
{
	char why[160];
	uint64_t n;
	int rc = 0;

	if (!json_object_is_type(o, json_type_object)) {
		return conf_error(cx, "\"gateway\" must be an object");
	}
	json_object_object_foreach(o, key, val) {
		if (strcmp(key, "id") == 0) {
			rc = conf_uint(cx, val, "gateway id", 1, 65535, &n);
			g->id = (uint16_t)n;
		} else if (strcmp(key, "group") == 0) {
			rc = conf_array(cx, val, "gateway group", IDM_GATEWAYS_MAX, &g->ngroup);
			for (unsigned i = 0; rc == 0 && i < g->ngroup; i++) {
				rc = conf_uint(cx, json_object_array_get_idx(val, i),
				               "each gateway group id", 1, 65535, &n);
				g->group[i] = (uint16_t)n;
				for (unsigned j = 0; rc == 0 && j < i; j++) {
					if (g->group[j] == g->group[i]) {
						rc = conf_error(cx, "gateway group: id %u appears "
						                "twice", g->group[i]);
					}
				}
			}
		} else if (strcmp(key, "standby") == 0) {
			rc = conf_bool(cx, val, "gateway standby", &g->standby);
		} else {
			rc = conf_error(cx, "unknown gateway key \"%s\"", key);
		}
		if (rc) {
			return rc;
		}
	}
	return idm_gateway_conf_check(g, why, sizeof(why)) < 0 ? conf_error(cx, "%s", why) : 0;
}

static int conf_chap_algs(struct conf_ctx *cx, json_object *arr, struct idm_target_conf_all *c)
{
	unsigned n;
	int rc = conf_array(cx, arr, "chap_algorithms", IDM_CHAP_ALGS_MAX, &n);

	for (unsigned i = 0; rc == 0 && i < n; i++) {
		json_object *v = json_object_array_get_idx(arr, i);

		if (!json_object_is_type(v, json_type_string) ||
		    idm_chap_alg_parse(json_object_get_string(v), strlen(json_object_get_string(v)),
				       &c->chap_algs[i]) != 0) {
			return conf_error(cx, "chap_algorithms: each must be one of "
					      "\"SHA3-256\", \"SHA-256\", \"SHA1\", \"MD5\"");
		}
		for (unsigned j = 0; j < i; j++) {
			if (c->chap_algs[j] == c->chap_algs[i]) {
				return conf_error(cx, "chap_algorithms: an algorithm appears twice");
			}
		}
	}
	if (rc == 0 && n == 0) {
		return conf_error(cx, "chap_algorithms: list at least one (or leave it out)");
	}
	c->nchap_algs = n;
	return rc;
}

/* Operations keys: the control socket, the log level, the metrics
 * endpoint. 1 when `key` is none of them. */
static int conf_ops_key(struct conf_ctx *cx, const char *key, json_object *val,
			struct idm_target_conf_all *c)
{
	if (strcmp(key, "control_socket") == 0) {
		return conf_string(cx, val, "control_socket", c->control_socket,
				   sizeof(c->control_socket));
	}
	if (strcmp(key, "metrics_listen") == 0) {
		return conf_string(cx, val, "metrics_listen", c->metrics_listen,
				   sizeof(c->metrics_listen));
	}
	if (strcmp(key, "log_level") == 0) {
		enum idm_log_level level;
		int rc = conf_string(cx, val, "log_level", c->log_level, sizeof(c->log_level));

		if (rc == 0 && idm_log_level_parse(c->log_level, &level) != 0) {
			rc = conf_error(cx, "log_level must be error, warn, info or debug");
		}
		return rc;
	}
	return 1;
}

static int conf_top_key(struct conf_ctx *cx, const char *key, json_object *val,
			struct idm_target_conf_all *c)
{
	uint64_t n;
	unsigned i;
	int rc;

	if (strcmp(key, "reactors") == 0) {
		rc = conf_uint(cx, val, "reactors", 0, 256, &n);
		c->nreactors = (unsigned)n;
		return rc;
	}
	if (strcmp(key, "state_dir") == 0) {
		return conf_string(cx, val, "state_dir", c->state_dir, sizeof(c->state_dir));
	}
	if (strcmp(key, "portals") == 0) {
		rc = conf_array(cx, val, "portals", IDM_MAX_PORTALS, &c->nportals);
		for (i = 0; rc == 0 && i < c->nportals; i++) {
			rc = conf_portal(cx, json_object_array_get_idx(val, i), &c->portals[i]);
		}
		return rc;
	}
	if (strcmp(key, "targets") == 0) {
		rc = conf_array(cx, val, "targets", IDM_MAX_TARGETS, &c->ntargets);
		for (i = 0; rc == 0 && i < c->ntargets; i++) {
			rc = conf_target(cx, json_object_array_get_idx(val, i), &c->targets[i]);
		}
		return rc;
	}
	if (strcmp(key, "discovery") == 0) {
		return conf_discovery(cx, val, &c->discovery);
	}
	if (strcmp(key, "chap_algorithms") == 0) {
		return conf_chap_algs(cx, val, c);
	}
	if (strcmp(key, "gateway") == 0) {
		return conf_gateway(cx, val, &c->gateway);
	}
	if (strcmp(key, "tunables") == 0) {
		if (!json_object_is_type(val, json_type_object)) {
			return conf_error(cx, "\"tunables\" must be an object");
		}
		json_object_object_foreach(val, tkey, tval) {
			rc = conf_tunable(cx, tkey, tval, &c->tun);
			if (rc) {
				return rc;
			}
		}
		return 0;
	}
	rc = conf_ops_key(cx, key, val, c);
	if (rc <= 0) {
		return rc;
	}
	return conf_error(cx, "unknown key \"%s\"", key);
}

int idm_target_conf_load(const char *path, struct idm_target_conf_all *c, char *err,
			 size_t errlen)
{
	struct conf_ctx cx = {.err = err, .errlen = errlen, .path = path};
	json_object *root;
	int rc = 0;

	root = json_object_from_file(path);
	if (!root) {
		return conf_error(&cx, "cannot read or parse: %s", json_util_get_last_err());
	}
	if (!json_object_is_type(root, json_type_object)) {
		json_object_put(root);
		return conf_error(&cx, "the top level must be an object");
	}
	json_object_object_foreach(root, key, val) {
		rc = conf_top_key(&cx, key, val, c);
		if (rc) {
			break;
		}
	}
	json_object_put(root);
	for (unsigned i = 0; rc == 0 && i < c->nportals; i++) {
		char why[160];

		if (idm_portal_tpgt_fix(&c->portals[i], &c->gateway, why, sizeof(why)) < 0) {
			rc = conf_error(&cx, "%s", why);
		}
	}
	if (rc == 0 && c->nportals == 0) {
		rc = conf_error(&cx, "no portals");
	}
	if (rc == 0 && c->ntargets == 0) {
		rc = conf_error(&cx, "no targets");
	}
	return rc;
}
