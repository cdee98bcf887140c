/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * JSON-RPC 2.0 request checking and dispatch (see rpc.h).
 */
#include <stdio.h>
#include <string.h>

#include "target/rpc.h"

json_object *rpc_error_response(json_object *id, int code, const char *msg)
{
	json_object *resp = json_object_new_object();
	json_object *err = json_object_new_object();

	json_object_object_add(resp, "jsonrpc", json_object_new_string("2.0"));
	json_object_object_add(err, "code", json_object_new_int(code));
	json_object_object_add(err, "message", json_object_new_string(msg));
	json_object_object_add(resp, "error", err);
	json_object_object_add(resp, "id", id ? json_object_get(id) : NULL);
	return resp;
}

static json_object *result_response(json_object *id, json_object *result)
{
	json_object *resp = json_object_new_object();

	json_object_object_add(resp, "jsonrpc", json_object_new_string("2.0"));
	json_object_object_add(resp, "result", result);
	json_object_object_add(resp, "id", json_object_get(id));
	return resp;
}

/* "id" must be a string, a number or null (JSON-RPC 2.0 section 4). */
static bool id_valid(json_object *id)
{
	return !id || json_object_is_type(id, json_type_string) ||
	       json_object_is_type(id, json_type_int);
}

static const char *type_name(json_type t)
{
	switch (t) {
	case json_type_string:
		return "a string";
	case json_type_int:
		return "an integer";
	case json_type_boolean:
		return "true or false";
	case json_type_array:
		return "an array";
	case json_type_object:
		return "an object";
	default:
		return "a value";
	}
}

/* 0, or RPC_INVALID_PARAMS with the reason in err. */
static int params_check(const struct rpc_method *m, json_object *params, char *err, size_t errlen)
{
	const struct rpc_param *p;

	if (params && !json_object_is_type(params, json_type_object)) {
		snprintf(err, errlen, "params must be an object (by name)");
		return RPC_INVALID_PARAMS;
	}
	if (params) {
		json_object_object_foreach(params, key, val)
		{
			for (p = m->params; p && p->name && strcmp(p->name, key) != 0; p++) {
			}
			if (!p || !p->name) {
				snprintf(err, errlen, "%s: unknown parameter \"%.64s\"", m->name,
				         key);
				return RPC_INVALID_PARAMS;
			}
			if (p->type != json_type_null && !json_object_is_type(val, p->type)) {
				snprintf(err, errlen, "%s: \"%s\" must be %s", m->name, p->name,
				         type_name(p->type));
				return RPC_INVALID_PARAMS;
			}
		}
	}
	for (p = m->params; p && p->name; p++) {
		if (p->required && !(params && json_object_object_get_ex(params, p->name, NULL))) {
			snprintf(err, errlen, "%s: \"%s\" is required", m->name, p->name);
			return RPC_INVALID_PARAMS;
		}
	}
	return 0;
}

static const struct rpc_method *method_find(const struct rpc_method *methods, size_t n,
                                            const char *name)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(methods[i].name, name) == 0) {
			return &methods[i];
		}
	}
	return NULL;
}

json_object *rpc_handle(const struct rpc_method *methods, size_t nmethods, void *ctx,
                        json_object *req)
{
	json_object *id = NULL, *version, *method, *params = NULL, *result = NULL;
	const struct rpc_method *m;
	bool has_id;
	char err[256] = "";
	int code;

	if (!json_object_is_type(req, json_type_object)) {
		return rpc_error_response(NULL, RPC_INVALID_REQUEST,
		                          json_object_is_type(req, json_type_array)
		                              ? "batches are not supported"
		                              : "a request must be an object");
	}
	has_id = json_object_object_get_ex(req, "id", &id);
	if (!id_valid(id)) {
		return rpc_error_response(NULL, RPC_INVALID_REQUEST, "bad \"id\"");
	}
	if (!json_object_object_get_ex(req, "jsonrpc", &version) ||
	    !json_object_is_type(version, json_type_string) ||
	    strcmp(json_object_get_string(version), "2.0") != 0) {
		return rpc_error_response(id, RPC_INVALID_REQUEST, "\"jsonrpc\" must be \"2.0\"");
	}
	if (!json_object_object_get_ex(req, "method", &method) ||
	    !json_object_is_type(method, json_type_string)) {
		return rpc_error_response(id, RPC_INVALID_REQUEST, "\"method\" must be a string");
	}
	json_object_object_foreach(req, key, val)
	{
		(void)val;
		if (strcmp(key, "jsonrpc") != 0 && strcmp(key, "method") != 0 &&
		    strcmp(key, "params") != 0 && strcmp(key, "id") != 0) {
			return rpc_error_response(id, RPC_INVALID_REQUEST,
			                          "unknown request member");
		}
	}
	m = method_find(methods, nmethods, json_object_get_string(method));
	if (!m) {
		snprintf(err, sizeof(err), "unknown method \"%.64s\"",
		         json_object_get_string(method));
		return has_id ? rpc_error_response(id, RPC_METHOD_NOT_FOUND, err) : NULL;
	}
	json_object_object_get_ex(req, "params", &params);
	code = params_check(m, params, err, sizeof(err));
	if (code == 0) {
		code = m->fn(ctx, params, &result, err, sizeof(err));
	}
	if (!has_id) {
		json_object_put(result);
		return NULL;
	}
	if (code != 0) {
		json_object_put(result);
		return rpc_error_response(id, code, err[0] ? err : "failed");
	}
	return result_response(id, result);
}

const char *rpc_param_str(json_object *params, const char *name)
{
	json_object *v;

	if (!params || !json_object_object_get_ex(params, name, &v) ||
	    !json_object_is_type(v, json_type_string)) {
		return NULL;
	}
	return json_object_get_string(v);
}

bool rpc_param_int(json_object *params, const char *name, int64_t *out)
{
	json_object *v;

	if (!params || !json_object_object_get_ex(params, name, &v) ||
	    !json_object_is_type(v, json_type_int)) {
		return false;
	}
	*out = json_object_get_int64(v);
	return true;
}

bool rpc_param_bool(json_object *params, const char *name, bool dflt)
{
	json_object *v;

	if (!params || !json_object_object_get_ex(params, name, &v) ||
	    !json_object_is_type(v, json_type_boolean)) {
		return dflt;
	}
	return json_object_get_boolean(v);
}
