/* fuzz_rewrite: libFuzzer target for a whole rewrite (rewrite_message, then
 * rewrite_apply). The output must re-parse into the same MIME tree, keep
 * every octet outside the body text parts, give the input back undone, and
 * carry one pixel and one opt-out link in each HTML part, its own, with the
 * footer where a reader sees it (checked by a second parse of the output). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <libxml/HTMLparser.h>
#include "charset.h"
#include "codec.h"
#include "footer.h"
#include "html_parser.h"
#include "keyring.h"
#include "links.h"
#include "mime.h"
#include "policy.h"
#include "rewrite.h"
#include "text.h"
#include "token.h"
#include "undo.h"

#define BEACON "https://t.example.com"
#define MSGID "fuzzfuzzfuzzfuzzfuzzAA"
#define SENT 1700000000
#define SENDER "alice@example.com"
#define MAX_TARGETS 16		/* rewrite.c edits the first 16 body parts */
#define QP_LINE_MAX 76
#define SMTP_LINE_MAX 998

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct keyring keys;

struct expected {
	unsigned words;
	struct mbuf pixel, footer_html, footer_text;	/* footers with '\n' breaks */
	struct mbuf pixel_url, optout_url;
};

struct selection {
	int idx[MAX_TARGETS];
	size_t n;
};

/* One edited part being undone. */
struct part_walk {
	const struct rewrite_result *res;
	const char *in;		/* decoded input */
	size_t len;
	const char *out;	/* decoded output */
	size_t out_len;
	bool html;
	struct utf8_view view;	/* text parts: where URLs are looked for */
	size_t v, url_v, url_n;
	unsigned *links_seen;
};

static void
setup(void)
{
	char err[200];

	if (keyring_parse("fuzz-keys", "k2 hA3U9ZBepWgbLLlJl2Vq771n-4pdcKFocKuG6GWnorA\n"
			  "k1 TeGtFse0hHC1nAqnOSJ2_KQxhWzyrbFUYdEUo58iiiY\n", &keys, err, sizeof(err)) < 0)
		fuzz_fail("rewrite", "keyring: %s", err);
}

static bool
is(const struct mime_part *p, const char *type, const char *subtype)
{
	return strcmp(p->type, type) == 0 && strcmp(p->subtype, subtype) == 0;
}

/* The body text parts, by the spec's rules, written out again here. */
static void
select_body(const struct mime_message *m, int idx, struct selection *s)
{
	const struct mime_part *p = &m->parts[idx];

	if (p->attachment)
		return;
	if (is(p, "text", "html") || is(p, "text", "plain")) {
		if (s->n < MAX_TARGETS)
			s->idx[s->n++] = idx;
	} else if (is(p, "multipart", "alternative")) {
		for (int c = p->first_child; c >= 0; c = m->parts[c].next_sibling)
			select_body(m, c, s);
	} else if (is(p, "multipart", "related")) {
		int root = p->first_child;
		if (p->start_id[0] != '\0')
			for (int c = p->first_child; c >= 0; c = m->parts[c].next_sibling)
				if (strcmp(m->parts[c].content_id, p->start_id) == 0)
					root = c;
		if (root >= 0)
			select_body(m, root, s);
	} else if (is(p, "multipart", "mixed") && p->first_child >= 0) {
		select_body(m, p->first_child, s);
	}
}

static bool
selected(const struct selection *s, int idx)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->idx[i] == idx)
			return true;
	return false;
}

static void
token_url(enum token_kind kind, struct mbuf *out)
{
	struct token t = { .kind = kind, .msgid = MSGID, .sent = SENT };

	mbuf_puts(out, BEACON "/");
	if (token_format(&keys, &t, out) < 0)
		fuzz_fail("rewrite", "token_format failed");
}

static void
expect_init(struct expected *x, unsigned words)
{
	struct mbuf optout;

	memset(x, 0, sizeof(*x));
	x->words = words;
	mbuf_init(&optout);
	token_url(TOKEN_OPTOUT, &optout);
	mbuf_append(&x->optout_url, optout.data, optout.len);
	struct footer_vars v = {
		.sender = SENDER,
		.optout_url = optout.data,
		.privacy_url = BEACON "/privacy",
		.tracked = footer_tracked_phrase(words, FOOTER_NO_LOCATION),
	};
	if (footer_render(footer_default_html, true, &v, &x->footer_html) < 0 ||
	    footer_render(footer_default_text, false, &v, &x->footer_text) < 0)
		fuzz_fail("rewrite", "footer_render failed");
	if (words & POLICY_OPENS) {
		mbuf_puts(&x->pixel, "<img src=\"");
		token_url(TOKEN_OPEN, &x->pixel);
		token_url(TOKEN_OPEN, &x->pixel_url);
		mbuf_puts(&x->pixel, "\" width=\"1\" height=\"1\" alt=\"\" "
			  "style=\"border:0;width:1px;height:1px\">");
	}
	mbuf_free(&optout);
}

