/* Unit tests of common/textenc.c: which UTF-8 sequences are valid, the
 * encoder against the decoder at every boundary code point, and the exact
 * output of the HTML and JSON escapers, into an mbuf and onto a stream. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mbuf.h"
#include "textenc.h"

struct decode_case {
	const char *in;
	size_t len;		/* octets consumed; 0 = invalid */
	uint32_t cp;
};

static void
test_decode_table(void **state)
{
	static const struct decode_case cases[] = {
		{ "A", 1, 0x41 },
		{ "\x7f", 1, 0x7f },
		{ "\xc2\x80", 2, 0x80 },
		{ "\xdf\xbf", 2, 0x7ff },
		{ "\xe0\xa0\x80", 3, 0x800 },
		{ "\xe2\x80\xa8", 3, 0x2028 },
		{ "\xed\x9f\xbf", 3, 0xd7ff },
		{ "\xee\x80\x80", 3, 0xe000 },
		{ "\xef\xbf\xbd", 3, 0xfffd },
		{ "\xef\xbf\xbf", 3, 0xffff },
		{ "\xf0\x90\x80\x80", 4, 0x10000 },
		{ "\xf4\x8f\xbf\xbf", 4, 0x10ffff },
		/* overlong forms */
		{ "\xc0\xaf", 0, 0xfffd },
		{ "\xc1\xbf", 0, 0xfffd },
		{ "\xe0\x80\xaf", 0, 0xfffd },
		{ "\xe0\x9f\xbf", 0, 0xfffd },
		{ "\xf0\x8f\xbf\xbf", 0, 0xfffd },
		/* surrogates */
		{ "\xed\xa0\x80", 0, 0xfffd },
		{ "\xed\xbf\xbf", 0, 0xfffd },
		/* past U+10FFFF */
		{ "\xf4\x90\x80\x80", 0, 0xfffd },
		{ "\xf5\x80\x80\x80", 0, 0xfffd },
		{ "\xff", 0, 0xfffd },
		/* lone continuation, cut short, bad continuation */
		{ "\x80", 0, 0xfffd },
		{ "\xe2\x80", 0, 0xfffd },
		{ "\xf0\x90\x80", 0, 0xfffd },
		{ "\xc3(", 0, 0xfffd },
		{ "\xe2\x28\xa1", 0, 0xfffd },
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t cp = 0;
		size_t n = text_utf8_decode((const unsigned char *)cases[i].in,
		    strlen(cases[i].in), &cp);
		if (n != cases[i].len || cp != cases[i].cp)
			fail_msg("case %zu: got len %zu cp %#x, want len %zu cp %#x",
			    i, n, (unsigned)cp, cases[i].len, (unsigned)cases[i].cp);
	}
}

/* The length limit counts, not the NUL after it. */
static void
test_decode_respects_length(void **state)
{
	uint32_t cp;
	(void)state;

	assert_int_equal(text_utf8_decode((const unsigned char *)"\xc3\xa9", 1, &cp), 0);
	assert_int_equal(cp, 0xfffd);
	assert_int_equal(text_utf8_decode((const unsigned char *)"\xc3\xa9", 2, &cp), 2);
	assert_int_equal(cp, 0xe9);
}

static void
test_encode_round_trip(void **state)
{
	static const uint32_t cps[] = {
		0, 0x7f, 0x80, 0x7ff, 0x800, 0xd7ff, 0xe000, 0xfffd, 0xffff,
		0x10000, 0x10ffff,
	};
	static const size_t lens[] = { 1, 1, 2, 2, 3, 3, 3, 3, 3, 4, 4 };
	(void)state;

	for (size_t i = 0; i < sizeof(cps) / sizeof(cps[0]); i++) {
		char b[4];
		uint32_t back = 0xdead;
		size_t n = text_utf8_encode(cps[i], b);
		assert_int_equal(n, lens[i]);
		assert_int_equal(text_utf8_decode((const unsigned char *)b, n, &back), n);
		assert_int_equal(back, cps[i]);
	}
}

/* What fn writes into an mbuf and onto a stream must be the same. */
static char *
both(int (*fn)(struct text_out, const char *, size_t), const char *s, size_t len)
{
	struct mbuf b;
	char *mem = NULL;
	size_t memlen = 0;
	FILE *f;

	mbuf_init(&b);
	assert_int_equal(fn(TEXT_TO_MBUF(&b), s, len), 0);
	f = open_memstream(&mem, &memlen);
	assert_non_null(f);
	assert_int_equal(fn(TEXT_TO_FILE(f), s, len), 0);
	fclose(f);
	assert_int_equal(memlen, b.len);
	assert_memory_equal(mem, b.data ? b.data : "", b.len);
	free(mem);
	return mbuf_steal(&b, NULL);
}

static void
expect_html(const char *in, size_t len, const char *want)
{
	char *got = both(text_html_escape, in, len);
	assert_string_equal(got, want);
	free(got);
}

static void
expect_html_utf8(const char *in, const char *want)
{
	char *got = both(text_html_escape_utf8, in, strlen(in));
	assert_string_equal(got, want);
	free(got);
}

static void
test_html_escape(void **state)
{
	(void)state;
	expect_html("", 0, "");
	expect_html("plain", 5, "plain");
	expect_html("<a href=\"x?a=1&b='2'\">", 22,
	    "&lt;a href=&quot;x?a=1&amp;b=&#39;2&#39;&quot;&gt;");
	/* octets are copied as they are, invalid UTF-8 and controls too */
	expect_html("\xff\x01\xc3\xa9&", 5, "\xff\x01\xc3\xa9&amp;");
	/* only len octets */
	expect_html("a<b>", 2, "a&lt;");
}

