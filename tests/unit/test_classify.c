/* Unit tests of classify.c: the verdicts with the real user agents and
 * request shapes of Apple Mail Privacy Protection, Gmail's image proxy,
 * Outlook, Thunderbird, iOS Mail, desktop browsers, Safe-Links-like
 * scanners, HTTP libraries and prefetchers; address masking; DNT/GPC;
 * client classes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

#include "classify.h"

/* The real strings. */
#define UA_APPLE_MPP	"Mozilla/5.0"
#define UA_GMAIL	"Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
#define UA_YAHOO	"YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html"
#define UA_OUTLOOK	"Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.16827; Pro)"
#define UA_OUTLOOK_MSO	"Mozilla/4.0 (compatible; ms-office; MSOffice 16)"
#define UA_OUTLOOK_IOS	"Outlook-iOS/723.4027091.prod.iphone (4.2305.0)"
#define UA_THUNDERBIRD	"Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.3.1"
#define UA_IOS_MAIL	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
#define UA_MAC_MAIL	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
#define UA_CHROME_WIN	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
#define UA_FIREFOX_WIN	"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0"
#define UA_SAFARI_MAC	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15"
#define UA_FIREFOX_LINUX "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
#define UA_CHROME_ANDROID "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36"
#define UA_CUBOT	"Mozilla/5.0 (Linux; Android 10; CUBOT X30) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Mobile Safari/537.36"
/* What Microsoft's Safe Links detonation is widely reported to send; also
 * a real Edge 18 (EdgeHTML) browser. */
#define UA_SAFELINKS	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/64.0.3282.140 Safari/537.36 Edge/18.17763"
#define UA_CURL		"curl/8.4.0"
#define UA_REQUESTS	"python-requests/2.31.0"
#define UA_WGET		"Wget/1.21.4"
#define UA_GO		"Go-http-client/1.1"
#define UA_SLACK	"Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"
#define UA_FACEBOOK	"facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"
#define UA_GOOGLEBOT	"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"

#define SENT		1700000000LL
#define WINDOW		60u

struct addr {
	struct sockaddr_storage ss;
};

static const struct sockaddr *
v4(struct addr *a, const char *text)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&a->ss;

	memset(a, 0, sizeof *a);
	sin->sin_family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, text, &sin->sin_addr), 1);
	return (const struct sockaddr *)&a->ss;
}

static const struct sockaddr *
v6(struct addr *a, const char *text)
{
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a->ss;

	memset(a, 0, sizeof *a);
	s6->sin6_family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, text, &s6->sin6_addr), 1);
	return (const struct sockaddr *)&a->ss;
}

/* A plain GET from a residential address, some time after sending. */
static struct request_facts
facts(char kind, const char *ua, long long after, struct addr *a)
{
	struct request_facts f;

	memset(&f, 0, sizeof f);
	f.kind = kind;
	f.user_agent = ua;
	f.client = v4(a, "198.51.100.23");
	f.sent = SENT;
	f.now = SENT + after;
	f.scanner_window = WINDOW;
	return f;
}

static enum verdict
open_from(const char *ua, const char *ip4)
{
	struct addr a;
	struct request_facts f = facts('o', ua, 3600, &a);

	if (ip4 != NULL)
		f.client = v4(&a, ip4);
	return classify_verdict(&f);
}

static enum verdict
click_after(const char *ua, long long after)
{
	struct addr a;
	struct request_facts f = facts('c', ua, after, &a);

	return classify_verdict(&f);
}

/* ---- verdicts ---- */

