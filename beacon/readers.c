/* beacon/readers: the database handles of mailbeacond. Each HTTP thread
 * reads through a handle of its own, and the writer writes through its
 * own; every handle is checked against the database's path before use
 * (store_file_check), so a file removed or replaced under the beacon is let
 * go and the path opened again. The outcome of the last write is what
 * /healthz reports (health_ok). */
#include <stdio.h>
#include "log.h"
#include "monoclock.h"
#include "readers.h"
#include "state.h"

static __thread struct store *reader;

/* Every thread's read handle, so shutdown can close them after the
 * HTTP threads are gone. */
#define READERS_MAX 64
static pthread_mutex_t readers_lock = PTHREAD_MUTEX_INITIALIZER;
static struct store *readers[READERS_MAX];

/* The last write's outcome: /healthz fails while it failed. */
static pthread_mutex_t health_lock = PTHREAD_MUTEX_INITIALIZER;
static bool write_failed;
static double next_probe;

struct store *
current_store(struct store **st, int busy_ms)
{
	char err[512];

	if (*st != NULL && store_file_check(*st) < 0) {
		log_warnx("%s; opening the database again", store_errmsg(*st));
		health_note_write(false, store_errmsg(*st));
		store_close(*st);
		*st = NULL;
	}
	if (*st == NULL && store_open_config(&bc.cfg, STORE_FOR_WRITES, false, busy_ms, st, err,
					      sizeof(err)) < 0) {
		/* (said once by the store while its server is unreachable) */
		(store_unreachable() ? log_debug : log_warnx)("database: %s", err);
		health_note_write(false, err);
		*st = NULL;
	}
	return *st;
}

void
health_note_write(bool ok, const char *why)
{
	pthread_mutex_lock(&health_lock);
	if (ok != !write_failed)
		log_info("database %s: %s", ok ? "writable again" : "not writable",
			 ok ? "a write went through" : why ? why : "a write failed");
	write_failed = !ok;
	pthread_mutex_unlock(&health_lock);
}

bool
health_ok(char *why, size_t whylen)
{
	struct store *st = reader_store();

	if (st == NULL) {
		snprintf(why, whylen, "database unavailable");
		return false;
	}
	pthread_mutex_lock(&health_lock);
	bool failed = write_failed;
	bool probe = failed && monotonic_seconds() >= next_probe;
	if (probe)
		next_probe = monotonic_seconds() + 1.0;	/* an fsync at most once a second */
	pthread_mutex_unlock(&health_lock);
	/* The reason is in the log; the answer names no file. */
	snprintf(why, whylen, "database not writable");
	if (!failed)
		return true;
	/* Recovers without waiting for traffic once space is freed. */
	if (probe && store_write_probe(st) == 0) {
		health_note_write(true, NULL);
		return true;
	}
	if (probe) {
		/* (said once by the store while its server is unreachable) */
		(store_unreachable() ? log_debug : log_warnx)("health: %s", store_errmsg(st));
		reader_store_failed();
	}
	return false;
}

static void
readers_set(struct store *old, struct store *new)
{
	pthread_mutex_lock(&readers_lock);
	for (size_t i = 0; i < READERS_MAX; i++)
		if (readers[i] == old) {
			readers[i] = new;
			break;
		}
	pthread_mutex_unlock(&readers_lock);
}

struct store *
reader_store(void)
{
	struct store *old = reader;

	if (current_store(&reader, 1000) != old)
		readers_set(old, reader);	/* let go of, or taken: the shutdown list follows */
	return reader;
}

void
reader_store_failed(void)
{
	readers_set(reader, NULL);
	store_close(reader);
	reader = NULL;
}

void
readers_close(void)
{
	pthread_mutex_lock(&readers_lock);
	for (size_t i = 0; i < READERS_MAX; i++) {
		store_close(readers[i]);
		readers[i] = NULL;
	}
	pthread_mutex_unlock(&readers_lock);
}
