/* store/report: the read and erase queries of the admin command (report,
 * export, forget, purge) over a struct store's connection (store_db).
 * Every statement is prepared here, its values bound, and finalized before
 * the call returns. Errors: -1 with "what: sqlite's reason" in err.
 *
 * Verdicts: an open is human when its verdict is "human" or "gmail-proxy"
 * (Google's image proxy fetches when the person opens the message), machine
 * otherwise ("apple-mpp", "prefetch", "scanner"). A click is human when its
 * verdict is "human", scanner otherwise. Events with dnt count like others. */
#ifndef MB_STORE_REPORT_H
#define MB_STORE_REPORT_H
#include <stdbool.h>
#include <stddef.h>
#include "store.h"

/* Which messages a report covers (all conditions together). */
struct report_filter {
	const char *sender;	/* "a@b" (ASCII case-insensitive) or "@domain"; NULL: all */
	bool has_since, has_until;
	long long since;	/* messages.sent >= since */
	long long until;	/* messages.sent < until */
	const char *message;	/* our id, the queue id or the Message-ID header
				 * (with or without <>); NULL: all */
};

/* Sums over a set of messages (one sender's, or all). */
struct report_counts {
	long long messages, recipients;
	long long opens_human, opens_machine;
	long long unique_human_opens;	/* messages with at least one human open */
	long long clicks_human, clicks_scanner;
	long long messages_clicked;	/* messages with at least one human click */
	long long optouts;		/* opt-out events */
	long long first_sent, last_sent;	/* valid when messages > 0 */
	bool has_last_event;
	long long last_event;		/* the latest event of these messages */
};

struct report_sender {
	const char *sender;
	struct report_counts c;
};

struct report_link {
	long long num;
	const char *url;		/* NULL when not stored (store_link_urls) */
	long long human_clicks, scanner_clicks;
};

struct report_message {
	const char *id, *queue_id, *message_id, *sender, *subject;	/* may be NULL but id, sender */
	long long sent, recipients, link_count;
	long long opens_human, opens_machine;
	bool has_first_human_open;
	long long first_human_open;
	long long clicks_human, clicks_scanner, optouts;
	const struct report_link *links;	/* the stored links, by number */
	size_t n_links;
};

struct report_day {
	long long day;			/* UTC day: floor(time / 86400) */
	long long opens_human, clicks_human;
};

/* A read transaction around a report, so that all its queries see one
 * snapshot of the database. */
int store_report_begin(struct store *st, char *err, size_t errlen);
void store_report_end(struct store *st);

/*
 * The messages of a report, loaded once by store_report_load: one pass over
 * the filtered messages and their counters (store/counters.h: kept as
 * events are inserted, so no event is read) computes the totals, the
 * senders' sums and a few numbers per message (about 60 bytes each, kept
 * in memory). store_report_messages then walks the same messages, in the
 * same order, with their text and their links, in one more query; the
 * days are read when asked for. Call them inside store_report_begin/end,
 * so that every query sees the same snapshot, and before closing the
 * store.
 */
struct report_data;

int store_report_load(struct store *st, const struct report_filter *f,
		      struct report_data **out, char *err, size_t errlen);
void store_report_free(struct report_data *d);

/* The callbacks return 0 to go on, non-zero to stop (the call then returns
 * that value). Strings live until the callback returns. */
const struct report_counts *store_report_totals(const struct report_data *d);
/* One call per sender, ordered by sender. */
int store_report_senders(const struct report_data *d,
			 int (*fn)(void *arg, const struct report_sender *s), void *arg);
/* One call per message, ordered by sender, sent time and id (the senders'
 * order); -1 with err on a database error. */
int store_report_messages(struct store *st, const struct report_data *d,
			  int (*fn)(void *arg, const struct report_message *m), void *arg,
			  char *err, size_t errlen);
/* Human opens and human clicks of the messages per UTC day of the event,
 * only days with a human open or click, ascending; -1 with err on a
 * database error. */
int store_report_days(const struct report_data *d,
		      int (*fn)(void *arg, const struct report_day *d), void *arg,
		      char *err, size_t errlen);
/* One destination (the stored URL) across the messages: how many of them
 * link to it, and its clicks summed over all of them. */
struct report_url {
	const char *url;		/* NULL: the links whose URL is not stored */
	long long messages;		/* messages with at least one link to it */
	long long human_clicks, scanner_clicks;
};

/* Every destination of the links of d's messages once, the most clicked by
 * humans first, then by URL (bytewise, the same on both backends; the
 * links without a stored URL, as one entry, last). */
