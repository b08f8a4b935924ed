/* bench_rewrite: throughput of the rewrite engine (rewrite_message() +
 * rewrite_apply(), the milter's code path) on generated HTML mail of three
 * sizes, against baselines measured in the same run on the same HTML:
 *
 *   sax-null  libxml2's HTML SAX parser, every handler NULL, same options
 *   sax-noop  libxml2's HTML SAX parser with empty startElement/endElement/
 *             characters/comment handlers (events delivered, nothing done)
 *   dom       htmlReadMemory() + htmlDocDumpMemory() (DOM round trip)
 *   rewrite   rewrite_message() + rewrite_apply() + free (what the milter does)
 *
 * Methods are interleaved (one sample of each per round, order rotated),
 * each sample runs for about --sample-ms, and the median of --rounds
 * samples is printed with ratios against the baselines.
 *
 *   bench_rewrite [--rounds N] [--sample-ms MS] [--sizes 5,60,1024] [--qp]
 *                 [--dump DIR] [--gen-only]
 * --qp also runs a multipart/alternative message whose parts are
 * quoted-printable (decode + re-encode on top of the HTML work);
 * --qp-only runs that message alone.
 * --max-links N: only the first N links are <a href> (the rest <span>):
 * the milter leaves a message with more than 2000 links untouched.
 * --only METHOD times that method alone (for perf record; no ratios);
 * with --iters N it runs exactly N times, untimed (for instruction counts
 * under callgrind: bench_rewrite_instr.sh).
 * --dump DIR writes the generated messages there (msg-<KB>k.eml, and
 * msg-<KB>k-qp.eml with --qp); with --gen-only nothing is timed (the mail
 * path and memory benchmarks take their messages from here).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <libxml/HTMLparser.h>
#include <libxml/HTMLtree.h>
#include <libxml/parserInternals.h>
#include "html_parser.h"
#include "footer.h"
#include "keyring.h"
#include "mbuf.h"
#include "monoclock.h"
#include "policy.h"
#include "rewrite.h"

/* --- deterministic generator of newsletter-like HTML ----------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t
rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 11);
}

static const char *words[] = {
	"quarterly", "invoice", "proposal", "support", "update", "release", "customer",
	"meeting", "schedule", "product", "launch", "feature", "pricing", "partner",
	"service", "account", "details", "summary", "report", "team", "project",
	"delivery", "shipping", "order", "review", "feedback", "improvement", "news",
	"Überblick", "café", "naïve", "résumé", "spring", "summer", "offer", "today",
	"the", "and", "with", "for", "our", "your", "new", "this", "from", "about",
};
#define NWORDS (sizeof(words) / sizeof(words[0]))

static void
put_words(struct mbuf *b, int n)
{
	for (int i = 0; i < n; i++) {
		if (i)
			mbuf_putc(b, ' ');
		mbuf_puts(b, words[rnd() % NWORDS]);
	}
}

static unsigned max_links, n_links;	/* --max-links: 0 = no limit */

/* An <a href=URL> while under --max-links, else a <span> (same size). */
static void
open_link(struct mbuf *b, const char *url)
{
	if (max_links == 0 || n_links < max_links) {
		n_links++;
		mbuf_printf(b, "<a href=\"%s\"", url);
	} else {
		mbuf_printf(b, "<span data-href=\"%s\"", url);
	}
}

static void
close_link(struct mbuf *b)
{
	mbuf_puts(b, max_links == 0 || n_links <= max_links ? "</a>" : "</span>");
}

