/* Unit tests of fileline.c: the "FILE:LINE: reason" form, "FILE: reason"
 * for a fault of the whole file, truncation, and the parser of the
 * policy reporting through it. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileline.h"
#include "policy.h"

static void
test_with_line(void **state)
{
	char out[128];

	(void)state;
	fileline_format(out, sizeof(out), "/etc/mb/policy", 7, "unknown word '%s'", "opnes");
	assert_string_equal(out, "/etc/mb/policy:7: unknown word 'opnes'");
	/* A reason with a '%' in an argument is copied, not interpreted. */
	fileline_format(out, sizeof(out), "a.conf", 12, "%s", "50% off");
	assert_string_equal(out, "a.conf:12: 50% off");
}

static void
test_whole_file(void **state)
{
	char out[128];

	(void)state;
	fileline_format(out, sizeof(out), "keys", 0, "no key");
	assert_string_equal(out, "keys: no key");
	fileline_format(out, sizeof(out), "keys", -3, "empty");
	assert_string_equal(out, "keys: empty");
}

static void
test_truncation(void **state)
{
	char out[12];
	char untouched[4] = "abc";

	(void)state;
	memset(out, 'x', sizeof(out));
	fileline_format(out, sizeof(out), "mailbeacon.conf", 123, "too long");
	assert_int_equal(strlen(out), sizeof(out) - 1);
	assert_string_equal(out, "mailbeacon.");
	/* outlen 0: nothing is written. */
	fileline_format(untouched, 0, "f", 1, "r");
	assert_string_equal(untouched, "abc");
}

static void
test_error(void **state)
{
	char err[64];

	(void)state;
	assert_int_equal(fileline_format(err, sizeof(err), "keys", 3, "duplicate key id '%s'", "k1"), -1);
	assert_string_equal(err, "keys:3: duplicate key id 'k1'");
	/* No room for the message: still -1, nothing written. */
	assert_int_equal(fileline_format(NULL, 0, "keys", 3, "x"), -1);
}

/* The parsers give their errors in the same form. */
static void
test_parsers(void **state)
{
	char dir[] = "/tmp/test_fileline.XXXXXX", path[512], err[512];
	struct policy pol;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/policy", dir);
	assert_non_null(f = fopen(path, "w"));
	fputs("# comment\nalice@example.com opens\nbob@example.com flying\n", f);
	fclose(f);
	memset(&pol, 0, sizeof(pol));
	assert_int_equal(policy_load(path, &pol, err, sizeof(err)), -1);
	char want[600];
	snprintf(want, sizeof(want), "%s:3: ", path);
	assert_memory_equal(err, want, strlen(want));
	policy_free(&pol);
	unlink(path);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_with_line),
		cmocka_unit_test(test_whole_file),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_error),
		cmocka_unit_test(test_parsers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
