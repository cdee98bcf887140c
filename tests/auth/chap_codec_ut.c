/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests for the CHAP building blocks: hashes, encodings, accounts. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "idm/auth.h"

static const uint8_t all_algs[] = {IDM_CHAP_MD5, IDM_CHAP_SHA1, IDM_CHAP_SHA256, IDM_CHAP_SHA3_256};

/* The expected response, computed independently with EVP_Digest. */
static size_t expected(uint8_t alg, uint8_t id, const char *secret, const uint8_t *chal,
                       size_t chal_len, uint8_t *out)
{
	const EVP_MD *md = alg == IDM_CHAP_MD5      ? EVP_md5()
	                   : alg == IDM_CHAP_SHA1   ? EVP_sha1()
	                   : alg == IDM_CHAP_SHA256 ? EVP_sha256()
	                                            : EVP_sha3_256();
	uint8_t buf[512];
	size_t slen = strlen(secret);
	unsigned int len = 0;

	buf[0] = id;
	memcpy(buf + 1, secret, slen);
	memcpy(buf + 1 + slen, chal, chal_len);
	assert_int_equal(EVP_Digest(buf, 1 + slen + chal_len, out, &len, md, NULL), 1);
	return len;
}

static void test_digest_len(void **state)
{
	assert_int_equal(idm_chap_digest_len(IDM_CHAP_MD5), 16);
	assert_int_equal(idm_chap_digest_len(IDM_CHAP_SHA1), 20);
	assert_int_equal(idm_chap_digest_len(IDM_CHAP_SHA256), 32);
	assert_int_equal(idm_chap_digest_len(IDM_CHAP_SHA3_256), 32);
	assert_int_equal(idm_chap_digest_len(0), 0);
	assert_int_equal(idm_chap_digest_len(4), 0);
	assert_int_equal(idm_chap_digest_len(9), 0);
	assert_int_equal(idm_chap_digest_len(0x80), 0);
}

/* RFC 1994: MD5(id || secret || challenge), with a fixed known digest. */
static void test_md5_known_vector(void **state)
{
	/* Against EVP_Digest over one concatenated buffer. */
	const uint8_t chal[] = {0, 1, 2, 3};
	uint8_t got[IDM_CHAP_DIGEST_MAX], want[64];
	size_t len = 0, wlen = expected(IDM_CHAP_MD5, 1, "secret", chal, 4, want);

	assert_int_equal(
	    idm_chap_response(IDM_CHAP_MD5, 1, (const uint8_t *)"secret", 6, chal, 4, got, &len),
	    0);
	assert_int_equal(len, wlen);
	assert_memory_equal(got, want, len);
}

/* Literal digests of id 1, "secret", challenge 00 01 02 03 (from Python hashlib). */
static void test_literal_vectors(void **state)
{
	static const struct {
		uint8_t alg;
		const char *hex;
	} v[] = {
	    {IDM_CHAP_MD5, "0xe82cb2ed1efe04893c9cf73d4dd12e2d"},
	    {IDM_CHAP_SHA1, "0x4ba9b914438b0a2231ce08d06e1814afdbbd02c9"},
	    {IDM_CHAP_SHA256, "0x60ad105214396c736e4569759380672905396143713449e104a2be1e885b5d06"},
	    {IDM_CHAP_SHA3_256,
	     "0x5a8cab9a6c0245b91a7d0d2966f24cb7328b2a59616809840e7a77c9c4fb94d8"},
	};
	const uint8_t chal[] = {0, 1, 2, 3};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint8_t got[IDM_CHAP_DIGEST_MAX], want[IDM_CHAP_DIGEST_MAX];
		size_t len = 0, wlen = 0;
		char text[80];

		assert_int_equal(idm_chap_decode(v[i].hex, want, sizeof(want), &wlen), 0);
		assert_int_equal(idm_chap_response(v[i].alg, 1, (const uint8_t *)"secret", 6, chal,
		                                   4, got, &len),
		                 0);
		assert_int_equal(len, wlen);
		assert_memory_equal(got, want, len);
		assert_int_equal(idm_chap_encode(IDM_CHAP_HEX, got, len, text, sizeof(text)), 0);
		assert_string_equal(text, v[i].hex);
	}
}

