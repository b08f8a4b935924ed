/* textenc: the one UTF-8 decoder and encoder, and the HTML and JSON
 * escapers, shared by the rewrite engine, the beacon and the admin command.
 * Every writer goes either into a struct mbuf or onto a stdio stream. */
#ifndef MB_TEXTENC_H
#define MB_TEXTENC_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "mbuf.h"

#define TEXT_REPLACEMENT 0xfffdu	/* U+FFFD, for what cannot be shown */

/* Decodes the UTF-8 sequence at s (n > 0 octets available): its length
 * 1..4 with *cp its code point, or 0 when it is not valid UTF-8 (overlong
 * forms, surrogates, past U+10FFFF, cut short), then *cp = U+FFFD and the
 * caller skips one octet. */
size_t text_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);

/* True when the n octets at s are valid UTF-8 with no control character
 * (C0, DEL, C1): a name fit to store and show, such as a city's. */
bool text_utf8_printable(const char *s, size_t n);

/* Writes code point cp (at most U+10FFFF) as UTF-8 into out: its length. */
size_t text_utf8_encode(uint32_t cp, char out[4]);

/* Writes the decimal digits of v (as "%llu" does) and a NUL into out (21
 * octets are enough): the number of digits. For numbers written per link
 * or per row, where printf's cost shows. */
size_t text_decimal(char *out, unsigned long long v);

/* Where the writers below put their output: buf when it is set, else file.
 * Build one with TEXT_TO_MBUF(b) or TEXT_TO_FILE(f). */
struct text_out {
	struct mbuf *buf;
	FILE *file;
};
#define TEXT_TO_MBUF(b) ((struct text_out){ .buf = (b), .file = NULL })
#define TEXT_TO_FILE(f) ((struct text_out){ .buf = NULL, .file = (f) })

/* Each returns -1 when the mbuf ran out of memory (or the stream has its
 * error flag set), else 0. */

/* Appends code point cp as UTF-8. */
int text_put_utf8(struct text_out out, uint32_t cp);

/* Escapes & < > " ' as &amp; &lt; &gt; &quot; &#39;, octet by octet: every
 * other octet is copied as it is. For text already known to be UTF-8
 * (signed URLs, footer values of a validated part). */
int text_html_escape(struct text_out out, const char *s, size_t len);

/* The same escaping for untrusted text: invalid UTF-8 and controls other
 * than TAB and LF (C0, DEL, C1; not allowed in HTML) become U+FFFD. */
int text_html_escape_utf8(struct text_out out, const char *s, size_t len);

/* A JSON string with its quotes, or null for NULL. Invalid UTF-8 becomes
 * U+FFFD; '"' and '\\' are escaped, LF CR TAB as \n \r \t, other controls
 * and DEL, and U+2028/U+2029 (line ends to JavaScript), as \u00XX. */
int text_json_string(struct text_out out, const char *s);

#endif
