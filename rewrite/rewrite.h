/* rewrite: the one function that decides and performs every edit of a
 * message. The milter and "mailbeacon preview" both call rewrite_message(),
 * so preview shows exactly what the milter delivers. No I/O happens here. */
#ifndef MB_REWRITE_H
#define MB_REWRITE_H
#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include "footer.h"
#include "keyring.h"
#include "mbuf.h"
#include "token.h"

/* What one rewrite needs: the four settings of mailbeacon.conf(5) it reads
 * (the caller copies them from its struct config, so rewrite/ does not
 * depend on the configuration) and the message's own values. */
struct rewrite_params {
	const char *beacon_url;		/* no trailing slash */
	const char *privacy_url;	/* the footer's privacy link */
	size_t max_message_size;	/* bytes; larger messages are left untouched */
	bool pixel_top;			/* pixel_position = top */
	const struct keyring *keys;
	unsigned words;			/* POLICY_* of the sender's rule */
	const char *sender;		/* envelope sender */
	const char *footer_html;	/* template text (UTF-8) */
	const char *footer_text;
	time_t now;
	const char *msgid;		/* NULL: a new random one */
	enum footer_location location;	/* what the footer says of the place recorded */
	/* consent=optin and a recipient without consent: the ask footer
	 * (footer_ask_*, NULL: built in) alone, with a link to the consent
	 * page; no pixel, no rewritten link, no receipt; "X-Mailbeacon: ID;
	 * ask". Only when the message would be tracked otherwise. */
	bool ask;
	const char *footer_ask_html;
	const char *footer_ask_text;
};

enum header_op { HEADER_ADD, HEADER_CHANGE };

struct header_edit {
	enum header_op op;
	char *name;
	char *value;
	int index;		/* HEADER_CHANGE: 1-based occurrence, as smfi_chgheader */
};

struct rewrite_link {
	unsigned num;		/* link number in the click token, from 1 */
	char *url;		/* the destination signed (entities decoded) */
};

struct rewrite_result {
	bool edited;		/* false: deliver untouched, see reason */
	char reason[200];
	char msgid[MSGID_LEN + 1];
	time_t sent;
	unsigned words_applied;	/* POLICY_* actually applied */
	struct mbuf body;	/* new body: everything after the header block */
	struct header_edit *headers;	/* applied after the body, in order */
	size_t n_headers;
	struct rewrite_link *links;
	size_t n_links;
	size_t n_long_links;	/* left as written: click URL over TRACKING_URL_MAX */
};

/* Parses the whole message msg (headers, blank line, body; CRLF or LF) and
 * fills res. Returns 0 with res->edited telling whether anything changes;
 * -1 only on out of memory (res->reason says so; deliver untouched). */
int rewrite_message(const struct rewrite_params *p, const char *msg, size_t len,
		    struct rewrite_result *res);
void rewrite_result_free(struct rewrite_result *res);
/* Builds the delivered message from the original and the result: what the
 * milter's smfi_* calls amount to. */
int rewrite_apply(const char *msg, size_t len, const struct rewrite_result *res,
		  struct mbuf *out);

#endif
