/* mailbeacon report --format json. The schema (version 1; keys are stable,
 * new keys may be added, none renamed or removed without a new version):
 *
 * {
 *   "schema": 1,
 *   "generated": "2024-03-05T10:00:00Z",
 *   "filters": {"sender": S|null, "since": ISO|null, "until": ISO|null,
 *               "message": S|null},
 *       since: messages sent at or after; until: messages sent before
 *   "totals": COUNTS,
 *   "days": [{"day": "YYYY-MM-DD", "opens_human": N, "clicks_human": N}, ...],
 *       every UTC day of the report's range (report_load_days), oldest first
 *   "senders": [
 *     {"sender": S, COUNTS...,
 *      "messages_detail": [
 *        {"id": S, "queue_id": S|null, "message_id": S|null,
 *         "subject": S|null, "sent": ISO, "recipients": N,
 *         "opens": {"human": N, "machine": N}, "unique_human_opens": 0|1,
 *         "first_human_open": ISO|null, "time_to_open_seconds": N|null,
 *         "clicks": {"human": N, "scanner": N}, "optouts": N,
 *         "links": [{"num": N, "url": S|null, "human_clicks": N,
 *                    "scanner_clicks": N}]}]}],
 *   "urls": [{"url": S|null, "messages": N, "human_clicks": N,
 *             "scanner_clicks": N}, ...]
 *       each destination (the stored URL) once across the messages:
 *       messages linking to it, its clicks summed; the most clicked by
 *       humans first, then by URL; null (links whose URL is not stored)
 *       last
 *   "places": {"by_message": [PLACE...], "by_sender": [PLACE...]},
 *       human opens per place (geoip_database; empty without it), per
 *       sender and per message: PLACE is {"sender": S, "id": S (by_message
 *       only), "country": "FR", "city": S|null, "opens_human": N}, in the
 *       senders' (and messages') order, the most opens first, then by
 *       country and city; city is null unless geoip_precision = city,
 *   "consent": [{"sender": S, "asked": N, "consented": N, "withdrawn": N,
 *                "asked_consented": N}]
 *       consent=optin per sender (report_consent.c): recipients asked,
 *       who consented, who withdrew, the asked who consented; [] when none
 * }
 * COUNTS: "messages": N, "recipients": N,
 *   "opens": {"human": N, "machine": N}, "unique_human_opens": N,
 *   "clicks": {"human": N, "scanner": N}, "messages_clicked": N,
 *   "optouts": N, "open_rate": X, "click_rate": X,
 *   "first_sent": ISO|null, "last_sent": ISO|null
 *
 * Senders are ordered by address, messages by sent time. Times are UTC,
 * ISO 8601 with Z. Rates are unique_human_opens / messages and
 * messages_clicked / messages (0 when there are no messages).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "report_fmt.h"

static void
json_time(FILE *f, bool has, long long t)
{
	char b[32];

	if (!has) {
		fputs("null", f);
		return;
	}
	fmt_iso(t, b);
	json_str(f, b);
}

static void
json_rate(FILE *f, long long num, long long den)
{
	char b[40];

	fmt_double(ratio(num, den), b);
	fputs(b, f);
}

static void
json_counts(FILE *f, const struct report_counts *c, const char *ind)
{
	fprintf(f, "%s\"messages\": %lld,\n", ind, c->messages);
	fprintf(f, "%s\"recipients\": %lld,\n", ind, c->recipients);
	fprintf(f, "%s\"opens\": {\"human\": %lld, \"machine\": %lld},\n", ind,
	    c->opens_human, c->opens_machine);
	fprintf(f, "%s\"unique_human_opens\": %lld,\n", ind, c->unique_human_opens);
	fprintf(f, "%s\"clicks\": {\"human\": %lld, \"scanner\": %lld},\n", ind,
	    c->clicks_human, c->clicks_scanner);
	fprintf(f, "%s\"messages_clicked\": %lld,\n", ind, c->messages_clicked);
	fprintf(f, "%s\"optouts\": %lld,\n", ind, c->optouts);
	fprintf(f, "%s\"open_rate\": ", ind);
	json_rate(f, c->unique_human_opens, c->messages);
	fprintf(f, ",\n%s\"click_rate\": ", ind);
	json_rate(f, c->messages_clicked, c->messages);
	fprintf(f, ",\n%s\"first_sent\": ", ind);
	json_time(f, c->messages > 0, c->first_sent);
	fprintf(f, ",\n%s\"last_sent\": ", ind);
	json_time(f, c->messages > 0, c->last_sent);
}

/* Senders' aggregates, loaded first (one per sender, few next to the
 * messages); the messages then stream in one query ordered by sender, and
 * each sender's object opens when its first message comes. */
