/* Unit tests of store/eventline.c, the events API's one wire format: every
 * kind and edge value survives encode -> decode unchanged, and a table of
 * malformed lines (the checks sync relies on) is refused with its reason. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eventline.h"
#include "mbuf.h"

static bool
same_string(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void
assert_same_event(const struct store_event *a, const struct store_event *b)
{
	assert_true(same_string(a->message_id, b->message_id));
	assert_true(same_string(a->kind, b->kind));
	assert_int_equal(a->link, b->link);
	assert_true(a->time == b->time);
	assert_true(same_string(a->ip_masked, b->ip_masked));
	assert_true(same_string(a->client_class, b->client_class));
	assert_true(same_string(a->verdict, b->verdict));
	assert_int_equal(a->dnt, b->dnt);
	assert_true(same_string(a->country, b->country));
	assert_true(same_string(a->city, b->city));
	assert_int_equal(a->recipient_hash == NULL, b->recipient_hash == NULL);
	if (a->recipient_hash != NULL)
		assert_memory_equal(a->recipient_hash, b->recipient_hash, STORE_HASH_LEN);
}

/* Encodes e at cursor, checks it is one line, decodes it and compares. */
static void
round_trip(long long cursor, const struct store_event *e)
{
	struct mbuf b;
	struct eventline l;
	char why[256];

	mbuf_init(&b);
	assert_int_equal(eventline_encode(&b, cursor, e), 0);
	assert_true(b.len > 1 && b.data[b.len - 1] == '\n');
	assert_null(memchr(b.data, '\n', b.len - 1));
	if (eventline_decode(b.data, b.len - 1, &l, why, sizeof(why)) != 0)
		fail_msg("%.*s: %s", (int)b.len, b.data, why);
	assert_true(l.cursor == cursor);
	assert_same_event(&l.ev, e);
	mbuf_free(&b);
}

static void
test_round_trip(void **state)
{
	(void)state;
	static const unsigned char zeros[STORE_HASH_LEN];
	unsigned char hash[STORE_HASH_LEN];
	char id64[65], city64[STORE_CITY_MAX + 1];

	memset(city64, 'y', STORE_CITY_MAX);
	city64[STORE_CITY_MAX] = '\0';
	for (size_t i = 0; i < sizeof(hash); i++)
		hash[i] = (unsigned char)(0xff - i * 7);
	memset(id64, 'Z', 64);
	id64[64] = '\0';
	const struct store_event cases[] = {
		{ "m1", "open", 0, 0, "192.0.2.0/24", "mua", "human", false, NULL, NULL, NULL },
		{ "Ab-_9", "click", 1, 1700000000, "2001:db8::/48", "scanner.x", "machine", false,
		  NULL, NULL, NULL },
		{ "m", "click", INT_MAX, LLONG_MAX, NULL, NULL, "dnt", true, NULL, NULL, NULL },
		{ id64, "optout", 0, 1, NULL, NULL, "optout", false, hash, NULL, NULL },
		{ id64, "optout", 0, 1, "a", "b", "c", true, zeros, NULL, NULL },
		{ "x", "open", 0, 42, id64, "abcdefghijklmnopqrstuvwxyz012345", "v_.-", true, NULL,
		  NULL, NULL },
		/* geoip_database: a country, with or without a city */
		{ "p", "open", 0, 3, "192.0.2.0/24", "mua", "human", false, NULL, "FR", NULL },
		{ "p", "click", 2, 4, "2001:db8::/48", "mua", "human", false, NULL, "BR",
		  "S\xc3\xa3o Paulo" },
		{ "p", "open", 0, 5, NULL, NULL, "human", false, NULL, "NZ", city64 },
	};
	const long long cursors[] = { 1, 2, LLONG_MAX, 1000, 7, 99, 100, 101, 102 };

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		round_trip(cursors[i], &cases[i]);
}

/* The exact line the beacon writes: its key order is what other hosts
 * (and the sync tests' rewrites) see. */
static void
test_encoding(void **state)
{
	(void)state;
	unsigned char hash[STORE_HASH_LEN];
	struct mbuf b;

	memset(hash, 0xab, sizeof(hash));
	const struct store_event click = { "m1", "click", 3, 5, "192.0.2.0/24", "mua", "human",
					   false, NULL, NULL, NULL };
	const struct store_event opt = { "m2", "optout", 0, 6, NULL, NULL, "optout", true, hash,
					 NULL, NULL };
	const struct store_event placed = { "m3", "open", 0, 7, "198.51.100.0/24", "mua", "human",
					    false, NULL, "DE", "Cologne" };
	mbuf_init(&b);
	assert_int_equal(eventline_encode(&b, 9, &click), 0);
	assert_int_equal(eventline_encode(&b, 10, &opt), 0);
	assert_int_equal(eventline_encode(&b, 11, &placed), 0);
	assert_int_equal(mbuf_putc(&b, '\0'), 0);
	assert_string_equal(b.data,
		"{\"cursor\":9,\"message\":\"m1\",\"kind\":\"click\",\"link\":3,\"time\":5,"
		"\"ip\":\"192.0.2.0/24\",\"client\":\"mua\",\"verdict\":\"human\",\"dnt\":false}\n"
		"{\"cursor\":10,\"message\":\"m2\",\"kind\":\"optout\",\"link\":null,\"time\":6,"
		"\"ip\":null,\"client\":null,\"verdict\":\"optout\",\"dnt\":true,"
		"\"recipient_hash\":\"abababababababababababababababababababababababababababababababab\"}\n"
		"{\"cursor\":11,\"message\":\"m3\",\"kind\":\"open\",\"link\":null,\"time\":7,"
		"\"ip\":\"198.51.100.0/24\",\"client\":\"mua\",\"verdict\":\"human\",\"dnt\":false,"
		"\"country\":\"DE\",\"city\":\"Cologne\"}\n");
	mbuf_free(&b);
}

