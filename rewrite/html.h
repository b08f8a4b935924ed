/* html: byte-preserving edits of an HTML body part: the open pixel, signed
 * click links and the footer, spliced into the original bytes. */
#ifndef MB_HTML_H
#define MB_HTML_H
#include <stdbool.h>
#include <stddef.h>
#include "links.h"
#include "mbuf.h"

struct html_opts {
	const char *pixel_html;		/* NULL: no pixel */
	bool pixel_top;
	const char *footer_html;	/* NULL: no footer; ASCII, lines end in eol */
	bool clicks;
	link_sign_fn sign;
	void *sign_arg;
	const char *beacon_url;		/* NULL: earlier artefacts are not looked for */
};

struct html_outcome {
	bool pixel_added;
	unsigned links_rewritten;
	unsigned artefacts_neutralised;	/* earlier pixels and opt-out links blanked */
};

/* Edits the decoded part in (charset as declared, "" or NULL when not)
 * into out. Returns -1 with a reason in err when the part cannot be edited
 * safely (among them "footer not visible: ..." when the footer would land
 * in a comment, raw-text element, tag, attribute or hidden element); the
 * caller then leaves the whole message untouched. */
int html_edit(const char *in, size_t len, const char *charset, const struct html_opts *o,
	      struct mbuf *out, struct html_outcome *oc, char *err, size_t errlen);
/* A charset named in a <meta> near the start of the document, or NULL. */
const char *html_sniff_charset(const char *in, size_t len, char *out, size_t outlen);

#endif
