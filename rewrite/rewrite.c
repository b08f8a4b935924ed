/* rewrite: decides whether a message may be edited and performs the edits:
 * it finds the body parts the spec allows, decodes each, lets the HTML or
 * text editor splice in the pixel, click links and footer, re-encodes with
 * the same transfer encoding, and leaves every other octet where it was. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "codec.h"
#include "footer.h"
#include "html.h"
#include "links.h"
#include "mime.h"
#include "policy.h"
#include "rewrite.h"
#include "text.h"
#include "url_limit.h"

#define TRACKING_WORDS (POLICY_OPENS | POLICY_CLICKS | POLICY_TEXT_CLICKS | POLICY_RECEIPT)
#define SMTP_LINE_MAX 998
/* Each rewritten link costs a few hundred octets of memory and output: the
 * cap keeps a hostile message within the bound the README states. Real
 * newsletters have a few hundred links at most. */
#define REWRITE_MAX_LINKS 2000

enum part_kind { PART_HTML, PART_TEXT };

struct target {
	int idx;
	enum part_kind kind;
};

struct splice {
	size_t start, end;	/* message offsets replaced */
	struct mbuf text;
};

struct rw {
	const struct rewrite_params *p;
	struct mime_message m;
	struct rewrite_result *res;
	struct target targets[16];
	size_t n_targets;
	struct splice splices[48];
	size_t n_splices;
	char **unsub;		/* http(s) URLs of List-Unsubscribe */
	size_t n_unsub;
	unsigned ask_links;	/* ask: links that tracking would rewrite */
	bool oom;
};

