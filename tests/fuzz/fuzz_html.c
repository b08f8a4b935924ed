/* fuzz_html: libFuzzer target for html_edit() alone. The output must be the
 * input with the pixel and footer inserted once each and signed URLs in
 * place of href values, each signed for the href it replaced. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "html.h"
#include "links.h"
#include "mbuf.h"
#include "undo.h"

#define PIXEL "<img data-fuzz-pixel=\"1\">"
#define FOOTER "<p>fuzz footer</p>\n"
/* html_edit refuses input with NUL octets, so no href can look like one
 * of our signed URLs (html_escape passes the NUL through). */
#define SIGNED_PREFIX "https://fz.example/\0L"
#define SIGNED_PREFIX_LEN (sizeof(SIGNED_PREFIX) - 1)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct signed_links {
	char **url;		/* what each rewritten link was signed for */
	size_t n;
};

/* Rewrites every http(s) link except those mentioning "keep", as
 * SIGNED_PREFIX<number>z, numbered from 1 in the order they were signed. */
static int
sign(void *arg, const char *url, size_t len, struct mbuf *out)
{
	struct signed_links *s = arg;

	if (memmem(url, len, "keep", 4) != NULL)
		return 0;
	char **u = realloc(s->url, (s->n + 1) * sizeof(*u));
	if (u == NULL)
		return -1;
	s->url = u;
	if ((u[s->n] = strndup(url, len)) == NULL)
		return -1;
	s->n++;
	mbuf_append(out, SIGNED_PREFIX, SIGNED_PREFIX_LEN);
	return mbuf_printf(out, "%zuz", s->n) < 0 ? -1 : 1;
}

static size_t
url_len(void *arg, const char *s, size_t n)
{
	size_t p = SIGNED_PREFIX_LEN, d = p;

	(void)arg;
	while (d < n && s[d] >= '0' && s[d] <= '9')
		d++;
	return d > p && d < n && s[d] == 'z' ? d + 1 : 0;
}

struct walk_arg {
	const char *in;
	size_t len;
	struct signed_links *links;
	size_t seen;
};

/* An href value ends where its quote or, unquoted, a blank or '>' is:
 * the same octet that follows the URL in the output. */
static size_t
orig_end(void *arg, size_t i, int next)
{
	struct walk_arg *a = arg;
	const char *e = next < 0 ? NULL : memchr(a->in + i, next, a->len - i);

	return e == NULL ? (size_t)-1 : (size_t)(e - a->in);
}

static bool
url_matches(void *arg, const char *url, size_t ulen, size_t orig, size_t olen, const char **why)
{
	struct walk_arg *a = arg;
	size_t num = strtoul(url + SIGNED_PREFIX_LEN, NULL, 10);
	bool ascii = true;

	(void)ulen;
	if (num != ++a->seen || num > a->links->n) {
		*why = "signed URLs out of order";
		return false;
	}
	for (size_t k = 0; k < olen; k++)
		ascii &= (unsigned char)a->in[orig + k] < 0x80;
	if (!ascii)
		return true;	/* decoding it needs the part's charset */
	struct mbuf dec;
	mbuf_init(&dec);
	bool ok = html_attr_decode(a->in + orig, olen, &dec) == 0;
	url_browser_clean(&dec);
	/* A relative href was signed resolved against <base href>. */
	if (ok && url_has_scheme(dec.data, dec.len) &&
	    (dec.len != strlen(a->links->url[num - 1]) ||
	     memcmp(dec.data, a->links->url[num - 1], dec.len) != 0)) {
		*why = "the signed URL is not what the href said";
		ok = false;
	}
	mbuf_free(&dec);
	return ok;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The options follow from the length, so every octet stays HTML. */
	static const char *const charsets[] = {
		NULL, "utf-8", "iso-8859-1", "windows-1252", "shift_jis", "us-ascii",
	};
	const char *in = (const char *)data;
	struct signed_links links = { NULL, 0 };
	struct html_opts o = {
		.pixel_html = PIXEL,
		.pixel_top = (size / 6) % 2 == 1,
		.footer_html = FOOTER,
		.clicks = true,
		.sign = sign,
		.sign_arg = &links,
	};
	struct html_outcome oc;
	struct mbuf out;
	char err[160] = "";

	mbuf_init(&out);
	if (html_edit(in, size, charsets[size % 6], &o, &out, &oc, err, sizeof(err)) == 0) {
		if (err[0] != '\0')
			fuzz_fail("html", "success with an error message: %s", err);
		struct walk_arg a = { in, size, &links, 0 };
		struct undo_walk w = {
			.in = in, .in_len = size,
			.out = out.data ? out.data : "", .out_len = out.len,
			.insert = { PIXEL, FOOTER },
			.url_prefix = SIGNED_PREFIX,
			.url_prefix_len = SIGNED_PREFIX_LEN,
			.url_len = url_len,
			.orig_end = orig_end,
			.url_matches = url_matches,
			.arg = &a,
		};
		if (!undo_run(&w))
			fuzz_fail("html", "undoing the edits does not give the input: %s", w.why);
		if (w.inserted[0] != 1 || !oc.pixel_added)
			fuzz_fail("html", "%u pixels inserted", w.inserted[0]);
		if (w.inserted[1] != 1)
			fuzz_fail("html", "%u footers inserted", w.inserted[1]);
		if (w.urls != oc.links_rewritten || w.urls != links.n)
			fuzz_fail("html", "%u URLs in the output, %u said rewritten, %zu signed",
				  w.urls, oc.links_rewritten, links.n);
	} else if (err[0] == '\0') {
		fuzz_fail("html", "failure without a reason");
	}
	for (size_t i = 0; i < links.n; i++)
		free(links.url[i]);
	free(links.url);
	mbuf_free(&out);
	return 0;
}