static void
gen_block(struct mbuf *b, unsigned k)
{
	char url[256];

	mbuf_printf(b,
		"<tr>\r\n<td class=\"content\" style=\"padding:12px 24px;font-family:Arial,Helvetica,"
		"sans-serif;font-size:15px;line-height:22px;color:#333333;\">\r\n"
		"<h2 style=\"margin:0 0 8px 0;font-size:20px;line-height:26px;color:#111111;\">");
	put_words(b, 4 + rnd() % 4);
	mbuf_printf(b, " &ndash; #%u</h2>\r\n<p style=\"margin:0 0 12px 0;\">", k);
	put_words(b, 20 + rnd() % 20);
	snprintf(url, sizeof(url), "https://www.example.com/news/%u/%s-article?utm_source=newsletter"
		"&amp;utm_medium=email&amp;utm_campaign=spring&amp;id=%u#section-%u", k,
		words[rnd() % 28], rnd() % 100000, k % 7);
	mbuf_putc(b, ' ');
	open_link(b, url);
	mbuf_puts(b, " style=\"color:#0066cc;text-decoration:underline;\" target=\"_blank\">read the full "
		"story");
	close_link(b);
	mbuf_puts(b, ", ");
	put_words(b, 15 + rnd() % 20);
	mbuf_printf(b, " &nbsp;&copy;&nbsp;<strong>%u</strong> <em>", 2020 + k % 6);
	put_words(b, 3);
	mbuf_printf(b, "</em>.</p>\r\n"
		"<table role=\"presentation\" width=\"100%%\" cellpadding=\"0\" cellspacing=\"0\" "
		"border=\"0\" style=\"border-collapse:collapse;\">\r\n<tr>\r\n"
		"<td width=\"50%%\" valign=\"top\" style=\"padding:0 8px 0 0;\"><img src=\"https://cdn"
		".example.com/img/%u/product-%u.png\" width=\"260\" height=\"140\" alt=\"Product %u\" "
		"style=\"display:block;border:0;outline:none;width:100%%;height:auto;\"></td>\r\n"
		"<td width=\"50%%\" valign=\"middle\" style=\"padding:0 0 0 8px;font-size:14px;\">",
		k % 50, k, k);
	put_words(b, 8 + rnd() % 8);
	snprintf(url, sizeof(url), "https://shop.example.com/p/%u?ref=mail&amp;v=%u", k, rnd() % 1000);
	mbuf_puts(b, "<br>\r\n");
	open_link(b, url);
	mbuf_puts(b, " style=\"background:#0066cc;color:#ffffff;padding:10px 18px;border-radius:4px;"
		"text-decoration:none;display:inline-block;font-weight:bold;\">Order now");
	close_link(b);
	mbuf_puts(b, "</td>\r\n</tr>\r\n</table>\r\n</td>\r\n</tr>\r\n");
}

/* An HTML document of about target bytes. */
static void
gen_html(struct mbuf *b, size_t target)
{
	mbuf_puts(b,
		"<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Transitional//EN\" "
		"\"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd\">\r\n"
		"<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\r\n<head>\r\n"
		"<meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">\r\n"
		"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1.0\">\r\n"
		"<title>Spring newsletter</title>\r\n<style type=\"text/css\">\r\n"
		"body{margin:0;padding:0;background:#f4f4f4;}\r\n"
		"table,td{border-collapse:collapse;mso-table-lspace:0pt;mso-table-rspace:0pt;}\r\n"
		"img{border:0;line-height:100%;outline:none;text-decoration:none;}\r\n"
		"@media only screen and (max-width:620px){.content{padding:8px !important;}}\r\n"
		"</style>\r\n<!--[if mso]><style>.content{font-family:Arial,sans-serif;}</style>"
		"<![endif]-->\r\n</head>\r\n"
		"<body style=\"margin:0;padding:0;background-color:#f4f4f4;\">\r\n"
		"<table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" "
		"border=\"0\" bgcolor=\"#f4f4f4\">\r\n<tr><td align=\"center\">\r\n"
		"<table role=\"presentation\" width=\"600\" cellpadding=\"0\" cellspacing=\"0\" "
		"border=\"0\" style=\"background:#ffffff;max-width:600px;\">\r\n"
		"<tr><td style=\"padding:20px 24px;\"><a href=\"https://www.example.com/\">"
		"<img src=\"https://cdn.example.com/logo.png\" width=\"180\" height=\"40\" "
		"alt=\"Example Corp\" style=\"display:block;border:0;\"></a></td></tr>\r\n");
	const char *tail =
		"<tr><td style=\"padding:16px 24px;font-size:12px;color:#888888;\">"
		"Example Corp &middot; 1 Main Street &middot; Springfield<br>\r\n"
		"<a href=\"mailto:support@example.com\">support@example.com</a> &middot; "
		"<a href=\"tel:+15551234567\">+1 555 123 4567</a> &middot; "
		"<a href=\"https://www.example.com/unsubscribe?u=abc\">Unsubscribe</a>"
		"</td></tr>\r\n</table>\r\n</td></tr>\r\n</table>\r\n</body>\r\n</html>\r\n";
	size_t tl = strlen(tail);
	for (unsigned k = 1; b->len + tl < target; k++)
		gen_block(b, k);
	mbuf_puts(b, tail);
}

