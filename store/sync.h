/* store/sync: what `mailbeacon sync` keeps in the store. The events pulled
 * from a remote beacon go into the events table (and its opt-outs into the
 * optouts table) in the same transaction that moves the source's cursor in
 * sync_state, so an interrupted sync resumes where the last committed page
 * ended and nothing is stored twice. */
#ifndef MB_STORE_SYNC_H
#define MB_STORE_SYNC_H
#include <stddef.h>
#include "store.h"

/* The cursor stored for source (the beacon's base URL): 0 when none yet.
 * Returns 0, or -1 with "DATABASE: reason" in err. */
int store_sync_cursor(struct store *st, const char *source, long long *cursor,
		      char *err, size_t errlen);

/* One page, in one transaction: checks that the stored cursor of source is
 * still expect (another sync of the same source in between is an error,
 * nothing written), inserts the n events, records the opt-outs among them
 * (kind "optout" with a recipient hash; INSERT OR IGNORE) and sets the
 * cursor to new_cursor. *optouts_added counts new optouts rows (may be
 * NULL). Returns 0, or -1 with the reason in err (nothing written). */
int store_sync_page(struct store *st, const char *source, long long expect,
		    const struct store_event *ev, size_t n, long long new_cursor,
		    size_t *optouts_added, char *err, size_t errlen);

/* The same for a page of the consents feed (GET /api/v1/consents, whose
 * cursor is a time: source is the feed's URL): inserts the consents (none
 * for a recipient who opted out: the withdrawal wins) and the asks, each
 * only once, and sets the cursor; *consents_added and *asks_added count
 * the rows written. */
struct store_consent_item;
int store_sync_consents(struct store *st, const char *source, long long expect,
			const struct store_consent_item *it, size_t n, long long new_cursor,
			size_t *consents_added, size_t *asks_added, char *err, size_t errlen);

#endif
