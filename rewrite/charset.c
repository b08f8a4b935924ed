/* charset: UTF-8 views of decoded body parts with an offset map back to the
 * original bytes, and conversion of inserted text into a part's charset.
 * Conversion uses glibc's iconv; UTF-8 validation is ours (it is small). */
#include <errno.h>
#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "charset.h"
#include "textenc.h"

static const char *const stateful_prefixes[] = {
	"iso-2022", "utf-7", "utf7", "hz", "utf-16", "utf16", "utf-32", "utf32",
	"ucs-2", "ucs2", "ucs-4", "ucs4", "unicode", "csiso2022",
};

static int
is_utf8_name(const char *cs)
{
	return strcasecmp(cs, "utf-8") == 0 || strcasecmp(cs, "utf8") == 0;
}

static int
is_ascii_name(const char *cs)
{
	return strcasecmp(cs, "us-ascii") == 0 || strcasecmp(cs, "ascii") == 0 ||
	    strcasecmp(cs, "ansi_x3.4-1968") == 0;
}

int
utf8_valid(const char *s, size_t len)
{
	for (size_t i = 0; i < len;) {
		/* Mail HTML is mostly ASCII: skip it eight octets at a time
		 * (every part is validated before it is parsed). */
		while (i + 8 <= len) {
			uint64_t w;
			memcpy(&w, s + i, 8);
			if (w & 0x8080808080808080ull)
				break;
			i += 8;
		}
		if (i >= len)
			break;
		uint32_t cp;
		size_t n = text_utf8_decode((const unsigned char *)s + i, len - i, &cp);
		if (n == 0)
			return 0;
		i += n;
	}
	return 1;
}

struct view_builder {
	struct mbuf text;
	uint32_t *map;
	size_t map_cap;
};

static int
builder_add(struct view_builder *b, const char *utf8, size_t n, size_t orig)
{
	if (b->text.len + n + 1 > b->map_cap) {
		size_t cap = b->map_cap ? b->map_cap * 2 : 1024;
		while (cap < b->text.len + n + 1)
			cap *= 2;
		uint32_t *m = realloc(b->map, cap * sizeof(*m));
		if (m == NULL)
			return -1;
		b->map = m;
		b->map_cap = cap;
	}
	for (size_t i = 0; i < n; i++)
		b->map[b->text.len + i] = (uint32_t)orig;
	return mbuf_append(&b->text, utf8, n);
}

static int
builder_finish(struct view_builder *b, size_t orig_len, struct utf8_view *v)
{
	if (builder_add(b, "", 0, 0) < 0)	/* makes room for the end entry */
		return -1;
	b->map[b->text.len] = (uint32_t)orig_len;
	v->len = b->text.len;
	v->owned = mbuf_steal(&b->text, NULL);
	v->text = v->owned;
	v->map = b->map;
	return 0;
}

static const char replacement[] = "\xef\xbf\xbd";

static int
view_from_bad_utf8(const char *in, size_t len, struct utf8_view *v)
{
	struct view_builder b = { 0 };

	mbuf_init(&b.text);
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t n = text_utf8_decode((const unsigned char *)in + i, len - i, &cp);
		if (builder_add(&b, n ? in + i : replacement, n ? n : 3, i) < 0)
			goto fail;
		i += n ? n : 1;
	}
	if (builder_finish(&b, len, v) == 0)
		return 0;
fail:
	mbuf_free(&b.text);
	free(b.map);
	return -1;
}

/* Converts one character starting at in; returns the bytes consumed (0 on
 * an invalid or incomplete sequence) and the UTF-8 in out/outn. */
static size_t
iconv_one(iconv_t cd, const char *in, size_t len, char *out, size_t *outn)
{
	for (size_t take = 1; take <= len && take <= 8; take++) {
		char *ip = (char *)in, *op = out;
		size_t il = take, ol = 16;

		iconv(cd, NULL, NULL, NULL, NULL);
		if (iconv(cd, &ip, &il, &op, &ol) != (size_t)-1 && il == 0) {
			*outn = (size_t)(op - out);
			return take;
		}
		if (errno != EINVAL)
			return 0;
	}
	return 0;
}

