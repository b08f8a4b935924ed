/* mailbeacon report --format html: one self-contained page. No scripts, no
 * external fonts, style sheets or images (a Content-Security-Policy of
 * default-src 'none' says so to the browser too); the charts are inline
 * SVG. Every stored string (senders, URLs, ids) is escaped.
 *
 * For tests and other tools the charts are marked up:
 *   <svg id="days-chart">: per UTC day of the range one
 *     <circle class="day-open" data-day="YYYY-MM-DD" data-count="N"> (human
 *     opens) and one <circle class="day-click" ...> (human clicks);
 *   <svg id="links-chart">: per destination (the stored URL, across the
 *     messages) one <rect class="link-bar" data-url="URL" data-messages="N"
 *     data-clicks="N" data-scanner="N"> (data-url absent for the links
 *     whose URL is not stored; data-messages: how many messages link to
 *     it; clicks: human, summed), the most clicked first, at most
 *     REPORT_MAX_LINK_BARS;
 *   <svg id="countries-chart"> (geoip_database): per country one <rect
 *     class="country-bar" data-country="FR" data-count="N"> (human opens,
 *     all senders), the most first;
 *   rows: <tr class="sender-row">, <tr class="total-row">,
 *     <tr class="message-row" data-id="ID">, and (geoip_database)
 *     <tr class="place-row" data-sender="S" data-country="FR"
 *     [data-city="C"] data-count="N">, the human opens per sender and
 *     place. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "report_fmt.h"

static const char style[] =
	"body{font-family:system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif;"
	"margin:2em;color:#1d2433;background:#fff}"
	"h1{font-size:1.6em;margin:0 0 .2em}h2{font-size:1.2em;margin:1.6em 0 .5em}"
	".meta{color:#5b6478;margin:.2em 0}"
	"table{border-collapse:collapse;font-size:.9em}"
	"th,td{padding:.3em .6em;border-bottom:1px solid #e2e5ec;text-align:right;"
	"vertical-align:top}"
	"th{background:#f4f6fa;font-weight:600}"
	"td.l,th.l{text-align:left}td.nw{white-space:nowrap}"
	".scroll{overflow-x:auto}td.url{word-break:break-all;min-width:16em}"
	"tfoot td{font-weight:600;border-top:2px solid #c9ced8}"
	".id{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.9em}"
	".small{color:#5b6478;font-size:.85em}"
	"ul.links{margin:0;padding:0;list-style:none;text-align:left}"
	"svg{max-width:100%;height:auto;font-size:11px}"
	"svg text{fill:#5b6478}svg tspan.in{fill:#8a93a6}"
	".subject{font-weight:600}"
	".axis{stroke:#9aa3b5;stroke-width:1}"
	".grid{stroke:#e2e5ec;stroke-width:1}"
	".line-open{fill:none;stroke:#2b6cb0;stroke-width:2}"
	".line-click{fill:none;stroke:#d97706;stroke-width:2}"
	".day-open{fill:#2b6cb0}.day-click{fill:#d97706}"
	".link-bar,.country-bar{fill:#2b6cb0}"
	".legend-open{fill:#2b6cb0}.legend-click{fill:#d97706}"
	"@media print{body{margin:1em}}";

static void
attr(FILE *f, const char *name, const char *value)
{
	fprintf(f, " %s=\"", name);
	html_str(f, value);
	putc('"', f);
}

static void
td_num(FILE *f, long long v)
{
	fprintf(f, "<td>%lld</td>", v);
}

static void
td_pct(FILE *f, long long num, long long den)
{
	fprintf(f, "<td>%.1f%%</td>", 100.0 * ratio(num, den));
}

static void
counts_cells(FILE *f, const struct report_counts *c)
{
	td_num(f, c->messages);
	td_num(f, c->recipients);
	td_num(f, c->opens_human);
	td_num(f, c->opens_machine);
	td_num(f, c->unique_human_opens);
	td_pct(f, c->unique_human_opens, c->messages);
	td_num(f, c->clicks_human);
	td_num(f, c->clicks_scanner);
	td_num(f, c->messages_clicked);
	td_pct(f, c->messages_clicked, c->messages);
}

static int
sender_row_cb(void *arg, const struct report_sender *s)
{
	FILE *f = arg;

	fputs("<tr class=\"sender-row\"", f);
	attr(f, "data-sender", s->sender);
	fputs("><td class=\"l\">", f);
	html_str(f, s->sender);
	fputs("</td>", f);
	counts_cells(f, &s->c);
	fputs("</tr>\n", f);
	return 0;
}

/* ---- opens and clicks per day ---- */