static void
expect_free(struct expected *x)
{
	mbuf_free(&x->pixel);
	mbuf_free(&x->footer_html);
	mbuf_free(&x->footer_text);
	mbuf_free(&x->pixel_url);
	mbuf_free(&x->optout_url);
}

/* s with every line break written as eol, or with CRLF made LF when
 * eol is NULL (quoted-printable line breaks are the transport's). */
static void
set_eol(const char *s, size_t len, const char *eol, struct mbuf *out)
{
	for (size_t i = 0; i < len; i++) {
		if (eol == NULL && s[i] == '\r' && i + 1 < len && s[i + 1] == '\n')
			continue;
		if (eol != NULL && s[i] == '\r')
			continue;
		if (eol != NULL && s[i] == '\n')
			mbuf_puts(out, eol);
		else
			mbuf_putc(out, (unsigned char)s[i]);
	}
}

/* With canonical_breaks, every line break of the encoded body (CRLF or LF)
 * becomes LF before decoding: a quoted-printable line break is the
 * transport's, while "=0D" is data. */
static void
decode_body(const struct mime_message *m, int idx, bool must_be_valid, bool canonical_breaks,
	    struct mbuf *out)
{
	const struct mime_part *p = &m->parts[idx];
	const char *raw = m->msg + p->body_start;
	size_t len = p->body_end - p->body_start;
	struct mbuf canon;

	mbuf_init(&canon);
	if (canonical_breaks) {
		set_eol(raw, len, NULL, &canon);
		raw = canon.data ? canon.data : "";
		len = canon.len;
	}
	if (p->cte == CTE_QP)
		qp_decode(raw, len, out);
	else if (p->cte == CTE_BASE64 && b64_decode(raw, len, out) < 0 && must_be_valid)
		fuzz_fail("rewrite", "part %d: the output's base64 does not decode", idx);
	else if (p->cte != CTE_BASE64)
		mbuf_append(out, raw, len);
	mbuf_free(&canon);
}

static size_t
click_len(void *arg, const char *s, size_t n)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t p = strlen(BEACON "/c/");

	(void)arg;
	while (p < n && (strchr(b64, s[p]) != NULL || s[p] == '.') && s[p] != '\0')
		p++;
	if (p >= n || s[p] != '/')
		return 0;
	p++;
	while (p < n && strchr(b64, s[p]) != NULL && s[p] != '\0')
		p++;
	return p;
}

static size_t
orig_end(void *arg, size_t i, int next)
{
	struct part_walk *pw = arg;

	if (pw->html) {
		/* The href value ends at the octet that follows the URL. */
		const char *e = next < 0 ? NULL : memchr(pw->in + i, next, pw->len - i);
		return e == NULL ? (size_t)-1 : (size_t)(e - pw->in);
	}
	while (pw->v < pw->view.len && charset_view_orig(&pw->view, pw->v) < i)
		pw->v++;
	if (charset_view_orig(&pw->view, pw->v) != i)
		return (size_t)-1;
	pw->url_v = pw->v;
	pw->url_n = text_url_at(pw->view.text, pw->view.len, pw->v);
	if (pw->url_n == 0)
		return (size_t)-1;
	return charset_view_orig(&pw->view, pw->v + pw->url_n);
}

