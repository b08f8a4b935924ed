/* token: the signed paths of tracking URLs (after BEACON/):
 *   o/<msgid>.<sent>.<kid>.<tag>.gif
 *   c/<msgid>.<sent>.<link>.<kid>.<tag>/<base64url(destination)>
 *   u/<msgid>.<sent>.<kid>.<tag>
 *   a/<msgid>.<sent>.<kid>.<tag>	(the ask footer's consent page)
 * <tag> is HMAC-SHA-256, truncated to 128 bits, over the kind and every other
 * field (destination included), compared in constant time. */
#ifndef MB_TOKEN_H
#define MB_TOKEN_H
#include <stddef.h>
#include <time.h>
#include "keyring.h"
#include "mbuf.h"

#define MSGID_BYTES 16
#define MSGID_LEN 22		/* base64url of 16 bytes */
#define TOKEN_TAG_BYTES 16
#define TOKEN_DEST_MAX 8192	/* longest destination URL we sign */
#define TOKEN_PATH_MAX (64 + KEY_ID_MAX + TOKEN_DEST_MAX * 4 / 3 + 8)

enum token_kind { TOKEN_OPEN = 'o', TOKEN_CLICK = 'c', TOKEN_OPTOUT = 'u', TOKEN_CONSENT = 'a' };

struct token {
	enum token_kind kind;
	char msgid[MSGID_LEN + 1];
	long long sent;		/* Unix time of sending */
	unsigned link;		/* click only: link number, from 1 */
	char kid[KEY_ID_MAX + 1];	/* filled by token_format and token_verify */
	char *dest;		/* click only; NUL-terminated; owned */
	size_t dest_len;
};

enum token_status {
	TOKEN_OK = 0,
	TOKEN_MALFORMED,	/* syntax, length, non-canonical encoding */
	TOKEN_UNKNOWN_KEY,
	TOKEN_BAD_TAG,
};

/* 128 random bits, base64url. */
int msgid_generate(char out[MSGID_LEN + 1]);
/* Appends the path for t (without leading slash), signed with kr->keys[0];
 * t->kid is set. Returns -1 on bad fields or out of memory. */
int token_format(const struct keyring *kr, struct token *t, struct mbuf *out);
/* Parses and verifies a path as token_format writes it (no leading slash,
 * no query string). The tag is checked before the fields are trusted. */
enum token_status token_verify(const struct keyring *kr, const char *path,
			       size_t len, struct token *out);
void token_clear(struct token *t);
const char *token_status_str(enum token_status s);

#endif