static long long
nice_max(long long v)
{
	long long step = 1;

	if (v < 4)
		return 4;
	while (step * 10 <= v)
		step *= 10;
	for (long long m = 1; m <= 10; m++)
		if (m * step >= v && (m * step) % 4 == 0)
			return m * step;
	return ((v + 3) / 4) * 4;
}

static void
days_chart(FILE *f, const struct report_days *d)
{
	const double left = 56, right = 44, top = 16, ph = 200, width = 920;
	const double pw = width - left - right, height = top + ph + 56;
	long long ymax = 0, labels;
	char day[32];

	for (long long i = 0; i < d->n; i++) {
		if (d->opens[i] > ymax)
			ymax = d->opens[i];
		if (d->clicks[i] > ymax)
			ymax = d->clicks[i];
	}
	ymax = nice_max(ymax);
#define X(i) (left + (d->n == 1 ? pw / 2 : (double)(i) * pw / (double)(d->n - 1)))
#define Y(v) (top + ph - (double)(v) * ph / (double)ymax)
	fprintf(f, "<svg id=\"days-chart\" xmlns=\"http://www.w3.org/2000/svg\" "
	    "viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" role=\"img\" "
	    "aria-label=\"Human opens and human clicks per UTC day\">\n",
	    width, height, width, height);
	for (int k = 0; k <= 4; k++) {
		long long v = ymax * k / 4;

		fprintf(f, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
		    "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%lld</text>\n",
		    left, Y(v), left + pw, Y(v), left - 6, Y(v) + 4, v);
	}
	fprintf(f, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
	    left, top + ph, left + pw, top + ph);
	/* At most 8 date labels, evenly spread, always the first and last. */
	labels = d->n < 8 ? d->n : 8;
	for (long long k = 0; k < labels; k++) {
		long long i = labels == 1 ? 0 : k * (d->n - 1) / (labels - 1);

		fmt_day(d->first + i, day);
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
		    X(i), top + ph + 18, day);
	}
	for (int series = 0; series < 2; series++) {
		const long long *v = series == 0 ? d->opens : d->clicks;

		fprintf(f, "<polyline class=\"%s\" points=\"", series == 0 ? "line-open" :
		    "line-click");
		for (long long i = 0; i < d->n; i++)
			fprintf(f, "%s%.1f,%.1f", i ? " " : "", X(i), Y(v[i]));
		fputs("\"/>\n", f);
	}
	for (int series = 0; series < 2; series++) {
		const long long *v = series == 0 ? d->opens : d->clicks;
		const char *cls = series == 0 ? "day-open" : "day-click";
		const char *what = series == 0 ? "human opens" : "human clicks";

		for (long long i = 0; i < d->n; i++) {
			fmt_day(d->first + i, day);
			fprintf(f, "<circle class=\"%s\" data-day=\"%s\" data-count=\"%lld\" "
			    "cx=\"%.1f\" cy=\"%.1f\" r=\"%s\"><title>%s: %lld %s</title></circle>\n",
			    cls, day, v[i], X(i), Y(v[i]), series == 0 ? "3.5" : "2.5", day, v[i],
			    what);
		}
	}
	fprintf(f, "<rect class=\"legend-open\" x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"12\"/>"
	    "<text x=\"%.1f\" y=\"%.1f\">human opens (incl. gmail-proxy)</text>\n",
	    left, top + ph + 32, left + 18, top + ph + 42);
	fprintf(f, "<rect class=\"legend-click\" x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"12\"/>"
	    "<text x=\"%.1f\" y=\"%.1f\">human clicks</text>\n",
	    left + 260, top + ph + 32, left + 278, top + ph + 42);
	fputs("</svg>\n", f);
