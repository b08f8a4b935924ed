/* html_parser (html_parser.c): libxml2's HTML SAX parser set up the one way
 * html_edit runs it (UTF-8 in place, no implied elements, no network,
 * silent), so that bench/ and fuzz_rewrite use the very parse the rewrite
 * pays for. */
#ifndef MB_HTML_PARSER_H
#define MB_HTML_PARSER_H
#include <stddef.h>
#include <libxml/HTMLparser.h>

/* A parser over len bytes of UTF-8 text (read in place, not copied) that
 * calls sax's handlers with user as their context; run it with
 * htmlParseDocument() and free it with htmlFreeParserCtxt(). NULL when out
 * of memory. */
htmlParserCtxtPtr html_parser_new(const char *text, size_t len, const htmlSAXHandler *sax,
				  void *user);

#endif