static void
test_apple_mpp(void **state)
{
	struct addr a;
	struct request_facts f;

	(void)state;
	/* The proxy's bare UA from Apple's network. */
	assert_int_equal(open_from(UA_APPLE_MPP, "17.58.101.7"), VERDICT_APPLE_MPP);
	/* The same UA from a Private Relay egress outside 17/8. */
	assert_int_equal(open_from(UA_APPLE_MPP, "172.224.226.5"), VERDICT_APPLE_MPP);
	/* Any open from 17.0.0.0/8, also as an IPv4-mapped address. */
	assert_int_equal(open_from(UA_MAC_MAIL, "17.58.101.7"), VERDICT_APPLE_MPP);
	f = facts('o', UA_IOS_MAIL, 3600, &a);
	f.client = v6(&a, "::ffff:17.1.2.3");
	assert_int_equal(classify_verdict(&f), VERDICT_APPLE_MPP);
	/* Just outside 17/8. */
	assert_int_equal(open_from(UA_MAC_MAIL, "16.255.255.255"), VERDICT_HUMAN);
	assert_int_equal(open_from(UA_MAC_MAIL, "18.0.0.1"), VERDICT_HUMAN);
	/* MPP does not follow links: a person clicking from Apple's network. */
	f = facts('c', UA_SAFARI_MAC, 7200, &a);
	f.client = v4(&a, "17.58.101.7");
	assert_int_equal(classify_verdict(&f), VERDICT_HUMAN);
	/* No client address at all. */
	f = facts('o', UA_IOS_MAIL, 3600, &a);
	f.client = NULL;
	assert_int_equal(classify_verdict(&f), VERDICT_HUMAN);
	/* Blanks around the bare UA. */
	assert_int_equal(open_from(" Mozilla/5.0 ", NULL), VERDICT_APPLE_MPP);
	/* More than the bare UA is not the proxy. */
	assert_int_equal(open_from("Mozilla/5.0 (X11)", NULL), VERDICT_HUMAN);
}

static void
test_gmail_proxy(void **state)
{
	(void)state;
	assert_int_equal(open_from(UA_GMAIL, "66.249.84.10"), VERDICT_GMAIL_PROXY);
	/* Even though its UA says Windows XP Firefox 11, it is not a scanner,
	 * and a proxied open is a real open, not Apple's prefetch. */
	assert_string_equal(verdict_name(open_from(UA_GMAIL, NULL)), "gmail-proxy");
	/* The image proxy never follows links for a person. */
	assert_int_equal(click_after(UA_GMAIL, 7200), VERDICT_SCANNER);
}

static void
test_mail_clients_are_human(void **state)
{
	(void)state;
	assert_int_equal(open_from(UA_OUTLOOK, NULL), VERDICT_HUMAN);
	assert_int_equal(open_from(UA_OUTLOOK_MSO, NULL), VERDICT_HUMAN);
	assert_int_equal(open_from(UA_OUTLOOK_IOS, NULL), VERDICT_HUMAN);
	assert_int_equal(open_from(UA_THUNDERBIRD, NULL), VERDICT_HUMAN);
	assert_int_equal(open_from(UA_IOS_MAIL, NULL), VERDICT_HUMAN);
	assert_int_equal(open_from(UA_MAC_MAIL, NULL), VERDICT_HUMAN);
	assert_int_equal(open_from(UA_YAHOO, NULL), VERDICT_HUMAN);
	assert_int_equal(open_from(UA_CUBOT, NULL), VERDICT_HUMAN);
	/* Browsers clicking later. */
	assert_int_equal(click_after(UA_CHROME_WIN, 600), VERDICT_HUMAN);
	assert_int_equal(click_after(UA_FIREFOX_WIN, 600), VERDICT_HUMAN);
	assert_int_equal(click_after(UA_SAFARI_MAC, 600), VERDICT_HUMAN);
	assert_int_equal(click_after(UA_FIREFOX_LINUX, 600), VERDICT_HUMAN);
	assert_int_equal(click_after(UA_IOS_MAIL, 600), VERDICT_HUMAN);
	assert_int_equal(click_after(UA_CHROME_ANDROID, 600), VERDICT_HUMAN);
	assert_int_equal(click_after(UA_CUBOT, 600), VERDICT_HUMAN);
	assert_int_equal(click_after(UA_THUNDERBIRD, 600), VERDICT_HUMAN);
	assert_int_equal(click_after(UA_OUTLOOK, 600), VERDICT_HUMAN);
}

