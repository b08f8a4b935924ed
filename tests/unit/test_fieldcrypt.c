/* Unit tests of store/fieldcrypt.c: sealed values open only under their key
 * and in their column, altered ones never; rotation keeps old values
 * readable; blind indexes are equal exactly for equal values. */
#define _GNU_SOURCE	/* memmem */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64url.h"
#include "fieldcrypt.h"
#include "keyring.h"
#include "mbuf.h"

/* A fieldcrypt of the key lines "ID SECRET" given as (id, fill octet). */
static void
ring(struct fieldcrypt *fc, const char *id0, int fill0, const char *id1, int fill1)
{
	unsigned char raw[32];
	struct mbuf text, enc;
	struct keyring kr;
	char err[256];

	mbuf_init(&text);
	for (int i = 0; i < 2; i++) {
		const char *id = i == 0 ? id0 : id1;
		if (id == NULL)
			break;
		memset(raw, i == 0 ? fill0 : fill1, sizeof(raw));
		mbuf_init(&enc);
		assert_int_equal(b64url_encode(raw, sizeof(raw), &enc), 0);
		mbuf_printf(&text, "%s %s\n", id, enc.data);
		mbuf_free(&enc);
	}
	assert_int_equal(keyring_parse("data.key", text.data, &kr, err, sizeof(err)), 0);
	assert_int_equal(fieldcrypt_init(fc, &kr, err, sizeof(err)), 0);
	keyring_free(&kr);
	mbuf_free(&text);
}

static void
seal(const struct fieldcrypt *fc, const char *column, const char *plain, struct mbuf *out)
{
	mbuf_init(out);
	assert_int_equal(fieldcrypt_seal(fc, column, plain, strlen(plain), out), 0);
}

/* 0 and the plaintext in got, or -1 and the reason in err. */
static int
open_value(const struct fieldcrypt *fc, const char *column, const struct mbuf *v,
	   struct mbuf *got, char *err, size_t errlen)
{
	mbuf_init(got);
	return fieldcrypt_open(fc, column, v->data, v->len, got, err, errlen);
}

static void
roundtrip(enum fieldcrypt_alg alg)
{
	const char *plain = "alice@example.com";
	struct fieldcrypt fc;
	struct mbuf v, v2, got;
	char err[256];

	ring(&fc, "k1", 1, NULL, 0);
	fc.alg = alg;
	seal(&fc, "messages.sender", plain, &v);
	assert_int_equal((unsigned char)v.data[0], FIELDCRYPT_VERSION);
	assert_int_equal((unsigned char)v.data[1], alg);
	assert_int_equal(v.data[2], 2);
	assert_memory_equal(v.data + 3, "k1", 2);
	assert_null(memmem(v.data, v.len, plain, strlen(plain)));
	assert_null(memmem(v.data, v.len, "example", 7));
	assert_int_equal(open_value(&fc, "messages.sender", &v, &got, err, sizeof(err)), 0);
	assert_int_equal(got.len, strlen(plain));
	assert_string_equal(got.data, plain);
	/* A fresh nonce each time: equal values are not equal at rest. */
	seal(&fc, "messages.sender", plain, &v2);
	assert_int_equal(v.len, v2.len);
	assert_memory_not_equal(v.data, v2.data, v.len);
	/* The empty value too. */
	mbuf_free(&got);
	mbuf_free(&v2);
	seal(&fc, "messages.subject", "", &v2);
	assert_int_equal(open_value(&fc, "messages.subject", &v2, &got, err, sizeof(err)), 0);
	assert_int_equal(got.len, 0);
	mbuf_free(&got);
	mbuf_free(&v2);
	mbuf_free(&v);
	fieldcrypt_free(&fc);
}

static void
test_roundtrip_xchacha(void **state)
{
	(void)state;
	roundtrip(FIELDCRYPT_XCHACHA20POLY1305);
}

static void
test_roundtrip_aesgcm(void **state)
{
	(void)state;
	if (!crypto_aead_aes256gcm_is_available())
		skip();
	roundtrip(FIELDCRYPT_AES256GCM);
}

static void
test_default_alg(void **state)
{
	struct fieldcrypt fc;

	(void)state;
	ring(&fc, "k1", 1, NULL, 0);
	assert_int_equal(fc.alg, crypto_aead_aes256gcm_is_available()
		? FIELDCRYPT_AES256GCM : FIELDCRYPT_XCHACHA20POLY1305);
	fieldcrypt_free(&fc);
}

/* Every octet altered, one at a time, makes the value fail to open. */
static void
test_tamper(void **state)
{
	struct fieldcrypt fc;
	struct mbuf v, got;
	char err[256];

	(void)state;
	ring(&fc, "k1", 1, NULL, 0);
	for (int alg = FIELDCRYPT_AES256GCM; alg <= FIELDCRYPT_XCHACHA20POLY1305; alg++) {
		if (alg == FIELDCRYPT_AES256GCM && !crypto_aead_aes256gcm_is_available())
			continue;
		fc.alg = alg;
		seal(&fc, "links.url", "https://example.com/a", &v);
		for (size_t i = 0; i < v.len; i++) {
			v.data[i] ^= 0x01;
			assert_int_equal(open_value(&fc, "links.url", &v, &got, err, sizeof(err)), -1);
			mbuf_free(&got);
			v.data[i] ^= 0x01;
		}
		/* Cut short, at every length. */
		for (size_t n = 0; n < v.len; n++) {
			mbuf_init(&got);
			assert_int_equal(fieldcrypt_open(&fc, "links.url", v.data, n, &got, err,
							 sizeof(err)), -1);
			mbuf_free(&got);
		}
		assert_int_equal(open_value(&fc, "links.url", &v, &got, err, sizeof(err)), 0);
		assert_string_equal(got.data, "https://example.com/a");
		mbuf_free(&got);
		mbuf_free(&v);
	}
	fieldcrypt_free(&fc);
}

