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
 *   session.list                     [session and connection]
 *   session.logout {tsih}            {tsih, closed}
 *   stats         {format?}          per target, LUN, connection; format
 *                                    "prometheus": {text}
 *   log.level     {level?}           {level}: sets it when given
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "target/admin.h"
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

static const struct rpc_param p_lun_list[] = {{"target", json_type_string, false}, {NULL}};
static const struct rpc_param p_session_logout[] = {{"tsih", json_type_int, true}, {NULL}};
static const struct rpc_param p_stats[] = {{"format", json_type_string, false}, {NULL}};
static const struct rpc_param p_log_level[] = {{"level", json_type_string, false}, {NULL}};

const struct rpc_method tgt_ctl_methods[] = {
    {"version", m_version, NULL},
    {"status", m_status, NULL},
    {"target.list", m_target_list, NULL},
    {"lun.list", m_lun_list, p_lun_list},
    {"portal.list", m_portal_list, NULL},
    {"session.list", m_session_list, NULL},
    {"session.logout", m_session_logout, p_session_logout},
    {"stats", m_stats, p_stats},
    {"log.level", m_log_level, p_log_level},
};
const size_t tgt_ctl_nmethods = sizeof(tgt_ctl_methods) / sizeof(tgt_ctl_methods[0]);