#undef X
#undef Y
}

/* ---- clicks per destination ---- */

struct bar {
	char *url;
	long long messages, human, scanner;
};

struct bars {
	struct bar *b;
	size_t n, total;
};

static int
url_cb(void *arg, const struct report_url *u)
{
	struct bars *bs = arg;
	struct bar *b;

	bs->total++;
	if (bs->n >= REPORT_MAX_LINK_BARS)
		return 0;
	b = &bs->b[bs->n];
	b->url = u->url ? strdup(u->url) : NULL;
	if (u->url != NULL && b->url == NULL)
		return 1;
	b->messages = u->messages;
	b->human = u->human_clicks;
	b->scanner = u->scanner_clicks;
	bs->n++;
	return 0;
}

static void
links_chart(FILE *f, const struct bars *bs)
{
	const double label_w = 360, bar_w = 420, row = 22, top = 8, width = 920;
	double height = top * 2 + row * (double)bs->n;
	long long max = 1;

	for (size_t i = 0; i < bs->n; i++)
		if (bs->b[i].human > max)
			max = bs->b[i].human;
	fprintf(f, "<svg id=\"links-chart\" xmlns=\"http://www.w3.org/2000/svg\" "
	    "viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" role=\"img\" "
	    "aria-label=\"Human clicks per link\">\n", width, height, width, height);
	for (size_t i = 0; i < bs->n; i++) {
		const struct bar *b = &bs->b[i];
		double y = top + row * (double)i;
		double w = (double)b->human * bar_w / (double)max;

		fputs("<g><title>", f);
		html_str(f, b->url ? b->url : "(URL not stored)");
		fprintf(f, ": %lld human, %lld scanner clicks, in %lld message%s</title>",
		    b->human, b->scanner, b->messages, b->messages == 1 ? "" : "s");
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">", label_w - 8,
		    y + 15);
		html_str_cut(f, b->url ? b->url : "(URL not stored)", 56);
		fputs("</text><rect class=\"link-bar\"", f);
		if (b->url != NULL)
			attr(f, "data-url", b->url);
		fprintf(f, " data-messages=\"%lld\" data-clicks=\"%lld\" data-scanner=\"%lld\" "
		    "x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>", b->messages, b->human,
		    b->scanner, label_w, y + 3, w, row - 6);
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">%lld <tspan class=\"in\">in %lld "
		    "message%s</tspan></text></g>\n", label_w + w + 6, y + 15, b->human, b->messages,
		    b->messages == 1 ? "" : "s");
	}
	fputs("</svg>\n", f);
}

/* ---- human opens per place ---- */

/* Human opens per ISO country code (two letters A-Z: 26 * 26 slots), and
 * the table's rows, kept until the chart that sums them is out. */
struct countries {
	long long opens[26 * 26];
	long long total;
	FILE *rows;
};

static void place_row(FILE *f, const struct report_place *p);

static int
country_cb(void *arg, const struct report_place *p)
{
	struct countries *c = arg;
	const char *cc = p->country ? p->country : "";

	place_row(c->rows, p);

	if (strlen(cc) == 2 && cc[0] >= 'A' && cc[0] <= 'Z' && cc[1] >= 'A' && cc[1] <= 'Z') {
		c->opens[(cc[0] - 'A') * 26 + (cc[1] - 'A')] += p->opens_human;
		c->total += p->opens_human;
	}
	return 0;
}

