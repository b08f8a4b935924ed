/* report_fmt: what the formats of `mailbeacon report` (report_cmd.c and
 * its writers report_table.c, report_csv.c, report_json.c, report_html.c)
 * and export (data_cmd.c) share: options, the chart's days
 * (report_days.c), time and number formatting, and escaping for JSON,
 * HTML, CSV and the terminal (report_util.c). Every writer takes untrusted
 * text (senders, URLs, Message-IDs) and escapes it for its context;
 * invalid UTF-8 becomes U+FFFD. The writers depend on these and never on
 * the command. */
#ifndef MB_ADMIN_REPORT_FMT_H
#define MB_ADMIN_REPORT_FMT_H
#include <stdbool.h>
#include <stdio.h>
#include "report.h"	/* store/report.h */
#include "store.h"

enum report_format { FMT_TABLE, FMT_CSV, FMT_JSON, FMT_HTML };

/* The chart's days: at most this many (the latest ones are kept). */
#define REPORT_MAX_DAYS 3660
/* The per-link bar chart shows the most clicked links, at most this many. */
#define REPORT_MAX_LINK_BARS 200

struct report_opts {
	struct report_filter f;
	long long now;
	enum report_format format;
};

/* WHEN of --since and --until (report_cmd.c): "Nd", "Nh", "Nw" ago,
 * "@UNIXTIME", "YYYY-MM-DD" (*date_only) or an ISO 8601 time (no zone:
 * UTC); -1 when it is none of these. */
int parse_when(const char *s, long long now, long long *out, bool *date_only);

/* The days of the per-day series: every UTC day from first to last. */
struct report_days {
	long long first, n;		/* day numbers (time / 86400) */
	long long *opens, *clicks;	/* human, n each */
	bool truncated;			/* older days left out (REPORT_MAX_DAYS) */
};

/* Fills days for the report's range (report_days.c); n = 0 when there is
 * nothing to show. */
int report_load_days(const struct report_data *rd, const struct report_opts *o,
		     struct report_days *d, char *err, size_t errlen);
void report_free_days(struct report_days *d);

/* The format writers, called by cmd_report (report_cmd.c) with the
 * loaded report: 0, or -1 with a reason in err. */
int report_table(struct store *st, const struct report_data *rd,
		 const struct report_opts *o, FILE *out, char *err, size_t errlen);
int report_csv(struct store *st, const struct report_data *rd, FILE *out, char *err,
	       size_t errlen);
int report_json(struct store *st, const struct report_data *rd,
		const struct report_opts *o, FILE *out, char *err, size_t errlen);
int report_html(struct store *st, const struct report_data *rd,
		const struct report_opts *o, FILE *out, char *err, size_t errlen);
/* report_consent.c: the table's consent=optin section (asked, consented,
 * withdrawn, consent rate per sender), after the rest; nothing when no
 * sender of the report has consent data. */
int report_consent_table(struct store *st, const struct report_opts *o, FILE *out, char *err,
			 size_t errlen);
/* The same as the JSON's last key, "consent": [{"sender": S, "asked": N,
 * "consented": N, "withdrawn": N, "asked_consented": N}] ([] when none). */
int report_consent_json(struct store *st, const struct report_opts *o, FILE *out, char *err,
			size_t errlen);
/* The same as the HTML page's section, before the messages; nothing when
 * none. */
int report_consent_html(struct store *st, const struct report_opts *o, FILE *out, char *err,
			size_t errlen);
/* The same as CSV rows of scope consent after report_csv's (sender and
 * the last four columns); nothing when none. */
int report_consent_csv(struct store *st, const struct report_opts *o, FILE *out, char *err,
		       size_t errlen);
/* The CSV's consent columns, last, and the four empty cells that end every
 * other row. */
#define CSV_CONSENT_COLUMNS "asked,consented,withdrawn,consent_rate"
#define CSV_NO_CONSENT ",,,,"

/* ---- formatting ---- */

/* "2024-03-01T12:00:00Z" */
void fmt_iso(long long t, char buf[32]);
/* "2024-03-01 12:00" */
void fmt_short(long long t, char buf[32]);
/* "2024-03-01" of a day number */
void fmt_day(long long day, char buf[32]);
/* "45s", "12m05s", "5h12m", "3d04h"; negative with "-" */
void fmt_duration(long long secs, char buf[32]);
/* The shortest text that reads back as the same double. */
void fmt_double(double x, char buf[40]);
/* ratio num/den, 0 when den is 0 */
double ratio(long long num, long long den);

/* A JSON string (with quotes), or null for NULL. */
void json_str(FILE *f, const char *s);
/* Text escaped for HTML content and quoted attribute values. */
void html_str(FILE *f, const char *s);
/* At most max code points of s, HTML-escaped, "…" when cut. */
void html_str_cut(FILE *f, const char *s, size_t max);
/* An RFC 4180 field (quoted when needed). Cells that a spreadsheet would
 * read as a formula (=, +, -, @, TAB, CR first) get a leading '. */
void csv_field(FILE *f, const char *s);
/* A terminal cell of exactly width columns: control characters become
 * "?", longer text is cut with "…"; right-aligned when right. */
void tty_cell(FILE *f, const char *s, int width, bool right);
/* The same, at most max columns, not padded (a line's last cell). */
void tty_text(FILE *f, const char *s, int max);

#endif
