/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control socket's methods: each checks what the RPC layer cannot
 * (ranges, names) and calls the target-side operation (admin.c).
 *
 *   version                          {version}
 *   status                           version, uptime, reactors, portals, counts
 *   target.list                      [target]
 *   lun.list      {target?}          [lun]
 *   portal.list                      [portal]
 *   portal.add    {addr, port?, tpgt?, transports?}   port 3260, tpgt 1, transports
 *                                    ["tcp"], ["iser"] or both (default: all there are)
 *   portal.remove {addr, port?}      its sessions logged out, then closed
 *   session.list                     [session and connection]
 *   session.logout {tsih}            {tsih, closed}
 *   stats         {format?}          per target, LUN, connection; format
 *                                    "prometheus": {text}
 *   log.level     {level?}           {level}: sets it when given
 *   target.create {iqn, alias?}      a target without LUNs
 *   target.delete {iqn}              sessions logged out, then closed
 *   lun.add       {target, spec, lun?, block_size?, read_only?, write_cache?,
 *                  vendor?, product?, serial?, naa?}   (as the config's LUN keys)
 *   lun.set       {target, lun, read_only}   write-protect it or lift that
 *   lun.remove    {target, lun}      I/O in flight finishes first
 *   lun.resize    {target, lun, size, force?}   size: bytes or "2G"
 *   config.save   {file?}            default: the file idmd was started with
 *   acl.list      {target}           [{initiator, chap, user?}]
 *   acl.add       {target, initiator, user?, secret?, target_user?, target_secret?,
 *                  lun_map?: {"LUN": TARGET_LUN, ...}}   (the initiator sees only those)
 *   acl.remove    {target, initiator}
 *   gateway.show                     {id, group, non_holders, luns: [{target, lun,
 *                                    lock_owner, groups: [{gateway, state}]}]}
 *   gateway.move  {target, lun}      this gateway takes the LU's lock (optimized)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "target/admin.h"
#include "target/config_save.h"
#include "target/ctl.h"

static int m_version(void *ctx, json_object *params, json_object **result, char *err, size_t errlen)
{
	struct tgt_ctl_ctx *cx = ctx;

	*result = json_object_new_object();
	json_object_object_add(*result, "version", json_object_new_string(cx->version));
	return 0;
}

static int m_status(void *ctx, json_object *params, json_object **result, char *err, size_t errlen)
{
	struct tgt_ctl_ctx *cx = ctx;

	*result = tgt_admin_status(cx->srv);
	json_object_object_add(*result, "version", json_object_new_string(cx->version));
	json_object_object_add(*result, "log_level",
	                       json_object_new_string(idm_log_level_name(idm_log_get_level())));
	return 0;
}

static int m_target_list(void *ctx, json_object *params, json_object **result, char *err,
                         size_t errlen)
{
	*result = tgt_admin_targets(((struct tgt_ctl_ctx *)ctx)->srv);
	return 0;
}

static int m_lun_list(void *ctx, json_object *params, json_object **result, char *err,
                      size_t errlen)
{
	*result = tgt_admin_luns(((struct tgt_ctl_ctx *)ctx)->srv, rpc_param_str(params, "target"),
	                         err, errlen);
	return *result ? 0 : RPC_FAILED;
}

static int m_portal_list(void *ctx, json_object *params, json_object **result, char *err,
                         size_t errlen)
{
	*result = tgt_admin_portals(((struct tgt_ctl_ctx *)ctx)->srv);
	return 0;
}

static int m_session_list(void *ctx, json_object *params, json_object **result, char *err,
                          size_t errlen)
{
	*result = tgt_admin_sessions(((struct tgt_ctl_ctx *)ctx)->srv);
	return 0;
}

static int m_session_logout(void *ctx, json_object *params, json_object **result, char *err,
                            size_t errlen)
{
	int64_t tsih = 0;
	bool closed;

	rpc_param_int(params, "tsih", &tsih);
	if (tsih < 1 || tsih > 65535) {
		snprintf(err, errlen, "tsih must be 1 to 65535");
		return RPC_INVALID_PARAMS;
	}
	if (tgt_admin_session_logout(((struct tgt_ctl_ctx *)ctx)->srv, (uint16_t)tsih, &closed) <
	    0) {
		snprintf(err, errlen, "no session with TSIH %lld", (long long)tsih);
		return RPC_FAILED;
	}
	*result = json_object_new_object();
	json_object_object_add(*result, "tsih", json_object_new_int64(tsih));
	json_object_object_add(*result, "closed", json_object_new_boolean(closed));
	return 0;
}

static int m_stats(void *ctx, json_object *params, json_object **result, char *err, size_t errlen)
{
	struct tgt_ctl_ctx *cx = ctx;
	const char *format = rpc_param_str(params, "format");
	char *text;

	if (format && strcmp(format, "json") != 0 && strcmp(format, "prometheus") != 0) {
		snprintf(err, errlen, "format must be \"json\" or \"prometheus\"");
		return RPC_INVALID_PARAMS;
	}
	if (!format || strcmp(format, "json") == 0) {
		*result = tgt_admin_stats(cx->srv);
	} else if ((text = tgt_admin_metrics(cx->srv)) != NULL) {
		*result = json_object_new_object();
		json_object_object_add(*result, "text", json_object_new_string(text));
		free(text);
	}
	if (!*result) {
		snprintf(err, errlen, "no memory for the statistics");
		return RPC_INTERNAL_ERROR;
	}
	return 0;
}

static int m_log_level(void *ctx, json_object *params, json_object **result, char *err,
                       size_t errlen)
{
	const char *name = rpc_param_str(params, "level");
	enum idm_log_level level;

	if (name) {
		if (idm_log_level_parse(name, &level) != 0) {
			snprintf(err, errlen, "level must be error, warn, info or debug");
			return RPC_INVALID_PARAMS;
		}
		idm_log_set_level(level);
		idm_log_at(IDM_LOG_ERROR > level ? IDM_LOG_ERROR : level, "ctl", "log level %s",
		           idm_log_level_name(level));
	}
	*result = json_object_new_object();
	json_object_object_add(*result, "level",
	                       json_object_new_string(idm_log_level_name(idm_log_get_level())));
	return 0;
}

/* ---- live changes ---- */

static int done_ok(json_object **result)
{
	*result = json_object_new_object();
	json_object_object_add(*result, "ok", json_object_new_boolean(true));
	return 0;
}

static int live_rc(int rc, json_object **result)
{
	return rc < 0 ? RPC_FAILED : done_ok(result);
}

/* addr and port of a portal request; false with err. */
static bool portal_params(json_object *params, struct idm_portal_conf *pc, char *err, size_t errlen)
{
	const char *addr = rpc_param_str(params, "addr");
	int64_t port = 3260, tpgt = 0; /* 0: 1, or the gateway's id */

	rpc_param_int(params, "port", &port);
	rpc_param_int(params, "tpgt", &tpgt);
	if (strlen(addr) == 0 || strlen(addr) >= sizeof(pc->addr) || port < 1 || port > 65535 ||
	    tpgt < 0 || tpgt > 65535) {
		snprintf(err, errlen, "addr 1-%zu characters, port and tpgt 1 to 65535",
		         sizeof(pc->addr) - 1);
		return false;
	}
	snprintf(pc->addr, sizeof(pc->addr), "%s", addr);
	pc->port = (uint16_t)port;
	pc->tpgt = (uint16_t)tpgt;
	return true;
}

static int m_portal_add(void *ctx, json_object *params, json_object **result, char *err,
                        size_t errlen)
{
	struct idm_portal_conf pc = {0};
	json_object *tp = NULL;

	if (!portal_params(params, &pc, err, errlen)) {
		return RPC_INVALID_PARAMS;
	}
	json_object_object_get_ex(params, "transports", &tp);
	for (size_t i = 0; tp && i < json_object_array_length(tp); i++) {
		const char *name = json_object_get_string(json_object_array_get_idx(tp, i));

		if (name && strcmp(name, "tcp") == 0) {
			pc.transports |= IDM_OFFER_TCP;
		} else if (name && strcmp(name, "iser") == 0) {
			pc.transports |= IDM_OFFER_ISER;
		} else {
			snprintf(err, errlen, "transports: \"tcp\", \"iser\" or both");
			return RPC_INVALID_PARAMS;
		}
	}
	if (tp && !pc.transports) {
		snprintf(err, errlen, "transports: \"tcp\", \"iser\" or both");
		return RPC_INVALID_PARAMS;
	}
	if (idm_portal_tpgt_fix(&pc, &((struct tgt_ctl_ctx *)ctx)->srv->conf->gateway, err,
	                        errlen) < 0) {
		return RPC_INVALID_PARAMS;
	}
	return live_rc(tgt_live_portal_add(((struct tgt_ctl_ctx *)ctx)->srv, &pc, err, errlen),
	               result);
}

static int m_portal_remove(void *ctx, json_object *params, json_object **result, char *err,
                           size_t errlen)
{
	struct idm_portal_conf pc = {0};

	if (!portal_params(params, &pc, err, errlen)) {
		return RPC_INVALID_PARAMS;
	}
	return live_rc(
	    tgt_live_portal_remove(((struct tgt_ctl_ctx *)ctx)->srv, pc.addr, pc.port, err, errlen),
	    result);
}

static int m_target_create(void *ctx, json_object *params, json_object **result, char *err,
                           size_t errlen)
{
	struct idm_target_conf *tc = calloc(1, sizeof(*tc));
	const char *iqn = rpc_param_str(params, "iqn");
	const char *alias = rpc_param_str(params, "alias");
	int rc;

	if (!tc) {
		snprintf(err, errlen, "no memory");
		return RPC_INTERNAL_ERROR;
	}
	if (strlen(iqn) == 0 || strlen(iqn) >= sizeof(tc->iqn) ||
	    (alias && strlen(alias) >= sizeof(tc->alias))) {
		free(tc);
		snprintf(err, errlen, "bad iqn or alias");
		return RPC_INVALID_PARAMS;
	}
	snprintf(tc->iqn, sizeof(tc->iqn), "%s", iqn);
	snprintf(tc->alias, sizeof(tc->alias), "%s", alias ? alias : "");
	rc = tgt_live_target_create(((struct tgt_ctl_ctx *)ctx)->srv, tc, err, errlen);
	free(tc);
	return live_rc(rc, result);
}

static int m_target_delete(void *ctx, json_object *params, json_object **result, char *err,
                           size_t errlen)
{
	return live_rc(tgt_live_target_delete(((struct tgt_ctl_ctx *)ctx)->srv,
	                                      rpc_param_str(params, "iqn"), err, errlen),
	               result);
}

/* A LUN number parameter: 0 to IDM_MAX_LUNS_PER_TARGET - 1. */
static bool lun_param(json_object *params, const char *name, uint32_t *out, char *err,
                      size_t errlen)
{
	int64_t n;

	if (!rpc_param_int(params, name, &n) || n < 0 || n >= IDM_MAX_LUNS_PER_TARGET) {
		snprintf(err, errlen, "%s must be 0 to %d", name, IDM_MAX_LUNS_PER_TARGET - 1);
		return false;
	}
	*out = (uint32_t)n;
	return true;
}

/* The lowest LUN number the target does not use. */
static uint32_t lun_free(struct idm_server *srv, const char *iqn)
{
	struct tgt_target *t = tgt_target_find(srv, iqn);
	uint32_t l = 0;

	while (t && l < IDM_MAX_LUNS_PER_TARGET - 1 && t->luns.lu[l]) {
		l++;
	}
	return l;
}

/* lun.add's write_cache and identity, checked as the config file does. */
static bool lun_ident_params(json_object *params, struct idm_lun_conf *lc, char *err, size_t errlen)
{
	static const char *const keys[] = {"vendor", "product", "serial", "naa"};

	if (json_object_object_get_ex(params, "write_cache", NULL)) {
		lc->write_cache_set = true;
		lc->write_cache = rpc_param_bool(params, "write_cache", false);
	}
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *v = rpc_param_str(params, keys[i]);
		json_object *o;

		if (!v) {
			continue;
		}
		json_object_object_get_ex(params, keys[i], &o);
		if (strlen(v) != (size_t)json_object_get_string_len(o)) {
			snprintf(err, errlen, "%s must not contain a NUL", keys[i]);
			return false;
		}
		if (idm_lun_ident_set(lc, keys[i], v, err, errlen) < 0) {
			return false;
		}
	}
	return true;
}