static void
test_click_timing(void **state)
{
	(void)state;
	/* Chrome, ten minutes after sending: a person. */
	assert_int_equal(click_after(UA_CHROME_WIN, 10 * 60), VERDICT_HUMAN);
	/* Five seconds after sending: a gateway checking links. */
	assert_int_equal(click_after(UA_CHROME_WIN, 5), VERDICT_SCANNER);
	/* The window's edge: now - sent < window. */
	assert_int_equal(click_after(UA_CHROME_WIN, WINDOW - 1), VERDICT_SCANNER);
	assert_int_equal(click_after(UA_CHROME_WIN, WINDOW), VERDICT_HUMAN);
	/* Dated before sending. */
	assert_int_equal(click_after(UA_CHROME_WIN, -1), VERDICT_SCANNER);
	/* Opens are not timed: a mail client may show the message at once. */
	assert_int_equal(open_from(UA_THUNDERBIRD, NULL), VERDICT_HUMAN);
	{
		struct addr a;
		struct request_facts f = facts('o', UA_THUNDERBIRD, 2, &a);

		assert_int_equal(classify_verdict(&f), VERDICT_HUMAN);
	}
}

static void
test_click_window_zero(void **state)
{
	struct addr a;
	struct request_facts f = facts('c', UA_CHROME_WIN, 0, &a);

	(void)state;
	f.scanner_window = 0;
	assert_int_equal(classify_verdict(&f), VERDICT_HUMAN);
	f.now = SENT - 10;
	assert_int_equal(classify_verdict(&f), VERDICT_SCANNER);
	/* Extreme times neither overflow nor pass as a person's. */
	f.scanner_window = WINDOW;
	f.sent = -9223372036854775807LL - 1;
	f.now = 9223372036854775807LL;
	assert_int_equal(classify_verdict(&f), VERDICT_HUMAN);
	f.sent = f.now;
	assert_int_equal(classify_verdict(&f), VERDICT_SCANNER);
}

static void
test_several_links_one_second(void **state)
{
	struct addr a;
	struct request_facts f = facts('c', UA_CHROME_WIN, 7200, &a);

	(void)state;
	f.other_links_last_second = 2;
	assert_int_equal(classify_verdict(&f), VERDICT_SCANNER);
	f.other_links_last_second = 0;
	assert_int_equal(classify_verdict(&f), VERDICT_HUMAN);
}

static void
test_safe_links_like(void **state)
{
	(void)state;
	/* Its UA is also a real Edge 18: only timing tells. */
	assert_int_equal(click_after(UA_SAFELINKS, 3), VERDICT_SCANNER);
	assert_int_equal(click_after(UA_SAFELINKS, 2 * 3600), VERDICT_HUMAN);
	assert_string_equal(classify_client(UA_SAFELINKS), "windows");
}

