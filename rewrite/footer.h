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
};

extern const char footer_default_html[];
extern const char footer_default_text[];

/* HTML output is ASCII: other characters become numeric references, so it
 * fits any ASCII-compatible charset. Text output stays UTF-8. */
int footer_render(const char *tmpl, bool html, const struct footer_vars *v, struct mbuf *out);
/* Returns -1 with "unknown placeholder {x}" or "template is not UTF-8". */
int footer_check(const char *tmpl, char *err, size_t errlen);
const char *footer_tracked_phrase(unsigned words);

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