static void
qp_encode(struct mbuf *out, const char *s, size_t n)
{
	size_t col = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\r' && i + 1 < n && s[i + 1] == '\n') {
			mbuf_puts(out, "\r\n");
			i++;
			col = 0;
			continue;
		}
		char enc[4];
		size_t el;
		if ((c >= 33 && c <= 126 && c != '=') || c == ' ') {
			enc[0] = (char)c;
			el = 1;
		} else {
			snprintf(enc, sizeof(enc), "=%02X", c);
			el = 3;
		}
		if (col + el > 75) {
			mbuf_puts(out, "=\r\n");
			col = 0;
		}
		mbuf_append(out, enc, el);
		col += el;
	}
}

static void
gen_message(struct mbuf *m, const struct mbuf *html, int qp)
{
	mbuf_puts(m, "Return-Path: <alice@example.com>\r\n"
		"From: Alice Example <alice@example.com>\r\n"
		"To: Carol <carol@example.net>\r\n"
		"Subject: Spring newsletter\r\n"
		"Date: Tue, 02 Apr 2024 10:00:00 +0000\r\n"
		"Message-ID: <bench.1@example.com>\r\n"
		"MIME-Version: 1.0\r\n");
	if (!qp) {
		mbuf_puts(m, "Content-Type: text/html; charset=utf-8\r\n"
			"Content-Transfer-Encoding: 8bit\r\n\r\n");
		mbuf_append(m, html->data, html->len);
		return;
	}
	mbuf_puts(m, "Content-Type: multipart/alternative; boundary=\"=_bench_b0undary\"\r\n\r\n"
		"This is a multi-part message in MIME format.\r\n\r\n--=_bench_b0undary\r\n"
		"Content-Type: text/plain; charset=utf-8\r\n"
		"Content-Transfer-Encoding: quoted-printable\r\n\r\n");
	struct mbuf txt;
	mbuf_init(&txt);
	for (size_t i = 0; txt.len < html->len / 4; i++) {
		put_words(&txt, 12);
		mbuf_puts(&txt, " https://www.example.com/news/1\r\n");
	}
	qp_encode(m, txt.data, txt.len);
	mbuf_free(&txt);
	mbuf_puts(m, "\r\n--=_bench_b0undary\r\nContent-Type: text/html; charset=utf-8\r\n"
		"Content-Transfer-Encoding: quoted-printable\r\n\r\n");
	qp_encode(m, html->data, html->len);
	mbuf_puts(m, "\r\n--=_bench_b0undary--\r\n");
}

/* --- the methods ------------------------------------------------------ */

struct input {
	const char *html;
	size_t html_len;
	const char *msg;
	size_t msg_len;
	const struct rewrite_params *params;
};

static volatile size_t sink;

static void noop_start(void *c, const xmlChar *n, const xmlChar **a) { (void)c; (void)n; (void)a; }
static void noop_end(void *c, const xmlChar *n) { (void)c; (void)n; }
static void noop_chars(void *c, const xmlChar *s, int l) { (void)c; (void)s; (void)l; }
static void noop_comment(void *c, const xmlChar *s) { (void)c; (void)s; }
static void noop_msg(void *c, const char *m, ...) { (void)c; (void)m; }

/* html_edit's own parser set-up (rewrite/html_parser.h), with no handlers
 * or with empty ones. */
static void
sax_run(const struct input *in, int with_handlers)
{
	htmlSAXHandler sax;

	memset(&sax, 0, sizeof(sax));
	if (with_handlers) {
		sax.startElement = noop_start;
		sax.endElement = noop_end;
		sax.characters = noop_chars;
		sax.ignorableWhitespace = noop_chars;
		sax.cdataBlock = noop_chars;
		sax.comment = noop_comment;
	}
	sax.warning = noop_msg;
	sax.error = noop_msg;
	htmlParserCtxtPtr ctxt = html_parser_new(in->html, in->html_len, &sax, NULL);
	if (ctxt == NULL)
		abort();
	htmlParseDocument(ctxt);
	sink += (size_t)xmlByteConsumed(ctxt);
	htmlFreeParserCtxt(ctxt);
}

