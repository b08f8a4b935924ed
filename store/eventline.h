/* store/eventline: the one wire format of GET /api/v1/events, one JSON
 * object per line. The beacon writes lines with eventline_encode and
 * `mailbeacon sync` reads another host's lines with eventline_decode, which
 * trusts nothing (types, ranges, lengths, kinds, nesting). Both go through
 * jansson. */
#ifndef MB_STORE_EVENTLINE_H
#define MB_STORE_EVENTLINE_H
#include <stddef.h>
#include "mbuf.h"
#include "consent.h"
#include "store.h"

#define EVENTLINE_FIELDS_MAX	32	/* a newer beacon may add some */
#define EVENTLINE_ID_MAX	64	/* message id, masked network */
#define EVENTLINE_WORD_MAX	32	/* client class, verdict */

/* A decoded line: ev's strings and recipient hash point into the struct
 * itself, so it must not be copied while ev is in use. */
struct eventline {
	long long cursor;
	struct store_event ev;
	char message[EVENTLINE_ID_MAX + 1];
	char kind[8];
	char ip[EVENTLINE_ID_MAX + 1];
	char client[EVENTLINE_WORD_MAX + 1];
	char verdict[EVENTLINE_WORD_MAX + 1];
	char country[3];		/* ISO code: only with geoip_database */
	char city[STORE_CITY_MAX + 1];
	unsigned char hash[STORE_HASH_LEN];
};

/* Appends the line of event e at cursor (with its newline) to b.
 * 0, or -1 when out of memory or a string is not valid UTF-8. */
int eventline_encode(struct mbuf *b, long long cursor, const struct store_event *e);

/* Decodes one line (len bytes, without its newline). Unknown keys are
 * ignored when their values are scalars; every known key must have its
 * type and form. 0, or -1 with the reason in why. */
int eventline_decode(const char *line, size_t len, struct eventline *out, char *why,
		     size_t whylen);

/* The lines of GET /api/v1/consents (consent=optin's consents and asks,
 * store_consent_feed), one JSON object each: "kind" ("consent" or "ask"),
 * "time", "recipient_hash" (hex), "sender", "message" (a message id, or
 * null for a consent given outside mail), and "source" and
 * "notice_version" (a consent's) or "tracked" (an ask's). */
#define CONSENTLINE_SENDER_MAX	320
#define CONSENTLINE_TEXT_MAX	1024	/* a consent's source, an ask's tracked */

struct consentline {
	struct store_consent_item it;	/* points into the struct itself */
	char kind[8];
	char sender[CONSENTLINE_SENDER_MAX + 1];
	char message[EVENTLINE_ID_MAX + 1];
	char text[CONSENTLINE_TEXT_MAX + 1];	/* source or tracked */
	char notice[EVENTLINE_ID_MAX + 1];
	unsigned char hash[STORE_HASH_LEN];
};

/* Appends the line of it (with its newline) to b; 0 or -1 as
 * eventline_encode. */
int consentline_encode(struct mbuf *b, const struct store_consent_item *it);
/* Decodes one line as eventline_decode does: every known key must have
 * its type and form; 0, or -1 with the reason in why. */
int consentline_decode(const char *line, size_t len, struct consentline *out, char *why,
		       size_t whylen);

#endif
