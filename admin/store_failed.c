/* store_failed: what every subcommand says and returns when the store
 * cannot be opened, in one place below the subcommands (main.c dispatches
 * to them; they never call back into it). */
#include "admin.h"
#include "log.h"
#include "store.h"

int
admin_store_failed(const struct admin_env *env, const char *err)
{
	log_warnx("%s", err);
	/* PostgreSQL: a wrong URI, role or password, a schema from the future
	 * or a server that cannot be reached are the configuration's to fix
	 * (1); SQLite keeps its 2 for a file that is missing or broken. */
	return env->cfg != NULL && store_names_pg(env->cfg->database) ? EXIT_USAGE : EXIT_RUNTIME;
}
