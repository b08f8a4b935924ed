/* b64url: unpadded base64url for tracking URLs. Decoding must be canonical
 * (one spelling per value) so that a token cannot be varied without
 * changing its bytes; libsodium already refuses non-zero trailing bits. */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <sodium.h>
#include <string.h>

#include "b64url.h"

int
b64url_encode(const void *bin, size_t len, struct mbuf *out)
{
	char stackbuf[512], *dst;
	size_t enclen;
	int rc;

	if (len > (SIZE_MAX - 8) / 4 * 3) {
		out->failed = 1;
		return -1;
	}
	enclen = sodium_base64_encoded_len(len,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	/* Tokens are short: the stack serves them; destinations may not be. */
	if (enclen <= sizeof(stackbuf))
		dst = stackbuf;
	else if ((dst = malloc(enclen)) == NULL) {
		out->failed = 1;
		return -1;
	}
	sodium_bin2base64(dst, enclen, bin, len,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	rc = mbuf_append(out, dst, enclen - 1);
	if (dst != stackbuf)
		free(dst);
	return rc;
}

int
b64url_encode_public(const void *bin, size_t len, struct mbuf *out)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	const unsigned char *s = bin;
	char chunk[512];
	size_t n = 0, i = 0;

	/* Three octets make four characters; the chunk is appended when full. */
	for (; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
		chunk[n++] = alphabet[v >> 18];
		chunk[n++] = alphabet[(v >> 12) & 63];
		chunk[n++] = alphabet[(v >> 6) & 63];
		chunk[n++] = alphabet[v & 63];
		if (n + 4 > sizeof(chunk)) {
			if (mbuf_append(out, chunk, n) < 0)
				return -1;
			n = 0;
		}
	}
	if (len - i == 1) {
		chunk[n++] = alphabet[s[i] >> 2];
		chunk[n++] = alphabet[(s[i] & 3) << 4];
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)s[i] << 8 | s[i + 1];
		chunk[n++] = alphabet[v >> 10];
		chunk[n++] = alphabet[(v >> 4) & 63];
		chunk[n++] = alphabet[(v & 15) << 2];
	}
	return mbuf_append(out, chunk, n);
}

/* Length of the decoded data of n base64 characters, or -1 for a length no
 * canonical encoding has (one character left over). */
static long
b64url_declen(size_t n)
{
	if (n % 4 == 1)
		return -1;
	return (long)(n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0));
}

long
b64url_decode(const char *s, size_t len, unsigned char *out, size_t outmax)
{
	size_t binlen;
	const char *end;
	long want;
	size_t i;

	if (len > (size_t)LONG_MAX / 3 * 4 / 2)
		return -1;
	if ((want = b64url_declen(len)) < 0 || (size_t)want > outmax)
		return -1;
	/* sodium_base642bin stops at a NUL; we want every byte checked. */
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return -1;
	}
	if (len == 0)
		return 0;
	if (sodium_base642bin(out, outmax, s, len, NULL, &binlen, &end,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
		return -1;
	if (end != s + len || binlen != (size_t)want)
		return -1;
	return (long)binlen;
}
