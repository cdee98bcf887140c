/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * idmadm: administers a running idmd through its control socket
 * (JSON-RPC 2.0, see src/target/ctl.c).
 *
 *   idmadm [--socket PATH] [--json] COMMAND [ARGS]
 *
 * Human tables by default, the method's JSON result with --json. On
 * failure: one line on stderr ("idmadm: why") and exit status 1; a usage
 * error exits 2.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#include "idm/target.h"

#define IDMADM_VERSION "0.1.0"
#define RESPONSE_MAX (64u << 20) /* a response larger than this is refused */

struct cli {
	const char *socket;
	bool json;
	bool prometheus;
	bool force;
	const char *alias;      /* target create --alias */
	long lun;               /* lun add --lun; -1: the lowest free */
	long block_size;        /* lun add --block-size */
	int read_only;          /* lun add/set: 1 --read-only, 0 --read-write, -1 unsaid */
	const char *chap;       /* acl add --chap USER:SECRET */
	const char *mutual;     /* acl add --mutual-chap USER:SECRET */
	const char *lun_map;    /* acl add --lun-map LUN[=TARGET_LUN],... */
	long tpgt;              /* portal add --tpgt */
	const char *transports; /* portal add --transports tcp,iser */
	int wce;                /* lun add: 1 --wce, 0 --no-wce, -1 unsaid */
	const char *vendor;     /* lun add --vendor, --product, --serial, --naa */
	const char *product;
	const char *serial;
	const char *naa;
};

static void usage(FILE *out)
{
	fprintf(out, "usage: idmadm [--socket PATH] [--json] COMMAND [ARGS]\n"
	             "  status | version\n"
	             "  target list | target create IQN [--alias NAME] | target delete IQN\n"
	             "  lun list [TARGET_IQN]\n"
	             "  lun add IQN SPEC [--lun N] [--block-size 512|4096] [--read-only]\n"
	             "          [--wce|--no-wce] [--vendor V] [--product P] [--serial S]\n"
	             "          [--naa 6<31 hex digits>]\n"
	             "  lun remove IQN LUN | lun resize IQN LUN SIZE [--force]\n"
	             "  lun set IQN LUN --read-only|--read-write\n"
	             "  config save [FILE]\n"
	             "  acl list IQN | acl remove IQN INITIATOR\n"
	             "  acl add IQN INITIATOR [--chap USER:SECRET [--mutual-chap USER:SECRET]]\n"
	             "          [--lun-map LUN[=TARGET_LUN],...]   (\"\": no LUN at all)\n"
	             "  portal list | portal remove ADDR[:PORT]\n"
	             "  portal add ADDR[:PORT] [--tpgt N] [--transports tcp,iser]\n"
	             "  session list | session logout TSIH\n"
	             "  stats [--prometheus]\n"
	             "  log level [error|warn|info|debug]\n"
	             "  gateway show | gateway move IQN LUN   (this gateway becomes optimized)\n"
	             "--socket: idmd's control socket (default " IDM_CONTROL_SOCKET ")\n");
}

static int die(const char *fmt, const char *arg)
{
	fprintf(stderr, "idmadm: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	return 1;
}

/* ---- the call ---- */

static int sock_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static bool send_all(int fd, const char *s, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, s, len, MSG_NOSIGNAL);

		if (n <= 0) {
			if (n < 0 && errno == EINTR) {
				continue;
			}
			return false;
		}
		s += n;
		len -= (size_t)n;
	}
	return true;
}

/* One response line, malloc'ed; NULL when the daemon hung up first. */
static char *recv_line(int fd)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);

	while (buf) {
		ssize_t n;
		char *nl;

		if (len + 1 == cap) {
			char *bigger = cap < RESPONSE_MAX ? realloc(buf, cap * 2) : NULL;

			if (!bigger) {
				break;
			}
			buf = bigger;
			cap *= 2;
		}
		n = recv(fd, buf + len, cap - 1 - len, 0);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			break;
		}
		len += (size_t)n;
		buf[len] = '\0';
		nl = memchr(buf, '\n', len);
		if (nl) {
			*nl = '\0';
			return buf;
		}
	}
	free(buf);
	return NULL;
}

/* Call `method` with `params` (taken); 0 with *result (a reference), or
 * 1 after printing why. */
