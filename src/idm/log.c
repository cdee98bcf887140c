/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * One log line per call on stderr: "2026-11-24T14:22:56.123Z conn: text".
 * The line is formatted in a local buffer and written with one write(),
 * so lines from different reactor threads never interleave. Lines about
 * one connection are rate-limited (IDM_LOG_CONN, idm.h): a peer that
 * provokes an error per PDU must not be able to fill the disk.
 */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "idm/core_priv.h"

#define IDM_LOG_LINE 1024

static size_t log_timestamp(char *buf, size_t cap)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	int m = snprintf(buf + n, cap - n, ".%03ldZ ", ts.tv_nsec / 1000000);

	return m > 0 ? n + (size_t)m : n;
}

/* "TIME component: [prefix: ]text\n" in one write(). */
static void log_vline(const char *component, const char *prefix, const char *fmt, va_list ap)
{
	char line[IDM_LOG_LINE];
	size_t n = log_timestamp(line, sizeof(line));
	int m;

	m = prefix ? snprintf(line + n, sizeof(line) - n, "%s: %s: ", component, prefix)
	           : snprintf(line + n, sizeof(line) - n, "%s: ", component);
	if (m > 0) {
		n += (size_t)m;
	}
	if (n < sizeof(line)) {
		m = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
		if (m > 0) {
			n += (size_t)m;
		}
	}
	if (n > sizeof(line) - 2) {
		n = sizeof(line) - 2; /* truncated: keep room for the newline */
	}
	line[n++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, n);
	(void)w; /* nowhere to report a failed log write */
}

void idm_log(const char *component, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vline(component, NULL, fmt, ap);
	va_end(ap);
}

/* ---- per-connection rate limit ---- */

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

void idm_log_conn(const struct idm_conn *c, const char *fmt, ...)
{
	uint32_t summary;
	bool admit = idm_log_limit_admit(conn_log_limit(c), idm_now_ms(), &summary);
	va_list ap;

	log_conn_summary(c, summary);
	if (admit) {
		va_start(ap, fmt);
		log_vline("conn", c->peer_name, fmt, ap);
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
	log_vline("conn", c->peer_name, fmt, ap);
	va_end(ap);
}

void idm_log_conn_flush(const struct idm_conn *c)
{
	struct idm_log_limit *l = conn_log_limit(c);

	log_conn_summary(c, l->suppressed);
	l->suppressed = 0;
}
