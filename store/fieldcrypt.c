/* fieldcrypt: seals and opens the stored fields under the data key
 * (libsodium's AEADs) and makes their blind indexes; the one place that
 * knows the format of an encrypted value. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fieldcrypt.h"

/* crypto_kdf's context: 8 characters naming what the subkeys are for. */
#define FIELDCRYPT_KDF_CONTEXT "mbfield_"
#define FIELDCRYPT_SUBKEY_AEAD 1
#define FIELDCRYPT_SUBKEY_INDEX 2
#define FIELDCRYPT_TAG_LEN 16
#define FIELDCRYPT_HEADER_MAX (3 + KEY_ID_MAX)

static size_t
nonce_len(int alg)
{
	switch (alg) {
	case FIELDCRYPT_AES256GCM:
		return crypto_aead_aes256gcm_NPUBBYTES;
	case FIELDCRYPT_XCHACHA20POLY1305:
		return crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
	default:
		return 0;
	}
}

int
fieldcrypt_init(struct fieldcrypt *fc, const struct keyring *kr, char *err, size_t errlen)
{
	unsigned char master[crypto_kdf_KEYBYTES];
	size_t i;

	memset(fc, 0, sizeof(*fc));
	if (sodium_init() < 0) {
		snprintf(err, errlen, "libsodium failed to start");
		return -1;
	}
	if (kr->n == 0) {
		snprintf(err, errlen, "the data key file has no key");
		return -1;
	}
	if ((fc->keys = sodium_allocarray(kr->n, sizeof(*fc->keys))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	fc->n = kr->n;
	for (i = 0; i < kr->n; i++) {
		/* The file's secrets are 32 to 64 octets; crypto_kdf takes 32. */
		crypto_generichash(master, sizeof(master), kr->keys[i].secret,
				   kr->keys[i].secret_len, NULL, 0);
		memcpy(fc->keys[i].id, kr->keys[i].id, sizeof(fc->keys[i].id));
		crypto_kdf_derive_from_key(fc->keys[i].aead, sizeof(fc->keys[i].aead),
					   FIELDCRYPT_SUBKEY_AEAD, FIELDCRYPT_KDF_CONTEXT, master);
		crypto_kdf_derive_from_key(fc->keys[i].index, sizeof(fc->keys[i].index),
					   FIELDCRYPT_SUBKEY_INDEX, FIELDCRYPT_KDF_CONTEXT, master);
	}
	sodium_memzero(master, sizeof(master));
	fc->alg = crypto_aead_aes256gcm_is_available() ? FIELDCRYPT_AES256GCM
						       : FIELDCRYPT_XCHACHA20POLY1305;
	return 0;
}

int
fieldcrypt_load(struct fieldcrypt *fc, const char *path, char *err, size_t errlen)
{
	struct keyring kr = { 0 };

	memset(fc, 0, sizeof(*fc));
	if (keyring_load(path, &kr, err, errlen) < 0)
		return -1;
	int rc = fieldcrypt_init(fc, &kr, err, errlen);
	keyring_free(&kr);
	return rc;
}

void
fieldcrypt_free(struct fieldcrypt *fc)
{
	if (fc->keys != NULL)
		sodium_free(fc->keys);	/* wipes them */
	memset(fc, 0, sizeof(*fc));
}

/* The associated data: the value's header, then the column's name. */
static int
fieldcrypt_ad(struct mbuf *ad, const unsigned char *header, size_t hlen, const char *column)
{
	mbuf_init(ad);
	return mbuf_append(ad, (const char *)header, hlen) < 0 ||
	       mbuf_append(ad, column, strlen(column)) < 0 ? -1 : 0;
}

int
fieldcrypt_seal(const struct fieldcrypt *fc, const char *column, const void *plain,
		size_t len, struct mbuf *out)
{
	const struct fieldcrypt_key *k = &fc->keys[0];
	unsigned char header[FIELDCRYPT_HEADER_MAX];
	unsigned char nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
	size_t idlen = strlen(k->id), nlen = nonce_len(fc->alg);
	unsigned long long clen;
	struct mbuf ad;
	int rc = -1;

	header[0] = FIELDCRYPT_VERSION;
	header[1] = (unsigned char)fc->alg;
	header[2] = (unsigned char)idlen;
	memcpy(header + 3, k->id, idlen);
	randombytes_buf(nonce, nlen);
	if (fieldcrypt_ad(&ad, header, 3 + idlen, column) < 0)
		goto out;
	if (mbuf_append(out, (const char *)header, 3 + idlen) < 0 ||
	    mbuf_append(out, (const char *)nonce, nlen) < 0 ||
	    mbuf_reserve(out, len + FIELDCRYPT_TAG_LEN + 1) < 0)
		goto out;
	unsigned char *c = (unsigned char *)out->data + out->len;
	const unsigned char *m = plain, *a = (const unsigned char *)ad.data;
	if (fc->alg == FIELDCRYPT_AES256GCM)
		crypto_aead_aes256gcm_encrypt(c, &clen, m, len, a, ad.len, NULL, nonce, k->aead);
	else
		crypto_aead_xchacha20poly1305_ietf_encrypt(c, &clen, m, len, a, ad.len, NULL,
							   nonce, k->aead);
	out->len += (size_t)clen;
	out->data[out->len] = '\0';
	rc = 0;
out:
	mbuf_free(&ad);
	return rc;
}

/* Splits a sealed value: its header's length, its key, its nonce's length. */
static int
fieldcrypt_parse(const struct fieldcrypt *fc, const unsigned char *v, size_t len,
		 const struct fieldcrypt_key **key, size_t *hlen, size_t *nlen,
		 char *err, size_t errlen)
{
	size_t i;

	if (len < 3 || v[0] != FIELDCRYPT_VERSION || (*nlen = nonce_len(v[1])) == 0 ||
	    v[2] == 0 || v[2] > KEY_ID_MAX || len < 3 + (size_t)v[2] + *nlen + FIELDCRYPT_TAG_LEN) {
		snprintf(err, errlen, "not a value sealed by this version of mailbeacon");
		return -1;
	}
	*hlen = 3 + (size_t)v[2];
	for (i = 0; i < fc->n; i++)
		if (strlen(fc->keys[i].id) == v[2] && memcmp(fc->keys[i].id, v + 3, v[2]) == 0) {
			*key = &fc->keys[i];
			return 0;
		}
	snprintf(err, errlen, "sealed under data key '%.*s', which the data key file does not have",
		 (int)v[2], (const char *)v + 3);
	return -1;
}

int
fieldcrypt_open(const struct fieldcrypt *fc, const char *column, const void *sealed,
		size_t len, struct mbuf *out, char *err, size_t errlen)
{
	const unsigned char *v = sealed;
	const struct fieldcrypt_key *k;
	size_t hlen, nlen;
	unsigned long long mlen;
	struct mbuf ad;
	int rc;

	if (fieldcrypt_parse(fc, v, len, &k, &hlen, &nlen, err, errlen) < 0)
		return -1;
	if (fieldcrypt_ad(&ad, v, hlen, column) < 0 ||
	    mbuf_reserve(out, len - hlen - nlen - FIELDCRYPT_TAG_LEN + 1) < 0) {
		mbuf_free(&ad);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	const unsigned char *nonce = v + hlen, *c = v + hlen + nlen, *a = (const unsigned char *)ad.data;
	unsigned char *m = (unsigned char *)out->data + out->len;
	size_t clen = len - hlen - nlen;
	if (v[1] == FIELDCRYPT_AES256GCM)
		rc = crypto_aead_aes256gcm_is_available()
			? crypto_aead_aes256gcm_decrypt(m, &mlen, NULL, c, clen, a, ad.len, nonce, k->aead)
			: -2;
	else
		rc = crypto_aead_xchacha20poly1305_ietf_decrypt(m, &mlen, NULL, c, clen, a, ad.len,
								nonce, k->aead);
	mbuf_free(&ad);
	if (rc == -2) {
		snprintf(err, errlen, "sealed with AES-256-GCM, which this CPU cannot run");
		return -1;
	}
	if (rc != 0) {
		snprintf(err, errlen, "a sealed value failed authentication (altered, moved "
			 "from another column, or data key '%s' is not the key it was sealed with)",
			 k->id);
		return -1;
	}
	out->len += (size_t)mlen;
	out->data[out->len] = '\0';
	return 0;
}

const struct fieldcrypt_key *
fieldcrypt_key_of(const struct fieldcrypt *fc, const void *sealed, size_t len)
{
	const struct fieldcrypt_key *k;
	size_t hlen, nlen;
	char err[1];

	return fieldcrypt_parse(fc, sealed, len, &k, &hlen, &nlen, err, sizeof(err)) < 0 ? NULL : k;
}

void
fieldcrypt_index(const struct fieldcrypt *fc, size_t k, const char *column,
		 const void *value, size_t len, unsigned char out[FIELDCRYPT_INDEX_LEN])
{
	crypto_auth_hmacsha256_state st;

	/* The column's name and a NUL first: equal values of two columns
	 * have unrelated indexes. */
	crypto_auth_hmacsha256_init(&st, fc->keys[k].index, sizeof(fc->keys[k].index));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)column, strlen(column) + 1);
	crypto_auth_hmacsha256_update(&st, value, len);
	crypto_auth_hmacsha256_final(&st, out);
	sodium_memzero(&st, sizeof(st));
}