static int m_lun_add(void *ctx, json_object *params, json_object **result, char *err, size_t errlen)
{
	struct idm_server *srv = ((struct tgt_ctl_ctx *)ctx)->srv;
	const char *iqn = rpc_param_str(params, "target");
	const char *spec = rpc_param_str(params, "spec");
	struct idm_lun_conf lc = {.block_size = 512};
	int64_t bs = 512;

	if (json_object_object_get_ex(params, "lun", NULL)) {
		if (!lun_param(params, "lun", &lc.lun, err, errlen)) {
			return RPC_INVALID_PARAMS;
		}
	} else {
		lc.lun = lun_free(srv, iqn);
	}
	rpc_param_int(params, "block_size", &bs);
	if ((bs != 512 && bs != 4096) || strlen(spec) == 0 || strlen(spec) >= sizeof(lc.spec)) {
		snprintf(err, errlen, "block_size must be 512 or 4096, spec 1-%zu characters",
		         sizeof(lc.spec) - 1);
		return RPC_INVALID_PARAMS;
	}
	lc.block_size = (uint32_t)bs;
	lc.read_only = rpc_param_bool(params, "read_only", false);
	if (!lun_ident_params(params, &lc, err, errlen)) {
		return RPC_INVALID_PARAMS;
	}
	snprintf(lc.spec, sizeof(lc.spec), "%s", spec);
	if (tgt_live_lun_add(srv, iqn, &lc, err, errlen) < 0) {
		return RPC_FAILED;
	}
	*result = json_object_new_object();
	json_object_object_add(*result, "lun", json_object_new_int64(lc.lun));
	return 0;
}

