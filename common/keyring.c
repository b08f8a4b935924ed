/* keyring: the key_file that signs and verifies tracking tokens. The first
 * key signs; the others only verify, so a key is rotated by putting a new
 * one first and dropping the old one after the mail it signed has aged. */
#include <sys/types.h>
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "b64url.h"
#include "fileline.h"
#include "keyring.h"
#include "secret.h"
#include "mbuf.h"

#define KEYRING_FILE_MAX	(256 * 1024)

static int
keyring_valid_id(const char *s, size_t len)
{
	size_t i;

	if (len < 1 || len > KEY_ID_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!isalnum(c) && c != '-' && c != '_')
			return 0;
	}
	return 1;
}

static int
keyring_add(struct keyring *kr, const char *id, size_t idlen,
	    const unsigned char *secret, size_t secretlen)
{
	struct key *nk;

	nk = reallocarray(kr->keys, kr->n + 1, sizeof(*nk));
	if (nk == NULL)
		return -1;
	kr->keys = nk;
	nk = &kr->keys[kr->n++];
	memset(nk, 0, sizeof(*nk));
	memcpy(nk->id, id, idlen);
	memcpy(nk->secret, secret, secretlen);
	nk->secret_len = secretlen;
	if (sodium_init() < 0 ||
	    crypto_auth_hmacsha256_init(&nk->mac, secret, secretlen) != 0) {
		sodium_memzero(nk, sizeof(*nk));
		kr->n--;
		return -1;
	}
	return 0;
}

/* One non-comment line: "KEYID SECRET". */
static int
keyring_line(struct keyring *kr, const char *name, int lineno,
	     const char *p, const char *end, char *err, size_t errlen)
{
	unsigned char secret[KEY_SECRET_MAX + 3];
	const char *id, *sec;
	size_t idlen, seclen;
	long n;
	int rc;

	id = p;
	while (p < end && !isspace((unsigned char)*p))
		p++;
	idlen = (size_t)(p - id);
	while (p < end && isspace((unsigned char)*p))
		p++;
	sec = p;
	while (p < end && !isspace((unsigned char)*p))
		p++;
	seclen = (size_t)(p - sec);
	while (p < end && isspace((unsigned char)*p))
		p++;
	if (!keyring_valid_id(id, idlen))
		return fileline_format(err, errlen, name, lineno,
		    "bad key id '%.*s': expected 1 to %d of A-Z a-z 0-9 - _",
		    (int)(idlen > 40 ? 40 : idlen), id, KEY_ID_MAX);
	if (seclen == 0)
		return fileline_format(err, errlen, name, lineno,
		    "missing secret after key id '%.*s'", (int)idlen, id);
	if (p != end)
		return fileline_format(err, errlen, name, lineno,
		    "extra text after the secret of key '%.*s'", (int)idlen, id);
	if (keyring_find(kr, id, idlen) != NULL)
		return fileline_format(err, errlen, name, lineno,
		    "duplicate key id '%.*s'", (int)idlen, id);
	if (seclen > (KEY_SECRET_MAX * 4 + 2) / 3)
		return fileline_format(err, errlen, name, lineno,
		    "secret of key '%.*s' is too long: expected %d to %d bytes",
		    (int)idlen, id, KEY_SECRET_MIN, KEY_SECRET_MAX);
	if ((n = b64url_decode(sec, seclen, secret, sizeof(secret))) < 0)
		return fileline_format(err, errlen, name, lineno,
		    "bad secret for key '%.*s': expected unpadded base64url",
		    (int)idlen, id);
	if (n < KEY_SECRET_MIN) {
		sodium_memzero(secret, sizeof(secret));
		return fileline_format(err, errlen, name, lineno,
		    "secret of key '%.*s' is too short: %ld bytes, expected "
		    "%d to %d", (int)idlen, id, n, KEY_SECRET_MIN,
		    KEY_SECRET_MAX);
	}
	rc = keyring_add(kr, id, idlen, secret, (size_t)n);
	sodium_memzero(secret, sizeof(secret));
	if (rc == -1)
		return fileline_format(err, errlen, name, lineno, "out of memory");
	return 0;
}

int
keyring_parse(const char *name, const char *text, struct keyring *kr,
	      char *err, size_t errlen)
{
	const char *p = text, *nl, *end, *s;
	int lineno = 0;

	kr->keys = NULL;
	kr->n = 0;
	if (errlen > 0)
		err[0] = '\0';
	while (*p != '\0') {
		nl = strchr(p, '\n');
		end = nl ? nl : p + strlen(p);
		lineno++;
		for (s = p; s < end && isspace((unsigned char)*s); s++)
			;
		if (s < end && *s != '#' &&
		    keyring_line(kr, name, lineno, s, end, err, errlen) == -1) {
			keyring_free(kr);
			return -1;
		}
		p = nl ? nl + 1 : end;
	}
	if (kr->n == 0)
		return fileline_format(err, errlen, name, 0, "no keys");
	return 0;
}

int
keyring_load(const char *path, struct keyring *kr, char *err, size_t errlen)
{
	struct mbuf text;
	int rc;

	kr->keys = NULL;
	kr->n = 0;
	mbuf_init(&text);
	if (secret_file_read(path, KEYRING_FILE_MAX, &text, err, errlen) == -1)
		return -1;
	rc = keyring_parse(path, text.data ? text.data : "", kr, err, errlen);
	if (text.data != NULL)
		sodium_memzero(text.data, text.cap);
	mbuf_free(&text);
	return rc;
}

void
keyring_free(struct keyring *kr)
{
	if (kr->keys != NULL)
		sodium_memzero(kr->keys, kr->n * sizeof(*kr->keys));
	free(kr->keys);
	kr->keys = NULL;
	kr->n = 0;
}

const struct key *
keyring_find(const struct keyring *kr, const char *id, size_t idlen)
{
	size_t i;

	if (idlen == 0 || idlen > KEY_ID_MAX)
		return NULL;
	for (i = 0; i < kr->n; i++) {
		if (strlen(kr->keys[i].id) == idlen &&
		    memcmp(kr->keys[i].id, id, idlen) == 0)
			return &kr->keys[i];
	}
	return NULL;
}