static bool
click_matches(void *arg, const char *url, size_t ulen, size_t orig, size_t olen, const char **why)
{
	struct part_walk *pw = arg;
	const struct rewrite_result *res = pw->res;
	size_t skip = strlen(BEACON "/");
	struct token t;
	bool ok = false;

	if (token_verify(&keys, url + skip, ulen - skip, &t) != TOKEN_OK) {
		*why = "a click URL that does not verify";
		return false;
	}
	if (t.kind != TOKEN_CLICK || strcmp(t.msgid, MSGID) != 0 || t.sent != SENT ||
	    strcmp(t.kid, keys.keys[0].id) != 0) {
		*why = "a click token with the wrong fields";
	} else if (t.link != ++*pw->links_seen || t.link > res->n_links ||
		   res->links[t.link - 1].num != t.link ||
		   strcmp(res->links[t.link - 1].url, t.dest) != 0) {
		*why = "click link numbers out of order or not as recorded";
	} else if (!pw->html) {
		ok = pw->url_n == t.dest_len &&
		    memcmp(pw->view.text + pw->url_v, t.dest, t.dest_len) == 0;
		*why = "a text click that does not sign the URL it replaced";
	} else {
		bool ascii = true;
		for (size_t k = 0; k < olen; k++)
			ascii &= (unsigned char)pw->in[orig + k] < 0x80;
		ok = true;
		if (ascii) {
			/* Relative hrefs are signed resolved against <base>. */
			struct mbuf dec;
			mbuf_init(&dec);
			html_attr_decode(pw->in + orig, olen, &dec);
			url_browser_clean(&dec);
			if (url_has_scheme(dec.data, dec.len))
				ok = dec.len == t.dest_len && memcmp(dec.data, t.dest, dec.len) == 0;
			mbuf_free(&dec);
		}
		*why = "an href click that does not sign the href it replaced";
	}
	token_clear(&t);
	return ok;
}

/* The part's own line break, as rewrite.c picks it for the footer. */
static const char *
part_eol(const struct mbuf *decoded, const char *msg_eol)
{
	const char *nl = decoded->data ? memchr(decoded->data, '\n', decoded->len) : NULL;

	if (nl == NULL)
		return msg_eol;
	return nl > decoded->data && nl[-1] == '\r' ? "\r\n" : "\n";
}

static void
check_lines(const struct mime_message *m, int idx)
{
	const struct mime_part *p = &m->parts[idx];
	size_t col = 0, max = p->cte == CTE_QP ? QP_LINE_MAX : SMTP_LINE_MAX;

	if (p->cte == CTE_BINARY)
		return;
	for (size_t i = p->body_start; i < p->body_end; i++) {
		if (m->msg[i] == '\n' || (m->msg[i] == '\r' && i + 1 < p->body_end && m->msg[i + 1] == '\n'))
			col = 0;
		else if (++col > max)
			fuzz_fail("rewrite", "part %d: a line longer than %zu octets", idx, max);
	}
}

/* An earlier pixel or opt-out URL of ours (the value as a browser reads it)
 * in the input at i, neutralised in the output at j: in HTML the attribute
 * value is blanked ("" when it was unquoted), in text the URL is the notice. */
static bool
artefact_neutralised(void *arg, size_t i, size_t j, size_t *in_end, size_t *out_end)
{
	struct part_walk *pw = arg;
	const char *in = pw->in, *out = pw->out;

	if (!pw->html) {
		/* A whole URL as text_url_at finds it, one of ours. */
		size_t nl = strlen(footer_artefact_notice), lo = 0, hi = pw->view.len;
		if (pw->out_len - j < nl || memcmp(out + j, footer_artefact_notice, nl) != 0)
			return false;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (charset_view_orig(&pw->view, mid) < i)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo >= pw->view.len || charset_view_orig(&pw->view, lo) != i)
			return false;
		size_t ul = text_url_at(pw->view.text, pw->view.len, lo);
		if (ul == 0 || footer_artefact_len(BEACON, pw->view.text + lo, ul) == 0)
			return false;
		*in_end = charset_view_orig(&pw->view, lo + ul);
		*out_end = j + nl;
		return true;
	}
	if (i == 0 || i >= pw->len)
		return false;
	size_t e = i;
	if (in[i - 1] == '"' || in[i - 1] == '\'') {
		if (out[j] != in[i - 1])
			return false;
		const char *q = memchr(in + i, in[i - 1], pw->len - i);
		if (q == NULL)
			return false;
		e = (size_t)(q - in);
		*out_end = j;
	} else {
		if (pw->out_len - j < 2 || memcmp(out + j, "\"\"", 2) != 0)
			return false;
		while (e < pw->len && !strchr(" \t\n\r\f>", in[e]))
			e++;
		*out_end = j + 2;
	}
	struct mbuf url;
	mbuf_init(&url);
	html_attr_decode(in + i, e - i, &url);
	url_browser_clean(&url);
	bool ok = url.data != NULL && footer_artefact_len(BEACON, url.data, url.len) > 0;
	mbuf_free(&url);
	*in_end = e;
	return ok;
}

#define SEEN_DEPTH_MAX 4096

/* The second parse of an edited HTML part: libxml2's own reading of the
 * output, with the open elements it reports. */
