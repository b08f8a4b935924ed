/* mailbeacon consent: records consent=optin consents given outside mail (a
 * signed contract, a form on paper), and lists the consents with their
 * proof. Recipients are stored and listed only as keyed hashes. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sodium.h>
#include "address.h"
#include "admin.h"
#include "consent.h"
#include "log.h"
#include "mbconfig.h"
#include "report_fmt.h"
#include "store.h"

/* The source of a consent given without our notice, when --source is not
 * given. */
#define CONSENT_DEFAULT_SOURCE "mailbeacon consent"

void
consent_usage(FILE *f)
{
	fprintf(f, "usage: mailbeacon [-c FILE] consent --sender ADDR ADDRESS... [--source TEXT]\n"
		"       mailbeacon [-c FILE] consent --list [--sender ADDR]\n"
		"Records that these recipients consented outside mail (TEXT says where: a\n"
		"contract, a form) to tracking of mail from ADDR under consent=optin; or lists\n"
		"the consents: recipient hash, sender, time, source (or message), notice\n"
		"version, and whether it was withdrawn (the recipient stopped tracking).\n");
}

static int
list_line(void *arg, const struct store_consent *c)
{
	char hex[2 * STORE_HASH_LEN + 1], t[32], w[32] = "";

	(void)arg;
	sodium_bin2hex(hex, sizeof(hex), c->recipient_hash, STORE_HASH_LEN);
	fmt_iso(c->time, t);
	if (c->withdrawn)
		fmt_iso(c->withdrawn_time, w);
	printf("%s\t%s\t%s\t%s%s\t%s\t%s%s\n", hex, c->sender, t,
	       c->source ? c->source : "message ", c->source ? "" : c->message_id ? c->message_id : "",
	       c->notice_version, c->withdrawn ? "withdrawn " : "live", w);
	return 0;
}

static int
consent_list(struct store *st, const char *sender)
{
	char err[1024];

	printf("recipient_hash\tsender\ttime\tsource\tnotice_version\tstate\n");
	if (store_consent_list(st, sender, NULL, list_line, NULL, err, sizeof(err)) != 0) {
		log_warnx("%s", err);
		return EXIT_RUNTIME;
	}
	return fflush(stdout) == EOF ? EXIT_RUNTIME : 0;
}

/* A consent given outside mail has no notice of ours: its version is the
 * hash of the source text, what the person agreed to as far as we know. */
static void
source_version(const char *source, char out[2 * 16 + 1])
{
	unsigned char h[16];

	crypto_generichash(h, sizeof(h), (const unsigned char *)source, strlen(source), NULL, 0);
	sodium_bin2hex(out, 2 * 16 + 1, h, sizeof(h));
}

static int
consent_add(struct admin_env *env, struct store *st, const char *sender, char **addrs,
	    int n, const char *source)
{
	struct store_hash_key key;
	char err[1024], version[2 * 16 + 1];
	int ret = 0;

	if (store_hash_key_load(env->cfg->hash_key_file, &key, err, sizeof(err)) < 0) {
		log_warnx("%s", err);
		return EXIT_USAGE;
	}
	source_version(source, version);
	for (int i = 0; i < n && ret == 0; i++) {
		unsigned char hash[STORE_HASH_LEN];
		store_recipient_hash(&key, addrs[i], hash);
		int rc = store_consent_add(st, hash, sender, (long long)time(NULL), NULL, source,
					   version, err, sizeof(err));
		int out = rc == 1 ? store_optout_exists(st, hash) : 0;
		if (rc < 0 || out < 0) {
			log_warnx("%s: %s", addrs[i], rc < 0 ? err : store_errmsg(st));
			ret = EXIT_RUNTIME;
		} else if (out > 0) {
			printf("%s: not recorded: this recipient stopped tracking, and a consent "
			       "does not undo that\n", addrs[i]);
		} else {
			printf("%s: consent to tracking of mail from %s %s (notice version %s)\n",
			       addrs[i], sender, rc == 0 ? "recorded" : "was recorded already",
			       version);
		}
	}
	sodium_memzero(&key, sizeof(key));
	return ret;
}

int
cmd_consent(struct admin_env *env, int argc, char **argv)
{
	const char *sender_arg = NULL, *source = NULL;
	bool list = false, bad = false;
	char **addrs = calloc((size_t)argc, sizeof(*addrs));
	char *sender = NULL;
	int n = 0, rc;

	if (addrs == NULL) {
		log_warnx("out of memory");
		return EXIT_RUNTIME;
	}
	for (int i = 1; i < argc && !bad; i++) {
		if (strcmp(argv[i], "--list") == 0)
			list = true;
		else if (strcmp(argv[i], "--sender") == 0 && i + 1 < argc && sender_arg == NULL)
			sender_arg = argv[++i];
		else if (strcmp(argv[i], "--source") == 0 && i + 1 < argc && source == NULL)
			source = argv[++i];
		else if (argv[i][0] != '-' && strchr(argv[i], '@') != NULL)
			addrs[n++] = argv[i];
		else
			bad = true;
	}
	if (bad || (list ? (n > 0 || source != NULL) : (sender_arg == NULL || n == 0)) ||
	    (source != NULL && *source == '\0')) {
		consent_usage(stderr);
		free(addrs);
		return EXIT_USAGE;
	}
	if (sender_arg != NULL &&
	    (strchr(sender_arg, '@') == NULL || (sender = address_canonical(sender_arg)) == NULL)) {
		log_warnx("--sender %s: not an address", sender_arg);
		free(addrs);
		return EXIT_USAGE;
	}
	struct store *st;
	char err[1024];
	if (store_open_config(env->cfg, list ? STORE_FOR_REPORT : STORE_FOR_WRITES, !list, 5000,
			      &st, err, sizeof(err)) < 0) {
		rc = admin_store_failed(env, err);
	} else {
		rc = list ? consent_list(st, sender)
		    : consent_add(env, st, sender, addrs, n, source ? source : CONSENT_DEFAULT_SOURCE);
		store_close(st);
	}
	free(sender);
	free(addrs);
	return rc;
}
