/* mailbeacon optout: records by hand that a recipient does not want to be
 * tracked (they asked by phone, or wrote to the postmaster). The milter
 * leaves mail to them untouched from then on, as after the footer link. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "admin.h"
#include "mbconfig.h"
#include "log.h"
#include "store.h"

int
cmd_optout(struct admin_env *env, int argc, char **argv)
{
	struct store_hash_key key;
	struct store *st;
	char err[512];
	int rc = 0;

	if (argc < 2 || strchr(argv[1], '@') == NULL) {
		fprintf(stderr, "usage: mailbeacon optout ADDRESS...\n");
		return EXIT_USAGE;
	}
	if (store_hash_key_load(env->cfg->hash_key_file, &key, err, sizeof(err)) < 0) {
		log_warnx("%s", err);
		return EXIT_USAGE;
	}
	if (store_open_config(env->cfg, STORE_FOR_WRITES, true, 5000, &st, err, sizeof(err)) < 0)
		return admin_store_failed(env, err);
	for (int i = 1; i < argc; i++) {
		unsigned char hash[STORE_HASH_LEN];
		store_recipient_hash(&key, argv[i], hash);
		if (store_optout_add(st, hash, (long long)time(NULL), NULL) < 0) {
			log_warnx("%s: %s", argv[i], store_errmsg(st));
			rc = EXIT_RUNTIME;
			break;
		}
		printf("%s: opted out; mail to this address is no longer tracked\n", argv[i]);
	}
	store_close(st);
	return rc;
}