static void m_sax_null(const struct input *in) { sax_run(in, 0); }
static void m_sax_noop(const struct input *in) { sax_run(in, 1); }

static void
m_dom(const struct input *in)
{
	htmlDocPtr doc = htmlReadMemory(in->html, (int)in->html_len, NULL, "UTF-8",
					HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING | HTML_PARSE_NONET);
	xmlChar *out = NULL;
	int len = 0;

	if (doc == NULL)
		abort();
	htmlDocDumpMemory(doc, &out, &len);
	sink += (size_t)len;
	xmlFree(out);
	xmlFreeDoc(doc);
}

static unsigned last_links;
static const char *only;	/* --only METHOD */
static long only_iters;		/* --iters N: that many runs, untimed */

static void
m_rewrite(const struct input *in)
{
	struct rewrite_result res;
	struct mbuf out;

	if (rewrite_message(in->params, in->msg, in->msg_len, &res) < 0 || !res.edited) {
		fprintf(stderr, "bench_rewrite: message left untouched: %s\n", res.reason);
		exit(2);
	}
	mbuf_init(&out);
	if (rewrite_apply(in->msg, in->msg_len, &res, &out) < 0)
		abort();
	sink += out.len;
	last_links = (unsigned)res.n_links;
	mbuf_free(&out);
	rewrite_result_free(&res);
}

struct method {
	const char *name;
	void (*fn)(const struct input *);
	double samples[64];	/* seconds per iteration */
	long iters;
};

