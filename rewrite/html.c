/* html: byte-preserving HTML editing. libxml2's HTML SAX parser finds the
 * elements; each start tag it reports is located in the input (the parser
 * gives the offset of its closing '>') by a small lexer, and the edits (the
 * pixel, new href values, the footer) are spliced into the original bytes.
 * Nothing outside an edit is re-serialised. */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <libxml/HTMLparser.h>
#include <libxml/parserInternals.h>
#include <libxml/uri.h>
#include "charset.h"
#include "html.h"
#include "html_parser.h"
#include "links.h"

#define TAG_MAX_ATTRS 64
#define LINK_TEXT_MAX 1024
/* Candidate '<' positions tried per reported tag: a hostile tag full of
 * "<a <a <a" inside an attribute cannot make locating quadratic. */
#define LOCATE_MAX_TRIES 32

struct attr {
	size_t name, name_len;
	size_t val, val_len;	/* the raw value, inside any quotes */
	bool has_val;
};

struct edit {
	size_t start, end;	/* view offsets replaced by text */
	char *text;
	size_t len;
	size_t seq;		/* insertions at one offset keep this order */
};

struct range {
	size_t start, end;
};

struct html_state {
	htmlParserCtxtPtr ctxt;
	const struct html_opts *opts;
	const char *text;
	size_t len;
	size_t last;		/* no tag we still have to find starts before this */
	bool failed;
	char err[160];

	bool have_body_open, have_body_close, have_html_close;
	size_t body_open_end, body_close, html_close;
	int raw_depth;		/* inside textarea/xmp: links there are text */
	char *base_url;

	struct range *protect;	/* downlevel-revealed MSO conditionals */
	size_t n_protect;

	bool pending;		/* an <a> whose text we are still reading */
	size_t href_val, href_len;
	struct mbuf href_url;
	struct mbuf link_text;
	bool link_off;

	struct edit *edits;
	size_t n_edits, cap_edits;
	struct html_outcome *outcome;
};

static void
state_fail(struct html_state *st, const char *why)
{
	if (!st->failed)
		snprintf(st->err, sizeof(st->err), "html: %s", why);
	st->failed = true;
	xmlStopParser(st->ctxt);
}

static int
add_edit(struct html_state *st, size_t start, size_t end, const char *text, size_t len)
{
	if (st->n_edits == st->cap_edits) {
		size_t cap = st->cap_edits ? st->cap_edits * 2 : 32;
		struct edit *e = realloc(st->edits, cap * sizeof(*e));
		if (e == NULL)
			return -1;
		st->edits = e;
		st->cap_edits = cap;
	}
	char *copy = malloc(len + 1);
	if (copy == NULL)
		return -1;
	memcpy(copy, text, len);
	copy[len] = '\0';
	st->edits[st->n_edits] = (struct edit){ start, end, copy, len, st->n_edits };
	st->n_edits++;
	return 0;
}

static size_t
sax_pos(struct html_state *st)
{
	long pos = xmlByteConsumed(st->ctxt);

	if (pos < 0 || (size_t)pos > st->len) {
		state_fail(st, "parser position out of range");
		return st->len;
	}
	return (size_t)pos;
}

