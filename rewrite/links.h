/* links: the rules shared by the HTML and text editors for deciding which
 * URLs become signed click redirects, and the HTML5 attribute decoding used
 * to read an href the way a browser would. */
#ifndef MB_LINKS_H
#define MB_LINKS_H
#include <stdbool.h>
#include <stddef.h>
#include "mbuf.h"

/* Called for each candidate link with its absolute http(s) URL (UTF-8) and
 * its visible text (may be NULL). Returns 1 and the new URL in out when
 * the link is rewritten, 0 when a rule keeps it, -1 on error. */
typedef int (*link_sign_fn)(void *arg, const char *url, size_t len, struct mbuf *out);

/* Decodes character references in an attribute value as HTML5 does. */
int html_attr_decode(const char *raw, size_t len, struct mbuf *out);
/* Trims C0 controls and spaces at the ends and drops tab, CR and LF
 * inside, as browsers do before following a URL. */
void url_browser_clean(struct mbuf *url);
bool url_is_http(const char *url, size_t len);
bool url_has_scheme(const char *url, size_t len);
/* The visible text of a link is itself a URL or a domain (phishing
 * look-alike): such a link is never rewritten. */
bool link_text_is_url(const char *text, size_t len);
/* Mentions unsubscribing (several languages), case-insensitive. */
bool says_unsubscribe(const char *s, size_t len);

#endif
