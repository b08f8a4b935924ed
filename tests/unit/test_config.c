/* Unit tests of config.c: mailbeacon.conf(5) values, the exact error
 * messages a postmaster sees, relative file names, and CIDR matching. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* SYSCONFDIR, LOCALSTATEDIR and RUNSTATEDIR: the configured defaults. */
#include "autoconf.h"
#include "mbconfig.h"

static char tmpdir[PATH_MAX];
static char conf[PATH_MAX + 32];

static int
setup(void **state)
{
	char tmpl[] = "/tmp/mb-test-config.XXXXXX";
	char *real;

	(void)state;
	if (mkdtemp(tmpl) == NULL || (real = realpath(tmpl, NULL)) == NULL)
		return -1;
	snprintf(tmpdir, sizeof(tmpdir), "%s", real);
	free(real);
	snprintf(conf, sizeof(conf), "%s/mailbeacon.conf", tmpdir);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	unlink(conf);
	rmdir(tmpdir);
	return 0;
}

static void
write_conf(const char *text)
{
	FILE *f = fopen(conf, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Loads text and returns the error ("" on success), prefix removed. */
static const char *
load_err(const char *text, struct config *cfg)
{
	static char err[1024];
	size_t plen = strlen(conf);
	int rc;

	write_conf(text);
	rc = config_load(conf, cfg, err, sizeof(err));
	if (rc == 0) {
		assert_string_equal(err, "");
		return "";
	}
	assert_int_equal(rc, -1);
	assert_int_equal(strncmp(err, conf, plen), 0);
	return err + plen;
}

static void
expect_ok(const char *text, struct config *cfg)
{
	const char *e = load_err(text, cfg);

	if (*e != '\0')
		fail_msg("unexpected error: %s for %s", e, text);
}

static void
expect_err(const char *text, const char *want)
{
	struct config cfg;
	const char *e = load_err(text, &cfg);

	if (strcmp(e, want) != 0)
		fail_msg("for\n%s\n got '%s'\nwant '%s'", text, e, want);
}

static void
test_defaults(void **state)
{
	struct config cfg;

	(void)state;
	expect_ok("beacon_url = https://t.example.com/\n", &cfg);
	assert_string_equal(cfg.path, conf);
	assert_string_equal(cfg.beacon_url, "https://t.example.com");
	assert_string_equal(cfg.privacy_url, "https://t.example.com/privacy");
	assert_string_equal(cfg.milter_socket, "unix:" RUNSTATEDIR "/mailbeacon/milter.sock");
	assert_string_equal(cfg.database, LOCALSTATEDIR "/lib/mailbeacon/mailbeacon.db");
	assert_string_equal(cfg.policy_file, SYSCONFDIR "/mailbeacon/policy");
	assert_string_equal(cfg.key_file, SYSCONFDIR "/mailbeacon/keys");
	assert_string_equal(cfg.hash_key_file, SYSCONFDIR "/mailbeacon/hash.key");
	assert_string_equal(cfg.beacon_listen, "127.0.0.1:8025");
	assert_null(cfg.footer_html);
	assert_null(cfg.footer_text);
	assert_int_equal(cfg.n_internal_hosts, 2);
	assert_int_equal(cfg.internal_hosts[0].family, AF_INET);
	assert_int_equal(cfg.internal_hosts[0].prefix, 8);
	assert_int_equal(cfg.internal_hosts[1].family, AF_INET6);
	assert_int_equal(cfg.internal_hosts[1].prefix, 128);
	assert_string_equal(cfg.user, "mailbeacon");
	assert_int_equal(cfg.on_error, ON_ERROR_ACCEPT);
	assert_int_equal(cfg.max_message_size, 10485760);
	assert_int_equal(cfg.milter_memory_limit, 1073741824);
	assert_int_equal(cfg.retention_days, 90);
	assert_int_equal(cfg.consent_ask_interval, 180 * 86400);
	assert_null(cfg.footer_ask_html);
	assert_null(cfg.footer_ask_text);
	assert_int_equal(cfg.pixel_position, PIXEL_BOTTOM);
	assert_int_equal(cfg.store_link_urls, STORE_URLS_PATH);
	assert_false(cfg.store_subject);
	assert_string_equal(cfg.sendmail_path, "/usr/sbin/sendmail");
	assert_string_equal(cfg.notify_from, "<>");
	assert_int_equal(cfg.notify_max_per_hour, 20);
	assert_null(cfg.geoip_database);	/* no location unless asked for */
	assert_int_equal(cfg.geoip_precision, GEOIP_COUNTRY);
	config_free(&cfg);
	assert_null(cfg.beacon_url);
}

static void
test_all_keys(void **state)
{
	struct config cfg;
	char want[PATH_MAX + 64];

	(void)state;
	expect_ok(
	    "# mailbeacon.conf\n"
	    "\n"
	    "milter_socket = inet:8891@127.0.0.1\n"
	    "database = data/mb.db\n"
	    "policy_file=/etc/mb/policy\n"
	    "  # an indented comment\n"
	    "key_file =   keys   \n"
	    "beacon_url = https://t.example.com:8443/mb\n"
	    "beacon_listen = [::1]:9000\n"
	    "footer_html = ../footer.html\n"
	    "footer_text = /etc/mb/footer.txt\n"
	    "privacy_url = https://www.example.com/privacy?lang=en#tracking\n"
	    "internal_hosts = 10.0.0.0/8,192.168.1.7\n"
	    "    2001:db8::/32, ::ffff:0:0/96\n"
	    "user = _mb-user1\n"
	    "on_error = tempfail\n"
	    "max_message_size = 1024\n"
	    "retention_days = 3650\r\n"
	    "pixel_position = top\n"
	    "store_link_urls = none\n"
	    "store_subject = yes",
	    &cfg);
	assert_string_equal(cfg.milter_socket, "inet:8891@127.0.0.1");
	snprintf(want, sizeof(want), "%s/data/mb.db", tmpdir);
	assert_string_equal(cfg.database, want);
	assert_string_equal(cfg.policy_file, "/etc/mb/policy");
	snprintf(want, sizeof(want), "%s/keys", tmpdir);
	assert_string_equal(cfg.key_file, want);
	assert_string_equal(cfg.beacon_url, "https://t.example.com:8443/mb");
	assert_string_equal(cfg.beacon_listen, "[::1]:9000");
	snprintf(want, sizeof(want), "%s/../footer.html", tmpdir);
	assert_string_equal(cfg.footer_html, want);
	assert_string_equal(cfg.footer_text, "/etc/mb/footer.txt");
	assert_string_equal(cfg.privacy_url,
	    "https://www.example.com/privacy?lang=en#tracking");
	assert_int_equal(cfg.n_internal_hosts, 4);
	assert_int_equal(cfg.internal_hosts[1].prefix, 32);
	assert_int_equal(cfg.internal_hosts[2].family, AF_INET6);
	assert_int_equal(cfg.internal_hosts[2].prefix, 32);
	assert_string_equal(cfg.user, "_mb-user1");
	assert_int_equal(cfg.on_error, ON_ERROR_TEMPFAIL);
	assert_int_equal(cfg.max_message_size, 1024);
	assert_int_equal(cfg.retention_days, 3650);
	assert_int_equal(cfg.pixel_position, PIXEL_TOP);
	assert_int_equal(cfg.store_link_urls, STORE_URLS_NONE);
	assert_true(cfg.store_subject);
	config_free(&cfg);
}

static void
test_relative_from_cwd(void **state)
{
	struct config cfg;
	char err[512], want[PATH_MAX + 64], old[PATH_MAX];

	(void)state;
	write_conf("beacon_url = http://t\ndatabase = mb.db\nfooter_html =\n");
	assert_non_null(getcwd(old, sizeof(old)));
	assert_int_equal(chdir(tmpdir), 0);
	assert_int_equal(config_load("mailbeacon.conf", &cfg, err, sizeof(err)), 0);
	assert_int_equal(chdir(old), 0);
	/* stored absolute, so a daemon's chdir changes nothing */
	snprintf(want, sizeof(want), "%s/mb.db", tmpdir);
	assert_string_equal(cfg.database, want);
	assert_null(cfg.footer_html);
	config_free(&cfg);
}

static void
test_errors(void **state)
{
	struct config cfg;
	char err[512];

	(void)state;
	expect_err("beacon_url = https://t\nfoo = 1\n",
	    ":2: unknown setting 'foo'");
	expect_err("beacon_url = https://t\n\nfoo\n",
	    ":3: missing '=' after 'foo'");
	expect_err("foo bar = 1\n", ":1: missing '=' after 'foo'");
	expect_err("= 1\n", ":1: missing setting name before '='");
	expect_err("beacon_url = https://t\non_error = x\n",
	    ":2: bad value 'x' for on_error: expected accept or tempfail");
	expect_err("beacon_url = https://t\n# c\ndatabase = a\n\n"
	    "database = b\n",
	    ":5: duplicate setting 'database' (first set at line 3)");
	expect_err("database = /x\n", ": missing required setting 'beacon_url'");
	expect_err("", ": missing required setting 'beacon_url'");
	expect_err("  database = /x\n",
	    ":1: continuation line without a setting before it");
	/* a continued value is reported at the line it starts on */
	expect_err("beacon_url = https://t\nretention_days =\n  0\n",
	    ":2: bad value '0' for retention_days: expected a number of days "
	    "from 1 to 3650");
	/* consent_ask_interval: a count and a unit (days without one) */
	static const struct { const char *v; int seconds; } intervals[] = {
		{ "30", 30 * 86400 }, { "2d", 2 * 86400 }, { "12h", 12 * 3600 },
		{ "5m", 300 }, { "1s", 1 }, { "3650d", 3650 * 86400 },
	};
	for (size_t i = 0; i < sizeof(intervals) / sizeof(intervals[0]); i++) {
		char text[128];
		struct config c;
		snprintf(text, sizeof(text), "beacon_url = https://t\nconsent_ask_interval = %s\n",
			 intervals[i].v);
		expect_ok(text, &c);
		assert_int_equal(c.consent_ask_interval, intervals[i].seconds);
		config_free(&c);
	}
	static const char *const bad_intervals[] = { "0", "0s", "d", "1sd", "1w", "-1d", "3651d", "" };
	for (size_t i = 0; i < sizeof(bad_intervals) / sizeof(bad_intervals[0]); i++) {
		char text[128], want[200];
		snprintf(text, sizeof(text), "beacon_url = https://t\nconsent_ask_interval = %s\n",
			 bad_intervals[i]);
		snprintf(want, sizeof(want), ":2: bad value '%s' for consent_ask_interval: expected "
			 "a number followed by d (days), h, m or s, from 1s to 3650d", bad_intervals[i]);
		expect_err(text, want);
	}
	expect_err("beacon_url = https://t\ninternal_hosts = 10.0.0.0/8 "
	    "10.1.2.3/16\n",
	    ":2: bad value '10.1.2.3/16' for internal_hosts: expected networks "
	    "such as 192.0.2.0/24 or 2001:db8::/32, with no host bits set");
	assert_int_equal(config_load("/nonexistent/mb.conf", &cfg, err,
	    sizeof(err)), -1);
	assert_string_equal(err,
	    "/nonexistent/mb.conf: cannot open: No such file or directory");
}

/* Each line is a bad value for its key. */
static void
test_bad_values(void **state)
{
	static const char *bad[] = {
		"milter_socket = /run/x.sock",
		"milter_socket = unix:relative.sock",
		"milter_socket = inet:0@localhost",
		"milter_socket = inet:65536@localhost",
		"milter_socket = inet:8891",
		"milter_socket = inet:08891@localhost",
		"milter_socket = inet6:8891@",
		"milter_socket = tcp:8891@localhost",
		"beacon_url = ftp://t.example.com",
		"beacon_url = https://",
		"beacon_url = https:///path",
		"beacon_url = https://t.example.com/?q=1",
		"beacon_url = https://t.example.com/#f",
		"beacon_url = https://user@t.example.com",
		"beacon_url = https://u:p@t.example.com/",
		"beacon_url = https://t.example.com:0",
		"beacon_url = https://t.example.com:99999/",
		"beacon_url = https://t.example.com:/",
		"beacon_url = https://t.exa mple.com",
		"beacon_url = https://t.example.com//",
		"beacon_url = https://[::1/x",
		"beacon_url = https://t.example.com/p\xc3\xa4th",
		"privacy_url = mailto:x@example.com",
		"beacon_listen = 127.0.0.1",
		"beacon_listen = 127.0.0.1:0",
		"beacon_listen = ::1:8025",
		"beacon_listen = [::1]8025",
		"beacon_listen = [nothost]:8025",
		"internal_hosts = 10.0.0.0/33",
		"internal_hosts = ::1/129",
		"internal_hosts = 10.0.0.1/24",
		"internal_hosts = 10.0.0.0/08",
		"internal_hosts = example.com",
		"internal_hosts = 10.0.0.0/",
		"user = Mailbeacon",
		"user = 1mb",
		"user = abcdefghijabcdefghijabcdefghijabc",
		"user = mb user",
		"on_error = Accept",
		"max_message_size = 1023",
		"max_message_size = 1073741825",
		"max_message_size = 10M",
		"max_message_size = -1",
		"max_message_size = 99999999999999999999999",
		"retention_days = 0",
		"retention_days = 3651",
		"pixel_position = middle",
		"store_link_urls = query",
		"store_subject = true",
		"sendmail_path = sendmail",
		"sendmail_path = /usr/sbin/sendmail -C /etc/p\tx",
		"notify_from = beacon",
		"notify_from = <beacon@example.com>",
		"notify_from = -oQ@example.com",
		"notify_from = a b@example.com",
		"notify_from = a@b@example.com",
		"notify_max_per_hour = 0",
		"geoip_precision = town",
		"geoip_precision = City",
		"database =",
		"user =",
	};
	char text[512], want[256];
	struct config cfg;
	const char *e;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "%s%s\n",
		    strncmp(bad[i], "beacon_url", 10) ? "beacon_url = http://t\n" :
		    "", bad[i]);
		e = load_err(text, &cfg);
		snprintf(want, sizeof(want), ":%d: bad value '",
		    strncmp(bad[i], "beacon_url", 10) ? 2 : 1);
		if (strncmp(e, want, strlen(want)) != 0)
			fail_msg("%s: got '%s'", bad[i], e);
	}
}

