/* beacon/notify_mail: notify=mail's "Read:" mails: what they say, the
 * sender's hourly limit with its summary, and handing each one to
 * sendmail_path (-t -oi -f notify_from) in a child with a deadline.
 *
 * A mail names the message (its subject when store_subject = yes, else its
 * recipient count and send time), the event's time, client class, country
 * (with geoip_database) and verdict, and the postmaster's `mailbeacon report --message ID`; never a
 * recipient, never an address of the reader. It carries
 * Auto-Submitted: auto-generated (vacation responders stay quiet) and
 * X-Mailbeacon: notification (the milter passes it untouched).
 *
 * Limits: one mail per message's first open and per link's first click
 * (store_notification_claim, durable); at most notify_max_per_hour mails
 * per sender in a window that starts with the sender's first mail; what is
 * held back is told in one summary mail at the window's end ("and 37
 * more").
 *
 * sendmail (common/sendmail.c): exit 0 is sent; any other status, death
 * by a signal, or no end within SENDMAIL_DEADLINE_MS (it is killed) is
 * retried by the queue, which gives up after its sixth attempt. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "delivery_queue.h"
#include "log.h"
#include "mbuf.h"
#include "monoclock.h"
#include "notify_mail.h"
#include "sendmail.h"
#include "state.h"

#define SENDMAIL_DEADLINE_MS 5000	/* for one run of sendmail_path */
#define WINDOW_DEFAULT 3600	/* notify_max_per_hour's hour */

/* ---- the queue's jobs ---- */

struct mail_job {
	char *to;		/* the sender */
	char *text;		/* the whole message; NULL: a summary, written when sent */
	unsigned held;		/* a summary's count, taken at its first attempt */
};

static void
job_free(void *p)
{
	struct mail_job *j = p;

	if (j == NULL)
		return;
	free(j->to);
	free(j->text);
	free(j);
}

static const char *
job_to(const void *p)
{
	return ((const struct mail_job *)p)->to;
}

static enum dq_result send_attempt(void *ctx, void *job, unsigned attempt_no, char *why,
				   size_t whylen);

static const struct dq_ops mail_ops = {
	.noun = "notification mail",
	.attempt = send_attempt,
	.job_free = job_free,
	.job_target = job_to,
};
static struct delivery_queue queue = DELIVERY_QUEUE_INIT(&mail_ops);

/* ---- the hourly limit per sender (writer thread and queue thread) ---- */

struct sender_window {
	char *sender;
	double start;		/* monotonic */
	unsigned sent;		/* mails in this window */
	unsigned held;		/* held back since the last summary */
	bool summary_queued;
	struct sender_window *next;
};

static pthread_mutex_t win_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sender_window *windows;
static double window_seconds = WINDOW_DEFAULT;

/* Under win_lock: the sender's window, made (and stale ones let go) as
 * needed; NULL when out of memory. */
static struct sender_window *
window_of(const char *sender, double now)
{
	struct sender_window **pp = &windows, *w;

	while ((w = *pp) != NULL) {
		if (strcmp(w->sender, sender) == 0)
			return w;
		if (now - w->start >= window_seconds && w->held == 0 && !w->summary_queued) {
			*pp = w->next;
			free(w->sender);
			free(w);
			continue;
		}
		pp = &w->next;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL || (w->sender = strdup(sender)) == NULL) {
		free(w);
		return NULL;
	}
	w->start = now;
	w->next = windows;
	windows = w;
	return w;
}

/* 0: send it; 1: held back (count it); 2: held back, and the summary is to
 * be queued, due in *due seconds. */