static int
skip(struct rw *rw, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
skip(struct rw *rw, const char *fmt, ...)
{
	va_list ap;

	if (rw->res->reason[0] == '\0') {
		va_start(ap, fmt);
		vsnprintf(rw->res->reason, sizeof(rw->res->reason), fmt, ap);
		va_end(ap);
	}
	return -1;
}

static bool
is(const struct mime_part *p, const char *type, const char *subtype)
{
	return strcmp(p->type, type) == 0 && (subtype == NULL || strcmp(p->subtype, subtype) == 0);
}

/* Signed or encrypted content anywhere is never touched. */
static int
check_protected(struct rw *rw)
{
	for (size_t i = 0; i < rw->m.n; i++) {
		const struct mime_part *p = &rw->m.parts[i];
		if (is(p, "multipart", "signed"))
			return skip(rw, "signed: multipart/signed");
		if (is(p, "multipart", "encrypted"))
			return skip(rw, "encrypted: multipart/encrypted");
		if (is(p, "application", "pkcs7-mime") || is(p, "application", "x-pkcs7-mime"))
			return strcmp(p->smime_type, "signed-data") == 0
			    ? skip(rw, "signed: application/pkcs7-mime signed-data")
			    : skip(rw, "encrypted: application/pkcs7-mime");
		if (is(p, "application", "pgp-encrypted"))
			return skip(rw, "encrypted: application/pgp-encrypted");
		if (is(p, "application", "pkcs7-signature") || is(p, "application", "x-pkcs7-signature") ||
		    is(p, "application", "pgp-signature"))
			return skip(rw, "signed: detached %s/%s", p->type, p->subtype);
	}
	if (rw->m.has_dkim_signature)
		return skip(rw, "dkim: the message already has a DKIM-Signature");
	return 0;
}

static void
add_target(struct rw *rw, int idx, enum part_kind kind)
{
	if (rw->n_targets < sizeof(rw->targets) / sizeof(rw->targets[0]))
		rw->targets[rw->n_targets++] = (struct target){ idx, kind };
}

/* The parts a reader sees as the message: the spec's list, nothing else. */
static void
select_parts(struct rw *rw, int idx)
{
	const struct mime_part *p = &rw->m.parts[idx];
	int child;

	if (p->attachment)
		return;
	if (is(p, "text", "html")) {
		add_target(rw, idx, PART_HTML);
	} else if (is(p, "text", "plain")) {
		add_target(rw, idx, PART_TEXT);
	} else if (is(p, "multipart", "alternative")) {
		for (child = p->first_child; child >= 0; child = rw->m.parts[child].next_sibling)
			select_parts(rw, child);
	} else if (is(p, "multipart", "related")) {
		int root = p->first_child;
		if (p->start_id[0] != '\0')
			for (child = p->first_child; child >= 0; child = rw->m.parts[child].next_sibling)
				if (strcmp(rw->m.parts[child].content_id, p->start_id) == 0)
					root = child;
		if (root >= 0)
			select_parts(rw, root);
	} else if (is(p, "multipart", "mixed")) {
		/* The first part is the body; the rest are attachments. */
		if (p->first_child >= 0)
			select_parts(rw, p->first_child);
	}
}

static bool
url_is_beacon(const struct rw *rw, const char *url, size_t len)
{
	const char *b = rw->p->beacon_url;
	size_t bl = strlen(b);

	return len >= bl && strncasecmp(url, b, bl) == 0 &&
	    (len == bl || strchr("/?#", url[bl]) != NULL);
}

static bool
url_in_list_unsubscribe(const struct rw *rw, const char *url, size_t len)
{
	for (size_t i = 0; i < rw->n_unsub; i++)
		if (strlen(rw->unsub[i]) == len && memcmp(rw->unsub[i], url, len) == 0)
			return true;
	return false;
}

static int
record_link(struct rw *rw, unsigned num, const char *url, size_t len)
{
	struct rewrite_result *res = rw->res;
	struct rewrite_link *l = realloc(res->links, (res->n_links + 1) * sizeof(*l));

	if (l == NULL)
		return -1;
	res->links = l;
	if ((l[res->n_links].url = strndup(url, len)) == NULL)
		return -1;
	l[res->n_links++].num = num;
	return 0;
}

static int
sign_link(void *arg, const char *url, size_t len, struct mbuf *out)
{
	struct rw *rw = arg;
	struct token t = { .kind = TOKEN_CLICK };

	if (!url_is_http(url, len))
		return 0;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)url[i] < ' ' || url[i] == 0x7f)
			return 0;
	if (url_is_beacon(rw, url, len) || says_unsubscribe(url, len) ||
	    url_in_list_unsubscribe(rw, url, len))
		return 0;
	/* A click URL the beacon would answer 414 is a dead link: such a
	 * destination stays as written. token_format() refuses one past
	 * TOKEN_DEST_MAX; a shorter one is measured once formatted. */
	if (len > TOKEN_DEST_MAX) {
		rw->res->n_long_links++;
		return 0;
	}
	if (rw->p->ask) {	/* counted: the link stays as written */
		rw->ask_links++;
		return 0;
	}
	if (rw->res->n_links >= REWRITE_MAX_LINKS)
		return skip(rw, "links: more than %d links to rewrite", REWRITE_MAX_LINKS);
	memcpy(t.msgid, rw->res->msgid, sizeof(t.msgid));
	t.sent = (long long)rw->res->sent;
	t.link = (unsigned)rw->res->n_links + 1;
	if ((t.dest = strndup(url, len)) == NULL)
		return -1;
	t.dest_len = len;
	size_t url_start = out->len;
	mbuf_puts(out, rw->p->beacon_url);
	mbuf_putc(out, '/');
	int rc = token_format(rw->p->keys, &t, out);
	free(t.dest);
	if (rc == 0 && !out->failed && out->len - url_start > TRACKING_URL_MAX) {
		rw->res->n_long_links++;
		return 0;
	}
	if (rc == 0)
		rc = record_link(rw, t.link, url, len);
	return (rc < 0 || out->failed) ? -1 : 1;
}

/* List-Unsubscribe: <https://...>, <mailto:...> */
static int
collect_unsubscribe(struct rw *rw)
{
	const char *v = rw->m.list_unsubscribe;

	while (v != NULL && (v = strchr(v, '<')) != NULL) {
		const char *e = strchr(v, '>');
		if (e == NULL)
			break;
		if (url_is_http(v + 1, (size_t)(e - v - 1))) {
			char **u = realloc(rw->unsub, (rw->n_unsub + 1) * sizeof(*u));
			if (u == NULL)
				return -1;
			rw->unsub = u;
			if ((u[rw->n_unsub] = strndup(v + 1, (size_t)(e - v - 1))) == NULL)
				return -1;
			rw->n_unsub++;
		}
		v = e;
	}
	return 0;
}