static int call(const struct cli *cli, const char *method, json_object *params,
                json_object **result)
{
	json_object *req = json_object_new_object(), *resp, *err, *v;
	char *line;
	int fd, rc = 1;

	json_object_object_add(req, "jsonrpc", json_object_new_string("2.0"));
	json_object_object_add(req, "method", json_object_new_string(method));
	if (params) {
		json_object_object_add(req, "params", params);
	}
	json_object_object_add(req, "id", json_object_new_int(1));
	fd = sock_connect(cli->socket);
	if (fd < 0) {
		fprintf(stderr, "idmadm: cannot connect to %s: %s\n", cli->socket, strerror(errno));
		json_object_put(req);
		return 1;
	}
	line = send_all(fd, json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN),
	                strlen(json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN))) &&
	               send_all(fd, "\n", 1)
	           ? recv_line(fd)
	           : NULL;
	close(fd);
	json_object_put(req);
	if (!line) {
		return die("no answer from idmd on %s", cli->socket);
	}
	resp = json_tokener_parse(line);
	free(line);
	if (!resp || !json_object_is_type(resp, json_type_object)) {
		json_object_put(resp);
		return die("%s", "idmd's answer is not JSON-RPC");
	}
	if (json_object_object_get_ex(resp, "error", &err)) {
		fprintf(stderr, "idmadm: %s\n",
		        json_object_object_get_ex(err, "message", &v) ? json_object_get_string(v)
		                                                      : "failed");
	} else if (json_object_object_get_ex(resp, "result", &v)) {
		*result = json_object_get(v);
		rc = 0;
	} else {
		die("%s", "idmd's answer has neither result nor error");
	}
	json_object_put(resp);
	return rc;
}

/* ---- output ---- */

static json_object *get(json_object *o, const char *key)
{
	json_object *v = NULL;

	json_object_object_get_ex(o, key, &v);
	return v;
}

static const char *str(json_object *o, const char *key)
{
	json_object *v = get(o, key);

	return v ? json_object_get_string(v) : "";
}

static int64_t num(json_object *o, const char *key)
{
	return json_object_get_int64(get(o, key));
}

/* 1073741824 -> "1G"; exact multiples only, else bytes. */
static void human_size(uint64_t n, char *out, size_t cap)
{
	static const char units[] = "KMGTP";
	int u = -1;

	while (n >= 1024 && n % 1024 == 0 && u < 4) {
		n /= 1024;
		u++;
	}
	if (u < 0) {
		snprintf(out, cap, "%" PRIu64, n);
	} else {
		snprintf(out, cap, "%" PRIu64 "%c", n, units[u]);
	}
}

static void join_strings(json_object *arr, char *out, size_t cap)
{
	size_t n = json_object_array_length(arr), len = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n && len < cap; i++) {
		int m = snprintf(out + len, cap - len, "%s%s", i ? "," : "",
		                 json_object_get_string(json_object_array_get_idx(arr, i)));

		len += m > 0 ? (size_t)m : 0;
	}
}

static void print_status(json_object *r)
{
	json_object *portals = get(r, "portals");
	char tp[64];

	printf("version:     %s\n", str(r, "version"));
	printf("uptime:      %" PRId64 " s\n", num(r, "uptime_s"));
	printf("reactors:    %" PRId64 "\n", num(r, "reactors"));
	printf("targets:     %" PRId64 "\n", num(r, "targets"));
	printf("luns:        %" PRId64 "\n", num(r, "luns"));
	printf("sessions:    %" PRId64 "\n", num(r, "sessions"));
	printf("connections: %" PRId64 "\n", num(r, "connections"));
	printf("log level:   %s\n", str(r, "log_level"));
	for (size_t i = 0; i < json_object_array_length(portals); i++) {
		json_object *p = json_object_array_get_idx(portals, i);

		join_strings(get(p, "transports"), tp, sizeof(tp));
		printf("portal:      %s port %" PRId64 " tpgt %" PRId64 " (%s)\n", str(p, "addr"),
		       num(p, "port"), num(p, "tpgt"), tp);
	}
}

static void print_targets(json_object *r)
{
	printf("%-44s %4s %8s %-7s %3s %s\n", "TARGET", "LUNS", "SESSIONS", "CHAP", "ACL",
	       "TRANSPORTS");
	for (size_t i = 0; i < json_object_array_length(r); i++) {
		json_object *t = json_object_array_get_idx(r, i);
		char tp[64];

		join_strings(get(t, "transports"), tp, sizeof(tp));
		printf("%-44s %4" PRId64 " %8" PRId64 " %-7s %3zu %s\n", str(t, "iqn"),
		       num(t, "luns"), num(t, "sessions"), str(t, "chap"),
		       json_object_array_length(get(t, "acl")), tp);
	}
}

