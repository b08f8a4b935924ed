/* text: edits of text/plain parts. URLs are found in a UTF-8 view of the
 * part (format=flowed: in the lines a reader sees, joined) and replaced in
 * the original bytes; the footer is converted into the part's charset and
 * appended after a line break. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "charset.h"
#include "text.h"

static bool
url_char(unsigned char c)
{
	/* Non-ASCII stays inside: internationalised URLs are written raw. */
	return c > ' ' && c != 0x7f && !strchr("<>\"'`{}|\\^", c);
}

size_t
text_url_at(const char *t, size_t len, size_t i)
{
	size_t p;

	/* Asked at every offset of a text part: most are no 'h'. */
	if (i >= len || (t[i] | 0x20) != 'h')
		return 0;
	if (i > 0 && (isalnum((unsigned char)t[i - 1]) || t[i - 1] == '/'))
		return 0;
	if (i + 7 < len && strncasecmp(t + i, "http://", 7) == 0)
		p = i + 7;
	else if (i + 8 < len && strncasecmp(t + i, "https://", 8) == 0)
		p = i + 8;
	else
		return 0;
	size_t host = p;
	int depth = 0;		/* '(' minus ')' in the URL, counted once */
	while (p < len && url_char((unsigned char)t[p])) {
		depth += t[p] == '(' ? 1 : t[p] == ')' ? -1 : 0;
		p++;
	}
	while (p > host) {
		char c = t[p - 1];
		if (strchr(".,;:!?>]", c) != NULL) {
			p--;
		} else if (c == ')' && depth < 0) {
			p--;
			depth++;
		} else {
			break;
		}
	}
	if (p <= host)
		return 0;
	return p - i;
}

struct splice {
	size_t start, end;
	struct mbuf text;
};

/* format=flowed (RFC 3676): the line t[s, ce) (line break excluded) ends in
 * a soft break: a space, unless it is the signature separator "-- ". The
 * quote marks and the space-stuffing space end at *body. */
static bool
flowed_soft_break(const char *t, size_t s, size_t ce, size_t *depth, size_t *body)
{
	size_t q = s;

	while (q < ce && t[q] == '>')
		q++;
	*depth = q - s;
	*body = q + (q < ce && t[q] == ' ');
	if (ce - *body == 3 && memcmp(t + *body, "-- ", 3) == 0)
		return false;
	return ce > *body && t[ce - 1] == ' ';
}

/* Joins t as a format=flowed reader does: a soft break and the next line's
 * quote marks and stuffing go (and with delsp=yes the break's space), when
 * that line has the same quote depth. to_view[k] is the offset in t of
 * out[k]. A URL whose offsets are not consecutive in t crosses a soft
 * break. */
static int
flowed_unwrap(const char *t, size_t len, bool delsp, struct mbuf *out, size_t **to_view)
{
	size_t i = 0, from = 0;		/* from: where the current line's copy starts */

	if ((*to_view = malloc((len + 1) * sizeof(**to_view))) == NULL)
		return -1;
	while (i < len) {
		const char *nl = memchr(t + i, '\n', len - i);
		size_t e = nl ? (size_t)(nl - t) : len, ce = e, depth, body;
		if (ce > i && t[ce - 1] == '\r')
			ce--;
		bool soft = flowed_soft_break(t, i, ce, &depth, &body) && nl != NULL;
		size_t next = e + 1, next_depth = 0, next_body = next;
		if (soft) {
			size_t nce = next;
			while (nce < len && t[nce] != '\n')
				nce++;
			if (nce > next && t[nce - 1] == '\r')
				nce--;
			flowed_soft_break(t, next, nce, &next_depth, &next_body);
		}
		bool join = soft && next < len && next_depth == depth;
		size_t to = join ? ce - delsp : (nl ? e + 1 : len);
		for (size_t k = from; k < to; k++)
			(*to_view)[out->len + (k - from)] = k;
		mbuf_append(out, t + from, to - from);
		from = join ? next_body : next;
		i = next;
	}
	(*to_view)[out->len] = len;
	return out->failed ? -1 : 0;
}

/* The text before the URL on its line says "unsubscribe". */
static bool
line_says_unsubscribe(const char *t, size_t i)
{
	size_t s = i;

	while (s > 0 && t[s - 1] != '\n' && i - s < 120)
		s--;
	return says_unsubscribe(t + s, i - s);
}

/* The last line of t (a final line break excluded) ends in a flowed soft
 * break: text appended after it would join it. */
static bool
flowed_ends_soft(const char *t, size_t len)
{
	size_t e = len, depth, body;

	if (e > 0 && t[e - 1] == '\n')
		e--;
	size_t s = e;
	while (s > 0 && t[s - 1] != '\n')
		s--;
	if (e > s && t[e - 1] == '\r')
		e--;
	return flowed_soft_break(t, s, e, &depth, &body);
}

