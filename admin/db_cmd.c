/* mailbeacon db: status (the backend, its schema version against this
 * program's, the rows of each table) and migrate (creates or brings forward
 * the schema: the owner's role does it when the daemons' role may not). */
#include <stdio.h>
#include <string.h>
#include "admin.h"
#include "mbconfig.h"
#include "log.h"
#include "store.h"

void
db_usage(FILE *f)
{
	fprintf(f, "usage: mailbeacon [-c FILE] db status|migrate\n"
		"  status    the database (never its password), its schema version and this\n"
		"            program's, the rows of each table; on PostgreSQL the events'\n"
		"            monthly partitions. Creates and changes nothing.\n"
		"  migrate   creates the schema or brings it to this program's version, and\n"
		"            says which; run it with the schema owner's database when the\n"
		"            daemons' role may not create tables (contrib/postgresql/).\n");
}

static void
print_schema(const struct store_status *s)
{
	if (s->schema_version == 0)
		printf("schema: none (this program: %d): run 'mailbeacon db migrate'\n",
		       s->program_version);
	else if (s->schema_version < s->program_version)
		printf("schema: version %d (this program: %d): run 'mailbeacon db migrate'\n",
		       s->schema_version, s->program_version);
	else if (s->schema_version > s->program_version)
		printf("schema: version %d (this program: %d): newer than this program\n",
		       s->schema_version, s->program_version);
	else
		printf("schema: version %d (this program: %d)\n", s->schema_version,
		       s->program_version);
}

static int
db_status(struct admin_env *env)
{
	struct store_status s;
	struct store *st;
	char err[1024];

	if (store_open_as_is(env->cfg, &st, err, sizeof(err)) < 0)
		return admin_store_failed(env, err);
	if (store_status(st, &s) < 0) {
		log_warnx("%s", store_errmsg(st));
		store_close(st);
		return EXIT_RUNTIME;
	}
	store_close(st);
	printf("backend: %s\n", s.backend);
	print_schema(&s);
	if (s.counted)
		printf("messages: %lld\nmessage_recipients: %lld\nlinks: %lld\nevents: %lld\n"
		       "optouts: %lld\n", s.messages, s.message_recipients, s.links, s.events,
		       s.optouts);
	if (s.partitioned && s.partitions > 0)
		printf("events_partitions: %lld (oldest %s, newest %s)\n", s.partitions, s.oldest,
		       s.newest);
	else if (s.partitioned)
		printf("events_partitions: 0\n");
	return 0;
}

static int
db_migrate(struct admin_env *env)
{
	struct store_migration m;
	char err[1024];

	if (store_migrate_config(env->cfg, &m, err, sizeof(err)) < 0)
		return admin_store_failed(env, err);
	if (m.from == 0)
		printf("%s: schema created (version %d)\n", m.backend, m.to);
	else if (m.from < m.to)
		printf("%s: schema migrated from version %d to %d\n", m.backend, m.from, m.to);
	else
		printf("%s: schema already at version %d, nothing to do\n", m.backend, m.to);
	return 0;
}

int
cmd_db(struct admin_env *env, int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "status") == 0)
		return db_status(env);
	if (argc == 2 && strcmp(argv[1], "migrate") == 0)
		return db_migrate(env);
	db_usage(stderr);
	return EXIT_USAGE;
}
