/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The "key=value\0" text of Login and Text PDUs (RFC 7143 section 6.1):
 * a growable output buffer and a strict parser for received text.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idm/keys.h"

/* Initialise an empty buffer; nothing is allocated until the first add. */
void idm_textbuf_init(struct idm_textbuf *t)
{
	memset(t, 0, sizeof(*t));
}

/* Release the storage and return to the empty state. */
void idm_textbuf_free(struct idm_textbuf *t)
{
	free(t->buf);
	idm_textbuf_init(t);
}

/* Forget the contents but keep the storage for the next PDU. */
void idm_textbuf_reset(struct idm_textbuf *t)
{
	t->len = 0;
	t->overflow = false;
}

/* Make room for `more` bytes; doubling keeps appends amortised O(1). */
static int textbuf_reserve(struct idm_textbuf *t, size_t more)
{
	size_t cap = t->cap ? t->cap : 256;
	char *nbuf;

	if (more > SIZE_MAX / 2 - t->len) {
		t->overflow = true;
		return -ENOMEM;
	}
	if (t->len + more <= t->cap) {
		return 0;
	}
	while (cap < t->len + more) {
		cap *= 2;
	}
	nbuf = realloc(t->buf, cap);
	if (!nbuf) {
		t->overflow = true;
		return -ENOMEM;
	}
	t->buf = nbuf;
	t->cap = cap;
	return 0;
}

/* Append "key=value\0". */
int idm_textbuf_add(struct idm_textbuf *t, const char *key, const char *value)
{
	size_t klen = strlen(key);
	size_t vlen = strlen(value);

	if (textbuf_reserve(t, klen + vlen + 2)) {
		return -ENOMEM;
	}
	memcpy(t->buf + t->len, key, klen);
	t->buf[t->len + klen] = '=';
	memcpy(t->buf + t->len + klen + 1, value, vlen);
	t->buf[t->len + klen + 1 + vlen] = '\0';
	t->len += klen + vlen + 2;
	return 0;
}

/* Append "key=<formatted value>\0". */
int idm_textbuf_addf(struct idm_textbuf *t, const char *key, const char *fmt, ...)
{
	size_t klen = strlen(key);
	va_list ap;
	int vlen;

	va_start(ap, fmt);
	vlen = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (vlen < 0) {
		return -EINVAL;
	}
	if (textbuf_reserve(t, klen + (size_t)vlen + 2)) {
		return -ENOMEM;
	}
	memcpy(t->buf + t->len, key, klen);
	t->buf[t->len + klen] = '=';
	va_start(ap, fmt);
	vsnprintf(t->buf + t->len + klen + 1, (size_t)vlen + 1, fmt, ap);
	va_end(ap);
	t->len += klen + (size_t)vlen + 2;
	return 0;
}

/*
 * Duplicate detection. Open addressing over the key names, so 64 KiB of
 * tiny keys costs linear time instead of comparing every pair.
 */
struct kv_seen {
	const char **slot; /* key names as they appear in the text */
	size_t *klen;
	size_t mask;
};

static int kv_seen_init(struct kv_seen *s, size_t npairs)
{
	size_t n = 16;

	while (n < npairs * 2) {
		n *= 2;
	}
	s->slot = calloc(n, sizeof(*s->slot));
	s->klen = calloc(n, sizeof(*s->klen));
	s->mask = n - 1;
	if (!s->slot || !s->klen) {
		free(s->slot);
		free(s->klen);
		return -ENOMEM;
	}
	return 0;
}

static void kv_seen_free(struct kv_seen *s)
{
	free(s->slot);
	free(s->klen);
}

static size_t kv_hash(const char *k, size_t len)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	for (size_t i = 0; i < len; i++) {
		h = (h ^ (unsigned char)k[i]) * 1099511628211ull;
	}
	return (size_t)(h ^ (h >> 29));
}

/*
 * Keys a SendTargets response legitimately repeats (one group per
 * target). A repeat of them inside a login is caught by the engine.
 */
static bool kv_may_repeat(const char *k, size_t len)
{
	static const char *const names[] = {"TargetName", "TargetAddress", "TargetAlias"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strlen(names[i]) == len && !memcmp(names[i], k, len)) {
			return true;
		}
	}
	return false;
}

/* Returns -EINVAL when the key was already seen in this text. */
static int kv_seen_add(struct kv_seen *s, const char *k, size_t len)
{
	size_t i = kv_hash(k, len) & s->mask;

	if (kv_may_repeat(k, len)) {
		return 0;
	}
	while (s->slot[i]) {
		if (s->klen[i] == len && !memcmp(s->slot[i], k, len)) {
			return -EINVAL;
		}
		i = (i + 1) & s->mask;
	}
	s->slot[i] = k;
	s->klen[i] = len;
	return 0;
}

