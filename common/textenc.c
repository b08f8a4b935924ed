/* textenc: UTF-8 decoding and encoding, HTML and JSON escaping (see
 * textenc.h). The escapers copy runs of octets that need nothing at once:
 * they run on every signed URL and on every cell of a report. */
#include <stdbool.h>
#include <string.h>
#include "textenc.h"

size_t
text_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
	uint32_t c = s[0], v, min;
	size_t len;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	/* 0xc0, 0xc1 and 0xf5.. could only start overlong or too large forms */
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, min = 0x80, v = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, min = 0x800, v = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, min = 0x10000, v = c & 0x07;
	else
		goto bad;
	if (len > n)
		goto bad;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			goto bad;
		v = v << 6 | (s[i] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		goto bad;
	*cp = v;
	return len;
bad:
	*cp = TEXT_REPLACEMENT;
	return 0;
}

bool
text_utf8_printable(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t len = text_utf8_decode(p + i, n - i, &cp);
		if (len == 0 || cp < 0x20 || (cp >= 0x7f && cp <= 0x9f))
			return false;
		i += len;
	}
	return true;
}

size_t
text_utf8_encode(uint32_t cp, char out[4])
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | cp >> 12);
		out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | cp >> 18);
	out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

static void
out_write(struct text_out out, const char *s, size_t n)
{
	if (n == 0)
		return;
	if (out.buf != NULL)
		mbuf_append(out.buf, s, n);
	else if (n == 1)
		putc_unlocked(*s, out.file);	/* a quote: fwrite's locking costs more */
	else
		fwrite_unlocked(s, 1, n, out.file);
}

static void
out_puts(struct text_out out, const char *s)
{
	out_write(out, s, strlen(s));
}

static int
out_status(struct text_out out)
{
	if (out.buf != NULL)
		return out.buf->failed ? -1 : 0;
	return ferror_unlocked(out.file) ? -1 : 0;
}

size_t
text_decimal(char *out, unsigned long long v)
{
	char rev[20];
	size_t n = 0;

	do {
		rev[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	for (size_t i = 0; i < n; i++)
		out[i] = rev[n - 1 - i];
	out[n] = '\0';
	return n;
}

int
text_put_utf8(struct text_out out, uint32_t cp)
{
	char b[4];

	out_write(out, b, text_utf8_encode(cp, b));
	return out_status(out);
}

/* The entity for an octet that HTML text and attributes need escaped. */
static const char *
html_entity(unsigned char c)
{
	switch (c) {
	case '&': return "&amp;";
	case '<': return "&lt;";
	case '>': return "&gt;";
	case '"': return "&quot;";
	case '\'': return "&#39;";
	default: return NULL;
	}
}

int
text_html_escape(struct text_out out, const char *s, size_t len)
{
	size_t run = 0;

	for (size_t i = 0; i < len; i++) {
		const char *rep = html_entity((unsigned char)s[i]);
		if (rep == NULL)
			continue;
		out_write(out, s + run, i - run);
		out_puts(out, rep);
		run = i + 1;
	}
	out_write(out, s + run, len - run);
	return out_status(out);
}

/* Controls other than white space are not allowed in HTML. */
static int
html_forbidden(uint32_t cp)
{
	return (cp < 0x20 && cp != '\t' && cp != '\n') || (cp >= 0x7f && cp < 0xa0);
}

int
text_html_escape_utf8(struct text_out out, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t run = 0, i = 0;

	while (i < len) {
		const char *rep = html_entity(p[i]);
		uint32_t cp;
		size_t n = text_utf8_decode(p + i, len - i, &cp);

		if (rep == NULL && n > 0 && !html_forbidden(cp)) {
			i += n;	/* valid and allowed: copied as it is */
			continue;
		}
		out_write(out, s + run, i - run);
		if (rep != NULL)
			out_puts(out, rep);
		else
			out_puts(out, "\xef\xbf\xbd");	/* U+FFFD */
		i += n > 0 ? n : 1;
		run = i;
	}
	out_write(out, s + run, len - run);
	return out_status(out);
}

/* The octets a JSON string takes as they are without looking further:
 * printable ASCII but for '"' and '\\'. */
static const bool json_plain[256] = {
	[' '] = 1, ['!'] = 1, ['#' ... '['] = 1, [']' ... '~'] = 1,
};

int
text_json_string(struct text_out out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t run = 0, i = 0, len;

	if (s == NULL) {
		out_puts(out, "null");
		return out_status(out);
	}
	len = strlen(s);
	out_write(out, "\"", 1);
	while (i < len) {
		char esc[8];
		uint32_t cp;

		/* Printable ASCII, nearly all of a report: no decoding. */
		while (i < len && json_plain[p[i]])
			i++;
		if (i == len)
			break;
		size_t n = text_utf8_decode(p + i, len - i, &cp);

		if (n > 0 && cp >= 0x20 && cp != '"' && cp != '\\' && cp != 0x7f &&
		    cp != 0x2028 && cp != 0x2029) {
			i += n;
			continue;
		}
		out_write(out, s + run, i - run);
		switch (cp) {
		case '"': out_puts(out, "\\\""); break;
		case '\\': out_puts(out, "\\\\"); break;
		case '\n': out_puts(out, "\\n"); break;
		case '\r': out_puts(out, "\\r"); break;
		case '\t': out_puts(out, "\\t"); break;
		case TEXT_REPLACEMENT: out_puts(out, "\xef\xbf\xbd"); break;
		default:
			/* controls, DEL, and U+2028/9 for JavaScript consumers */
			snprintf(esc, sizeof(esc), "\\u%04x", (unsigned)cp);
			out_puts(out, esc);
		}
		i += n > 0 ? n : 1;
		run = i;
	}
	out_write(out, s + run, len - run);
	out_write(out, "\"", 1);
	return out_status(out);
}
