/* text: edits of a text/plain body part: URLs become signed click links
 * (with text-clicks) and the footer is appended, in the part's charset. */
#ifndef MB_TEXT_H
#define MB_TEXT_H
#include <stdbool.h>
#include <stddef.h>
#include "links.h"
#include "mbuf.h"

struct text_opts {
	const char *footer_text;	/* UTF-8, or NULL; '\n' becomes eol */
	const char *eol;		/* the part's line break */
	bool clicks;
	bool flowed, delsp;		/* format=flowed; delsp=yes (RFC 3676) */
	link_sign_fn sign;
	void *sign_arg;
};

int text_edit(const char *in, size_t len, const char *charset, const struct text_opts *o,
	      struct mbuf *out, unsigned *links_rewritten, char *err, size_t errlen);
/* The length of the URL at t[i] ("http://" or "https://"), with trailing
 * punctuation and an unbalanced ')' left outside; 0 if none starts there. */
size_t text_url_at(const char *t, size_t len, size_t i);

#endif
