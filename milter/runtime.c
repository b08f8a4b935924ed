/* runtime: the milter's shared state, its reloads and its store pool.
 * common/load.c reads the files; a reload builds a complete new generation
 * with it before swapping it in under the lock; readers hold a reference,
 * never the lock, while they work. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "footer.h"
#include "load.h"
#include "log.h"
#include "runtime.h"

#define STORE_POOL_MAX 16

struct runtime rt;

static pthread_mutex_t gen_lock = PTHREAD_MUTEX_INITIALIZER;
static struct generation *current;
static struct stat policy_stat;
static time_t policy_checked;

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
/* Serialises this process's write transactions. Threads that meet each
 * other at SQLite's write lock wait in its busy handler, which sleeps in
 * steps of up to 100 ms while a commit takes about 1.5 ms: at 20 sessions
 * that sleeping halved the milter's throughput (bench/README.md). Other
 * processes (the beacon, the admin command) still meet the busy timeout. */
static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;
static struct store *pool[STORE_POOL_MAX];
static int pool_n;

static void
generation_free(struct generation *g)
{
	keyring_free(&g->keys);
	policy_free(&g->policy);
	free(g);
}

/* What a generation holds is what a reload reads again. */
static struct load_targets
generation_targets(struct generation *g)
{
	return (struct load_targets){ .cfg = &rt.cfg, .keys = &g->keys, .policy = &g->policy };
}

