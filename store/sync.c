/* store/sync: the cursor table of `mailbeacon sync` (schema version 3) and
 * the one-transaction write of a page of events pulled from a beacon. It
 * works on the handle's connection (store_db) with statements of its own,
 * prepared and finalized per call: a sync writes a few pages, not a stream. */
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "store.h"
#include "store_int.h"
#include "sync.h"

static const char SQL_CURSOR[] = "SELECT cursor FROM sync_state WHERE source = ?1";
static const char SQL_SET_CURSOR[] = "INSERT INTO sync_state (source, cursor) VALUES (?1, ?2)"
	" ON CONFLICT (source) DO UPDATE SET cursor = excluded.cursor";
static const char SQL_EVENT[] = "INSERT INTO events (message_id, kind, link, time,"
	" ip_masked, client_class, verdict, dnt, recipient_hash)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
static const char SQL_OPTOUT[] = "INSERT OR IGNORE INTO optouts"
	" (recipient_hash, time, message_id) VALUES (?1, ?2, ?3)";

static int
dberr(sqlite3 *db, const char *what, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s: %s: %s", sqlite3_db_filename(db, "main"), what,
		 sqlite3_errmsg(db));
	return -1;
}

static int
bind_text(sqlite3_stmt *s, int i, const char *v)
{
	return v != NULL ? sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(s, i);
}

/* The stored cursor into *cursor (0 when none); 0 or -1. */
static int
read_cursor(sqlite3 *db, const char *source, long long *cursor, char *err, size_t errlen)
{
	sqlite3_stmt *s;
	int rc;

	*cursor = 0;
	if (sqlite3_prepare_v2(db, SQL_CURSOR, -1, &s, NULL) != SQLITE_OK)
		return dberr(db, "sync cursor", err, errlen);
	rc = bind_text(s, 1, source);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*cursor = sqlite3_column_int64(s, 0);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		dberr(db, "sync cursor", err, errlen);
		sqlite3_finalize(s);
		return -1;
	}
	sqlite3_finalize(s);
	return 0;
}

int
store_sync_cursor(struct store *st, const char *source, long long *cursor, char *err,
		  size_t errlen)
{
	sqlite3 *db = store_db(st);

	if (db == NULL || source == NULL || cursor == NULL) {
		snprintf(err, errlen, "sync cursor: database not open");
		return -1;
	}
	return read_cursor(db, source, cursor, err, errlen);
}

static int
insert_event(sqlite3 *db, sqlite3_stmt *s, const struct store_event *e, char *err,
	     size_t errlen)
{
	int rc = store_bind_event(s, e);

	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	if (rc != SQLITE_DONE)
		dberr(db, "insert event", err, errlen);
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int
insert_optout(sqlite3 *db, sqlite3_stmt *s, const struct store_event *e, size_t *added,
	      char *err, size_t errlen)
{
	int rc = sqlite3_bind_blob(s, 1, e->recipient_hash, STORE_HASH_LEN, SQLITE_STATIC);

	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(s, 2, e->time);
	if (rc == SQLITE_OK)
		rc = bind_text(s, 3, e->message_id);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	if (rc != SQLITE_DONE)
		dberr(db, "insert opt-out", err, errlen);
	else
		*added += (size_t)sqlite3_changes(db);
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

int
store_sync_page(struct store *st, const char *source, long long expect,
		const struct store_event *ev, size_t n, long long new_cursor,
		size_t *optouts_added, char *err, size_t errlen)
{
	sqlite3 *db = store_db(st);
	sqlite3_stmt *s_ev = NULL, *s_opt = NULL, *s_cur = NULL;
	size_t added = 0;
	long long now;
	int rc;

	if (optouts_added != NULL)
		*optouts_added = 0;
	if (db == NULL || source == NULL || (n > 0 && ev == NULL)) {
		snprintf(err, errlen, "sync: database not open");
		return -1;
	}
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return dberr(db, "sync: begin", err, errlen);
	/* Under the write lock: a second sync of this source that committed
	 * a page since we read the cursor would make these rows duplicates. */
	if (read_cursor(db, source, &now, err, errlen) < 0)
		goto fail;
	if (now != expect) {
		snprintf(err, errlen, "the cursor of %s moved from %lld to %lld while this sync "
			 "ran (another sync of the same source?); nothing written, run it again",
			 source, expect, now);
		goto fail;
	}
	if (sqlite3_prepare_v2(db, SQL_EVENT, -1, &s_ev, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, SQL_OPTOUT, -1, &s_opt, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, SQL_SET_CURSOR, -1, &s_cur, NULL) != SQLITE_OK) {
		dberr(db, "sync: prepare", err, errlen);
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		if (insert_event(db, s_ev, &ev[i], err, errlen) < 0)
			goto fail;
		if (ev[i].recipient_hash != NULL && ev[i].kind != NULL &&
		    strcmp(ev[i].kind, "optout") == 0 &&
		    insert_optout(db, s_opt, &ev[i], &added, err, errlen) < 0)
			goto fail;
	}
	rc = bind_text(s_cur, 1, source);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(s_cur, 2, new_cursor);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s_cur);
	if (rc != SQLITE_DONE) {
		dberr(db, "sync: store the cursor", err, errlen);
		goto fail;
	}
	sqlite3_finalize(s_ev);
	sqlite3_finalize(s_opt);
	sqlite3_finalize(s_cur);
	s_ev = s_opt = s_cur = NULL;
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		dberr(db, "sync: commit", err, errlen);
		goto fail;
	}
	if (optouts_added != NULL)
		*optouts_added = added;
	return 0;
fail:
	sqlite3_finalize(s_ev);
	sqlite3_finalize(s_opt);
	sqlite3_finalize(s_cur);
	if (!sqlite3_get_autocommit(db))
		(void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}