static void
countries_chart(FILE *f, const struct countries *c)
{
	const double label_w = 60, bar_w = 420, row = 22, top = 8, width = 600;
	int order[26 * 26], n = 0;
	long long max = 1;

	/* The most opens first, then by code: a selection, at most 676. */
	for (int i = 0; i < 26 * 26; i++) {
		if (c->opens[i] == 0)
			continue;
		int k = n++;
		while (k > 0 && c->opens[order[k - 1]] < c->opens[i]) {
			order[k] = order[k - 1];
			k--;
		}
		order[k] = i;
		if (c->opens[i] > max)
			max = c->opens[i];
	}
	double height = top * 2 + row * (double)n;
	fprintf(f, "<svg id=\"countries-chart\" xmlns=\"http://www.w3.org/2000/svg\" "
	    "viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" role=\"img\" "
	    "aria-label=\"Human opens per country\">\n", width, height, width, height);
	for (int i = 0; i < n; i++) {
		long long v = c->opens[order[i]];
		char cc[3] = { (char)('A' + order[i] / 26), (char)('A' + order[i] % 26), '\0' };
		double y = top + row * (double)i, w = (double)v * bar_w / (double)max;

		fprintf(f, "<g><title>%s: %lld human open%s</title><text x=\"%.1f\" y=\"%.1f\" "
		    "text-anchor=\"end\">%s</text><rect class=\"country-bar\" data-country=\"%s\" "
		    "data-count=\"%lld\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>"
		    "<text x=\"%.1f\" y=\"%.1f\">%lld</text></g>\n", cc, v, v == 1 ? "" : "s",
		    label_w - 8, y + 15, cc, cc, v, label_w, y + 3, w, row - 6, label_w + w + 6,
		    y + 15, v);
	}
	fputs("</svg>\n", f);
}

static void
place_row(FILE *f, const struct report_place *p)
{
	fputs("<tr class=\"place-row\"", f);
	attr(f, "data-sender", p->sender);
	attr(f, "data-country", p->country);
	if (p->city != NULL)
		attr(f, "data-city", p->city);
	fprintf(f, " data-count=\"%lld\"><td class=\"l\">", p->opens_human);
	html_str(f, p->sender);
	fputs("</td><td class=\"l\">", f);
	html_str(f, p->country);
	fputs("</td><td class=\"l\">", f);
	html_str(f, p->city ? p->city : "");
	fprintf(f, "</td><td>%lld</td></tr>\n", p->opens_human);
}

/* Nothing at all unless some event has a place (geoip_database). */
static int
places_section(struct store *st, const struct report_data *rd, FILE *f, char *err,
	       size_t errlen)
{
	struct countries *c = calloc(1, sizeof(*c));
	char *rows = NULL;
	size_t len = 0;
	int rc = -1;

	if (c == NULL || (c->rows = open_memstream(&rows, &len)) == NULL) {
		snprintf(err, errlen, "out of memory");
		free(c);
		return -1;
	}
	rc = store_report_places(st, rd, NULL, country_cb, c, err, errlen);
	if (fclose(c->rows) != 0 && rc == 0) {
		snprintf(err, errlen, "out of memory");
		rc = -1;
	}
	if (rc != 0 || c->total == 0)
		goto out;
	fputs("<h2>Human opens per country</h2>\n<p class=\"meta\">Where the beacon's "
	    "geoip_database placed the reader's address; opens without a place are not "
	    "counted here.</p>\n", f);
	countries_chart(f, c);
	fputs("<div class=\"scroll\"><table class=\"places\">\n<thead><tr>"
	    "<th class=\"l\">Sender</th><th class=\"l\">Country</th><th class=\"l\">City</th>"
	    "<th>Human opens</th></tr></thead>\n<tbody>\n", f);
	if (rows != NULL)
		fwrite(rows, 1, len, f);
	fputs("</tbody>\n</table></div>\n", f);
out:
	free(rows);
	free(c);
	return rc == 0 ? 0 : -1;
}

/* ---- messages ---- */

