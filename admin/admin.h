/* admin: the subcommands of mailbeacon(1). Each returns the exit status:
 * 0 ok, 1 usage or configuration error, 2 runtime error. */
#ifndef MB_ADMIN_H
#define MB_ADMIN_H
#include <stdio.h>

#define EXIT_USAGE 1
#define EXIT_RUNTIME 2

struct config;
struct keyring;
struct policy;
struct store;

/* The configuration and what it names, loaded once for any subcommand. */
struct admin_env {
	const char *config_path;
	struct config *cfg;
	struct keyring *keys;
	struct policy *policy;
	char *footer_html;	/* template text or NULL (built-in) */
	char *footer_text;
	char *footer_ask_html;	/* consent=optin's ask footer, or NULL (built-in) */
	char *footer_ask_text;
};

/* Loads config, keys, policy and footers; prints "mailbeacon: reason" and
 * returns EXIT_USAGE on any error. */
int admin_load(struct admin_env *env);
void admin_free(struct admin_env *env);
/* Logs why the store could not be opened and returns the exit status:
 * EXIT_USAGE on PostgreSQL (connection string, role, password, a schema
 * from the future, an unreachable server: to fix in the configuration or
 * the database), EXIT_RUNTIME for a SQLite file that is missing or broken. */
int admin_store_failed(const struct admin_env *env, const char *err);

int cmd_preview(struct admin_env *env, int argc, char **argv);
int cmd_token(struct admin_env *env, int argc, char **argv);
int cmd_policy(struct admin_env *env, int argc, char **argv);
int cmd_optout(struct admin_env *env, int argc, char **argv);
/* report_cmd.c: report; data_cmd.c: export, forget, purge. The *_usage
 * functions print the subcommands' --help (no configuration needed). */
int cmd_report(struct admin_env *env, int argc, char **argv);
int cmd_export(struct admin_env *env, int argc, char **argv);
int cmd_forget(struct admin_env *env, int argc, char **argv);
int cmd_purge(struct admin_env *env, int argc, char **argv);
void report_usage(FILE *f);
/* report_cmd.c: the store opened for reading a report (report_database)
 * and its snapshot begun (store_report_begin): 0, or the exit status after
 * saying why. End with store_report_end and store_close. */
int report_store_open(struct admin_env *env, struct store **st);
void data_usage(FILE *f);
/* sync_cmd.c: sync --from URL, events and opt-outs from a remote beacon. */
int cmd_sync(struct admin_env *env, int argc, char **argv);
void sync_usage(FILE *f);
/* digest_cmd.c: digest, each digest= sender's own report by mail. */
int cmd_digest(struct admin_env *env, int argc, char **argv);
void digest_usage(FILE *f);
/* consent_cmd.c: consent --sender A ADDRESS... [--source TEXT], consent --list. */
int cmd_consent(struct admin_env *env, int argc, char **argv);
void consent_usage(FILE *f);
/* db_cmd.c: db status, db migrate. */
int cmd_db(struct admin_env *env, int argc, char **argv);
void db_usage(FILE *f);
/* keygen_cmd.c: keygen, which needs no configuration (env is unused). */
int cmd_keygen(struct admin_env *env, int argc, char **argv);
void keygen_usage(FILE *f);

#endif