static void
test_wrong_key(void **state)
{
	struct fieldcrypt a, b, c;
	struct mbuf v, got;
	char err[256];

	(void)state;
	ring(&a, "k1", 1, NULL, 0);
	ring(&b, "k1", 2, NULL, 0);	/* same id, another secret */
	ring(&c, "k2", 1, NULL, 0);	/* same secret, another id */
	seal(&a, "messages.subject", "Quarterly figures", &v);
	assert_int_equal(open_value(&b, "messages.subject", &v, &got, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "failed authentication"));
	assert_non_null(strstr(err, "'k1'"));
	mbuf_free(&got);
	assert_int_equal(open_value(&c, "messages.subject", &v, &got, err, sizeof(err)), -1);
	assert_string_equal(err, "sealed under data key 'k1', which the data key file does not have");
	assert_null(fieldcrypt_key_of(&c, v.data, v.len));
	mbuf_free(&got);
	/* Plaintext (a store before encryption) is not taken for a sealed value. */
	assert_int_equal(fieldcrypt_open(&a, "messages.subject", "Quarterly figures", 17, &got,
					 err, sizeof(err)), -1);
	assert_string_equal(err, "not a value sealed by this version of mailbeacon");
	mbuf_free(&got);
	mbuf_free(&v);
	fieldcrypt_free(&a);
	fieldcrypt_free(&b);
	fieldcrypt_free(&c);
}

static void
test_swapped_column(void **state)
{
	struct fieldcrypt fc;
	struct mbuf v, got;
	char err[256];

	(void)state;
	ring(&fc, "k1", 1, NULL, 0);
	seal(&fc, "messages.sender", "alice@example.com", &v);
	assert_int_equal(open_value(&fc, "messages.sasl_login", &v, &got, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "another column"));
	mbuf_free(&got);
	assert_int_equal(open_value(&fc, "messages.sender", &v, &got, err, sizeof(err)), 0);
	mbuf_free(&got);
	mbuf_free(&v);
	fieldcrypt_free(&fc);
}

/* A new key first: new values are sealed under it, old ones still open. */
static void
test_rotation(void **state)
{
	struct fieldcrypt old, now;
	struct mbuf v1, v2, got;
	char err[256];

	(void)state;
	ring(&old, "k1", 1, NULL, 0);
	ring(&now, "k2", 2, "k1", 1);
	seal(&old, "events.city", "Lyon", &v1);
	seal(&now, "events.city", "Paris", &v2);
	assert_memory_equal(v2.data + 3, "k2", 2);
	assert_string_equal(fieldcrypt_key_of(&now, v1.data, v1.len)->id, "k1");
	assert_ptr_equal(fieldcrypt_key_of(&now, v2.data, v2.len), &now.keys[0]);
	assert_int_equal(open_value(&now, "events.city", &v1, &got, err, sizeof(err)), 0);
	assert_string_equal(got.data, "Lyon");
	mbuf_free(&got);
	assert_int_equal(open_value(&now, "events.city", &v2, &got, err, sizeof(err)), 0);
	assert_string_equal(got.data, "Paris");
	mbuf_free(&got);
	assert_int_equal(open_value(&old, "events.city", &v2, &got, err, sizeof(err)), -1);
	mbuf_free(&got);
	mbuf_free(&v1);
	mbuf_free(&v2);
	fieldcrypt_free(&old);
	fieldcrypt_free(&now);
}

static void
test_index(void **state)
{
	unsigned char a[FIELDCRYPT_INDEX_LEN], b[FIELDCRYPT_INDEX_LEN];
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	struct fieldcrypt fc, other;

	(void)state;
	ring(&fc, "k2", 2, "k1", 1);
	ring(&other, "k2", 3, NULL, 0);
	fieldcrypt_index(&fc, 0, "messages.sender", "alice@example.com", 17, a);
	fieldcrypt_index(&fc, 0, "messages.sender", "alice@example.com", 17, b);
	assert_memory_equal(a, b, sizeof(a));
	/* It is HMAC-SHA-256 of "COLUMN\0VALUE" under the index key. */
	crypto_auth_hmacsha256(mac, (const unsigned char *)"messages.sender\0alice@example.com",
			       16 + 17, fc.keys[0].index);
	assert_memory_equal(a, mac, sizeof(a));
	fieldcrypt_index(&fc, 0, "messages.sender", "alice@example.co", 16, b);
	assert_memory_not_equal(a, b, sizeof(a));
	fieldcrypt_index(&fc, 0, "messages.domain", "alice@example.com", 17, b);
	assert_memory_not_equal(a, b, sizeof(a));
	fieldcrypt_index(&fc, 1, "messages.sender", "alice@example.com", 17, b);
	assert_memory_not_equal(a, b, sizeof(a));
	fieldcrypt_index(&other, 0, "messages.sender", "alice@example.com", 17, b);
	assert_memory_not_equal(a, b, sizeof(a));
	/* The two subkeys differ, and differ from the file's secret. */
	assert_memory_not_equal(fc.keys[0].index, fc.keys[0].aead, 32);
	unsigned char two[32];
	memset(two, 2, sizeof(two));
	assert_memory_not_equal(fc.keys[0].aead, two, 32);
	fieldcrypt_free(&fc);
	fieldcrypt_free(&other);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_xchacha),
		cmocka_unit_test(test_roundtrip_aesgcm),
		cmocka_unit_test(test_default_alg),
		cmocka_unit_test(test_tamper),
		cmocka_unit_test(test_wrong_key),
		cmocka_unit_test(test_swapped_column),
		cmocka_unit_test(test_rotation),
		cmocka_unit_test(test_index),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