/*
 * RFC 7143 section 6.1: key names use letters, digits and . - + @ _ ;
 * '#' appears in the X# prefix of IANA-registered keys (section 13.5.1).
 */
static bool kv_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '-' || c == '+' || c == '@' || c == '_' || c == '#';
}

/* Values are UTF-8 text: control characters can only be garbage. */
static bool kv_value_ok(const char *v, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c < 0x20 || c == 0x7f) {
			return false;
		}
	}
	return len <= IDM_VALUE_MAX;
}

/* Check one "key=value" pair (no NUL inside); sets the name length. */
static int kv_check_pair(const char *p, size_t len, size_t *klen)
{
	const char *eq = memchr(p, '=', len);
	size_t k;

	if (!eq) {
		return -EINVAL;
	}
	k = (size_t)(eq - p);
	if (k == 0 || k >= IDM_KEY_NAME_MAX) {
		return -EINVAL;
	}
	for (size_t i = 0; i < k; i++) {
		if (!kv_name_char(p[i])) {
			return -EINVAL;
		}
	}
	if (!kv_value_ok(eq + 1, len - k - 1)) {
		return -EINVAL;
	}
	*klen = k;
	return 0;
}

/* Trailing NULs (the terminator, any padding) carry no pairs. */
static size_t kv_trim(const char *text, size_t len)
{
	while (len > 0 && text[len - 1] == '\0') {
		len--;
	}
	return len;
}

/* First pass: validate every pair and count them. */
static int kv_validate(const char *text, size_t len, size_t *npairs)
{
	size_t off = 0;

	*npairs = 0;
	while (off < len) {
		const char *end = memchr(text + off, '\0', len - off);
		size_t plen = end ? (size_t)(end - (text + off)) : len - off;
		size_t klen;

		if (kv_check_pair(text + off, plen, &klen)) {
			return -EINVAL;
		}
		(*npairs)++;
		off += plen + 1;
	}
	return 0;
}

/* Length of the pair at `off` and of its name (the pair is valid). */
static size_t kv_pair_at(const char *text, size_t len, size_t off, size_t *klen)
{
	const char *end = memchr(text + off, '\0', len - off);
	size_t plen = end ? (size_t)(end - (text + off)) : len - off;

	*klen = (size_t)((const char *)memchr(text + off, '=', plen) - (text + off));
	return plen;
}

/* Second pass: a key may appear once per text (RFC 7143 section 6.1). */
static int kv_check_repeats(const char *text, size_t len, struct kv_seen *seen)
{
	size_t off = 0;

	while (off < len) {
		size_t klen;
		size_t plen = kv_pair_at(text, len, off, &klen);

		if (kv_seen_add(seen, text + off, klen)) {
			return -EINVAL;
		}
		off += plen + 1;
	}
	return 0;
}

/* Last pass: hand NUL-terminated copies of each pair to `fn`. */
static int kv_deliver(const char *text, size_t len, idm_kv_fn fn, void *arg)
{
	char key[IDM_KEY_NAME_MAX];
	char *value = malloc(IDM_VALUE_MAX + 1);
	size_t off = 0;
	int rc = value ? 0 : -ENOMEM;

	while (!rc && off < len) {
		size_t klen;
		size_t plen = kv_pair_at(text, len, off, &klen);

		memcpy(key, text + off, klen);
		key[klen] = '\0';
		memcpy(value, text + off + klen + 1, plen - klen - 1);
		value[plen - klen - 1] = '\0';
		rc = fn(arg, key, value);
		off += plen + 1;
	}
	free(value);
	return rc;
}

/* Validate the whole text first so no callback runs on malformed input. */
int idm_kv_parse(const char *text, size_t len, idm_kv_fn fn, void *arg)
{
	struct kv_seen seen;
	size_t npairs;
	int rc;

	if (!text && len) {
		return -EINVAL;
	}
	len = kv_trim(text, len);
	if (kv_validate(text, len, &npairs)) {
		return -EINVAL;
	}
	if (npairs == 0) {
		return 0;
	}
	if (kv_seen_init(&seen, npairs)) {
		return -ENOMEM;
	}
	rc = kv_check_repeats(text, len, &seen);
	kv_seen_free(&seen);
	if (rc) {
		return rc;
	}
	return kv_deliver(text, len, fn, arg);
}