static void
test_libraries_and_bots(void **state)
{
	(void)state;
	assert_int_equal(click_after(UA_CURL, 7200), VERDICT_SCANNER);
	assert_int_equal(click_after(UA_REQUESTS, 7200), VERDICT_SCANNER);
	assert_int_equal(click_after(UA_WGET, 7200), VERDICT_SCANNER);
	assert_int_equal(click_after(UA_GO, 7200), VERDICT_SCANNER);
	assert_int_equal(click_after("Java/17.0.9", 7200), VERDICT_SCANNER);
	assert_int_equal(click_after("okhttp/4.12.0", 7200), VERDICT_SCANNER);
	assert_int_equal(click_after("libwww-perl/6.72", 7200), VERDICT_SCANNER);
	assert_int_equal(click_after("Python/3.11 aiohttp/3.9.1", 7200), VERDICT_SCANNER);
	assert_int_equal(click_after(UA_SLACK, 7200), VERDICT_SCANNER);
	assert_int_equal(click_after(UA_FACEBOOK, 7200), VERDICT_SCANNER);
	assert_int_equal(click_after(UA_GOOGLEBOT, 7200), VERDICT_SCANNER);
	assert_int_equal(click_after("Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5", 7200),
			 VERDICT_SCANNER);
	assert_int_equal(click_after("TelegramBot (like TwitterBot)", 7200), VERDICT_SCANNER);
	assert_int_equal(click_after("WhatsApp/2.23.20.0 A", 7200), VERDICT_SCANNER);
	/* Fetching the pixel with curl is no open either. */
	assert_int_equal(open_from(UA_CURL, NULL), VERDICT_SCANNER);
	/* No UA on a click; the bare proxy UA on a click. */
	assert_int_equal(click_after(NULL, 7200), VERDICT_SCANNER);
	assert_int_equal(click_after("", 7200), VERDICT_SCANNER);
	assert_int_equal(click_after("  ", 7200), VERDICT_SCANNER);
	assert_int_equal(click_after(UA_APPLE_MPP, 7200), VERDICT_SCANNER);
	/* A missing UA on an open alone proves nothing. */
	assert_int_equal(open_from(NULL, NULL), VERDICT_HUMAN);
}

static void
test_prefetch(void **state)
{
	struct addr a;
	struct request_facts f;

	(void)state;
	/* HEAD: never a person, whatever else. */
	f = facts('o', UA_CHROME_WIN, 3600, &a);
	f.head = true;
	assert_int_equal(classify_verdict(&f), VERDICT_PREFETCH);
	f = facts('c', UA_CURL, 2, &a);
	f.head = true;
	f.honeypot = true;
	assert_int_equal(classify_verdict(&f), VERDICT_PREFETCH);
	/* Purpose: prefetch (Chrome's <link rel=prefetch>). */
	f = facts('c', UA_CHROME_WIN, 3600, &a);
	f.purpose = "prefetch";
	assert_int_equal(classify_verdict(&f), VERDICT_PREFETCH);
	/* Sec-Purpose: prefetch;prerender (Chromium prerender). */
	f = facts('c', UA_CHROME_WIN, 3600, &a);
	f.sec_purpose = "prefetch;prerender";
	assert_int_equal(classify_verdict(&f), VERDICT_PREFETCH);
	f.sec_purpose = "prefetch";
	assert_int_equal(classify_verdict(&f), VERDICT_PREFETCH);
	/* An unrelated purpose. */
	f.sec_purpose = "";
	f.purpose = "";
	assert_int_equal(classify_verdict(&f), VERDICT_HUMAN);
}

static void
test_honeypot(void **state)
{
	struct addr a;
	struct request_facts f = facts('c', UA_CHROME_WIN, 7200, &a);

	(void)state;
	f.honeypot = true;
	assert_int_equal(classify_verdict(&f), VERDICT_SCANNER);
}

static void
test_verdict_names(void **state)
{
	(void)state;
	assert_string_equal(verdict_name(VERDICT_HUMAN), "human");
	assert_string_equal(verdict_name(VERDICT_APPLE_MPP), "apple-mpp");
	assert_string_equal(verdict_name(VERDICT_GMAIL_PROXY), "gmail-proxy");
	assert_string_equal(verdict_name(VERDICT_PREFETCH), "prefetch");
	assert_string_equal(verdict_name(VERDICT_SCANNER), "scanner");
	assert_string_equal(verdict_name((enum verdict)VERDICT_COUNT), "unknown");
}

/* ---- masking ---- */

static void
mask_ok(const struct sockaddr *sa, const char *want)
{
	char out[64];

	memset(out, 'x', sizeof out);
	assert_int_equal(classify_mask_ip(sa, out, sizeof out), 0);
	assert_string_equal(out, want);
}

