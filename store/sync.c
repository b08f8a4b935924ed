/* store/sync: the cursor table of `mailbeacon sync` (schema version 3) and
 * the one-transaction write of a page of events pulled from a beacon, on
 * either backend (sq.c), with statements prepared and finalized per call:
 * a sync writes a few pages, not a stream. */
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "consent.h"
#include "sq.h"
#include "store.h"
#include "store_int.h"
#include "sync.h"

static const char SQL_CURSOR[] = "SELECT cursor FROM sync_state WHERE source = ?1";
static const char SQL_SET_CURSOR[] = "INSERT INTO sync_state (source, cursor) VALUES (?1, ?2)"
	" ON CONFLICT (source) DO UPDATE SET cursor = excluded.cursor";
static const char SQL_OPTOUT[] = "INSERT OR IGNORE INTO optouts"
	" (recipient_hash, time, message_id) VALUES (?1, ?2, ?3)";
static const char SQL_OPTOUT_PG[] = "INSERT INTO optouts"
	" (recipient_hash, time, message_id) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING";

/* "DATABASE: what: reason": SQLite's file name, or (PostgreSQL) libpq's
 * message, which names the database itself. */
static int
dberr(struct store *st, const char *what, char *err, size_t errlen)
{
	if (store_is_pg(st))
		snprintf(err, errlen, "%s: %s", what, sq_reason(st));
	else
		snprintf(err, errlen, "%s: %s: %s", sqlite3_db_filename(store_db(st), "main"), what,
			 sq_reason(st));
	return -1;
}

/* The stored cursor into *cursor (0 when none); 0 or -1. */
static int
read_cursor(struct store *st, const char *source, long long *cursor, char *err, size_t errlen)
{
	struct sq *s = sq_prepare(st, SQL_CURSOR, NULL);
	int rc;

	*cursor = 0;
	if (s == NULL)
		return dberr(st, "sync cursor", err, errlen);
	rc = sq_bind_text(s, 1, source) < 0 ? -1 : sq_step(s);
	if (rc == 1)
		*cursor = sq_int64(s, 0);
	if (rc < 0) {
		dberr(st, "sync cursor", err, errlen);
		sq_finish(s);
		return -1;
	}
	sq_finish(s);
	return 0;
}

int
store_sync_cursor(struct store *st, const char *source, long long *cursor, char *err,
		  size_t errlen)
{
	if (st == NULL || source == NULL || cursor == NULL) {
		snprintf(err, errlen, "sync cursor: database not open");
		return -1;
	}
	return read_cursor(st, source, cursor, err, errlen);
}

/* Runs a prepared insert once and readies it for the next. */
static int
run_once(struct sq *s, long long *changes)
{
	int rc = sq_step(s);

	if (rc == 0 && changes != NULL)
		*changes += sq_changes(s);
	return rc == 0 ? 0 : -1;
}

/* What one page writes inside page_txn's transaction: 0, or -1 with the
 * reason in err. */
typedef int page_writer(struct store *st, void *arg, char *err, size_t errlen);

/* One page in one transaction: checks that the stored cursor of source is
 * still expect, runs write, sets the cursor to new_cursor and commits; 0,
 * or -1 with the reason in err and nothing written. */
static int
page_txn(struct store *st, const char *source, long long expect, long long new_cursor,
	 page_writer *write, void *arg, char *err, size_t errlen)
{
	long long now;

	if (sq_exec(st, "BEGIN IMMEDIATE", "BEGIN") < 0)
		return dberr(st, "sync: begin", err, errlen);
	/* Under the write lock (PostgreSQL: the row's lock, taken by FOR
	 * UPDATE below): a second sync of this source that committed a page
	 * since we read the cursor would make these rows duplicates. */
	if (store_is_pg(st) &&
	    sq_exec(st, "", "SELECT pg_advisory_xact_lock(31078843214374767)") < 0) {
		dberr(st, "sync: lock", err, errlen);
		goto fail;
	}
	if (read_cursor(st, source, &now, err, errlen) < 0)
		goto fail;
	if (now != expect) {
		snprintf(err, errlen, "the cursor of %s moved from %lld to %lld while this sync "
			 "ran (another sync of the same source?); nothing written, run it again",
			 source, expect, now);
		goto fail;
	}
	if (write(st, arg, err, errlen) < 0)
		goto fail;
	struct sq *c = sq_prepare(st, SQL_SET_CURSOR, NULL);
	if (c == NULL || sq_bind_text(c, 1, source) < 0 || sq_bind_int64(c, 2, new_cursor) < 0 ||
	    run_once(c, NULL) < 0) {
		dberr(st, "sync: store the cursor", err, errlen);
		sq_finish(c);
		goto fail;
	}
	sq_finish(c);
	if (sq_exec(st, "COMMIT", NULL) < 0) {
		dberr(st, "sync: commit", err, errlen);
		goto fail;
	}
	return 0;
fail:
	if (sq_in_transaction(st))
		(void)sq_exec(st, "ROLLBACK", NULL);
	return -1;
}

