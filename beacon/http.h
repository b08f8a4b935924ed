/* beacon/http: mailbeacond's request handler and its per-request clean-up, as
 * libmicrohttpd calls them. */
#ifndef MB_HTTP_H
#define MB_HTTP_H
#include <microhttpd.h>

enum MHD_Result http_handle(void *cls, struct MHD_Connection *c, const char *url,
			    const char *method, const char *version, const char *upload_data,
			    size_t *upload_size, void **con_cls);
size_t http_unescape(void *cls, struct MHD_Connection *c, char *s);
void http_completed(void *cls, struct MHD_Connection *c, void **con_cls,
		    enum MHD_RequestTerminationCode toe);

#endif
