/* beacon/route: maps a request's method and path to one of the beacon's routes.
 * A tracking path counts only when its token verifies and names the kind
 * its prefix says; anything else is a forgery, answered like a miss. HEAD
 * goes wherever GET goes (link checkers and previews send it); libmicrohttpd
 * leaves out the body. */
#include <string.h>
#include "route.h"
#include "url_limit.h"

static void
route_tracking(const struct keyring *kr, const char *url, enum token_kind kind,
	       enum route_id id, struct route *out)
{
	/* The token path starts after the leading '/'. */
	if (token_verify(kr, url + 1, strlen(url + 1), &out->token) == TOKEN_OK &&
	    out->token.kind == kind) {
		out->id = id;
		return;
	}
	token_clear(&out->token);
	out->id = ROUTE_FORGED;
}

void
http_route(const struct keyring *kr, const char *method, const char *url, struct route *out)
{
	memset(out, 0, sizeof(*out));
	out->get = strcmp(method, "GET") == 0;
	out->head = strcmp(method, "HEAD") == 0;
	out->post = strcmp(method, "POST") == 0;
	out->name = "other";
	out->id = ROUTE_NOT_FOUND;

	if (strlen(url) > TRACKING_URL_MAX) {
		out->id = ROUTE_URL_TOO_LONG;
	} else if ((out->get || out->head) && strncmp(url, "/o/", 3) == 0) {
		out->name = "open";
		route_tracking(kr, url, TOKEN_OPEN, ROUTE_OPEN, out);
	} else if ((out->get || out->head) && strncmp(url, "/c/", 3) == 0) {
		out->name = "click";
		route_tracking(kr, url, TOKEN_CLICK, ROUTE_CLICK, out);
	} else if ((out->get || out->head || out->post) && strncmp(url, "/u/", 3) == 0) {
		out->name = "optout";
		route_tracking(kr, url, TOKEN_OPTOUT, ROUTE_OPTOUT, out);
	} else if ((out->get || out->head || out->post) && strncmp(url, "/a/", 3) == 0) {
		out->name = "consent";
		route_tracking(kr, url, TOKEN_CONSENT, ROUTE_CONSENT, out);
	} else if ((out->get || out->head) && strcmp(url, "/privacy") == 0) {
		out->name = "privacy";
		out->id = ROUTE_PRIVACY;
	} else if ((out->get || out->head) && strcmp(url, "/healthz") == 0) {
		out->name = "healthz";
		out->id = ROUTE_HEALTHZ;
	} else if ((out->get || out->head) && strcmp(url, "/metrics") == 0) {
		out->name = "metrics";
		out->id = ROUTE_METRICS;
	} else if ((out->get || out->head) && strcmp(url, "/api/v1/events") == 0) {
		out->name = "api";
		out->id = ROUTE_API;
	} else if ((out->get || out->head) && strcmp(url, "/api/v1/consents") == 0) {
		out->name = "api";
		out->id = ROUTE_API_CONSENTS;
	} else if (!out->get && !out->head && !out->post) {
		out->id = ROUTE_METHOD_NOT_ALLOWED;
	}
}

void
route_free(struct route *r)
{
	token_clear(&r->token);
}
