/* mailbeacon report: engagement per message and per sender, from the store.
 * The command: its options (WHEN parsed here), one pass over the store,
 * and the format writers it dispatches to (report_table.c, report_csv.c,
 * report_json.c, report_html.c), which never call back into this file.
 *
 * Counting (store/report.h): an open is human when its verdict is "human"
 * or "gmail-proxy", machine when "apple-mpp", "prefetch" or "scanner"; a
 * click is human when its verdict is "human", scanner otherwise. Unique
 * human opens = messages with at least one human open. Open rate = that /
 * messages; click rate = messages with a human click / messages. Events
 * marked dnt count like the others. Times are UTC. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "admin.h"
#include "mbconfig.h"
#include "log.h"
#include "report_fmt.h"
#include "store.h"

void
report_usage(FILE *f)
{
	fprintf(f,
"usage: mailbeacon [-c FILE] report [--sender ADDR|@DOMAIN] [--since WHEN]\n"
"           [--until WHEN] [--message ID] [--format table|csv|json|html]\n"
"\n"
"Engagement per message and per sender: sent, recipients, opens (human /\n"
"machine), unique human opens, first human open and time to open, clicks\n"
"(human / scanner), clicks per link and per destination (the URL across the\n"
"messages), open and click rates.\n"
"\n"
"  --sender ADDR    one envelope sender (ASCII case-insensitive), or @DOMAIN\n"
"  --since WHEN     messages sent at or after WHEN\n"
"  --until WHEN     messages sent at or before WHEN (a date: that whole day)\n"
"                   WHEN: Nd, Nh or Nw ago, YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS]\n"
"                   with Z or +HH:MM (no zone means UTC), or @UNIXTIME\n"
"  --message ID     our message id, the queue id or the Message-ID header\n"
"  --format F       table (default; fits 100 columns), csv, json, html\n"
"\n"
"Counting: an open is human when its verdict is human or gmail-proxy (Google's\n"
"proxy fetches when the person opens), machine when apple-mpp, prefetch or\n"
"scanner. A click is human when its verdict is human, scanner otherwise. Unique\n"
"human opens: messages with at least one human open. Open rate: those /\n"
"messages; click rate: messages with a human click / messages. Times are UTC.\n"
"\n"
"csv (RFC 4180, CRLF): a header line, then rows whose first column, scope, is\n"
"  message (one per message, each followed by its link rows), link, sender\n"
"  (one per sender), total (one) or url (one per destination, after the\n"
"  total: messages, clicks_human, clicks_scanner and url; the rest empty), or\n"
"  place (geoip_database: human opens per message, then per sender (id\n"
"  empty), and country, or city: sender, id, opens_human, country, city),\n"
"  or consent (consent=optin, one per sender, last: sender, asked, consented,\n"
"  withdrawn, consent_rate (of the asked, those who consented)).\n"
"  Columns: scope, sender, id, queue_id,\n"
"  message_id, sent, last_sent, messages, recipients, opens_human,\n"
"  opens_machine, unique_human_opens, first_human_open, time_to_open_seconds,\n"
"  clicks_human, clicks_scanner, messages_clicked, optouts, open_rate,\n"
"  click_rate, link_num, url, country, city, asked, consented, withdrawn,\n"
"  consent_rate. Times ISO 8601 UTC; empty when\n"
"  not applicable;\n"
"  a cell that a spreadsheet would take for a formula starts with '.\n"
"\n"
"json (schema 1; keys are stable, new keys may be added):\n"
"  {\"schema\": 1, \"generated\": ISO,\n"
"   \"filters\": {\"sender\": S|null, \"since\": ISO|null, \"until\": ISO|null,\n"
"                \"message\": S|null},          (until: sent before it)\n"
"   \"totals\": COUNTS,\n"
"   \"days\": [{\"day\": \"YYYY-MM-DD\", \"opens_human\": N, \"clicks_human\": N}],\n"
"   \"senders\": [{\"sender\": S, COUNTS..., \"messages_detail\": [\n"
"      {\"id\": S, \"queue_id\": S|null, \"message_id\": S|null, \"subject\": S|null,\n"
"       \"sent\": ISO, \"recipients\": N, \"opens\": {\"human\": N, \"machine\": N},\n"
"       \"unique_human_opens\": 0|1, \"first_human_open\": ISO|null,\n"
"       \"time_to_open_seconds\": N|null, \"clicks\": {\"human\": N, \"scanner\": N},\n"
"       \"optouts\": N, \"links\": [{\"num\": N, \"url\": S|null,\n"
"       \"human_clicks\": N, \"scanner_clicks\": N}]}]}],\n"
"   \"urls\": [{\"url\": S|null, \"messages\": N, \"human_clicks\": N,\n"
"             \"scanner_clicks\": N}],\n"
"   \"places\": {\"by_message\": [PLACE], \"by_sender\": [PLACE]}}\n"
"  PLACE (geoip_database): {\"sender\": S, \"id\": S (by_message only),\n"
"   \"country\": \"FR\", \"city\": S|null, \"opens_human\": N}, human opens\n"
"  COUNTS: \"messages\": N, \"recipients\": N, \"opens\": {\"human\": N,\n"
"   \"machine\": N}, \"unique_human_opens\": N, \"clicks\": {\"human\": N,\n"
"   \"scanner\": N}, \"messages_clicked\": N, \"optouts\": N, \"open_rate\": X,\n"
"   \"click_rate\": X, \"first_sent\": ISO|null, \"last_sent\": ISO|null\n"
"  days: every UTC day from the first day of the range (--since, else the\n"
"   first message) to the last (the latest message or event, or --until /\n"
"   now when a range was given), at most %d days (the latest).\n"
"  urls: each destination (the stored URL) once across the messages, with\n"
"   the messages linking to it and its clicks summed; the most clicked by\n"
"   humans first, then by URL; null (links whose URL is not stored) last.\n"
"\n"
"html: one self-contained page (no scripts, no external resources): the\n"
"  summary, human opens and clicks per day and per destination (inline SVG),\n"
"  and the messages with their links.\n"
"\n"
"Exit: 0 ok, 1 usage or configuration error, 2 runtime error.\n",
	    REPORT_MAX_DAYS);
}

/* ---- WHEN ---- */