static void
test_good_values(void **state)
{
	static const char *good[] = {
		"milter_socket = unix:/var/spool/postfix/mb/milter",
		"sendmail_path = /usr/sbin/sendmail -C /etc/postfix-out",
		"notify_from = mailbeacon@example.com",
		"notify_from = <>",
		"notify_max_per_hour = 1",
		"geoip_database = /var/lib/GeoIP/GeoLite2-City.mmdb",
		"geoip_precision = city",
		"milter_socket = inet:1@localhost",
		"milter_socket = inet:65535@mail.example.com",
		"milter_socket = inet6:8891@::1",
		"milter_socket = inet6:8891@[::1]",
		"beacon_listen = localhost:80",
		"beacon_listen = [2001:db8::1]:8025",
		"beacon_listen = 0.0.0.0:8025",
		"internal_hosts =",
		"internal_hosts = 0.0.0.0/0 ::/0",
		"user = a",
		"max_message_size = 1073741824",
		"privacy_url = http://example.com",
		"privacy_url =",
		"footer_text = ",
	};
	char text[512];
	struct config cfg;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(text, sizeof(text), "beacon_url = http://t\n%s\n", good[i]);
		expect_ok(text, &cfg);
		config_free(&cfg);
	}
	expect_ok("beacon_url = http://[2001:db8::2]:8080/a/b/\n", &cfg);
	assert_string_equal(cfg.beacon_url, "http://[2001:db8::2]:8080/a/b");
	assert_string_equal(cfg.privacy_url, "http://[2001:db8::2]:8080/a/b/privacy");
	config_free(&cfg);
	expect_ok("beacon_url = http://t\ninternal_hosts =\n", &cfg);
	assert_int_equal(cfg.n_internal_hosts, 0);
	config_free(&cfg);
}

