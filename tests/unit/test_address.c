/* Unit tests of address.c: a table of spellings and the canonical form each
 * must take (quoted and escaped local parts, case, IDN domains, +tags,
 * broken input), and which spellings must stay different mailboxes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"

static const struct {
	const char *in;
	const char *canonical;
} table[] = {
	/* An already plain address is only lower-cased (the stored hashes
	 * stay valid), whatever its blanks and angle brackets. */
	{ "bob@example.net", "bob@example.net" },
	{ "Bob@Example.NET", "bob@example.net" },
	{ "<bob@example.net>", "bob@example.net" },
	{ " \t< BOB@example.net >\r\n", "bob@example.net" },
	{ "first.last+news@example.net", "first.last+news@example.net" },
	{ "o'hara!x#y$z%w&v*u/t=s?r^q_p`o{n|m}l~k-j@example.net",
	  "o'hara!x#y$z%w&v*u/t=s?r^q_p`o{n|m}l~k-j@example.net" },
	/* Quoted local parts that need no quotes lose them (RFC 5321
	 * quoted-pair: a backslash before any printable character). */
	{ "\"bob\"@example.net", "bob@example.net" },
	{ "<\"b\\ob\"@example.net>", "bob@example.net" },
	{ "\"\\b\\o\\b\"@example.net", "bob@example.net" },
	{ "\"BOB\"@EXAMPLE.NET", "bob@example.net" },
	{ "\"first.last\"@example.net", "first.last@example.net" },
	{ "\"bob+tag\"@example.net", "bob+tag@example.net" },
	/* Those that need them keep them, quoted one way: only '"' and
	 * '\' escaped. */
	{ "\"a b\"@x.example", "\"a b\"@x.example" },
	{ "\"a\\ b\"@x.example", "\"a b\"@x.example" },
	{ "\"A\\\"B\"@x.example", "\"a\\\"b\"@x.example" },
	{ "\"a\\\\b\"@x.example", "\"a\\\\b\"@x.example" },
	{ "\"a@b\"@x.example", "\"a@b\"@x.example" },
	{ "\".bob\"@x.example", "\".bob\"@x.example" },
	{ "\"bob.\"@x.example", "\"bob.\"@x.example" },
	{ "\"a..b\"@x.example", "\"a..b\"@x.example" },
	{ "\"\"@x.example", "\"\"@x.example" },
	/* IDN: the A-label, whatever the case or normalisation form of
	 * the U-label (NFC U+00FC and NFD u U+0308). */
	{ "bob@b\xc3\xbc" "cher.example", "bob@xn--bcher-kva.example" },
	{ "bob@B\xc3\x9c" "CHER.example", "bob@xn--bcher-kva.example" },
	{ "bob@bu\xcc\x88" "cher.example", "bob@xn--bcher-kva.example" },
	{ "bob@XN--BCHER-KVA.example", "bob@xn--bcher-kva.example" },
	{ "\"bob\"@b\xc3\xbc" "cher.example", "bob@xn--bcher-kva.example" },
	/* A UTF-8 local part (SMTPUTF8) is an atom; only ASCII is
	 * lower-cased. */
	{ "J\xc3\xb6rg@example.net", "j\xc3\xb6rg@example.net" },
	{ "\"J\xc3\xb6rg\"@example.net", "j\xc3\xb6rg@example.net" },
	/* Broken input: a defined result, as written but lower-cased. */
	{ "\"bob@example.net", "\"bob@example.net" },
	{ "bob\"@example.net", "bob\"@example.net" },
	{ "\"b\"ob\"@example.net", "\"b\"ob\"@example.net" },
	{ "\"bob\\\"@example.net", "\"bob\\\"@example.net" },
	{ "\"a\tb\"@example.net", "\"a\tb\"@example.net" },
	{ "\"bob\".smith@example.net", "\"bob\".smith@example.net" },
	{ "b\\ob@example.net", "b\\ob@example.net" },
	{ "\"a@b\"", "\"a@b\"" },
	{ "Bob", "bob" },
	{ "", "" },
	{ "<>", "" },
	{ "@", "@" },
	{ "bob@", "bob@" },
	{ "@Example.COM", "@example.com" },
	/* A domain IDNA refuses (here a label of 64 letters) stays as
	 * written, lower-cased. */
	{ "bob@\xc3\xbc" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example",
	  "bob@\xc3\xbc" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example" },
};

/* Spellings that are different mailboxes: their canonical forms differ. */
static const struct {
	const char *a, *b;
} distinct[] = {
	{ "bob@example.net", "bob+news@example.net" },
	{ "bob+a@example.net", "bob+b@example.net" },
	{ "\"bob+news\"@example.net", "bob@example.net" },
	{ "bob@example.net", "bob@example.org" },
	{ "bob@example.net", "b.ob@example.net" },
	{ "\"a b\"@example.net", "ab@example.net" },
	{ "\"a b\"@example.net", "\"a  b\"@example.net" },
	{ "bob@b\xc3\xbc" "cher.example", "bob@bucher.example" },
	{ "\"bob\"@example.net", "\"bob\"x@example.net" },
	{ "\"bob@example.net", "bob@example.net" },
};

static void
test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		char *c = address_canonical(table[i].in);
		assert_non_null(c);
		if (strcmp(c, table[i].canonical) != 0)
			fail_msg("address_canonical(%s) = %s, expected %s", table[i].in, c,
			    table[i].canonical);
		/* The canonical form is its own canonical form. */
		char *again = address_canonical(c);
		assert_non_null(again);
		assert_string_equal(again, c);
		free(again);
		free(c);
	}
}

static void
test_distinct(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(distinct) / sizeof(distinct[0]); i++) {
		char *a = address_canonical(distinct[i].a);
		char *b = address_canonical(distinct[i].b);
		assert_non_null(a);
		assert_non_null(b);
		if (strcmp(a, b) == 0)
			fail_msg("%s and %s both became %s", distinct[i].a, distinct[i].b, a);
		free(a);
		free(b);
	}
}

static void
test_null_and_domain(void **state)
{
	char *c;

	(void)state;
	c = address_canonical(NULL);
	assert_non_null(c);
	assert_string_equal(c, "");
	free(c);
	c = address_domain_canonical("B\xc3\x9c" "CHER.Example");
	assert_non_null(c);
	assert_string_equal(c, "xn--bcher-kva.example");
	free(c);
	c = address_domain_canonical("Example.COM");
	assert_non_null(c);
	assert_string_equal(c, "example.com");
	free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_distinct),
		cmocka_unit_test(test_null_and_domain),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
