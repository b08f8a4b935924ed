/* beacon/webhook_body: the JSON body of a notify=URL webhook (its fields
 * are listed in webhook.c), built with jansson. */
#ifndef MB_WEBHOOK_BODY_H
#define MB_WEBHOOK_BODY_H

struct webhook_event {
	const char *event;		/* "open" or "click" */
	const char *message;		/* our message id */
	const char *message_id_header;	/* NULL: null */
	const char *sender;
	unsigned link;			/* clicks; 0 writes null */
	const char *url;		/* NULL: null */
	long long time;
	const char *verdict;
};

/* The body, one line without a newline, malloc'd; NULL when out of
 * memory. A string that is not valid UTF-8 (a header of broken mail) is
 * sent with each non-ASCII octet as U+FFFD, so the body is always JSON. */
char *webhook_body(const struct webhook_event *e);

#endif