static void
test_mask_ipv4(void **state)
{
	struct addr a;

	(void)state;
	mask_ok(v4(&a, "192.0.2.77"), "192.0.2.0/24");
	mask_ok(v4(&a, "203.0.113.255"), "203.0.113.0/24");
	mask_ok(v4(&a, "17.58.101.7"), "17.58.101.0/24");
	mask_ok(v4(&a, "0.0.0.0"), "0.0.0.0/24");
}

static void
test_mask_ipv6(void **state)
{
	struct addr a;

	(void)state;
	mask_ok(v6(&a, "2001:db8:1:2:3:4:5:6"), "2001:db8:1::/48");
	mask_ok(v6(&a, "2001:db8:abcd:ffff:ffff:ffff:ffff:ffff"), "2001:db8:abcd::/48");
	mask_ok(v6(&a, "2001:db8::1"), "2001:db8::/48");
	mask_ok(v6(&a, "2a01:4f8:c17:1234::1"), "2a01:4f8:c17::/48");
	mask_ok(v6(&a, "::1"), "::/48");
}

static void
test_mask_mapped(void **state)
{
	struct addr a;

	(void)state;
	mask_ok(v6(&a, "::ffff:198.51.100.23"), "198.51.100.0/24");
	mask_ok(v6(&a, "::ffff:10.1.2.3"), "10.1.2.0/24");
}

/* 6to4 and Teredo carry the client's whole IPv4 address within the first
 * 48 bits or in the last 32: masked as that IPv4 address. */
static void
test_mask_embedded_ipv4(void **state)
{
	struct addr a;

	(void)state;
	/* 6to4 (RFC 3056): 2002:c633:6417::/48 is 198.51.100.23. */
	mask_ok(v6(&a, "2002:c633:6417::1"), "198.51.100.0/24");
	mask_ok(v6(&a, "2002:c633:6417:ffff:1:2:3:4"), "198.51.100.0/24");
	mask_ok(v6(&a, "2002:cb00:71ff::"), "203.0.113.0/24");
	/* Teredo (RFC 4380, its own example): server 65.54.227.120, client
	 * 192.0.2.45 behind port 40000, the last 32 bits inverted. */
	mask_ok(v6(&a, "2001:0:4136:e378:8000:63bf:3fff:fdd2"), "192.0.2.0/24");
	mask_ok(v6(&a, "2001:0:4136:e378:8000:63bf:34cc:9be8"), "203.51.100.0/24");
	/* Nearby prefixes that embed nothing keep their /48. */
	mask_ok(v6(&a, "2001:db8:c633:6417::1"), "2001:db8:c633::/48");
	mask_ok(v6(&a, "2001:1:4136:e378::1"), "2001:1:4136::/48");
	mask_ok(v6(&a, "2003:c633:6417::1"), "2003:c633:6417::/48");
}

static void
test_mask_errors(void **state)
{
	struct addr a;
	struct sockaddr_un un;
	char out[64];
	const struct sockaddr *sa;

	(void)state;
	memset(&un, 0, sizeof un);
	un.sun_family = AF_UNIX;
	strcpy(out, "unknown");
	assert_int_equal(classify_mask_ip((const struct sockaddr *)&un, out, sizeof out), -1);
	assert_string_equal(out, "unknown");	/* a caller's placeholder survives */
	assert_int_equal(classify_mask_ip(NULL, out, sizeof out), -1);
	/* Exact fit and one byte short. */
	sa = v4(&a, "192.0.2.77");
	assert_int_equal(classify_mask_ip(sa, out, sizeof "192.0.2.0/24"), 0);
	assert_string_equal(out, "192.0.2.0/24");
	assert_int_equal(classify_mask_ip(sa, out, sizeof "192.0.2.0/24" - 1), -1);
	assert_int_equal(classify_mask_ip(sa, out, 0), -1);
	sa = v6(&a, "2001:db8:1:2:3:4:5:6");
	assert_int_equal(classify_mask_ip(sa, out, sizeof "2001:db8:1::/48"), 0);
	assert_string_equal(out, "2001:db8:1::/48");
	strcpy(out, "unknown");
	assert_int_equal(classify_mask_ip(sa, out, sizeof "2001:db8:1::/48" - 1), -1);
	assert_string_equal(out, "unknown");
}

