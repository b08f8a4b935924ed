/* mailbeacon report --format html: one self-contained page. No scripts, no
 * external fonts, style sheets or images (a Content-Security-Policy of
 * default-src 'none' says so to the browser too); the charts are inline
 * SVG. Every stored string (senders, URLs, ids) is escaped.
 *
 * For tests and other tools the charts are marked up:
 *   <svg id="days-chart">: per UTC day of the range one
 *     <circle class="day-open" data-day="YYYY-MM-DD" data-count="N"> (human
 *     opens) and one <circle class="day-click" ...> (human clicks);
 *   <svg id="links-chart">: per link one <rect class="link-bar"
 *     data-message="ID" data-num="N" data-clicks="N"> (human clicks), the
 *     most clicked first, at most REPORT_MAX_LINK_BARS;
 *   rows: <tr class="sender-row">, <tr class="total-row">,
 *     <tr class="message-row" data-id="ID">. */
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
	"svg text{fill:#5b6478}"
	".axis{stroke:#9aa3b5;stroke-width:1}"
	".grid{stroke:#e2e5ec;stroke-width:1}"
	".line-open{fill:none;stroke:#2b6cb0;stroke-width:2}"
	".line-click{fill:none;stroke:#d97706;stroke-width:2}"
	".day-open{fill:#2b6cb0}.day-click{fill:#d97706}"
	".link-bar{fill:#2b6cb0}"
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

/* ---- clicks per link ---- */

struct bar {
	char *id, *url;
	long long num, human, scanner;
};

struct bars {
	struct bar *b;
	size_t n, total;
};

static int
link_cb(void *arg, const struct report_message *m, const struct report_link *l)
{
	struct bars *bs = arg;
	struct bar *b;

	bs->total++;
	if (bs->n >= REPORT_MAX_LINK_BARS)
		return 0;
	b = &bs->b[bs->n];
	b->id = strdup(m->id);
	b->url = l->url ? strdup(l->url) : NULL;
	if (b->id == NULL || (l->url != NULL && b->url == NULL)) {
		free(b->id);
		free(b->url);
		return 1;
	}
	b->num = l->num;
	b->human = l->human_clicks;
	b->scanner = l->scanner_clicks;
	bs->n++;
	return 0;
}

static void
links_chart(FILE *f, const struct bars *bs)
{
	const double label_w = 360, bar_w = 480, row = 22, top = 8, width = 920;
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
		fprintf(f, " (message ");
		html_str(f, b->id);
		fprintf(f, ", link %lld): %lld human, %lld scanner clicks</title>", b->num,
		    b->human, b->scanner);
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">#%lld ", label_w - 8,
		    y + 15, b->num);
		html_str_cut(f, b->url ? b->url : "(URL not stored)", 52);
		fputs("</text><rect class=\"link-bar\"", f);
		attr(f, "data-message", b->id);
		fprintf(f, " data-num=\"%lld\" data-clicks=\"%lld\" x=\"%.1f\" y=\"%.1f\" "
		    "width=\"%.1f\" height=\"%.1f\"/>", b->num, b->human, label_w, y + 3, w,
		    row - 6);
		fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">%lld</text></g>\n", label_w + w + 6,
		    y + 15, b->human);
	}
	fputs("</svg>\n", f);
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
	rc = store_report_links(st, &o->f, link_cb, &bs, err, errlen);
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
		fputs("<p class=\"empty\">No tracked messages match these filters.</p>\n"
		    "</body>\n</html>\n", f);
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
		if (bs.total > bs.n)
			fprintf(f, "<p class=\"meta\">The %zu most clicked of %zu links.</p>\n",
			    bs.n, bs.total);
		links_chart(f, &bs);
	}

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
		for (size_t i = 0; i < bs.n; i++) {
			free(bs.b[i].id);
			free(bs.b[i].url);
		}
		free(bs.b);
	}
	return rc;
}
