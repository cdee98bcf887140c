/* SPDX-License-Identifier: BSD-3-Clause */
/* CHAP accounts: filling, checking and wiping credentials. */
#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>

#include "idm/auth.h"

/* Copy a non-empty name that fits. */
static int set_name(char *dst, const char *src)
{
	size_t len = strlen(src);

	if (!len || len >= IDM_CHAP_USER_MAX) {
		return -EINVAL;
	}
	memcpy(dst, src, len + 1);
	return 0;
}

static int set_secret(uint8_t *dst, size_t *dst_len, const char *src)
{
	size_t len = strlen(src);

	if (!len || len > IDM_CHAP_SECRET_MAX) {
		return -EINVAL;
	}
	memcpy(dst, src, len);
	*dst_len = len;
	return 0;
}

int idm_chap_account_set(struct idm_chap_account *a, const char *user, const char *secret,
                         const char *target_user, const char *target_secret)
{
	int rc;

	idm_chap_account_clear(a);
	if (!user || !secret || (!target_user != !target_secret)) {
		return -EINVAL;
	}
	rc = set_name(a->user, user);
	rc = rc ? rc : set_secret(a->secret, &a->secret_len, secret);
	if (!rc && target_user) {
		rc = set_name(a->target_user, target_user);
		rc = rc ? rc : set_secret(a->target_secret, &a->target_secret_len, target_secret);
	}
	rc = rc ? rc : idm_chap_account_check(a);
	if (rc) {
		idm_chap_account_clear(a);
	}
	return rc;
}

static bool name_ok(const char *name)
{
	size_t len = strnlen(name, IDM_CHAP_USER_MAX);

	return len > 0 && len < IDM_CHAP_USER_MAX;
}

int idm_chap_account_check(const struct idm_chap_account *a)
{
	if (!name_ok(a->user) || !a->secret_len || a->secret_len > IDM_CHAP_SECRET_MAX) {
		return -EINVAL;
	}
	if (!a->target_secret_len) {
		return 0;
	}
	if (!name_ok(a->target_user) || a->target_secret_len > IDM_CHAP_SECRET_MAX) {
		return -EINVAL;
	}
	/* RFC 7143 12.1.3: one secret must never serve both directions. */
	if (a->secret_len == a->target_secret_len &&
	    !CRYPTO_memcmp(a->secret, a->target_secret, a->secret_len)) {
		return -EINVAL;
	}
	return 0;
}

bool idm_chap_account_weak(const struct idm_chap_account *a)
{
	return a->secret_len < IDM_CHAP_SECRET_MIN_GOOD ||
	       (a->target_secret_len && a->target_secret_len < IDM_CHAP_SECRET_MIN_GOOD);
}

void idm_chap_account_clear(struct idm_chap_account *a)
{
	OPENSSL_cleanse(a, sizeof(*a));
}