static void print_luns(json_object *r)
{
	printf("%-44s %3s %-5s %8s %5s %s\n", "TARGET", "LUN", "KIND", "SIZE", "BS", "SPEC");
	for (size_t i = 0; i < json_object_array_length(r); i++) {
		json_object *l = json_object_array_get_idx(r, i);
		char size[32];

		human_size((uint64_t)num(l, "size"), size, sizeof(size));
		printf("%-44s %3" PRId64 " %-5s %8s %5" PRId64 " %s%s\n", str(l, "target"),
		       num(l, "lun"), str(l, "kind"), size, num(l, "block_size"), str(l, "spec"),
		       json_object_get_boolean(get(l, "read_only")) ? " (read-only)" : "");
		printf("    wce %s, vendor \"%s\", product \"%s\", serial %s, naa %s\n",
		       json_object_get_boolean(get(l, "write_cache")) ? "on" : "off",
		       str(l, "vendor"), str(l, "product"), str(l, "serial"), str(l, "naa"));
	}
}

static void print_portals(json_object *r)
{
	printf("%-40s %5s %5s %s\n", "ADDRESS", "PORT", "TPGT", "TRANSPORTS");
	for (size_t i = 0; i < json_object_array_length(r); i++) {
		json_object *p = json_object_array_get_idx(r, i);
		char tp[64];

		join_strings(get(p, "transports"), tp, sizeof(tp));
		printf("%-40s %5" PRId64 " %5" PRId64 " %s\n", str(p, "addr"), num(p, "port"),
		       num(p, "tpgt"), tp);
	}
}

/* gateway show: this gateway, then per shared LUN its lock holder and
 * every gateway's ALUA state. */
static void print_gateway(json_object *r)
{
	json_object *luns = get(r, "luns");

	if (num(r, "id") == 0) {
		printf("not a gateway (no \"gateway\" in the configuration)\n");
		return;
	}
	printf("gateway %" PRId64 ", group", num(r, "id"));
	for (size_t i = 0; i < json_object_array_length(get(r, "group")); i++) {
		printf(" %d", json_object_get_int(json_object_array_get_idx(get(r, "group"), i)));
	}
	printf(", the others %s\n", str(r, "non_holders"));
	printf("%-44s %3s %-9s %-5s %s\n", "TARGET", "LUN", "OPTIMIZED", "LOCK", "GATEWAY STATES");
	for (size_t i = 0; i < json_object_array_length(luns); i++) {
		json_object *l = json_object_array_get_idx(luns, i), *g = get(l, "groups");
		char owner[16], optimized[16];

		snprintf(owner, sizeof(owner), "%" PRId64, num(l, "lock_owner"));
		snprintf(optimized, sizeof(optimized), "%" PRId64, num(l, "optimized"));
		printf("%-44s %3" PRId64 " %-9s %-5s", str(l, "target"), num(l, "lun"),
		       num(l, "optimized") ? optimized : "none",
		       num(l, "lock_owner") ? owner : "none");
		for (size_t k = 0; k < json_object_array_length(g); k++) {
			json_object *e = json_object_array_get_idx(g, k);

			printf(" %" PRId64 ":%s", num(e, "gateway"), str(e, "state"));
		}
		printf("\n");
	}
}

static void print_sessions(json_object *r)
{
	printf("%5s %-12s %-40s %-32s %-9s %s\n", "TSIH", "ISID", "INITIATOR", "TARGET",
	       "TRANSPORT", "PEER");
	for (size_t i = 0; i < json_object_array_length(r); i++) {
		json_object *s = json_object_array_get_idx(r, i);
		json_object *c = get(s, "counters"), *k = get(s, "keys");

		printf("%5" PRId64 " %-12s %-40s %-32s %-9s %s\n", num(s, "tsih"), str(s, "isid"),
		       str(s, "initiator"), str(s, "target")[0] ? str(s, "target") : "(discovery)",
		       str(s, "transport"), str(s, "peer"));
		printf("      portal %s cid %" PRId64 ": %" PRId64 " commands (%" PRId64
		       " reads, %" PRId64 " writes, %" PRId64 " errors), %" PRId64
		       " PDUs in, %" PRId64 " out\n",
		       str(s, "portal"), num(s, "cid"), num(c, "commands"), num(c, "reads"),
		       num(c, "writes"), num(c, "errors"), num(c, "pdus_rx"), num(c, "pdus_tx"));
		printf("      keys:");
		json_object_object_foreach(k, key, val)
		{
			printf(" %s=%s", key, json_object_get_string(val));
		}
		printf("\n");
	}
}