static void
test_continuation(void **state)
{
	struct config cfg;

	(void)state;
	expect_ok("beacon_url =\n"
	    "\thttps://t.example.com\n"
	    "internal_hosts = 10.0.0.0/8,\n"
	    "\n"
	    "# a comment inside does not end the value\n"
	    "   172.16.0.0/12\n"
	    "\t192.168.0.0/16\n", &cfg);
	assert_string_equal(cfg.beacon_url, "https://t.example.com");
	assert_int_equal(cfg.n_internal_hosts, 3);
	assert_int_equal(cfg.internal_hosts[2].prefix, 16);
	config_free(&cfg);
}

static struct sockaddr_storage
sa_make(const char *addr)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(addr, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, addr, &s6->sin6_addr), 1);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, addr, &s4->sin_addr), 1);
	}
	return ss;
}

static bool
match(const struct cidr *list, size_t n, const char *addr)
{
	struct sockaddr_storage ss = sa_make(addr);

	return cidr_match_any(list, n, (struct sockaddr *)&ss);
}

static void
test_cidr(void **state)
{
	struct cidr c[4];
	struct sockaddr sa;

	(void)state;
	assert_int_equal(cidr_parse("192.168.0.0/16", &c[0]), 0);
	assert_int_equal(c[0].family, AF_INET);
	assert_int_equal(c[0].prefix, 16);
	assert_int_equal(cidr_parse("10.1.2.128/25", &c[1]), 0);
	assert_int_equal(cidr_parse("2001:db8:1::/48", &c[2]), 0);
	assert_int_equal(c[2].family, AF_INET6);
	assert_int_equal(cidr_parse("fe80::1", &c[3]), 0);
	assert_int_equal(c[3].prefix, 128);

	assert_true(match(c, 4, "192.168.255.1"));
	assert_false(match(c, 4, "192.169.0.1"));
	assert_true(match(c, 4, "10.1.2.200"));
	assert_false(match(c, 4, "10.1.2.127"));
	assert_true(match(c, 4, "2001:db8:1:ffff::1"));
	assert_false(match(c, 4, "2001:db8:2::1"));
	assert_true(match(c, 4, "fe80::1"));
	assert_false(match(c, 4, "fe80::2"));
	/* IPv4-mapped IPv6 matches the IPv4 networks */
	assert_true(match(c, 4, "::ffff:192.168.1.1"));
	assert_true(match(c, 4, "::ffff:10.1.2.129"));
	assert_false(match(c, 4, "::ffff:10.1.2.1"));
	/* but an IPv4 network is not an IPv6 one */
	assert_false(match(c, 1, "::192.168.1.1"));
	assert_false(match(c, 0, "192.168.1.1"));
	memset(&sa, 0, sizeof(sa));
	sa.sa_family = AF_UNIX;
	assert_false(cidr_match_any(c, 4, &sa));

	assert_int_equal(cidr_parse("0.0.0.0/0", &c[0]), 0);
	assert_true(match(c, 1, "203.0.113.9"));
	assert_false(match(c, 1, "2001:db8::1"));
	assert_int_equal(cidr_parse("10.0.0.0/7", &c[0]), 0);
	assert_int_equal(cidr_parse("11.0.0.0/7", &c[0]), -1);	/* host bit */
	assert_int_equal(cidr_parse("10.0.0.128/25", &c[0]), 0);
	assert_int_equal(cidr_parse("10.0.0.64/25", &c[0]), -1);
	assert_int_equal(cidr_parse("10.0.0.0/-1", &c[0]), -1);
	assert_int_equal(cidr_parse("10.0.0/8", &c[0]), -1);
	assert_int_equal(cidr_parse("::/0", &c[0]), 0);
	assert_int_equal(cidr_parse("2001:db8::1/64", &c[0]), -1);
	assert_int_equal(cidr_parse("", &c[0]), -1);
	assert_int_equal(cidr_parse("/8", &c[0]), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_all_keys),
		cmocka_unit_test(test_relative_from_cwd),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_good_values),
		cmocka_unit_test(test_continuation),
		cmocka_unit_test(test_cidr),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