/* ---- DNT / GPC ---- */

static void
test_dnt(void **state)
{
	(void)state;
	assert_true(classify_dnt("1", NULL));
	assert_true(classify_dnt(NULL, "1"));
	assert_true(classify_dnt(" 1 ", NULL));
	assert_true(classify_dnt(NULL, "\t1"));
	assert_true(classify_dnt("0", "1"));
	assert_false(classify_dnt(NULL, NULL));
	assert_false(classify_dnt("0", "0"));
	assert_false(classify_dnt("", ""));
	assert_false(classify_dnt("11", "1x"));
	assert_false(classify_dnt("true", NULL));
}

/* ---- client classes ---- */

static void
test_client_classes(void **state)
{
	(void)state;
	assert_string_equal(classify_client(NULL), "unknown");
	assert_string_equal(classify_client(""), "unknown");
	assert_string_equal(classify_client(UA_GMAIL), "gmail");
	assert_string_equal(classify_client(UA_YAHOO), "yahoo");
	assert_string_equal(classify_client(UA_APPLE_MPP), "apple-mail");
	assert_string_equal(classify_client(UA_MAC_MAIL), "apple-mail");
	assert_string_equal(classify_client(UA_OUTLOOK), "outlook");
	assert_string_equal(classify_client(UA_OUTLOOK_MSO), "outlook");
	assert_string_equal(classify_client(UA_OUTLOOK_IOS), "outlook");
	assert_string_equal(classify_client("Outlook-Android/2.0"), "outlook");
	assert_string_equal(classify_client(UA_THUNDERBIRD), "thunderbird");
	assert_string_equal(classify_client(UA_IOS_MAIL), "ios");
	assert_string_equal(classify_client(UA_CHROME_ANDROID), "android");
	assert_string_equal(classify_client(UA_CUBOT), "android");
	assert_string_equal(classify_client(UA_CHROME_WIN), "windows");
	assert_string_equal(classify_client(UA_FIREFOX_WIN), "windows");
	assert_string_equal(classify_client(UA_SAFARI_MAC), "macos");
	assert_string_equal(classify_client(UA_FIREFOX_LINUX), "linux");
	assert_string_equal(classify_client(UA_CURL), "bot");
	assert_string_equal(classify_client(UA_REQUESTS), "bot");
	assert_string_equal(classify_client(UA_SLACK), "bot");
	assert_string_equal(classify_client(UA_GOOGLEBOT), "bot");
	assert_string_equal(classify_client("SomethingElse/1.0"), "unknown");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_apple_mpp),
		cmocka_unit_test(test_gmail_proxy),
		cmocka_unit_test(test_mail_clients_are_human),
		cmocka_unit_test(test_click_timing),
		cmocka_unit_test(test_click_window_zero),
		cmocka_unit_test(test_several_links_one_second),
		cmocka_unit_test(test_safe_links_like),
		cmocka_unit_test(test_libraries_and_bots),
		cmocka_unit_test(test_prefetch),
		cmocka_unit_test(test_honeypot),
		cmocka_unit_test(test_verdict_names),
		cmocka_unit_test(test_mask_ipv4),
		cmocka_unit_test(test_mask_ipv6),
		cmocka_unit_test(test_mask_mapped),
		cmocka_unit_test(test_mask_embedded_ipv4),
		cmocka_unit_test(test_mask_errors),
		cmocka_unit_test(test_dnt),
		cmocka_unit_test(test_client_classes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
