/* html: byte-preserving HTML editing. libxml2's HTML SAX parser (set up by
 * html_parser.c) finds the elements; each start tag it reports is located
 * in the input (the parser gives the offset of its closing '>') by a small
 * lexer, and the edits (the pixel, new href values, the footer) are
 * spliced into the original bytes. Nothing outside an edit is
 * re-serialised. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <libxml/HTMLparser.h>
#include <libxml/uri.h>
#include "charset.h"
#include "footer.h"
#include "html.h"
#include "html_parser.h"
#include "links.h"
#include "textenc.h"

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

/* Whether an open element is hidden, as libxml2 or the footer walk reads
 * it; VIS_UNKNOWN until someone asks (most elements close before). */
enum { VIS_SHOWN, VIS_HIDDEN, VIS_UNKNOWN };

/* An element libxml2 has open, or closed in the current run of closes. */
struct lx_elem {
	unsigned char hidden;	/* VIS_* */
	char *style;		/* VIS_UNKNOWN: its style attribute, read when asked; owned */
};

/* A start tag sax_start read: from its '<' to its closing '>' (or the '/'
 * of "/>"). */
struct tag_span {
	size_t start, gt;
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

	/* libxml2's own reading of the open elements, for the footer: it must
	 * not be inside an element that libxml2 (or a browser) hides. */
	struct lx_elem *lx_open;	/* per open element */
	size_t lx_depth, lx_cap, lx_hidden_open, lx_unknown_open;
	unsigned lx_run_hidden;	/* hidden elements closed since the last other event */
	struct lx_elem *lx_run;	/* ... and those closed not known yet */
	size_t lx_run_n, lx_run_cap;
	size_t lx_run_from;	/* ... counted from this position on */
	bool lx_body_hidden, lx_html_hidden, lx_out_of_memory;
	size_t lx_last;		/* where libxml2 reported the last start tag, text or comment */
	size_t lx_last_at_body, lx_last_at_html;	/* lx_last when </body>, </html> came */

	struct edit *edits;
	size_t n_edits, cap_edits;
	struct html_outcome *outcome;

	/* The start tags sax_start read, in order: the footer check's walk
	 * takes their ends from here instead of lexing them again. */
	struct tag_span *spans;
	size_t n_spans, cap_spans;
};

static unsigned element_kind(const char *name, size_t nl);
static unsigned char libxml_atts_hide(unsigned kind, const xmlChar **atts, char **style);
static bool style_hides(const char *css, size_t len);

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

/* Remembers where a start tag was read (without memory the walk lexes it
 * again: nothing is lost). */
