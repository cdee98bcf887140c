/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * CHAP building blocks: the response hash and the binary value encodings
 * of RFC 7143 section 6.1 (hex "0x..." and base64 "0b...").
 */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "idm/auth.h"

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* The OpenSSL digest behind a CHAP_A number, NULL when unsupported. */
static const EVP_MD *chap_md(uint8_t alg)
{
	switch (alg) {
	case IDM_CHAP_MD5:
		return EVP_md5();
	case IDM_CHAP_SHA1:
		return EVP_sha1();
	case IDM_CHAP_SHA256:
		return EVP_sha256();
	case IDM_CHAP_SHA3_256:
		return EVP_sha3_256();
	default:
		return NULL;
	}
}

/* CHAP_A names as RFC 7143 and RFC 7143bis (SHA-256, SHA3-256) call
 * them, then the spellings without the hyphen. */
static const struct {
	const char *name;
	uint8_t alg;
} alg_names[] = {{"MD5", IDM_CHAP_MD5},        {"SHA-1", IDM_CHAP_SHA1},
                 {"SHA-256", IDM_CHAP_SHA256}, {"SHA3-256", IDM_CHAP_SHA3_256},
                 {"SHA1", IDM_CHAP_SHA1},      {"SHA256", IDM_CHAP_SHA256}};

const char *idm_chap_alg_name(uint8_t alg)
{
	for (size_t i = 0; i < sizeof(alg_names) / sizeof(alg_names[0]); i++) {
		if (alg_names[i].alg == alg) {
			return alg_names[i].name;
		}
	}
	return "?";
}

int idm_chap_alg_parse(const char *name, size_t len, uint8_t *alg)
{
	for (size_t i = 0; i < sizeof(alg_names) / sizeof(alg_names[0]); i++) {
		if (strlen(alg_names[i].name) == len &&
		    strncasecmp(alg_names[i].name, name, len) == 0) {
			*alg = alg_names[i].alg;
			return 0;
		}
	}
	return -EINVAL;
}

size_t idm_chap_digest_len(uint8_t alg)
{
	const EVP_MD *md = chap_md(alg);

	return md ? (size_t)EVP_MD_get_size(md) : 0;
}

/* Hash the three parts in turn: no copy of the secret is made. */
int idm_chap_response(uint8_t alg, uint8_t id, const uint8_t *secret, size_t secret_len,
                      const uint8_t *challenge, size_t challenge_len, uint8_t *out, size_t *out_len)
{
	const EVP_MD *md = chap_md(alg);
	EVP_MD_CTX *ctx;
	unsigned int len = 0;
	int ok;

	if (!md) {
		return -ENOTSUP;
	}
	ctx = EVP_MD_CTX_new();
	if (!ctx) {
		return -ENOMEM;
	}
	ok = EVP_DigestInit_ex(ctx, md, NULL) && EVP_DigestUpdate(ctx, &id, 1) &&
	     EVP_DigestUpdate(ctx, secret, secret_len) &&
	     EVP_DigestUpdate(ctx, challenge, challenge_len) && EVP_DigestFinal_ex(ctx, out, &len);
	EVP_MD_CTX_free(ctx);
	if (!ok || len > IDM_CHAP_DIGEST_MAX) {
		return -EIO;
	}
	*out_len = len;
	return 0;
}

/* ---- decoding -------------------------------------------------------- */

static int hex_digit(char ch)
{
	if (ch >= '0' && ch <= '9') {
		return ch - '0';
	}
	if (ch >= 'a' && ch <= 'f') {
		return ch - 'a' + 10;
	}
	if (ch >= 'A' && ch <= 'F') {
		return ch - 'A' + 10;
	}
	return -1;
}