static bool
is_space(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

/* Lexes the start tag at t[s] == '<' as HTML5 tokenises attributes. Returns
 * the offset of its closing '>' (or of the '/' of "/>"), or (size_t)-1. */
static size_t
lex_start_tag(const char *t, size_t len, size_t s, const char *name,
	      struct attr *attrs, size_t *nattrs)
{
	size_t p = s + 1, nl = strlen(name);

	*nattrs = 0;
	if (p + nl > len || strncasecmp(t + p, name, nl) != 0)
		return (size_t)-1;
	p += nl;
	if (p >= len || !(is_space(t[p]) || t[p] == '/' || t[p] == '>'))
		return (size_t)-1;
	while (p < len) {
		while (p < len && is_space(t[p]))
			p++;
		if (p >= len)
			break;
		if (t[p] == '>')
			return p;
		if (t[p] == '/') {
			if (p + 1 < len && t[p + 1] == '>')
				return p;
			p++;
			continue;
		}
		struct attr a = { .name = p };
		p++;
		while (p < len && !is_space(t[p]) && t[p] != '/' && t[p] != '>' && t[p] != '=')
			p++;
		a.name_len = p - a.name;
		size_t q = p;
		while (q < len && is_space(t[q]))
			q++;
		if (q < len && t[q] == '=') {
			q++;
			while (q < len && is_space(t[q]))
				q++;
			if (q >= len)
				return (size_t)-1;
			a.has_val = true;
			if (t[q] == '"' || t[q] == '\'') {
				const char *close = memchr(t + q + 1, t[q], len - q - 1);
				if (close == NULL)
					return (size_t)-1;
				a.val = q + 1;
				a.val_len = (size_t)(close - t) - a.val;
				p = (size_t)(close - t) + 1;
			} else {
				a.val = q;
				while (q < len && !is_space(t[q]) && t[q] != '>')
					q++;
				a.val_len = q - a.val;
				p = q;
			}
		}
		if (*nattrs < TAG_MAX_ATTRS)
			attrs[(*nattrs)++] = a;
	}
	return (size_t)-1;
}

/* Finds where the start tag that the parser reports ending at pos begins. */
static size_t
locate_start_tag(struct html_state *st, const char *name, size_t pos,
		 struct attr *attrs, size_t *nattrs)
{
	size_t p = st->last;

	for (int tries = 0; p < pos && tries < LOCATE_MAX_TRIES; tries++) {
		const char *lt = memchr(st->text + p, '<', pos - p);
		if (lt == NULL)
			break;
		size_t s = (size_t)(lt - st->text);
		if (lex_start_tag(st->text, st->len, s, name, attrs, nattrs) == pos)
			return s;
		p = s + 1;
	}
	return (size_t)-1;
}

static const struct attr *
find_attr(const char *t, const struct attr *attrs, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (attrs[i].name_len == strlen(name) &&
		    strncasecmp(t + attrs[i].name, name, attrs[i].name_len) == 0)
			return &attrs[i];
	return NULL;
}

static bool
protected_at(const struct html_state *st, size_t pos)
{
	for (size_t i = 0; i < st->n_protect; i++)
		if (pos >= st->protect[i].start && pos < st->protect[i].end)
			return true;
	return false;
}

/* Outlook's downlevel-revealed conditionals "<![if ...]> ... <![endif]>"
 * are not comments to the parser, but their content is Outlook's. */
static int
find_protected(struct html_state *st)
{
	const char *t = st->text;
	size_t p = 0;

	while (p + 5 < st->len) {
		/* '[' is rare in HTML: looking for it is several times faster
		 * than memmem() on "<![", and this scans every part once. */
		const char *hit = NULL;
		for (size_t q = p + 2; q < st->len && hit == NULL; q++) {
			const char *br = memchr(t + q, '[', st->len - q);
			if (br == NULL)
				break;
			q = (size_t)(br - t);
			if (br[-1] == '!' && br[-2] == '<')
				hit = br - 2;
		}
		if (hit == NULL)
			break;
		size_t s = (size_t)(hit - t);
		p = s + 3;
		if (s + 5 > st->len || strncasecmp(t + s + 3, "if", 2) != 0)
			continue;
		size_t e = st->len;
		for (size_t q = p; q + 10 <= st->len; q++)
			if (t[q] == '<' && strncasecmp(t + q, "<![endif]>", 10) == 0) {
				e = q + 10;
				break;
			}
		struct range *r = realloc(st->protect, (st->n_protect + 1) * sizeof(*r));
		if (r == NULL)
			return -1;
		st->protect = r;
		st->protect[st->n_protect++] = (struct range){ s, e };
		p = e;
	}
	return 0;
}

/* Reads an href the way a browser does and makes it absolute. Returns
 * false for links that are never rewritten by their form. */
static bool
link_target(struct html_state *st, const struct attr *href, struct mbuf *url)
{
	if (html_attr_decode(st->text + href->val, href->val_len, url) < 0)
		return false;
	url_browser_clean(url);
	if (url->len == 0 || memchr(url->data, '\0', url->len))
		return false;
	if (url_has_scheme(url->data, url->len))
		return url_is_http(url->data, url->len);
	if (url->data[0] == '#' || st->base_url == NULL)
		return false;
	xmlChar *abs = xmlBuildURI((const xmlChar *)url->data, (const xmlChar *)st->base_url);
	if (abs == NULL)
		return false;
	mbuf_reset(url);
	mbuf_puts(url, (const char *)abs);
	xmlFree(abs);
	return !url->failed && url_is_http(url->data, url->len);
}

static void
finish_link(struct html_state *st)
{
	if (!st->pending)
		return;
	st->pending = false;
	if (st->link_off ||
	    (st->link_text.len > 0 &&
	     (link_text_is_url(st->link_text.data, st->link_text.len) ||
	      says_unsubscribe(st->link_text.data, st->link_text.len))))
		return;
	struct mbuf signed_url;
	mbuf_init(&signed_url);
	int rc = st->opts->sign(st->opts->sign_arg, st->href_url.data, st->href_url.len, &signed_url);
	if (rc < 0) {
		state_fail(st, "could not sign a link");
	} else if (rc > 0) {
		struct mbuf esc;
		mbuf_init(&esc);
		if (html_escape(signed_url.data, signed_url.len, &esc) < 0 ||
		    add_edit(st, st->href_val, st->href_val + st->href_len, esc.data, esc.len) < 0)
			state_fail(st, "out of memory");
		else
			st->outcome->links_rewritten++;
		mbuf_free(&esc);
	}
	mbuf_free(&signed_url);
}

static void
start_link(struct html_state *st, const char *name, const struct attr *attrs, size_t n,
	   size_t tag_start)
{
	const struct attr *href = find_attr(st->text, attrs, n, "href");
	const struct attr *off = find_attr(st->text, attrs, n, "data-mailbeacon");

	if (!st->opts->clicks || href == NULL || !href->has_val || st->raw_depth > 0 ||
	    protected_at(st, tag_start))
		return;
	mbuf_reset(&st->href_url);
	mbuf_reset(&st->link_text);
	if (!link_target(st, href, &st->href_url))
		return;
	st->link_off = false;
	if (off != NULL && off->has_val) {
		struct mbuf v;
		mbuf_init(&v);
		html_attr_decode(st->text + off->val, off->val_len, &v);
		st->link_off = v.data != NULL && strcasecmp(v.data, "off") == 0;
		mbuf_free(&v);
	}
	st->href_val = href->val;
	st->href_len = href->val_len;
	st->pending = true;
	if (strcmp(name, "area") == 0)
		finish_link(st);	/* a void element: it has no text */
}

static void
sax_start(void *ctx, const xmlChar *xname, const xmlChar **atts)
{
	struct html_state *st = ctx;
	const char *name = (const char *)xname;
	struct attr attrs[TAG_MAX_ATTRS];
	size_t nattrs, pos = sax_pos(st);

	(void)atts;
	if (st->failed)
		return;
	size_t s = locate_start_tag(st, name, pos, attrs, &nattrs);
	/* Start events come at the tag's own '>' (implied tags at the start
	 * of the text that implies them), so the next tag begins after pos
	 * whether or not we could read this one. */
	st->last = pos;
	if (s == (size_t)-1)
		return;		/* an implied or repaired tag: nothing to edit */
	if (strcmp(name, "a") == 0 || strcmp(name, "area") == 0) {
		finish_link(st);
		start_link(st, name, attrs, nattrs, s);
	} else if (strcmp(name, "body") == 0 && !st->have_body_open) {
		st->have_body_open = true;
		st->body_open_end = pos + (st->text[pos] == '/' ? 2 : 1);
	} else if (strcmp(name, "base") == 0 && st->base_url == NULL) {
		const struct attr *href = find_attr(st->text, attrs, nattrs, "href");
		struct mbuf url;
		mbuf_init(&url);
		if (href && href->has_val &&
		    html_attr_decode(st->text + href->val, href->val_len, &url) == 0) {
			url_browser_clean(&url);
			if (url_is_http(url.data, url.len))
				st->base_url = mbuf_steal(&url, NULL);
		}
		mbuf_free(&url);
	} else if (strcmp(name, "textarea") == 0 || strcmp(name, "xmp") == 0 ||
		   strcmp(name, "title") == 0) {
		st->raw_depth++;
	}
}

/* The offset of the last "</name" in [from, to), or (size_t)-1. */
static size_t
find_end_tag(const struct html_state *st, const char *name, size_t from, size_t to)
{
	size_t nl = strlen(name);

	for (size_t p = to; p-- > from;)
		if (st->text[p] == '<' && p + 2 + nl <= to && st->text[p + 1] == '/' &&
		    strncasecmp(st->text + p + 2, name, nl) == 0)
			return p;
	return (size_t)-1;
}

static void
sax_end(void *ctx, const xmlChar *xname)
{
	struct html_state *st = ctx;
	const char *name = (const char *)xname;
	size_t pos = sax_pos(st);

	if (st->failed)
		return;
	/* Elements closed implicitly are reported while the next tag is
	 * being read: only a real end tag moves our lower bound. */
	size_t tag = find_end_tag(st, name, st->last, pos);
	if (strcmp(name, "a") == 0) {
		finish_link(st);
	} else if (strcmp(name, "body") == 0 && tag != (size_t)-1) {
		st->have_body_close = true;
		st->body_close = tag;
	} else if (strcmp(name, "html") == 0 && tag != (size_t)-1) {
		st->have_html_close = true;
		st->html_close = tag;
	} else if ((strcmp(name, "textarea") == 0 || strcmp(name, "xmp") == 0 ||
		    strcmp(name, "title") == 0) && st->raw_depth > 0) {
		st->raw_depth--;
	}
	if (tag != (size_t)-1)
		st->last = pos;
}

static void
sax_text(void *ctx, const xmlChar *ch, int len)
{
	struct html_state *st = ctx;

	if (st->failed)
		return;
	if (st->pending && st->link_text.len < LINK_TEXT_MAX)
		mbuf_append(&st->link_text, ch, (size_t)len);
	st->last = sax_pos(st);
}

static void
sax_comment(void *ctx, const xmlChar *value)
{
	struct html_state *st = ctx;

	(void)value;
	if (!st->failed)
		st->last = sax_pos(st);
}

static void
sax_pi(void *ctx, const xmlChar *target, const xmlChar *data)
{
	(void)target;
	sax_comment(ctx, data);
}

static void
sax_silent(void *ctx, const char *msg, ...)
{
	(void)ctx;
	(void)msg;
}

static int
edit_cmp(const void *a, const void *b)
{
	const struct edit *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->seq < y->seq ? -1 : (x->seq > y->seq);
}

htmlParserCtxtPtr
html_parser_new(const char *text, size_t len, const htmlSAXHandler *sax, void *user)
{
	if (len > INT_MAX)
		return NULL;
	/* The memory parser reads text (UTF-8) in place of a copy of ours. */
	htmlParserCtxtPtr ctxt = htmlCreateMemoryParserCtxt(text, (int)len);
	if (ctxt == NULL)
		return NULL;
	htmlSAXHandler *own = xmlMalloc(sizeof(*own));
	if (own == NULL) {
		htmlFreeParserCtxt(ctxt);
		return NULL;
	}
	memcpy(own, sax, sizeof(*own));
	xmlFree(ctxt->sax);
	ctxt->sax = own;
	ctxt->userData = user;
	xmlSwitchEncoding(ctxt, XML_CHAR_ENCODING_UTF8);
	htmlCtxtUseOptions(ctxt, HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |
			   HTML_PARSE_NONET | HTML_PARSE_NOIMPLIED | HTML_PARSE_IGNORE_ENC);
	return ctxt;
}

static void
run_parser(struct html_state *st)
{
	htmlSAXHandler sax;

	memset(&sax, 0, sizeof(sax));
	sax.startElement = sax_start;
	sax.endElement = sax_end;
	sax.characters = sax_text;
	sax.ignorableWhitespace = sax_text;
	sax.cdataBlock = sax_text;
	sax.comment = sax_comment;
	sax.processingInstruction = sax_pi;
	sax.warning = sax_silent;
	sax.error = sax_silent;
	st->ctxt = html_parser_new(st->text, st->len, &sax, st);
	if (st->ctxt == NULL) {
		state_fail(st, "cannot create the parser");
		return;
	}
	htmlParseDocument(st->ctxt);
	finish_link(st);
	htmlFreeParserCtxt(st->ctxt);
	st->ctxt = NULL;
}

const char *
html_sniff_charset(const char *in, size_t len, char *out, size_t outlen)
{
	size_t n = len < 4096 ? len : 4096;

	for (size_t i = 0; i + 8 < n; i++) {
		if (strncasecmp(in + i, "charset", 7) != 0)
			continue;
		size_t p = i + 7;
		while (p < n && is_space(in[p]))
			p++;
		if (p >= n || in[p] != '=')
			continue;
		p++;
		while (p < n && (is_space(in[p]) || in[p] == '"' || in[p] == '\''))
			p++;
		size_t o = 0;
		while (p < n && o + 1 < outlen &&
		       (isalnum((unsigned char)in[p]) || strchr("-_.:", in[p])))
			out[o++] = in[p++];
		out[o] = '\0';
		if (o > 0)
			return out;
	}
	return NULL;
}

int
html_edit(const char *in, size_t len, const char *charset, const struct html_opts *o,
	  struct mbuf *out, struct html_outcome *oc, char *err, size_t errlen)
{
	struct html_state st;
	struct utf8_view view;
	char sniffed[48];
	int rc = -1;

	memset(&st, 0, sizeof(st));
	memset(oc, 0, sizeof(*oc));
	if (memchr(in, '\0', len) != NULL) {
		snprintf(err, errlen, "html: part contains NUL octets");
		return -1;
	}
	if ((charset == NULL || *charset == '\0') &&
	    html_sniff_charset(in, len, sniffed, sizeof(sniffed)))
		charset = sniffed;
	if (charset_view(charset, in, len, &view, err, errlen) < 0)
		return -1;
	if (view.len > INT32_MAX) {
		snprintf(err, errlen, "html: part too large");
		charset_view_free(&view);
		return -1;
	}
	st.opts = o;
	st.outcome = oc;
	st.text = view.text;
	st.len = view.len;
	mbuf_init(&st.href_url);
	mbuf_init(&st.link_text);
	if (find_protected(&st) < 0) {
		state_fail(&st, "out of memory");
		goto done;
	}
	if (st.len > 0)
		run_parser(&st);
	if (st.failed)
		goto done;

	size_t bottom = st.have_body_close ? st.body_close :
	    st.have_html_close ? st.html_close : st.len;
	if (o->footer_html != NULL &&
	    add_edit(&st, bottom, bottom, o->footer_html, strlen(o->footer_html)) < 0)
		goto oom;
	if (o->pixel_html != NULL) {
		size_t at = (o->pixel_top && st.have_body_open) ? st.body_open_end : bottom;
		if (add_edit(&st, at, at, o->pixel_html, strlen(o->pixel_html)) < 0)
			goto oom;
		oc->pixel_added = true;
	}
	qsort(st.edits, st.n_edits, sizeof(*st.edits), edit_cmp);

	size_t done_to = 0;
	for (size_t i = 0; i < st.n_edits; i++) {
		size_t s = charset_view_orig(&view, st.edits[i].start);
		size_t e = charset_view_orig(&view, st.edits[i].end);
		if (s < done_to || e < s) {
			state_fail(&st, "overlapping edits");
			goto done;
		}
		mbuf_append(out, in + done_to, s - done_to);
		mbuf_append(out, st.edits[i].text, st.edits[i].len);
		done_to = e;
	}
	mbuf_append(out, in + done_to, len - done_to);
	if (out->failed)
		goto oom;
	rc = 0;
	goto done;
oom:
	state_fail(&st, "out of memory");
done:
	if (st.failed)
		snprintf(err, errlen, "%s", st.err);
	for (size_t i = 0; i < st.n_edits; i++)
		free(st.edits[i].text);
	free(st.edits);
	free(st.protect);
	free(st.base_url);
	mbuf_free(&st.href_url);
	mbuf_free(&st.link_text);
	charset_view_free(&view);
	return rc;
}
