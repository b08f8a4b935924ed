/* html_parser: libxml2's HTML SAX parser set up the one way html_edit runs
 * it (UTF-8 read in place, no implied elements, no network, silent). Its
 * own file so that bench/ and the fuzz targets measure and check the very
 * parse the rewrite pays for, without the editor around it. */
#include <limits.h>
#include <string.h>
#include <libxml/HTMLparser.h>
#include <libxml/parserInternals.h>
#include "html_parser.h"

htmlParserCtxtPtr
html_parser_new(const char *text, size_t len, const htmlSAXHandler *sax, void *user)
{
	if (len > INT_MAX)
		return NULL;
	/* The memory parser reads text (UTF-8) in place of a copy of ours. */
	htmlParserCtxtPtr ctxt = htmlCreateMemoryParserCtxt(text, (int)len);
	if (ctxt == NULL)
		return NULL;
	htmlSAXHandler *own = xmlMalloc(sizeof(*own));
	if (own == NULL) {
		htmlFreeParserCtxt(ctxt);
		return NULL;
	}
	memcpy(own, sax, sizeof(*own));
	xmlFree(ctxt->sax);
	ctxt->sax = own;
	ctxt->userData = user;
	xmlSwitchEncoding(ctxt, XML_CHAR_ENCODING_UTF8);
	htmlCtxtUseOptions(ctxt, HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |
			   HTML_PARSE_NONET | HTML_PARSE_NOIMPLIED | HTML_PARSE_IGNORE_ENC);
	return ctxt;
}
