/* mailbeacon digest: mails each sender whose policy has digest=daily or
 * digest=weekly their own report of the period, a text part and the HTML
 * report of `report --format html`, filtered to that sender alone, through
 * sendmail_path (common/sendmail.c). Run by the timers of contrib/systemd. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include "admin.h"
#include "codec.h"
#include "log.h"
#include "mbconfig.h"
#include "mbuf.h"
#include "policy.h"
#include "report_fmt.h"
#include "sendmail.h"
#include "store.h"

/* A digest is not urgent, but a hung MTA must not hold the timer's run. */
#define DIGEST_SENDMAIL_TIMEOUT_MS 60000

void
digest_usage(FILE *f)
{
	fprintf(f,
"usage: mailbeacon [-c FILE] digest [--period daily|weekly] [--since WHEN]\n"
"\n"
"Mails each sender whose rule in the policy has digest=daily or digest=weekly\n"
"(mailbeacon-policy(5)) their own report: the messages they sent in the period,\n"
"as a text part and the HTML report (as 'report --sender ADDR --format html'),\n"
"never anyone else's. Senders are those of the stored messages of the period;\n"
"a sender with no message in it gets nothing. The mail goes through\n"
"sendmail_path with the envelope sender notify_from (mailbeacon.conf(5)) and\n"
"carries Auto-Submitted: auto-generated and X-Mailbeacon: notification.\n"
"\n"
"  --period P    only senders with digest=P (the timers run each period);\n"
"                without it, senders with either\n"
"  --since WHEN  messages sent at or after WHEN, for every sender (default:\n"
"                the last 24 hours for digest=daily, 7 days for digest=weekly)\n"
"                WHEN: Nd, Nh or Nw ago, YYYY-MM-DD, an ISO 8601 time, @UNIXTIME\n"
"\n"
"Prints one line per digest sent. Exit: 0 all sent, 1 usage or configuration\n"
"error, 2 a digest could not be made or sent (the others are still sent).\n");
}

/* The address is safe to put in a To: header and on its own: ASCII, no
 * white space or control characters, a local part and a domain. */
static bool
digest_address_ok(const char *a)
{
	const char *at = strrchr(a, '@');

	if (at == NULL || at == a || at[1] == '\0' || a[0] == '-')
		return false;
	for (const char *p = a; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || *p == '<' ||
		    *p == '>' || *p == ',' || *p == ';')
			return false;
	return true;
}

/* The text part: a few sentences on the period, then the report's table. */
static void
digest_intro(FILE *f, const struct report_counts *c, long long since, long long now)
{
	char from[32], to[32];

	fmt_short(since, from);
	fmt_short(now, to);
	fprintf(f, "Your tracked mail sent from %s to %s (UTC):\n\n", from, to);
	fprintf(f, "  %lld message%s to %lld recipient%s\n", c->messages,
	    c->messages == 1 ? "" : "s", c->recipients, c->recipients == 1 ? "" : "s");
	fprintf(f, "  %lld read by a person (%.1f%%), %lld human open%s\n",
	    c->unique_human_opens, 100.0 * ratio(c->unique_human_opens, c->messages),
	    c->opens_human, c->opens_human == 1 ? "" : "s");
	fprintf(f, "  %lld with a human click (%.1f%%), %lld human click%s\n",
	    c->messages_clicked, 100.0 * ratio(c->messages_clicked, c->messages),
	    c->clicks_human, c->clicks_human == 1 ? "" : "s");
	fprintf(f, "  not counted as read: %lld open%s by machines (Apple Mail Privacy\n"
	    "  Protection, prefetching, scanners) and %lld click%s by link scanners\n\n",
	    c->opens_machine, c->opens_machine == 1 ? "" : "s", c->clicks_scanner,
	    c->clicks_scanner == 1 ? "" : "s");
	fputs("The HTML part of this mail has the charts. The details:\n\n", f);
}

static void
digest_footer(FILE *f)
{
	fputs("\n-- \nSent by mailbeacon on your mail server because the sender policy asks\n"
	    "for a digest (digest= in mailbeacon-policy(5)); your postmaster can stop it.\n", f);
}

/* RFC 5322 date of t, in UTC (the C locale's day and month names). */
static void
rfc5322_date(long long t, char buf[64])
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, 64, "%a, %d %b %Y %H:%M:%S +0000", &tm);
}

