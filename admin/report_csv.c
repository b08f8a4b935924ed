/* report_csv: mailbeacon report --format csv (RFC 4180, CRLF; the columns
 * are in report_usage, report_cmd.c): a row per message followed by its
 * links, then a row per sender, one for the total, a row per destination
 * (the stored URL across the messages), and with geoip_database a row per
 * message and place, then per sender and place; last, under consent=optin,
 * a row per sender with its consent figures (report_consent.c). The
 * consent columns come last, empty in the other rows. */
#include <stdio.h>
#include <stdlib.h>
#include "report_fmt.h"

static void
csv_num(FILE *f, long long v)
{
	fprintf(f, ",%lld", v);
}

static void
csv_text(FILE *f, const char *s)
{
	putc(',', f);
	csv_field(f, s);
}

static void
csv_time(FILE *f, bool has, long long t)
{
	char b[32];

	putc(',', f);
	if (has) {
		fmt_iso(t, b);
		fputs(b, f);
	}
}

static void
csv_rate(FILE *f, long long num, long long den)
{
	char b[40];

	putc(',', f);
	if (den > 0) {
		fmt_double(ratio(num, den), b);
		fputs(b, f);
	}
}

static int
csv_message_cb(void *arg, const struct report_message *m)
{
	FILE *f = arg;
	long long uniq = m->opens_human > 0, clicked = m->clicks_human > 0;

	fputs("message", f);
	csv_text(f, m->sender);
	csv_text(f, m->id);
	csv_text(f, m->queue_id);
	csv_text(f, m->message_id);
	csv_time(f, true, m->sent);
	csv_time(f, false, 0);
	csv_num(f, 1);
	csv_num(f, m->recipients);
	csv_num(f, m->opens_human);
	csv_num(f, m->opens_machine);
	csv_num(f, uniq);
	csv_time(f, m->has_first_human_open, m->first_human_open);
	putc(',', f);
	if (m->has_first_human_open)
		fprintf(f, "%lld", m->first_human_open - m->sent);
	csv_num(f, m->clicks_human);
	csv_num(f, m->clicks_scanner);
	csv_num(f, clicked);
	csv_num(f, m->optouts);
	csv_rate(f, uniq, 1);
	csv_rate(f, clicked, 1);
	fputs(",,,," CSV_NO_CONSENT "\r\n", f);	/* link_num .. city */
	for (size_t i = 0; i < m->n_links; i++) {
		const struct report_link *l = &m->links[i];

		fputs("link", f);
		csv_text(f, m->sender);
		csv_text(f, m->id);
		fputs(",,,,,,,,,,,", f);	/* queue_id .. time_to_open_seconds */
		csv_num(f, l->human_clicks);
		csv_num(f, l->scanner_clicks);
		fputs(",,,,", f);		/* messages_clicked .. click_rate */
		csv_num(f, l->num);
		csv_text(f, l->url);
		fputs(",," CSV_NO_CONSENT "\r\n", f);	/* country, city */
	}
	return 0;
}

static void
csv_counts(FILE *f, const char *scope, const char *sender, const struct report_counts *c)
{
	fputs(scope, f);
	csv_text(f, sender);
	fputs(",,,", f);			/* id, queue_id, message_id */
	csv_time(f, c->messages > 0, c->first_sent);
	csv_time(f, c->messages > 0, c->last_sent);
	csv_num(f, c->messages);
	csv_num(f, c->recipients);
	csv_num(f, c->opens_human);
	csv_num(f, c->opens_machine);
	csv_num(f, c->unique_human_opens);
	fputs(",,", f);				/* first_human_open, time_to_open */
	csv_num(f, c->clicks_human);
	csv_num(f, c->clicks_scanner);
	csv_num(f, c->messages_clicked);
	csv_num(f, c->optouts);
	csv_rate(f, c->unique_human_opens, c->messages);
	csv_rate(f, c->messages_clicked, c->messages);
	fputs(",,,," CSV_NO_CONSENT "\r\n", f);	/* link_num .. city */
}

static int
csv_sender_cb(void *arg, const struct report_sender *s)
{
	csv_counts(arg, "sender", s->sender, &s->c);
	return 0;
}

/* scope url: messages linking to it, its clicks summed over them */
static int
csv_url_cb(void *arg, const struct report_url *u)
{
	FILE *f = arg;

	fputs("url,,,,,,", f);			/* sender .. last_sent */
	csv_num(f, u->messages);
	fputs(",,,,,,", f);			/* recipients .. time_to_open_seconds */
	csv_num(f, u->human_clicks);
	csv_num(f, u->scanner_clicks);
	fputs(",,,,,", f);			/* messages_clicked .. link_num */
	csv_text(f, u->url);
	fputs(",," CSV_NO_CONSENT "\r\n", f);	/* country, city */
	return 0;
}

/* scope place (geoip_database): the human opens of one message (id set)
 * or of one sender (id empty) from one country, or city */
static int
csv_place_cb(void *arg, const struct report_place *p)
{
	FILE *f = arg;

	fputs("place", f);
	csv_text(f, p->sender);
	csv_text(f, p->message);
	fputs(",,,,,,", f);			/* queue_id .. recipients */
	csv_num(f, p->opens_human);
	fputs(",,,,,,,,,,,,", f);		/* opens_machine .. url */
	csv_text(f, p->country);
	csv_text(f, p->city);
	fputs(CSV_NO_CONSENT "\r\n", f);
	return 0;
}

/* The messages' place rows go out as the messages are walked; the
 * senders', from the same walk, are kept in memory until then. */
struct csv_places {
	FILE *message, *sender;
};

static int
csv_message_place_cb(void *arg, const struct report_place *p)
{
	return csv_place_cb(((struct csv_places *)arg)->message, p);
}

static int
csv_sender_place_cb(void *arg, const struct report_place *p)
{
	return csv_place_cb(((struct csv_places *)arg)->sender, p);
}

int
report_csv(struct store *st, const struct report_data *rd, FILE *f, char *err, size_t errlen)
{
	fputs("scope,sender,id,queue_id,message_id,sent,last_sent,messages,recipients,"
	    "opens_human,opens_machine,unique_human_opens,first_human_open,"
	    "time_to_open_seconds,clicks_human,clicks_scanner,messages_clicked,optouts,"
	    "open_rate,click_rate,link_num,url,country,city," CSV_CONSENT_COLUMNS "\r\n", f);
	if (store_report_messages(st, rd, csv_message_cb, f, err, errlen) != 0)
		return -1;
	store_report_senders(rd, csv_sender_cb, f);
	csv_counts(f, "total", NULL, store_report_totals(rd));
	if (store_report_urls(st, rd, csv_url_cb, f, err, errlen) != 0)
		return -1;
	char *by_sender = NULL;
	size_t len = 0;
	struct csv_places cp = { f, open_memstream(&by_sender, &len) };
	int rc = cp.sender == NULL ? -1 : store_report_places(st, rd, csv_message_place_cb,
							       csv_sender_place_cb, &cp, err, errlen);
	if ((cp.sender == NULL || fclose(cp.sender) != 0) && rc == 0)
		rc = -1;
	if (rc == 0 && by_sender != NULL)
		fwrite(by_sender, 1, len, f);
	else if (rc != 0 && (rc > 0 || cp.sender == NULL))
		snprintf(err, errlen, "out of memory");
	free(by_sender);
	return rc == 0 ? 0 : -1;
}