/* "p50/p99/p99.9" of one latency histogram, in us. */
static void latency(json_object *io, const char *op, char *out, size_t cap)
{
	json_object *h = get(get(io, "latency"), op);

	if (num(h, "count") == 0) {
		snprintf(out, cap, "-");
		return;
	}
	snprintf(out, cap, "%" PRId64 "/%" PRId64 "/%" PRId64, num(h, "p50_us"), num(h, "p99_us"),
	         num(h, "p999_us"));
}

static void stats_row(const char *name, const char *lun, json_object *io)
{
	char rl[48], wl[48];

	latency(io, "read", rl, sizeof(rl));
	latency(io, "write", wl, sizeof(wl));
	printf("%-44s %3s %9" PRId64 " %9" PRId64 " %7" PRId64 " %12" PRId64 " %12" PRId64
	       " %6" PRId64 " %-18s %s\n",
	       name, lun, num(io, "read_commands"), num(io, "write_commands"),
	       num(io, "other_commands"), num(io, "read_bytes"), num(io, "write_bytes"),
	       num(io, "errors"), rl, wl);
}

static void print_stats(json_object *r)
{
	json_object *targets = get(r, "targets"), *conns = get(r, "connections");

	printf("%-44s %3s %9s %9s %7s %12s %12s %6s %-18s %s\n", "TARGET / CONNECTION", "LUN",
	       "READS", "WRITES", "OTHER", "READ_BYTES", "WRITE_BYTES", "ERRORS",
	       "READ_US p50/99/99.9", "WRITE_US p50/99/99.9");
	for (size_t i = 0; i < json_object_array_length(targets); i++) {
		json_object *t = json_object_array_get_idx(targets, i), *luns = get(t, "luns");

		stats_row(str(t, "iqn"), "*", t);
		for (size_t l = 0; l < json_object_array_length(luns); l++) {
			json_object *lo = json_object_array_get_idx(luns, l);
			char lun[16];

			snprintf(lun, sizeof(lun), "%" PRId64, num(lo, "lun"));
			stats_row(str(t, "iqn"), lun, lo);
		}
	}
	for (size_t i = 0; i < json_object_array_length(conns); i++) {
		json_object *c = json_object_array_get_idx(conns, i);
		char name[96];

		snprintf(name, sizeof(name), "tsih %" PRId64 " cid %" PRId64 " %s", num(c, "tsih"),
		         num(c, "cid"), str(c, "initiator"));
		stats_row(name, "-", c);
	}
}

static void print_version(json_object *r)
{
	printf("idmadm %s, idmd %s\n", IDMADM_VERSION, str(r, "version"));
}

static void print_log_level(json_object *r)
{
	printf("log level: %s\n", str(r, "level"));
}

static void print_logout(json_object *r)
{
	printf("session %" PRId64 ": %s\n", num(r, "tsih"),
	       json_object_get_boolean(get(r, "closed")) ? "closed after the grace period"
	                                                 : "logged out");
}

static void print_ok(json_object *r)
{
	json_object *v;

	if (json_object_object_get_ex(r, "lun", &v)) {
		printf("LUN %" PRId64 " added\n", json_object_get_int64(v));
	} else if (json_object_object_get_ex(r, "file", &v)) {
		printf("saved %s\n", json_object_get_string(v));
	} else {
		printf("done\n");
	}
}

/* ---- commands ---- */

typedef int (*params_fn)(const struct cli *cli, int argc, char **argv, json_object **params);

struct command {
	const char *word1, *word2; /* "session", "list"; word2 NULL: one word */
	const char *method;
	int min_args, max_args; /* after the command words */
	params_fn params;       /* NULL: no parameters */
	void (*print)(json_object *result);
};

static int p_lun_list(const struct cli *cli, int argc, char **argv, json_object **params)
{
	if (argc > 0) {
		*params = json_object_new_object();
		json_object_object_add(*params, "target", json_object_new_string(argv[0]));
	}
	return 0;
}