static int m_lun_remove(void *ctx, json_object *params, json_object **result, char *err,
                        size_t errlen)
{
	uint32_t lun;

	if (!lun_param(params, "lun", &lun, err, errlen)) {
		return RPC_INVALID_PARAMS;
	}
	return live_rc(tgt_live_lun_remove(((struct tgt_ctl_ctx *)ctx)->srv,
	                                   rpc_param_str(params, "target"), lun, err, errlen),
	               result);
}

static int m_lun_set(void *ctx, json_object *params, json_object **result, char *err, size_t errlen)
{
	uint32_t lun;

	if (!lun_param(params, "lun", &lun, err, errlen)) {
		return RPC_INVALID_PARAMS;
	}
	return live_rc(tgt_live_lun_read_only(
	                   ((struct tgt_ctl_ctx *)ctx)->srv, rpc_param_str(params, "target"), lun,
	                   rpc_param_bool(params, "read_only", false), err, errlen),
	               result);
}

static int m_lun_resize(void *ctx, json_object *params, json_object **result, char *err,
                        size_t errlen)
{
	json_object *v = NULL;
	uint64_t size = 0;
	uint32_t lun;

	if (!lun_param(params, "lun", &lun, err, errlen)) {
		return RPC_INVALID_PARAMS;
	}
	json_object_object_get_ex(params, "size", &v);
	if (json_object_is_type(v, json_type_int) && json_object_get_int64(v) > 0) {
		size = (uint64_t)json_object_get_int64(v);
	} else if (!json_object_is_type(v, json_type_string) ||
	           idm_parse_size(json_object_get_string(v), &size) != 0) {
		snprintf(err, errlen, "size must be bytes or a size like \"2G\"");
		return RPC_INVALID_PARAMS;
	}
	return live_rc(tgt_live_lun_resize(((struct tgt_ctl_ctx *)ctx)->srv,
	                                   rpc_param_str(params, "target"), lun, size,
	                                   rpc_param_bool(params, "force", false), err, errlen),
	               result);
}

