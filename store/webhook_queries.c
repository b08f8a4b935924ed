/* store/webhook_queries: the reads the beacon makes to decide a notify=URL
 * webhook or a notify=mail "Read:" mail (beacon/webhook.c): whose message
 * it is, whether an event is the first of its kind a person made, a link's
 * stored URL, what a "Read:" mail names, and the claim that keeps it to
 * one. Statements are prepared and finalized per call: they run only for
 * senders with notify=. */
#include <stdlib.h>
#include <string.h>

#include "sq.h"
#include "store.h"
#include "store_int.h"

static const char SQL_MESSAGE[] = "SELECT sender, message_id_header FROM messages WHERE id = ?1";
#define HUMAN_OPENS_SQL "SELECT count(*) FROM events WHERE message_id = ?1" \
	" AND kind = 'open' AND verdict IN " STORE_HUMAN_OPEN_VERDICTS_SQL " AND dnt = 0"
#define HUMAN_CLICKS_SQL "SELECT count(*) FROM events WHERE message_id = ?1" \
	" AND kind = 'click' AND link = ?2 AND verdict IN " STORE_HUMAN_CLICK_VERDICTS_SQL \
	" AND dnt = 0"
static const char SQL_HUMAN_OPENS[] = HUMAN_OPENS_SQL;
static const char SQL_HUMAN_CLICKS[] = HUMAN_CLICKS_SQL;
/* The same, only those before a time (every parameter is used: PostgreSQL
 * must know each one's type). */
static const char SQL_HUMAN_OPENS_BEFORE[] = HUMAN_OPENS_SQL " AND time < ?2";
static const char SQL_HUMAN_CLICKS_BEFORE[] = HUMAN_CLICKS_SQL " AND time < ?3";
static const char SQL_LINK_URL[] = "SELECT url FROM links WHERE message_id = ?1 AND num = ?2";
static const char SQL_NOTICE[] = "SELECT sender, subject, sent, recipient_count FROM messages"
	" WHERE id = ?1";
static const char SQL_CLAIM[] = "INSERT INTO mail_notifications (message_id, link, time)"
	" VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING";

/* Column i of the current row as a new string; NULL for SQL NULL (or when
 * out of memory: the callers treat both as "not known"). */
static char *
column_strdup(struct sq *s, int i)
{
	const char *t = sq_text(s, i);

	return t != NULL ? strdup(t) : NULL;
}

/* Prepares sql with the message id as ?1 (and num as ?2 when bind_num);
 * NULL with the handle's error message set when it cannot. */
static struct sq *
prepare(struct store *st, const char *sql, const char *message_id, long long num,
	bool bind_num, const char *what)
{
	struct sq *s = sq_prepare(st, sql, NULL);

	if (s == NULL || sq_bind_text(s, 1, message_id) < 0 ||
	    (bind_num && sq_bind_int64(s, 2, num) < 0)) {
		store_dberr(st, what);
		sq_finish(s);
		return NULL;
	}
	return s;
}

int
store_message_sender(struct store *st, const char *message_id, char **sender,
		     char **message_id_header)
{
	*sender = *message_id_header = NULL;
	if (st == NULL || message_id == NULL)
		return -1;
	struct sq *s = prepare(st, SQL_MESSAGE, message_id, 0, false, "sender of a message");
	if (s == NULL)
		return -1;
	int rc = sq_step(s);
	if (rc == 1) {
		*sender = column_strdup(s, 0);
		*message_id_header = column_strdup(s, 1);
	} else if (rc < 0) {
		store_dberr(st, "sender of a message");
	}
	sq_finish(s);
	return rc;
}

/* store_human_events_count, or with bounded the events before the time
 * before only. */
static long long
human_events(struct store *st, const char *message_id, const char *kind, unsigned link,
	     bool bounded, long long before)
{
	bool click = kind != NULL && strcmp(kind, "click") == 0;

	if (st == NULL || message_id == NULL || kind == NULL ||
	    (!click && strcmp(kind, "open") != 0))
		return -1;
	const char *sql = bounded ? (click ? SQL_HUMAN_CLICKS_BEFORE : SQL_HUMAN_OPENS_BEFORE)
				  : (click ? SQL_HUMAN_CLICKS : SQL_HUMAN_OPENS);
	struct sq *s = prepare(st, sql, message_id, link, click, "events of a message");
	if (s == NULL)
		return -1;
	if (bounded && sq_bind_int64(s, click ? 3 : 2, before) < 0) {
		store_dberr(st, "events of a message");
		sq_finish(s);
		return -1;
	}
	long long n = -1;
	if (sq_step(s) == 1)
		n = sq_int64(s, 0);
	else
		store_dberr(st, "events of a message");
	sq_finish(s);
	return n;
}

long long
store_human_events_count(struct store *st, const char *message_id, const char *kind,
			 unsigned link)
{
	return human_events(st, message_id, kind, link, false, 0);
}

long long
store_human_events_before(struct store *st, const char *message_id, const char *kind,
			  unsigned link, long long before)
{
	return human_events(st, message_id, kind, link, true, before);
}

int
store_link_url(struct store *st, const char *message_id, unsigned link, char **url)
{
	*url = NULL;
	if (st == NULL || message_id == NULL)
		return -1;
	struct sq *s = prepare(st, SQL_LINK_URL, message_id, link, true, "link of a message");
	if (s == NULL)
		return -1;
	int rc = sq_step(s);
	if (rc == 1)
		*url = column_strdup(s, 0);
	else if (rc < 0)
		store_dberr(st, "link of a message");
	sq_finish(s);
	return rc;
}

int
store_message_notice(struct store *st, const char *message_id, struct store_notice *out)
{
	memset(out, 0, sizeof(*out));
	if (st == NULL || message_id == NULL)
		return -1;
	struct sq *s = prepare(st, SQL_NOTICE, message_id, 0, false, "a message's notice");
	if (s == NULL)
		return -1;
	int rc = sq_step(s);
	if (rc == 1) {
		out->sender = column_strdup(s, 0);
		out->subject = column_strdup(s, 1);
		out->sent = sq_int64(s, 2);
		out->recipients = sq_int64(s, 3);
	} else if (rc < 0) {
		store_dberr(st, "a message's notice");
	}
	sq_finish(s);
	return rc;
}

void
store_notice_free(struct store_notice *n)
{
	free(n->sender);
	free(n->subject);
	memset(n, 0, sizeof(*n));
}

int
store_notification_claim(struct store *st, const char *message_id, unsigned link, long long when)
{
	if (st == NULL || message_id == NULL)
		return -1;
	struct sq *s = prepare(st, SQL_CLAIM, message_id, link, true, "a notification's record");
	if (s == NULL)
		return -1;
	int rc = sq_bind_int64(s, 3, when) < 0 ? -1 : sq_step(s);
	if (rc >= 0)
		rc = sq_changes(s) > 0 ? 1 : 0;
	else
		store_dberr(st, "a notification's record");
	sq_finish(s);
	return rc;
}