/* The whole message: headers, a text/plain part (quoted-printable) and a
 * text/html part (base64), multipart/alternative. */
static int
digest_compose(struct mbuf *m, const struct config *cfg, const char *to,
	       const struct report_counts *c, long long since, long long now, const char *text,
	       size_t text_len, const char *html, size_t html_len)
{
	unsigned char rnd[12];
	char boundary[64], date[64], day_from[32], day_to[32];
	const char *from = cfg->notify_from != NULL && strcmp(cfg->notify_from, "<>") != 0 ?
	    cfg->notify_from : NULL;
	int rc = 0;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return -1;
	/* "=_" never occurs in quoted-printable or base64 text. */
	snprintf(boundary, sizeof(boundary), "=_mailbeacon_digest_");
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(boundary + strlen(boundary), 3, "%02x", rnd[i]);
	rfc5322_date(now, date);
	fmt_day(since / 86400 - (since % 86400 < 0), day_from);
	fmt_day(now / 86400 - (now % 86400 < 0), day_to);
	/* Without notify_from the digest comes from the postmaster of the
	 * sender's own domain, the one address RFC 5321 says exists there. */
	if (from != NULL)
		rc |= mbuf_printf(m, "From: mailbeacon <%s>\n", from);
	else
		rc |= mbuf_printf(m, "From: mailbeacon <postmaster%s>\n", strrchr(to, '@'));
	rc |= mbuf_printf(m, "To: %s\n", to);
	rc |= mbuf_printf(m, "Subject: Your tracked mail %s to %s: %lld message%s, %lld read\n",
	    day_from, day_to, c->messages, c->messages == 1 ? "" : "s", c->unique_human_opens);
	rc |= mbuf_printf(m, "Date: %s\n", date);
	rc |= mbuf_puts(m, "Auto-Submitted: auto-generated\n"
	    "X-Mailbeacon: notification\n"
	    "MIME-Version: 1.0\n");
	rc |= mbuf_printf(m, "Content-Type: multipart/alternative; boundary=\"%s\"\n\n", boundary);
	rc |= mbuf_puts(m, "This is a digest of your tracked mail, in MIME format.\n");
	rc |= mbuf_printf(m, "\n--%s\nContent-Type: text/plain; charset=utf-8\n"
	    "Content-Transfer-Encoding: quoted-printable\n\n", boundary);
	rc |= qp_encode(text, text_len, "\n", m);
	rc |= mbuf_printf(m, "\n--%s\nContent-Type: text/html; charset=utf-8\n"
	    "Content-Transfer-Encoding: base64\n"
	    "Content-Disposition: inline; filename=\"mailbeacon-report-%s.html\"\n\n",
	    boundary, day_to);
	rc |= b64_encode(html, html_len, "\n", m);
	rc |= mbuf_printf(m, "\n--%s--\n", boundary);
	return rc != 0 ? -1 : 0;
}

/* One sender's digest: 1 sent, 0 nothing to send (no message in the
 * period), -1 with err. */