static int
make_url(struct rw *rw, enum token_kind kind, struct mbuf *out)
{
	struct token t = { .kind = kind };

	memcpy(t.msgid, rw->res->msgid, sizeof(t.msgid));
	t.sent = (long long)rw->res->sent;
	mbuf_puts(out, rw->p->beacon_url);
	mbuf_putc(out, '/');
	return token_format(rw->p->keys, &t, out) < 0 || out->failed ? -1 : 0;
}

/* A line longer than SMTP allows, its CR LF not counted (a lone CR is).
 * Lines are found with memchr: this looks at every edited part. */
static bool
has_long_line(const char *s, size_t len)
{
	const char *end = s + len;

	for (const char *line = s; line < end;) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		size_t n = (size_t)((nl ? nl : end) - line);
		if (nl != NULL && n > 0 && nl[-1] == '\r')
			n--;
		if (n > SMTP_LINE_MAX)
			return true;
		if (nl == NULL)
			break;
		line = nl + 1;
	}
	return false;
}

static bool
has_8bit(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			return true;
	return false;
}

static struct splice *
new_splice(struct rw *rw, size_t start, size_t end)
{
	if (rw->n_splices >= sizeof(rw->splices) / sizeof(rw->splices[0]))
		return NULL;
	struct splice *s = &rw->splices[rw->n_splices++];
	s->start = start;
	s->end = end;
	mbuf_init(&s->text);
	return s;
}

static int
add_header_edit(struct rewrite_result *res, enum header_op op, const char *name,
		const char *value, int index)
{
	struct header_edit *h = realloc(res->headers, (res->n_headers + 1) * sizeof(*h));

	if (h == NULL)
		return -1;
	res->headers = h;
	h = &h[res->n_headers];
	h->op = op;
	h->index = index;
	h->name = strdup(name);
	h->value = strdup(value);
	if (h->name == NULL || h->value == NULL) {
		free(h->name);
		free(h->value);
		return -1;
	}
	res->n_headers++;
	return 0;
}

/* Records that part idx is now quoted-printable: its header changes. */
static int
switch_to_qp(struct rw *rw, int idx)
{
	const struct mime_part *p = &rw->m.parts[idx];
	const char *msg = rw->m.msg;
	size_t name, nlen, value, vlen, pos = p->start, next;
	int occurrence = 0;

	while ((next = mime_next_header(msg, pos, p->hdr_end, &name, &nlen, &value, &vlen)) != 0) {
		if (nlen == 25 && strncasecmp(msg + name, "content-transfer-encoding", 25) == 0) {
			occurrence++;
			if (idx == 0)
				return add_header_edit(rw->res, HEADER_CHANGE, "Content-Transfer-Encoding",
						       "quoted-printable", occurrence);
			struct splice *s = new_splice(rw, name, next);
			if (s == NULL)
				return skip(rw, "mime: too many edits");
			mbuf_printf(&s->text, "%.*s: quoted-printable%s", (int)nlen, msg + name, rw->m.eol);
			return s->text.failed ? -1 : 0;
		}
		pos = next;
	}
	if (idx == 0)
		return add_header_edit(rw->res, HEADER_ADD, "Content-Transfer-Encoding",
				       "quoted-printable", 0);
	struct splice *s = new_splice(rw, p->hdr_end, p->hdr_end);
	if (s == NULL)
		return skip(rw, "mime: too many edits");
	mbuf_printf(&s->text, "Content-Transfer-Encoding: quoted-printable%s", rw->m.eol);
	return s->text.failed ? -1 : 0;
}

static int
encode_part(struct rw *rw, int idx, const struct mbuf *orig, const struct mbuf *edited)
{
	const struct mime_part *p = &rw->m.parts[idx];
	const char *raw = rw->m.msg + p->body_start;
	size_t raw_len = p->body_end - p->body_start;
	const char *eol = rw->m.eol;
	enum cte cte = p->cte;

	if (cte == CTE_7BIT || cte == CTE_8BIT) {
		bool needs_qp = has_long_line(edited->data, edited->len) ||
		    (cte == CTE_7BIT && has_8bit(edited->data, edited->len) &&
		     !has_8bit(orig->data, orig->len));
		if (needs_qp) {
			if (switch_to_qp(rw, idx) < 0)
				return -1;
			cte = CTE_QP;
		}
	}
	struct splice *s = new_splice(rw, p->body_start, p->body_end);
	if (s == NULL)
		return skip(rw, "mime: too many edits");
	int rc;
	switch (cte) {
	case CTE_QP:
		/* Mostly literal: a soft break per 75 octets and a few escapes. */
		mbuf_reserve(&s->text, edited->len + edited->len / 8 + 64);
		rc = qp_encode(edited->data, edited->len, eol, &s->text);
		break;
	case CTE_BASE64:
		mbuf_reserve(&s->text, edited->len / 57 * (76 + 2) + 80);
		rc = b64_encode(edited->data, edited->len, eol, &s->text);
		/* Line breaks between base64 lines are free; the last one
		 * follows the original so the delimiter lines stay as they were. */
		if (rc == 0 && (raw_len == 0 || raw[raw_len - 1] != '\n') &&
		    s->text.len >= strlen(eol))
			s->text.len -= strlen(eol), s->text.data[s->text.len] = '\0';
		break;
	default:
		rc = mbuf_append(&s->text, edited->data, edited->len);
		break;
	}
	return rc < 0 || s->text.failed ? -1 : 0;
}

