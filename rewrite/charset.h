/* charset: a UTF-8 view of a body part's decoded bytes, with a map from view
 * offsets back to the original bytes, so the HTML parser can work in UTF-8
 * while every edit is spliced into the part's own charset untouched. */
#ifndef MB_CHARSET_H
#define MB_CHARSET_H
#include <stddef.h>
#include <stdint.h>
#include "mbuf.h"

struct utf8_view {
	const char *text;	/* UTF-8; the original bytes when map is NULL */
	size_t len;
	char *owned;		/* converted text, when not the original */
	uint32_t *map;		/* view offset -> original offset, len + 1 entries */
};

/* charset NULL or "" means unknown: UTF-8 if the bytes are valid UTF-8,
 * else windows-1252. Returns -1 with a reason in err for a charset that is
 * unknown or not ASCII-compatible (UTF-16, ISO-2022-*, UTF-7 ...). */
int charset_view(const char *charset, const char *in, size_t len,
		 struct utf8_view *v, char *err, size_t errlen);
size_t charset_view_orig(const struct utf8_view *v, size_t pos);
void charset_view_free(struct utf8_view *v);
/* Converts UTF-8 text into charset; -1 when a character has no
 * representation there (or the charset is not usable). */
int charset_from_utf8(const char *charset, const char *in, size_t len, struct mbuf *out);
int utf8_valid(const char *s, size_t len);

#endif