struct seen {
	const struct expected *x;
	struct {
		bool hidden;
		char name[16];
	} stack[SEEN_DEPTH_MAX];
	size_t depth, overflow;
	unsigned pixels, foreign_pixels, optouts, foreign_optouts, footers_hidden;
};

static bool
in_list(const char *name, const char *const *list)
{
	for (; *list; list++)
		if (strcasecmp(name, *list) == 0)
			return true;
	return false;
}

/* Inline CSS that hides: the plain spellings only (the rewrite skips any
 * style it cannot read plainly, so this reading is the more lenient). */
static bool
css_hides(const char *css)
{
	char d[256];
	bool zero = false, overflow = false;

	if (strchr(css, '\\') || strstr(css, "/*"))
		return true;
	for (const char *p = css; *p;) {
		size_t n = 0;
		for (; *p && *p != ';'; p++)
			if (!strchr(" \t\n\r\f", *p) && n + 1 < sizeof(d))
				d[n++] = (char)((*p >= 'A' && *p <= 'Z') ? *p + 32 : *p);
		if (*p)
			p++;
		d[n] = '\0';
		char *imp = strstr(d, "!important");
		if (imp)
			*imp = '\0';
		if (!strcmp(d, "display:none") || !strcmp(d, "visibility:hidden") ||
		    !strcmp(d, "mso-hide:all") || !strcmp(d, "font-size:0") ||
		    !strcmp(d, "font-size:0px") || !strcmp(d, "opacity:0"))
			return true;
		if (!strcmp(d, "max-height:0") || !strcmp(d, "height:0") || !strcmp(d, "max-height:0px"))
			zero = true;
		if (!strcmp(d, "overflow:hidden"))
			overflow = true;
	}
	return zero && overflow;
}

static const xmlChar *
att(const xmlChar **atts, const char *name)
{
	for (size_t i = 0; atts && atts[i]; i += 2)
		if (strcasecmp((const char *)atts[i], name) == 0)
			return atts[i + 1] ? atts[i + 1] : (const xmlChar *)"";
	return NULL;
}

/* Whether v, as a browser cleans a URL, is exactly want, or any URL of our
 * open, opt-out or consent routes (*ours then says which). */
static bool
artefact_value(const xmlChar *v, const struct mbuf *want, bool *ours)
{
	struct mbuf url;
	bool yes;

	mbuf_init(&url);
	mbuf_puts(&url, (const char *)v);
	url_browser_clean(&url);
	yes = url.data != NULL && footer_artefact_len(BEACON, url.data, url.len) > 0;
	*ours = yes && want->len == url.len && memcmp(want->data, url.data, url.len) == 0;
	mbuf_free(&url);
	return yes;
}

static void
seen_start(void *ctx, const xmlChar *xname, const xmlChar **atts)
{
	static const char *const hiding[] = {
		"title", "textarea", "script", "style", "xmp", "template", "select", "iframe",
		"noembed", "noframes", "object", "svg", "math", NULL
	};
	struct seen *sn = ctx;
	const char *name = (const char *)xname;
	const xmlChar *style = att(atts, "style"), *v;
	bool hidden = (sn->depth > 0 && sn->stack[sn->depth - 1].hidden) ||
	    in_list(name, hiding) || att(atts, "hidden") != NULL ||
	    (style != NULL && css_hides((const char *)style));
	bool ours;

	if (strcasecmp(name, "img") == 0 && (v = att(atts, "src")) != NULL &&
	    artefact_value(v, &sn->x->pixel_url, &ours)) {
		sn->pixels++;
		sn->foreign_pixels += !ours;
	}
	if ((strcasecmp(name, "a") == 0 || strcasecmp(name, "area") == 0) &&
	    (v = att(atts, "href")) != NULL && artefact_value(v, &sn->x->optout_url, &ours)) {
		sn->optouts++;
		sn->foreign_optouts += !ours;
		if (ours && (hidden || sn->overflow))
			sn->footers_hidden++;
	}
	if (sn->depth < SEEN_DEPTH_MAX) {
		sn->stack[sn->depth].hidden = hidden;
		snprintf(sn->stack[sn->depth].name, sizeof(sn->stack[0].name), "%s", name);
		sn->depth++;
	} else {
		sn->overflow++;
	}
}

static void
seen_end(void *ctx, const xmlChar *xname)
{
	struct seen *sn = ctx;

	if (sn->overflow > 0) {
		sn->overflow--;
		return;
	}
	for (size_t k = sn->depth; k-- > 0;)
		if (strcmp(sn->stack[k].name, (const char *)xname) == 0) {
			sn->depth = k;
			return;
		}
}

