/* beacon/route: which of mailbeacond's routes a request line names, with the
 * tracking token already verified. Pure (no libmicrohttpd, no I/O), so the
 * fuzz target exercises exactly the routing the beacon runs. */
#ifndef MB_ROUTE_H
#define MB_ROUTE_H
#include <stdbool.h>
#include "keyring.h"
#include "token.h"

enum route_id {
	ROUTE_NOT_FOUND,	/* 404, metrics route "other" */
	ROUTE_URL_TOO_LONG,	/* 414: longer than TRACKING_URL_MAX */
	ROUTE_METHOD_NOT_ALLOWED,	/* 405: not GET, HEAD or POST */
	ROUTE_FORGED,		/* a tracking path whose token does not verify: 404 */
	ROUTE_OPEN,		/* GET or HEAD /o/TOKEN.gif */
	ROUTE_CLICK,		/* GET or HEAD /c/TOKEN/DEST */
	ROUTE_OPTOUT,		/* GET, HEAD or POST /u/TOKEN */
	ROUTE_CONSENT,		/* GET, HEAD or POST /a/TOKEN (consent=optin) */
	ROUTE_PRIVACY,
	ROUTE_HEALTHZ,
	ROUTE_METRICS,
	ROUTE_API,
	ROUTE_API_CONSENTS,	/* GET /api/v1/consents (consent=optin, for sync) */
};

struct route {
	enum route_id id;
	const char *name;	/* the metrics label: open, click, optout, ... */
	bool get, head, post;
	struct token token;	/* ROUTE_OPEN, _CLICK, _OPTOUT, _CONSENT: verified;
				 * route_free() */
};

/* Routes method and url (the path, no query string) and verifies any
 * token against kr, which the caller keeps from changing meanwhile. */
void http_route(const struct keyring *kr, const char *method, const char *url,
		struct route *out);
void route_free(struct route *r);

#endif