static int
view_from_iconv(iconv_t cd, const char *in, size_t len, struct utf8_view *v)
{
	struct view_builder b = { 0 };
	char out[16];
	size_t outn;

	mbuf_init(&b.text);
	for (size_t i = 0; i < len;) {
		unsigned char c = (unsigned char)in[i];
		size_t took;

		if (c < 0x80) {
			/* The charset is ASCII-compatible: checked by the caller. */
			out[0] = (char)c;
			outn = 1;
			took = 1;
		} else if ((took = iconv_one(cd, in + i, len - i, out, &outn)) == 0) {
			memcpy(out, replacement, 3);
			outn = 3;
			took = 1;
		}
		if (builder_add(&b, out, outn, i) < 0)
			goto fail;
		i += took;
	}
	if (builder_finish(&b, len, v) == 0)
		return 0;
fail:
	mbuf_free(&b.text);
	free(b.map);
	return -1;
}

static int
charset_usable(const char *cs, char *err, size_t errlen)
{
	for (size_t i = 0; i < sizeof(stateful_prefixes) / sizeof(*stateful_prefixes); i++)
		if (strncasecmp(cs, stateful_prefixes[i], strlen(stateful_prefixes[i])) == 0) {
			snprintf(err, errlen, "charset: %s is not ASCII-compatible", cs);
			return 0;
		}
	return 1;
}

int
charset_view(const char *charset, const char *in, size_t len,
	     struct utf8_view *v, char *err, size_t errlen)
{
	memset(v, 0, sizeof(*v));
	int valid = utf8_valid(in, len);

	if (charset == NULL || *charset == '\0' || is_ascii_name(charset))
		charset = valid ? "utf-8" : "windows-1252";
	if (is_utf8_name(charset)) {
		if (valid) {
			v->text = in;
			v->len = len;
			return 0;
		}
		if (view_from_bad_utf8(in, len, v) < 0) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		return 0;
	}
	if (!charset_usable(charset, err, errlen))
		return -1;
	iconv_t cd = iconv_open("UTF-8", charset);
	if (cd == (iconv_t)-1) {
		snprintf(err, errlen, "charset: unknown charset %.60s", charset);
		return -1;
	}
	/* A charset whose ASCII range is not ASCII would move tag bytes. */
	static const char probe[] = "<a href=\"x\">\r\n";
	char pout[64], *ip = (char *)probe, *op = pout;
	size_t il = sizeof(probe) - 1, ol = sizeof(pout);
	if (iconv(cd, &ip, &il, &op, &ol) == (size_t)-1 ||
	    (size_t)(op - pout) != sizeof(probe) - 1 || memcmp(pout, probe, sizeof(probe) - 1) != 0) {
		iconv_close(cd);
		snprintf(err, errlen, "charset: %.60s is not ASCII-compatible", charset);
		return -1;
	}
	int rc = view_from_iconv(cd, in, len, v);
	iconv_close(cd);
	if (rc < 0)
		snprintf(err, errlen, "out of memory");
	return rc;
}

size_t
charset_view_orig(const struct utf8_view *v, size_t pos)
{
	if (v->map == NULL)
		return pos;
	return v->map[pos > v->len ? v->len : pos];
}

void
charset_view_free(struct utf8_view *v)
{
	free(v->owned);
	free(v->map);
	memset(v, 0, sizeof(*v));
}

int
charset_from_utf8(const char *charset, const char *in, size_t len, struct mbuf *out)
{
	if (charset == NULL || *charset == '\0' || is_ascii_name(charset)) {
		for (size_t i = 0; i < len; i++)
			if ((unsigned char)in[i] >= 0x80)
				return -1;
		return mbuf_append(out, in, len);
	}
	if (is_utf8_name(charset))
		return mbuf_append(out, in, len);
	char err[8];
	if (!charset_usable(charset, err, sizeof(err)))
		return -1;
	iconv_t cd = iconv_open(charset, "UTF-8");
	if (cd == (iconv_t)-1)
		return -1;
	char buf[4096];
	char *ip = (char *)in;
	size_t il = len;
	int rc = 0;
	while (il > 0 && rc == 0) {
		char *op = buf;
		size_t ol = sizeof(buf);
		size_t r = iconv(cd, &ip, &il, &op, &ol);
		if (mbuf_append(out, buf, (size_t)(op - buf)) < 0)
			rc = -1;
		else if (r == (size_t)-1 && errno != E2BIG)
			rc = -1;
	}
	if (rc == 0) {
		char *op = buf;
		size_t ol = sizeof(buf);
		iconv(cd, NULL, NULL, &op, &ol);
		rc = mbuf_append(out, buf, (size_t)(op - buf));
	}
	iconv_close(cd);
	return rc;
}