static int
decode_part(struct rw *rw, const struct mime_part *p, struct mbuf *out)
{
	const char *raw = rw->m.msg + p->body_start;
	size_t len = p->body_end - p->body_start;

	switch (p->cte) {
	case CTE_QP:
		mbuf_reserve(out, len);	/* decoding only shortens */
		return qp_decode(raw, len, out);
	case CTE_BASE64:
		mbuf_reserve(out, len / 4 * 3 + 3);
		if (b64_decode(raw, len, out) < 0)
			return out->failed ? -1 : skip(rw, "mime: bad base64 in a %s/%s part",
						       p->type, p->subtype);
		return 0;
	case CTE_OTHER:
		return skip(rw, "mime: unsupported Content-Transfer-Encoding \"%s\"", p->cte_raw);
	default:
		return mbuf_append(out, raw, len);
	}
}

struct edit_plan {
	const char *pixel_html;
	const char *footer_html;
	const char *footer_text;
};

/* The line break a part uses, or the message's when it has none. */
static const char *
part_eol(const struct mbuf *decoded, const char *msg_eol)
{
	const char *nl = decoded->data ? memchr(decoded->data, '\n', decoded->len) : NULL;

	if (nl == NULL)
		return msg_eol;
	return (nl > decoded->data && nl[-1] == '\r') ? "\r\n" : "\n";
}

/* Copies text with every line break written as eol (CRs dropped), a line
 * at a time. */
static int
with_eol(const char *text, const char *eol, struct mbuf *out)
{
	for (const char *c = text; *c;) {
		size_t n = strcspn(c, "\r\n");
		mbuf_append(out, c, n);
		c += n;
		if (*c == '\n')
			mbuf_puts(out, eol);
		if (*c != '\0')
			c++;
	}
	return out->failed ? -1 : 0;
}

