/* base64url without padding (RFC 4648 section 5), as used in every tracking
 * URL. A thin layer over libsodium; decoding is strict and canonical. */
#ifndef MB_B64URL_H
#define MB_B64URL_H
#include <stddef.h>
#include "mbuf.h"

/* libsodium's encoder, in constant time: for secrets (key files). */
int b64url_encode(const void *bin, size_t len, struct mbuf *out);
/* The same output from a table, several times faster, in time that depends
 * on the bytes: for what is public anyway (a token's tag and destination,
 * encoded for every link of every message). */
int b64url_encode_public(const void *bin, size_t len, struct mbuf *out);
/* Returns the decoded length, or -1 when the input is not canonical
 * unpadded base64url (bad character, padding, non-zero trailing bits) or
 * does not fit in outmax. */
long b64url_decode(const char *s, size_t len, unsigned char *out, size_t outmax);

#endif
