/* writer: group commit. Request threads queue their event and suspend the
 * connection; one writer thread takes everything queued, commits it in one
 * transaction (one fsync for the batch), then resumes each connection,
 * whose response is only then sent. A failed commit still resumes: a
 * click must redirect even when the database is down (counted as lost).
 *
 * Every handle here is checked against the database's path before use and
 * at each commit (store_file_check): a file removed or replaced under the
 * beacon is let go and the path opened again, so nothing is acknowledged
 * that went into a file the milter no longer reads. The outcome of the
 * last write is what /healthz reports (health_ok). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "beacon.h"
#include "log.h"
#include "webhook.h"

#define BATCH_MAX 512

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static struct pending *head, *tail;
static bool stopping;
static pthread_t thread;
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

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* *st, opened (again) when there is none or its file is no longer the
 * one at the database's path. NULL when the database cannot be opened. */
static struct store *
store_current(struct store **st, int busy_ms)
{
	char err[512];

	if (*st != NULL && store_file_check(*st) < 0) {
		log_warnx("%s; opening the database again", store_errmsg(*st));
		health_note_write(false, store_errmsg(*st));
		store_close(*st);
		*st = NULL;
	}
	if (*st == NULL && store_open(bc.cfg.database, false, busy_ms, st, err, sizeof(err)) < 0) {
		log_warnx("database: %s", err);
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
	bool probe = failed && now_seconds() >= next_probe;
	if (probe)
		next_probe = now_seconds() + 1.0;	/* an fsync at most once a second */
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
		log_warnx("health: %s", store_errmsg(st));
		reader_store_failed();
	}
	return false;
}

static void
commit_batch(struct store **st, struct pending *batch)
{
	static struct store_event ev[BATCH_MAX];
	static struct webhook_candidate cand[BATCH_MAX];	/* writer thread only */
	size_t n = 0, ncand = 0;

	for (struct pending *p = batch; p != NULL; p = p->next)
		ev[n++] = p->ev;
	if (store_current(st, 5000) == NULL)
		log_warnx("%zu events not recorded: no database", n);
	double t0 = now_seconds();
	bool ok = *st != NULL && store_events_insert(*st, ev, n) == 0;
	if (*st != NULL && !ok) {
		log_warnx("%zu events not recorded: %s", n, store_errmsg(*st));
		health_note_write(false, store_errmsg(*st));
		store_close(*st);
		*st = NULL;
	}
	if (ok) {
		health_note_write(true, NULL);
		metrics_commit(now_seconds() - t0, n);
		/* Copied now: a request's memory goes once it is resumed. */
		ncand = webhook_candidates(ev, n, cand);
	}
	for (struct pending *p = batch, *next; p != NULL; p = next) {
		next = p->next;
		p->committed = ok;
		if (!ok)
			metrics_lost();
		pthread_mutex_lock(&lock);
		p->done = true;
		struct MHD_Connection *c = p->conn;
		pthread_mutex_unlock(&lock);
		MHD_resume_connection(c);
	}
	/* Webhooks: decided after the responses went out, queued to their
	 * own thread (webhook.c); nothing here waits on a receiver. */
	if (ncand > 0 && *st != NULL)
		webhook_after_commit(*st, cand, ncand);
}

static void *
writer_main(void *arg)
{
	struct store *st = NULL;

	(void)arg;
	pthread_mutex_lock(&lock);
	for (;;) {
		while (head == NULL && !stopping)
			pthread_cond_wait(&wake, &lock);
		if (head == NULL && stopping)
			break;
		struct pending *batch = head, *last = head;
		size_t n = 1;
		while (last->next != NULL && n < BATCH_MAX) {
			last = last->next;
			n++;
		}
		head = last->next;
		if (head == NULL)
			tail = NULL;
		last->next = NULL;
		pthread_mutex_unlock(&lock);
		commit_batch(&st, batch);
		pthread_mutex_lock(&lock);
	}
	pthread_mutex_unlock(&lock);
	store_close(st);
	return NULL;
}

int
writer_start(void)
{
	return pthread_create(&thread, NULL, writer_main, NULL) == 0 ? 0 : -1;
}

void
writer_submit(struct pending *p)
{
	p->next = NULL;
	p->done = false;
	MHD_suspend_connection(p->conn);
	pthread_mutex_lock(&lock);
	if (tail != NULL)
		tail->next = p;
	else
		head = p;
	tail = p;
	pthread_cond_signal(&wake);
	pthread_mutex_unlock(&lock);
}

void
writer_stop(void)
{
	pthread_mutex_lock(&lock);
	stopping = true;
	pthread_cond_signal(&wake);
	pthread_mutex_unlock(&lock);
	pthread_join(thread, NULL);
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

	if (store_current(&reader, 1000) != old)
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