static int m_config_save(void *ctx, json_object *params, json_object **result, char *err,
                         size_t errlen)
{
	struct tgt_ctl_ctx *cx = ctx;
	const char *file = rpc_param_str(params, "file");

	if (!file) {
		file = cx->config_path;
	}
	if (!file || !file[0]) {
		snprintf(err, errlen, "idmd runs without a config file: name one to write");
		return RPC_INVALID_PARAMS;
	}
	snprintf(cx->srv->conf->log_level, sizeof(cx->srv->conf->log_level), "%s",
	         idm_log_level_name(idm_log_get_level()));
	if (idm_target_conf_save(cx->srv->conf, file, err, errlen) < 0) {
		return RPC_FAILED;
	}
	*result = json_object_new_object();
	json_object_object_add(*result, "file", json_object_new_string(file));
	return 0;
}

static int m_acl_list(void *ctx, json_object *params, json_object **result, char *err,
                      size_t errlen)
{
	*result = tgt_admin_acl(((struct tgt_ctl_ctx *)ctx)->srv, rpc_param_str(params, "target"),
	                        err, errlen);
	return *result ? 0 : RPC_FAILED;
}

static int m_acl_add(void *ctx, json_object *params, json_object **result, char *err, size_t errlen)
{
	const char *ini = rpc_param_str(params, "initiator");
	const char *user = rpc_param_str(params, "user"), *secret = rpc_param_str(params, "secret");
	const char *tuser = rpc_param_str(params, "target_user");
	const char *tsecret = rpc_param_str(params, "target_secret");
	struct idm_acl_chap chap = {0};
	struct idm_lun_map map;
	json_object *jmap = NULL;
	int rc;

	if (strlen(ini) == 0 || strlen(ini) >= IDM_NAME_MAX || !user != !secret ||
	    !tuser != !tsecret || (tuser && !user)) {
		snprintf(err, errlen,
		         "an initiator name, and user with secret (target_user with "
		         "target_secret for mutual CHAP)");
		return RPC_INVALID_PARAMS;
	}
	if (user && idm_chap_account_set(&chap.chap, user, secret, tuser, tsecret) != 0) {
		snprintf(err, errlen,
		         "bad CHAP account (names 1-255 characters, secrets 1-255 "
		         "bytes, the two secrets different)");
		return RPC_INVALID_PARAMS;
	}
	chap.has = user != NULL;
	if (json_object_object_get_ex(params, "lun_map", &jmap) &&
	    idm_lun_map_from_json(jmap, &map, err, errlen) != 0) {
		idm_chap_account_clear(&chap.chap);
		return RPC_INVALID_PARAMS;
	}
	rc = tgt_live_acl_add(((struct tgt_ctl_ctx *)ctx)->srv, rpc_param_str(params, "target"),
	                      ini, &chap, jmap ? &map : NULL, err, errlen);
	idm_chap_account_clear(&chap.chap);
	return live_rc(rc, result);
}

