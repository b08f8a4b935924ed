/* report_table: the default format of mailbeacon report, a table within
 * 100 columns: one row per sender and the total, each destination once
 * with its clicks over the messages, then each sender's messages with their
 * links. Stored text goes through tty_cell/tty_text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "report_fmt.h"
#include "textenc.h"

static void
pct(char buf[16], long long num, long long den)
{
	snprintf(buf, 16, "%.1f%%", 100.0 * ratio(num, den));
}

/* The digits of v >= 0 at p, NUL-terminated; returns the NUL. */
static char *
put_ull(char *p, unsigned long long v)
{
	return p + text_decimal(p, v);
}

/* "a/b" (snprintf's "%lld/%lld", without it for the usual case: a report
 * prints a few per message) */
static void
pair(char buf[48], long long a, long long b)
{
	if (a < 0 || b < 0) {
		snprintf(buf, 48, "%lld/%lld", a, b);
		return;
	}
	*put_ull(buf, (unsigned long long)a) = '/';
	put_ull(strchr(buf, '/') + 1, (unsigned long long)b);
}

/* "%lld" */
static void
num(char buf[32], long long v)
{
	if (v < 0)
		snprintf(buf, 32, "%lld", v);
	else
		put_ull(buf, (unsigned long long)v);
}

/* SENDER(30) MSGS(6) RCPTS(7) OPENS H/M(13) UNIQUE(7) OPEN%(7) CLICKS H/S(13) CLICK%(7) */
static void
table_sender_row(FILE *f, const char *name, const struct report_counts *c)
{
	char n[32], o[48], k[48], op[16], cp[16];

	tty_cell(f, name, 30, false);
	snprintf(n, sizeof(n), "%lld", c->messages);
	fputc(' ', f);
	tty_cell(f, n, 6, true);
	snprintf(n, sizeof(n), "%lld", c->recipients);
	fputc(' ', f);
	tty_cell(f, n, 7, true);
	pair(o, c->opens_human, c->opens_machine);
	fputc(' ', f);
	tty_cell(f, o, 13, true);
	snprintf(n, sizeof(n), "%lld", c->unique_human_opens);
	fputc(' ', f);
	tty_cell(f, n, 7, true);
	pct(op, c->unique_human_opens, c->messages);
	fputc(' ', f);
	tty_cell(f, op, 7, true);
	pair(k, c->clicks_human, c->clicks_scanner);
	fputc(' ', f);
	tty_cell(f, k, 13, true);
	pct(cp, c->messages_clicked, c->messages);
	fputc(' ', f);
	tty_cell(f, cp, 7, true);
	fputc('\n', f);
}

static int
table_sender_cb(void *arg, const struct report_sender *s)
{
	table_sender_row(arg, s->sender, &s->c);
	return 0;
}

struct table_ctx {
	FILE *f;
	char *sender_copy;
};

/* A link's or a destination's clicks, CLICKS H/S(11) right-aligned. */
static void
clicks_cell(FILE *f, long long human, long long scanner)
{
	char b[48];

	pair(b, human, scanner);
	tty_cell(f, b, 11, true);
}

/* The URL(78) that ends a link's or a destination's line. */
static void
url_end(FILE *f, const char *url)
{
	tty_text(f, url ? url : "(URL not stored)", 78);
	fputc('\n', f);
}

/* "  " ID(22) SENT(16) RCPTS(5) OPENS H/M(11) FIRST OPEN(16) TO OPEN(7) CLICKS H/S(11) */
static int
table_message_cb(void *arg, const struct report_message *m)
{
	struct table_ctx *t = arg;
	FILE *f = t->f;
	char b[48];

	if (t->sender_copy == NULL || strcmp(t->sender_copy, m->sender) != 0) {
		free(t->sender_copy);
		if ((t->sender_copy = strdup(m->sender)) == NULL)
			return 1;	/* out of memory */
		fputc('\n', f);
		tty_text(f, m->sender, 100);
		fputs("\n  ", f);
		tty_cell(f, "MESSAGE", 22, false);
		fputs(" SENT (UTC)       RCPTS   OPENS H/M FIRST OPEN (UTC) TO OPEN  CLICKS H/S\n", f);
	}
	fputs("  ", f);
	tty_cell(f, m->id, 22, false);
	fmt_short(m->sent, b);
	fputc(' ', f);
	tty_cell(f, b, 16, false);
	num(b, m->recipients);
	fputc(' ', f);
	tty_cell(f, b, 5, true);
	pair(b, m->opens_human, m->opens_machine);
	fputc(' ', f);
	tty_cell(f, b, 11, true);
	if (m->has_first_human_open)
		fmt_short(m->first_human_open, b);
	else
		snprintf(b, sizeof(b), "-");
	fputc(' ', f);
	tty_cell(f, b, 16, false);
	if (m->has_first_human_open)
		fmt_duration(m->first_human_open - m->sent, b);
	else
		snprintf(b, sizeof(b), "-");
	fputc(' ', f);
	tty_cell(f, b, 7, true);
	pair(b, m->clicks_human, m->clicks_scanner);
	fputc(' ', f);
	tty_cell(f, b, 11, true);
	fputc('\n', f);
	for (size_t i = 0; i < m->n_links; i++) {
		const struct report_link *l = &m->links[i];

		b[0] = '#';
		num(b + 1, l->num);
		fputs("    ", f);
		tty_cell(f, b, 5, false);
		fputc(' ', f);
		clicks_cell(f, l->human_clicks, l->scanner_clicks);
		fputc(' ', f);
		url_end(f, l->url);
	}
	return 0;
}