static void
seen_silent(void *ctx, const char *msg, ...)
{
	(void)ctx;
	(void)msg;
}

/* The decoded HTML output, parsed again by libxml2: exactly one opt-out
 * link, ours, under no hidden or raw-text element; the pixel (when there is
 * one in this part) ours; no earlier pixel or opt-out link left. */
static void
check_reparse(const struct expected *x, const char *charset, const char *html, size_t len,
	      int idx, unsigned *pixels)
{
	struct utf8_view view;
	htmlSAXHandler sax;
	char err[160];
	struct seen *sn = calloc(1, sizeof(*sn));

	if (sn == NULL)
		fuzz_fail("rewrite", "out of memory");
	if (charset_view(charset, html, len, &view, err, sizeof(err)) < 0)
		fuzz_fail("rewrite", "part %d: the output cannot be read in its charset: %s", idx, err);
	memset(&sax, 0, sizeof(sax));
	sax.startElement = seen_start;
	sax.endElement = seen_end;
	sax.warning = seen_silent;
	sax.error = seen_silent;
	sn->x = x;
	htmlParserCtxtPtr ctxt = html_parser_new(view.text, view.len, &sax, sn);
	if (ctxt == NULL)
		fuzz_fail("rewrite", "out of memory");
	htmlParseDocument(ctxt);
	htmlFreeParserCtxt(ctxt);
	if (sn->foreign_pixels || sn->foreign_optouts)
		fuzz_fail("rewrite", "part %d: %u earlier pixels and %u earlier opt-out links left",
			  idx, sn->foreign_pixels, sn->foreign_optouts);
	if (sn->optouts != 1)
		fuzz_fail("rewrite", "part %d: %u opt-out links", idx, sn->optouts);
	if (sn->footers_hidden)
		fuzz_fail("rewrite", "part %d: the footer's opt-out link is inside a hidden element", idx);
	*pixels += sn->pixels;
	charset_view_free(&view);
	free(sn);
}

/* A text part, before its footer, read in its charset: no URL (as
 * text_url_at finds them, left to right) is an earlier open, opt-out or
 * consent URL of ours. */
static void
check_text_artefacts(const char *charset, const char *text, size_t len, int idx)
{
	struct utf8_view view;
	char err[160];

	if (charset_view(charset, text, len, &view, err, sizeof(err)) < 0)
		fuzz_fail("rewrite", "part %d: the output cannot be read in its charset: %s", idx, err);
	for (size_t v = 0; v < view.len; v++) {
		size_t ul = text_url_at(view.text, view.len, v);
		if (ul > 0 && footer_artefact_len(BEACON, view.text + v, ul) > 0)
			fuzz_fail("rewrite", "part %d: an earlier tracking URL left at %zu", idx, v);
		v += ul > 0 ? ul - 1 : 0;
	}
	charset_view_free(&view);
}

/* Undoes the edits of one body part: the decoded output, without the
 * pixel, the footer and the click URLs, is the decoded input. */
