/* Unit tests of load.c, the one loader of the three programs: each part
 * named is read from the file the configuration names and nothing else is;
 * the API token is a secret (a file others can read is refused, as sync
 * refuses it), trimmed and at least 16 characters; footer templates go
 * through the check given; every error names its file. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "footer.h"
#include "load.h"

static char dir[64];
static char conf[128];

static void
put(const char *name, const char *text, mode_t mode)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_int_equal(chmod(path, mode), 0);
}

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_load.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(conf, sizeof(conf), "%s/mailbeacon.conf", dir);
	put("keys", "k1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n", 0600);
	put("hash.key", "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8\n", 0640);
	put("policy", "alice@example.com opens clicks footer\n", 0644);
	put("footer.html", "<p>{sender} tracks {tracked}: <a href=\"{optout_url}\">no</a></p>", 0644);
	put("api.token", "0123456789abcdefXYZ \r\n", 0600);
	put("mailbeacon.conf",
	    "beacon_url = https://t.example.com\n"
	    "key_file = keys\nhash_key_file = hash.key\npolicy_file = policy\n"
	    "footer_html = footer.html\napi_token_file = api.token\n", 0644);
	return 0;
}

static int
teardown(void **state)
{
	const char *names[] = { "keys", "hash.key", "policy", "footer.html", "api.token",
				"mailbeacon.conf", "data.key" };
	char path[256];

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
	return 0;
}

static void
test_every_part(void **state)
{
	struct config cfg;
	struct keyring keys = { 0 };
	struct policy pol = { 0 };
	struct store_hash_key hk = { 0 };
	char *html = NULL, *text = (char *)"unset", *token = NULL, err[512] = "";
	struct load_targets t = { .cfg = &cfg, .keys = &keys, .policy = &pol, .hash_key = &hk,
				  .footer_html = &html, .footer_text = &text,
				  .footer_check = footer_check, .api_token = &token };

	(void)state;
	assert_int_equal(load_all(conf, &t, err, sizeof(err)), 0);
	assert_int_equal(keys.n, 1);
	assert_int_equal(pol.n, 1);
	assert_int_equal(hk.len, 32);
	assert_int_equal(hk.key[0], 0x20);
	assert_int_equal(hk.key[31], 0x3f);
	assert_non_null(html);
	assert_non_null(strstr(html, "{optout_url}"));
	assert_null(text);	/* footer_text unset: the built-in one */
	assert_string_equal(token, "0123456789abcdefXYZ");
	keyring_free(&keys);
	policy_free(&pol);
	free(html);
	free(token);
	config_free(&cfg);
}

