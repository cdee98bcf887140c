/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Admission limits (the "max_*" tunables): how many connections in total,
 * per portal, per initiator address and before login completes; how many
 * sessions per target, per initiator name and for discovery. One host
 * must not be able to take every descriptor or session slot from the
 * others. The decisions are pure; the counts come from walks over the
 * server's lists, which the caller holds locked (srv->lock).
 *
 * Refusals are logged through a limiter shared by the server: a host that
 * reconnects in a loop gets one line a second and a count, not a line per
 * attempt.
 */
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "target/target_int.h"

#define LIMIT_LOG_WINDOW_MS 1000u

const char *tgt_conn_limit_hit(const struct idm_target_tunables *tun,
                               const struct tgt_conn_counts *n)
{
	if (n->total >= tun->max_connections) {
		return "max_connections";
	}
	if (n->portal >= tun->max_connections_per_portal) {
		return "max_connections_per_portal";
	}
	if (n->address >= tun->max_connections_per_address) {
		return "max_connections_per_address";
	}
	if (n->prelogin >= tun->max_prelogin_connections) {
		return "max_prelogin_connections";
	}
	return NULL;
}

const char *tgt_sess_limit_hit(const struct idm_target_tunables *tun, enum idm_session_type type,
                               const struct tgt_sess_counts *n)
{
	if (type == IDM_SESSION_DISCOVERY) {
		return n->discovery >= tun->max_discovery_sessions ? "max_discovery_sessions"
		                                                   : NULL;
	}
	if (n->target >= tun->max_sessions_per_target) {
		return "max_sessions_per_target";
	}
	if (n->initiator >= tun->max_sessions_per_initiator) {
		return "max_sessions_per_initiator";
	}
	return NULL;
}

bool tgt_same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family) {
		return false;
	}
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

		return x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

		return memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	return false;
}

void tgt_conn_count(const struct tgt_conn *head, const struct tgt_portal *portal,
                    const struct sockaddr_storage *peer, struct tgt_conn_counts *n)
{
	memset(n, 0, sizeof(*n));
	for (const struct tgt_conn *tc = head; tc; tc = tc->next) {
		n->total++;
		n->portal += tc->portal == portal;
		n->address += tgt_same_host(&tc->ic->peer_addr, peer);
		n->prelogin += !__atomic_load_n(&tc->logged_in, __ATOMIC_RELAXED);
	}
}

void tgt_sess_count(const struct tgt_session *head, const struct tgt_target *target,
                    const char *initiator, const struct tgt_session *except,
                    struct tgt_sess_counts *n)
{
	memset(n, 0, sizeof(*n));
	for (const struct tgt_session *s = head; s; s = s->next) {
		if (s == except) {
			continue; /* being reinstated: the new one takes its place */
		}
		if (s->type == IDM_SESSION_DISCOVERY) {
			n->discovery++;
			continue;
		}
		n->target += target && s->target == target;
		/* iSCSI names compare case-insensitively (RFC 3722) */
		n->initiator += strcasecmp(s->initiator_name, initiator) == 0;
	}
}

/* The limiter of `key`: its own slot, a free one, or the last (shared by
 * whatever did not fit). */
static struct tgt_limit_log *limit_log_slot(struct tgt_limit_log *tab, const char *key)
{
	for (unsigned i = 0; i < TGT_LIMIT_LOG_KEYS; i++) {
		if (tab[i].key == key || !tab[i].key) {
			tab[i].key = key;
			return &tab[i];
		}
	}
	return &tab[TGT_LIMIT_LOG_KEYS - 1];
}

/* Whether a refusal may be logged now; *suppressed gets the count of the
 * lines hidden since the last one. Called under srv->lock. */
static bool limit_log_admit(struct tgt_limit_log *l, uint64_t now_ms, uint32_t *suppressed)
{
	*suppressed = 0;
	if (l->last_ms && now_ms - l->last_ms < LIMIT_LOG_WINDOW_MS) {
		l->suppressed++;
		return false;
	}
	*suppressed = l->suppressed;
	l->suppressed = 0;
	l->last_ms = now_ms ? now_ms : 1;
	return true;
}

void tgt_limit_log(struct idm_server *srv, const char *key, const char *fmt, ...)
{
	uint32_t suppressed;
	char text[512];
	va_list ap;
	bool admit;

	pthread_mutex_lock(&srv->lock);
	admit = limit_log_admit(limit_log_slot(srv->limit_log, key), idm_now_ms(), &suppressed);
	pthread_mutex_unlock(&srv->lock);
	if (!admit) {
		return;
	}
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (suppressed) {
		idm_log("target", "%s (and %u more like it since the last such line)", text,
		        suppressed);
	} else {
		idm_log("target", "%s", text);
	}
}
