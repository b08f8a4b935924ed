/* load: reads mailbeacon.conf and, in one order and with one set of
 * messages, what it names. Secrets (keys, hash key, API token) are read
 * through secret_file_read, which refuses files that others can read. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>

#include "fieldcrypt.h"
#include "load.h"
#include "mbuf.h"
#include "secret.h"

static void
wipe(struct mbuf *b)
{
	if (b->data != NULL)
		sodium_memzero(b->data, b->cap);
	mbuf_free(b);
}

/* A footer template: UTF-8 text with known placeholders, at most 1 MB;
 * *out stays NULL when path is (the built-in footer). */
static int
load_template(const char *path, int (*check)(const char *, char *, size_t), char **out,
	      char *err, size_t errlen)
{
	struct mbuf b;
	char why[200];
	int fd;

	*out = NULL;
	if (path == NULL)
		return 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	mbuf_init(&b);
	int rc = mbuf_read_fd(&b, fd, LOAD_TEMPLATE_MAX);
	close(fd);
	if (rc < 0) {
		snprintf(err, errlen, "%s: cannot read it (or it is over 1 MB)", path);
		mbuf_free(&b);
		return -1;
	}
	*out = mbuf_steal(&b, NULL);
	if (*out == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (check != NULL && check(*out, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "%s: %s", path, why);
		return -1;
	}
	return 0;
}

/* The bearer token of /api/v1/events; *out stays NULL when path is. */
static int
load_api_token(const char *path, char **out, char *err, size_t errlen)
{
	struct mbuf b;

	*out = NULL;
	if (path == NULL)
		return 0;
	mbuf_init(&b);
	if (secret_file_read(path, LOAD_API_TOKEN_MAX, &b, err, errlen) < 0) {
		wipe(&b);
		return -1;
	}
	while (b.len > 0 && strchr("\n\r ", b.data[b.len - 1]) != NULL)
		b.data[--b.len] = '\0';
	if (b.len < LOAD_API_TOKEN_MIN) {
		snprintf(err, errlen, "%s: the API token must be one line of at least %d characters",
			 path, LOAD_API_TOKEN_MIN);
		wipe(&b);
		return -1;
	}
	*out = mbuf_steal(&b, NULL);
	return 0;
}

/* Encryption at rest is not in the store yet (issue 16): a store written
 * now would hold the fields in plaintext, so data_key_file is refused
 * rather than ignored, by every program, after its key file is checked. */
static int
load_data_key_refused(const char *path, char *err, size_t errlen)
{
	struct fieldcrypt fc;

	if (path == NULL)
		return 0;
	if (fieldcrypt_load(&fc, path, err, errlen) < 0)
		return -1;
	fieldcrypt_free(&fc);
	snprintf(err, errlen, "data_key_file = %s: this version of mailbeacon cannot encrypt "
		 "the store yet and would store its fields in plaintext; remove the setting", path);
	return -1;
}

int
load_named(const struct load_targets *t, char *err, size_t errlen)
{
	const struct config *cfg = t->cfg;

	if (load_data_key_refused(cfg->data_key_file, err, errlen) < 0)
		return -1;
	if (t->keys != NULL && keyring_load(cfg->key_file, t->keys, err, errlen) < 0)
		return -1;
	if (t->policy != NULL && policy_load(cfg->policy_file, t->policy, err, errlen) < 0)
		return -1;
	if (t->hash_key != NULL &&
	    store_hash_key_load(cfg->hash_key_file, t->hash_key, err, errlen) < 0)
		return -1;
	if (t->footer_html != NULL &&
	    load_template(cfg->footer_html, t->footer_check, t->footer_html, err, errlen) < 0)
		return -1;
	if (t->footer_text != NULL &&
	    load_template(cfg->footer_text, t->footer_check, t->footer_text, err, errlen) < 0)
		return -1;
	if (t->footer_ask_html != NULL &&
	    load_template(cfg->footer_ask_html, t->footer_check_ask, t->footer_ask_html, err,
			  errlen) < 0)
		return -1;
	if (t->footer_ask_text != NULL &&
	    load_template(cfg->footer_ask_text, t->footer_check_ask, t->footer_ask_text, err,
			  errlen) < 0)
		return -1;
	if (t->api_token != NULL && load_api_token(cfg->api_token_file, t->api_token, err, errlen) < 0)
		return -1;
	return 0;
}

int
load_all(const char *config_path, const struct load_targets *t, char *err, size_t errlen)
{
	if (config_load(config_path, t->cfg, err, errlen) < 0)
		return -1;
	return load_named(t, err, errlen);
}
