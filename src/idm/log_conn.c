/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Lines about one connection (IDM_LOG_CONN), rate-limited per connection:
 * a peer that provokes an error per PDU must not be able to fill the
 * disk. The first IDM_LOG_CONN_BURST lines of a window pass; the rest are
 * counted and reported as one "N more messages suppressed" line when the
 * next window opens or the connection goes.
 */
#include <stdarg.h>
#include <stdio.h>

#include "idm/core_priv.h"

#define LOG_CONN_TEXT 960 /* idm_log's line, less its time and prefixes */

bool idm_log_limit_admit(struct idm_log_limit *l, uint64_t now_ms, uint32_t *summary)
{
	*summary = 0;
	if (l->lines == 0 || now_ms - l->window_start_ms >= IDM_LOG_CONN_WINDOW_MS) {
		*summary = l->suppressed; /* a new window: say what the last one hid */
		l->suppressed = 0;
		l->window_start_ms = now_ms;
		l->lines = 0;
	}
	if (l->lines < IDM_LOG_CONN_BURST) {
		l->lines++;
		return true;
	}
	l->suppressed++;
	return false;
}

/*
 * The limit is bookkeeping beside the connection, not its state: callers
 * hold const pointers to connections they only describe, and every
 * connection is heap-allocated, never a const object.
 */
static struct idm_log_limit *conn_log_limit(const struct idm_conn *c)
{
	return (struct idm_log_limit *)&c->log_limit;
}

static void log_conn_summary(const struct idm_conn *c, uint32_t suppressed)
{
	if (suppressed) {
		idm_log("conn", "%s: %u more messages suppressed", c->peer_name, suppressed);
	}
}

static void log_conn_vline(const struct idm_conn *c, const char *fmt, va_list ap)
{
	char text[LOG_CONN_TEXT];

	vsnprintf(text, sizeof(text), fmt, ap);
	idm_log("conn", "%s: %s", c->peer_name, text);
}

void idm_log_conn(const struct idm_conn *c, const char *fmt, ...)
{
	uint32_t summary;
	bool admit = idm_log_limit_admit(conn_log_limit(c), idm_now_ms(), &summary);
	va_list ap;

	log_conn_summary(c, summary);
	if (admit) {
		va_start(ap, fmt);
		log_conn_vline(c, fmt, ap);
		va_end(ap);
	}
}

void idm_log_conn_close(const struct idm_conn *c, const char *fmt, ...)
{
	struct idm_log_limit *l = conn_log_limit(c);
	va_list ap;

	idm_log_conn_flush(c);
	/* the few lines of the teardown that follows get a window of their own */
	l->window_start_ms = idm_now_ms();
	l->lines = 1;
	va_start(ap, fmt);
	log_conn_vline(c, fmt, ap);
	va_end(ap);
}

void idm_log_conn_flush(const struct idm_conn *c)
{
	struct idm_log_limit *l = conn_log_limit(c);

	log_conn_summary(c, l->suppressed);
	l->suppressed = 0;
}
