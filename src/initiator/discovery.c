/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * SendTargets responses (RFC 7143 appendix C): each TargetName starts a
 * target, the TargetAddress keys after it belong to that target.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "idm/initiator.h"

void idm_ini_targets_free(struct idm_ini_targets *l)
{
	free(l->t);
	memset(l, 0, sizeof(*l));
}

static int targets_add(struct idm_ini_targets *l, const char *name)
{
	struct idm_ini_target *t;

	if (strlen(name) >= IDM_NAME_MAX || name[0] == '\0') {
		return -EINVAL;
	}
	if (l->n == l->cap) {
		unsigned cap = l->cap ? l->cap * 2 : 8;
		struct idm_ini_target *nt = realloc(l->t, cap * sizeof(*nt));

		if (nt == NULL) {
			return -ENOMEM;
		}
		l->t = nt;
		l->cap = cap;
	}
	t = &l->t[l->n++];
	memset(t, 0, sizeof(*t));
	strcpy(t->name, name);
	return 0;
}

static int targets_kv(void *arg, const char *key, const char *value)
{
	struct idm_ini_targets *l = arg;
	struct idm_ini_target *t;

	if (strcmp(key, "TargetName") == 0) {
		return targets_add(l, value);
	}
	if (strcmp(key, "TargetAddress") != 0) {
		return 0; /* TargetAlias and others: not needed */
	}
	if (l->n == 0) {
		return -EINVAL; /* an address before any name */
	}
	t = &l->t[l->n - 1];
	if (t->naddr == IDM_INI_MAX_ADDRS || strlen(value) >= sizeof(t->addr[0])) {
		return 0; /* keep the first ones */
	}
	strcpy(t->addr[t->naddr++], value);
	return 0;
}

int idm_ini_sendtargets_parse(const char *text, size_t len, struct idm_ini_targets *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if (len == 0) {
		return 0;
	}
	rc = idm_kv_parse(text, len, targets_kv, out);
	if (rc != 0) {
		idm_ini_targets_free(out);
	}
	return rc < 0 ? rc : (rc ? -EINVAL : 0);
}