static int m_acl_remove(void *ctx, json_object *params, json_object **result, char *err,
                        size_t errlen)
{
	return live_rc(tgt_live_acl_remove(((struct tgt_ctl_ctx *)ctx)->srv,
	                                   rpc_param_str(params, "target"),
	                                   rpc_param_str(params, "initiator"), err, errlen),
	               result);
}

static int m_gateway_show(void *ctx, json_object *params, json_object **result, char *err,
                          size_t errlen)
{
	*result = tgt_admin_gateway(((struct tgt_ctl_ctx *)ctx)->srv);
	return 0;
}

static int m_gateway_move(void *ctx, json_object *params, json_object **result, char *err,
                          size_t errlen)
{
	int64_t lun = -1;

	rpc_param_int(params, "lun", &lun);
	if (lun < 0 || lun >= SCSI_MAX_LUNS) {
		snprintf(err, errlen, "lun 0 to %u", SCSI_MAX_LUNS - 1);
		return RPC_INVALID_PARAMS;
	}
	return live_rc(tgt_admin_gateway_move(((struct tgt_ctl_ctx *)ctx)->srv,
	                                      rpc_param_str(params, "target"), (uint32_t)lun, err,
	                                      errlen),
	               result);
}

static const struct rpc_param p_portal_add[] = {{"addr", json_type_string, true},
                                                {"port", json_type_int, false},
                                                {"tpgt", json_type_int, false},
                                                {"transports", json_type_array, false},
                                                {.name = NULL}};
static const struct rpc_param p_portal_remove[] = {
    {"addr", json_type_string, true}, {"port", json_type_int, false}, {.name = NULL}};