static int
window_take(const char *sender, double *due)
{
	double now = monotonic_seconds();
	int rc = 0;

	pthread_mutex_lock(&win_lock);
	struct sender_window *w = window_of(sender, now);
	if (w != NULL) {
		if (now - w->start >= window_seconds) {
			w->start = now;
			w->sent = 0;
		}
		if (w->sent < (unsigned)bc.cfg.notify_max_per_hour) {
			w->sent++;
		} else {
			w->held++;
			rc = 1;
			if (!w->summary_queued) {
				w->summary_queued = true;
				*due = w->start + window_seconds - now;
				rc = 2;
			}
		}
	}
	pthread_mutex_unlock(&win_lock);
	return rc;
}

/* The summary's count, taken once: what was held back until now. */
static unsigned
window_take_held(const char *sender)
{
	unsigned n = 0;

	pthread_mutex_lock(&win_lock);
	for (struct sender_window *w = windows; w != NULL; w = w->next)
		if (strcmp(w->sender, sender) == 0) {
			n = w->held;
			w->held = 0;
			w->summary_queued = false;
			break;
		}
	pthread_mutex_unlock(&win_lock);
	return n;
}

static void
windows_free(void)
{
	pthread_mutex_lock(&win_lock);
	while (windows != NULL) {
		struct sender_window *w = windows;
		windows = w->next;
		free(w->sender);
		free(w);
	}
	pthread_mutex_unlock(&win_lock);
}

/* ---- what the mails say ---- */

enum utc_form { UTC_HEADER, UTC_SECONDS, UTC_MINUTES };

/* t as a Date: header wants it, or as people read it. */
static void
utc(long long t, enum utc_form form, char *out, size_t outlen)
{
	time_t tt = (time_t)t;
	struct tm tm;
	size_t n = 0;

	if (gmtime_r(&tt, &tm) != NULL) {
		if (form == UTC_HEADER)
			n = strftime(out, outlen, "%a, %d %b %Y %H:%M:%S +0000", &tm);
		else if (form == UTC_SECONDS)
			n = strftime(out, outlen, "%Y-%m-%d %H:%M:%S UTC", &tm);
		else
			n = strftime(out, outlen, "%Y-%m-%d %H:%M UTC", &tm);
	}
	if (n == 0)
		snprintf(out, outlen, "%lld", t);
}

/* The headers every notification has, up to and including Subject's name;
 * the caller writes the subject, the blank line and the body. */
static void
put_headers(struct mbuf *b, const char *to)
{
	char date[64];

	utc((long long)time(NULL), UTC_HEADER, date, sizeof(date));
	if (strcmp(bc.cfg.notify_from, "<>") == 0)
		mbuf_puts(b, "From: Mail beacon <MAILER-DAEMON>\n");
	else
		mbuf_printf(b, "From: Mail beacon <%s>\n", bc.cfg.notify_from);
	mbuf_printf(b, "To: <%s>\nDate: %s\nAuto-Submitted: auto-generated\n"
		    "X-Mailbeacon: notification\nMIME-Version: 1.0\n", to, date);
}

/* The stored subject on one line, or NULL when there is none to show (a
 * header that long would not fit a line). */
static char *
subject_line(const char *subject)
{
	if (subject == NULL || subject[0] == '\0' || strlen(subject) > 900)
		return NULL;
	char *s = strdup(subject);
	if (s == NULL)
		return NULL;
	char *w = s;
	for (const char *p = subject; *p; p++) {
		if (*p == '\r' || *p == '\n' || *p == '\t') {
			if (w > s && w[-1] != ' ')
				*w++ = ' ';
		} else {
			*w++ = *p;
		}
	}
	*w = '\0';
	return s;
}

