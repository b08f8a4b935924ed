/* load: the one loader of mailbeacon.conf and the files it names (keys,
 * hash key, policy, footer templates, API token), for the milter, the
 * beacon and the admin command alike. Each program names the parts it
 * needs and where they go; the milter and the beacon also reload some. */
#ifndef MB_LOAD_H
#define MB_LOAD_H
#include <stddef.h>
#include "mbconfig.h"
#include "keyring.h"
#include "policy.h"
#include "store.h"

/* The largest footer template and API token file. */
#define LOAD_TEMPLATE_MAX (1024 * 1024)
#define LOAD_API_TOKEN_MAX 4096
/* The API token: one line of at least this many characters. */
#define LOAD_API_TOKEN_MIN 16

/* Where each part goes; a NULL member is a part not wanted. Zero-initialise
 * the targets: after an error some may be filled, and each one's own free
 * function (keyring_free, policy_free, free) releases it as usual. */
struct load_targets {
	struct config *cfg;		/* filled by load_all, read by load_named */
	struct keyring *keys;		/* key_file */
	struct policy *policy;		/* policy_file */
	struct store_hash_key *hash_key;	/* hash_key_file */
	/* footer_html and footer_text: the template text, or NULL when the
	 * setting is unset (the built-in footer). Each is checked with
	 * footer_check (rewrite/footer.h), given here so that the beacon,
	 * which has no footers, does not link the rewrite engine. */
	char **footer_html;
	char **footer_text;
	int (*footer_check)(const char *tmpl, char *err, size_t errlen);
	/* footer_ask_html and footer_ask_text (consent=optin's ask footer),
	 * the same way, each checked with footer_check_ask. */
	char **footer_ask_html;
	char **footer_ask_text;
	int (*footer_check_ask)(const char *tmpl, char *err, size_t errlen);
	/* api_token_file: the bearer token, or NULL when the setting is unset
	 * (the events API is off). Read as a secret: a file that others can
	 * read is refused. Trailing blanks and line ends are not part of it. */
	char **api_token;
};

/* Reads config_path into t->cfg, then the parts t names (load_named).
 * Returns 0, or -1 with "reason" in err (each reason names its file, and
 * its line where it has one). */
int load_all(const char *config_path, const struct load_targets *t, char *err, size_t errlen);
/* Reads the parts t names from the files that t->cfg (already loaded)
 * names, in this order: keys, policy, hash key, footers, API token; stops
 * at the first error. For reloads: the old parts stay in use until this
 * has succeeded. */
int load_named(const struct load_targets *t, char *err, size_t errlen);

#endif
