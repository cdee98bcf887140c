/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * One log line per call on stderr: "2026-11-24T14:22:56.123Z conn: text".
 * The line is formatted in a local buffer and written with one write(),
 * so lines from different reactor threads never interleave.
 */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "idm/idm.h"

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

void idm_log(const char *component, const char *fmt, ...)
{
	char line[IDM_LOG_LINE];
	size_t n = log_timestamp(line, sizeof(line));
	va_list ap;
	int m;

	m = snprintf(line + n, sizeof(line) - n, "%s: ", component);
	if (m > 0) {
		n += (size_t)m;
	}
	if (n < sizeof(line)) {
		va_start(ap, fmt);
		m = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
		va_end(ap);
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