/* Appends the footer text with '\n' as eol. In a flowed part its lines
 * are written as fixed lines (no trailing space, but for the signature
 * separator "-- ") and space-stuffed (RFC 3676 4.4), so no reader joins
 * or unquotes them. */
static void
footer_lines(const char *f, const char *eol, bool flowed, struct mbuf *out)
{
	while (*f) {
		size_t n = strcspn(f, "\n"), keep = n;
		while (keep > 0 && f[keep - 1] == '\r')
			keep--;
		bool sig = keep == 3 && memcmp(f, "-- ", 3) == 0;
		while (flowed && !sig && keep > 0 && (f[keep - 1] == ' ' || f[keep - 1] == '\r'))
			keep--;
		if (flowed && (*f == ' ' || *f == '>' || strncmp(f, "From ", 5) == 0))
			mbuf_putc(out, ' ');
		for (size_t k = 0; k < keep; k++)
			if (f[k] != '\r')
				mbuf_putc(out, (unsigned char)f[k]);
		f += n;
		if (*f == '\n') {
			mbuf_puts(out, eol);
			f++;
		}
	}
}

int
text_edit(const char *in, size_t len, const char *charset, const struct text_opts *o,
	  struct mbuf *out, unsigned *links_rewritten, char *err, size_t errlen)
{
	struct utf8_view view;
	size_t done_to = 0;
	int rc = -1;

	*links_rewritten = 0;
	if (charset_view(charset, in, len, &view, err, errlen) < 0)
		return -1;
	const char *t = view.text;
	struct mbuf joined;
	size_t *to_view = NULL;
	mbuf_init(&joined);
	if (o->clicks) {
		const char *s = t;
		size_t slen = view.len;
		if (o->flowed) {
			if (flowed_unwrap(t, view.len, o->delsp, &joined, &to_view) < 0) {
				snprintf(err, errlen, "out of memory");
				goto done;
			}
			s = joined.data ? joined.data : "";
			slen = joined.len;
		}
		for (size_t i = 0; i < slen; i++) {
			if (s[i] != 'h' && s[i] != 'H')
				continue;
			size_t n = text_url_at(s, slen, i);
			if (n == 0)
				continue;
			size_t vs = to_view ? to_view[i] : i;
			size_t ve = to_view ? to_view[i + n - 1] + 1 : i + n;
			/* A URL across a flowed soft break stays as written: a
			 * piece signed alone is a dead link, and putting the whole
			 * in its place would also remove the break and the next
			 * line's quote marks, bytes that are not the URL. */
			if (ve - vs != n) {
				i += n - 1;
				continue;
			}
			struct mbuf url;
			mbuf_init(&url);
			int signed_it = 0;
			if (!line_says_unsubscribe(s, i))
				signed_it = o->sign(o->sign_arg, s + i, n, &url);
			if (signed_it < 0) {
				snprintf(err, errlen, "text: could not sign a link");
				mbuf_free(&url);
				goto done;
			}
			if (signed_it > 0) {
				size_t start = charset_view_orig(&view, vs);
				mbuf_append(out, in + done_to, start - done_to);
				mbuf_append(out, url.data, url.len);
				done_to = charset_view_orig(&view, ve);
				(*links_rewritten)++;
			}
			mbuf_free(&url);
			i += n - 1;
		}
	}
	mbuf_append(out, in + done_to, len - done_to);
	if (o->footer_text != NULL) {
		const char *eol = o->eol;
		struct mbuf footer, conv;
		mbuf_init(&footer);
		mbuf_init(&conv);
		/* A part that ends in a bare CR: the line break before the
		 * footer would join it into one CRLF, and the CR would be lost. */
		if (len > 0 && in[len - 1] == '\r') {
			snprintf(err, errlen, "text: the part ends in a bare CR");
			mbuf_free(&footer);
			goto done;
		}
		if (len > 0 && in[len - 1] != '\n')
			mbuf_puts(out, eol);
		/* An empty line ends a flowed paragraph: without one (the
		 * default footer starts with it) the footer would be read as
		 * the end of the message's last line. */
		if (o->flowed && o->footer_text[strspn(o->footer_text, "\r")] != '\n' &&
		    flowed_ends_soft(t, view.len))
			mbuf_puts(out, eol);
		footer_lines(o->footer_text, eol, o->flowed, &footer);
		int ok = !footer.failed &&
		    charset_from_utf8(charset, footer.data ? footer.data : "", footer.len, &conv) == 0;
		if (ok)
			mbuf_append(out, conv.data, conv.len);
		mbuf_free(&footer);
		mbuf_free(&conv);
		if (!ok) {
			snprintf(err, errlen, "charset: the footer cannot be written in %.40s",
				 charset && *charset ? charset : "us-ascii");
			goto done;
		}
	}
	if (out->failed) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	rc = 0;
done:
	free(to_view);
	mbuf_free(&joined);
	charset_view_free(&view);
	return rc;
}