static int
dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double
median(const double *v, int n)
{
	double t[64];

	memcpy(t, v, (size_t)n * sizeof(*t));
	qsort(t, (size_t)n, sizeof(*t), dcmp);
	return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

static void
run_case(const char *label, const struct input *in, int rounds, double sample_s)
{
	struct method ms[] = {
		{ "sax-null", m_sax_null, { 0 }, 0 },
		{ "sax-noop", m_sax_noop, { 0 }, 0 },
		{ "dom", m_dom, { 0 }, 0 },
		{ "rewrite", m_rewrite, { 0 }, 0 },
	};
	const int nm = (int)(sizeof(ms) / sizeof(ms[0]));

	if (only != NULL) {
		for (int i = 0; i < nm; i++)
			if (strcmp(ms[i].name, only) == 0 && only_iters > 0) {
				for (long k = 0; k < only_iters; k++)
					ms[i].fn(in);
				printf("%s %s: %ld runs, %u links\n", label, only, only_iters,
				       last_links);
			} else if (strcmp(ms[i].name, only) == 0) {
				double t0 = monotonic_seconds();
				long k = 0;
				while (monotonic_seconds() - t0 < sample_s * rounds && ++k)
					ms[i].fn(in);
				printf("%s %s: %.1f MB/s (%ld runs)\n", label, only,
				       in->html_len * (double)k / (monotonic_seconds() - t0) / 1e6, k);
			}
		return;
	}
	/* Warm-up and calibration: iterations per sample of each method. */
	for (int i = 0; i < nm; i++) {
		long n = 1;
		double t;
		for (;;) {
			double t0 = monotonic_seconds();
			for (long k = 0; k < n; k++)
				ms[i].fn(in);
			t = monotonic_seconds() - t0;
			if (t > 0.02 || n > (1L << 24))
				break;
			n *= 4;
		}
		ms[i].iters = (long)(sample_s / (t / n)) + 1;
	}
	for (int r = 0; r < rounds; r++) {
		for (int j = 0; j < nm; j++) {
			struct method *m = &ms[(j + r) % nm];
			double t0 = monotonic_seconds();
			for (long k = 0; k < m->iters; k++)
				m->fn(in);
			m->samples[r] = (monotonic_seconds() - t0) / m->iters;
		}
	}
	double med[8];
	for (int i = 0; i < nm; i++)
		med[i] = median(ms[i].samples, rounds);
	printf("\n== %s: HTML %zu bytes, message %zu bytes, %u links signed per message\n",
	       label, in->html_len, in->msg_len, last_links);
	printf("%-10s %10s %12s %10s %10s %10s %8s\n", "method", "MB/s", "msgs/s", "us/msg",
	       "x sax-null", "x sax-noop", "x dom");
	for (int i = 0; i < nm; i++) {
		double mbs = in->html_len / med[i] / 1e6;
		printf("%-10s %10.1f %12.1f %10.1f %10.2f %10.2f %8.2f\n", ms[i].name, mbs,
		       1 / med[i], med[i] * 1e6, med[0] / med[i], med[1] / med[i], med[2] / med[i]);
	}
	double ratio = med[1] / med[3];
	printf("target rewrite >= 0.8 x SAX parse: %.2f x sax-noop, %.2f x sax-null -> %s\n",
	       ratio, med[0] / med[3], ratio >= 0.8 ? "MET" : "MISSED");
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	int rounds = 7, qp = 0, qp_only = 0, gen_only = 0;
	double sample_ms = 200;
	const char *sizes = "5,60,1024", *dump = NULL;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else if (strcmp(argv[i], "--sample-ms") == 0 && i + 1 < argc)
			sample_ms = atof(argv[++i]);
		else if (strcmp(argv[i], "--sizes") == 0 && i + 1 < argc)
			sizes = argv[++i];
		else if (strcmp(argv[i], "--dump") == 0 && i + 1 < argc)
			dump = argv[++i];
		else if (strcmp(argv[i], "--qp") == 0)
			qp = 1;
		else if (strcmp(argv[i], "--qp-only") == 0)
			qp = qp_only = 1;
		else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
			only = argv[++i];
		else if (strcmp(argv[i], "--iters") == 0 && i + 1 < argc)
			only_iters = atol(argv[++i]);
		else if (strcmp(argv[i], "--max-links") == 0 && i + 1 < argc)
			max_links = (unsigned)atoi(argv[++i]);
		else if (strcmp(argv[i], "--gen-only") == 0)
			gen_only = 1;
		else {
			fprintf(stderr, "usage: bench_rewrite [--rounds N] [--sample-ms MS] "
				"[--sizes KB,KB,...] [--qp | --qp-only] [--only METHOD [--iters N]] [--max-links N] [--dump DIR [--gen-only]]\n");
			return 1;
		}
	}
	if (rounds < 1 || rounds > 64)
		rounds = 7;
	xmlInitParser();

	struct keyring keys;
	char err[256];
	if (keyring_parse("bench-keys", "k1 c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldC0xMjM0NTY3OA\n",
			  &keys, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench_rewrite: %s\n", err);
		return 2;
	}
	struct rewrite_params p = {
		.beacon_url = "https://t.example.com",
		.privacy_url = "https://t.example.com/privacy",
		.max_message_size = 64u << 20,
		.pixel_top = false,
		.keys = &keys,
		.words = POLICY_OPENS | POLICY_CLICKS | POLICY_FOOTER,
		.sender = "alice@example.com",
		.footer_html = footer_default_html,
		.footer_text = footer_default_text,
		.now = time(NULL),
		.msgid = NULL,
	};
	if (!gen_only)
		printf("bench_rewrite: rounds=%d sample=%.0f ms, libxml2 %s; median of rounds, "
	       "methods interleaved\n", rounds, sample_ms, xmlParserVersion);

	char *list = strdup(sizes);
	for (char *save = NULL, *s = strtok_r(list, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
		size_t kb = strtoul(s, NULL, 10);
		struct mbuf html;
		mbuf_init(&html);
		rng_state = 0x9e3779b97f4a7c15ull + kb;
		n_links = 0;
		gen_html(&html, kb * 1024);
		for (int v = qp_only; v <= qp; v++) {
			struct mbuf msg;
			mbuf_init(&msg);
			gen_message(&msg, &html, v);
			if (dump) {
				char path[4096];
				snprintf(path, sizeof(path), "%s/msg-%zuk%s.eml", dump, kb, v ? "-qp" : "");
				FILE *f = fopen(path, "w");
				if (f) {
					fwrite(msg.data, 1, msg.len, f);
					fclose(f);
				}
			}
			if (gen_only) {
				mbuf_free(&msg);
				continue;
			}
			struct input in = { html.data, html.len, msg.data, msg.len, &p };
			char label[64];
			snprintf(label, sizeof(label), "%zu KB %s", kb,
				 v ? "multipart/alternative, quoted-printable" : "text/html, 8bit");
			run_case(label, &in, rounds, sample_ms / 1000);
			mbuf_free(&msg);
		}
		mbuf_free(&html);
	}
	free(list);
	keyring_free(&keys);
	return 0;
}