static void test_all_algorithms(void **state)
{
	uint8_t chal[40];

	for (size_t i = 0; i < sizeof(chal); i++) {
		chal[i] = (uint8_t)(i * 7 + 3);
	}
	for (size_t a = 0; a < sizeof(all_algs); a++) {
		for (unsigned id = 0; id < 256; id += 51) {
			uint8_t got[IDM_CHAP_DIGEST_MAX], want[64];
			size_t len = 0;
			size_t wlen = expected(all_algs[a], (uint8_t)id, "twelve-bytes!", chal,
			                       sizeof(chal), want);

			assert_int_equal(idm_chap_response(all_algs[a], (uint8_t)id,
			                                   (const uint8_t *)"twelve-bytes!", 13,
			                                   chal, sizeof(chal), got, &len),
			                 0);
			assert_int_equal(len, wlen);
			assert_int_equal(len, idm_chap_digest_len(all_algs[a]));
			assert_memory_equal(got, want, len);
		}
	}
}

static void test_response_unsupported(void **state)
{
	uint8_t out[IDM_CHAP_DIGEST_MAX] = {0};
	size_t len = 0;

	assert_int_equal(idm_chap_response(3, 1, (const uint8_t *)"s", 1, out, 1, out, &len),
	                 -ENOTSUP);
}

static void test_hex_roundtrip(void **state)
{
	uint8_t in[300], out[300];
	char text[700];

	for (size_t i = 0; i < sizeof(in); i++) {
		in[i] = (uint8_t)(i * 13);
	}
	for (size_t n = 1; n <= sizeof(in); n += 37) {
		size_t len = 0;

		assert_int_equal(idm_chap_encode(IDM_CHAP_HEX, in, n, text, sizeof(text)), 0);
		assert_int_equal(strlen(text), 2 + 2 * n);
		assert_int_equal(idm_chap_decode(text, out, sizeof(out), &len), 0);
		assert_int_equal(len, n);
		assert_memory_equal(in, out, n);
	}
}

static void test_base64_roundtrip(void **state)
{
	uint8_t in[300], out[300];
	char text[700];

	for (size_t i = 0; i < sizeof(in); i++) {
		in[i] = (uint8_t)(255 - i * 11);
	}
	for (size_t n = 1; n <= 40; n++) {
		size_t len = 0;

		assert_int_equal(idm_chap_encode(IDM_CHAP_BASE64, in, n, text, sizeof(text)), 0);
		assert_int_equal(strlen(text), 2 + (n + 2) / 3 * 4);
		assert_int_equal(idm_chap_decode(text, out, sizeof(out), &len), 0);
		assert_int_equal(len, n);
		assert_memory_equal(in, out, n);
	}
}

/* RFC 4648 section 10 test vectors. */
static void test_base64_rfc4648(void **state)
{
	static const char *const enc[] = {"0bZg==",     "0bZm8=",     "0bZm9v",
	                                  "0bZm9vYg==", "0bZm9vYmE=", "0bZm9vYmFy"};
	static const char *const dec[] = {"f", "fo", "foo", "foob", "fooba", "foobar"};
	char text[32];

	for (size_t i = 0; i < 6; i++) {
		uint8_t out[16];
		size_t len = 0;

		assert_int_equal(idm_chap_decode(enc[i], out, sizeof(out), &len), 0);
		assert_int_equal(len, strlen(dec[i]));
		assert_memory_equal(out, dec[i], len);
		assert_int_equal(idm_chap_encode(IDM_CHAP_BASE64, (const uint8_t *)dec[i],
		                                 strlen(dec[i]), text, sizeof(text)),
		                 0);
		assert_string_equal(text, enc[i]);
	}
}

static void test_hex_cases(void **state)
{
	uint8_t out[8];
	size_t len = 0;

	assert_int_equal(idm_chap_decode("0XaBcD", out, sizeof(out), &len), 0);
	assert_int_equal(len, 2);
	assert_int_equal(out[0], 0xab);
	assert_int_equal(out[1], 0xcd);
	/* An odd digit count means a leading zero digit. */
	assert_int_equal(idm_chap_decode("0xabc", out, sizeof(out), &len), 0);
	assert_int_equal(len, 2);
	assert_int_equal(out[0], 0x0a);
	assert_int_equal(out[1], 0xbc);
	assert_int_equal(idm_chap_decode("0x7", out, sizeof(out), &len), 0);
	assert_int_equal(len, 1);
	assert_int_equal(out[0], 7);
}

static void test_malformed(void **state)
{
	static const char *const bad[] = {
	    "",        "0",       "0x",     "0b",    "x12",       "12",     "0y12",   "0x12g4",
	    "0x 12",   "0x12 ",   "0b====", "0bZg=", "0bZ===",    "0bZg=a", "0b=Zg=", "0bZm9",
	    "0bZm9v*", "0b Zm9v", "-0x12",  "0x-12", "0bZm9vYg=", "0xfg",   "0B!!!!"};
	uint8_t out[64];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = 99;

		assert_int_equal(idm_chap_decode(bad[i], out, sizeof(out), &len), -EINVAL);
	}
	assert_int_equal(idm_chap_decode(NULL, out, sizeof(out), NULL), -EINVAL);
}