static void
undo_part(const struct expected *x, const struct rewrite_result *res,
	  const struct mime_message *in, const struct mime_message *out, int idx,
	  unsigned *pixels, unsigned *reparsed, unsigned *links_seen)
{
	const struct mime_part *pin = &in->parts[idx];
	struct mbuf din, dout, fh, ft, ftc, px;
	char err[160];

	mbuf_init(&din), mbuf_init(&dout);
	mbuf_init(&fh), mbuf_init(&ft), mbuf_init(&ftc), mbuf_init(&px);
	bool qp = out->parts[idx].cte == CTE_QP;
	decode_body(in, idx, false, false, &din);
	const char *eol = part_eol(&din, in->eol);
	if (qp) {
		/* Decoded again, comparable with the re-encoded output. */
		mbuf_reset(&din);
		decode_body(in, idx, false, pin->cte != CTE_BASE64, &din);
	}
	decode_body(out, idx, true, qp, &dout);
	check_lines(out, idx);
	bool html = is(pin, "text", "html");
	set_eol(x->footer_html.data ? x->footer_html.data : "", x->footer_html.len, eol, &fh);
	set_eol(x->footer_text.data ? x->footer_text.data : "", x->footer_text.len, eol, &ft);
	if (!html && charset_from_utf8(pin->charset, ft.data ? ft.data : "", ft.len, &ftc) < 0)
		fuzz_fail("rewrite", "part %d edited, but its footer has no form in %s", idx, pin->charset);
	mbuf_append(&px, x->pixel.data ? x->pixel.data : "", x->pixel.len);
	if (qp) {
		struct mbuf *all[] = { &fh, &ftc, &px };
		for (size_t k = 0; k < sizeof(all) / sizeof(*all); k++) {
			struct mbuf tmp;
			mbuf_init(&tmp);
			set_eol(all[k]->data ? all[k]->data : "", all[k]->len, NULL, &tmp);
			mbuf_free(all[k]);
			*all[k] = tmp;
		}
		eol = "\n";
	}
	const char *o = dout.data ? dout.data : "";
	size_t olen = dout.len;
	struct part_walk pw = {
		.res = res, .in = din.data ? din.data : "", .len = din.len, .html = html,
		.out = o, .out_len = olen, .links_seen = links_seen,
	};
	if (!html) {
		/* The footer ends the part, after a line break of its own
		 * when the text did not end with one. */
		size_t tail = ftc.len + (din.len > 0 && din.data[din.len - 1] != '\n' ? strlen(eol) : 0);
		if (olen < tail || memcmp(o + olen - ftc.len, ftc.data ? ftc.data : "", ftc.len) != 0 ||
		    (tail > ftc.len && memcmp(o + olen - tail, eol, tail - ftc.len) != 0))
			fuzz_fail("rewrite", "part %d: the text does not end with the footer", idx);
		olen -= tail;
		if (charset_view(pin->charset, pw.in, pw.len, &pw.view, err, sizeof(err)) < 0)
			fuzz_fail("rewrite", "part %d edited, but: %s", idx, err);
	}
	struct undo_walk w = {
		.in = pw.in, .in_len = pw.len, .out = o, .out_len = olen,
		.insert = { html ? px.data : NULL, html ? fh.data : NULL },
		.url_prefix = BEACON "/c/",
		.url_len = click_len,
		.orig_end = orig_end,
		.url_matches = click_matches,
		.neutralised = artefact_neutralised,
		.arg = &pw,
	};
	if (!undo_run(&w))
		fuzz_fail("rewrite", "part %d (%s/%s): undoing the edits does not give the input: %s",
			  idx, pin->type, pin->subtype, w.why);
	if (html && w.inserted[1] != 1)
		fuzz_fail("rewrite", "part %d: %u footers", idx, w.inserted[1]);
	if (html)
		check_reparse(x, pin->charset, dout.data ? dout.data : "", dout.len, idx, reparsed);
	else
		check_text_artefacts(pin->charset, o, olen, idx);
	*pixels += w.inserted[0];
	charset_view_free(&pw.view);
	mbuf_free(&din), mbuf_free(&dout);
	mbuf_free(&fh), mbuf_free(&ft), mbuf_free(&ftc), mbuf_free(&px);
}

static bool
field_is(const char *msg, size_t name, size_t nlen, const char *want)
{
	return nlen == strlen(want) && strncasecmp(msg + name, want, nlen) == 0;
}

static bool
value_is(const char *msg, size_t value, size_t vlen, const char *want)
{
	while (vlen > 0 && (msg[value] == ' ' || msg[value] == '\t'))
		value++, vlen--;
	return vlen == strlen(want) && memcmp(msg + value, want, vlen) == 0;
}

/* The header block of part idx: the same fields in the same order, but for
 * Content-Transfer-Encoding made quoted-printable and, after the last
 * field, fields the rewrite adds. The empty line after it is unchanged
 * (or added, when the input ended with its header). */
