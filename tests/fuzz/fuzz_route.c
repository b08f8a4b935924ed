/* fuzz_route: libFuzzer target for http_route() on "METHOD URL". A tracking
 * route needs a token of its prefix's kind that verifies; a formatted token's
 * URL always reaches its route, and with one octet more never does. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "keyring.h"
#include "mbuf.h"
#include "route.h"
#include "token.h"
#include "undo.h"
#include "url_limit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct keyring keys;

static void
setup(void)
{
	fuzz_keyring("route", &keys);
}

static const struct {
	const char *prefix;
	enum token_kind kind;
	enum route_id id;
} tracking[] = {
	{ "/o/", TOKEN_OPEN, ROUTE_OPEN },
	{ "/c/", TOKEN_CLICK, ROUTE_CLICK },
	{ "/u/", TOKEN_OPTOUT, ROUTE_OPTOUT },
	{ "/a/", TOKEN_CONSENT, ROUTE_CONSENT },
};

static void
check_route(const char *method, const char *url)
{
	struct route rt;
	struct token t;

	http_route(&keys, method, url, &rt);
	if (rt.name == NULL)
		fuzz_fail("route", "a route without a name");
	bool known = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 ||
	    strcmp(method, "POST") == 0;
	if ((rt.id == ROUTE_METHOD_NOT_ALLOWED) != (!known && strlen(url) <= TRACKING_URL_MAX))
		fuzz_fail("route", "method %s: 405 where it should not be, or missing", method);
	for (size_t i = 0; i < sizeof(tracking) / sizeof(*tracking); i++) {
		if (rt.id != tracking[i].id)
			continue;
		if (strncmp(url, tracking[i].prefix, 3) != 0 ||
		    token_verify(&keys, url + 1, strlen(url + 1), &t) != TOKEN_OK ||
		    t.kind != tracking[i].kind || strcmp(t.msgid, rt.token.msgid) != 0)
			fuzz_fail("route", "%s %s routed as a good %c token", method, url,
				  tracking[i].kind);
		token_clear(&t);
	}
	if (rt.id == ROUTE_FORGED && strncmp(url, "/o/", 3) != 0 &&
	    strncmp(url, "/c/", 3) != 0 && strncmp(url, "/u/", 3) != 0 &&
	    strncmp(url, "/a/", 3) != 0)
		fuzz_fail("route", "%s %s is a forgery without a tracking prefix", method, url);
	route_free(&rt);
}

/* Formats a token of kind (the click to dest) and routes it, then the
 * same URL with an extra octet. */
static void
check_formatted(enum token_kind kind, const char *method, enum route_id want,
		const char *dest, size_t dest_len, char extra)
{
	struct token t = { .kind = kind, .msgid = "fuzzfuzzfuzzfuzzfuzzAA", .sent = 1700000000,
			   .link = 1 };
	struct mbuf url;
	struct route rt;

	if (kind == TOKEN_CLICK) {
		t.dest = (char *)dest;
		t.dest_len = dest_len;
	}
	mbuf_init(&url);
	mbuf_putc(&url, '/');
	if (token_format(&keys, &t, &url) < 0) {
		mbuf_free(&url);
		return;
	}
	http_route(&keys, method, url.data, &rt);
	if (rt.id != want || (want == ROUTE_CLICK &&
			      (rt.token.dest_len != dest_len || memcmp(rt.token.dest, dest, dest_len) != 0)))
		fuzz_fail("route", "%s %s: route %d, expected %d", method, url.data, rt.id, want);
	route_free(&rt);
	mbuf_putc(&url, extra ? extra : 'x');
	http_route(&keys, method, url.data, &rt);
	if (rt.id != (want == ROUTE_NOT_FOUND ? ROUTE_NOT_FOUND : ROUTE_FORGED) &&
	    rt.id != ROUTE_URL_TOO_LONG)
		fuzz_fail("route", "%s %s: an octet added and still route %d", method, url.data, rt.id);
	route_free(&rt);
	mbuf_free(&url);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	char *copy = malloc(size + 1);

	if (!ready) {
		setup();
		ready = true;
	}
	if (copy == NULL)
		return 0;
	/* libmicrohttpd hands over C strings: nothing after a NUL. */
	memcpy(copy, data, size);
	copy[size] = '\0';
	char *sp = strchr(copy, ' ');
	const char *method = sp ? copy : "GET";
	const char *url = sp ? sp + 1 : copy;
	if (sp)
		*sp = '\0';
	check_route(method, url);
	size_t dl = strlen(url);
	char extra = dl > 0 ? url[dl - 1] : 'x';
	check_formatted(TOKEN_OPEN, "GET", ROUTE_OPEN, NULL, 0, extra);
	check_formatted(TOKEN_OPEN, "HEAD", ROUTE_OPEN, NULL, 0, extra);
	check_formatted(TOKEN_CLICK, "GET", ROUTE_CLICK, url, dl, extra);
	check_formatted(TOKEN_OPTOUT, "POST", ROUTE_OPTOUT, NULL, 0, extra);
	check_formatted(TOKEN_OPTOUT, "GET", ROUTE_OPTOUT, NULL, 0, extra);
	check_formatted(TOKEN_CONSENT, "POST", ROUTE_CONSENT, NULL, 0, extra);
	check_formatted(TOKEN_CONSENT, "GET", ROUTE_CONSENT, NULL, 0, extra);
	check_formatted(TOKEN_CLICK, "POST", ROUTE_NOT_FOUND, url, dl, extra);
	free(copy);
	return 0;
}