static int
edit_part(struct rw *rw, const struct target *t, const struct edit_plan *plan,
	  bool *pixel_added, unsigned *links)
{
	const struct mime_part *p = &rw->m.parts[t->idx];
	unsigned words = rw->p->words;
	struct mbuf decoded, edited, footer;
	char err[160];
	int rc = -1;

	mbuf_init(&decoded);
	mbuf_init(&edited);
	mbuf_init(&footer);
	/* A part that ends in its header (no empty line) has no place for a
	 * body: one spliced there would read as more header. */
	if (t->idx != 0 && p->body_start == p->hdr_end) {
		skip(rw, "mime: a %s/%s part without the empty line after its header",
		     p->type, p->subtype);
		goto out;
	}
	if (decode_part(rw, p, &decoded) < 0)
		goto out;
	if (memmem(decoded.data ? decoded.data : "", decoded.len, "-----BEGIN PGP SIGNED MESSAGE-----", 34)) {
		skip(rw, "signed: inline PGP");
		goto out;
	}
	if (memmem(decoded.data ? decoded.data : "", decoded.len, "-----BEGIN PGP MESSAGE-----", 27)) {
		skip(rw, "encrypted: inline PGP");
		goto out;
	}
	err[0] = '\0';
	const char *eol = part_eol(&decoded, rw->m.eol);
	if (with_eol(t->kind == PART_HTML ? plan->footer_html : plan->footer_text, eol, &footer) < 0)
		goto out;
	if (t->kind == PART_HTML) {
		struct html_opts o = {
			.pixel_html = *pixel_added ? NULL : plan->pixel_html,
			.pixel_top = rw->p->pixel_top,
			.footer_html = footer.data ? footer.data : "",
			.clicks = (words & POLICY_CLICKS) != 0,
			.sign = sign_link,
			.sign_arg = rw,
			.beacon_url = rw->p->beacon_url,
		};
		struct html_outcome oc;
		if (html_edit(decoded.data ? decoded.data : "", decoded.len, p->charset, &o,
			      &edited, &oc, err, sizeof(err)) < 0) {
			skip(rw, "%s", err[0] ? err : "html: cannot edit");
			goto out;
		}
		*pixel_added |= oc.pixel_added;
		*links += oc.links_rewritten;
	} else {
		struct text_opts o = {
			.footer_text = footer.data ? footer.data : "",
			.eol = eol,
			.clicks = (words & POLICY_TEXT_CLICKS) != 0,
			.flowed = p->flowed, .delsp = p->delsp,
			.sign = sign_link,
			.sign_arg = rw,
		};
		unsigned n = 0, old_urls = 0;
		/* Earlier opt-out and open URLs of ours in quoted text become a
		 * notice first: only this message's own footer may opt out. */
		struct mbuf fresh;
		mbuf_init(&fresh);
		if (footer_neutralise_text(rw->p->beacon_url, p->charset,
					   decoded.data ? decoded.data : "", decoded.len, &fresh,
					   &old_urls, err, sizeof(err)) < 0) {
			rw->oom |= fresh.failed;
			mbuf_free(&fresh);
			skip(rw, "%s", err[0] ? err : "text: cannot edit");
			goto out;
		}
		int trc = text_edit(fresh.data ? fresh.data : "", fresh.len, p->charset, &o,
				    &edited, &n, err, sizeof(err));
		mbuf_free(&fresh);
		if (trc < 0) {
			skip(rw, "%s", err[0] ? err : "text: cannot edit");
			goto out;
		}
		*links += n;
	}
	rc = encode_part(rw, t->idx, &decoded, &edited);
out:
	if (decoded.failed || edited.failed || footer.failed)
		rw->oom = true;
	mbuf_free(&decoded);
	mbuf_free(&edited);
	mbuf_free(&footer);
	return rc;
}

