/* beacon/delivery_queue: the bounded queue, its thread and its retries,
 * shared by the webhooks (webhook_delivery.c) and the "Read:" mails
 * (notify_mail.c); each has a queue of its own, so a hanging receiver of
 * one never holds up the other. See delivery_queue.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "delivery_queue.h"
#include "log.h"
#include "mbuf.h"
#include "monoclock.h"

#define QUEUE_MAX 10000
#define ATTEMPTS_MAX 6
#define WHY_MAX 512

struct dq_item {
	void *job;
	char what[64];		/* for log lines: "open of MSGID" */
	unsigned attempts;
	double next_at;		/* monotonic seconds */
	struct dq_item *next;
};

static void
item_free(struct delivery_queue *q, struct dq_item *it)
{
	if (it == NULL)
		return;
	q->ops->job_free(it->job);
	free(it);
}

static const char *
target(struct delivery_queue *q, const struct dq_item *it)
{
	return q->ops->job_target(it->job);
}

/* Under q->lock: appends it, due at next_at. */
static void
append(struct delivery_queue *q, struct dq_item *it, double next_at)
{
	it->next = NULL;
	it->next_at = next_at;
	if (q->tail != NULL)
		q->tail->next = it;
	else
		q->head = it;
	q->tail = it;
	q->len++;
}

/* Under q->lock: takes the first item due by now, or NULL with *wait_until
 * the earliest due time (0 when the queue is empty). */
static struct dq_item *
take_due(struct delivery_queue *q, double now, double *wait_until)
{
	struct dq_item *prev = NULL;

	*wait_until = 0;
	for (struct dq_item *it = q->head; it != NULL; prev = it, it = it->next) {
		if (it->next_at <= now) {
			if (prev != NULL)
				prev->next = it->next;
			else
				q->head = it->next;
			if (q->tail == it)
				q->tail = prev;
			it->next = NULL;
			q->len--;
			return it;
		}
		if (*wait_until == 0 || it->next_at < *wait_until)
			*wait_until = it->next_at;
	}
	return NULL;
}

/* Logs and counts the outcome of one attempt; requeues a retry. Takes it. */
static void
settle(struct delivery_queue *q, struct dq_item *it, enum dq_result r, const char *why)
{
	const char *noun = q->ops->noun;

	pthread_mutex_lock(&q->lock);
	if (r == DQ_RETRY && atomic_load(&q->stopping))
		r = DQ_STOPPED;
	switch (r) {
	case DQ_DELIVERED:
		q->delivered++;
		pthread_mutex_unlock(&q->lock);
		log_debug("%s %s delivered to %s (%s)", noun, it->what, target(q, it), why);
		item_free(q, it);
		return;
	case DQ_RETRY:
		if (it->attempts < ATTEMPTS_MAX) {
			unsigned wait = 1u << (it->attempts - 1);
			q->retried++;
			pthread_mutex_unlock(&q->lock);
			log_warnx("%s %s to %s: attempt %u failed (%s); retrying in %u s", noun,
				  it->what, target(q, it), it->attempts, why, wait);
			pthread_mutex_lock(&q->lock);
			append(q, it, monotonic_seconds() + (double)wait);
			pthread_mutex_unlock(&q->lock);
			return;
		}
		/* fall through */
	case DQ_FAILED:
		q->failed++;
		pthread_mutex_unlock(&q->lock);
		log_warnx("%s %s to %s failed after %u attempt%s: %s", noun, it->what,
			  target(q, it), it->attempts, it->attempts == 1 ? "" : "s", why);
		item_free(q, it);
		return;
	case DQ_STOPPED:
		q->dropped++;
		pthread_mutex_unlock(&q->lock);
		log_warnx("%s %s to %s dropped: stopping", noun, it->what, target(q, it));
		item_free(q, it);
		return;
	}
}