static int p_logout(const struct cli *cli, int argc, char **argv, json_object **params)
{
	char *end;
	long tsih = strtol(argv[0], &end, 0);

	if (*end != '\0' || tsih < 1 || tsih > 65535) {
		return die("bad TSIH \"%s\" (1-65535)", argv[0]);
	}
	*params = json_object_new_object();
	json_object_object_add(*params, "tsih", json_object_new_int((int)tsih));
	return 0;
}

static int p_stats(const struct cli *cli, int argc, char **argv, json_object **params)
{
	if (cli->prometheus) {
		*params = json_object_new_object();
		json_object_object_add(*params, "format", json_object_new_string("prometheus"));
	}
	return 0;
}

static int p_log_level(const struct cli *cli, int argc, char **argv, json_object **params)
{
	if (argc > 0) {
		*params = json_object_new_object();
		json_object_object_add(*params, "level", json_object_new_string(argv[0]));
	}
	return 0;
}

static json_object *obj_str(json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
	return o;
}

/* A LUN number argument; -1 when it is not one. */
static long lun_arg(const char *s)
{
	char *end;
	long n = strtol(s, &end, 10);

	return (*end != '\0' || end == s || n < 0 || n > 255) ? -1 : n;
}

static int p_target_create(const struct cli *cli, int argc, char **argv, json_object **params)
{
	*params = obj_str(json_object_new_object(), "iqn", argv[0]);
	if (cli->alias) {
		obj_str(*params, "alias", cli->alias);
	}
	return 0;
}

static int p_target_delete(const struct cli *cli, int argc, char **argv, json_object **params)
{
	*params = obj_str(json_object_new_object(), "iqn", argv[0]);
	return 0;
}

static int p_lun_add(const struct cli *cli, int argc, char **argv, json_object **params)
{
	*params = obj_str(obj_str(json_object_new_object(), "target", argv[0]), "spec", argv[1]);
	if (cli->lun >= 0) {
		json_object_object_add(*params, "lun", json_object_new_int((int)cli->lun));
	}
	if (cli->block_size) {
		json_object_object_add(*params, "block_size",
		                       json_object_new_int((int)cli->block_size));
	}
	if (cli->read_only >= 0) {
		json_object_object_add(*params, "read_only",
		                       json_object_new_boolean(cli->read_only == 1));
	}
	if (cli->wce >= 0) {
		json_object_object_add(*params, "write_cache", json_object_new_boolean(cli->wce));
	}
	/* Checked by idmd, which says why a value is refused. */
	if (cli->vendor) {
		obj_str(*params, "vendor", cli->vendor);
	}
	if (cli->product) {
		obj_str(*params, "product", cli->product);
	}
	if (cli->serial) {
		obj_str(*params, "serial", cli->serial);
	}
	if (cli->naa) {
		obj_str(*params, "naa", cli->naa);
	}
	return 0;
}

/* "IQN LUN [SIZE]": lun remove and lun resize. */
static int p_lun_target(const struct cli *cli, int argc, char **argv, json_object **params)
{
	long lun = lun_arg(argv[1]);

	if (lun < 0) {
		return die("bad LUN \"%s\"", argv[1]);
	}
	*params = obj_str(json_object_new_object(), "target", argv[0]);
	json_object_object_add(*params, "lun", json_object_new_int((int)lun));
	if (argc > 2) {
		obj_str(*params, "size", argv[2]);
		json_object_object_add(*params, "force", json_object_new_boolean(cli->force));
	}
	return 0;
}

/* "IQN LUN --read-only|--read-write": lun set. */
static int p_lun_set(const struct cli *cli, int argc, char **argv, json_object **params)
{
	if (cli->read_only < 0) {
		return die("%s", "lun set: say --read-only or --read-write");
	}
	if (p_lun_target(cli, argc, argv, params) != 0) {
		return 1;
	}
	json_object_object_add(*params, "read_only", json_object_new_boolean(cli->read_only == 1));
	return 0;
}

/* idmd resolves a relative path from its own directory: send ours. */
static int p_config_save(const struct cli *cli, int argc, char **argv, json_object **params)
{
	char *cwd, *full;

	if (argc == 0) {
		return 0;
	}
	if (argv[0][0] == '/') {
		*params = obj_str(json_object_new_object(), "file", argv[0]);
		return 0;
	}
	cwd = realpath(".", NULL);
	full = cwd ? malloc(strlen(cwd) + strlen(argv[0]) + 2) : NULL;
	if (!full) {
		free(cwd);
		return die("%s", "cannot resolve the current directory");
	}
	sprintf(full, "%s/%s", cwd, argv[0]);
	*params = obj_str(json_object_new_object(), "file", full);
	free(full);
	free(cwd);
	return 0;
}

