/* Unit tests of common/url_policy.c: a table of URLs and what the one rule
 * for webhooks and sync says of each (https anywhere, http only to a
 * loopback literal; names such as localhost are not literals). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>

#include "url_policy.h"

static const struct {
	const char *url;
	enum url_policy want;
} table[] = {
	{ "https://hooks.example.com/x", URL_POLICY_HTTPS },
	{ "https://192.0.2.1:8443/", URL_POLICY_HTTPS },
	{ "https://[2001:db8::1]/hook", URL_POLICY_HTTPS },
	{ "HTTPS://hooks.example.com/", URL_POLICY_HTTPS },
	{ "http://127.0.0.1:8080/hook", URL_POLICY_LOOPBACK_HTTP },
	{ "http://127.255.1.2/", URL_POLICY_LOOPBACK_HTTP },
	{ "http://[::1]:9000/", URL_POLICY_LOOPBACK_HTTP },
	{ "http://[0:0:0:0:0:0:0:1]/", URL_POLICY_LOOPBACK_HTTP },
	/* A name can be made to resolve elsewhere: never plain http. */
	{ "http://localhost:8080/", URL_POLICY_PLAIN_REMOTE },
	{ "http://LOCALHOST/", URL_POLICY_PLAIN_REMOTE },
	{ "http://127.0.0.1.example.com/", URL_POLICY_PLAIN_REMOTE },
	{ "http://hooks.example.com/", URL_POLICY_PLAIN_REMOTE },
	{ "http://10.0.0.1/", URL_POLICY_PLAIN_REMOTE },
	{ "http://128.0.0.1/", URL_POLICY_PLAIN_REMOTE },
	{ "http://[::2]/", URL_POLICY_PLAIN_REMOTE },
	{ "http://[::ffff:127.0.0.1]/", URL_POLICY_PLAIN_REMOTE },
	{ "ftp://127.0.0.1/", URL_POLICY_NOT_HTTP },
	{ "file:///etc/passwd", URL_POLICY_NOT_HTTP },
	{ "gopher://example.com/", URL_POLICY_NOT_HTTP },
	{ "", URL_POLICY_NOT_HTTP },
	{ "not a url", URL_POLICY_NOT_HTTP },
	{ "http://", URL_POLICY_NOT_HTTP },
};

static void
test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		enum url_policy got = url_policy_check(table[i].url);
		if (got != table[i].want)
			fail_msg("%s: %d, want %d", table[i].url, (int)got, (int)table[i].want);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
