/* Unit tests of rewrite/text.c on format=flowed parts (RFC 3676): a URL
 * that a flowed reader joins across a soft break must never be signed in
 * pieces, and the footer must never be joined to the part's last line. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "mbuf.h"
#include "text.h"

/* Records each URL offered for signing and writes "<N>" in its place. */
struct signer {
	char urls[8][128];
	unsigned n;
};

static int
record_sign(void *arg, const char *url, size_t len, struct mbuf *out)
{
	struct signer *s = arg;

	assert_true(s->n < 8 && len < sizeof(s->urls[0]));
	memcpy(s->urls[s->n], url, len);
	s->urls[s->n][len] = '\0';
	s->n++;
	return mbuf_printf(out, "<%u>", s->n) < 0 ? -1 : 1;
}

/* Edits in (UTF-8, CRLF) with text-clicks and the footer; checks the
 * output and the URLs signed (NULL-terminated list). */
static void
expect_edit(const char *in, bool flowed, bool delsp, const char *footer, const char *want,
	    const char *const *want_urls)
{
	struct signer s = { .n = 0 };
	struct text_opts o = {
		.footer_text = footer, .eol = "\r\n", .clicks = true,
		.flowed = flowed, .delsp = delsp, .sign = record_sign, .sign_arg = &s,
	};
	struct mbuf out;
	unsigned links = 0;
	char err[200] = "";
	size_t k = 0;

	mbuf_init(&out);
	assert_int_equal(text_edit(in, strlen(in), "utf-8", &o, &out, &links, err, sizeof(err)), 0);
	if (out.len != strlen(want) || memcmp(out.data, want, out.len) != 0)
		fail_msg("edit of \"%s\" gave \"%.*s\", expected \"%s\"", in, (int)out.len, out.data, want);
	for (; want_urls[k]; k++)
		if (k >= s.n || strcmp(s.urls[k], want_urls[k]) != 0)
			fail_msg("URL %zu signed: \"%s\", expected \"%s\"", k + 1,
				 k < s.n ? s.urls[k] : "(none)", want_urls[k]);
	assert_int_equal(s.n, k);
	assert_int_equal(links, k);
	mbuf_free(&out);
}

#define URLS(...) (const char *const[]){ __VA_ARGS__, NULL }
#define NO_URLS (const char *const[]){ NULL }

/* delsp=yes: the soft break's space is not text, so the URL goes on. */
static void
test_delsp_yes_url_across_soft_break(void **state)
{
	(void)state;
	expect_edit("See https://example.com/very/long/ \r\npath/page.html today.\r\n", true, true, "F",
		    "See https://example.com/very/long/ \r\npath/page.html today.\r\nF", NO_URLS);
	/* A piece that is a URL by itself is not signed either. */
	expect_edit("Go https://example.com/r?u= \r\nhttps://other.example/x now\r\n", true, true, "F",
		    "Go https://example.com/r?u= \r\nhttps://other.example/x now\r\nF", NO_URLS);
	/* Quoted: the marks and stuffing of the next line are not text. */
	expect_edit("> https://example.com/q/ \r\n> more?x=1\r\n", true, true, "F",
		    "> https://example.com/q/ \r\n> more?x=1\r\nF", NO_URLS);
	/* The same text, not flowed: each line is what it says. */
	expect_edit("See https://example.com/very/long/ \r\npath/page.html today.\r\n", false, false, "F",
		    "See <1> \r\npath/page.html today.\r\nF", URLS("https://example.com/very/long/"));
}

/* URLs that a flowed reader sees whole are signed. */
static void
test_flowed_whole_urls(void **state)
{
	(void)state;
	/* delsp=no: the space before the break is text and ends the URL. */
	expect_edit("See https://example.com/a/b \r\nnext line\r\n", true, false, "F",
		    "See <1> \r\nnext line\r\nF", URLS("https://example.com/a/b"));
	/* delsp=yes, the next line starts with punctuation. */
	expect_edit("See https://example.com/a \r\n, then\r\n", true, true, "F",
		    "See <1> \r\n, then\r\nF", URLS("https://example.com/a"));
	/* A different quote depth is not joined. */
	expect_edit("> https://example.com/d \r\nplain\r\n", true, true, "F",
		    "> <1> \r\nplain\r\nF", URLS("https://example.com/d"));
	/* Two URLs on joined lines, neither crossing. */
	expect_edit("https://example.com/1 and  \r\nhttps://example.com/2 end\r\n", true, true, "F",
		    "<1> and  \r\n<2> end\r\nF", URLS("https://example.com/1", "https://example.com/2"));
	/* The signature separator is not a soft break. */
	expect_edit("-- \r\nhttps://example.com/sig\r\n", true, true, "F",
		    "-- \r\n<1>\r\nF", URLS("https://example.com/sig"));
}

/* The footer starts its own paragraph, and its lines stay as written. */
static void
test_flowed_footer(void **state)
{
	(void)state;
	expect_edit("Bye \r\n", true, false, "F", "Bye \r\n\r\nF", NO_URLS);
	expect_edit("Bye ", true, true, "F", "Bye \r\n\r\nF", NO_URLS);
	expect_edit("Bye\r\n", true, false, "F", "Bye\r\nF", NO_URLS);
	expect_edit("-- \r\n", true, false, "F", "-- \r\nF", NO_URLS);
	expect_edit("Bye \r\n", false, false, "F", "Bye \r\nF", NO_URLS);
	/* A footer that starts with an empty line needs no other. */
	expect_edit("Bye \r\n", true, true, "\n-- \nF", "Bye \r\n\r\n-- \r\nF", NO_URLS);
	expect_edit("Bye\r\n", true, true, "\r\n-- \r\nF", "Bye\r\n\r\n-- \r\nF", NO_URLS);
	/* Trailing blanks would join footer lines; these starts need
	 * stuffing (RFC 3676 4.4). */
	expect_edit("Hi\r\n", true, false, "a  \n>b\n From\nFrom x \n-- \nc",
		    "Hi\r\na\r\n >b\r\n  From\r\n From x\r\n-- \r\nc", NO_URLS);
	expect_edit("Hi\r\n", false, false, "a  \n>b", "Hi\r\na  \r\n>b", NO_URLS);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_delsp_yes_url_across_soft_break),
		cmocka_unit_test(test_flowed_whole_urls),
		cmocka_unit_test(test_flowed_footer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
