/* beacon/webhook_body: the webhook's JSON body (see webhook_body.h), one
 * object whose keys keep the order receivers have always seen. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "webhook_body.h"

/* s as a JSON string (NULL as null); invalid UTF-8 keeps its ASCII and
 * turns every other octet into U+FFFD. */
static json_t *
text(const char *s)
{
	if (s == NULL)
		return json_null();
	json_t *v = json_string(s);
	if (v != NULL)
		return v;
	size_t n = strlen(s);
	char *clean = malloc(n * 3 + 1);
	if (clean == NULL)
		return NULL;
	char *w = clean;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x80) {
			*w++ = (char)*p;
		} else {
			memcpy(w, "\xef\xbf\xbd", 3);
			w += 3;
		}
	}
	*w = '\0';
	v = json_string(clean);
	free(clean);
	return v;
}

static void
put(json_t *o, const char *key, json_t *v, bool *ok)
{
	if (v == NULL || json_object_set_new(o, key, v) != 0)
		*ok = false;
}

char *
webhook_body(const struct webhook_event *e)
{
	json_t *o = json_object();
	bool ok = o != NULL;

	put(o, "event", text(e->event), &ok);
	put(o, "message", text(e->message), &ok);
	put(o, "message_id_header", text(e->message_id_header), &ok);
	put(o, "sender", text(e->sender), &ok);
	put(o, "link", e->link > 0 ? json_integer(e->link) : json_null(), &ok);
	put(o, "url", text(e->url), &ok);
	put(o, "time", json_integer(e->time), &ok);
	put(o, "verdict", text(e->verdict), &ok);
	char *body = ok ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(o);
	return body;
}