static void
record_span(struct html_state *st, size_t start, size_t gt)
{
	if (st->n_spans == st->cap_spans) {
		size_t cap = st->cap_spans ? st->cap_spans * 2 : 256;
		struct tag_span *n = realloc(st->spans, cap * sizeof(*n));
		if (n == NULL)
			return;
		st->spans = n;
		st->cap_spans = cap;
	}
	st->spans[st->n_spans++] = (struct tag_span){ start, gt };
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

/* Lexes a tag's attributes from t[p] (just after its name) as HTML5 does.
 * Returns the offset of the tag's closing '>' (or of the '/' of "/>"), or
 * (size_t)-1 when the text ends inside the tag. */
static size_t
lex_attrs(const char *t, size_t len, size_t p, struct attr *attrs, size_t *nattrs)
{
	*nattrs = 0;
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
	return lex_attrs(t, len, p, attrs, nattrs);
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
		if (text_html_escape(TEXT_TO_MBUF(&esc), signed_url.data, signed_url.len) < 0 ||
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

/* Whether an attribute value surely does not read, once decoded and
 * cleaned as url_browser_clean() cleans it, as a URL that starts with
 * beacon_url (without its trailing '/'), the first thing
 * footer_artefact_len() asks. Every link and image is asked: most are
 * answered here without a copy; false means "look closer". Up to its first
 * '&' the value decodes to itself. */
static bool
surely_not_under(const char *beacon_url, const char *raw, size_t len)
{
	size_t bl = strlen(beacon_url), i = 0;

	while (bl > 0 && beacon_url[bl - 1] == '/')
		bl--;
	while (i < len && (unsigned char)raw[i] <= ' ')
		i++;
	for (size_t b = 0; b < bl; i++) {
		if (i >= len)
			return true;	/* shorter than beacon_url */
		if (raw[i] == '&')
			return false;
		if (raw[i] == '\t' || raw[i] == '\n' || raw[i] == '\r')
			continue;
		if (tolower((unsigned char)raw[i]) != tolower((unsigned char)beacon_url[b]))
			return true;
		b++;
	}
	return false;
}

static bool
value_is_artefact(const struct html_state *st, const char *raw, size_t len)
{
	struct mbuf url;
	bool yes = false;

	if (surely_not_under(st->opts->beacon_url, raw, len))
		return false;
	mbuf_init(&url);
	if (html_attr_decode(raw, len, &url) == 0) {
		url_browser_clean(&url);
		yes = url.data != NULL &&
		    footer_artefact_len(st->opts->beacon_url, url.data, url.len) > 0;
	}
	mbuf_free(&url);
	return yes;
}

/* The attribute that carries our URL in an earlier pixel (img src) or
 * opt-out/consent link (a, area href), or NULL for other elements. */
static const char *
artefact_attr(const char *name)
{
	if (strcmp(name, "img") == 0)
		return "src";
	if (strcmp(name, "a") == 0 || strcmp(name, "area") == 0)
		return "href";
	return NULL;
}

/* Whether libxml2's own reading of a tag names one of our earlier
 * artefacts. */
static bool
atts_have_artefact(const struct html_state *st, const char *name, const xmlChar **atts)
{
	const char *which = artefact_attr(name);

	if (which == NULL || st->opts->beacon_url == NULL || atts == NULL)
		return false;
	for (size_t i = 0; atts[i] != NULL; i += 2)
		if (strcasecmp((const char *)atts[i], which) == 0 && atts[i + 1] != NULL)
			return value_is_artefact(st, (const char *)atts[i + 1],
						 strlen((const char *)atts[i + 1]));
	return false;
}

/* An earlier pixel or opt-out link of ours, quoted or forwarded: its URL is
 * blanked (an unquoted one becomes ""), so that the message carries one
 * pixel and one opt-out link, its own. Returns true when the tag had one. */
static bool
neutralise_artefact(struct html_state *st, const char *name, const struct attr *attrs,
		    size_t n, const xmlChar **atts)
{
	const char *which = artefact_attr(name);

	if (which == NULL || st->opts->beacon_url == NULL)
		return false;
	const struct attr *a = find_attr(st->text, attrs, n, which);
	/* Where libxml2 decodes the value differently from HTML5, either
	 * reading of it as ours is enough. */
	if (a == NULL || !a->has_val ||
	    !(value_is_artefact(st, st->text + a->val, a->val_len) ||
	      atts_have_artefact(st, name, atts)))
		return false;
	bool quoted = st->text[a->val - 1] == '"' || st->text[a->val - 1] == '\'';
	if (add_edit(st, a->val, a->val + a->val_len, "\"\"", quoted ? 0 : 2) < 0)
		state_fail(st, "out of memory");
	else
		st->outcome->artefacts_neutralised++;
	return true;
}

/* Reads the style an element was left with (VIS_UNKNOWN) now that it is
 * asked for. */
static bool
lx_resolve(struct lx_elem *e)
{
	if (e->hidden == VIS_UNKNOWN) {
		e->hidden = style_hides(e->style, strlen(e->style)) ? VIS_HIDDEN : VIS_SHOWN;
		free(e->style);
		e->style = NULL;
	}
	return e->hidden == VIS_HIDDEN;
}

/* Another event than an end tag: a run of implied closes is over. */
static void
lx_other_event(struct html_state *st)
{
	st->lx_run_hidden = 0;
	st->lx_run_from = (size_t)-1;
	for (size_t i = 0; i < st->lx_run_n; i++)
		free(st->lx_run[i].style);
	st->lx_run_n = 0;
}

static void
lx_push(struct html_state *st, const char *name, const xmlChar **atts)
{
	unsigned kind = element_kind(name, strlen(name));
	char *style;
	unsigned char hidden = libxml_atts_hide(kind, atts, &style);

	lx_other_event(st);
	if (st->lx_depth == st->lx_cap) {
		size_t cap = st->lx_cap ? st->lx_cap * 2 : 64;
		struct lx_elem *h = realloc(st->lx_open, cap * sizeof(*h));
		if (h == NULL) {
			free(style);
			st->lx_out_of_memory = true;
			return;
		}
		st->lx_open = h;
		st->lx_cap = cap;
	}
	st->lx_open[st->lx_depth++] = (struct lx_elem){ hidden, style };
	st->lx_hidden_open += hidden == VIS_HIDDEN;
	st->lx_unknown_open += hidden == VIS_UNKNOWN;
}

/* libxml2 reports closes at the parser's position, which for elements that
 * an end tag closes implicitly is past where that end tag starts. */
static void
lx_pop(struct html_state *st, size_t pos)
{
	if (st->lx_depth == 0)
		return;
	struct lx_elem e = st->lx_open[--st->lx_depth];
	st->lx_hidden_open -= e.hidden == VIS_HIDDEN;
	st->lx_unknown_open -= e.hidden == VIS_UNKNOWN;
	if (st->lx_run_from == (size_t)-1)
		st->lx_run_from = pos;
	if (e.hidden == VIS_UNKNOWN && st->lx_run_n == st->lx_run_cap) {
		size_t cap = st->lx_run_cap ? st->lx_run_cap * 2 : 16;
		struct lx_elem *r = realloc(st->lx_run, cap * sizeof(*r));
		if (r != NULL) {
			st->lx_run = r;
			st->lx_run_cap = cap;
		}
	}
	if (e.hidden == VIS_UNKNOWN && st->lx_run_n < st->lx_run_cap)
		st->lx_run[st->lx_run_n++] = e;
	else
		st->lx_run_hidden += lx_resolve(&e);
}

/* Whether an element libxml2 has open is hidden. */
static bool
lx_any_open_hidden(struct html_state *st)
{
	for (size_t i = 0; st->lx_hidden_open == 0 && st->lx_unknown_open > 0 && i < st->lx_depth; i++)
		if (st->lx_open[i].hidden == VIS_UNKNOWN) {
			st->lx_unknown_open--;
			st->lx_hidden_open += lx_resolve(&st->lx_open[i]);
		}
	return st->lx_hidden_open > 0;
}

/* Whether an element of the current run of closes was hidden. */
static bool
lx_any_run_hidden(struct html_state *st)
{
	for (size_t i = 0; i < st->lx_run_n; i++)
		st->lx_run_hidden += lx_resolve(&st->lx_run[i]);
	st->lx_run_n = 0;
	return st->lx_run_hidden > 0;
}

/* Whether libxml2 had a hidden element open just before the end tag at
 * tag that it is now reporting: those still open, and those this very
 * end tag closed (reported at positions past tag). */
static bool
lx_hidden_before(struct html_state *st, size_t tag)
{
	return st->lx_out_of_memory || lx_any_open_hidden(st) ||
	    (st->lx_run_from > tag && lx_any_run_hidden(st));
}

static void
sax_start(void *ctx, const xmlChar *xname, const xmlChar **atts)
{
	struct html_state *st = ctx;
	const char *name = (const char *)xname;
	struct attr attrs[TAG_MAX_ATTRS];
	size_t nattrs, pos = sax_pos(st);

	if (st->failed)
		return;
	lx_push(st, name, atts);
	size_t s = locate_start_tag(st, name, pos, attrs, &nattrs);
	/* Start events come at the tag's own '>' (implied tags at the start
	 * of the text that implies them), so the next tag begins after pos
	 * whether or not we could read this one. */
	st->last = st->lx_last = pos;
	if (s == (size_t)-1) {
		/* An implied or repaired tag: nothing to edit, unless it
		 * carries an old pixel or opt-out link we cannot blank. */
		if (atts_have_artefact(st, name, atts))
			state_fail(st, "an earlier pixel or opt-out link in a tag that cannot be edited in place");
		return;
	}
	record_span(st, s, pos);
	if (strcmp(name, "a") == 0 || strcmp(name, "area") == 0) {
		finish_link(st);
		if (!neutralise_artefact(st, name, attrs, nattrs, atts))
			start_link(st, name, attrs, nattrs, s);
	} else if (strcmp(name, "img") == 0) {
		neutralise_artefact(st, name, attrs, nattrs, atts);
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
	lx_pop(st, pos);
	/* Elements closed implicitly are reported while the next tag is
	 * being read: only a real end tag moves our lower bound. */
	size_t tag = find_end_tag(st, name, st->last, pos);
	if (strcmp(name, "a") == 0) {
		finish_link(st);
	} else if (strcmp(name, "body") == 0 && tag != (size_t)-1) {
		st->have_body_close = true;
		st->body_close = tag;
		st->lx_body_hidden = lx_hidden_before(st, tag);
		st->lx_last_at_body = st->lx_last;
	} else if (strcmp(name, "html") == 0 && tag != (size_t)-1) {
		st->have_html_close = true;
		st->html_close = tag;
		st->lx_html_hidden = lx_hidden_before(st, tag);
		st->lx_last_at_html = st->lx_last;
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
	lx_other_event(st);
	if (st->pending && st->link_text.len < LINK_TEXT_MAX)
		mbuf_append(&st->link_text, ch, (size_t)len);
	st->last = st->lx_last = sax_pos(st);
}

static void
sax_comment(void *ctx, const xmlChar *value)
{
	struct html_state *st = ctx;

	(void)value;
	lx_other_event(st);
	if (!st->failed)
		st->last = st->lx_last = sax_pos(st);
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

/* Between the last start tag, text or comment that libxml2 reported before
 * the footer's place (from) and that place (to), only end tags may stand:
 * any other markup there libxml2 has swallowed, as in "</<!--x>", where it
 * reads an unclosed comment a browser does not see (and may then report an
 * implied </html> at the end as if it were a literal one in the text). */
static bool
libxml_read_up_to(const struct html_state *st, size_t from, size_t to)
{
	for (size_t p = from; p < to; p++)
		if (st->text[p] == '<' && (p + 1 >= to || st->text[p + 1] != '/'))
			return false;
	return true;
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

/* Where the footer may go. Before inserting it, the text up to that offset
 * is walked once more, the way an HTML5 browser tokenises it, with a simple
 * stack of open elements: the footer must land in text, outside any
 * comment, raw-text element, tag or attribute, and under no element that is
 * hidden. libxml2 2.9 tokenises a little differently from browsers, so this
 * walk is deliberately pessimistic: what it cannot be sure of counts as
 * hidden, and the message is then left untouched (skipping is always safe;
 * a hidden footer is not). */

#define VIS_STACK_MAX 4096
/* Steps of the open-element search allowed per octet of text: past that a
 * hostile nesting would make the walk quadratic, and the message is left
 * untouched. */
#define VIS_STEPS_PER_OCTET 8

enum {
	EL_VOID = 1 << 0,
	EL_FORMATTING = 1 << 1,	/* reopened by the browser when closed out of order */
	EL_SCOPE = 1 << 2,	/* an end tag for another element does not look past it */
	EL_SPECIAL = 1 << 3,	/* nor, for a non-special element, past this */
	EL_CLOSES_P = 1 << 4,	/* its start tag closes an open <p> first */
	EL_HIDES = 1 << 5,	/* a mail reader does not show its content as text */
	EL_RAWTEXT = 1 << 6,	/* text up to its end tag (RAWTEXT or RCDATA) */
	EL_UNSURE = 1 << 7,	/* a tree this walk does not follow (svg, math, select, frameset) */
	EL_BODY = 1 << 8,	/* html, body: attributes merge into the one element */
	EL_HEAD = 1 << 9,
	EL_BUTTON = 1 << 10,
	EL_P = 1 << 11,
	EL_SCRIPT = 1 << 12,
	EL_PLAINTEXT = 1 << 13,
	EL_OPENS_SHOWN = 1 << 14,	/* details, dialog: hidden unless "open" */
	EL_BR = 1 << 15,
};

/* HTML5's element categories for the names that matter here, sorted for
 * bsearch; any other name is an ordinary element. */
static const struct element_kind {
	const char *name;
	unsigned kind;
} element_kinds[] = {
	{ "a", EL_FORMATTING },
	{ "address", EL_SPECIAL | EL_CLOSES_P },
	{ "applet", EL_SCOPE | EL_SPECIAL | EL_HIDES },
	{ "area", EL_VOID | EL_SPECIAL },
	{ "article", EL_SPECIAL | EL_CLOSES_P },
	{ "aside", EL_SPECIAL | EL_CLOSES_P },
	{ "audio", EL_HIDES },
	{ "b", EL_FORMATTING },
	{ "base", EL_VOID | EL_SPECIAL },
	{ "basefont", EL_VOID | EL_SPECIAL },
	{ "bgsound", EL_VOID | EL_SPECIAL },
	{ "big", EL_FORMATTING },
	{ "blockquote", EL_SPECIAL | EL_CLOSES_P },
	{ "body", EL_SPECIAL | EL_BODY },
	{ "br", EL_VOID | EL_SPECIAL | EL_BR },
	{ "button", EL_SPECIAL | EL_BUTTON },
	{ "canvas", EL_HIDES },
	{ "caption", EL_SCOPE | EL_SPECIAL },
	{ "center", EL_SPECIAL | EL_CLOSES_P },
	{ "code", EL_FORMATTING },
	{ "col", EL_VOID | EL_SPECIAL },
	{ "colgroup", EL_SPECIAL },
	{ "datalist", EL_HIDES },
	{ "dd", EL_SPECIAL },
	{ "details", EL_SPECIAL | EL_CLOSES_P | EL_OPENS_SHOWN },
	{ "dialog", EL_SPECIAL | EL_CLOSES_P | EL_OPENS_SHOWN },
	{ "dir", EL_SPECIAL | EL_CLOSES_P },
	{ "div", EL_SPECIAL | EL_CLOSES_P },
	{ "dl", EL_SPECIAL | EL_CLOSES_P },
	{ "dt", EL_SPECIAL },
	{ "em", EL_FORMATTING },
	{ "embed", EL_VOID | EL_SPECIAL },
	{ "fieldset", EL_SPECIAL | EL_CLOSES_P },
	{ "figcaption", EL_SPECIAL | EL_CLOSES_P },
	{ "figure", EL_SPECIAL | EL_CLOSES_P },
	{ "font", EL_FORMATTING },
	{ "footer", EL_SPECIAL | EL_CLOSES_P },
	{ "form", EL_SPECIAL | EL_CLOSES_P },
	{ "frame", EL_VOID | EL_SPECIAL },
	{ "frameset", EL_SPECIAL | EL_UNSURE },
	{ "h1", EL_SPECIAL | EL_CLOSES_P },
	{ "h2", EL_SPECIAL | EL_CLOSES_P },
	{ "h3", EL_SPECIAL | EL_CLOSES_P },
	{ "h4", EL_SPECIAL | EL_CLOSES_P },
	{ "h5", EL_SPECIAL | EL_CLOSES_P },
	{ "h6", EL_SPECIAL | EL_CLOSES_P },
	{ "head", EL_SPECIAL | EL_HEAD },
	{ "header", EL_SPECIAL | EL_CLOSES_P },
	{ "hgroup", EL_SPECIAL | EL_CLOSES_P },
	{ "hr", EL_VOID | EL_SPECIAL | EL_CLOSES_P },
	{ "html", EL_SCOPE | EL_SPECIAL | EL_BODY },
	{ "i", EL_FORMATTING },
	{ "iframe", EL_SPECIAL | EL_RAWTEXT },
	{ "image", EL_VOID },
	{ "img", EL_VOID | EL_SPECIAL },
	{ "input", EL_VOID | EL_SPECIAL },
	{ "keygen", EL_VOID | EL_SPECIAL },
	{ "li", EL_SPECIAL },
	{ "link", EL_VOID | EL_SPECIAL },
	{ "listing", EL_SPECIAL | EL_CLOSES_P },
	{ "main", EL_SPECIAL | EL_CLOSES_P },
	{ "marquee", EL_SCOPE | EL_SPECIAL },
	{ "math", EL_UNSURE },
	{ "menu", EL_SPECIAL | EL_CLOSES_P },
	{ "meta", EL_VOID | EL_SPECIAL },
	{ "nav", EL_SPECIAL | EL_CLOSES_P },
	{ "nobr", EL_FORMATTING },
	{ "noembed", EL_SPECIAL | EL_RAWTEXT },
	{ "noframes", EL_SPECIAL | EL_RAWTEXT },
	{ "noscript", EL_SPECIAL },
	{ "object", EL_SCOPE | EL_SPECIAL | EL_HIDES },
	{ "ol", EL_SPECIAL | EL_CLOSES_P },
	{ "optgroup", EL_HIDES },
	{ "option", EL_HIDES },
	{ "p", EL_SPECIAL | EL_CLOSES_P | EL_P },
	{ "param", EL_VOID | EL_SPECIAL },
	{ "plaintext", EL_SPECIAL | EL_PLAINTEXT },
	{ "pre", EL_SPECIAL | EL_CLOSES_P },
	{ "s", EL_FORMATTING },
	{ "script", EL_SPECIAL | EL_RAWTEXT | EL_SCRIPT },
	{ "search", EL_SPECIAL | EL_CLOSES_P },
	{ "section", EL_SPECIAL | EL_CLOSES_P },
	{ "select", EL_SPECIAL | EL_HIDES | EL_UNSURE },
	{ "small", EL_FORMATTING },
	{ "source", EL_VOID | EL_SPECIAL },
	{ "strike", EL_FORMATTING },
	{ "strong", EL_FORMATTING },
	{ "style", EL_SPECIAL | EL_RAWTEXT },
	{ "summary", EL_SPECIAL | EL_CLOSES_P },
	{ "svg", EL_UNSURE },
	{ "table", EL_SCOPE | EL_SPECIAL },
	{ "tbody", EL_SPECIAL },
	{ "td", EL_SCOPE | EL_SPECIAL },
	{ "template", EL_SCOPE | EL_SPECIAL | EL_HIDES },
	{ "textarea", EL_SPECIAL | EL_RAWTEXT },
	{ "tfoot", EL_SPECIAL },
	{ "th", EL_SCOPE | EL_SPECIAL },
	{ "thead", EL_SPECIAL },
	{ "title", EL_SPECIAL | EL_RAWTEXT },
	{ "tr", EL_SPECIAL },
	{ "track", EL_VOID | EL_SPECIAL },
	{ "tt", EL_FORMATTING },
	{ "u", EL_FORMATTING },
	{ "ul", EL_SPECIAL | EL_CLOSES_P },
	{ "video", EL_HIDES },
	{ "wbr", EL_VOID | EL_SPECIAL },
	{ "xmp", EL_SPECIAL | EL_CLOSES_P | EL_RAWTEXT },
};

#define N_ELEMENT_KINDS (sizeof(element_kinds) / sizeof(*element_kinds))

/* Where the names that start with each letter begin in element_kinds
 * (sorted, every name starting with a lower-case letter): those of c run
 * from element_first[c - 'a'] to element_first[c - 'a' + 1]. Filled before
 * main() runs, from the constant table, so threads only read it. */
static unsigned char element_first[27];

__attribute__((constructor)) static void
element_index(void)
{
	size_t k = 0;

	for (int c = 0; c < 26; c++) {
		element_first[c] = (unsigned char)k;
		while (k < N_ELEMENT_KINDS && element_kinds[k].name[0] == 'a' + c)
			k++;
	}
	element_first[26] = (unsigned char)k;
}

/* Looked up for every tag, twice: only the names with the same first letter
 * are compared, the second letter inline. */
static unsigned
element_kind(const char *name, size_t nl)
{
	char lower[12];

	if (nl == 0 || nl >= sizeof(lower))
		return 0;
	for (size_t i = 0; i < nl; i++)
		lower[i] = (char)tolower((unsigned char)name[i]);
	lower[nl] = '\0';
	if (lower[0] < 'a' || lower[0] > 'z')
		return 0;
	for (size_t k = element_first[lower[0] - 'a']; k < element_first[lower[0] - 'a' + 1]; k++) {
		const char *e = element_kinds[k].name;
		if (e[1] == lower[1] && strcmp(lower + 1, e + 1) == 0)
			return element_kinds[k].kind;
	}
	return 0;
}

struct open_element {
	size_t name, name_len;	/* in the text */
	unsigned kind;
	/* VIS_UNKNOWN until asked (vis_hidden): most elements are closed by
	 * their end tag, which never asks, so their attributes (styles) are
	 * not read a second time. */
	unsigned char hidden;
};

struct vis_walk {
	const char *t;
	size_t len;
	struct open_element *stack;
	size_t depth, cap;
	size_t steps_left;	/* of the open-element search */
};

static bool
name_is(const char *t, size_t name, size_t nl, const char *want)
{
	return strlen(want) == nl && strncasecmp(t + name, want, nl) == 0;
}

/* The number at the start of a CSS value, and whether one was there. */
static bool
css_number(const char *v, double *num, const char **unit)
{
	char *end;

	*num = strtod(v, &end);
	*unit = end;
	return end != v;
}

/* Whether a CSS property name of len octets (lower-cased, without
 * spaces) is name. */
static bool
prop_is(const char *prop, size_t len, const char *name)
{
	return strlen(name) == len && memcmp(prop, name, len) == 0;
}

/* Whether the CSS declaration at s (up to its ';') names a property that
 * style_hides() passes over, read as it reads one: lower-cased, without
 * spaces, up to the first ':'. Most declarations of a mail do; they are
 * then skipped without being copied. A '!' or a NUL (which cut that copy
 * short) makes it unsure: false. */
static bool
decl_is_inert(const char *s, size_t n)
{
	char prop[10];
	size_t k = 0, i;

	for (i = 0; i < n && s[i] != ':'; i++) {
		char c = s[i];
		if (c == ';')
			return true;	/* no ':', no property */
		if (c == '!' || c == '\0')
			return false;
		if (is_space(c))
			continue;
		if (k < sizeof(prop))
			prop[k] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
		k++;
	}
	if (i == n)
		return true;
	if (k >= 8 && memcmp(prop, "overflow", 8) == 0)
		return false;
	switch (k) {
	case 5:
		return memcmp(prop, "width", 5) != 0;
	case 6:
		return memcmp(prop, "height", 6) != 0;
	case 7:
		return memcmp(prop, "display", 7) != 0 && memcmp(prop, "opacity", 7) != 0;
	case 8:
		return memcmp(prop, "mso-hide", 8) != 0;
	case 9:
		return memcmp(prop, "font-size", 9) != 0 && memcmp(prop, "max-width", 9) != 0;
	case 10:
		return memcmp(prop, "visibility", 10) != 0 && memcmp(prop, "max-height", 10) != 0;
	default:
		return true;
	}
}

/* Whether an inline style hides the element: display:none,
 * visibility:hidden, a zero (or sub-pixel) font size, zero opacity, a zero
 * height or width with overflow hidden, or Outlook's mso-hide:all. CSS it
 * cannot read plainly (escapes, comments) counts as hiding. Every element
 * of a mail is asked, most with a style: the declarations are lower-cased
 * in one pass and the property compared by length first. */
static bool
style_hides(const char *css, size_t len)
{
	char decl[256];
	bool zero_size = false, overflow_hidden = false;

	if (memchr(css, '\\', len) != NULL)
		return true;
	for (const char *sl = css; (sl = memchr(sl, '/', (size_t)(css + len - sl))) != NULL; sl++)
		if (sl + 1 < css + len && sl[1] == '*')
			return true;
	for (size_t p = 0; p < len;) {
		if (decl_is_inert(css + p, len - p)) {
			const char *semi = memchr(css + p, ';', len - p);
			p = semi ? (size_t)(semi - css) + 1 : len;
			continue;
		}
		size_t d = 0;
		bool rare = false;	/* a '!' or a NUL, which ends the C string */
		/* One declaration, lower-cased (ASCII: the C locale), without spaces. */
		for (; p < len && css[p] != ';'; p++) {
			char c = css[p];
			if (is_space(c) || d + 1 >= sizeof(decl))
				continue;
			if (c >= 'A' && c <= 'Z')
				c = (char)(c - 'A' + 'a');
			rare |= c == '!' || c == '\0';
			decl[d++] = c;
		}
		p++;
		decl[d] = '\0';
		if (rare) {
			char *imp = strstr(decl, "!important");
			if (imp != NULL)
				*imp = '\0';
			d = strlen(decl);
		}
		char *colon = memchr(decl, ':', d);
		if (colon == NULL)
			continue;
		*colon = '\0';
		const char *prop = decl, *val = colon + 1, *unit;
		size_t pl = (size_t)(colon - decl);
		double num;
		switch (pl) {
		case 5:		/* width */
		case 6:		/* height */
		case 9:		/* max-width, font-size */
		case 10:	/* max-height, visibility */
			if (prop_is(prop, pl, "visibility") &&
			    (strcmp(val, "hidden") == 0 || strcmp(val, "collapse") == 0))
				return true;
			if (prop_is(prop, pl, "font-size") && css_number(val, &num, &unit) &&
			    (num <= 0 || (num < 1 && (*unit == '\0' || strcmp(unit, "px") == 0 ||
						     strcmp(unit, "pt") == 0))))
				return true;
			if ((prop_is(prop, pl, "max-height") || prop_is(prop, pl, "height") ||
			     prop_is(prop, pl, "max-width") || prop_is(prop, pl, "width")) &&
			    css_number(val, &num, &unit) && num <= 0)
				zero_size = true;
			break;
		case 7:		/* display, opacity */
			if ((prop_is(prop, pl, "display") && strcmp(val, "none") == 0) ||
			    (prop_is(prop, pl, "opacity") && css_number(val, &num, &unit) && num < 0.1))
				return true;
			break;
		case 8:		/* mso-hide */
			if (prop_is(prop, pl, "mso-hide") && strcmp(val, "all") == 0)
				return true;
			break;
		}
		if (pl >= 8 && memcmp(prop, "overflow", 8) == 0 &&
		    (strcmp(val, "hidden") == 0 || strcmp(val, "clip") == 0))
			overflow_hidden = true;
	}
	return zero_size && overflow_hidden;
}

/* Whether a start tag's attributes hide its element (style, or the
 * hidden attribute; a closed <details> or <dialog>). */
static bool
attrs_hide(const char *t, size_t name, size_t nl, unsigned kind, const struct attr *attrs,
	   size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (name_is(t, attrs[i].name, attrs[i].name_len, "hidden"))
			return true;
		if (name_is(t, attrs[i].name, attrs[i].name_len, "style") && attrs[i].has_val) {
			struct mbuf css;
			mbuf_init(&css);
			bool hides = html_attr_decode(t + attrs[i].val, attrs[i].val_len, &css) < 0 ||
			    style_hides(css.data ? css.data : "", css.len);
			mbuf_free(&css);
			if (hides)
				return true;
		}
	}
	(void)name, (void)nl;
	if (kind & EL_OPENS_SHOWN) {
		for (size_t i = 0; i < n; i++)
			if (name_is(t, attrs[i].name, attrs[i].name_len, "open"))
				return false;
		return true;
	}
	return false;
}

/* The same for an element as libxml2 reports it (attribute values decoded),
 * with the elements whose content is raw text or not shown. A style is not
 * read here but copied into *style (VIS_UNKNOWN) for lx_resolve(): most
 * elements close before anyone asks. */
static unsigned char
libxml_atts_hide(unsigned kind, const xmlChar **atts, char **style)
{
	const char *css = NULL;
	size_t n_css = 0;
	bool open = false;

	*style = NULL;
	if (kind & (EL_HIDES | EL_RAWTEXT | EL_UNSURE | EL_PLAINTEXT))
		return VIS_HIDDEN;
	for (size_t i = 0; atts != NULL && atts[i] != NULL; i += 2) {
		const char *name = (const char *)atts[i], *val = (const char *)atts[i + 1];
		if (strcasecmp(name, "hidden") == 0)
			return VIS_HIDDEN;
		if (strcasecmp(name, "style") == 0 && val != NULL)
			css = val, n_css++;
		open |= strcasecmp(name, "open") == 0;
	}
	if ((kind & EL_OPENS_SHOWN) && !open)
		return VIS_HIDDEN;
	if (n_css == 0)
		return VIS_SHOWN;
	if (n_css == 1 && (*style = strdup(css)) != NULL)
		return VIS_UNKNOWN;
	/* Several styles, or no memory for the copy: read them now. */
	for (size_t i = 0; atts[i] != NULL; i += 2)
		if (strcasecmp((const char *)atts[i], "style") == 0 && atts[i + 1] != NULL &&
		    style_hides((const char *)atts[i + 1], strlen((const char *)atts[i + 1])))
			return VIS_HIDDEN;
	return VIS_SHOWN;
}

/* Whether an open element is hidden: its attributes are lexed again (as
 * footer_hidden_by lexed them, from the end of its name) and read the
 * first time this is asked. */
static bool
vis_hidden(const struct vis_walk *w, struct open_element *e)
{
	if (e->hidden == VIS_UNKNOWN) {
		struct attr attrs[TAG_MAX_ATTRS];
		size_t n;
		lex_attrs(w->t, w->len, e->name + e->name_len, attrs, &n);
		e->hidden = attrs_hide(w->t, e->name, e->name_len, e->kind, attrs, n) ?
		    VIS_HIDDEN : VIS_SHOWN;
	}
	return e->hidden == VIS_HIDDEN;
}

/* Pops the elements above index k and k itself. A hidden formatting
 * element closed by anything but its own end tag would be reopened by the
 * browser (the active formatting elements): that is not followed here. */
static const char *
vis_pop(struct vis_walk *w, size_t k, bool own_end_tag)
{
	for (size_t i = k; i < w->depth; i++) {
		struct open_element *e = &w->stack[i];
		if ((e->kind & EL_FORMATTING) && !(own_end_tag && i == k) && vis_hidden(w, e))
			return "a hidden formatting element closed out of order";
	}
	w->depth = k;
	return NULL;
}

/* The index of the open element that an end tag for name (of kind) closes,
 * or (size_t)-1 when it closes none; *why is set when the search was too
 * long to tell. */
static size_t
vis_find(struct vis_walk *w, size_t name, size_t nl, unsigned kind, const char **why)
{
	unsigned stop = EL_SCOPE | (kind & EL_P ? EL_BUTTON : 0) |
	    (kind & EL_SPECIAL ? 0 : EL_SPECIAL);

	for (size_t k = w->depth; k-- > 0;) {
		const struct open_element *e = &w->stack[k];
		if (w->steps_left-- == 0) {
			*why = "elements nested too deeply to tell";
			return (size_t)-1;
		}
		if (e->name_len == nl && strncasecmp(w->t + e->name, w->t + name, nl) == 0)
			return k;
		if (e->kind & stop)
			break;
	}
	return (size_t)-1;
}

static const char *
vis_end_tag(struct vis_walk *w, size_t name, size_t nl)
{
	unsigned kind = element_kind(w->t + name, nl);
	const char *why = NULL;

	if (kind & (EL_BODY | EL_BR))
		return NULL;
	/* An end tag for a formatting element with a special element (a
	 * <div> ...) above it would make the browser move elements around
	 * (the adoption agency): vis_find does not look past one, so such an
	 * end tag is ignored here and its element, if hidden, stays hidden. */
	size_t k = vis_find(w, name, nl, kind, &why);
	if (k == (size_t)-1)
		return why;
	return vis_pop(w, k, true);
}

static const char *
vis_start_tag(struct vis_walk *w, size_t name, size_t nl, unsigned kind, const struct attr *attrs,
	      size_t n)
{
	if (kind & EL_UNSURE)
		return "after svg, math, select or a frameset, which this check does not follow";
	if (kind & EL_PLAINTEXT)
		return "inside a plaintext element";
	/* A second <body> or <html> adds its attributes to the first; <head>
	 * ends at the first thing that belongs to the body. */
	if (kind & EL_BODY)
		return attrs_hide(w->t, name, nl, kind, attrs, n) ? "the body is hidden" : NULL;
	if (kind & EL_HEAD)
		return NULL;
	if (kind & EL_CLOSES_P) {
		for (size_t i = w->depth; i-- > 0;) {
			const struct open_element *e = &w->stack[i];
			if (w->steps_left-- == 0)
				return "elements nested too deeply to tell";
			if (e->kind & EL_P) {
				const char *why = vis_pop(w, i, false);
				if (why != NULL)
					return why;
				break;
			}
			if (e->kind & (EL_SCOPE | EL_BUTTON))
				break;
		}
	}
	if (kind & EL_VOID)
		return NULL;
	if (w->depth == w->cap) {
		if (w->cap >= VIS_STACK_MAX)
			return "elements nested too deeply to tell";
		size_t cap = w->cap ? w->cap * 2 : 64;
		struct open_element *s = realloc(w->stack, cap * sizeof(*s));
		if (s == NULL)
			return "out of memory";
		w->stack = s;
		w->cap = cap;
	}
	w->stack[w->depth++] = (struct open_element){
		name, nl, kind, (kind & EL_HIDES) ? VIS_HIDDEN : VIS_UNKNOWN
	};
	return NULL;
}

/* The offset of the first "</name" ending a raw-text element from p (the
 * name followed by a space, '/' or '>'), or len when there is none. */
static size_t
rawtext_end(const char *t, size_t len, size_t p, size_t name, size_t nl)
{
	for (const char *lt; p < len && (lt = memchr(t + p, '<', len - p)) != NULL;) {
		size_t s = (size_t)(lt - t);
		if (s + 2 + nl < len && t[s + 1] == '/' &&
		    strncasecmp(t + s + 2, t + name, nl) == 0 &&
		    (is_space(t[s + 2 + nl]) || t[s + 2 + nl] == '/' || t[s + 2 + nl] == '>'))
			return s;
		p = s + 1;
	}
	return len;
}

#define COMMENT_UNCLOSED ((size_t)-1)
#define COMMENT_AMBIGUOUS ((size_t)-2)

/* The end of the comment that starts at t[s] == "<!--" (just after its
 * "-->"), COMMENT_UNCLOSED when it is never closed (then even the very end
 * of the text is inside it), or COMMENT_AMBIGUOUS when browsers end it
 * earlier ("<!-->", "<!--->", "--!>") than libxml2 does, which reads on to
 * the next "-->". */
static size_t
comment_end(const char *t, size_t len, size_t s)
{
	size_t p = s + 4;

	if ((p < len && t[p] == '>') || (p + 1 < len && t[p] == '-' && t[p + 1] == '>'))
		return COMMENT_AMBIGUOUS;
	for (; p + 2 < len; p++)
		if (t[p] == '-' && t[p + 1] == '-') {
			if (t[p + 2] == '>')
				return p + 3;
			if (p + 3 < len && t[p + 2] == '!' && t[p + 3] == '>')
				return COMMENT_AMBIGUOUS;
		}
	return COMMENT_UNCLOSED;
}

static bool
is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Whether spans (in order; *cur moves on) has the start tag at s, and
 * then its end in *gt. sax_start found it with lex_attrs() from the end of
 * its name, as the walk would. */
static bool
span_at(const struct tag_span *spans, size_t n, size_t *cur, size_t s, size_t *gt)
{
	while (*cur < n && spans[*cur].start < s)
		(*cur)++;
	if (*cur < n && spans[*cur].start == s) {
		*gt = spans[*cur].gt;
		return true;
	}
	return false;
}

/* NULL when a footer inserted at offset at of the text would be visible,
 * else why not. spans: the start tags libxml2 reported that sax_start
 * read (their ends are not looked for again). */
static const char *
footer_hidden_by(const char *t, size_t len, size_t at, const struct tag_span *spans,
		 size_t n_spans)
{
	struct vis_walk w = { .t = t, .len = len };
	size_t cur = 0;

	w.steps_left = at > SIZE_MAX / VIS_STEPS_PER_OCTET - 4096 ? SIZE_MAX :
	    at * VIS_STEPS_PER_OCTET + 4096;
	struct attr attrs[TAG_MAX_ATTRS];
	size_t nattrs, p = 0;
	const char *why = NULL;

	while (why == NULL && p < at) {
		const char *lt = memchr(t + p, '<', at - p);
		if (lt == NULL)
			break;
		size_t s = (size_t)(lt - t), end;
		if (s + 4 <= len && memcmp(t + s, "<!--", 4) == 0) {
			end = comment_end(t, len, s);
			if (end == COMMENT_AMBIGUOUS)
				why = "after a comment that browsers and the parser end differently";
			else if (end > at)
				why = "inside a comment";
		} else if (s + 1 < len && (t[s + 1] == '!' || t[s + 1] == '?' ||
					   (t[s + 1] == '/' && s + 2 < len && !is_alpha(t[s + 2])))) {
			/* A doctype, a bogus comment, or "</>" */
			const char *gt = memchr(t + s + 1, '>', len - s - 1);
			end = gt ? (size_t)(gt - t) + 1 : (size_t)-1;
			if (end > at)
				why = "inside a comment";
		} else if (s + 1 < len && (is_alpha(t[s + 1]) || t[s + 1] == '/')) {
			bool end_tag = t[s + 1] == '/';
			size_t name = s + 1 + end_tag, q = name;
			while (q < len && !is_space(t[q]) && t[q] != '/' && t[q] != '>')
				q++;
			size_t nl = q - name, gt;
			unsigned kind = end_tag ? 0 : element_kind(t + name, nl);
			nattrs = 0;
			/* The attributes themselves are needed for a body only
			 * (vis_hidden lexes an element's again if it asks). */
			if (end_tag || (kind & EL_BODY) || !span_at(spans, n_spans, &cur, s, &gt))
				gt = lex_attrs(t, len, q, attrs, &nattrs);
			end = gt == (size_t)-1 ? (size_t)-1 : gt + (t[gt] == '/' ? 2 : 1);
			if (end > at) {
				why = "inside a tag or attribute";
				break;
			}
			if (end_tag) {
				why = vis_end_tag(&w, name, nl);
			} else if (kind & EL_RAWTEXT) {
				size_t close = rawtext_end(t, len, end, name, nl);
				if (close >= at)
					why = "inside a raw-text element (title, textarea, style, script ...)";
				else if ((kind & EL_SCRIPT) &&
					 memmem(t + end, close - end, "<!--", 4) != NULL)
					why = "after a script it cannot tell the end of";
				end = close;
			} else {
				why = vis_start_tag(&w, name, nl, kind, attrs, nattrs);
			}
		} else {
			end = s + 1;	/* a '<' that is text */
		}
		p = end;
	}
	for (size_t k = 0; why == NULL && k < w.depth; k++)
		if (vis_hidden(&w, &w.stack[k]))
			why = "inside a hidden element";
	free(w.stack);
	return why;
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
	const char *hidden = footer_hidden_by(st.text, st.len, bottom, st.spans, st.n_spans);
	bool lx_hidden = st.have_body_close ? st.lx_body_hidden :
	    st.have_html_close ? st.lx_html_hidden :
	    st.lx_out_of_memory || lx_any_open_hidden(&st) || lx_any_run_hidden(&st);
	if (hidden == NULL && lx_hidden)
		hidden = "inside an element that libxml2 reads as hidden or raw text";
	size_t lx_last = st.have_body_close ? st.lx_last_at_body :
	    st.have_html_close ? st.lx_last_at_html : st.lx_last;
	if (hidden == NULL && !libxml_read_up_to(&st, lx_last, bottom))
		hidden = "libxml2 reads the text before it as a comment or skips markup there";
	if (hidden != NULL) {
		snprintf(err, errlen, "footer not visible: %s", hidden);
		goto cleanup;
	}
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

	size_t size = len;
	for (size_t i = 0; i < st.n_edits; i++)
		size += st.edits[i].len;
	mbuf_reserve(out, size);	/* at most this: edits replace some octets */
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
cleanup:
	for (size_t i = 0; i < st.n_edits; i++)
		free(st.edits[i].text);
	free(st.edits);
	free(st.protect);
	free(st.spans);
	for (size_t i = 0; i < st.lx_depth; i++)
		free(st.lx_open[i].style);
	free(st.lx_open);
	lx_other_event(&st);
	free(st.lx_run);
	free(st.base_url);
	mbuf_free(&st.href_url);
	mbuf_free(&st.link_text);
	charset_view_free(&view);
	return rc;
}
