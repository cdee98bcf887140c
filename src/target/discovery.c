/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * SendTargets answers (RFC 7143 section 6.3 and appendix C): which
 * targets a session may see and where they are. Pure: unit tested in
 * tests/target.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "target/target_int.h"

int tgt_format_addr(const struct sockaddr_storage *ss, char *out, size_t cap)
{
	char ip[INET6_ADDRSTRLEN];
	int n;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		n = snprintf(out, cap, "%s:%u", ip, ntohs(in->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		n = snprintf(out, cap, "[%s]:%u", ip, ntohs(in6->sin6_port));
	} else {
		return -EINVAL;
	}
	return (n < 0 || (size_t)n >= cap) ? -EINVAL : 0;
}

/* Append "key=value\0"; -ENOSPC when it does not fit. */
static int put_kv(char *out, size_t cap, size_t *len, const char *key, const char *value)
{
	size_t need = strlen(key) + 1 + strlen(value) + 1;

	if (*len + need > cap) {
		return -ENOSPC;
	}
	*len += (size_t)sprintf(out + *len, "%s=%s", key, value) + 1;
	return 0;
}

static int put_target(const struct tgt_target *t, const char *addr, uint16_t tpgt, char *out,
		      size_t cap, size_t *len)
{
	char where[128];
	int rc;

	snprintf(where, sizeof(where), "%s,%u", addr, tpgt);
	rc = put_kv(out, cap, len, "TargetName", t->iqn);
	if (rc == 0) {
		rc = put_kv(out, cap, len, "TargetAddress", where);
	}
	return rc;
}

/* May this session see target `t` for SendTargets=`value`? */
static bool wanted(const struct tgt_target *t, const struct tgt_target *own, const char *value)
{
	if ((own && t != own) || __atomic_load_n(&t->deleted, __ATOMIC_ACQUIRE)) {
		return false; /* not ours, or deleted live */
	}
	if (strcmp(value, "All") == 0) {
		return true;
	}
	if (value[0] == '\0') {
		return own != NULL; /* empty: the session's own target */
	}
	return strcmp(value, t->iqn) == 0;
}

int tgt_sendtargets_build(const struct tgt_target *targets, unsigned ntargets,
			  const struct tgt_target *own, const char *value, const char *addr,
			  uint16_t tpgt, char *out, size_t cap)
{
	return tgt_sendtargets_build_for(targets, ntargets, own, NULL, NULL, value, addr, tpgt,
					 out, cap);
}

/* An initiator learns only of targets it may log in to: its ACL admits it
 * (`initiator`) and the target is offered over the session's transport (`tp`). */
int tgt_sendtargets_build_for(const struct tgt_target *targets, unsigned ntargets,
			      const struct tgt_target *own, const char *initiator,
			      const struct idm_transport *tp, const char *value, const char *addr,
			      uint16_t tpgt, char *out, size_t cap)
{
	size_t len = 0;

	for (unsigned i = 0; i < ntargets; i++) {
		if (!wanted(&targets[i], own, value)) {
			continue;
		}
		if (tp && !tgt_offered_over(&targets[i], tp)) {
			continue; /* not at this address over this transport */
		}
		if (initiator && !tgt_acl_admits(&targets[i], initiator)) {
			continue;
		}
		if (put_target(&targets[i], addr, tpgt, out, cap, &len) < 0) {
			return -ENOSPC;
		}
	}
	return (int)len;
}