static void
test_html_escape_utf8(void **state)
{
	(void)state;
	expect_html_utf8("", "");
	expect_html_utf8("caf\xc3\xa9 & <b>\"'", "caf\xc3\xa9 &amp; &lt;b&gt;&quot;&#39;");
	/* TAB and LF stay, other controls, DEL and C1 become U+FFFD */
	expect_html_utf8("a\tb\nc\rd\x01" "e\x7f" "f\xc2\x85g",
	    "a\tb\nc\xef\xbf\xbd" "d\xef\xbf\xbd" "e\xef\xbf\xbd" "f\xef\xbf\xbdg");
	/* each invalid octet is one U+FFFD */
	expect_html_utf8("x\xe2\x80y\xff", "x\xef\xbf\xbd\xef\xbf\xbdy\xef\xbf\xbd");
	expect_html_utf8("\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
}

static int
json_fn(struct text_out out, const char *s, size_t len)
{
	(void)len;
	return text_json_string(out, s);
}

static void
expect_json(const char *in, const char *want)
{
	char *got = both(json_fn, in, in ? strlen(in) : 0);
	assert_string_equal(got, want);
	free(got);
}

static void
test_json_string(void **state)
{
	(void)state;
	expect_json(NULL, "null");
	expect_json("", "\"\"");
	expect_json("plain text", "\"plain text\"");
	expect_json("say \"hi\" \\o/", "\"say \\\"hi\\\" \\\\o/\"");
	expect_json("a\nb\rc\td\x01" "e\x1f" "f\x7f", "\"a\\nb\\rc\\td\\u0001e\\u001ff\\u007f\"");
	/* U+2028 and U+2029 end lines in JavaScript */
	expect_json("x\xe2\x80\xa8y\xe2\x80\xa9z", "\"x\\u2028y\\u2029z\"");
	/* other UTF-8 as it is; </script> is not JSON's business */
	expect_json("\xc3\xa9\xf0\x9f\x98\x80</", "\"\xc3\xa9\xf0\x9f\x98\x80</\"");
	/* invalid UTF-8: one U+FFFD an octet */
	expect_json("a\xffz\xc0\xaf", "\"a\xef\xbf\xbdz\xef\xbf\xbd\xef\xbf\xbd\"");
	expect_json("\xed\xa0\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
}

static void
test_put_utf8(void **state)
{
	struct mbuf b;
	(void)state;

	mbuf_init(&b);
	assert_int_equal(text_put_utf8(TEXT_TO_MBUF(&b), 0x41), 0);
	assert_int_equal(text_put_utf8(TEXT_TO_MBUF(&b), 0x2026), 0);
	assert_int_equal(text_put_utf8(TEXT_TO_MBUF(&b), 0x1f600), 0);
	assert_int_equal(b.len, 8);
	assert_memory_equal(b.data, "A\xe2\x80\xa6\xf0\x9f\x98\x80", 8);
	mbuf_free(&b);
}

/* A name fit to store: valid UTF-8, no control character; the length
 * given is what is checked (a NUL inside it is a control). */
static void
test_utf8_printable(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		size_t n;
		bool ok;
	} cases[] = {
		{ "Lyon", 4, true },
		{ "S\xc3\xa3o Paulo", 10, true },
		{ "K\xc3\xb6ln, \"Dom\" <b>", 16, true },
		{ "", 0, true },
		{ "Ly\x01on", 5, false },	/* C0 */
		{ "Ly\ton", 5, false },		/* TAB is a control too */
		{ "Ly\x7fon", 5, false },	/* DEL */
		{ "Ly\xc2\x85on", 6, false },	/* C1: NEL */
		{ "Ly\xc3on", 5, false },	/* cut short */
		{ "\xc0\xaf", 2, false },	/* overlong */
		{ "\xed\xa0\x80", 3, false },	/* surrogate */
		{ "Lyon\0x", 6, false },	/* NUL within the length */
		{ "S\xc3\xa3o", 2, false },	/* the length cuts a sequence */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (text_utf8_printable(cases[i].s, cases[i].n) != cases[i].ok)
			fail_msg("case %zu: %s", i, cases[i].ok ? "refused" : "accepted");
}

/* text_decimal writes what printf's %llu writes, and says how long. */
static void
test_decimal(void **state)
{
	unsigned long long v[] = { 0, 1, 9, 10, 99, 100, 999999, 1000000, 999999999999ull,
				   4294967295ull, 4294967296ull, 18446744073709551615ull };
	char got[24], want[24];

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(*v); i++) {
		int n = snprintf(want, sizeof(want), "%llu", v[i]);
		memset(got, 'x', sizeof(got));
		assert_int_equal(text_decimal(got, v[i]), (size_t)n);
		assert_string_equal(got, want);
	}
	for (unsigned long long x = 1; x < 1000000; x = x * 7 + 3) {
		snprintf(want, sizeof(want), "%llu", x);
		text_decimal(got, x);
		assert_string_equal(got, want);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode_table),
		cmocka_unit_test(test_decode_respects_length),
		cmocka_unit_test(test_encode_round_trip),
		cmocka_unit_test(test_html_escape),
		cmocka_unit_test(test_html_escape_utf8),
		cmocka_unit_test(test_json_string),
		cmocka_unit_test(test_put_utf8),
		cmocka_unit_test(test_utf8_printable),
		cmocka_unit_test(test_decimal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