/* Hex digits, two per byte; an odd count means a leading zero digit. */
static int decode_hex(const char *s, uint8_t *out, size_t cap, size_t *out_len)
{
	size_t digits = strlen(s);
	size_t len = (digits + 1) / 2;
	bool high = !(digits & 1);
	size_t o = 0;

	if (!digits) {
		return -EINVAL;
	}
	for (const char *p = s; *p; p++) {
		if (hex_digit(*p) < 0) {
			return -EINVAL;
		}
	}
	if (len > cap) {
		return -E2BIG;
	}
	if (!high) {
		out[0] = 0;
	}
	for (const char *p = s; *p; p++) {
		int d = hex_digit(*p);

		if (high) {
			out[o] = (uint8_t)(d << 4);
		} else {
			out[o++] |= (uint8_t)d;
		}
		high = !high;
	}
	*out_len = len;
	return 0;
}

static int b64_value(char ch)
{
	const char *p = ch ? strchr(b64_alphabet, ch) : NULL;

	return p ? (int)(p - b64_alphabet) : -1;
}

/* Check the shape: groups of four, '=' only as the last one or two. */
static int b64_check(const char *s, size_t n, size_t *pad)
{
	*pad = 0;
	if (!n || n % 4) {
		return -EINVAL;
	}
	while (*pad < 2 && s[n - 1 - *pad] == '=') {
		(*pad)++;
	}
	for (size_t i = 0; i < n - *pad; i++) {
		if (b64_value(s[i]) < 0) {
			return -EINVAL;
		}
	}
	return 0;
}

static int decode_base64(const char *s, uint8_t *out, size_t cap, size_t *out_len)
{
	size_t n = strlen(s);
	size_t pad, len, o = 0;
	uint32_t acc = 0;
	int bits = 0;

	if (b64_check(s, n, &pad)) {
		return -EINVAL;
	}
	len = n / 4 * 3 - pad;
	if (len > cap) {
		return -E2BIG;
	}
	for (size_t i = 0; i < n - pad; i++) {
		acc = (acc << 6) | (uint32_t)b64_value(s[i]);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	*out_len = len;
	return o == len ? 0 : -EINVAL;
}

int idm_chap_decode(const char *s, uint8_t *out, size_t cap, size_t *out_len)
{
	if (!s || s[0] != '0') {
		return -EINVAL;
	}
	if (s[1] == 'x' || s[1] == 'X') {
		return decode_hex(s + 2, out, cap, out_len);
	}
	if (s[1] == 'b' || s[1] == 'B') {
		return decode_base64(s + 2, out, cap, out_len);
	}
	return -EINVAL;
}

/* ---- encoding -------------------------------------------------------- */

static int encode_hex(const uint8_t *in, size_t len, char *out, size_t cap)
{
	static const char digits[] = "0123456789abcdef";

	if (cap < 3 + 2 * len) {
		return -ENOSPC;
	}
	*out++ = '0';
	*out++ = 'x';
	for (size_t i = 0; i < len; i++) {
		*out++ = digits[in[i] >> 4];
		*out++ = digits[in[i] & 15];
	}
	*out = '\0';
	return 0;
}

static int encode_base64(const uint8_t *in, size_t len, char *out, size_t cap)
{
	if (cap < 3 + (len + 2) / 3 * 4) {
		return -ENOSPC;
	}
	*out++ = '0';
	*out++ = 'b';
	for (size_t i = 0; i < len; i += 3) {
		size_t left = len - i;
		uint32_t v = (uint32_t)in[i] << 16;

		v |= left > 1 ? (uint32_t)in[i + 1] << 8 : 0;
		v |= left > 2 ? in[i + 2] : 0;
		*out++ = b64_alphabet[v >> 18];
		*out++ = b64_alphabet[(v >> 12) & 63];
		*out++ = left > 1 ? b64_alphabet[(v >> 6) & 63] : '=';
		*out++ = left > 2 ? b64_alphabet[v & 63] : '=';
	}
	*out = '\0';
	return 0;
}

int idm_chap_encode(enum idm_chap_encoding enc, const uint8_t *in, size_t len, char *out,
                    size_t cap)
{
	if (enc == IDM_CHAP_BASE64) {
		return encode_base64(in, len, out, cap);
	}
	return encode_hex(in, len, out, cap);
}
