/* store_int: what the store's own files share and nobody else sees. */
#ifndef MB_STORE_INT_H
#define MB_STORE_INT_H
#include <sqlite3.h>
#include "store.h"

/* Inserts one event inside the caller's transaction (begun with sq_exec);
 * 0 or -1 with the handle's message set. */
int store_event_insert_in_txn(struct store *st, const struct store_event *e);
/* PostgreSQL: makes sure the events' months have their partitions (each
 * created and committed on its own: call before the transaction). SQLite:
 * nothing to do. 0 or -1. */
int store_events_partitions(struct store *st, const struct store_event *ev, size_t n);
/* The handle's SQLite connection, for the files of store/ that prepare,
 * bind and finalize statements of their own; NULL for NULL. */
sqlite3 *store_db(struct store *st);
/* The database as messages name it: the SQLite file's path, or
 * pgstore_display's words for PostgreSQL (never a password). */
const char *store_name(struct store *st);
/* The handle's PostgreSQL connection (NULL for a SQLite store). */
struct pgstore *store_pg(struct store *st);
/* Sets the handle's message (store_errmsg) to "PATH: what: SQLite's". */
void store_dberr(struct store *st, const char *what);

/* SQLite: moves the WAL into the database file and truncates it
 * (store_compact's second half); *complete as there. */
int store_checkpoint(struct store *st, bool *complete, char *err, size_t errlen);
/* PostgreSQL: drops the events' monthly partitions that end at or before
 * cutoff, in a transaction of its own; *events counts their rows and
 * *dropped the partitions. SQLite: nothing (0). */
int store_events_drop_before(struct store *st, long long cutoff, long long *events,
			     long long *dropped, char *err, size_t errlen);

/* consent.c's inserts of a consent (?1 hash, ?2 sender, ?3 time, ?4
 * message, ?5 source, ?6 notice version; nothing for a recipient who opted
 * out, nor for the same proof again) and of an ask (?1 hash, ?2 sender, ?3
 * message, ?4 tracked, ?5 time; nothing when there). */
extern const char store_sql_consent_add[];
extern const char store_sql_consent_ask[];
/* Inserts a consent or an ask of the consents feed (mailbeacon sync) with
 * those, inside the caller's transaction; *added counts the rows written.
 * 0 or -1 with the handle's reason (sq_reason). */
struct store_consent_item;
int store_consent_insert_in_txn(struct store *st, const struct store_consent_item *it,
				long long *added);

#endif
