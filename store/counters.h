/* store/counters: the per-message counters that reports read instead of
 * scanning the events (messages' opens, clicks, opt-outs, first human open
 * and latest event; links' clicks; message_days' human opens and clicks per
 * UTC day of the event), as SQL that both backends run. Events are counted
 * by a trigger of the schema (SQLite 7, PostgreSQL 4) in the transaction
 * that inserts them, whoever inserts them (the beacon's group commit, sync,
 * opt-outs); what deletes events (forget, purge) recounts the messages it
 * touched with the statements below, which also made the migrations'
 * backfill. A migration copies this text when it is made: change it only
 * with a new migration. */
#ifndef MB_STORE_COUNTERS_H
#define MB_STORE_COUNTERS_H
#include "store.h"

/* The UTC day of a time (floor division, also before 1970). */
#define COUNTERS_DAY(t) "(" t " / 86400 - CASE WHEN " t " % 86400 < 0 THEN 1 ELSE 0 END)"
/* What an event e is (store_event_is_human's rule; test_store checks that
 * the SQL lists agree with it). */
#define COUNTERS_HUMAN_OPEN(e) \
	"(" e ".kind = 'open' AND " e ".verdict IN " STORE_HUMAN_OPEN_VERDICTS_SQL ")"
#define COUNTERS_MACHINE_OPEN(e) \
	"(" e ".kind = 'open' AND " e ".verdict NOT IN " STORE_HUMAN_OPEN_VERDICTS_SQL ")"
#define COUNTERS_HUMAN_CLICK(e) \
	"(" e ".kind = 'click' AND " e ".verdict IN " STORE_HUMAN_CLICK_VERDICTS_SQL ")"
#define COUNTERS_SCANNER_CLICK(e) \
	"(" e ".kind = 'click' AND " e ".verdict NOT IN " STORE_HUMAN_CLICK_VERDICTS_SQL ")"

/* The recount of the messages whose ids the parenthesised query ids
 * gives: their counters, their links' and their days', from their events. */
#define COUNTERS_RECOUNT_MESSAGES(ids) \
	"UPDATE messages SET (opens_human, opens_machine, clicks_human, clicks_scanner, optouts," \
	"  first_human_open, last_event) = (SELECT" \
	"  count(CASE WHEN " COUNTERS_HUMAN_OPEN("e") " THEN 1 END)," \
	"  count(CASE WHEN " COUNTERS_MACHINE_OPEN("e") " THEN 1 END)," \
	"  count(CASE WHEN " COUNTERS_HUMAN_CLICK("e") " THEN 1 END)," \
	"  count(CASE WHEN " COUNTERS_SCANNER_CLICK("e") " THEN 1 END)," \
	"  count(CASE WHEN e.kind = 'optout' THEN 1 END)," \
	"  min(CASE WHEN " COUNTERS_HUMAN_OPEN("e") " THEN e.time END), max(e.time)" \
	"  FROM events e WHERE e.message_id = messages.id)" \
	" WHERE id IN " ids
#define COUNTERS_RECOUNT_LINKS(ids) \
	"UPDATE links SET (clicks_human, clicks_scanner) = (SELECT" \
	"  count(CASE WHEN " COUNTERS_HUMAN_CLICK("e") " THEN 1 END)," \
	"  count(CASE WHEN " COUNTERS_SCANNER_CLICK("e") " THEN 1 END)" \
	"  FROM events e WHERE e.message_id = links.message_id AND e.kind = 'click'" \
	"  AND e.link = links.num)" \
	" WHERE message_id IN " ids
#define COUNTERS_CLEAR_DAYS(ids) "DELETE FROM message_days WHERE message_id IN " ids
/* Only days with a human open or click have a row: the report's days
 * are a range it fills from them (admin/report_days.c). cond: more of the
 * WHERE clause ("" or " AND ..."). */
#define COUNTERS_DAYS_FROM_EVENTS(cond) \
	"INSERT INTO message_days (message_id, day, sent, opens_human, clicks_human)" \
	" SELECT e.message_id, " COUNTERS_DAY("e.time") ", m.sent," \
	"  count(CASE WHEN " COUNTERS_HUMAN_OPEN("e") " THEN 1 END)," \
	"  count(CASE WHEN " COUNTERS_HUMAN_CLICK("e") " THEN 1 END)" \
	" FROM events e JOIN messages m ON m.id = e.message_id" \
	" WHERE (" COUNTERS_HUMAN_OPEN("e") " OR " COUNTERS_HUMAN_CLICK("e") ")" cond \
	" GROUP BY e.message_id, 2, m.sent"
#define COUNTERS_RECOUNT(ids) \
	COUNTERS_RECOUNT_MESSAGES(ids) ";" \
	COUNTERS_RECOUNT_LINKS(ids) ";" \
	COUNTERS_CLEAR_DAYS(ids) ";" \
	COUNTERS_DAYS_FROM_EVENTS(" AND e.message_id IN " ids) ";"

/* The temporary table of the messages a deletion of events touched, and
 * its recount (SQLite's dialect: sq turns "temp." into "pg_temp."). */
#define COUNTERS_RECOUNT_TABLE "CREATE TEMP TABLE IF NOT EXISTS mb_recount (id TEXT PRIMARY KEY)"
#define COUNTERS_RECOUNT_TABLE_PG \
	"CREATE TEMP TABLE IF NOT EXISTS mb_recount (id text COLLATE \"C\" PRIMARY KEY)"
#define COUNTERS_RECOUNT_LISTED \
	COUNTERS_RECOUNT("(SELECT id FROM temp.mb_recount)") "DELETE FROM temp.mb_recount"

#endif