static int
message_row_cb(void *arg, const struct report_message *m)
{
	FILE *f = arg;
	char b[32];

	fputs("<tr class=\"message-row\"", f);
	attr(f, "data-id", m->id);
	fputs("><td class=\"l\">", f);
	html_str(f, m->sender);
	fputs("</td><td class=\"l\"><span class=\"id\">", f);
	html_str(f, m->id);
	fputs("</span>", f);
	if (m->subject != NULL) {
		fputs("<br><span class=\"subject\">", f);
		html_str_cut(f, m->subject, 80);
		fputs("</span>", f);
	}
	if (m->message_id != NULL) {
		fputs("<br><span class=\"small\">", f);
		html_str_cut(f, m->message_id, 60);
		fputs("</span>", f);
	}
	if (m->queue_id != NULL) {
		fputs("<br><span class=\"small\">queue ", f);
		html_str(f, m->queue_id);
		fputs("</span>", f);
	}
	fmt_short(m->sent, b);
	fprintf(f, "</td><td class=\"l nw\">%s</td>", b);
	td_num(f, m->recipients);
	td_num(f, m->opens_human);
	td_num(f, m->opens_machine);
	if (m->has_first_human_open) {
		fmt_short(m->first_human_open, b);
		fprintf(f, "<td class=\"l nw\">%s</td>", b);
		fmt_duration(m->first_human_open - m->sent, b);
		fprintf(f, "<td>%s</td>", b);
	} else {
		fputs("<td class=\"l\">&ndash;</td><td>&ndash;</td>", f);
	}
	td_num(f, m->clicks_human);
	td_num(f, m->clicks_scanner);
	fputs("<td class=\"l url\">", f);
	if (m->n_links > 0) {
		fputs("<ul class=\"links\">", f);
		for (size_t i = 0; i < m->n_links; i++) {
			const struct report_link *l = &m->links[i];

			fprintf(f, "<li>#%lld: %lld", l->num, l->human_clicks);
			if (l->scanner_clicks)
				fprintf(f, " (+%lld scanner)", l->scanner_clicks);
			fputs(" <span class=\"small\"", f);
			attr(f, "title", l->url ? l->url : "");
			fputc('>', f);
			html_str_cut(f, l->url ? l->url : "(URL not stored)", 60);
			fputs("</span></li>", f);
		}
		fputs("</ul>", f);
	} else {
		fputs("<span class=\"small\">no links</span>", f);
	}
	fputs("</td></tr>\n", f);
	return 0;
}

static void
filters_line(FILE *f, const struct report_opts *o)
{
	char b[32];
	bool any = false;

	fputs("<p class=\"meta\">Filters:", f);
	if (o->f.sender) {
		fputs(" sender <b>", f);
		html_str(f, o->f.sender);
		fputs("</b>;", f);
		any = true;
	}
	if (o->f.has_since) {
		fmt_iso(o->f.since, b);
		fprintf(f, " sent from %s;", b);
		any = true;
	}
	if (o->f.has_until) {
		fmt_iso(o->f.until, b);
		fprintf(f, " sent before %s;", b);
		any = true;
	}
	if (o->f.message) {
		fputs(" message <b>", f);
		html_str(f, o->f.message);
		fputs("</b>;", f);
		any = true;
	}
	fputs(any ? "</p>\n" : " none.</p>\n", f);
}