static void *
dq_main(void *arg)
{
	struct delivery_queue *q = arg;
	void *ctx = q->ops->thread_begin != NULL ? q->ops->thread_begin() : NULL;
	char why[WHY_MAX];

	pthread_mutex_lock(&q->lock);
	while (!atomic_load(&q->stopping)) {
		double until;
		struct dq_item *it = take_due(q, monotonic_seconds(), &until);
		if (it == NULL) {
			if (until == 0) {
				pthread_cond_wait(&q->wake, &q->lock);
			} else {
				struct timespec ts;
				ts.tv_sec = (time_t)until;
				ts.tv_nsec = (long)((until - (double)ts.tv_sec) * 1e9);
				pthread_cond_timedwait(&q->wake, &q->lock, &ts);
			}
			continue;
		}
		pthread_mutex_unlock(&q->lock);
		it->attempts++;
		why[0] = '\0';
		enum dq_result r = q->ops->attempt(ctx, it->job, it->attempts, why, sizeof(why));
		settle(q, it, r, why);
		pthread_mutex_lock(&q->lock);
	}
	/* Stopping: what is left is dropped. */
	size_t left = 0;
	while (q->head != NULL) {
		struct dq_item *it = q->head;
		q->head = it->next;
		item_free(q, it);
		left++;
	}
	q->tail = NULL;
	q->len = 0;
	q->dropped += left;
	pthread_mutex_unlock(&q->lock);
	if (left > 0)
		log_warnx("%ss: %zu pending dropped at shutdown", q->ops->noun, left);
	if (q->ops->thread_end != NULL)
		q->ops->thread_end(ctx);
	return NULL;
}

int
dq_start(struct delivery_queue *q)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->wake, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&q->thread, NULL, dq_main, q) != 0)
		return -1;
	pthread_mutex_lock(&q->lock);
	q->started = true;
	pthread_mutex_unlock(&q->lock);
	return 0;
}

void
dq_stop(struct delivery_queue *q)
{
	pthread_mutex_lock(&q->lock);
	bool was = q->started;
	atomic_store(&q->stopping, true);
	if (was)
		pthread_cond_signal(&q->wake);
	pthread_mutex_unlock(&q->lock);
	if (was)
		pthread_join(q->thread, NULL);
	pthread_mutex_lock(&q->lock);
	q->started = false;
	pthread_mutex_unlock(&q->lock);
}

bool
dq_stopping(struct delivery_queue *q)
{
	return atomic_load(&q->stopping);
}

void
dq_push(struct delivery_queue *q, void *job, const char *what, double delay)
{
	struct dq_item *it = calloc(1, sizeof(*it));

	if (it == NULL) {
		q->ops->job_free(job);
		pthread_mutex_lock(&q->lock);
		q->dropped++;
		pthread_mutex_unlock(&q->lock);
		log_warnx("%s %s dropped: out of memory", q->ops->noun, what);
		return;
	}
	it->job = job;
	snprintf(it->what, sizeof(it->what), "%s", what);
	pthread_mutex_lock(&q->lock);
	if (!q->started || atomic_load(&q->stopping) || q->len >= QUEUE_MAX) {
		q->dropped++;
		bool was_started = q->started;
		pthread_mutex_unlock(&q->lock);
		log_warnx("%s %s to %s dropped: %s", q->ops->noun, it->what, target(q, it),
			  was_started ? "the queue is full" : "not running");
		item_free(q, it);
		return;
	}
	append(q, it, monotonic_seconds() + delay);
	pthread_cond_signal(&q->wake);
	pthread_mutex_unlock(&q->lock);
}

void
dq_count_failed(struct delivery_queue *q)
{
	pthread_mutex_lock(&q->lock);
	q->failed++;
	pthread_mutex_unlock(&q->lock);
}

void
dq_metrics(struct delivery_queue *q, struct mbuf *b, const char *name, const char *done,
	   const char *total_help, const char *queued_help)
{
	pthread_mutex_lock(&q->lock);
	unsigned long long d = q->delivered, r = q->retried, f = q->failed, x = q->dropped;
	size_t len = q->len;
	pthread_mutex_unlock(&q->lock);
	mbuf_printf(b, "# HELP %s_total %s\n# TYPE %s_total counter\n"
		    "%s_total{result=\"%s\"} %llu\n"
		    "%s_total{result=\"retried\"} %llu\n"
		    "%s_total{result=\"failed\"} %llu\n"
		    "%s_total{result=\"dropped\"} %llu\n"
		    "# HELP %s_queued %s\n# TYPE %s_queued gauge\n%s_queued %zu\n",
		    name, total_help, name, name, done, d, name, r, name, f, name, x,
		    name, queued_help, name, name, len);
}
