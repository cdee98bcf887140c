/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * iSCSI URLs as libiscsi writes them:
 *   iscsi://[user[%password]@]host[:port]/target-iqn/lun
 *   iser://...  (same shape)
 * host may be an IPv6 address in brackets. A URL without target and LUN
 * (iscsi://host[:port][/]) names a portal, for discovery.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idm/initiator.h"

static int url_fail(char *err, size_t errlen, const char *why)
{
	if (err && errlen) {
		snprintf(err, errlen, "bad URL: %s", why);
	}
	return -EINVAL;
}

/* Copy [s, s+n) into dst[cap]; false when it does not fit. */
static bool copy_part(char *dst, size_t cap, const char *s, size_t n)
{
	if (n >= cap) {
		return false;
	}
	memcpy(dst, s, n);
	dst[n] = '\0';
	return true;
}

/* "user[%password]" before the '@'. */
static bool parse_userinfo(struct idm_url *u, const char *s, size_t n)
{
	const char *pct = memchr(s, '%', n);

	if (pct == NULL) {
		return n > 0 && copy_part(u->user, sizeof(u->user), s, n);
	}
	return pct > s && copy_part(u->user, sizeof(u->user), s, (size_t)(pct - s)) &&
	       copy_part(u->password, sizeof(u->password), pct + 1, n - (size_t)(pct - s) - 1);
}

static bool parse_port(const char *s, size_t n, uint16_t *port)
{
	unsigned long v = 0;

	if (n == 0 || n > 5) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9') {
			return false;
		}
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v == 0 || v > 65535) {
		return false;
	}
	*port = (uint16_t)v;
	return true;
}

/* "host[:port]" or "[v6]:port". */
static bool parse_hostport(struct idm_url *u, const char *s, size_t n)
{
	const char *end = s + n, *colon;

	if (n > 0 && s[0] == '[') {
		const char *rb = memchr(s, ']', n);

		if (rb == NULL || rb == s + 1 ||
		    !copy_part(u->host, sizeof(u->host), s + 1, (size_t)(rb - s - 1))) {
			return false;
		}
		if (rb + 1 == end) {
			return true;
		}
		return rb[1] == ':' && parse_port(rb + 2, (size_t)(end - rb - 2), &u->port);
	}
	colon = memchr(s, ':', n);
	if (colon == NULL) {
		return n > 0 && copy_part(u->host, sizeof(u->host), s, n);
	}
	return colon > s && copy_part(u->host, sizeof(u->host), s, (size_t)(colon - s)) &&
	       parse_port(colon + 1, (size_t)(end - colon - 1), &u->port);
}

static bool parse_lun(const char *s, uint64_t *lun)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9') {
		return false;
	}
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end != '\0' || v > 0xffff) {
		return false;
	}
	*lun = v;
	return true;
}

/* "/iqn/lun" (or "" / "/" for a portal only). */
static int parse_path(struct idm_url *u, const char *p, char *err, size_t errlen)
{
	const char *slash;

	if (*p == '\0' || strcmp(p, "/") == 0) {
		return 0;
	}
	p++; /* the '/' */
	slash = strrchr(p, '/');
	if (slash == NULL || slash == p) {
		return url_fail(err, errlen, "expected /target/lun after the host");
	}
	if (!copy_part(u->target, sizeof(u->target), p, (size_t)(slash - p))) {
		return url_fail(err, errlen, "target name too long");
	}
	if (!parse_lun(slash + 1, &u->lun)) {
		return url_fail(err, errlen, "LUN must be a number 0..65535");
	}
	u->has_lun = true;
	return 0;
}

/* "target_user=U&target_password=P" after the '?' (libiscsi's spelling). */
static int parse_query(struct idm_url *u, const char *q, char *err, size_t errlen)
{
	while (*q) {
		size_t n = strcspn(q, "&");
		const char *eq = memchr(q, '=', n);
		size_t klen = eq ? (size_t)(eq - q) : n;
		bool ok = false;

		if (eq && klen == 11 && strncmp(q, "target_user", 11) == 0) {
			ok =
			    copy_part(u->target_user, sizeof(u->target_user), eq + 1, n - klen - 1);
		} else if (eq && klen == 15 && strncmp(q, "target_password", 15) == 0) {
			ok = copy_part(u->target_password, sizeof(u->target_password), eq + 1,
			               n - klen - 1);
		}
		if (!ok) {
			return url_fail(err, errlen,
			                "unknown or bad query (target_user, target_password)");
		}
		q += n + (q[n] == '&');
	}
	if (!u->target_user[0] != !u->target_password[0] || (u->target_user[0] && !u->user[0])) {
		return url_fail(err, errlen,
		                "target_user and target_password go together, with a user");
	}
	return 0;
}

int idm_url_parse(const char *s, struct idm_url *u, char *err, size_t errlen)
{
	const char *auth, *path, *at, *query;
	char base[1024];
	int rc;

	memset(u, 0, sizeof(*u));
	u->port = 3260;
	if (s == NULL) {
		return url_fail(err, errlen, "empty");
	}
	if (strncmp(s, "iscsi://", 8) == 0) {
		auth = s + 8;
	} else if (strncmp(s, "iser://", 7) == 0) {
		auth = s + 7;
		u->iser = true;
	} else {
		return url_fail(err, errlen, "must start with iscsi:// or iser://");
	}
	path = auth + strcspn(auth, "/");
	at = memchr(auth, '@', (size_t)(path - auth));
	if (at && !parse_userinfo(u, auth, (size_t)(at - auth))) {
		return url_fail(err, errlen, "bad user[%password]");
	}
	if (at) {
		auth = at + 1;
	}
	if (!parse_hostport(u, auth, (size_t)(path - auth))) {
		return url_fail(err, errlen, "bad host or port");
	}
	query = strchr(path, '?');
	if (!query) {
		return parse_path(u, path, err, errlen);
	}
	if ((size_t)(query - path) >= sizeof(base)) {
		return url_fail(err, errlen, "too long");
	}
	memcpy(base, path, (size_t)(query - path));
	base[query - path] = '\0';
	rc = parse_path(u, base, err, errlen);
	return rc ? rc : parse_query(u, query + 1, err, errlen);
}