struct sender_list {
	struct report_sender *s;
	size_t n, cap;
};

static int
collect_sender_cb(void *arg, const struct report_sender *s)
{
	struct sender_list *l = arg;

	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 16;
		struct report_sender *p = realloc(l->s, nc * sizeof(*p));

		if (p == NULL)
			return 1;
		l->s = p;
		l->cap = nc;
	}
	l->s[l->n] = *s;
	if ((l->s[l->n].sender = strdup(s->sender)) == NULL)
		return 1;
	l->n++;
	return 0;
}

struct json_ctx {
	FILE *f;
	const struct sender_list *senders;
	size_t next;		/* the next sender to open */
	bool open;		/* a sender's object is open */
	bool first;		/* no message yet in the open sender */
};

static void
open_sender(FILE *f, const struct report_sender *s, bool first)
{
	fputs(first ? "\n" : ",\n", f);
	fputs("    {\"sender\": ", f);
	json_str(f, s->sender);
	fputs(",\n", f);
	json_counts(f, &s->c, "     ");
	fputs(",\n     \"messages_detail\": [", f);
}

static int
json_message_cb(void *arg, const struct report_message *m)
{
	struct json_ctx *j = arg;
	FILE *f = j->f;

	if (!j->open || strcmp(j->senders->s[j->next - 1].sender, m->sender) != 0) {
		/* The same filter and order as the senders: the next one is it. */
		if (j->next >= j->senders->n || strcmp(j->senders->s[j->next].sender,
		    m->sender) != 0)
			return 2;	/* the database changed under us */
		if (j->open)
			fputs("]}", f);
		open_sender(f, &j->senders->s[j->next], j->next == 0);
		j->next++;
		j->open = true;
		j->first = true;
	}
	fputs(j->first ? "\n" : ",\n", f);
	j->first = false;
	fputs("        {\"id\": ", f);
	json_str(f, m->id);
	fputs(", \"queue_id\": ", f);
	json_str(f, m->queue_id);
	fputs(", \"message_id\": ", f);
	json_str(f, m->message_id);
	fputs(", \"subject\": ", f);
	json_str(f, m->subject);
	fputs(",\n         \"sent\": ", f);
	json_time(f, true, m->sent);
	fprintf(f, ", \"recipients\": %lld", m->recipients);
	fprintf(f, ", \"opens\": {\"human\": %lld, \"machine\": %lld}", m->opens_human,
	    m->opens_machine);
	fprintf(f, ", \"unique_human_opens\": %d,\n         \"first_human_open\": ",
	    m->opens_human > 0);
	json_time(f, m->has_first_human_open, m->first_human_open);
	fputs(", \"time_to_open_seconds\": ", f);
	if (m->has_first_human_open)
		fprintf(f, "%lld", m->first_human_open - m->sent);
	else
		fputs("null", f);
	fprintf(f, ", \"clicks\": {\"human\": %lld, \"scanner\": %lld}, \"optouts\": %lld,\n",
	    m->clicks_human, m->clicks_scanner, m->optouts);
	fputs("         \"links\": [", f);
	for (size_t i = 0; i < m->n_links; i++) {
		const struct report_link *l = &m->links[i];

		fprintf(f, "%s\n          {\"num\": %lld, \"url\": ", i ? "," : "", l->num);
		json_str(f, l->url);
		fprintf(f, ", \"human_clicks\": %lld, \"scanner_clicks\": %lld}", l->human_clicks,
		    l->scanner_clicks);
	}
	fputs("]}", f);
	return 0;
}

/* "urls": each destination once, across the messages */
static int
json_url_cb(void *arg, const struct report_url *u)
{
	struct json_ctx *j = arg;

	fputs(j->first ? "\n    {\"url\": " : ",\n    {\"url\": ", j->f);
	j->first = false;
	json_str(j->f, u->url);
	fprintf(j->f, ", \"messages\": %lld, \"human_clicks\": %lld, \"scanner_clicks\": %lld}",
	    u->messages, u->human_clicks, u->scanner_clicks);
	return 0;
}