static const struct rpc_param p_lun_list[] = {{"target", json_type_string, false}, {.name = NULL}};
static const struct rpc_param p_session_logout[] = {{"tsih", json_type_int, true}, {.name = NULL}};
static const struct rpc_param p_stats[] = {{"format", json_type_string, false}, {.name = NULL}};
static const struct rpc_param p_log_level[] = {{"level", json_type_string, false}, {.name = NULL}};
static const struct rpc_param p_target_create[] = {
    {"iqn", json_type_string, true}, {"alias", json_type_string, false}, {.name = NULL}};
static const struct rpc_param p_target_delete[] = {{"iqn", json_type_string, true}, {.name = NULL}};
static const struct rpc_param p_lun_add[] = {{"target", json_type_string, true},
                                             {"spec", json_type_string, true},
                                             {"lun", json_type_int, false},
                                             {"block_size", json_type_int, false},
                                             {"read_only", json_type_boolean, false},
                                             {"write_cache", json_type_boolean, false},
                                             {"vendor", json_type_string, false},
                                             {"product", json_type_string, false},
                                             {"serial", json_type_string, false},
                                             {"naa", json_type_string, false},
                                             {.name = NULL}};
static const struct rpc_param p_lun_set[] = {{"target", json_type_string, true},
                                             {"lun", json_type_int, true},
                                             {"read_only", json_type_boolean, true},
                                             {.name = NULL}};
static const struct rpc_param p_lun_remove[] = {
    {"target", json_type_string, true}, {"lun", json_type_int, true}, {.name = NULL}};
/* size: bytes (an integer) or a size string; checked by the method */
static const struct rpc_param p_lun_resize[] = {{"target", json_type_string, true},
                                                {"lun", json_type_int, true},
                                                {"size", json_type_null, true},
                                                {"force", json_type_boolean, false},
                                                {.name = NULL}};
static const struct rpc_param p_config_save[] = {{"file", json_type_string, false}, {.name = NULL}};
static const struct rpc_param p_acl_list[] = {{"target", json_type_string, true}, {.name = NULL}};
static const struct rpc_param p_acl_add[] = {
    {"target", json_type_string, true},       {"initiator", json_type_string, true},
    {"user", json_type_string, false},        {"secret", json_type_string, false},
    {"target_user", json_type_string, false}, {"target_secret", json_type_string, false},
    {"lun_map", json_type_object, false},     {.name = NULL}};
static const struct rpc_param p_acl_remove[] = {
    {"target", json_type_string, true}, {"initiator", json_type_string, true}, {.name = NULL}};

static const struct rpc_param p_gateway_move[] = {
    {"target", json_type_string, true}, {"lun", json_type_int, true}, {.name = NULL}};

const struct rpc_method tgt_ctl_methods[] = {
    {"version", m_version, NULL},
    {"status", m_status, NULL},
    {"target.list", m_target_list, NULL},
    {"lun.list", m_lun_list, p_lun_list},
    {"portal.list", m_portal_list, NULL},
    {"portal.add", m_portal_add, p_portal_add},
    {"portal.remove", m_portal_remove, p_portal_remove},
    {"session.list", m_session_list, NULL},
    {"session.logout", m_session_logout, p_session_logout},
    {"stats", m_stats, p_stats},
    {"log.level", m_log_level, p_log_level},
    {"target.create", m_target_create, p_target_create},
    {"target.delete", m_target_delete, p_target_delete},
    {"lun.add", m_lun_add, p_lun_add},
    {"lun.remove", m_lun_remove, p_lun_remove},
    {"lun.resize", m_lun_resize, p_lun_resize},
    {"lun.set", m_lun_set, p_lun_set},
    {"config.save", m_config_save, p_config_save},
    {"acl.list", m_acl_list, p_acl_list},
    {"acl.add", m_acl_add, p_acl_add},
    {"acl.remove", m_acl_remove, p_acl_remove},
    {"gateway.show", m_gateway_show, NULL},
    {"gateway.move", m_gateway_move, p_gateway_move},
};
const size_t tgt_ctl_nmethods = sizeof(tgt_ctl_methods) / sizeof(tgt_ctl_methods[0]);
