/* fieldcrypt: encryption at rest of the stored fields that identify a
 * person or say what was sent (data_key_file), and the keyed blind indexes
 * that let the store find equal values without decrypting them. */
#ifndef MB_FIELDCRYPT_H
#define MB_FIELDCRYPT_H
#include <stddef.h>
#include <sodium.h>
#include "keyring.h"
#include "mbuf.h"

/* A sealed value: FIELDCRYPT_VERSION, the algorithm, the key id's length
 * and the key id, the nonce, then the ciphertext and its 16-octet tag. The
 * associated data is that header and the column's name, so a value opens
 * only under the key and in the column it was sealed for. */
#define FIELDCRYPT_VERSION 1
#define FIELDCRYPT_INDEX_LEN 32

enum fieldcrypt_alg {
	FIELDCRYPT_AES256GCM = 1,	/* where the CPU has AES-NI and CLMUL */
	FIELDCRYPT_XCHACHA20POLY1305 = 2,
};

/* The keys derived from one data key: one seals, one makes blind indexes. */
struct fieldcrypt_key {
	char id[KEY_ID_MAX + 1];
	unsigned char aead[32];
	unsigned char index[32];
};

struct fieldcrypt {
	struct fieldcrypt_key *keys;	/* keys[0] seals new values */
	size_t n;
	enum fieldcrypt_alg alg;	/* the algorithm new values are sealed with */
};

/* Derives the keys from the data key file's keyring (its first key is the
 * newest); kr can be freed afterwards. */
int fieldcrypt_init(struct fieldcrypt *fc, const struct keyring *kr, char *err, size_t errlen);
/* Reads data_key_file (the key_file's format, newest key first). */
int fieldcrypt_load(struct fieldcrypt *fc, const char *path, char *err, size_t errlen);
void fieldcrypt_free(struct fieldcrypt *fc);

/* Appends to out the value sealed under the newest key for column (a name
 * such as "messages.sender"). -1 only when out of memory. */
int fieldcrypt_seal(const struct fieldcrypt *fc, const char *column, const void *plain,
		    size_t len, struct mbuf *out);
/* Appends to out (NUL-terminated, the NUL not counted) the plaintext of a
 * value sealed for column. -1 with the reason: not a sealed value, a key id
 * the file does not have, or a value that fails authentication (tampered,
 * another key of the same id, another column). */
int fieldcrypt_open(const struct fieldcrypt *fc, const char *column, const void *sealed,
		    size_t len, struct mbuf *out, char *err, size_t errlen);
/* The id of the key a sealed value is under (for rekey), or NULL. */
const struct fieldcrypt_key *fieldcrypt_key_of(const struct fieldcrypt *fc, const void *sealed,
					       size_t len);
/* The blind index of value in column under keys[k]: HMAC-SHA-256 keyed with
 * a key derived from the data key, so equal values have equal indexes and
 * nothing else about them shows. */
void fieldcrypt_index(const struct fieldcrypt *fc, size_t k, const char *column,
		      const void *value, size_t len, unsigned char out[FIELDCRYPT_INDEX_LEN]);

#endif