static int
json_place_cb(void *arg, const struct report_place *p)
{
	struct json_ctx *j = arg;

	fputs(j->first ? "\n    {\"sender\": " : ",\n    {\"sender\": ", j->f);
	j->first = false;
	json_str(j->f, p->sender);
	if (p->message != NULL) {
		fputs(", \"id\": ", j->f);
		json_str(j->f, p->message);
	}
	fputs(", \"country\": ", j->f);
	json_str(j->f, p->country);
	fputs(", \"city\": ", j->f);
	json_str(j->f, p->city);
	fprintf(j->f, ", \"opens_human\": %lld}", p->opens_human);
	return 0;
}

/* by_message goes out as the messages are walked; by_sender, which comes
 * from the same walk, is kept in memory until then. */
struct json_places {
	struct json_ctx message, sender;
};

static int
json_message_place_cb(void *arg, const struct report_place *p)
{
	return json_place_cb(&((struct json_places *)arg)->message, p);
}

static int
json_sender_place_cb(void *arg, const struct report_place *p)
{
	return json_place_cb(&((struct json_places *)arg)->sender, p);
}

int
report_json(struct store *st, const struct report_data *rd, const struct report_opts *o,
	    FILE *f, char *err, size_t errlen)
{
	struct sender_list senders = { NULL, 0, 0 };
	struct json_ctx j = { f, &senders, 0, false, true };
	const struct report_counts tot = *store_report_totals(rd);
	struct report_days days = { 0 };
	char b[32];
	int rc = -1;

	if (report_load_days(rd, o, &days, err, errlen) == -1)
		goto out;
	if ((rc = store_report_senders(rd, collect_sender_cb, &senders)) != 0) {
		if (rc > 0)
			snprintf(err, errlen, "out of memory");
		rc = -1;
		goto out;
	}
	fmt_iso(o->now, b);
	fputs("{\n  \"schema\": 1,\n  \"generated\": ", f);
	json_str(f, b);
	fputs(",\n  \"filters\": {\"sender\": ", f);
	json_str(f, o->f.sender);
	fputs(", \"since\": ", f);
	json_time(f, o->f.has_since, o->f.since);
	fputs(", \"until\": ", f);
	json_time(f, o->f.has_until, o->f.until);
	fputs(", \"message\": ", f);
	json_str(f, o->f.message);
	fputs("},\n  \"totals\": {\n", f);
	json_counts(f, &tot, "    ");
	fputs("},\n  \"days\": [", f);
	for (long long i = 0; i < days.n; i++) {
		fmt_day(days.first + i, b);
		fprintf(f, "%s\n    {\"day\": \"%s\", \"opens_human\": %lld, \"clicks_human\": %lld}",
		    i ? "," : "", b, days.opens[i], days.clicks[i]);
	}
	fputs("],\n  \"senders\": [", f);
	rc = store_report_messages(st, rd, json_message_cb, &j, err, errlen);
	if (rc > 0)
		snprintf(err, errlen, "the senders and their messages disagree (was the "
		    "database changed during the report?)");
	if (rc == 0 && j.next != senders.n) {
		snprintf(err, errlen, "a sender without messages (was the database changed "
		    "during the report?)");
		rc = -1;
	}
	if (j.open)
		fputs("]}", f);
	fputs("]", f);
	if (rc == 0) {
		fputs(",\n  \"urls\": [", f);
		j.first = true;
		rc = store_report_urls(st, rd, json_url_cb, &j, err, errlen);
		fputs("]", f);
	}
	if (rc == 0) {
		char *by_sender = NULL;
		size_t len = 0;
		FILE *sf = open_memstream(&by_sender, &len);
		struct json_places jp = { { f, NULL, 0, false, true }, { sf, NULL, 0, false, true } };

		fputs(",\n  \"places\": {\"by_message\": [", f);
		rc = sf == NULL ? -1 : store_report_places(st, rd, json_message_place_cb,
							   json_sender_place_cb, &jp, err, errlen);
		if ((sf == NULL || fclose(sf) != 0) && rc == 0)
			rc = -1;
		if (rc > 0 || (rc < 0 && sf == NULL))
			snprintf(err, errlen, "out of memory");
		fputs("],\n   \"by_sender\": [", f);
		if (by_sender != NULL)
			fwrite(by_sender, 1, len, f);
		fputs("]}", f);
		free(by_sender);
	}
	if (rc == 0)
		rc = report_consent_json(st, o, f, err, errlen);
	fputs("\n}\n", f);
	rc = rc == 0 ? 0 : -1;
out:
	report_free_days(&days);
	for (size_t i = 0; i < senders.n; i++)
		free((char *)senders.s[i].sender);
	free(senders.s);
	return rc;
}