static struct generation *
generation_load(char *err, size_t errlen)
{
	struct generation *g = calloc(1, sizeof(*g));

	if (g == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	g->refs = 1;
	struct load_targets t = generation_targets(g);
	if (load_named(&t, err, errlen) < 0) {
		generation_free(g);
		return NULL;
	}
	return g;
}

static int
split_daemons(const char *list)
{
	char *copy = strdup(list), *save = NULL;

	if (copy == NULL)
		return -1;
	for (char *w = strtok_r(copy, ", \t", &save); w; w = strtok_r(NULL, ", \t", &save)) {
		char **n = realloc(rt.outbound_daemons, (rt.n_outbound_daemons + 1) * sizeof(*n));
		if (n == NULL || (n[rt.n_outbound_daemons] = strdup(w)) == NULL) {
			free(copy);
			return -1;
		}
		rt.outbound_daemons = n;
		rt.n_outbound_daemons++;
	}
	free(copy);
	return 0;
}

void
runtime_load(const struct daemon_options *o)
{
	struct generation *g = calloc(1, sizeof(*g));

	if (g == NULL)
		fatal("out of memory");
	g->refs = 1;
	struct load_targets t = generation_targets(g);
	t.hash_key = &rt.hash_key;
	t.footer_html = &rt.footer_html;
	t.footer_text = &rt.footer_text;
	t.footer_check = footer_check;
	t.footer_ask_html = &rt.footer_ask_html;
	t.footer_ask_text = &rt.footer_ask_text;
	t.footer_check_ask = footer_check_ask;
	daemon_load(o, &t);
	if (split_daemons(rt.cfg.outbound_daemon_names) < 0)
		fatal("out of memory");
	current = g;
	stat(rt.cfg.policy_file, &policy_stat);
}

void
runtime_reload(const char *why)
{
	char err[512];
	struct generation *g = generation_load(err, sizeof(err));

	if (g == NULL) {
		log_warnx("reload (%s) failed, keeping the previous keys and policy: %s", why, err);
		return;
	}
	pthread_mutex_lock(&gen_lock);
	struct generation *old = current;
	current = g;
	stat(rt.cfg.policy_file, &policy_stat);
	if (old != NULL && --old->refs == 0)
		generation_free(old);
	pthread_mutex_unlock(&gen_lock);
	log_info("reloaded keys and policy (%s): %zu keys, %zu policy rules", why,
		 g->keys.n, g->policy.n);
}

void
runtime_check_policy_file(void)
{
	struct stat sb;
	time_t now = time(NULL);
	bool changed = false;

	pthread_mutex_lock(&gen_lock);
	if (now != policy_checked) {
		policy_checked = now;
		if (stat(rt.cfg.policy_file, &sb) == 0 &&
		    (sb.st_mtim.tv_sec != policy_stat.st_mtim.tv_sec ||
		     sb.st_mtim.tv_nsec != policy_stat.st_mtim.tv_nsec ||
		     sb.st_ino != policy_stat.st_ino || sb.st_size != policy_stat.st_size)) {
			policy_stat = sb;	/* a bad file is reported once */
			changed = true;
		}
	}
	pthread_mutex_unlock(&gen_lock);
	if (changed)
		runtime_reload("the policy file changed");
}

struct generation *
runtime_acquire(void)
{
	pthread_mutex_lock(&gen_lock);
	struct generation *g = current;
	g->refs++;
	pthread_mutex_unlock(&gen_lock);
	return g;
}

void
runtime_release(struct generation *g)
{
	if (g == NULL)
		return;
	pthread_mutex_lock(&gen_lock);
	bool last = --g->refs == 0;
	pthread_mutex_unlock(&gen_lock);
	if (last)
		generation_free(g);
}

struct store *
runtime_store_get(char *err, size_t errlen)
{
	struct store *st = NULL;

	pthread_mutex_lock(&pool_lock);
	if (pool_n > 0)
		st = pool[--pool_n];
	pthread_mutex_unlock(&pool_lock);
	if (st == NULL && store_open_config(&rt.cfg, STORE_FOR_WRITES, false, RUNTIME_STORE_BUSY_MS, &st, err,
					   errlen) < 0)
		return NULL;
	return st;
}

void
runtime_store_put(struct store *st, bool ok)
{
	if (st == NULL)
		return;
	if (ok) {
		pthread_mutex_lock(&pool_lock);
		if (pool_n < STORE_POOL_MAX) {
			pool[pool_n++] = st;
			st = NULL;
		}
		pthread_mutex_unlock(&pool_lock);
	}
	if (st != NULL)
		store_close(st);
}

/* What the messages in flight may take, as RUNTIME_MEMORY_FACTOR times
 * what they have buffered: editing a message takes up to that many times
 * its size (tests/hostile measures it), so the sum bounds the worker's
 * memory whatever the number of connections. */
static pthread_mutex_t memory_lock = PTHREAD_MUTEX_INITIALIZER;
static size_t memory_reserved;

bool
runtime_memory_reserve(size_t *held, size_t bytes)
{
	bool ok = false;

	if (bytes > SIZE_MAX / RUNTIME_MEMORY_FACTOR)
		return false;
	size_t cost = bytes * RUNTIME_MEMORY_FACTOR;
	pthread_mutex_lock(&memory_lock);
	if (cost <= rt.cfg.milter_memory_limit - memory_reserved) {
		memory_reserved += cost;
		*held += cost;
		ok = true;
	}
	pthread_mutex_unlock(&memory_lock);
	return ok;
}

void
runtime_memory_release(size_t *held)
{
	pthread_mutex_lock(&memory_lock);
	memory_reserved -= *held;
	pthread_mutex_unlock(&memory_lock);
	*held = 0;
}

bool
runtime_store_write_begin(void)
{
	struct timespec deadline;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += RUNTIME_STORE_BUSY_MS / 1000;
	deadline.tv_nsec += (long)(RUNTIME_STORE_BUSY_MS % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	return pthread_mutex_timedlock(&write_lock, &deadline) == 0;
}

void
runtime_store_write_end(void)
{
	pthread_mutex_unlock(&write_lock);
}

void
runtime_shutdown(void)
{
	pthread_mutex_lock(&pool_lock);
	while (pool_n > 0)
		store_close(pool[--pool_n]);
	pthread_mutex_unlock(&pool_lock);
}

bool
runtime_is_outbound_daemon(const char *name)
{
	if (name == NULL)
		return false;
	for (size_t i = 0; i < rt.n_outbound_daemons; i++)
		if (strcmp(rt.outbound_daemons[i], name) == 0)
			return true;
	return false;
}
