/* Unit tests of beacon/webhook_body.c: each body, parsed back with jansson,
 * gives the fields it was built from (quotes, control characters, UTF-8,
 * nulls, edge numbers), its keys come in the documented order, and a
 * string that is not UTF-8 still gives JSON. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "webhook_body.h"

static void
assert_text(json_t *o, const char *key, const char *want)
{
	json_t *v = json_object_get(o, key);
	assert_non_null(v);
	if (want == NULL) {
		assert_true(json_is_null(v));
		return;
	}
	assert_true(json_is_string(v));
	assert_int_equal(json_string_length(v), strlen(want));
	assert_string_equal(json_string_value(v), want);
}

static json_t *
parse(const char *body)
{
	json_error_t err;
	json_t *o = json_loads(body, JSON_REJECT_DUPLICATES, &err);
	if (o == NULL)
		fail_msg("%s: %s", body, err.text);
	assert_true(json_is_object(o));
	assert_int_equal(json_object_size(o), 8);
	return o;
}

static void
test_round_trip(void **state)
{
	(void)state;
	const struct webhook_event cases[] = {
		{ "open", "m1", "<a@b>", "alice@example.com", 0, NULL, 0, "human" },
		{ "click", "Ab-_9", NULL, "bob@example.net", 1, "https://example.org/?a=1&b=\"2\"",
		  LLONG_MAX, "machine" },
		{ "click", "m", "<\"quoted\\\"@x>\t\r\n\x01\x7f", "j\xc3\xbcrgen@b\xc3\xbc" "cher.example",
		  UINT_MAX, "https://example.org/\xe2\x82\xac/\xf0\x9f\x98\x80", -1, "dnt" },
		{ "open", "m", "", "", 0, "", 1, "" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct webhook_event *e = &cases[i];
		char *body = webhook_body(e);
		assert_non_null(body);
		assert_null(strchr(body, '\n'));
		json_t *o = parse(body);
		assert_text(o, "event", e->event);
		assert_text(o, "message", e->message);
		assert_text(o, "message_id_header", e->message_id_header);
		assert_text(o, "sender", e->sender);
		json_t *link = json_object_get(o, "link");
		if (e->link == 0)
			assert_true(json_is_null(link));
		else
			assert_true(json_is_integer(link) &&
				    json_integer_value(link) == (json_int_t)e->link);
		assert_text(o, "url", e->url);
		assert_true(json_integer_value(json_object_get(o, "time")) == e->time);
		assert_text(o, "verdict", e->verdict);
		json_decref(o);
		free(body);
	}
}

/* The exact text receivers get, keys in the order webhook.c documents. */
static void
test_exact(void **state)
{
	(void)state;
	const struct webhook_event e = { "click", "m1", NULL, "a@example.com", 2,
					 "https://example.org/x", 1700000000, "human" };
	char *body = webhook_body(&e);
	assert_string_equal(body,
		"{\"event\":\"click\",\"message\":\"m1\",\"message_id_header\":null,"
		"\"sender\":\"a@example.com\",\"link\":2,\"url\":\"https://example.org/x\","
		"\"time\":1700000000,\"verdict\":\"human\"}");
	free(body);
}

/* A Message-ID header of broken mail, not UTF-8: ASCII kept, the rest
 * U+FFFD, and the body is still JSON. */
static void
test_not_utf8(void **state)
{
	(void)state;
	const struct webhook_event e = { "open", "m1", "<x\xff\xfe@y\xc3>", "a@example.com", 0,
					 NULL, 5, "human" };
	char *body = webhook_body(&e);
	assert_non_null(body);
	json_t *o = parse(body);
	assert_text(o, "message_id_header", "<x\xef\xbf\xbd\xef\xbf\xbd@y\xef\xbf\xbd>");
	json_decref(o);
	free(body);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_exact),
		cmocka_unit_test(test_not_utf8),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
