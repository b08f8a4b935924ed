/* store: the database shared by the milter, the beacon and the admin
 * command: a SQLite file (WAL mode) on one host, the default, or PostgreSQL
 * (database = postgresql://...) shared by several relays and beacons. The
 * callers do not know which: every statement lives in store/. A versioned
 * schema with migrations; prepared or parameterised statements only;
 * recipients only as keyed hashes.
 *
 * Threads: a struct store is one connection (SQLite's or libpq's) with its
 * own statements and error message. Give each thread its own (store_open
 * per thread); never use one handle from two threads at once. Processes and
 * threads share a SQLite file safely through WAL and the busy timeout.
 *
 * Errors: every call that fails leaves a message for store_errmsg. A NULL
 * handle is refused (-1; store_errmsg(NULL) and store_close(NULL) are
 * safe); a handle must not be used after store_close. */
#ifndef MB_STORE_H
#define MB_STORE_H
#include <stdbool.h>
#include <stddef.h>
#include "mbconfig.h"

#define STORE_HASH_LEN 32
#define STORE_HASH_KEY_MIN 32
#define STORE_HASH_KEY_MAX 64
#define STORE_ID_LEN 22		/* message ids: MSGID_LEN */
#define STORE_CITY_MAX 64	/* octets of UTF-8 of a city's name; a longer one is not kept */
#define STORE_SCHEMA_VERSION 8	/* the version this program migrates to */

struct store;

struct store_hash_key {
	unsigned char key[STORE_HASH_KEY_MAX];
	size_t len;
};

struct store_message {
	const char *id;			/* our random message id */
	const char *queue_id;		/* the MTA's queue id; NULL when unknown */
	const char *message_id_header;	/* Message-ID, or NULL */
	const char *sender;
	const char *sasl_login;		/* or NULL */
	long long sent;
	const char *words;		/* "opens clicks footer" */
	const unsigned char (*recipient_hashes)[STORE_HASH_LEN];
	size_t n_recipients;
	const char *const *link_urls;	/* link i has number i + 1 */
	size_t n_links;
	const char *subject;		/* NULL unless store_subject = yes */
};

/* Opens (creating it when create is true) and migrates the database to the
 * current schema; sets WAL mode, a busy timeout of busy_ms and foreign
 * keys. Errors: "DATABASE: reason". */
int store_open(const char *path, bool create, int busy_ms, struct store **out,
	       char *err, size_t errlen);
void store_close(struct store *st);
/* What a handle is for: the report commands read report_database when it
 * is set (a streaming replica); everything else uses database. */
enum store_role { STORE_FOR_WRITES, STORE_FOR_REPORT };
/* store_open on the configuration's database: a file, or PostgreSQL with
 * database_password_file's password (unless the URI has one) and
 * database_timeout as the deadline of connecting and of every query. */
int store_open_config(const struct config *cfg, enum store_role role, bool create, int busy_ms,
		      struct store **out, char *err, size_t errlen);
/* store_open_config for writes without creating or migrating anything:
 * the schema as it is (none, older, newer), for mailbeacon db status. */
int store_open_as_is(const struct config *cfg, struct store **out, char *err, size_t errlen);
/* The database as mailbeacon shows it: "sqlite FILE", or "postgresql
 * database DB on HOST as USER" (never a password). */
void store_describe(struct store *st, char *out, size_t outlen);
/* mailbeacon db migrate: creates the configuration's database schema or
 * brings it to this program's version (as store_open_config with create
 * does), from the version it had (0: none) to the one it has now. */
struct store_migration {
	char backend[320];	/* store_describe's */
	int from, to;
};
int store_migrate_config(const struct config *cfg, struct store_migration *m, char *err,
			 size_t errlen);

/* What mailbeacon db status shows (store/status.c). */
struct store_status {
	char backend[320];	/* "sqlite FILE" or "postgresql database DB on HOST as USER" */
	int schema_version;	/* the database's (0: no schema) */
	int program_version;	/* the one this program creates and migrates to */
	bool counted;		/* the counts are filled: the database has a schema */
	long long messages, message_recipients, links, events, optouts;
	bool partitioned;	/* PostgreSQL: events in monthly partitions */
	long long partitions;	/* how many months have one */
	char oldest[8], newest[8];	/* "YYYY-MM" of the first and last ("" when none) */
};
/* Fills s from the handle's database (opened with store_open_as_is): 0, or
 * -1 with the reason in store_errmsg. */