static void test_too_long(void **state)
{
	uint8_t out[4];
	size_t len = 0;

	assert_int_equal(idm_chap_decode("0x0102030405", out, sizeof(out), &len), -E2BIG);
	assert_int_equal(idm_chap_decode("0x01020304", out, sizeof(out), &len), 0);
	assert_int_equal(idm_chap_decode("0x102030405", out, sizeof(out), &len), -E2BIG);
	assert_int_equal(idm_chap_decode("0bAQIDBAU=", out, sizeof(out), &len), -E2BIG);
	assert_int_equal(idm_chap_decode("0bAQIDBA==", out, sizeof(out), &len), 0);
	assert_int_equal(len, 4);
}

static void test_encode_no_space(void **state)
{
	const uint8_t in[4] = {1, 2, 3, 4};
	char text[16];

	assert_int_equal(idm_chap_encode(IDM_CHAP_HEX, in, 4, text, 10), -ENOSPC);
	assert_int_equal(idm_chap_encode(IDM_CHAP_HEX, in, 4, text, 11), 0);
	assert_string_equal(text, "0x01020304");
	assert_int_equal(idm_chap_encode(IDM_CHAP_BASE64, in, 4, text, 10), -ENOSPC);
	assert_int_equal(idm_chap_encode(IDM_CHAP_BASE64, in, 4, text, 11), 0);
	assert_string_equal(text, "0bAQIDBA==");
}

static void test_account_set(void **state)
{
	struct idm_chap_account a;
	char longname[300], longsecret[300];

	memset(longname, 'n', sizeof(longname));
	longname[IDM_CHAP_USER_MAX] = '\0';
	memset(longsecret, 's', sizeof(longsecret));
	longsecret[IDM_CHAP_SECRET_MAX + 1] = '\0';

	assert_int_equal(idm_chap_account_set(&a, "u", "0123456789ab", NULL, NULL), 0);
	assert_false(idm_chap_account_weak(&a));
	assert_int_equal(a.secret_len, 12);
	assert_int_equal(a.target_secret_len, 0);
	assert_int_equal(idm_chap_account_set(&a, "u", "short", NULL, NULL), 0);
	assert_true(idm_chap_account_weak(&a));
	assert_int_equal(idm_chap_account_set(&a, "u", "0123456789ab", "t", "tsec"), 0);
	assert_true(idm_chap_account_weak(&a));
	assert_int_equal(idm_chap_account_set(&a, "", "0123456789ab", NULL, NULL), -EINVAL);
	assert_int_equal(idm_chap_account_set(&a, "u", "", NULL, NULL), -EINVAL);
	assert_int_equal(idm_chap_account_set(&a, longname, "x", NULL, NULL), -EINVAL);
	assert_int_equal(idm_chap_account_set(&a, "u", longsecret, NULL, NULL), -EINVAL);
	longsecret[IDM_CHAP_SECRET_MAX] = '\0';
	assert_int_equal(idm_chap_account_set(&a, "u", longsecret, NULL, NULL), 0);
	assert_int_equal(idm_chap_account_set(&a, "u", "x", "t", NULL), -EINVAL);
	assert_int_equal(idm_chap_account_set(&a, "u", "x", NULL, "y"), -EINVAL);
	assert_int_equal(idm_chap_account_set(&a, "u", "x", "", "y"), -EINVAL);
	/* One secret for both directions is refused. */
	assert_int_equal(idm_chap_account_set(&a, "u", "same-secret!", "t", "same-secret!"),
	                 -EINVAL);
	/* A failed set leaves nothing behind. */
	assert_int_equal(a.secret_len, 0);
	assert_int_equal(a.user[0], '\0');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_digest_len),
	    cmocka_unit_test(test_md5_known_vector),
	    cmocka_unit_test(test_literal_vectors),
	    cmocka_unit_test(test_all_algorithms),
	    cmocka_unit_test(test_response_unsupported),
	    cmocka_unit_test(test_hex_roundtrip),
	    cmocka_unit_test(test_base64_roundtrip),
	    cmocka_unit_test(test_base64_rfc4648),
	    cmocka_unit_test(test_hex_cases),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_too_long),
	    cmocka_unit_test(test_encode_no_space),
	    cmocka_unit_test(test_account_set),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