/* Parts not named are not read: their files may be broken or missing. */
static void
test_only_named(void **state)
{
	struct config cfg;
	struct policy pol = { 0 };
	char err[512] = "";
	struct load_targets t = { .cfg = &cfg, .policy = &pol };

	(void)state;
	put("keys", "not a key file\n", 0644);
	put("api.token", "short\n", 0644);
	assert_int_equal(load_all(conf, &t, err, sizeof(err)), 0);
	assert_int_equal(pol.n, 1);
	policy_free(&pol);
	/* A reload with the configuration already in hand. */
	struct keyring keys = { 0 };
	struct load_targets r = { .cfg = &cfg, .keys = &keys };
	assert_int_equal(load_named(&r, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/keys"));
	keyring_free(&keys);
	config_free(&cfg);
}

static int
token_error(const char *text, mode_t mode, char *err, size_t errlen)
{
	struct config cfg;
	char *token = (char *)"unset";
	struct load_targets t = { .cfg = &cfg, .api_token = &token };

	put("api.token", text, mode);
	int rc = load_all(conf, &t, err, errlen);
	if (rc == 0) {
		assert_non_null(token);
		free(token);
	} else {
		assert_null(token);
	}
	config_free(&cfg);
	return rc;
}

static void
test_api_token(void **state)
{
	char err[512], want[300];

	(void)state;
	assert_int_equal(token_error("0123456789abcdefXYZ\n", 0640, err, sizeof(err)), 0);
	assert_int_equal(token_error("0123456789abcdefXYZ\n", 0644, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s/api.token: readable by other users (mode 0644)", dir);
	assert_memory_equal(err, want, strlen(want));
	assert_int_equal(token_error("0123456789abcde\n", 0600, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "api.token: the API token must be one line of at least 16"));
	assert_int_equal(token_error("0123456789abcdef", 0600, err, sizeof(err)), 0);
}

static void
test_footer_error(void **state)
{
	struct config cfg;
	char *html = NULL, err[512], want[300];
	struct load_targets t = { .cfg = &cfg, .footer_html = &html, .footer_check = footer_check };

	(void)state;
	put("footer.html", "<p>{sendr}</p>", 0644);
	assert_int_equal(load_all(conf, &t, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s/footer.html: unknown placeholder {sendr}", dir);
	assert_string_equal(err, want);
	free(html);
	config_free(&cfg);
	/* A missing file, and a configuration error, name their file too. */
	char path[256];
	snprintf(path, sizeof(path), "%s/footer.html", dir);
	unlink(path);
	html = NULL;
	assert_int_equal(load_all(conf, &t, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s/footer.html: cannot open: ", dir);
	assert_memory_equal(err, want, strlen(want));
	config_free(&cfg);
	put("mailbeacon.conf", "beacon_url = https://t.example.com\nkey_fil = keys\n", 0644);
	assert_int_equal(load_all(conf, &t, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:2: ", conf);
	assert_memory_equal(err, want, strlen(want));
}

/* consent=optin's ask footer: loaded with its own check, which wants the
 * consent link and refuses the opt-out one; the shipped samples pass. */
static void
test_ask_footer(void **state)
{
	struct config cfg;
	char *html = NULL, *text = NULL, err[512], want[300];
	struct load_targets t = { .cfg = &cfg, .footer_ask_html = &html, .footer_ask_text = &text,
				  .footer_check_ask = footer_check_ask };

	(void)state;
	put("mailbeacon.conf", "beacon_url = https://t.example.com\n"
	    "footer_ask_html = ask.html\nfooter_ask_text = ask.txt\n", 0644);
	put("ask.html", "<p>{sender} asks: <a href=\"{consent_url}\">yes</a> ({tracked})</p>", 0644);
	put("ask.txt", "{sender} asks: {consent_url}\n", 0644);
	assert_int_equal(load_all(conf, &t, err, sizeof(err)), 0);
	assert_non_null(strstr(html, "{consent_url}"));
	assert_non_null(strstr(text, "{consent_url}"));
	free(html);
	free(text);
	config_free(&cfg);
	put("ask.txt", "{sender} asks, no link\n", 0644);
	assert_int_equal(load_all(conf, &t, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s/ask.txt: the template has no {consent_url}: "
		 "recipients must be able to say yes", dir);
	assert_string_equal(err, want);
	free(html);
	free(text);
	config_free(&cfg);
	put("ask.txt", "{consent_url} or {optout_url}\n", 0644);
	assert_int_equal(load_all(conf, &t, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "ask.txt: {optout_url} has no place in this footer"));
	free(html);
	free(text);
	config_free(&cfg);
	/* and the tracked footer refuses the consent link */
	assert_int_equal(footer_check("{optout_url} {consent_url}", err, sizeof(err)), -1);
	assert_string_equal(err, "{consent_url} has no place in this footer");
	assert_int_equal(footer_check_ask(footer_default_ask_html, err, sizeof(err)), 0);
	assert_int_equal(footer_check_ask(footer_default_ask_text, err, sizeof(err)), 0);
}

/* data_key_file is refused by every program until the store encrypts
 * (nothing may be written in plaintext under it), after its file is checked
 * like the other secrets. */
static void
test_data_key_refused(void **state)
{
	struct config cfg;
	char err[512], want[300];
	struct load_targets t = { .cfg = &cfg };

	(void)state;
	put("mailbeacon.conf", "beacon_url = https://t.example.com\ndata_key_file = data.key\n", 0644);
	put("data.key", "d1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n", 0600);
	assert_int_equal(load_all(conf, &t, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "data_key_file = %s/data.key: this version of mailbeacon "
		 "cannot encrypt the store yet and would store its fields in plaintext; "
		 "remove the setting", dir);
	assert_string_equal(err, want);
	config_free(&cfg);
	put("data.key", "d1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n", 0644);
	assert_int_equal(load_all(conf, &t, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s/data.key: readable by other users (mode 0644)", dir);
	assert_memory_equal(err, want, strlen(want));
	config_free(&cfg);
	put("data.key", "d1 tooshort\n", 0600);
	assert_int_equal(load_all(conf, &t, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "data.key:1: "));
	config_free(&cfg);
	/* Unset: nothing changes. */
	put("mailbeacon.conf", "beacon_url = https://t.example.com\n", 0644);
	assert_int_equal(load_all(conf, &t, err, sizeof(err)), 0);
	assert_null(cfg.data_key_file);
	config_free(&cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_every_part, setup, teardown),
		cmocka_unit_test_setup_teardown(test_only_named, setup, teardown),
		cmocka_unit_test_setup_teardown(test_api_token, setup, teardown),
		cmocka_unit_test_setup_teardown(test_footer_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ask_footer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_data_key_refused, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
