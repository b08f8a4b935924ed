/* beacon/webhook: the policy words notify=URL and notify=mail. The first
 * human open of a message and the first human click of each of its links
 * are POSTed, signed, to the sender's URL (webhook_delivery.c) and/or
 * mailed to the sender (notify_mail.c), each from a bounded in-memory
 * queue with retries on a thread of its own (delivery_queue.c); the
 * writer and the HTTP threads never wait on a receiver. */
#ifndef MB_WEBHOOK_H
#define MB_WEBHOOK_H
#include <stddef.h>
#include "store.h"

/* An event of a committed batch that may deserve a webhook, copied out of
 * the request (whose memory goes once its connection is resumed). */
struct webhook_candidate {
	char message_id[32];
	char verdict[16];
	char client[32];	/* the client class ("" when not recorded) */
	char country[8];	/* ISO code ("" unless geoip_database) */
	char kind;		/* 'o' or 'c' */
	unsigned link;
	long long time;
};

/* Loads the policy (bc.cfg.policy_file) and starts the delivery threads. A
 * policy that does not load leaves notifications off and says why. */
int webhook_start(void);
/* SIGHUP: reloads the policy; a bad file keeps the previous one. */
void webhook_reload(void);
/* Stops the delivery threads promptly (an attempt under way is aborted);
 * whatever is still queued is dropped, with a log line. */
void webhook_stop(void);

/* Writer thread, with the events just committed: copies those that may
 * be announced (human opens and clicks, when any sender has notify=) into
 * out (room for n). Returns how many. Cheap: no database access. */
size_t webhook_candidates(const struct store_event *ev, size_t n, struct webhook_candidate *out);
/* Writer thread, after the batch's connections were resumed: decides, with
 * reads on st, which candidates are firsts, and queues their deliveries. */
void webhook_after_commit(struct store *st, const struct webhook_candidate *c, size_t n);

#endif
