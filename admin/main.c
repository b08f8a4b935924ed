/* mailbeacon(1): the admin command. Parses the global options, loads the
 * configuration once, and runs one subcommand. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "admin.h"
#include "config.h"
#include "keyring.h"
#include "log.h"
#include "policy.h"
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
		"  report [--sender ADDR|@DOMAIN] [--since WHEN] [--until WHEN] [--message ID]\n"
		"         [--format table|csv|json|html]\n"
		"      opens, clicks and rates per message and per sender ('report --help':\n"
		"      the counting rules, the CSV columns and the JSON schema)\n"
		"  export --recipient ADDR | --sender ADDR   everything stored about them (JSON)\n"
		"  forget --recipient ADDR | --sender ADDR   erase it (opt-outs are kept)\n"
		"  purge [--vacuum]        delete what is older than retention_days\n"
		"  sync --from URL [--token-file FILE]\n"
		"      pull events and opt-outs from a beacon on another host (resumable)\n"
		"options:\n"
		"  -c FILE   configuration (default %s)\n", DEFAULT_CONFIG);
}

static char *
read_file(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0;

	if (f == NULL) {
		snprintf(err, errlen, "%s: cannot open: %m", path);
		return NULL;
	}
	for (;;) {
		if (cap - len < 4096) {
			char *n = realloc(buf, cap + 65536);
			if (n == NULL)
				break;
			buf = n;
			cap += 65536;
		}
		size_t r = fread(buf + len, 1, cap - len - 1, f);
		len += r;
		if (r == 0 || len > 1024 * 1024)
			break;
	}
	if (buf == NULL || ferror(f) || len > 1024 * 1024) {
		snprintf(err, errlen, "%s: cannot read (or larger than 1 MB)", path);
		free(buf);
		buf = NULL;
	} else {
		buf[len] = '\0';
	}
	fclose(f);
	return buf;
}

/* Declared in rewrite/footer.h; kept local to avoid pulling the header. */
int footer_check(const char *tmpl, char *err, size_t errlen);

static int
load_footer(const char *path, char **out, char *err, size_t errlen)
{
	char why[160];

	*out = NULL;
	if (path == NULL)
		return 0;
	if ((*out = read_file(path, err, errlen)) == NULL)
		return -1;
	if (footer_check(*out, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "%s: %s", path, why);
		return -1;
	}
	return 0;
}

int
admin_load(struct admin_env *env)
{
	char err[512];

	env->cfg = calloc(1, sizeof(*env->cfg));
	env->keys = calloc(1, sizeof(*env->keys));
	env->policy = calloc(1, sizeof(*env->policy));
	if (env->cfg == NULL || env->keys == NULL || env->policy == NULL) {
		fprintf(stderr, "mailbeacon: out of memory\n");
		return EXIT_RUNTIME;
	}
	if (config_load(env->config_path, env->cfg, err, sizeof(err)) < 0 ||
	    keyring_load(env->cfg->key_file, env->keys, err, sizeof(err)) < 0 ||
	    policy_load(env->cfg->policy_file, env->policy, err, sizeof(err)) < 0 ||
	    load_footer(env->cfg->footer_html, &env->footer_html, err, sizeof(err)) < 0 ||
	    load_footer(env->cfg->footer_text, &env->footer_text, err, sizeof(err)) < 0) {
		fprintf(stderr, "mailbeacon: %s\n", err);
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
}

int
main(int argc, char **argv)
{
	struct admin_env env = { .config_path = DEFAULT_CONFIG };
	int i = 1, rc;

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
			/* "COMMAND --help" of report, export, forget, purge: their
			 * own usage, without loading the configuration. */
			if (k > 1 && strcmp(argv[1], "report") == 0)
				report_usage(stdout);
			else if (k > 1 && (strcmp(argv[1], "export") == 0 ||
			    strcmp(argv[1], "forget") == 0 || strcmp(argv[1], "purge") == 0))
				data_usage(stdout);
			else if (k > 1 && strcmp(argv[1], "sync") == 0)
				sync_usage(stdout);
			else
				usage(stdout);
			return 0;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *cmd = argv[i];
	if (strcmp(cmd, "preview") != 0 && strcmp(cmd, "token") != 0 && strcmp(cmd, "policy") != 0 &&
	    strcmp(cmd, "optout") != 0 && strcmp(cmd, "report") != 0 &&
	    strcmp(cmd, "export") != 0 && strcmp(cmd, "forget") != 0 &&
	    strcmp(cmd, "purge") != 0 && strcmp(cmd, "sync") != 0) {
		fprintf(stderr, "mailbeacon: unknown command '%s'\n", cmd);
		usage(stderr);
		return EXIT_USAGE;
	}
	if ((rc = admin_load(&env)) != 0) {
		admin_free(&env);
		return rc;
	}
	if (strcmp(cmd, "preview") == 0)
		rc = cmd_preview(&env, argc - i, argv + i);
	else if (strcmp(cmd, "token") == 0)
		rc = cmd_token(&env, argc - i, argv + i);
	else if (strcmp(cmd, "optout") == 0)
		rc = cmd_optout(&env, argc - i, argv + i);
	else if (strcmp(cmd, "report") == 0)
		rc = cmd_report(&env, argc - i, argv + i);
	else if (strcmp(cmd, "export") == 0)
		rc = cmd_export(&env, argc - i, argv + i);
	else if (strcmp(cmd, "forget") == 0)
		rc = cmd_forget(&env, argc - i, argv + i);
	else if (strcmp(cmd, "purge") == 0)
		rc = cmd_purge(&env, argc - i, argv + i);
	else if (strcmp(cmd, "sync") == 0)
		rc = cmd_sync(&env, argc - i, argv + i);
	else
		rc = cmd_policy(&env, argc - i, argv + i);
	admin_free(&env);
	return rc;
}
