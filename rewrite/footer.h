/* footer: renders the footer_html and footer_text templates, escaping each
 * substituted value for its context, checks templates at start-up, and
 * recognises the opt-out and open URLs of earlier footers and pixels. */
#ifndef MB_FOOTER_H
#define MB_FOOTER_H
#include <stdbool.h>
#include <stddef.h>
#include "mbuf.h"

struct footer_vars {
	const char *sender;
	const char *optout_url;
	const char *privacy_url;
	const char *tracked;	/* "opens and link clicks", ... */
	const char *consent_url;	/* the ask footer's (consent=optin) */
};

extern const char footer_default_html[];
extern const char footer_default_text[];
/* consent=optin's ask footer: {sender}, {consent_url}, {privacy_url}. */
extern const char footer_default_ask_html[];
extern const char footer_default_ask_text[];

/* HTML output is ASCII: other characters become numeric references, so it
 * fits any ASCII-compatible charset. Text output stays UTF-8. */
int footer_render(const char *tmpl, bool html, const struct footer_vars *v, struct mbuf *out);
/* Returns -1 with "unknown placeholder {x}" or "template is not UTF-8". */
int footer_check(const char *tmpl, char *err, size_t errlen);
/* The same for an ask footer template, which must have {consent_url} and
 * no {optout_url}. */
int footer_check_ask(const char *tmpl, char *err, size_t errlen);
/* What of an event's place the beacon records (geoip_database and
 * geoip_precision), for the notice to say. */
enum footer_location { FOOTER_NO_LOCATION, FOOTER_COUNTRY, FOOTER_CITY };
/* "opens and link clicks", "opens (and the country they come from)", ... */
const char *footer_tracked_phrase(unsigned words, enum footer_location loc);

/* Our own earlier artefacts, carried by quoted or forwarded mail: URLs under
 * beacon_url for an open (/o/), an opt-out (/u/) or consent (/a/). Returns
 * the length of such a URL at s (the beacon prefix, the route and the token
 * characters that follow), or 0 when s does not start with one. */
size_t footer_artefact_len(const char *beacon_url, const char *s, size_t n);
/* What stands in a text part where an earlier opt-out or open URL was. */
extern const char footer_artefact_notice[];
/* Copies the text part in (in charset) to out with each URL (as the text
 * editor finds URLs) that is an earlier artefact replaced by
 * footer_artefact_notice; counts them in *n. -1 with a
 * reason in err when the text cannot be read in its charset. */
int footer_neutralise_text(const char *beacon_url, const char *charset, const char *in,
			   size_t len, struct mbuf *out, unsigned *n, char *err, size_t errlen);

#endif
