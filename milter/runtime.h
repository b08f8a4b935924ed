/* runtime: what the milter's threads share. The configuration and footers
 * are fixed for the life of the process; the key file and the policy are
 * reloaded (on SIGHUP, or when the policy file changes) into a new
 * reference-counted generation, so a message in flight keeps the one it
 * started with. Store handles come from a small pool: one per thread. */
#ifndef MB_RUNTIME_H
#define MB_RUNTIME_H
#include <stdbool.h>
#include "mbconfig.h"
#include "daemon.h"
#include "keyring.h"
#include "policy.h"
#include "store.h"

struct generation {
	int refs;
	struct keyring keys;
	struct policy policy;
};

struct runtime {
	struct config cfg;
	char *footer_html;		/* template text or NULL (built-in) */
	char *footer_text;
	char *footer_ask_html;		/* consent=optin's ask footer, or NULL */
	char *footer_ask_text;
	struct store_hash_key hash_key;
	char **outbound_daemons;	/* from outbound_daemon_names */
	size_t n_outbound_daemons;
};

extern struct runtime rt;

/* Loads config, keys, policy, hash key and footers (common/load.h); on
 * error says why on standard error and exits 1 (daemon_load). */
void runtime_load(const struct daemon_options *o);
/* Re-reads the key file and the policy; a bad file keeps the old ones. */
void runtime_reload(const char *why);
/* Reloads the policy when its file changed (checked at most once a second). */
void runtime_check_policy_file(void);
struct generation *runtime_acquire(void);
void runtime_release(struct generation *g);

struct store *runtime_store_get(char *err, size_t errlen);
/* ok false: the handle saw an error and is closed rather than reused. */
void runtime_store_put(struct store *st, bool ok);
/* The memory budget (milter_memory_limit): a message reserves this many
 * times each byte it buffers; false when the budget is spent. *held
 * accumulates what the message holds, and release gives it all back. */
#define RUNTIME_MEMORY_FACTOR 12
bool runtime_memory_reserve(size_t *held, size_t bytes);
void runtime_memory_release(size_t *held);
/* How long a message waits for the store (SQLite's busy timeout). */
#define RUNTIME_STORE_BUSY_MS 2000
/* Around a write transaction: false when another thread of this process
 * held the write turn for longer than the store's busy timeout. */
bool runtime_store_write_begin(void);
void runtime_store_write_end(void);
void runtime_shutdown(void);

bool runtime_is_outbound_daemon(const char *name);

#endif
