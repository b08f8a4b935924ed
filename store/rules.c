/* store/rules: what the store keeps of a link (store_link_urls) and which
 * events count as a person's: rules that both backends and the reports
 * apply, with no database of their own (so store.c and pg.c, which call
 * each other's neighbours, both depend on this file and not on each other). */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

char *
store_reduce_url(const char *url, enum store_link_urls mode)
{
	if (url == NULL)
		return NULL;
	switch (mode) {
	case STORE_URLS_FULL:
		return strdup(url);
	case STORE_URLS_PATH:
		return strndup(url, strcspn(url, "?#"));
	case STORE_URLS_NONE:
	default:
		return NULL;
	}
}

bool
store_event_is_human(const char *kind, const char *verdict)
{
	if (kind == NULL || verdict == NULL)
		return false;
	if (strcmp(kind, "open") == 0)
		return strcmp(verdict, "human") == 0 || strcmp(verdict, "gmail-proxy") == 0;
	if (strcmp(kind, "click") == 0)
		return strcmp(verdict, "human") == 0;
	return false;
}

struct store_event
store_optout_event(const unsigned char *hash, long long when, const char *message_id)
{
	/* A person's own request: "human", with whose opt-out it was (sync
	 * carries it to other stores). */
	struct store_event e = {
		.message_id = message_id, .kind = "optout", .time = when,
		.verdict = "human", .recipient_hash = hash,
	};
	return e;
}
