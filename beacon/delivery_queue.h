/* beacon/delivery_queue: the one queue-and-retry model of what the beacon
 * sends on its own (notify=URL webhooks, notify=mail "Read:" mails): a
 * bounded in-memory queue drained by a thread of its own, retries after
 * 1, 2, 4, 8, 16 s (6 attempts in all), and the counters /metrics shows.
 * Neither the HTTP threads nor the writer ever wait on what it sends. */
#ifndef MB_DELIVERY_QUEUE_H
#define MB_DELIVERY_QUEUE_H
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

struct mbuf;
struct dq_item;

enum dq_result { DQ_DELIVERED, DQ_RETRY, DQ_FAILED, DQ_STOPPED };

/* What one kind of delivery does; the queue does the rest. */
struct dq_ops {
	const char *noun;	/* for log lines: "webhook", "notification mail" */
	/* The thread's own resources (libcurl's handle) at its start and end;
	 * either may be NULL. */
	void *(*thread_begin)(void);
	void (*thread_end)(void *ctx);
	/* One attempt at job; why gets the reason for the log. */
	enum dq_result (*attempt)(void *ctx, void *job, unsigned attempt_no, char *why,
				  size_t whylen);
	void (*job_free)(void *job);
	/* Where the job goes, for log lines ("https://...", "alice@..."). */
	const char *(*job_target)(const void *job);
};

struct delivery_queue {
	const struct dq_ops *ops;
	/* the rest is the queue's own */
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct dq_item *head, *tail;
	size_t len;
	atomic_bool stopping;
	bool started;
	pthread_t thread;
	unsigned long long delivered, retried, failed, dropped;
};

#define DELIVERY_QUEUE_INIT(o) { .ops = (o), .lock = PTHREAD_MUTEX_INITIALIZER }

/* Starts the queue's thread: 0, or -1 (nothing is queued then). */
int dq_start(struct delivery_queue *q);
/* Stops the thread promptly (an attempt under way sees dq_stopping);
 * whatever is still queued is dropped, counted, with a log line. */
void dq_stop(struct delivery_queue *q);
/* True once dq_stop was called: long attempts poll it and give up. */
bool dq_stopping(struct delivery_queue *q);
/* Queues job (taken, whatever happens), due in delay seconds; what names it
 * in log lines ("open of MSGID"). A full queue (10,000) or a stopped one
 * drops it and counts it. */
void dq_push(struct delivery_queue *q, void *job, const char *what, double delay);
/* Counts a delivery refused before it was queued (a bad target). */
void dq_count_failed(struct delivery_queue *q);
/* The counters as Prometheus text: NAME_total{result=DONE|"retried"|
 * "failed"|"dropped"} (DONE: "delivered", "sent") and NAME_queued, with
 * their HELP lines. */
void dq_metrics(struct delivery_queue *q, struct mbuf *b, const char *name, const char *done,
		const char *total_help, const char *queued_help);

#endif