/* "0=2,1=5" from {"0": 2, "1": 5}; "all" without a map. */
static void lun_map_text(json_object *map, char *out, size_t cap)
{
	size_t n = 0;

	snprintf(out, cap, "%s", map ? "-" : "all");
	if (!map) {
		return;
	}
	json_object_object_foreach(map, key, val)
	{
		int w = snprintf(out + n, cap - n, "%s%s=%" PRId64, n ? "," : "", key,
		                 json_object_get_int64(val));

		if (w < 0 || (size_t)w >= cap - n) {
			break;
		}
		n += (size_t)w;
	}
}

static void print_acl(json_object *r)
{
	printf("%-56s %-8s %-16s %s\n", "INITIATOR", "CHAP", "USER", "LUNS");
	for (size_t i = 0; i < json_object_array_length(r); i++) {
		json_object *e = json_object_array_get_idx(r, i);
		char luns[512];

		lun_map_text(get(e, "lun_map"), luns, sizeof(luns));
		printf("%-56s %-8s %-16s %s\n", str(e, "initiator"), str(e, "chap"),
		       str(e, "user")[0] ? str(e, "user") : "-", luns);
	}
}

static int p_acl_list(const struct cli *cli, int argc, char **argv, json_object **params)
{
	*params = obj_str(json_object_new_object(), "target", argv[0]);
	return 0;
}

/* "USER:SECRET" (the secret may hold colons) into two parameters. */
static int cred_params(json_object *params, const char *arg, const char *ukey, const char *skey)
{
	const char *colon = strchr(arg, ':');
	char *user;

	if (!colon || colon == arg || colon[1] == '\0') {
		return die("%s", "CHAP credentials are USER:SECRET");
	}
	user = strndup(arg, (size_t)(colon - arg));
	if (!user) {
		return die("%s", "out of memory");
	}
	obj_str(obj_str(params, ukey, user), skey, colon + 1);
	free(user);
	return 0;
}

/* "0=2,1=5" or "0,1" (the same numbers) into {"0": 2, "1": 5}; "" is an
 * empty map: the initiator sees no LUN. idmd checks the ranges. */
static int lun_map_params(json_object *params, const char *arg)
{
	json_object *map = json_object_new_object();
	const char *p = arg;

	json_object_object_add(params, "lun_map", map);
	while (*p) {
		char *end, key[16];
		long lun = strtol(p, &end, 10), target_lun = lun;

		if (end == p || lun < 0 || lun > 255) {
			return die("bad --lun-map \"%s\" (LUN[=TARGET_LUN],...)", arg);
		}
		if (*end == '=') {
			p = end + 1;
			target_lun = strtol(p, &end, 10);
			if (end == p || target_lun < 0 || target_lun > 255) {
				return die("bad --lun-map \"%s\" (LUN[=TARGET_LUN],...)", arg);
			}
		}
		if (*end != ',' && *end != '\0') {
			return die("bad --lun-map \"%s\" (LUN[=TARGET_LUN],...)", arg);
		}
		snprintf(key, sizeof(key), "%ld", lun);
		json_object_object_add(map, key, json_object_new_int((int)target_lun));
		p = *end ? end + 1 : end;
	}
	return 0;
}

static int p_acl_add(const struct cli *cli, int argc, char **argv, json_object **params)
{
	*params =
	    obj_str(obj_str(json_object_new_object(), "target", argv[0]), "initiator", argv[1]);
	if (cli->mutual && !cli->chap) {
		return die("%s", "--mutual-chap needs --chap");
	}
	if (cli->chap && cred_params(*params, cli->chap, "user", "secret") != 0) {
		return 1;
	}
	if (cli->mutual && cred_params(*params, cli->mutual, "target_user", "target_secret") != 0) {
		return 1;
	}
	if (cli->lun_map && lun_map_params(*params, cli->lun_map) != 0) {
		return 1;
	}
	return 0;
}

static int p_acl_remove(const struct cli *cli, int argc, char **argv, json_object **params)
{
	*params =
	    obj_str(obj_str(json_object_new_object(), "target", argv[0]), "initiator", argv[1]);
	return 0;
}

