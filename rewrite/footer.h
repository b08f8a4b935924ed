/* footer: renders the footer_html and footer_text templates, escaping each
 * substituted value for its context, and checks templates at start-up. */
#ifndef MB_FOOTER_H
#define MB_FOOTER_H
#include <stdbool.h>
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

#endif