int
report_html(struct store *st, const struct report_data *rd, const struct report_opts *o,
	    FILE *f, char *err, size_t errlen)
{
	const struct report_counts tot = *store_report_totals(rd);
	struct report_days days = { 0 };
	struct bars bs = { NULL, 0, 0 };
	char b[32];
	int rc = -1;

	if (report_load_days(rd, o, &days, err, errlen) == -1)
		goto out;
	if ((bs.b = calloc(REPORT_MAX_LINK_BARS, sizeof(*bs.b))) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	rc = store_report_urls(st, rd, url_cb, &bs, err, errlen);
	if (rc != 0) {
		if (rc > 0)
			snprintf(err, errlen, "out of memory");
		rc = -1;
		goto out;
	}
	rc = -1;
	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	    "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
	    "style-src 'unsafe-inline'\">\n"
	    "<meta name=\"referrer\" content=\"no-referrer\">\n"
	    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	    "<title>mailbeacon report</title>\n<style>", f);
	fputs(style, f);
	fputs("</style>\n</head>\n<body>\n<h1>mailbeacon report</h1>\n", f);
	fmt_iso(o->now, b);
	fprintf(f, "<p class=\"meta\">Generated %s. Times are UTC. Human opens include "
	    "gmail-proxy; machine opens are apple-mpp, prefetch and scanner. Human clicks "
	    "have the verdict human; every other click counts as scanner.</p>\n", b);
	filters_line(f, o);

	fputs("<h2>Summary</h2>\n", f);
	if (tot.messages == 0) {
		/* consent=optin senders may have asked without tracking yet */
		fputs("<p class=\"empty\">No tracked messages match these filters.</p>\n", f);
		if (report_consent_html(st, o, f, err, errlen) != 0)
			goto out;
		fputs("</body>\n</html>\n", f);
		rc = 0;
		goto out;
	}
	fputs("<div class=\"scroll\"><table class=\"summary\">\n<thead><tr><th class=\"l\">Sender</th>"
	    "<th>Messages</th><th>Recipients</th><th>Human opens</th><th>Machine opens</th>"
	    "<th>Unique human opens</th><th>Open rate</th><th>Human clicks</th>"
	    "<th>Scanner clicks</th><th>Messages clicked</th><th>Click rate</th></tr></thead>\n"
	    "<tbody>\n", f);
	store_report_senders(rd, sender_row_cb, f);
	fputs("</tbody>\n<tfoot><tr class=\"total-row\"><td class=\"l\">All senders</td>", f);
	counts_cells(f, &tot);
	fputs("</tr></tfoot>\n</table></div>\n", f);

	fputs("<h2>Human opens and clicks per day (UTC)</h2>\n", f);
	if (days.truncated)
		fprintf(f, "<p class=\"meta\">The last %d days of the range.</p>\n",
		    REPORT_MAX_DAYS);
	days_chart(f, &days);

	fputs("<h2>Human clicks per link</h2>\n", f);
	if (bs.total == 0)
		fputs("<p class=\"empty\">These messages have no tracked links.</p>\n", f);
	else {
		fputs("<p class=\"meta\">Each destination once, its clicks summed over the "
		    "messages that link to it; each message's own links are in the table "
		    "below.", f);
		if (bs.total > bs.n)
			fprintf(f, " The %zu most clicked of %zu destinations.", bs.n, bs.total);
		fputs("</p>\n", f);
		links_chart(f, &bs);
	}
	if (places_section(st, rd, f, err, errlen) != 0)
		goto out;
	if (report_consent_html(st, o, f, err, errlen) != 0)
		goto out;

	fputs("<h2>Messages</h2>\n<div class=\"scroll\"><table class=\"messages\">\n<thead><tr>"
	    "<th class=\"l\">Sender</th><th class=\"l\">Message</th><th class=\"l\">Sent</th>"
	    "<th>Recipients</th><th>Human opens</th><th>Machine opens</th>"
	    "<th class=\"l\">First human open</th><th>Time to open</th><th>Human clicks</th>"
	    "<th>Scanner clicks</th><th class=\"l\">Human clicks per link</th></tr></thead>\n"
	    "<tbody>\n", f);
	if (store_report_messages(st, rd, message_row_cb, f, err, errlen) != 0)
		goto out;
	fputs("</tbody>\n</table></div>\n</body>\n</html>\n", f);
	rc = 0;
out:
	report_free_days(&days);
	if (bs.b != NULL) {
		for (size_t i = 0; i < bs.n; i++)
			free(bs.b[i].url);
		free(bs.b);
	}
	return rc;
}