static void
check_headers(const struct rewrite_result *res, const struct mime_message *in,
	      const struct mime_message *out, int idx)
{
	const struct mime_part *pi = &in->parts[idx], *po = &out->parts[idx];
	size_t n1, l1, v1, vl1, n2, l2, v2, vl2, a = pi->start, b = po->start, na, nb;
	bool top = idx == 0, qp_added = false, xm = false, dnt = false;
	char words[80], want[160];

	while ((na = mime_next_header(in->msg, a, pi->hdr_end, &n1, &l1, &v1, &vl1)) != 0) {
		nb = mime_next_header(out->msg, b, po->hdr_end, &n2, &l2, &v2, &vl2);
		if (nb == 0)
			fuzz_fail("rewrite", "part %d: a header field went missing", idx);
		bool same = na - a == nb - b && memcmp(in->msg + a, out->msg + b, na - a) == 0;
		bool to_qp = field_is(in->msg, n1, l1, "content-transfer-encoding") &&
		    field_is(out->msg, n2, l2, "content-transfer-encoding") &&
		    (pi->cte == CTE_7BIT || pi->cte == CTE_8BIT) && po->cte == CTE_QP &&
		    value_is(out->msg, v2, vl2, "quoted-printable");
		if (!same && !to_qp)
			fuzz_fail("rewrite", "part %d: header field at %zu changed", idx, a);
		a = na;
		b = nb;
	}
	policy_words_str(res->words_applied, words, sizeof(words));
	snprintf(want, sizeof(want), "%s; %s", MSGID, words);
	while ((nb = mime_next_header(out->msg, b, po->hdr_end, &n2, &l2, &v2, &vl2)) != 0) {
		if (field_is(out->msg, n2, l2, "content-transfer-encoding") && !pi->has_cte &&
		    !qp_added && po->cte == CTE_QP && value_is(out->msg, v2, vl2, "quoted-printable"))
			qp_added = true;
		else if (top && !xm && field_is(out->msg, n2, l2, "x-mailbeacon") &&
			 value_is(out->msg, v2, vl2, want))
			xm = true;
		else if (top && !dnt && (res->words_applied & POLICY_RECEIPT) &&
			 field_is(out->msg, n2, l2, "disposition-notification-to") &&
			 value_is(out->msg, v2, vl2, "<" SENDER ">"))
			dnt = true;
		else
			fuzz_fail("rewrite", "part %d: an unexpected header field added", idx);
		b = nb;
	}
	if (top && (!xm || dnt != ((res->words_applied & POLICY_RECEIPT) != 0)))
		fuzz_fail("rewrite", "X-Mailbeacon or Disposition-Notification-To missing");
	size_t sep_in = pi->body_start - pi->hdr_end, sep_out = po->body_start - po->hdr_end;
	const char *so = out->msg + po->hdr_end;
	if (sep_in == 0 && pi->hdr_end == in->len && top ?
	    !((sep_out == 1 && so[0] == '\n') || (sep_out == 2 && memcmp(so, "\r\n", 2) == 0)) :
	    sep_in != sep_out || memcmp(in->msg + pi->hdr_end, so, sep_in) != 0)
		fuzz_fail("rewrite", "part %d: the empty line after the header changed", idx);
}

struct region {
	size_t in_start, in_end, out_start, out_end;
};

static int
region_cmp(const void *x, const void *y)
{
	const struct region *a = x, *b = y;

	return a->in_start < b->in_start ? -1 : a->in_start > b->in_start;
}

/* Every octet outside the edited regions is where it was: the output with
 * each region put back as it was in the input is the input. */
static void
check_outside(const struct mime_message *in, const struct mime_message *out,
	      const struct selection *sel)
{
	struct region r[1 + 2 * MAX_TARGETS];
	size_t n = 0;
	struct mbuf u;

	r[n++] = (struct region){ 0, in->parts[0].body_start, 0, out->parts[0].body_start };
	for (size_t k = 0; k < sel->n; k++) {
		const struct mime_part *pi = &in->parts[sel->idx[k]], *po = &out->parts[sel->idx[k]];
		if (sel->idx[k] != 0)
			r[n++] = (struct region){ pi->start, pi->hdr_end, po->start, po->hdr_end };
		r[n++] = (struct region){ pi->body_start, pi->body_end, po->body_start, po->body_end };
	}
	qsort(r, n, sizeof(*r), region_cmp);
	mbuf_init(&u);
	size_t at = 0;
	for (size_t k = 0; k < n; k++) {
		if (r[k].out_start < at)
			fuzz_fail("rewrite", "edited regions overlap");
		mbuf_append(&u, out->msg + at, r[k].out_start - at);
		mbuf_append(&u, in->msg + r[k].in_start, r[k].in_end - r[k].in_start);
		at = r[k].out_end;
	}
	mbuf_append(&u, out->msg + at, out->len - at);
	if (u.len != in->len || memcmp(u.data, in->msg, u.len) != 0)
		fuzz_fail("rewrite", "the output differs from the input outside the edited parts");
	mbuf_free(&u);
}