/* "ADDR", "ADDR:PORT", "[V6]:PORT" or a bare IPv6 address into addr and
 * port parameters. */
static int portal_params(const char *arg, json_object *params)
{
	const char *colon = strrchr(arg, ':');
	char addr[64];
	long port = 3260;

	if (arg[0] == '[') {
		const char *end = strchr(arg, ']');

		if (!end || (end[1] && end[1] != ':')) {
			return die("bad portal \"%s\" ([V6]:PORT)", arg);
		}
		colon = end[1] ? end + 1 : NULL;
		snprintf(addr, sizeof(addr), "%.*s", (int)(end - arg - 1), arg + 1);
	} else if (colon && strchr(arg, ':') == colon) {
		snprintf(addr, sizeof(addr), "%.*s", (int)(colon - arg), arg);
	} else {
		colon = NULL; /* an IPv6 address without a port */
		snprintf(addr, sizeof(addr), "%s", arg);
	}
	if (colon) {
		char *end;

		port = strtol(colon + 1, &end, 10);
		if (*end || end == colon + 1 || port < 1 || port > 65535) {
			return die("bad port in \"%s\"", arg);
		}
	}
	obj_str(params, "addr", addr);
	json_object_object_add(params, "port", json_object_new_int((int)port));
	return 0;
}

static int p_portal_add(const struct cli *cli, int argc, char **argv, json_object **params)
{
	*params = json_object_new_object();
	if (portal_params(argv[0], *params) != 0) {
		return 1;
	}
	if (cli->tpgt) {
		json_object_object_add(*params, "tpgt", json_object_new_int((int)cli->tpgt));
	}
	if (cli->transports) {
		json_object *tp = json_object_new_array();
		char *copy = strdup(cli->transports), *save = NULL;

		json_object_object_add(*params, "transports", tp);
		for (char *w = copy ? strtok_r(copy, ",", &save) : NULL; w;
		     w = strtok_r(NULL, ",", &save)) {
			json_object_array_add(tp, json_object_new_string(w));
		}
		free(copy);
	}
	return 0;
}

static int p_portal_remove(const struct cli *cli, int argc, char **argv, json_object **params)
{
	*params = json_object_new_object();
	return portal_params(argv[0], *params);
}

static const struct command commands[] = {
    {"status", NULL, "status", 0, 0, NULL, print_status},
    {"version", NULL, "version", 0, 0, NULL, print_version},
    {"target", "list", "target.list", 0, 0, NULL, print_targets},
    {"target", "create", "target.create", 1, 1, p_target_create, print_ok},
    {"target", "delete", "target.delete", 1, 1, p_target_delete, print_ok},
    {"lun", "add", "lun.add", 2, 2, p_lun_add, print_ok},
    {"lun", "remove", "lun.remove", 2, 2, p_lun_target, print_ok},
    {"lun", "resize", "lun.resize", 3, 3, p_lun_target, print_ok},
    {"lun", "set", "lun.set", 2, 2, p_lun_set, print_ok},
    {"config", "save", "config.save", 0, 1, p_config_save, print_ok},
    {"acl", "list", "acl.list", 1, 1, p_acl_list, print_acl},
    {"acl", "add", "acl.add", 2, 2, p_acl_add, print_ok},
    {"acl", "remove", "acl.remove", 2, 2, p_acl_remove, print_ok},
    {"lun", "list", "lun.list", 0, 1, p_lun_list, print_luns},
    {"portal", "list", "portal.list", 0, 0, NULL, print_portals},
    {"portal", "add", "portal.add", 1, 1, p_portal_add, print_ok},
    {"portal", "remove", "portal.remove", 1, 1, p_portal_remove, print_ok},
    {"session", "list", "session.list", 0, 0, NULL, print_sessions},
    {"session", "logout", "session.logout", 1, 1, p_logout, print_logout},
    {"stats", NULL, "stats", 0, 0, p_stats, print_stats},
    {"log", "level", "log.level", 0, 1, p_log_level, print_log_level},
    {"gateway", "show", "gateway.show", 0, 0, NULL, print_gateway},
    {"gateway", "move", "gateway.move", 2, 2, p_lun_target, print_ok},
};

static const struct command *command_find(int argc, char **argv, int *used)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		const struct command *c = &commands[i];

		if (strcmp(argv[0], c->word1) != 0) {
			continue;
		}
		if (!c->word2) {
			*used = 1;
			return c;
		}
		if (argc > 1 && strcmp(argv[1], c->word2) == 0) {
			*used = 2;
			return c;
		}
	}
	return NULL;
}