static int
digest_one(struct admin_env *env, struct store *st, const char *sender, long long since,
	   long long now, char *err, size_t errlen)
{
	struct report_opts o;
	struct report_data *rd = NULL;
	const struct report_counts *c;
	char *text = NULL, *html = NULL;
	size_t text_len = 0, html_len = 0;
	struct mbuf m;
	FILE *tf = NULL, *hf = NULL;
	int rc = -1;

	memset(&o, 0, sizeof(o));
	o.f.sender = sender;	/* an address, never "@domain": this sender alone */
	o.f.has_since = true;
	o.f.since = since;
	o.now = now;
	o.format = FMT_HTML;
	mbuf_init(&m);
	if (store_report_load(st, &o.f, &rd, err, errlen) == -1)
		return -1;
	c = store_report_totals(rd);
	if (c->messages == 0) {
		store_report_free(rd);
		return 0;
	}
	if ((tf = open_memstream(&text, &text_len)) == NULL ||
	    (hf = open_memstream(&html, &html_len)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	digest_intro(tf, c, since, now);
	o.format = FMT_TABLE;
	if (report_table(st, rd, &o, tf, err, errlen) == -1)
		goto out;
	digest_footer(tf);
	o.format = FMT_HTML;
	if (report_html(st, rd, &o, hf, err, errlen) == -1)
		goto out;
	if (fclose(tf) == EOF || fclose(hf) == EOF) {
		tf = hf = NULL;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	tf = hf = NULL;
	if (digest_compose(&m, env->cfg, sender, c, since, now, text, text_len, html,
	    html_len) == -1) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (sendmail_send(env->cfg->sendmail_path, env->cfg->notify_from, m.data, m.len,
	    DIGEST_SENDMAIL_TIMEOUT_MS, err, errlen) == -1)
		goto out;
	printf("%s: digest of %lld message%s sent\n", sender, c->messages,
	    c->messages == 1 ? "" : "s");
	rc = 1;
out:
	if (tf != NULL)
		fclose(tf);
	if (hf != NULL)
		fclose(hf);
	free(text);
	free(html);
	mbuf_free(&m);
	store_report_free(rd);
	return rc;
}

/* One run of digest: what it was asked, and how it went. */
struct digest_run {
	struct admin_env *env;
	struct store *st;
	enum policy_digest period;	/* POLICY_DIGEST_NONE: both */
	bool has_since;
	long long since, now;
	int status;
};

/* Each sender of the period's messages: a digest when the policy says so.
 * (The senders are in memory: the digest's own queries may run.) */
static int
digest_sender_cb(void *arg, const struct report_sender *s)
{
	struct digest_run *run = arg;
	const struct policy_rule *r = policy_lookup(run->env->policy, s->sender);
	char err[1024];
	long long from;

	if (r == NULL || r->digest == POLICY_DIGEST_NONE ||
	    (run->period != POLICY_DIGEST_NONE && r->digest != run->period))
		return 0;
	if (!digest_address_ok(s->sender)) {
		log_warnx("%s: no digest: not an address a digest can be sent to", s->sender);
		run->status = EXIT_RUNTIME;
		return 0;
	}
	from = run->has_since ? run->since :
	    run->now - (r->digest == POLICY_DIGEST_DAILY ? 1 : 7) * 86400LL;
	if (digest_one(run->env, run->st, s->sender, from, run->now, err, sizeof(err)) == -1) {
		log_warnx("%s: no digest sent: %s", s->sender, err);
		run->status = EXIT_RUNTIME;
	}
	return 0;
}

int
cmd_digest(struct admin_env *env, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "period", required_argument, NULL, 'p' },
		{ "since", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct digest_run run = { env, NULL, POLICY_DIGEST_NONE, false, 0, (long long)time(NULL),
				  0 };
	struct report_filter all;
	struct report_data *rd = NULL;
	bool date_only;
	char err[1024];
	int c;

	log_init("mailbeacon digest", 1);
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (strcmp(optarg, "daily") == 0)
				run.period = POLICY_DIGEST_DAILY;
			else if (strcmp(optarg, "weekly") == 0)
				run.period = POLICY_DIGEST_WEEKLY;
			else {
				log_warnx("--period '%s': expected daily or weekly", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'S':
			if (parse_when(optarg, run.now, &run.since, &date_only) == -1) {
				log_warnx("--since '%s': expected Nd, Nh, Nw, YYYY-MM-DD, "
				    "YYYY-MM-DDTHH:MM:SSZ or @UNIXTIME", optarg);
				return EXIT_USAGE;
			}
			run.has_since = true;
			break;
		case 'h':
			digest_usage(stdout);
			return 0;
		default:
			log_warnx("bad option or missing value: %s", argv[optind - 1]);
			fprintf(stderr, "run 'mailbeacon digest --help' for usage\n");
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		log_warnx("unexpected argument '%s'", argv[optind]);
		return EXIT_USAGE;
	}
	if ((c = report_store_open(env, &run.st)) != 0)
		return c;
	/* The senders of the longest period asked for; each one's own period
	 * is applied by digest_sender_cb. */
	memset(&all, 0, sizeof(all));
	all.has_since = true;
	all.since = run.has_since ? run.since :
	    run.now - (run.period == POLICY_DIGEST_DAILY ? 1 : 7) * 86400LL;
	if (store_report_load(run.st, &all, &rd, err, sizeof(err)) == -1) {
		log_warnx("%s", err);
		run.status = EXIT_RUNTIME;
	} else {
		store_report_senders(rd, digest_sender_cb, &run);
	}
	store_report_free(rd);
	store_report_end(run.st);
	store_close(run.st);
	if (fflush(stdout) == EOF && run.status == 0)
		run.status = EXIT_RUNTIME;
	return run.status;
}
