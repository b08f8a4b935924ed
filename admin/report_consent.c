/* report_consent: the consent=optin figures of mailbeacon report per
 * sender (the table's last section, the HTML page's section, the JSON's
 * "consent", the CSV's rows of scope consent): recipients asked, recipients who consented, those who
 * withdrew (stopped tracking) and the consent rate (of the asked, those who
 * said yes). The table and the page show them only when some sender of the
 * report has consent data, so reports without consent=optin stay as they
 * were. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "consent.h"
#include "report_fmt.h"

struct consent_rows {
	FILE *f;
	const char *sender;	/* the report's --sender: "a@b" or "@domain", or NULL */
	size_t n;
	enum report_format format;
};

/* The report's sender filter: the address (ASCII case-insensitive) or
 * @domain, as store/report.c filters messages. */
static bool
sender_matches(const char *filter, const char *sender)
{
	const char *at;

	if (filter == NULL)
		return true;
	if (filter[0] != '@')
		return strcasecmp(filter, sender) == 0;
	at = strrchr(sender, '@');
	return at != NULL && strcasecmp(at + 1, filter + 1) == 0;
}

static int
consent_row(void *arg, const struct store_consent_counts *c)
{
	struct consent_rows *r = arg;
	char rate[16];

	if (!sender_matches(r->sender, c->sender))
		return 0;
	if (c->asked > 0)
		snprintf(rate, sizeof(rate), "%.1f%%", 100.0 * ratio(c->asked_consented, c->asked));
	else
		snprintf(rate, sizeof(rate), "-");
	if (r->format == FMT_HTML) {
		if (r->n++ == 0)
			fputs("<h2>Consent (consent=optin)</h2>\n<p class=\"meta\">Recipients asked "
			      "by the ask footer, those who consented (on the consent page or outside "
			      "mail), those who withdrew (stopped tracking), and the consent rate: of "
			      "the asked, those who consented.</p>\n<div class=\"scroll\"><table "
			      "class=\"consent\">\n<thead><tr><th class=\"l\">Sender</th><th>Asked</th>"
			      "<th>Consented</th><th>Withdrawn</th><th>Consent rate</th></tr></thead>\n"
			      "<tbody>\n", r->f);
		fputs("<tr><td class=\"l\">", r->f);
		html_str(r->f, c->sender);
		fprintf(r->f, "</td><td>%lld</td><td>%lld</td><td>%lld</td><td>%s</td></tr>\n",
			c->asked, c->consented, c->withdrawn, rate);
		return 0;
	}
	if (r->format == FMT_CSV) {
		/* id .. city empty: 22 cells */
		fputs("consent,", r->f);
		csv_field(r->f, c->sender);
		fprintf(r->f, ",,,,,,,,,,,,,,,,,,,,,,,%lld,%lld,%lld,", c->asked, c->consented,
			c->withdrawn);
		if (c->asked > 0) {
			char b[40];

			fmt_double(ratio(c->asked_consented, c->asked), b);
			fputs(b, r->f);
		}
		fputs("\r\n", r->f);
		r->n++;
		return 0;
	}
	if (r->format == FMT_JSON) {
		fprintf(r->f, "%s\n    {\"sender\": ", r->n++ ? "," : "");
		json_str(r->f, c->sender);
		fprintf(r->f, ", \"asked\": %lld, \"consented\": %lld, \"withdrawn\": %lld, "
			"\"asked_consented\": %lld}", c->asked, c->consented, c->withdrawn,
			c->asked_consented);
		return 0;
	}
	if (r->n++ == 0) {
		fputs("\nconsent=optin: recipients asked, who consented (on the consent page or "
		      "outside mail),\nwho withdrew (stopped tracking); RATE: of the asked, those "
		      "who consented\n", r->f);
		tty_cell(r->f, "SENDER", 30, false);
		fputs("   ASKED  CONSENTED  WITHDRAWN    RATE\n", r->f);
	}
	tty_cell(r->f, c->sender, 30, false);
	fprintf(r->f, " %7lld %10lld %10lld %7s\n", c->asked, c->consented, c->withdrawn, rate);
	return 0;
}

int
report_consent_table(struct store *st, const struct report_opts *o, FILE *f, char *err,
		     size_t errlen)
{
	struct consent_rows r = { f, o->f.sender, 0, FMT_TABLE };

	return store_consent_counts(st, NULL, consent_row, &r, err, errlen) == 0 ? 0 : -1;
}

int
report_consent_json(struct store *st, const struct report_opts *o, FILE *f, char *err,
		    size_t errlen)
{
	struct consent_rows r = { f, o->f.sender, 0, FMT_JSON };
	int rc;

	fputs(",\n  \"consent\": [", f);
	rc = store_consent_counts(st, NULL, consent_row, &r, err, errlen);
	fputs(r.n > 0 ? "\n  ]" : "]", f);
	return rc == 0 ? 0 : -1;
}

int
report_consent_html(struct store *st, const struct report_opts *o, FILE *f, char *err,
		    size_t errlen)
{
	struct consent_rows r = { f, o->f.sender, 0, FMT_HTML };
	int rc = store_consent_counts(st, NULL, consent_row, &r, err, errlen);

	if (r.n > 0)
		fputs("</tbody>\n</table></div>\n", f);
	return rc == 0 ? 0 : -1;
}

int
report_consent_csv(struct store *st, const struct report_opts *o, FILE *f, char *err,
		   size_t errlen)
{
	struct consent_rows r = { f, o->f.sender, 0, FMT_CSV };

	return store_consent_counts(st, NULL, consent_row, &r, err, errlen) == 0 ? 0 : -1;
}