/* Where a section's rows go, and how many went. */
struct rows {
	FILE *f;
	long long n;
};

/* "  " CLICKS H/S(11) MSGS(6) URL(78) */

static int
table_url_cb(void *arg, const struct report_url *u)
{
	struct rows *r = arg;
	FILE *f = r->f;
	char b[48];

	r->n++;
	fputs("  ", f);
	clicks_cell(f, u->human_clicks, u->scanner_clicks);
	num(b, u->messages);
	fputc(' ', f);
	tty_cell(f, b, 6, true);
	fputs("  ", f);
	url_end(f, u->url);
	return 0;
}

/* "  " SENDER(30) "  " CC(2) "  " CITY(30) " " OPENS(7), under a heading
 * printed before the first: nothing at all without geoip_database. */

static void
place_row(FILE *f, const char *sender, const char *country, const char *city, const char *opens)
{
	fputs("  ", f);
	tty_cell(f, sender, 30, false);
	fputs("  ", f);
	tty_cell(f, country, 2, false);
	fputs("  ", f);
	tty_cell(f, city, 30, false);
	fputc(' ', f);
	tty_cell(f, opens, 7, true);
	fputc('\n', f);
}

static int
table_place_cb(void *arg, const struct report_place *p)
{
	struct rows *r = arg;
	char b[32];

	if (r->n++ == 0) {
		fputs("\nhuman opens per place (geoip_database)\n", r->f);
		place_row(r->f, "SENDER", "CC", "CITY", "OPENS");
	}
	num(b, p->opens_human);
	place_row(r->f, p->sender, p->country, p->city ? p->city : "-", b);
	return 0;
}

/* One line per filter, each within 100 columns. */
static void
table_filters(FILE *f, const struct report_opts *o)
{
	char b[32];

	if (!o->f.sender && !o->f.has_since && !o->f.has_until && !o->f.message) {
		fputs("filters: none\n", f);
		return;
	}
	if (o->f.sender) {
		fputs("sender:  ", f);
		tty_text(f, o->f.sender, 90);
		fputc('\n', f);
	}
	if (o->f.has_since || o->f.has_until) {
		fputs("sent:   ", f);
		if (o->f.has_since) {
			fmt_iso(o->f.since, b);
			fprintf(f, " from %s", b);
		}
		if (o->f.has_until) {
			fmt_iso(o->f.until, b);
			fprintf(f, " before %s", b);
		}
		fputc('\n', f);
	}
	if (o->f.message) {
		fputs("message: ", f);
		tty_text(f, o->f.message, 90);
		fputc('\n', f);
	}
}

int
report_table(struct store *st, const struct report_data *rd, const struct report_opts *o,
	     FILE *f, char *err, size_t errlen)
{
	const struct report_counts tot = *store_report_totals(rd);
	struct table_ctx t = { f, NULL };
	struct rows urls = { f, 0 }, places = { f, 0 };
	char b[32];
	int rc;

	fmt_iso(o->now, b);
	fprintf(f, "mailbeacon report, generated %s\n", b);
	table_filters(f, o);
	if (tot.messages == 0) {
		fputs("no tracked messages match\n", f);
		return 0;
	}
	fputs("opens: human (incl. gmail-proxy) / machine; clicks: human / scanner\n\n", f);
	tty_cell(f, "SENDER", 30, false);
	fputs("   MSGS   RCPTS     OPENS H/M  UNIQUE   OPEN%    CLICKS H/S  CLICK%\n", f);
	store_report_senders(rd, table_sender_cb, f);
	table_sender_row(f, "all senders", &tot);
	fputs("\nhuman clicks per link, each destination once (MSGS: the messages linking to it)\n"
	    "   CLICKS H/S   MSGS  URL\n", f);
	if (store_report_urls(st, rd, table_url_cb, &urls, err, errlen) != 0)
		return -1;
	if (urls.n == 0)
		fputs("  (these messages have no tracked links)\n", f);
	if (store_report_places(st, rd, NULL, table_place_cb, &places, err, errlen) != 0)
		return -1;
	rc = store_report_messages(st, rd, table_message_cb, &t, err, errlen);
	free(t.sender_copy);
	if (rc > 0)
		snprintf(err, errlen, "out of memory");
	return rc == 0 ? 0 : -1;
}