static void
check_edited(const struct expected *x, const struct rewrite_result *res,
	     const char *msg, size_t len, const struct mbuf *outbuf)
{
	struct mime_message in, out;
	struct selection sel_in = { .n = 0 }, sel_out = { .n = 0 };
	unsigned pixels = 0, reparsed = 0, links_seen = 0;

	if (mime_parse(msg, len, &in) < 0)
		fuzz_fail("rewrite", "edited a message mime_parse refuses: %s", in.reason);
	if (mime_parse(outbuf->data, outbuf->len, &out) < 0)
		fuzz_fail("rewrite", "the output does not re-parse: %s", out.reason);
	if (in.n != out.n)
		fuzz_fail("rewrite", "%zu parts became %zu", in.n, out.n);
	for (size_t k = 0; k < in.n; k++) {
		const struct mime_part *a = &in.parts[k], *b = &out.parts[k];
		if (strcmp(a->type, b->type) != 0 || strcmp(a->subtype, b->subtype) != 0 ||
		    strcmp(a->charset, b->charset) != 0 || a->parent != b->parent ||
		    a->first_child != b->first_child || a->next_sibling != b->next_sibling)
			fuzz_fail("rewrite", "part %zu: the MIME tree changed", k);
	}
	select_body(&in, 0, &sel_in);
	select_body(&out, 0, &sel_out);
	if (sel_in.n != sel_out.n || memcmp(sel_in.idx, sel_out.idx, sel_in.n * sizeof(int)) != 0)
		fuzz_fail("rewrite", "the body parts differ after the rewrite");
	for (size_t k = 1; k < in.n; k++) {
		const struct mime_part *a = &in.parts[k], *b = &out.parts[k];
		if (a->first_child < 0 && !selected(&sel_in, (int)k) &&
		    (a->body_end - a->start != b->body_end - b->start ||
		     memcmp(msg + a->start, outbuf->data + b->start, a->body_end - a->start) != 0))
			fuzz_fail("rewrite", "part %zu is not a body part but changed", k);
	}
	check_headers(res, &in, &out, 0);
	for (size_t k = 0; k < sel_in.n; k++) {
		if (sel_in.idx[k] != 0)
			check_headers(res, &in, &out, sel_in.idx[k]);
		undo_part(x, res, &in, &out, sel_in.idx[k], &pixels, &reparsed, &links_seen);
	}
	if (links_seen != res->n_links)
		fuzz_fail("rewrite", "%u click URLs in the output, %zu links recorded",
			  links_seen, res->n_links);
	if (pixels != ((res->words_applied & POLICY_OPENS) ? 1u : 0u) || reparsed != pixels)
		fuzz_fail("rewrite", "%u pixels inserted, %u seen again, words applied %#x", pixels,
			  reparsed, res->words_applied);
	check_outside(&in, &out, &sel_in);
	mime_free(&in);
	mime_free(&out);
}

static void
rewrite_once(const char *msg, size_t len, unsigned words, bool pixel_top)
{
	struct rewrite_params p = {
		.beacon_url = BEACON, .privacy_url = BEACON "/privacy",
		.max_message_size = 16u << 20, .pixel_top = pixel_top,
		.keys = &keys, .words = words, .sender = SENDER,
		.now = SENT, .msgid = MSGID,
	};
	struct rewrite_result res;
	struct expected x;
	struct mbuf out;

	if (rewrite_message(&p, msg, len, &res) < 0)
		fuzz_fail("rewrite", "rewrite_message failed without running out of memory: %s",
			  res.reason);
	mbuf_init(&out);
	if (rewrite_apply(msg, len, &res, &out) < 0)
		fuzz_fail("rewrite", "rewrite_apply failed");
	if (!res.edited) {
		if (res.reason[0] == '\0' || res.n_headers || res.n_links)
			fuzz_fail("rewrite", "untouched without a reason, or with edits");
		if (out.len != len || memcmp(out.data, msg, len) != 0)
			fuzz_fail("rewrite", "untouched (%s) but the output differs", res.reason);
	} else {
		expect_init(&x, words);
		check_edited(&x, &res, msg, len, &out);
		expect_free(&x);
	}
	mbuf_free(&out);
	rewrite_result_free(&res);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	static const unsigned variants[] = {
		POLICY_FOOTER,
		POLICY_OPENS | POLICY_FOOTER,
		POLICY_CLICKS | POLICY_FOOTER,
		POLICY_TEXT_CLICKS | POLICY_FOOTER,
		POLICY_CLICKS | POLICY_TEXT_CLICKS | POLICY_RECEIPT | POLICY_FOOTER,
	};

	if (!ready) {
		setup();
		ready = true;
	}
	/* Every word on, then a subset and pixel position chosen by the
	 * length, so that no octet of the message is spent on options. */
	const char *msg = (const char *)data;
	rewrite_once(msg, size, POLICY_OPENS | POLICY_CLICKS | POLICY_TEXT_CLICKS |
		     POLICY_RECEIPT | POLICY_FOOTER, false);
	rewrite_once(msg, size, variants[size % 5], size % 2 == 1);
	return 0;
}