static bool
ascii_only(const char *s)
{
	for (; s != NULL && *s; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

/* The mail for c (the message's first open, or the first click of a link
 * whose stored URL is link_url), malloc'd; NULL when out of memory. */
static char *
read_mail(const struct webhook_candidate *c, const struct store_notice *n, const char *link_url)
{
	char when[64], sent[64], what[128];
	struct mbuf b;
	char *subject = bc.cfg.store_subject ? subject_line(n->subject) : NULL;

	utc(c->time, UTC_SECONDS, when, sizeof(when));
	utc(n->sent, UTC_MINUTES, sent, sizeof(sent));
	snprintf(what, sizeof(what), "your message to %lld recipient%s of %s", n->recipients,
		 n->recipients == 1 ? "" : "s", sent);
	mbuf_init(&b);
	put_headers(&b, n->sender);
	mbuf_printf(&b, "Subject: Read: %s", subject != NULL ? subject : what);
	if (c->kind == 'c')
		mbuf_printf(&b, " (link %u clicked)", c->link);
	bool ascii = ascii_only(link_url);
	mbuf_printf(&b, "\nContent-Type: text/plain; charset=%s\nContent-Transfer-Encoding: %s\n\n",
		    ascii ? "us-ascii" : "utf-8", ascii ? "7bit" : "8bit");
	if (c->kind == 'o')
		mbuf_puts(&b, "A recipient opened your message.\n\n");
	else
		mbuf_printf(&b, "A recipient clicked link %u of your message.\n\n", c->link);
	mbuf_printf(&b, "Sent:    %s to %lld recipient%s\n", sent, n->recipients,
		    n->recipients == 1 ? "" : "s");
	if (c->kind == 'c' && link_url != NULL)
		mbuf_printf(&b, "Link:    %s\n", link_url);
	mbuf_printf(&b, "Time:    %s\nClient:  %s\n", when, c->client[0] ? c->client : "unknown");
	if (c->country[0] != '\0')
		mbuf_printf(&b, "Country: %s\n", c->country);
	mbuf_printf(&b, "Verdict: %s\n\n", c->verdict);
	mbuf_printf(&b, "For the postmaster: mailbeacon report --message %s\n\n"
		    "-- \nThe mail server's tracking (notify=mail) sent this; it never names\n"
		    "who opened or clicked.\n", c->message_id);
	free(subject);
	size_t len;
	return b.failed ? (mbuf_free(&b), NULL) : mbuf_steal(&b, &len);
}

/* The summary of the notifications held back: NULL when out of memory. */
static char *
summary_mail(const char *to, unsigned held)
{
	struct mbuf b;

	mbuf_init(&b);
	put_headers(&b, to);
	mbuf_printf(&b, "Subject: Read: and %u more\n"
		    "Content-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: 7bit\n\n"
		    "Your messages were opened or their links clicked %u more time%s than\n"
		    "the %d notifications an hour this server mails to one sender\n"
		    "(notify_max_per_hour); these were not mailed one by one.\n\n"
		    "For the postmaster: mailbeacon report --sender %s\n\n"
		    "-- \nThe mail server's tracking (notify=mail) sent this; it never names\n"
		    "who opened or clicked.\n", held, held, held == 1 ? "" : "s",
		    bc.cfg.notify_max_per_hour, to);
	size_t len;
	return b.failed ? (mbuf_free(&b), NULL) : mbuf_steal(&b, &len);
}

/* One run of sendmail_path (common/sendmail.c). Whatever went wrong is
 * retried: a local MTA that refuses or hangs is most often full or
 * restarting, and the queue gives up after its last attempt. */
static enum dq_result
run_sendmail(const char *text, char *why, size_t whylen)
{
	if (sendmail_send(bc.cfg.sendmail_path, bc.cfg.notify_from, text, strlen(text),
			  SENDMAIL_DEADLINE_MS, why, whylen) < 0)
		return dq_stopping(&queue) ? DQ_STOPPED : DQ_RETRY;
	snprintf(why, whylen, "sendmail_path took it");
	return DQ_DELIVERED;
}

static enum dq_result
send_attempt(void *ctx, void *p, unsigned attempt_no, char *why, size_t whylen)
{
	struct mail_job *j = p;

	(void)ctx;
	if (j->text == NULL) {
		/* A summary: the count is taken once, at its first attempt. */
		if (attempt_no == 1)
			j->held = window_take_held(j->to);
		if (j->held == 0) {
			snprintf(why, whylen, "nothing held back");
			return DQ_DELIVERED;
		}
		char *text = summary_mail(j->to, j->held);
		if (text == NULL) {
			snprintf(why, whylen, "out of memory");
			return DQ_RETRY;
		}
		enum dq_result r = run_sendmail(text, why, whylen);
		free(text);
		return r;
	}
	return run_sendmail(j->text, why, whylen);
}

/* ---- the writer's side ---- */

static void
queue_mail(const char *to, char *text, const char *what, double delay)
{
	struct mail_job *j = calloc(1, sizeof(*j));

	if (j == NULL || (j->to = strdup(to)) == NULL) {
		free(j);
		free(text);
		log_warnx("notification mail %s to %s not sent: out of memory", what, to);
		return;
	}
	j->text = text;
	dq_push(&queue, j, what, delay);
}

void
notify_mail_first(struct store *st, const struct webhook_candidate *c)
{
	struct store_notice n;
	char *link_url = NULL, what[64];
	double due = 0;

	if (c->kind == 'o')
		snprintf(what, sizeof(what), "open of %s", c->message_id);
	else
		snprintf(what, sizeof(what), "click %u of %s", c->link, c->message_id);
	/* A first: no person's event of its kind before its second (those of
	 * the same second, here or on another beacon, are settled by the
	 * claim). */
	long long before = store_human_events_before(st, c->message_id,
						     c->kind == 'o' ? "open" : "click", c->link, c->time);
	if (before != 0) {
		if (before < 0)
			log_warnx("notification mail %s not sent: %s", what, store_errmsg(st));
		return;
	}
	int found = store_message_notice(st, c->message_id, &n);
	if (found <= 0 || n.sender == NULL) {
		if (found < 0)
			log_warnx("notification mail %s not sent: %s", what, store_errmsg(st));
		store_notice_free(&n);
		return;
	}
	int claimed = store_notification_claim(st, c->message_id, c->kind == 'o' ? 0 : c->link,
					       (long long)time(NULL));
	if (claimed <= 0) {
		if (claimed < 0)
			log_warnx("notification mail %s not sent: %s", what, store_errmsg(st));
		else
			log_debug("notification mail %s: sent before", what);
		store_notice_free(&n);
		return;
	}
	int held = window_take(n.sender, &due);
	if (held > 0) {
		log_info("notification mail %s to %s held back: notify_max_per_hour (%d) reached",
			 what, n.sender, bc.cfg.notify_max_per_hour);
		if (held == 2)
			queue_mail(n.sender, NULL, "summary", due);
		store_notice_free(&n);
		return;
	}
	if (c->kind == 'c' && store_link_url(st, c->message_id, c->link, &link_url) < 0)
		link_url = NULL;	/* the mail goes without it */
	char *text = read_mail(c, &n, link_url);
	if (text != NULL)
		queue_mail(n.sender, text, what, 0);
	else
		log_warnx("notification mail %s not sent: out of memory", what);
	free(link_url);
	store_notice_free(&n);
}

/* ---- start, stop, metrics ---- */

int
notify_mail_start(void)
{
	const char *w = getenv("MAILBEACON_NOTIFY_WINDOW");

	if (w != NULL && *w != '\0') {
		char *end;
		long v = strtol(w, &end, 10);
		if (*end != '\0' || v < 1 || v > 86400)
			log_warnx("MAILBEACON_NOTIFY_WINDOW=%s ignored: expected 1 to 86400 seconds", w);
		else
			window_seconds = (double)v;
	}
	return dq_start(&queue);
}

void
notify_mail_stop(void)
{
	dq_stop(&queue);
	windows_free();
}

void
notify_mail_metrics(struct mbuf *b)
{
	dq_metrics(&queue, b, "mailbeacon_notify_mails", "sent",
		   "notify=mail \"Read:\" mails handed to sendmail_path, by result.",
		   "notify=mail mails waiting (new, to retry, or a summary due).");
}