int store_status(struct store *st, struct store_status *s);
/* True when the handle is on PostgreSQL (database = postgresql://...). */
bool store_is_pg(struct store *st);
/* True when the database setting names PostgreSQL (a postgresql:// or
 * postgres:// URI) rather than a file. */
bool store_names_pg(const char *database);
/* True while the database server is unreachable from this process (only
 * PostgreSQL's can be): the store logged the outage when it began and logs
 * its end, so callers keep their per-message lines at debug level. */
bool store_unreachable(void);
/* The configured database as a log line may name it: the file name as it
 * is, or "postgresql database DB on HOST as USER" (never a password). */
void store_display(const char *database, char *out, size_t outlen);
int store_schema_version(struct store *st);
const char *store_errmsg(struct store *st);
/* 0 while the database's path still names the file this handle opened;
 * -1 (with a message) once that file was removed or replaced: whatever the
 * handle writes then goes where nobody else reads. The writes below that
 * the beacon acknowledges check it before and after their COMMIT. */
int store_file_check(struct store *st);
/* One committed write transaction that changes nothing (page 1 rewritten
 * with the schema version it has): 0 when the database takes a durable
 * write now, -1 with the reason (disk full, read-only, file gone). Costs
 * about what recording an opt-out does. */
int store_write_probe(struct store *st);

/* hash_key_file: one line, unpadded base64url of 32..64 random bytes, not
 * readable by others. It is never rotated: opt-outs are kept under it. */
int store_hash_key_load(const char *path, struct store_hash_key *k, char *err, size_t errlen);
/* HMAC-SHA-256 of the address's canonical form (address_canonical():
 * lower-cased, without <>, quoted local part and IDN domain in one form). */
void store_recipient_hash(const struct store_hash_key *k, const char *addr,
			  unsigned char out[STORE_HASH_LEN]);

/* A message already recorded under this queue id, or (for a client's retry
 * with a new queue id) with this Message-ID header from this sender.
 * Returns 1 and fills id/sent when found, 0 when not, -1 on error. */
int store_message_find(struct store *st, const char *queue_id, const char *message_id_header,
		       const char *sender, char id[STORE_ID_LEN + 1], long long *sent);
/* Inserts the message, its recipient hashes and its links (URLs reduced per
 * mode) in one transaction. Returns 0, 1 when it was there already (a
 * unique conflict: nothing written), -1 on error. */
int store_message_insert(struct store *st, const struct store_message *m,
			 enum store_link_urls mode);
/* Returns 1 when the recipient opted out, 0 when not, -1 on error. */
int store_optout_exists(struct store *st, const unsigned char hash[STORE_HASH_LEN]);
/* Records an opt-out (idempotent). message_id may be NULL. */
int store_optout_add(struct store *st, const unsigned char hash[STORE_HASH_LEN],
		     long long when, const char *message_id);
/* The URL as stored: full, without query and fragment (path), or NULL. */
char *store_reduce_url(const char *url, enum store_link_urls mode);

/* ---- the beacon ---- */

struct store_event {
	const char *message_id;
	const char *kind;		/* "open", "click", "optout" */
	unsigned link;			/* clicks: the link number; else 0 */
	long long time;
	const char *ip_masked;		/* NULL when not recorded (dnt) */
	const char *client_class;	/* NULL when not recorded (dnt) */
	const char *verdict;
	bool dnt;
	const unsigned char *recipient_hash;	/* opt-outs only */
	const char *country;		/* ISO code, NULL unless geoip_database */
	const char *city;		/* English name, NULL unless geoip_precision = city */
};

/* Which events count as a person's, the one rule reports and webhooks
 * share: an open whose verdict is "human" or "gmail-proxy" (Google's proxy
 * fetches the pixel when the reader opens the message), a click whose
 * verdict is "human". Any other verdict is a machine's open or a scanner's
 * click; an opt-out, or a NULL kind or verdict, is neither. */
