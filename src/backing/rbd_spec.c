/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * "rbd:" spec bodies: POOL/IMAGE or POOL/NAMESPACE/IMAGE. Names are
 * non-empty, within IDM_RBD_NAME_MAX, and printable without spaces;
 * snapshots (IMAGE@SNAP) are not served (they are read-only).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "backing/rbd_spec.h"

static bool name_char_ok(char c)
{
	return c > ' ' && c < 0x7f && c != '/' && c != '@';
}

/* Copy the name of `len` bytes at `p` into dst (IDM_RBD_NAME_MAX). */
static int take_name(const char *p, size_t len, char *dst, const char *what, char *why,
                     size_t whylen)
{
	size_t i;

	if (len == 0) {
		snprintf(why, whylen,
		         "empty %s name (want rbd:POOL/IMAGE or rbd:POOL/NAMESPACE/IMAGE)", what);
		return -EINVAL;
	}
	if (len >= IDM_RBD_NAME_MAX) {
		snprintf(why, whylen, "%s name is longer than %d bytes", what,
		         IDM_RBD_NAME_MAX - 1);
		return -ENAMETOOLONG;
	}
	for (i = 0; i < len; i++) {
		if (!name_char_ok(p[i])) {
			snprintf(why, whylen, "%s name has a character not allowed here ('%c')%s",
			         what, p[i] > ' ' && p[i] < 0x7f ? p[i] : '?',
			         p[i] == '@' ? ": snapshots are not served" : "");
			return -EINVAL;
		}
	}
	memcpy(dst, p, len);
	dst[len] = '\0';
	return 0;
}

int idm_rbd_parse_spec(const char *body, struct idm_rbd_spec *out, char *why, size_t whylen)
{
	const char *s1 = strchr(body, '/');
	const char *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
	const char *img;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!s1) {
		snprintf(why, whylen, "want rbd:POOL/IMAGE or rbd:POOL/NAMESPACE/IMAGE");
		return -EINVAL;
	}
	if (s2 && strchr(s2 + 1, '/')) {
		snprintf(why, whylen,
		         "too many '/' (want rbd:POOL/IMAGE or rbd:POOL/NAMESPACE/IMAGE)");
		return -EINVAL;
	}
	rc = take_name(body, (size_t)(s1 - body), out->pool, "pool", why, whylen);
	if (rc == 0 && s2) {
		rc = take_name(s1 + 1, (size_t)(s2 - s1 - 1), out->ns, "namespace", why, whylen);
	}
	img = s2 ? s2 + 1 : s1 + 1;
	if (rc == 0) {
		rc = take_name(img, strlen(img), out->image, "image", why, whylen);
	}
	return rc;
}