static int
splice_cmp(const void *a, const void *b)
{
	const struct splice *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

static int
build_body(struct rw *rw)
{
	const struct mime_message *m = &rw->m;
	size_t at = m->parts[0].body_start;
	struct mbuf *body = &rw->res->body;
	size_t size = m->len - at;

	qsort(rw->splices, rw->n_splices, sizeof(rw->splices[0]), splice_cmp);
	for (size_t i = 0; i < rw->n_splices; i++)
		size += rw->splices[i].text.len;
	mbuf_reserve(body, size);	/* at most this: spliced text replaces some */
	for (size_t i = 0; i < rw->n_splices; i++) {
		const struct splice *s = &rw->splices[i];
		if (s->start < at)
			return skip(rw, "mime: overlapping edits");
		mbuf_append(body, m->msg + at, s->start - at);
		mbuf_append(body, s->text.data ? s->text.data : "", s->text.len);
		at = s->end;
	}
	mbuf_append(body, m->msg + at, m->len - at);
	return body->failed ? -1 : 0;
}

static int
render_plan(struct rw *rw, struct edit_plan *plan, struct mbuf *pixel,
	    struct mbuf *fhtml, struct mbuf *ftext)
{
	const struct rewrite_params *p = rw->p;
	struct mbuf optout;
	int rc = -1;

	mbuf_init(&optout);
	/* The ask footer links to the consent page; the tracked one to the
	 * opt-out. */
	if (make_url(rw, p->ask ? TOKEN_CONSENT : TOKEN_OPTOUT, &optout) < 0)
		goto out;
	struct footer_vars v = {
		.sender = p->sender,
		.optout_url = p->ask ? NULL : optout.data,
		.consent_url = p->ask ? optout.data : NULL,
		.privacy_url = p->privacy_url,
		.tracked = footer_tracked_phrase(p->words, p->location),
	};
	const char *html = p->ask ? (p->footer_ask_html ? p->footer_ask_html : footer_default_ask_html)
	    : (p->footer_html ? p->footer_html : footer_default_html);
	const char *text = p->ask ? (p->footer_ask_text ? p->footer_ask_text : footer_default_ask_text)
	    : (p->footer_text ? p->footer_text : footer_default_text);
	if (footer_render(html, true, &v, fhtml) < 0 || footer_render(text, false, &v, ftext) < 0)
		goto out;
	if ((p->words & POLICY_OPENS) && !p->ask) {
		mbuf_puts(pixel, "<img src=\"");
		if (make_url(rw, TOKEN_OPEN, pixel) < 0)
			goto out;
		mbuf_puts(pixel, "\" width=\"1\" height=\"1\" alt=\"\" "
			  "style=\"border:0;width:1px;height:1px\">");
		if (pixel->failed)
			goto out;
		plan->pixel_html = pixel->data;
	}
	plan->footer_html = fhtml->data ? fhtml->data : "";
	plan->footer_text = ftext->data ? ftext->data : "";
	rc = 0;
out:
	mbuf_free(&optout);
	return rc;
}

static int
finish_headers(struct rw *rw, bool pixel, unsigned links)
{
	struct rewrite_result *res = rw->res;
	unsigned applied = POLICY_FOOTER;
	char words[80], value[160];

	if (rw->p->ask) {
		/* Asked only where tracking would do something. */
		bool html = false;
		for (size_t i = 0; i < rw->n_targets; i++)
			html |= rw->targets[i].kind == PART_HTML;
		if (!(html && (rw->p->words & POLICY_OPENS)) && rw->ask_links == 0)
			return skip(rw, "nothing to track: no HTML part for the pixel and no link to rewrite");
		res->words_applied = POLICY_FOOTER;
		snprintf(value, sizeof(value), "%s; ask", res->msgid);
		return add_header_edit(res, HEADER_ADD, "X-Mailbeacon", value, 0);
	}
	if (pixel)
		applied |= POLICY_OPENS;
	if (links > 0)
		applied |= rw->p->words & (POLICY_CLICKS | POLICY_TEXT_CLICKS);
	if (rw->p->words & POLICY_RECEIPT)
		applied |= POLICY_RECEIPT;
	if ((rw->p->words & TRACKING_WORDS) && !(applied & TRACKING_WORDS))
		return skip(rw, "nothing to track: no HTML part for the pixel and no link to rewrite");
	res->words_applied = applied;
	policy_words_str(applied, words, sizeof(words));
	snprintf(value, sizeof(value), "%s; %s", res->msgid, words);
	if (add_header_edit(res, HEADER_ADD, "X-Mailbeacon", value, 0) < 0)
		return -1;
	if ((applied & POLICY_RECEIPT) && rw->p->sender[0] != '\0') {
		snprintf(value, sizeof(value), "<%.150s>", rw->p->sender);
		if (add_header_edit(res, HEADER_ADD, "Disposition-Notification-To", value, 0) < 0)
			return -1;
	}
	return 0;
}

static void
result_reset_edits(struct rewrite_result *res)
{
	char reason[sizeof(res->reason)];

	memcpy(reason, res->reason, sizeof(reason));
	rewrite_result_free(res);
	memcpy(res->reason, reason, sizeof(reason));
}

int
rewrite_message(const struct rewrite_params *p, const char *msg, size_t len,
		struct rewrite_result *res)
{
	struct rw rw;
	struct mbuf pixel, fhtml, ftext;
	struct edit_plan plan = { 0 };
	bool pixel_added = false;
	unsigned links = 0;
	int rc = 0;

	memset(res, 0, sizeof(*res));
	memset(&rw, 0, sizeof(rw));
	mbuf_init(&res->body);
	mbuf_init(&pixel);
	mbuf_init(&fhtml);
	mbuf_init(&ftext);
	rw.p = p;
	rw.res = res;
	res->sent = p->now;
	if (p->msgid)
		snprintf(res->msgid, sizeof(res->msgid), "%s", p->msgid);
	else if (msgid_generate(res->msgid) < 0)
		rw.oom = true;

	if (rw.oom) {
		skip(&rw, "cannot generate a message id");
		goto fail;
	}
	if (len > p->max_message_size) {
		skip(&rw, "size: %zu octets is over max_message_size (%zu)", len,
		     p->max_message_size);
		goto fail;
	}
	if (mime_parse(msg, len, &rw.m) < 0) {
		skip(&rw, "%s", rw.m.reason);
		goto fail;
	}
	/* Added fields would run on from a last field without a line break. */
	if (len > 0 && rw.m.parts[0].hdr_end == len && msg[len - 1] != '\n') {
		skip(&rw, "mime: the header does not end with a line break");
		goto fail;
	}
	if (check_protected(&rw) < 0 || collect_unsubscribe(&rw) < 0)
		goto fail;
	select_parts(&rw, 0);
	if (rw.n_targets == 0) {
		skip(&rw, "no editable part (top level is %s/%s)", rw.m.parts[0].type,
		     rw.m.parts[0].subtype);
		goto fail;
	}
	if (render_plan(&rw, &plan, &pixel, &fhtml, &ftext) < 0) {
		rw.oom = true;
		goto fail;
	}
	for (size_t i = 0; i < rw.n_targets; i++)
		if (edit_part(&rw, &rw.targets[i], &plan, &pixel_added, &links) < 0)
			goto fail;
	if (finish_headers(&rw, pixel_added, links) < 0 || build_body(&rw) < 0)
		goto fail;
	res->edited = true;
	goto out;
fail:
	if (rw.oom || res->reason[0] == '\0' || strcmp(res->reason, "out of memory") == 0) {
		snprintf(res->reason, sizeof(res->reason), "out of memory");
		rc = -1;
	}
	result_reset_edits(res);
out:
	for (size_t i = 0; i < rw.n_splices; i++)
		mbuf_free(&rw.splices[i].text);
	for (size_t i = 0; i < rw.n_unsub; i++)
		free(rw.unsub[i]);
	free(rw.unsub);
	mime_free(&rw.m);
	mbuf_free(&pixel);
	mbuf_free(&fhtml);
	mbuf_free(&ftext);
	return rc;
}

void
rewrite_result_free(struct rewrite_result *res)
{
	for (size_t i = 0; i < res->n_headers; i++) {
		free(res->headers[i].name);
		free(res->headers[i].value);
	}
	free(res->headers);
	for (size_t i = 0; i < res->n_links; i++)
		free(res->links[i].url);
	free(res->links);
	mbuf_free(&res->body);
	res->headers = NULL;
	res->links = NULL;
	res->n_headers = res->n_links = 0;
	res->edited = false;
}

int
rewrite_apply(const char *msg, size_t len, const struct rewrite_result *res, struct mbuf *out)
{
	struct mime_message m;
	size_t name, nlen, value, vlen, pos = 0, next;

	if (!res->edited)
		return mbuf_append(out, msg, len);
	/* The header block, the added fields and the new body. */
	mbuf_reserve(out, len + res->body.len + 1024);
	/* Only the header block is needed; a header-only parse cannot fail
	 * where rewrite_message succeeded. */
	memset(&m, 0, sizeof(m));
	size_t le = 0;
	while (le < len && msg[le] != '\n')
		le++;
	const char *eol = (le > 0 && le < len && msg[le - 1] == '\r') ? "\r\n" : "\n";
	int seen[8] = { 0 };
	while ((next = mime_next_header(msg, pos, len, &name, &nlen, &value, &vlen)) != 0) {
		bool replaced = false;
		for (size_t i = 0; i < res->n_headers && i < 8; i++) {
			const struct header_edit *h = &res->headers[i];
			if (h->op != HEADER_CHANGE || strlen(h->name) != nlen ||
			    strncasecmp(h->name, msg + name, nlen) != 0)
				continue;
			if (++seen[i] == h->index) {
				mbuf_printf(out, "%s: %s%s", h->name, h->value, eol);
				replaced = true;
			}
		}
		if (!replaced)
			mbuf_append(out, msg + pos, next - pos);
		pos = next;
	}
	for (size_t i = 0; i < res->n_headers; i++)
		if (res->headers[i].op == HEADER_ADD)
			mbuf_printf(out, "%s: %s%s", res->headers[i].name, res->headers[i].value, eol);
	/* The empty line as it was (even when it differs from the first
	 * line's ending), or eol for a message that ends in its header; then
	 * the new body. */
	size_t sep = pos;
	if (pos < len && msg[pos] == '\r')
		pos++;
	if (pos < len && msg[pos] == '\n')
		pos++;
	if (pos > sep)
		mbuf_append(out, msg + sep, pos - sep);
	else
		mbuf_puts(out, eol);
	mbuf_append(out, res->body.data ? res->body.data : "", res->body.len);
	return out->failed ? -1 : 0;
}