bool store_event_is_human(const char *kind, const char *verdict);
/* The event an opt-out is recorded with, on either backend: a person's own
 * request ("human"), naming whose opt-out it was. */
struct store_event store_optout_event(const unsigned char *hash, long long when,
				      const char *message_id);
/* The same rule for SQL, as lists for "verdict IN ...": test_store checks
 * that SQLite and store_event_is_human agree on every verdict. */
#define STORE_HUMAN_OPEN_VERDICTS_SQL	"('human', 'gmail-proxy')"
#define STORE_HUMAN_CLICK_VERDICTS_SQL	"('human')"

/* Inserts the events in one transaction: the beacon's group commit.
 * Fails when the file was removed or replaced (store_file_check). */
int store_events_insert(struct store *st, const struct store_event *ev, size_t n);
/* 1 when a recipient of the message (or someone from its page) opted out. */
int store_message_opted_out(struct store *st, const char *message_id);
/* The message's recipient hashes (at most max into out); *total counts
 * all of them, 0 when the message is unknown here. */
int store_message_recipients(struct store *st, const char *message_id,
			     unsigned char (*out)[STORE_HASH_LEN], size_t max, size_t *total);
/* 1 when hash is one of the message's recipient hashes, 0 when not, -1 on
 * error: one indexed lookup, however many recipients the message had. */
int store_message_has_recipient(struct store *st, const char *message_id,
				const unsigned char hash[STORE_HASH_LEN]);
/* Records an opt-out and its event in one transaction; fails when the file
 * was removed or replaced (store_file_check). */
int store_optout_record(struct store *st, const unsigned char hash[STORE_HASH_LEN],
			long long when, const char *message_id);
/* Calls fn for each event after the cursor (an event id), in order, at
 * most limit; fn returns non-zero to stop. */
typedef int (*store_event_fn)(void *arg, long long cursor, const struct store_event *ev);
int store_events_after(struct store *st, long long after, int limit, store_event_fn fn,
		       void *arg);

/* ---- the beacon's webhooks (store/webhook_queries.c) ---- */

/* The message's sender and Message-ID header (each malloc'd, NULL when not
 * stored): 1 when the message is known here, 0 when not, -1 on error. */
int store_message_sender(struct store *st, const char *message_id, char **sender,
			 char **message_id_header);
/* How many of the message's events of kind ("open", or "click" on link)
 * count as a person's (store_event_is_human) and were not do-not-track:
 * 1 right after the first one was committed. -1 on error or another kind. */
long long store_human_events_count(struct store *st, const char *message_id, const char *kind,
				   unsigned link);
/* The same count, only of the events before the time before (seconds): 0
 * for a first that came in the same second as others, wherever they were
 * recorded (notify=mail's "first", which the claim below settles). */
long long store_human_events_before(struct store *st, const char *message_id, const char *kind,
				    unsigned link, long long before);
/* Link number link of the message as stored (malloc'd; NULL when its URL
 * is not kept, see store_link_urls): 1 when there is such a link, 0 when
 * not, -1 on error. */
int store_link_url(struct store *st, const char *message_id, unsigned link, char **url);

/* ---- the beacon's "Read:" mails, notify=mail (store/webhook_queries.c) ---- */

/* What a "Read:" mail says of the message (strings malloc'd, NULL when not
 * stored; store_notice_free). */
struct store_notice {
	char *sender;
	char *subject;		/* NULL unless store_subject = yes */
	long long sent;
	long long recipients;
};
/* 1 when the message is known here, 0 when not, -1 on error. */
int store_message_notice(struct store *st, const char *message_id, struct store_notice *out);
void store_notice_free(struct store_notice *n);
/* Records that the mail for the message's first open (link 0) or first
 * click of link N went out at when: 1 when this call recorded it, 0 when
 * it was recorded before (by this beacon or another on the database), -1
 * on error. Durable: the claim is what keeps it to one mail. */
int store_notification_claim(struct store *st, const char *message_id, unsigned link,
			     long long when);

#endif
