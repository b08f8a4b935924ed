/* pg: the store's PostgreSQL backend (libpq), for several relays and beacons
 * sharing one database. The same operations as the SQLite store, with the
 * same meaning; store.c chooses the backend from the database setting.
 *
 * Deadlines: every round trip (connecting included) has one, kept by the
 * client with poll(), so a dead server or a dead TCP connection costs at
 * most timeout_ms; the handle then drops the connection and the next call
 * connects again. Error messages name the database without its password. */
#ifndef MB_STORE_PG_H
#define MB_STORE_PG_H
#include <stdbool.h>
#include <stddef.h>
#include <libpq-fe.h>
#include "store.h"

struct pgstore;

/* True while this process finds the server unreachable: the outage was
 * logged once when it began (and its end will be); the callers then keep
 * their per-message or per-event lines out of the log. */
bool pgstore_unreachable(void);

/* The PostgreSQL schema version this program creates and migrates to. */
#define PGSTORE_SCHEMA_VERSION 5

/* True when database names a PostgreSQL database (a libpq URI). */
bool pgstore_is_uri(const char *database);
/* The database as it may be shown: "postgresql database DB on HOST[:PORT]
 * as USER" from libpq's own parse of the URI; never the password. */
void pgstore_display(const char *uri, char *out, size_t outlen);

/* Connects (within timeout_ms), creates or migrates the schema under an
 * advisory lock (create: may create it) and creates the events partitions
 * of this month and the next. password, when not NULL, is used unless the
 * URI names one. Errors: "DISPLAY: reason" (libpq's reason). */
int pgstore_open(const char *uri, const char *password, bool create, int timeout_ms,
		 struct pgstore **out, char *err, size_t errlen);
/* Connects as pgstore_open does but leaves the schema as it finds it (none,
 * older or newer): for mailbeacon db status and migrate, which look first. */
int pgstore_open_as_is(const char *uri, const char *password, int timeout_ms,
		       struct pgstore **out, char *err, size_t errlen);
void pgstore_close(struct pgstore *st);
const char *pgstore_errmsg(struct pgstore *st);
/* The database as pgstore_display names it (no password). */
const char *pgstore_name(struct pgstore *st);
int pgstore_schema_version(struct pgstore *st);
/* 1 while the handle has a working connection, 0 when the last call lost
 * it (the next call connects again). */
int pgstore_connected(struct pgstore *st);

int pgstore_message_find(struct pgstore *st, const char *queue_id, const char *message_id_header,
			 const char *sender, char id[STORE_ID_LEN + 1], long long *sent);
int pgstore_message_insert(struct pgstore *st, const struct store_message *m,
			   enum store_link_urls mode);
int pgstore_optout_exists(struct pgstore *st, const unsigned char hash[STORE_HASH_LEN]);
int pgstore_optout_add(struct pgstore *st, const unsigned char hash[STORE_HASH_LEN], long long when,
		       const char *message_id);
int pgstore_optout_record(struct pgstore *st, const unsigned char hash[STORE_HASH_LEN],
			  long long when, const char *message_id);
/* One multi-row INSERT in one transaction (the beacon's group commit),
 * after making sure the months' partitions exist. */
int pgstore_events_insert(struct pgstore *st, const struct store_event *ev, size_t n);
int pgstore_message_opted_out(struct pgstore *st, const char *message_id);
int pgstore_message_recipients(struct pgstore *st, const char *message_id,
			       unsigned char (*out)[STORE_HASH_LEN], size_t max, size_t *total);
int pgstore_message_has_recipient(struct pgstore *st, const char *message_id,
				  const unsigned char hash[STORE_HASH_LEN]);
int pgstore_events_after(struct pgstore *st, long long after, int limit, store_event_fn fn,
			 void *arg);
/* 0 when the server takes writes now (a primary, not a read-only standby),
 * -1 with the reason: the beacon's /healthz. Needs no privilege. */
int pgstore_write_probe(struct pgstore *st);
/* The events' monthly partitions (mailbeacon_events_partition names them
 * events_yYYYYmMM), one relname a row, from the catalog. */
#define PGSTORE_PARTITIONS_SQL \
	"SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid" \
	" WHERE i.inhparent = 'events'::regclass AND c.relname ~ '^events_y[0-9]{4}m[0-9]{2}$'"
/* Drops the events' monthly partitions that end at or before cutoff (in a
 * transaction of its own); *events counts their rows, *dropped them. */
int pgstore_drop_partitions_before(struct pgstore *st, long long cutoff, long long *events,
				   long long *dropped);
/* Makes sure the partition holding time exists (created by the owner's
 * SECURITY DEFINER function, so the daemons' role needs no DDL right). */
int pgstore_events_partition(struct pgstore *st, long long time);
/* The same for the months of n events (called before their transaction:
 * each partition is created and committed on its own). */
int pgstore_events_partitions(struct pgstore *st, const struct store_event *ev, size_t n);


/* ---- for the store's statement layer (sq.c) ---- */

/* A query's parameters: n values (NULL: SQL NULL), their lengths and
 * formats (1, binary, for bytea), and their types (0: the server infers). */
struct pg_params {
	int n;
	const Oid *types;
	const char *const *vals;
	const int *lens, *fmts;
};
/* Runs one statement under the deadline; the result (failed ones too,
 * with their SQLSTATE) for the caller to PQclear, or NULL when the
 * connection was lost or the deadline passed. */
PGresult *pgstore_query(struct pgstore *st, const char *what, const char *sql,
			const struct pg_params *p);
/* A query read row by row (a report over millions of rows): begin, then
 * next until it returns 0 (the end) or -1; abort when the rest is not
 * wanted (drops the connection: reading the rest could take long). */
int pgstore_stream_begin(struct pgstore *st, const char *what, const char *sql,
			 const struct pg_params *p);
int pgstore_stream_next(struct pgstore *st, const char *what, PGresult **row);
void pgstore_stream_abort(struct pgstore *st);
/* Marks the handle as in (or out of) a transaction that sq.c began, so
 * that a lost connection is not silently replaced in the middle of it. */
void pgstore_set_in_txn(struct pgstore *st, bool in_txn);
bool pgstore_in_txn(struct pgstore *st);
/* Inserts events inside the caller's transaction (sync's pages). */
int pgstore_events_insert_in_txn(struct pgstore *st, const struct store_event *ev, size_t n);
/* Sets the handle's message to "DATABASE: what: why". */
void pgstore_fail(struct pgstore *st, const char *what, const char *why);

#endif