int store_report_urls(struct store *st, const struct report_data *d,
		      int (*fn)(void *arg, const struct report_url *u), void *arg,
		      char *err, size_t errlen);

/* Human opens per place (geoip_database): the country's ISO code and, with
 * geoip_precision = city, the city (NULL when not recorded). */
struct report_place {
	const char *sender;
	const char *message;		/* our id; NULL in the per-sender rows */
	const char *country, *city;
	long long opens_human;
};
/* The human opens of d's messages that have a place: message_fn (unless
 * NULL) gets each message's places when that message is done, sender_fn
 * (unless NULL) each sender's, summed, after that sender's last message;
 * both in the report's order of messages, and within one the most opens
 * first, then by country and city (none first), bytewise on both
 * backends. A callback's non-zero return stops and is returned. Nothing,
 * at once, when no event has a place. */
int store_report_places(struct store *st, const struct report_data *d,
			int (*message_fn)(void *arg, const struct report_place *p),
			int (*sender_fn)(void *arg, const struct report_place *p), void *arg,
			char *err, size_t errlen);

/* ---- export (a data-subject access request) ---- */

struct export_message {
	const char *id, *queue_id, *message_id, *sender, *sasl_login, *words, *subject;
	long long sent, recipient_count, link_count;
};

struct export_event {
	long long id;
	const char *kind;
	bool has_link;
	long long link;
	long long time;
	const char *ip_masked, *client_class, *verdict;
	bool dnt;
	const unsigned char *recipient_hash;	/* NULL or STORE_HASH_LEN bytes */
	size_t recipient_hash_len;
	const char *country, *city;	/* NULL unless geoip_database placed it */
};

struct export_optout {
	long long time;
	const char *message_id;		/* or NULL */
};

/* The messages sent to this recipient hash (when hash is non-NULL) or from
 * this sender (exact but ASCII case-insensitive), ordered by sent time. */
int store_export_messages(struct store *st, const unsigned char *hash, const char *sender,
			  int (*fn)(void *arg, const struct export_message *m), void *arg,
			  char *err, size_t errlen);
/* The links of a message, by number (url NULL when not stored). */
int store_export_links(struct store *st, const char *message_id,
		       int (*fn)(void *arg, long long num, const char *url), void *arg,
		       char *err, size_t errlen);
/* The events of a message (message_id non-NULL), or the events naming this
 * recipient hash whose message is not one of theirs (message_id NULL), in
 * id order. */
int store_export_events(struct store *st, const char *message_id, const unsigned char *hash,
			int (*fn)(void *arg, const struct export_event *e), void *arg,
			char *err, size_t errlen);
/* 1 and *out when the recipient opted out, 0 when not, -1 on error; the
 * callback form keeps out->message_id valid: fn gets it. */
int store_export_optout(struct store *st, const unsigned char hash[STORE_HASH_LEN],
			int (*fn)(void *arg, const struct export_optout *o), void *arg,
			char *err, size_t errlen);

/* ---- forget and purge ---- */

/* Rows deleted per table; optouts_kept counts opt-out rows left in place
 * (consent data: it keeps mail to that recipient untracked). */
struct store_erase_counts {
	long long messages, message_recipients, links, events;
	long long optouts_kept;
	long long partitions_dropped;	/* PostgreSQL's purge: whole months */
};

/* Forgets a recipient in one transaction: their message_recipients rows,
 * and the messages that had only them as recipient with those messages'
 * links and events. Their opt-out (and its events) stay. */
int store_forget_recipient(struct store *st, const unsigned char hash[STORE_HASH_LEN],
			   struct store_erase_counts *c, char *err, size_t errlen);
/* Forgets a sender (ASCII case-insensitive) in one transaction: all their
 * messages with their links, recipient rows and events. Opt-outs stay. */
int store_forget_sender(struct store *st, const char *sender,
			struct store_erase_counts *c, char *err, size_t errlen);
/* Applies retention in one transaction: messages sent before cutoff with
 * their links, recipient rows and events, and every event before cutoff.
 * Opt-outs stay (optouts_kept counts all of them). On PostgreSQL the
 * events' monthly partitions wholly before cutoff are dropped first, in a
 * transaction of their own (their rows are counted in events). */
int store_purge(struct store *st, long long cutoff, struct store_erase_counts *c,
		char *err, size_t errlen);
/* Moves the WAL into the database file and truncates it, after VACUUM when
 * vacuum is set: erased bytes leave the files. *complete is false when
 * another connection kept the checkpoint from finishing. */
int store_compact(struct store *st, bool vacuum, bool *complete, char *err, size_t errlen);

#endif