/* Days since 1970-01-01 of a civil date (H. Hinnant's algorithm). */
static long long
days_from_civil(long long y, int m, int d)
{
	y -= m <= 2;
	long long era = (y >= 0 ? y : y - 399) / 400;
	long long yoe = y - era * 400;
	long long doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

static int
days_in_month(long long y, int m)
{
	static const int dm[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return dm[m - 1];
}

/* Reads exactly n digits. */
static int
digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if ((*p)[i] < '0' || (*p)[i] > '9')
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

/*
 * WHEN: "Nd", "Nh", "Nw" (ago), "@UNIXTIME", "YYYY-MM-DD", or
 * "YYYY-MM-DD[T ]HH:MM[:SS][Z|+HH:MM|-HH:MM|+HHMM]" (no zone: UTC).
 * *date_only tells a bare date from a time.
 */
int
parse_when(const char *s, long long now, long long *out, bool *date_only)
{
	const char *p = s;
	int y, mo, d, h = 0, mi = 0, sec = 0, zh, zm;
	long long off = 0;
	char *end;

	*date_only = false;
	if (*s == '@') {
		long long v;

		if (s[1] < '0' || s[1] > '9')
			return -1;
		v = strtoll(s + 1, &end, 10);
		if (*end != '\0' || v == LLONG_MAX)
			return -1;
		*out = v;
		return 0;
	}
	if (*s >= '0' && *s <= '9' && strlen(s) < 12) {
		unsigned long long n = strtoull(s, &end, 10);
		long long unit = 0;

		if (end[0] != '\0' && end[1] == '\0')
			unit = end[0] == 'd' ? 86400 : end[0] == 'h' ? 3600 :
			    end[0] == 'w' ? 7 * 86400 : 0;
		if (unit != 0) {
			if (n > 100000ULL * 86400 / (unsigned long long)unit)
				return -1;
			*out = now - (long long)n * unit;
			return 0;
		}
	}
	if (digits(&p, 4, &y) == -1 || *p++ != '-' || digits(&p, 2, &mo) == -1 ||
	    *p++ != '-' || digits(&p, 2, &d) == -1)
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
		return -1;
	if (*p == '\0') {
		*date_only = true;
	} else {
		if (*p != 'T' && *p != 't' && *p != ' ')
			return -1;
		p++;
		if (digits(&p, 2, &h) == -1 || *p++ != ':' || digits(&p, 2, &mi) == -1)
			return -1;
		if (*p == ':') {
			p++;
			if (digits(&p, 2, &sec) == -1)
				return -1;
		}
		if (h > 23 || mi > 59 || sec > 60)
			return -1;
		if (sec == 60)
			sec = 59;
		if (*p == 'Z' || *p == 'z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			int sign = *p++ == '-' ? -1 : 1;

			if (digits(&p, 2, &zh) == -1)
				return -1;
			if (*p == ':')
				p++;
			if (digits(&p, 2, &zm) == -1 || zh > 23 || zm > 59)
				return -1;
			off = sign * (zh * 3600LL + zm * 60LL);
		}
		if (*p != '\0')
			return -1;
	}
	*out = days_from_civil(y, mo, d) * 86400 + h * 3600LL + mi * 60LL + sec - off;
	return 0;
}

/* ---- the command ---- */

int
report_store_open(struct admin_env *env, struct store **st)
{
	char err[1024];

	*st = NULL;
	if (store_open_config(env->cfg, STORE_FOR_REPORT, false, 5000, st, err, sizeof(err)) < 0)
		return admin_store_failed(env, err);
	if (store_report_begin(*st, err, sizeof(err)) == -1) {
		log_warnx("%s", err);
		store_close(*st);
		*st = NULL;
		return EXIT_RUNTIME;
	}
	return 0;
}

int
cmd_report(struct admin_env *env, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "sender", required_argument, NULL, 's' },
		{ "since", required_argument, NULL, 'S' },
		{ "until", required_argument, NULL, 'U' },
		{ "message", required_argument, NULL, 'm' },
		{ "format", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static char outbuf[1 << 17];
	struct report_opts o;
	struct report_data *rd = NULL;
	struct store *st = NULL;
	char err[1024];
	bool date_only;
	long long t;
	int c, rc = 0;

	log_init("mailbeacon report", 1);	/* errors read "mailbeacon report: ..." */
	memset(&o, 0, sizeof(o));
	o.now = (long long)time(NULL);
	o.format = FMT_TABLE;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (optarg[0] == '\0' || strcmp(optarg, "@") == 0) {
				log_warnx("--sender: empty address");
				return EXIT_USAGE;
			}
			o.f.sender = optarg;
			break;
		case 'S':
		case 'U':
			if (parse_when(optarg, o.now, &t, &date_only) == -1) {
				log_warnx("--%s '%s': expected Nd, Nh, Nw, "
				    "YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or @UNIXTIME",
				    c == 'S' ? "since" : "until", optarg);
				return EXIT_USAGE;
			}
			if (c == 'S') {
				o.f.has_since = true;
				o.f.since = t;
			} else {
				/* inclusive: a date means that whole day */
				o.f.has_until = true;
				o.f.until = date_only ? t + 86400 : t + 1;
			}
			break;
		case 'm':
			if (optarg[0] == '\0') {
				log_warnx("--message: empty");
				return EXIT_USAGE;
			}
			o.f.message = optarg;
			break;
		case 'f':
			if (strcmp(optarg, "table") == 0)
				o.format = FMT_TABLE;
			else if (strcmp(optarg, "csv") == 0)
				o.format = FMT_CSV;
			else if (strcmp(optarg, "json") == 0)
				o.format = FMT_JSON;
			else if (strcmp(optarg, "html") == 0)
				o.format = FMT_HTML;
			else {
				log_warnx("--format '%s': expected table, "
				    "csv, json or html", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'h':
			report_usage(stdout);
			return 0;
		default:
			log_warnx("bad option or missing value: %s", argv[optind - 1]);
			fprintf(stderr, "run 'mailbeacon report --help' for usage\n");
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		log_warnx("unexpected argument '%s'", argv[optind]);
		return EXIT_USAGE;
	}
	if (o.f.has_since && o.f.has_until && o.f.since >= o.f.until) {
		log_warnx("--since is not before --until");
		return EXIT_USAGE;
	}
	if ((rc = report_store_open(env, &st)) != 0)
		return rc;
	/* One pass over the messages and their events for totals, senders,
	 * days and per-message numbers; the formats then list the messages. */
	rc = store_report_load(st, &o.f, &rd, err, sizeof(err));
	/* Output goes through stdio a character at a time (escaping): a
	 * large buffer, and the lock taken once (report_util uses
	 * putc_unlocked). */
	(void)setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
	flockfile(stdout);
	if (rc == 0) {
		switch (o.format) {
		case FMT_TABLE:
			rc = report_table(st, rd, &o, stdout, err, sizeof(err));
			if (rc == 0)
				rc = report_consent_table(st, &o, stdout, err, sizeof(err));
			break;
		case FMT_CSV:
			rc = report_csv(st, rd, stdout, err, sizeof(err));
			if (rc == 0)
				rc = report_consent_csv(st, &o, stdout, err, sizeof(err));
			break;
		case FMT_JSON:
			rc = report_json(st, rd, &o, stdout, err, sizeof(err));
			break;
		case FMT_HTML:
			rc = report_html(st, rd, &o, stdout, err, sizeof(err));
			break;
		}
	}
	funlockfile(stdout);
	store_report_free(rd);
	store_report_end(st);
	store_close(st);
	if (rc != 0) {
		log_warnx("%s", err);
		return EXIT_RUNTIME;
	}
	if (fflush(stdout) == EOF || ferror(stdout)) {
		log_warn("cannot write the report");
		return EXIT_RUNTIME;
	}
	return 0;
}
