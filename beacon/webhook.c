/* beacon/webhook: the policy words notify=URL and notify=mail: which
 * committed events are announced (a person's first open of a message, a
 * person's first click of each of its links, never a do-not-track event)
 * and what a webhook says; the sending is webhook_delivery.c's, and a
 * "Read:" mail is notify_mail.c's.
 *
 * What is sent: POST URL with Content-Type: application/json and the body
 *   {"event":"open"|"click","message":ID,"message_id_header":HDR|null,
 *    "sender":ADDR,"link":N|null,"url":URL|null,"time":T,"verdict":V}
 * (built in webhook_body.c; no recipient, no network, no client). "time" is
 * the event's time; "url" is the link's URL as stored (store_link_urls), null
 * for opens or when not stored. */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "log.h"
#include "notify_mail.h"
#include "policy.h"
#include "state.h"
#include "webhook.h"
#include "webhook_body.h"
#include "webhook_delivery.h"

/* The policy: written by the main thread (start, SIGHUP), read by the
 * writer thread. */
static pthread_mutex_t pol_lock = PTHREAD_MUTEX_INITIALIZER;
static struct policy pol;
static bool pol_loaded, pol_notify;

/* ---- policy ---- */

static int
policy_reload(bool at_start)
{
	struct policy p;
	char err[512];
	bool notify = false;

	memset(&p, 0, sizeof(p));
	if (bc.cfg.policy_file == NULL)
		return 0;
	if (policy_load(bc.cfg.policy_file, &p, err, sizeof(err)) < 0) {
		if (at_start)
			log_warnx("webhooks off: policy: %s", err);
		else
			log_warnx("policy reload failed, keeping the previous policy: %s", err);
		return -1;
	}
	for (size_t i = 0; i < p.n; i++)
		if (p.rules[i].notify != NULL || p.rules[i].notify_mail)
			notify = true;
	pthread_mutex_lock(&pol_lock);
	if (pol_loaded)
		policy_free(&pol);
	pol = p;
	pol_loaded = true;
	pol_notify = notify;
	pthread_mutex_unlock(&pol_lock);
	if (!at_start)
		log_info("reloaded the policy (SIGHUP)%s", notify ? ": notifications on" : "");
	return 0;
}

/* The sender's notify URL (to free) or NULL, and whether the sender has
 * notify=mail. False when neither. */
static bool
notify_of(const char *sender, char **url, bool *mail)
{
	*url = NULL;
	*mail = false;
	pthread_mutex_lock(&pol_lock);
	if (pol_loaded && pol_notify) {
		const struct policy_rule *r = policy_lookup(&pol, sender);
		if (r != NULL && r->notify != NULL)
			*url = strdup(r->notify);
		*mail = r != NULL && r->notify_mail;
	}
	pthread_mutex_unlock(&pol_lock);
	return *url != NULL || *mail;
}

int
webhook_start(void)
{
	policy_reload(true);
	if (notify_mail_start() < 0)
		log_warnx("notify=mail off: cannot start its delivery thread");
	if (webhook_delivery_init() < 0)
		return -1;
	return webhook_delivery_start();
}

void
webhook_reload(void)
{
	policy_reload(false);
}

void
webhook_stop(void)
{
	webhook_delivery_stop();
	notify_mail_stop();
	pthread_mutex_lock(&pol_lock);
	if (pol_loaded)
		policy_free(&pol);
	pol_loaded = pol_notify = false;
	pthread_mutex_unlock(&pol_lock);
}

/* ---- the writer's side: which events are firsts ---- */

size_t
webhook_candidates(const struct store_event *ev, size_t n, struct webhook_candidate *out)
{
	size_t k = 0;

	pthread_mutex_lock(&pol_lock);
	bool any = pol_loaded && pol_notify;
	pthread_mutex_unlock(&pol_lock);
	if (!any)
		return 0;
	for (size_t i = 0; i < n; i++) {
		const struct store_event *e = &ev[i];
		bool open = strcmp(e->kind, "open") == 0;
		/* Do-not-track events are counted, never announced. */
		if (e->dnt || e->message_id == NULL || e->verdict == NULL)
			continue;
		if (!store_event_is_human(e->kind, e->verdict))
			continue;
		struct webhook_candidate *c = &out[k++];
		snprintf(c->message_id, sizeof(c->message_id), "%s", e->message_id);
		snprintf(c->verdict, sizeof(c->verdict), "%s", e->verdict);
		snprintf(c->client, sizeof(c->client), "%s", e->client_class ? e->client_class : "");
		snprintf(c->country, sizeof(c->country), "%s", e->country ? e->country : "");
		c->kind = open ? 'o' : 'c';
		c->link = open ? 0 : e->link;
		c->time = e->time;
	}
	return k;
}

static bool
same_key(const struct webhook_candidate *a, const struct webhook_candidate *b)
{
	return a->kind == b->kind && a->link == b->link && strcmp(a->message_id, b->message_id) == 0;
}

static void
consider(struct store *st, const struct webhook_candidate *c, size_t same_in_batch)
{
	char *sender = NULL, *mid_header = NULL, *link_url = NULL, *url = NULL;
	bool mail = false;

	int found = store_message_sender(st, c->message_id, &sender, &mid_header);
	if (found < 0) {
		log_warnx("webhook for message %s not sent: %s", c->message_id, store_errmsg(st));
		goto out;
	}
	if (found == 0 || sender == NULL || !notify_of(sender, &url, &mail))
		goto out;	/* unknown here, or no notify= for its sender */
	/* A mail's first is settled in the store (notify_mail.c), so that
	 * of two beacons recording firsts at once exactly one mails. */
	if (mail)
		notify_mail_first(st, c);
	if (url == NULL)
		goto out;
	long long n = store_human_events_count(st, c->message_id, c->kind == 'o' ? "open" : "click",
					       c->link);
	if (n < 0) {
		log_warnx("webhook for message %s not sent: %s", c->message_id, store_errmsg(st));
		goto out;
	}
	if ((size_t)n != same_in_batch)
		goto out;	/* an earlier one was committed before */
	if (c->kind == 'c' && store_link_url(st, c->message_id, c->link, &link_url) < 0) {
		log_warnx("webhook for message %s not sent: %s", c->message_id, store_errmsg(st));
		goto out;
	}
	char what[64];		/* for log lines */
	if (c->kind == 'o')
		snprintf(what, sizeof(what), "open of %s", c->message_id);
	else
		snprintf(what, sizeof(what), "click %u of %s", c->link, c->message_id);
	const struct webhook_event we = {
		.event = c->kind == 'o' ? "open" : "click",
		.message = c->message_id,
		.message_id_header = mid_header,
		.sender = sender,
		.link = c->kind == 'c' ? c->link : 0,
		.url = link_url,
		.time = c->time,
		.verdict = c->verdict,
	};
	char *body = webhook_body(&we);
	if (body == NULL)
		goto out;
	webhook_deliver(url, body, what);	/* takes url and body */
	url = NULL;
out:
	free(sender);
	free(mid_header);
	free(link_url);
	free(url);
}

void
webhook_after_commit(struct store *st, const struct webhook_candidate *c, size_t n)
{
	if (st == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		size_t same = 1;
		bool seen = false;
		for (size_t j = 0; j < i && !seen; j++)
			seen = same_key(&c[j], &c[i]);
		if (seen)
			continue;	/* the batch's first of its kind speaks for it */
		for (size_t j = i + 1; j < n; j++)
			same += same_key(&c[j], &c[i]);
		consider(st, &c[i], same);
	}
}
