/* beacon/notify_mail: the policy word notify=mail: a short "Read:" mail to
 * the sender on a message's first human open and on the first human click
 * of each link (webhook.c decides which events are firsts), through the
 * local MTA's sendmail_path, from a queue of its own (delivery_queue.c). */
#ifndef MB_NOTIFY_MAIL_H
#define MB_NOTIFY_MAIL_H
#include "store.h"
#include "webhook.h"

struct mbuf;

/* Starts the mail queue's thread: 0 or -1. Reads the test knob
 * MAILBEACON_NOTIFY_WINDOW (seconds of the notify_max_per_hour window,
 * 3600 when unset; mailbeacond(8)). */
int notify_mail_start(void);
/* Stops it; a sendmail still running is killed, the queue is dropped. */
void notify_mail_stop(void);
/* Writer thread: c is a person's open (or click of a link), committed, of
 * a message whose sender has notify=mail. When no such event of an earlier
 * second is stored, claims it in the store (the claim settles ties: one
 * mail per message and link, across restarts and beacons), applies the
 * sender's hourly limit and queues the mail. */
void notify_mail_first(struct store *st, const struct webhook_candidate *c);
/* mailbeacon_notify_mails_total{result=sent|retried|failed|dropped} and
 * mailbeacon_notify_mails_queued, for /metrics. */
void notify_mail_metrics(struct mbuf *b);

#endif
