/* keyring: the key_file, lines "KEYID SECRET". The first key signs new
 * tokens; every key listed still verifies, which is how keys are rotated. */
#ifndef MB_KEYRING_H
#define MB_KEYRING_H
#include <stddef.h>
#include <sodium.h>

#define KEY_ID_MAX 16		/* [A-Za-z0-9_-]{1,16} */
#define KEY_SECRET_MIN 32	/* bytes after base64url decoding */
#define KEY_SECRET_MAX 64

struct key {
	char id[KEY_ID_MAX + 1];
	unsigned char secret[KEY_SECRET_MAX];
	size_t secret_len;
	/* HMAC-SHA-256 keyed with secret, its key pads hashed once here:
	 * a token's MAC starts from a copy (token.c). */
	crypto_auth_hmacsha256_state mac;
};

struct keyring {
	struct key *keys;	/* keys[0] is the current signing key */
	size_t n;
};

/* Secrets are unpadded base64url of 32..64 random bytes. The file must not
 * be readable by others. Errors are "FILE:LINE: reason". */
int keyring_load(const char *path, struct keyring *kr, char *err, size_t errlen);
/* Parses the same format from memory (for tests and tools). */
int keyring_parse(const char *name, const char *text, struct keyring *kr,
		  char *err, size_t errlen);
void keyring_free(struct keyring *kr);
const struct key *keyring_find(const struct keyring *kr, const char *id, size_t idlen);

#endif
