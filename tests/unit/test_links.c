/* Unit tests of rewrite/links.c's href decoding: a click must lead where
 * the browser goes, so every HTML5 named reference, the attribute rule for
 * legacy names without ";" and HTML5's numeric fix-ups must hold. Expected
 * values are written out here, not taken from another decoder. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "entities_html5.h"
#include "links.h"
#include "mbuf.h"

static void
expect_decoded(const char *raw, const char *want)
{
	struct mbuf out;

	mbuf_init(&out);
	assert_int_equal(html_attr_decode(raw, strlen(raw), &out), 0);
	if (out.len != strlen(want) || memcmp(out.data ? out.data : "", want, out.len) != 0)
		fail_msg("decoding \"%s\" gave \"%.*s\", expected \"%s\"", raw, (int)out.len,
			 out.data ? out.data : "", want);
	mbuf_free(&out);
}

/* Names HTML 4 did not have: libxml2 2.9 left these literal. */
static void
test_html5_names(void **state)
{
	(void)state;
	expect_decoded("https://example.com&period;org/", "https://example.com.org/");
	expect_decoded("https://example.com/a&lpar;1&rpar;", "https://example.com/a(1)");
	expect_decoded("https://example.com/?a=1&AMP;b=2", "https://example.com/?a=1&b=2");
	expect_decoded("https://example.com/&NewLine;x", "https://example.com/\nx");
	expect_decoded("https://example.com/&sol;&quest;q&equals;1&num;f", "https://example.com//?q=1#f");
	expect_decoded("&colon;&Tab;", ":\t");
	/* The longest name, two-code-point values, a name with digits. */
	expect_decoded("&CounterClockwiseContourIntegral;", "\xe2\x88\xb3");
	expect_decoded("&ThickSpace;", "\xe2\x81\x9f\xe2\x80\x8a");
	expect_decoded("&fjlig;", "fj");
	expect_decoded("&frac34;", "\xc2\xbe");
	expect_decoded("&there4;", "\xe2\x88\xb4");
}

/* Legacy names work without ";", except before "=" or an alphanumeric
 * inside an attribute; other names need the ";". */
static void
test_legacy_names_in_attributes(void **state)
{
	(void)state;
	expect_decoded("https://example.com/?a=1&copy=2", "https://example.com/?a=1&copy=2");
	expect_decoded("https://example.com/?a=1&copy2", "https://example.com/?a=1&copy2");
	expect_decoded("https://example.com/?a=1&copy", "https://example.com/?a=1\xc2\xa9");
	expect_decoded("&copy-&copy/&copy;", "\xc2\xa9-\xc2\xa9/\xc2\xa9");
	expect_decoded("&AMP&amp&lt&GT", "&&<>");
	expect_decoded("?x=&ampy", "?x=&ampy");
	expect_decoded("&notin;&notit;&not;", "\xe2\x88\x89&notit;\xc2\xac");
	expect_decoded("&period", "&period");		/* not a legacy name */
	expect_decoded("&Period;&nosuchname;&;&", "&Period;&nosuchname;&;&");
	expect_decoded("&amp;amp;", "&amp;");
	expect_decoded("&CounterClockwiseContourIntegralX;", "&CounterClockwiseContourIntegralX;");
}

static void
test_numeric_references(void **state)
{
	(void)state;
	expect_decoded("&#65;&#x42;&#X43&#68", "ABCD");
	expect_decoded("&#x;&#;&#xg", "&#x;&#;&#xg");
	expect_decoded("&#0;", "\xef\xbf\xbd");
	expect_decoded("&#xD800;&#xdfff;", "\xef\xbf\xbd\xef\xbf\xbd");
	expect_decoded("&#x110000;&#99999999999999999999999;", "\xef\xbf\xbd\xef\xbf\xbd");
	expect_decoded("&#x10FFFF;", "\xf4\x8f\xbf\xbf");
	/* 0x80-0x9F are read as windows-1252; its holes stay C1 controls. */
	expect_decoded("&#x80;&#150;&#x9F;", "\xe2\x82\xac\xe2\x80\x93\xc5\xb8");
	expect_decoded("&#x81;&#x9d;", "\xc2\x81\xc2\x9d");
	expect_decoded("&#13;&#x7f;", "\r\x7f");
}

/* The generated table: the whole of HTML5's, in the order bsearch needs. */
static void
test_table(void **state)
{
	size_t n = sizeof(html5_entities) / sizeof(html5_entities[0]), legacy = 0;

	(void)state;
	assert_int_equal(n, 2231);
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(html5_entities[i].name);
		assert_true(len > 0 && len <= HTML5_ENTITY_NAME_MAX);
		assert_true(strlen(html5_entities[i].utf8) > 0);
		if (i > 0 && strcmp(html5_entities[i - 1].name, html5_entities[i].name) >= 0)
			fail_msg("table out of order at %s", html5_entities[i].name);
		legacy += html5_entities[i].name[len - 1] != ';';
	}
	assert_int_equal(legacy, 106);
}

/* Each word of every language is found anywhere, in any case, and the
 * near misses are not (the words are looked up by their first letter). */
static void
test_says_unsubscribe(void **state)
{
	static const char *const words[] = {
		"unsubscribe", "unsub", "opt-out", "optout", "opt out", "abmelden", "abbestellen",
		"desabonner", "d\xc3\xa9sabonner", "desinscri", "d\xc3\xa9sinscri", "darse de baja",
		"cancelar suscripci", "afmelden", "uitschrijven", "disiscriv", "avregistrer", "avsluta",
	};
	static const char *const misses[] = {
		"", "unsu", "opt-ou", "opt_out", "opt-in", "abmeldung", "abbestelle", "dsabonner",
		"desinscr", "d\xc3\xa9sinscr", "darse de alta", "cancelar suscripc", "afmelde",
		"uitschrijve", "disiscri", "avregistre", "avslut", "https://e.com/subscribe?a=b",
	};
	char buf[128];

	(void)state;
	for (size_t i = 0; i < sizeof(words) / sizeof(*words); i++) {
		const char *w = words[i];
		assert_true(says_unsubscribe(w, strlen(w)));
		snprintf(buf, sizeof(buf), "https://e.com/x?%s=1", w);
		assert_true(says_unsubscribe(buf, strlen(buf)));
		snprintf(buf, sizeof(buf), "Click to %s", w);
		for (char *c = buf; *c; c++)
			if (*c >= 'a' && *c <= 'z')
				*c = (char)(*c - 'a' + 'A');
		assert_true(says_unsubscribe(buf, strlen(buf)));
	}
	for (size_t i = 0; i < sizeof(misses) / sizeof(*misses); i++)
		assert_false(says_unsubscribe(misses[i], strlen(misses[i])));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_html5_names),
		cmocka_unit_test(test_legacy_names_in_attributes),
		cmocka_unit_test(test_numeric_references),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_says_unsubscribe),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
