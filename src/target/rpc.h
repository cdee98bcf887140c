/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * JSON-RPC 2.0 (https://www.jsonrpc.org/specification) for idmd's control
 * socket: checking a request, finding its method, checking its parameters
 * against the method's table, and building the response. Pure: no socket,
 * no server; unit tested in tests/target/rpc_ut.c.
 *
 * Parameters are always by name (an object) or absent. Every parameter a
 * method takes is listed with its JSON type; an unknown name, a missing
 * required one or a wrong type is "Invalid params" before the method runs.
 */
#ifndef IDM_TARGET_RPC_H
#define IDM_TARGET_RPC_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

enum rpc_code {
	RPC_PARSE_ERROR = -32700,
	RPC_INVALID_REQUEST = -32600,
	RPC_METHOD_NOT_FOUND = -32601,
	RPC_INVALID_PARAMS = -32602,
	RPC_INTERNAL_ERROR = -32603,
	RPC_FAILED = -32000, /* the method ran and failed: the message says why */
};

struct rpc_param {
	const char *name;
	json_type type; /* json_type_null: any (the method checks) */
	bool required;
};

/* A method: 0 with *result set (NULL means JSON null), or an enum
 * rpc_code with a message in err. */
typedef int (*rpc_fn)(void *ctx, json_object *params, json_object **result, char *err,
                      size_t errlen);

struct rpc_method {
	const char *name;
	rpc_fn fn;
	const struct rpc_param *params; /* ends with a NULL name; NULL = none */
};

/* The response to one parsed request (a reference the caller puts), or
 * NULL for a notification (no "id"), which gets none. */
json_object *rpc_handle(const struct rpc_method *methods, size_t nmethods, void *ctx,
                        json_object *req);
/* An error response with a null id (e.g. for a parse error). */
json_object *rpc_error_response(json_object *id, int code, const char *msg);

/* Parameter accessors for methods (types were checked already). */
const char *rpc_param_str(json_object *params, const char *name);
bool rpc_param_int(json_object *params, const char *name, int64_t *out);
bool rpc_param_bool(json_object *params, const char *name, bool dflt);

#endif
