/* beacon/webhook_delivery: the sending half of notify=URL webhooks: a
 * bounded queue and one delivery thread that POSTs each body, signed, with
 * retries (the details are at the top of webhook_delivery.c). */
#ifndef MB_WEBHOOK_DELIVERY_H
#define MB_WEBHOOK_DELIVERY_H

struct mbuf;

/* Starts libcurl (0, or -1 with a log line: webhooks off), then the
 * delivery thread (0 or -1). */
int webhook_delivery_init(void);
int webhook_delivery_start(void);
/* Stops the thread promptly (an attempt under way is aborted); whatever is
 * still queued is dropped, with a log line. */
void webhook_delivery_stop(void);
/* Queues a delivery of body (JSON) to url; what names it in log lines
 * ("open of MSGID"). Takes url and body (malloc'd), whatever happens. A
 * URL other than https://, or http:// to a loopback literal, is refused
 * and counted as failed; a full queue drops it and counts it. */
void webhook_deliver(char *url, char *body, const char *what);
/* The mailbeacon_webhooks_total counters and the queue's length, for
 * /metrics. */
void webhook_metrics(struct mbuf *b);

#endif