static int run(const struct cli *cli, const struct command *c, int argc, char **argv)
{
	json_object *params = NULL, *result = NULL;
	int rc;

	if (argc < c->min_args || argc > c->max_args) {
		fprintf(stderr, "idmadm: %s%s%s: wrong number of arguments\n", c->word1,
		        c->word2 ? " " : "", c->word2 ? c->word2 : "");
		return 2;
	}
	if (c->params && (rc = c->params(cli, argc, argv, &params)) != 0) {
		json_object_put(params); /* what was built before the bad argument */
		return rc;
	}
	rc = call(cli, c->method, params, &result);
	if (rc != 0) {
		return rc;
	}
	if (cli->json) {
		printf("%s\n",
		       json_object_to_json_string_ext(result, JSON_C_TO_STRING_PRETTY |
		                                                  JSON_C_TO_STRING_NOSLASHESCAPE |
		                                                  JSON_C_TO_STRING_SPACED));
	} else if (cli->prometheus && strcmp(c->method, "stats") == 0) {
		fputs(str(result, "text"), stdout);
	} else {
		c->print(result);
	}
	json_object_put(result);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"socket", required_argument, NULL, 's'},
	    {"json", no_argument, NULL, 'j'},
	    {"prometheus", no_argument, NULL, 'P'},
	    {"force", no_argument, NULL, 'f'},
	    {"alias", required_argument, NULL, 'a'},
	    {"lun", required_argument, NULL, 'L'},
	    {"block-size", required_argument, NULL, 'B'},
	    {"chap", required_argument, NULL, 'C'},
	    {"mutual-chap", required_argument, NULL, 'M'},
	    {"read-only", no_argument, NULL, 'R'},
	    {"lun-map", required_argument, NULL, 'm'},
	    {"tpgt", required_argument, NULL, 'T'},
	    {"transports", required_argument, NULL, 't'},
	    {"read-write", no_argument, NULL, 'W'},
	    {"wce", no_argument, NULL, 'w'},
	    {"no-wce", no_argument, NULL, 'n'},
	    {"vendor", required_argument, NULL, 'V'},
	    {"product", required_argument, NULL, 'p'},
	    {"serial", required_argument, NULL, 'S'},
	    {"naa", required_argument, NULL, 'N'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct cli cli = {.socket = IDM_CONTROL_SOCKET, .lun = -1, .read_only = -1, .wce = -1};
	const struct command *c;
	int opt, used = 0;

	/* GNU getopt permutes: options may follow the command words too
	 * ("idmadm stats --prometheus"). */
	while ((opt = getopt_long(argc, argv, "s:jh", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			cli.socket = optarg;
			break;
		case 'j':
			cli.json = true;
			break;
		case 'P':
			cli.prometheus = true;
			break;
		case 'f':
			cli.force = true;
			break;
		case 'a':
			cli.alias = optarg;
			break;
		case 'L':
			cli.lun = lun_arg(optarg);
			if (cli.lun < 0) {
				return die("bad --lun \"%s\"", optarg) + 1;
			}
			break;
		case 'B':
			cli.block_size = strtol(optarg, NULL, 10);
			break;
		case 'C':
			cli.chap = optarg;
			break;
		case 'M':
			cli.mutual = optarg;
			break;
		case 'm':
			cli.lun_map = optarg;
			break;
		case 'T':
			cli.tpgt = strtol(optarg, NULL, 10);
			if (cli.tpgt < 1 || cli.tpgt > 65535) {
				return die("bad --tpgt \"%s\" (1-65535)", optarg) + 1;
			}
			break;
		case 't':
			cli.transports = optarg;
			break;
		case 'R':
		case 'W':
			cli.read_only = opt == 'R';
			break;
		case 'w':
		case 'n':
			cli.wce = opt == 'w';
			break;
		case 'V':
			cli.vendor = optarg;
			break;
		case 'p':
			cli.product = optarg;
			break;
		case 'S':
			cli.serial = optarg;
			break;
		case 'N':
			cli.naa = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	c = command_find(argc - optind, argv + optind, &used);
	if (!c) {
		fprintf(stderr, "idmadm: unknown command \"%s\" (idmadm --help)\n", argv[optind]);
		return 2;
	}
	return run(&cli, c, argc - optind - used, argv + optind + used);
}
