/* Unit tests of keyring.c: the key_file format, every error message, and
 * the refusal of a key file that other users can read. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "b64url.h"
#include "keyring.h"
#include "mbuf.h"

/* base64url of n bytes valued 0..n-1 */
static char *
secret(size_t n)
{
	unsigned char raw[128];
	struct mbuf b;
	size_t i;

	for (i = 0; i < n; i++)
		raw[i] = (unsigned char)i;
	mbuf_init(&b);
	b64url_encode(raw, n, &b);
	return mbuf_steal(&b, NULL);
}

static void
test_good(void **state)
{
	char *s32 = secret(32), *s64 = secret(64), text[512], err[256];
	struct keyring kr;
	const struct key *k;

	(void)state;
	snprintf(text, sizeof(text),
	    "# keys, newest first\n"
	    "\n"
	    "2024-06_b %s\n"
	    "   old\t%s   \r\n"
	    "ABCDEFGHIJKLMNOP %s", s64, s32, s32);
	assert_int_equal(keyring_parse("keys", text, &kr, err, sizeof(err)), 0);
	assert_int_equal(kr.n, 3);
	assert_string_equal(kr.keys[0].id, "2024-06_b");
	assert_int_equal(kr.keys[0].secret_len, 64);
	assert_int_equal(kr.keys[0].secret[63], 63);
	assert_string_equal(kr.keys[1].id, "old");
	assert_int_equal(kr.keys[1].secret_len, 32);
	k = keyring_find(&kr, "old", 3);
	assert_ptr_equal(k, &kr.keys[1]);
	assert_null(keyring_find(&kr, "ol", 2));
	assert_null(keyring_find(&kr, "oldx", 4));
	assert_null(keyring_find(&kr, "OLD", 3));
	assert_non_null(keyring_find(&kr, "ABCDEFGHIJKLMNOPQ", 16));
	keyring_free(&kr);
	assert_null(kr.keys);
	assert_int_equal(kr.n, 0);
	free(s32);
	free(s64);
}

static void
expect_err(const char *text, const char *want)
{
	struct keyring kr;
	char err[512];

	assert_int_equal(keyring_parse("keys", text, &kr, err, sizeof(err)), -1);
	if (strcmp(err, want) != 0)
		fail_msg("for '%s'\n got '%s'\nwant '%s'", text, err, want);
	assert_null(kr.keys);
	assert_int_equal(kr.n, 0);
}

static void
test_errors(void **state)
{
	char *s31 = secret(31), *s32 = secret(32), *s65 = secret(65);
	char text[1024];

	(void)state;
	expect_err("", "keys: no keys");
	expect_err("# only a comment\n\n", "keys: no keys");
	snprintf(text, sizeof(text), "# c\nbad.id %s\n", s32);
	expect_err(text, "keys:2: bad key id 'bad.id': expected 1 to 16 of "
	    "A-Z a-z 0-9 - _");
	snprintf(text, sizeof(text), "ABCDEFGHIJKLMNOPQ %s\n", s32);
	expect_err(text, "keys:1: bad key id 'ABCDEFGHIJKLMNOPQ': expected 1 "
	    "to 16 of A-Z a-z 0-9 - _");
	expect_err("k1\n", "keys:1: missing secret after key id 'k1'");
	snprintf(text, sizeof(text), "k1 %s=\n", s32);
	expect_err(text, "keys:1: bad secret for key 'k1': expected unpadded "
	    "base64url");
	expect_err("k1 AAAA+AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
	    "keys:1: bad secret for key 'k1': expected unpadded base64url");
	/* 32 bytes end in a character with two unused bits: set one */
	snprintf(text, sizeof(text), "k1 %s\n", s32);
	text[3 + 42] = (char)(text[3 + 42] + 1);
	expect_err(text, "keys:1: bad secret for key 'k1': expected unpadded "
	    "base64url");
	snprintf(text, sizeof(text), "k1 %s\n", s31);
	expect_err(text, "keys:1: secret of key 'k1' is too short: 31 bytes, "
	    "expected 32 to 64");
	snprintf(text, sizeof(text), "k1 %s\n", s65);
	expect_err(text, "keys:1: secret of key 'k1' is too long: expected 32 "
	    "to 64 bytes");
	snprintf(text, sizeof(text), "k1 %s\nk2 %s\n\nk1 %s\n", s32, s32, s32);
	expect_err(text, "keys:4: duplicate key id 'k1'");
	snprintf(text, sizeof(text), "k1 %s extra\n", s32);
	expect_err(text, "keys:1: extra text after the secret of key 'k1'");
	free(s31);
	free(s32);
	free(s65);
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static void
test_load_permissions(void **state)
{
	char path[] = "/tmp/mb-test-keys.XXXXXX", err[512], want[600];
	char *s32 = secret(32), text[128];
	struct keyring kr;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	snprintf(text, sizeof(text), "k1 %s\n", s32);

	write_file(path, text, 0644);
	assert_int_equal(keyring_load(path, &kr, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: readable by other users (mode 0644); "
	    "chmod 600 or 640 it", path);
	assert_string_equal(err, want);
	assert_null(kr.keys);

	write_file(path, text, 0602);
	assert_int_equal(keyring_load(path, &kr, err, sizeof(err)), -1);

	write_file(path, text, 0640);
	assert_int_equal(keyring_load(path, &kr, err, sizeof(err)), 0);
	assert_int_equal(kr.n, 1);
	keyring_free(&kr);

	write_file(path, "# none\n", 0600);
	assert_int_equal(keyring_load(path, &kr, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: no keys", path);
	assert_string_equal(err, want);

	unlink(path);
	assert_int_equal(keyring_load(path, &kr, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: cannot open: No such file or directory",
	    path);
	assert_string_equal(err, want);
	free(s32);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_load_permissions),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
