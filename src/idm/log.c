/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * One log line per call: "2026-11-24T14:22:56.123Z conn: text" on stderr.
 * The line is formatted in a local buffer and written with one write(),
 * so lines from different reactor threads never interleave. A daemon may
 * send its lines to the journal or syslog instead (idm_log_open), and
 * drop the ones above a level.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "idm/idm.h"

#define IDM_LOG_LINE 1024

enum log_sink { SINK_STDERR, SINK_JOURNAL, SINK_SYSLOG };

static _Atomic int log_level = IDM_LOG_INFO;
static enum log_sink log_sink = SINK_STDERR; /* set once, before threads */

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void idm_log_set_level(enum idm_log_level level)
{
	atomic_store_explicit(&log_level, (int)level, memory_order_relaxed);
}

enum idm_log_level idm_log_get_level(void)
{
	return (enum idm_log_level)atomic_load_explicit(&log_level, memory_order_relaxed);
}

int idm_log_level_parse(const char *name, enum idm_log_level *out)
{
	for (unsigned i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*out = (enum idm_log_level)i;
			return 0;
		}
	}
	if (strcmp(name, "warning") == 0) {
		*out = IDM_LOG_WARN;
		return 0;
	}
	return -EINVAL;
}

const char *idm_log_level_name(enum idm_log_level level)
{
	return (unsigned)level < 4 ? level_names[level] : "?";
}

/* True when stderr is the journal stream systemd gave us. */
static bool stderr_is_journal(const struct stat *st)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;

	return js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && st->st_dev == (dev_t)dev &&
	       st->st_ino == (ino_t)ino;
}

void idm_log_open(const char *ident)
{
	struct stat st, null_st;

	if (isatty(STDERR_FILENO)) {
		log_sink = SINK_STDERR;
	} else if (fstat(STDERR_FILENO, &st) != 0 ||
	           (S_ISCHR(st.st_mode) && stat("/dev/null", &null_st) == 0 &&
	            st.st_rdev == null_st.st_rdev)) {
		log_sink = SINK_SYSLOG;
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	} else if (stderr_is_journal(&st)) {
		log_sink = SINK_JOURNAL;
	} else {
		log_sink = SINK_STDERR;
	}
}

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

static int syslog_priority(enum idm_log_level level)
{
	static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};

	return prio[level];
}

static void log_line(enum idm_log_level level, const char *component, const char *fmt, va_list ap)
{
	char line[IDM_LOG_LINE];
	size_t n = 0;
	int m;

	if (log_sink == SINK_STDERR) {
		n = log_timestamp(line, sizeof(line));
	} else if (log_sink == SINK_JOURNAL) {
		n = (size_t)snprintf(line, sizeof(line), "<%d>", syslog_priority(level));
	}
	m = snprintf(line + n, sizeof(line) - n, "%s: ", component);
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
	if (log_sink == SINK_SYSLOG) {
		line[n] = '\0';
		syslog(syslog_priority(level), "%s", line);
		return;
	}
	line[n++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, n);
	(void)w; /* nowhere to report a failed log write */
}

/* The line, unless its level is above the current one. */
static void log_va(enum idm_log_level level, const char *component, const char *fmt, va_list ap)
{
	if ((int)level <= atomic_load_explicit(&log_level, memory_order_relaxed)) {
		log_line(level, component, fmt, ap);
	}
}

void idm_log_at(enum idm_log_level level, const char *component, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_va(level, component, fmt, ap);
	va_end(ap);
}

void idm_log(const char *component, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_va(strncmp(fmt, "warning", 7) == 0 ? IDM_LOG_WARN : IDM_LOG_INFO, component, fmt, ap);
	va_end(ap);
}
