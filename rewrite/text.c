/* text: edits of text/plain parts. URLs are found in a UTF-8 view of the
 * part and replaced in the original bytes; the footer is converted into
 * the part's charset and appended after a line break. */
#include <ctype.h>
#include <stdio.h>
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

/* The text before the URL on its line says "unsubscribe". */
static bool
line_says_unsubscribe(const char *t, size_t i)
{
	size_t s = i;

	while (s > 0 && t[s - 1] != '\n' && i - s < 120)
		s--;
	return says_unsubscribe(t + s, i - s);
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
	if (o->clicks) {
		for (size_t i = 0; i < view.len; i++) {
			if (t[i] != 'h' && t[i] != 'H')
				continue;
			size_t n = text_url_at(t, view.len, i);
			if (n == 0)
				continue;
			struct mbuf url;
			mbuf_init(&url);
			int signed_it = 0;
			if (!line_says_unsubscribe(t, i))
				signed_it = o->sign(o->sign_arg, t + i, n, &url);
			if (signed_it < 0) {
				snprintf(err, errlen, "text: could not sign a link");
				mbuf_free(&url);
				goto done;
			}
			if (signed_it > 0) {
				size_t s = charset_view_orig(&view, i);
				mbuf_append(out, in + done_to, s - done_to);
				mbuf_append(out, url.data, url.len);
				done_to = charset_view_orig(&view, i + n);
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
		if (len > 0 && in[len - 1] != '\n')
			mbuf_puts(out, eol);
		for (const char *f = o->footer_text; *f; f++) {
			if (*f == '\r')
				continue;
			if (*f == '\n')
				mbuf_puts(&footer, eol);
			else
				mbuf_putc(&footer, (unsigned char)*f);
		}
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
	charset_view_free(&view);
	return rc;
}
