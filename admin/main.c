/* mailbeacon(1): the admin command. Parses the global options, loads the
 * configuration and what it names once (common/load.c, as the daemons do),
 * and runs one subcommand. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "admin.h"
#include "footer.h"
#include "load.h"
#include "log.h"
#include "autoconf.h"

#define DEFAULT_CONFIG SYSCONFDIR "/mailbeacon/mailbeacon.conf"

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: mailbeacon [-c FILE] COMMAND [ARGS]\n"
		"commands:\n"
		"  preview --from ADDR --to ADDR[,ADDR...] [--message-id ID --sent TIME] < message\n"
		"      print the message as the milter would deliver it (with the id and\n"
		"      time of a recorded message: exactly as it was delivered)\n"
		"  token verify [URL...]   check tracking URLs (or one per line on stdin)\n"
		"  policy check ADDRESS    show the sender policy decision and its rule\n"
		"  optout ADDRESS...       record that these recipients must not be tracked\n"
		"  consent --sender A ADDRESS... [--source TEXT] | --list [--sender A]\n"
		"      record consents given outside mail (consent=optin), or list them\n"
		"  report [--sender ADDR|@DOMAIN] [--since WHEN] [--until WHEN] [--message ID]\n"
		"         [--format table|csv|json|html]\n"
		"      opens, clicks and rates per message and per sender ('report --help':\n"
		"      the counting rules, the CSV columns and the JSON schema)\n"
		"  export --recipient ADDR | --sender ADDR   everything stored about them (JSON)\n"
		"  forget --recipient ADDR | --sender ADDR   erase it (opt-outs are kept)\n"
		"  purge [--vacuum]        delete what is older than retention_days\n"
		"  digest [--period daily|weekly] [--since WHEN]\n"
		"      mail each sender with digest= in the policy their own report\n"
		"  sync --from URL [--token-file FILE]\n"
		"      pull events and opt-outs from a beacon on another host (resumable)\n"
		"  keygen [--id KEYID] [--hash | --data] [--group GROUP] [-o FILE]\n"
		"      make a signing key (put first in FILE: rotation) or the hash key\n"
		"  db status|migrate       the database's backend, schema and row counts; create\n"
		"      or migrate its schema (as the owner of a PostgreSQL schema)\n"
		"options:\n"
		"  -c FILE   configuration (default %s)\n", DEFAULT_CONFIG);
}

int
admin_load(struct admin_env *env)
{
	char err[512];

	env->cfg = calloc(1, sizeof(*env->cfg));
	env->keys = calloc(1, sizeof(*env->keys));
	env->policy = calloc(1, sizeof(*env->policy));
	if (env->cfg == NULL || env->keys == NULL || env->policy == NULL) {
		log_warnx("out of memory");
		return EXIT_RUNTIME;
	}
	struct load_targets t = { .cfg = env->cfg, .keys = env->keys, .policy = env->policy,
				  .footer_html = &env->footer_html, .footer_text = &env->footer_text,
				  .footer_check = footer_check,
				  .footer_ask_html = &env->footer_ask_html,
				  .footer_ask_text = &env->footer_ask_text,
				  .footer_check_ask = footer_check_ask };
	if (load_all(env->config_path, &t, err, sizeof(err)) < 0) {
		log_warnx("%s", err);
		return EXIT_USAGE;
	}
	return 0;
}

void
admin_free(struct admin_env *env)
{
	if (env->cfg)
		config_free(env->cfg);
	if (env->keys)
		keyring_free(env->keys);
	if (env->policy)
		policy_free(env->policy);
	free(env->cfg);
	free(env->keys);
	free(env->policy);
	free(env->footer_html);
	free(env->footer_text);
	free(env->footer_ask_html);
	free(env->footer_ask_text);
}

/* Usage of the subcommands that have no function of their own. */
static void
preview_usage(FILE *f)
{
	fprintf(f, "usage: mailbeacon [-c FILE] preview --from ADDR --to ADDR[,ADDR...] "
		"[--message-id ID --sent UNIXTIME] < message\n"
		"Writes the message as the milter would deliver it; nothing is stored. When it\n"
		"would be left untouched, writes it unchanged and the reason on standard error.\n"
		"With the id and send time of a recorded message: exactly as it was delivered.\n");
}

static void
token_usage(FILE *f)
{
	fprintf(f, "usage: mailbeacon [-c FILE] token verify [URL...]\n"
		"Checks tracking URLs (or one per line on standard input) with the key file:\n"
		"ok<TAB>KIND<TAB>MESSAGE<TAB>SENT<TAB>LINK<TAB>KEYID<TAB>DESTINATION, or\n"
		"bad<TAB>REASON<TAB>URL. Exit 2 when any is bad.\n");
}

static void
policy_usage(FILE *f)
{
	fprintf(f, "usage: mailbeacon [-c FILE] policy check ADDRESS\n"
		"Prints the sender policy's decision for ADDRESS and the rule (file:line) that made it.\n");
}

static void
optout_usage(FILE *f)
{
	fprintf(f, "usage: mailbeacon [-c FILE] optout ADDRESS...\n"
		"Records that mail to these recipients must not be tracked, as the footer link does.\n");
}

/* One row per subcommand: what runs it and what --help prints. */
static const struct command {
	const char *name;
	int (*run)(struct admin_env *env, int argc, char **argv);
	void (*usage)(FILE *f);
	bool needs_config;	/* keygen runs before any key file exists */
} commands[] = {
	{ "preview", cmd_preview, preview_usage, true },
	{ "token", cmd_token, token_usage, true },
	{ "policy", cmd_policy, policy_usage, true },
	{ "optout", cmd_optout, optout_usage, true },
	{ "consent", cmd_consent, consent_usage, true },
	{ "report", cmd_report, report_usage, true },
	{ "export", cmd_export, data_usage, true },
	{ "forget", cmd_forget, data_usage, true },
	{ "purge", cmd_purge, data_usage, true },
	{ "sync", cmd_sync, sync_usage, true },
	{ "digest", cmd_digest, digest_usage, true },
	{ "keygen", cmd_keygen, keygen_usage, false },
	{ "db", cmd_db, db_usage, true },
};

static const struct command *
find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

int
main(int argc, char **argv)
{
	struct admin_env env = { .config_path = DEFAULT_CONFIG };
	int rc;

	log_init("mailbeacon", 1);
	/* -c may come before or after the command name. */
	for (int k = 1; k < argc; k++) {
		if (strcmp(argv[k], "-c") == 0) {
			if (k + 1 >= argc) {
				usage(stderr);
				return EXIT_USAGE;
			}
			env.config_path = argv[k + 1];
			memmove(&argv[k], &argv[k + 2], (size_t)(argc - k - 1) * sizeof(*argv));
			argc -= 2;
			k--;
		} else if (strcmp(argv[k], "-h") == 0 || strcmp(argv[k], "--help") == 0) {
			/* "COMMAND --help": its own usage, without the configuration. */
			const struct command *c = k > 1 ? find_command(argv[1]) : NULL;
			if (c != NULL)
				c->usage(stdout);
			else
				usage(stdout);
			return 0;
		}
	}
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	const struct command *c = find_command(argv[1]);
	if (c == NULL) {
		log_warnx("unknown command '%s'", argv[1]);
		usage(stderr);
		return EXIT_USAGE;
	}
	if (c->needs_config && (rc = admin_load(&env)) != 0) {
		admin_free(&env);
		return rc;
	}
	rc = c->run(&env, argc - 1, argv + 1);
	admin_free(&env);
	return rc;
}
