/* beacon/writer: group commit. Request threads queue their event and
 * suspend the connection; one writer thread takes everything queued,
 * commits it in one transaction (one fsync for the batch), then resumes
 * each connection, whose response is only then sent. A failed commit still
 * resumes: a click must redirect even when the database is down (counted
 * as lost).
 * The writer's handle is checked at each commit (readers.c), so nothing is
 * acknowledged that went into a file the milter no longer reads. */
#include <pthread.h>
#include <microhttpd.h>
#include "log.h"
#include "metrics.h"
#include "monoclock.h"
#include "readers.h"
#include "webhook.h"
#include "writer.h"

#define BATCH_MAX 512

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static struct pending *head, *tail;
static bool stopping;
static pthread_t thread;

static void
commit_batch(struct store **st, struct pending *batch)
{
	static struct store_event ev[BATCH_MAX];
	static struct webhook_candidate cand[BATCH_MAX];	/* writer thread only */
	size_t n = 0, ncand = 0;

	for (struct pending *p = batch; p != NULL; p = p->next)
		ev[n++] = p->ev;
	/* While the database server is unreachable the store said so once:
	 * each batch's line is then debug-level (the metrics count them). */
	void (*say)(const char *, ...) = store_unreachable() ? log_debug : log_warnx;
	if (current_store(st, 5000) == NULL)
		say("%zu events not recorded: no database", n);
	double t0 = monotonic_seconds();
	bool ok = *st != NULL && store_events_insert(*st, ev, n) == 0;
	if (*st != NULL && !ok) {
		say = store_unreachable() ? log_debug : log_warnx;
		say("%zu events not recorded: %s", n, store_errmsg(*st));
		health_note_write(false, store_errmsg(*st));
		/* A SQLite handle is opened again (its file may have moved); a
		 * PostgreSQL one reconnects by itself at its next call. */
		if (!store_is_pg(*st)) {
			store_close(*st);
			*st = NULL;
		}
	}
	if (ok) {
		health_note_write(true, NULL);
		metrics_commit(monotonic_seconds() - t0, n);
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