#define GOOD_HEAD "{\"cursor\":5,\"message\":\"m1\",\"kind\":\"open\",\"link\":null,\"time\":10,"
#define GOOD_TAIL "\"ip\":\"192.0.2.0/24\",\"client\":\"mua\",\"verdict\":\"human\",\"dnt\":false}"

static const struct {
	const char *line;
	const char *why;	/* a part of the reason */
} bad[] = {
	{ "hello", "" },
	{ "", "" },
	{ "[1]", "not a JSON object" },
	{ "\"x\"", "" },
	{ GOOD_HEAD GOOD_TAIL " x", "" },
	{ GOOD_HEAD "\"x\":{\"a\":1}," GOOD_TAIL, "nested" },
	{ GOOD_HEAD "\"x\":[1]," GOOD_TAIL, "nested" },
	{ GOOD_HEAD "\"time\":1," GOOD_TAIL, "duplicate" },
	{ "{\"cursor\":5,\"message\":\"m1\",\"kind\":\"open\",\"link\":null,\"time\":10.5," GOOD_TAIL,
	  "\"time\"" },
	{ "{\"cursor\":5,\"message\":\"m1\",\"kind\":\"open\",\"link\":null,\"time\":1e3," GOOD_TAIL,
	  "\"time\"" },
	{ "{\"cursor\":5,\"message\":\"m1\",\"kind\":\"open\",\"link\":null,\"time\":-1," GOOD_TAIL,
	  "\"time\"" },
	{ "{\"cursor\":5,\"message\":\"m1\",\"kind\":\"open\",\"link\":null,\"time\":99999999999999999999,"
	  GOOD_TAIL, "" },
	{ GOOD_HEAD "\"ip\":\"192.0.2.0/24\",\"client\":\"mua\",\"verdict\":\"human\",\"dnt\":\"no\"}",
	  "\"dnt\"" },
	{ GOOD_HEAD "\"ip\":\"192.0.2.0/24\",\"client\":\"mua\",\"dnt\":false}", "\"verdict\"" },
	{ GOOD_HEAD "\"ip\":\"192.0.2.0/24\",\"client\":\"mua\",\"verdict\":\"\",\"dnt\":false}",
	  "\"verdict\"" },
	{ GOOD_HEAD "\"ip\":\"192.0.2.0/24\",\"client\":\"mua\",\"verdict\":\"a b\",\"dnt\":false}",
	  "\"verdict\"" },
	{ GOOD_HEAD "\"ip\":\"192.0.2.0/24\",\"client\":\"abcdefghijklmnopqrstuvwxyz0123456\","
	  "\"verdict\":\"human\",\"dnt\":false}", "\"client\"" },
	{ GOOD_HEAD "\"ip\":1,\"client\":\"mua\",\"verdict\":\"human\",\"dnt\":false}", "\"ip\"" },
	{ GOOD_HEAD "\"note\":\"\xff\xfe\"," GOOD_TAIL, "" },
	{ GOOD_HEAD "\"note\":\"a\\u0000b\"," GOOD_TAIL, "" },
	{ GOOD_HEAD "\"note\":\"\\ud800\"," GOOD_TAIL, "" },
	{ GOOD_HEAD "\"note\":\"\\udc00\"," GOOD_TAIL, "" },
	{ GOOD_HEAD "\"note\":\"a\\qb\"," GOOD_TAIL, "" },
	{ GOOD_HEAD "\"note\":\"a\tb\"," GOOD_TAIL, "" },
	{ GOOD_HEAD "\"ip\":\"192.0.2.0/24\",\"client\":\"mua\",\"verdict\":\"human\",\"dnt\":fals",
	  "" },
	{ "{\"cursor\":0,\"message\":\"m1\",\"kind\":\"open\",\"link\":null,\"time\":10," GOOD_TAIL,
	  "\"cursor\"" },
	{ "{\"cursor\":\"5\",\"message\":\"m1\",\"kind\":\"open\",\"link\":null,\"time\":10," GOOD_TAIL,
	  "\"cursor\"" },
	{ "{\"message\":\"m1\",\"kind\":\"open\",\"link\":null,\"time\":10," GOOD_TAIL, "\"cursor\"" },
	{ "{\"cursor\":5,\"message\":\"m1\",\"kind\":\"view\",\"link\":null,\"time\":10," GOOD_TAIL,
	  "\"kind\"" },
	{ "{\"cursor\":5,\"message\":\"m1\",\"kind\":\"OPEN\",\"link\":null,\"time\":10," GOOD_TAIL,
	  "\"kind\"" },
	{ "{\"cursor\":5,\"message\":\"m1\",\"kind\":\"open\",\"link\":1,\"time\":10," GOOD_TAIL,
	  "\"link\"" },
	{ "{\"cursor\":5,\"message\":\"m1\",\"kind\":\"click\",\"link\":null,\"time\":10," GOOD_TAIL,
	  "\"link\"" },
	{ "{\"cursor\":5,\"message\":\"m1\",\"kind\":\"click\",\"link\":0,\"time\":10," GOOD_TAIL,
	  "\"link\"" },
	{ "{\"cursor\":5,\"message\":\"m1\",\"kind\":\"click\",\"link\":2147483648,\"time\":10,"
	  GOOD_TAIL, "\"link\"" },
	{ "{\"cursor\":5,\"message\":\"x'; DROP TABLE events;--\",\"kind\":\"open\",\"link\":null,"
	  "\"time\":10," GOOD_TAIL, "\"message\"" },
	{ "{\"cursor\":5,\"message\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\","
	  "\"kind\":\"open\",\"link\":null,\"time\":10," GOOD_TAIL, "\"message\"" },
	{ GOOD_HEAD "\"recipient_hash\":\"zz\"," GOOD_TAIL, "\"recipient_hash\"" },
	{ GOOD_HEAD "\"recipient_hash\":\"abababababababababababababababababababababababababababababababaZ\","
	  GOOD_TAIL, "\"recipient_hash\"" },
	{ GOOD_HEAD "\"recipient_hash\":1," GOOD_TAIL, "\"recipient_hash\"" },
	{ GOOD_HEAD "\"country\":\"fr\"," GOOD_TAIL, "\"country\"" },
	{ GOOD_HEAD "\"country\":\"FRA\"," GOOD_TAIL, "\"country\"" },
	{ GOOD_HEAD "\"country\":33," GOOD_TAIL, "\"country\"" },
	{ GOOD_HEAD "\"city\":\"Lyon\"," GOOD_TAIL, "\"city\"" },
	{ GOOD_HEAD "\"country\":\"FR\",\"city\":\"\"," GOOD_TAIL, "\"city\"" },
	{ GOOD_HEAD "\"country\":\"FR\",\"city\":\"Ly\\u0001on\"," GOOD_TAIL, "\"city\"" },
	{ GOOD_HEAD "\"country\":\"FR\",\"city\":\"Ly\\u0085on\"," GOOD_TAIL, "\"city\"" },
	{ GOOD_HEAD "\"country\":\"FR\",\"city\":7," GOOD_TAIL, "\"city\"" },
	{ GOOD_HEAD "\"country\":\"FR\",\"city\":"
	  "\"yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\"," GOOD_TAIL,
	  "\"city\"" },
	{ "{\"a0\":0,\"a1\":0,\"a2\":0,\"a3\":0,\"a4\":0,\"a5\":0,\"a6\":0,\"a7\":0,\"a8\":0,\"a9\":0,"
	  "\"b0\":0,\"b1\":0,\"b2\":0,\"b3\":0,\"b4\":0,\"b5\":0,\"b6\":0,\"b7\":0,\"b8\":0,\"b9\":0,"
	  "\"c0\":0,\"c1\":0,\"c2\":0,\"c3\":0,\"c4\":0,\"c5\":0,\"c6\":0,\"c7\":0,\"c8\":0,\"c9\":0,"
	  "\"d0\":0,\"d1\":0,\"d2\":0}", "too many fields" },
};

static void
test_malformed(void **state)
{
	(void)state;
	struct eventline l;
	char why[256];
	const char good[] = GOOD_HEAD "\"note\":\"\\u00e9\\ud83d\\ude00\\/\",\"future\":true,"
		GOOD_TAIL;

	/* The table's lines are all one change away from this good one
	 * (unknown scalar keys are fine: a newer beacon may add some). */
	assert_int_equal(eventline_decode(good, strlen(good), &l, why, sizeof(why)), 0);
	assert_string_equal(l.ev.message_id, "m1");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		if (eventline_decode(bad[i].line, strlen(bad[i].line), &l, why, sizeof(why)) == 0)
			fail_msg("accepted: %s", bad[i].line);
		assert_true(why[0] != '\0');
		if (strstr(why, bad[i].why) == NULL)
			fail_msg("%s: %s, not %s", bad[i].line, why, bad[i].why);
	}
	/* A NUL byte inside the line's length. */
	const char nul[] = "{\"a\":1}\0";
	assert_int_equal(eventline_decode(nul, sizeof(nul) - 1, &l, why, sizeof(why)), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_encoding),
		cmocka_unit_test(test_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