struct events_page {
	const struct store_event *ev;
	size_t n;
	long long added;	/* opt-outs */
};

static int
write_events(struct store *st, void *arg, char *err, size_t errlen)
{
	struct events_page *p = arg;
	const struct store_event *ev = p->ev;

	for (size_t i = 0; i < p->n; i++) {
		struct sq *s;

		if (store_event_insert_in_txn(st, &ev[i]) < 0)
			return dberr(st, "insert event", err, errlen);
		if (ev[i].recipient_hash != NULL && ev[i].kind != NULL &&
		    strcmp(ev[i].kind, "optout") == 0) {
			s = sq_prepare(st, SQL_OPTOUT, SQL_OPTOUT_PG);
			if (s == NULL || sq_bind_blob(s, 1, ev[i].recipient_hash, STORE_HASH_LEN) < 0 ||
			    sq_bind_int64(s, 2, ev[i].time) < 0 ||
			    sq_bind_text(s, 3, ev[i].message_id) < 0 || run_once(s, &p->added) < 0) {
				dberr(st, "insert opt-out", err, errlen);
				sq_finish(s);
				return -1;
			}
			sq_finish(s);
		}
	}
	return 0;
}

int
store_sync_page(struct store *st, const char *source, long long expect,
		const struct store_event *ev, size_t n, long long new_cursor,
		size_t *optouts_added, char *err, size_t errlen)
{
	struct events_page p = { ev, n, 0 };

	if (optouts_added != NULL)
		*optouts_added = 0;
	if (st == NULL || source == NULL || (n > 0 && ev == NULL)) {
		snprintf(err, errlen, "sync: database not open");
		return -1;
	}
	/* PostgreSQL: the rows' months need their partitions, which are
	 * created (and committed) outside this transaction. */
	if (store_events_partitions(st, ev, n) < 0)
		return dberr(st, "sync: partitions", err, errlen);
	if (page_txn(st, source, expect, new_cursor, write_events, &p, err, errlen) < 0)
		return -1;
	if (optouts_added != NULL)
		*optouts_added = (size_t)p.added;
	return 0;
}

struct consents_page {
	const struct store_consent_item *it;
	size_t n;
	long long consents, asks;	/* rows written */
};

static int
write_consents(struct store *st, void *arg, char *err, size_t errlen)
{
	struct consents_page *p = arg;

	for (size_t i = 0; i < p->n; i++) {
		bool consent = strcmp(p->it[i].kind, "consent") == 0;

		if (store_consent_insert_in_txn(st, &p->it[i], consent ? &p->consents : &p->asks) < 0)
			return dberr(st, consent ? "insert consent" : "insert ask", err, errlen);
	}
	return 0;
}

int
store_sync_consents(struct store *st, const char *source, long long expect,
		    const struct store_consent_item *it, size_t n, long long new_cursor,
		    size_t *consents_added, size_t *asks_added, char *err, size_t errlen)
{
	struct consents_page p = { it, n, 0, 0 };

	*consents_added = *asks_added = 0;
	if (st == NULL || source == NULL || (n > 0 && it == NULL)) {
		snprintf(err, errlen, "sync: database not open");
		return -1;
	}
	if (page_txn(st, source, expect, new_cursor, write_consents, &p, err, errlen) < 0)
		return -1;
	*consents_added = (size_t)p.consents;
	*asks_added = (size_t)p.asks;
	return 0;
}
