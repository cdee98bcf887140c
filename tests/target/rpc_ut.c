/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the control socket's JSON-RPC 2.0 layer (src/target/rpc.c):
 * every malformed request gets the error the specification names, the
 * parameters are checked against the method's table before it runs, and
 * notifications get no answer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "target/rpc.h"

static int calls;

static int echo(void *ctx, json_object *params, json_object **result, char *err, size_t errlen)
{
	int64_t n = 0;

	calls++;
	rpc_param_int(params, "n", &n);
	*result = json_object_new_int64(n * 2);
	return 0;
}

static int refuse(void *ctx, json_object *params, json_object **result, char *err, size_t errlen)
{
	calls++;
	snprintf(err, errlen, "no such target %s", rpc_param_str(params, "name"));
	return RPC_FAILED;
}

static const struct rpc_param echo_params[] = {
    {"n", json_type_int, true}, {"flag", json_type_boolean, false}, {NULL, json_type_null, false}};
static const struct rpc_param refuse_params[] = {{"name", json_type_string, false},
                                                 {NULL, json_type_null, false}};
static const struct rpc_method methods[] = {
    {"echo", echo, echo_params},
    {"refuse", refuse, refuse_params},
    {"bare", echo, NULL},
};

/* Handle the request text; the response (or NULL) as a reference. */
static json_object *handle(const char *text)
{
	json_object *req = json_tokener_parse(text);
	json_object *resp;

	assert_non_null(req);
	resp = rpc_handle(methods, sizeof(methods) / sizeof(methods[0]), NULL, req);
	json_object_put(req);
	return resp;
}

static int error_code(json_object *resp)
{
	json_object *err, *code;

	assert_non_null(resp);
	assert_true(json_object_object_get_ex(resp, "error", &err));
	assert_true(json_object_object_get_ex(err, "code", &code));
	return json_object_get_int(code);
}

static void expect_error(const char *text, int code)
{
	json_object *resp = handle(text);

	assert_int_equal(error_code(resp), code);
	json_object_put(resp);
}

static void call_returns_result_with_its_id(void **state)
{
	json_object *resp = handle("{\"jsonrpc\":\"2.0\",\"method\":\"echo\","
	                           "\"params\":{\"n\":21},\"id\":\"abc\"}");
	json_object *v;

	assert_true(json_object_object_get_ex(resp, "result", &v));
	assert_int_equal(json_object_get_int(v), 42);
	assert_true(json_object_object_get_ex(resp, "id", &v));
	assert_string_equal(json_object_get_string(v), "abc");
	assert_true(json_object_object_get_ex(resp, "jsonrpc", &v));
	assert_string_equal(json_object_get_string(v), "2.0");
	assert_false(json_object_object_get_ex(resp, "error", NULL));
	json_object_put(resp);
}

static void notification_gets_no_response(void **state)
{
	calls = 0;
	assert_null(handle("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":{\"n\":1}}"));
	assert_int_equal(calls, 1);
	/* even an unknown method: a notification is never answered */
	assert_null(handle("{\"jsonrpc\":\"2.0\",\"method\":\"nope\"}"));
}

static void malformed_requests_are_invalid(void **state)
{
	expect_error("[1,2]", RPC_INVALID_REQUEST);
	expect_error("42", RPC_INVALID_REQUEST);
	expect_error("{\"method\":\"bare\",\"id\":1}", RPC_INVALID_REQUEST);
	expect_error("{\"jsonrpc\":\"1.0\",\"method\":\"bare\",\"id\":1}", RPC_INVALID_REQUEST);
	expect_error("{\"jsonrpc\":2,\"method\":\"bare\",\"id\":1}", RPC_INVALID_REQUEST);
	expect_error("{\"jsonrpc\":\"2.0\",\"method\":7,\"id\":1}", RPC_INVALID_REQUEST);
	expect_error("{\"jsonrpc\":\"2.0\",\"id\":1}", RPC_INVALID_REQUEST);
	expect_error("{\"jsonrpc\":\"2.0\",\"method\":\"bare\",\"id\":{}}", RPC_INVALID_REQUEST);
	expect_error("{\"jsonrpc\":\"2.0\",\"method\":\"bare\",\"id\":1,\"x\":0}",
	             RPC_INVALID_REQUEST);
}

static void unknown_method_is_not_found(void **state)
{
	json_object *resp = handle("{\"jsonrpc\":\"2.0\",\"method\":\"shutdown\",\"id\":9}");
	json_object *id;

	assert_int_equal(error_code(resp), RPC_METHOD_NOT_FOUND);
	assert_true(json_object_object_get_ex(resp, "id", &id));
	assert_int_equal(json_object_get_int(id), 9);
	json_object_put(resp);
}

static void params_are_checked_before_the_method_runs(void **state)
{
	calls = 0;
	/* wrong type, missing required, unknown name, not an object */
	expect_error("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":{\"n\":\"1\"},\"id\":1}",
	             RPC_INVALID_PARAMS);
	expect_error("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":{},\"id\":1}",
	             RPC_INVALID_PARAMS);
	expect_error("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":1}", RPC_INVALID_PARAMS);
	expect_error("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":{\"n\":1,\"m\":2},"
	             "\"id\":1}",
	             RPC_INVALID_PARAMS);
	expect_error("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[1],\"id\":1}",
	             RPC_INVALID_PARAMS);
	expect_error("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":{\"n\":1,"
	             "\"flag\":1},\"id\":1}",
	             RPC_INVALID_PARAMS);
	expect_error("{\"jsonrpc\":\"2.0\",\"method\":\"bare\",\"params\":{\"n\":1},\"id\":1}",
	             RPC_INVALID_PARAMS);
	assert_int_equal(calls, 0);
}

static void method_failure_carries_its_message(void **state)
{
	json_object *resp = handle("{\"jsonrpc\":\"2.0\",\"method\":\"refuse\","
	                           "\"params\":{\"name\":\"iqn.x\"},\"id\":1}");
	json_object *err, *msg;

	assert_int_equal(error_code(resp), RPC_FAILED);
	assert_true(json_object_object_get_ex(resp, "error", &err));
	assert_true(json_object_object_get_ex(err, "message", &msg));
	assert_string_equal(json_object_get_string(msg), "no such target iqn.x");
	json_object_put(resp);
}

static void null_id_is_a_call(void **state)
{
	json_object *resp = handle("{\"jsonrpc\":\"2.0\",\"method\":\"bare\",\"id\":null}");

	assert_non_null(resp);
	assert_true(json_object_object_get_ex(resp, "result", NULL));
	json_object_put(resp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(call_returns_result_with_its_id),
	    cmocka_unit_test(notification_gets_no_response),
	    cmocka_unit_test(malformed_requests_are_invalid),
	    cmocka_unit_test(unknown_method_is_not_found),
	    cmocka_unit_test(params_are_checked_before_the_method_runs),
	    cmocka_unit_test(method_failure_carries_its_message),
	    cmocka_unit_test(null_id_is_a_call),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
