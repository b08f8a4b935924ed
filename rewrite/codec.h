/* codec: Content-Transfer-Encoding decoders and encoders (RFC 2045).
 * Quoted-printable is written here because none of our libraries offers it;
 * base64 uses libsodium, with our own line wrapping. */
#ifndef MB_CODEC_H
#define MB_CODEC_H
#include <stddef.h>
#include "mbuf.h"

enum cte { CTE_7BIT, CTE_8BIT, CTE_BINARY, CTE_QP, CTE_BASE64, CTE_OTHER };

enum cte cte_from_name(const char *name, size_t len);
const char *cte_name(enum cte c);

/* Decoding is lenient where RFC 2045 asks decoders to be (QP: a malformed
 * "=" sequence is kept literally; trailing blanks are kept), strict where
 * being lenient would lose data (base64: any character outside the
 * alphabet other than white space, or data after the padding, is -1). */
int qp_decode(const char *in, size_t len, struct mbuf *out);
int b64_decode(const char *in, size_t len, struct mbuf *out);

/* eol is "\r\n" or "\n". QP lines are at most 76 octets; line breaks in the
 * input (CRLF or LF) become eol hard breaks. Base64 lines are 76 octets
 * and the output ends with eol. */
int qp_encode(const char *in, size_t len, const char *eol, struct mbuf *out);
int b64_encode(const char *in, size_t len, const char *eol, struct mbuf *out);

#endif
