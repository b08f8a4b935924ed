/* pg: the store on PostgreSQL: the schema versioned in mailbeacon_schema
 * and migrated under an advisory lock, events in monthly range partitions
 * created ahead by a SECURITY DEFINER function, and the store's operations.
 * Their statements go through the connection layer of pg_conn.c (one
 * connection per handle, every round trip under a deadline). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>
#include <sodium.h>

#include "mbuf.h"
#include "counters.h"
#include "pg_int.h"

/* pg_advisory_xact_lock key of the schema migrations: "mailbcn" in ASCII. */
#define SCHEMA_LOCK_KEY "31078843214374766"
/* Events per INSERT statement: 11 parameters each, well under libpq's
 * 65535-parameter limit. */
#define EVENTS_PER_INSERT 1000

/*
 * migrations[i] brings the schema from version i to i + 1, in one
 * transaction with the version update. Never edit one that has shipped.
 * Version 1 is SQLite's schema 4 with PostgreSQL's types: bytea for the
 * keyed hashes, bigint for times, events partitioned by month of time.
 * Text compares and sorts byte by byte (COLLATE "C", SQLite's BINARY), so
 * that reports come out in the same order on both backends, and lower()
 * folds ASCII only (SQLite's NOCASE). messages.rowid stands for SQLite's
 * rowid, which the report's two passes compare.
 */
static const char *const migrations[] = {
	/* 1: the initial schema */
	"CREATE TABLE mailbeacon_schema (version integer NOT NULL);"
	"INSERT INTO mailbeacon_schema VALUES (0);"
	"CREATE TABLE messages ("
	"  id text COLLATE \"C\" PRIMARY KEY,"
	"  queue_id text COLLATE \"C\" UNIQUE,"
	"  message_id_header text COLLATE \"C\","
	"  sender text COLLATE \"C\" NOT NULL,"
	"  sasl_login text COLLATE \"C\","
	"  recipient_count integer NOT NULL,"
	"  sent bigint NOT NULL,"
	"  words text COLLATE \"C\" NOT NULL,"
	"  link_count integer NOT NULL,"
	"  subject text COLLATE \"C\","
	"  rowid bigint GENERATED ALWAYS AS IDENTITY UNIQUE);"
	"CREATE INDEX messages_sender_mid ON messages(sender, message_id_header);"
	"CREATE INDEX messages_sent ON messages(sent);"
	"CREATE INDEX messages_report ON messages(sender, sent, id, recipient_count);"
	/* --sender ADDR is ASCII case-insensitive, like SQLite's NOCASE:
	 * lower() under the C collation folds ASCII only. */
	"CREATE INDEX messages_sender_nocase ON messages(lower(sender), sent);"
	"CREATE INDEX messages_domain ON messages(lower(substring(sender from '[^@]*$')), sent);"
	"CREATE TABLE message_recipients ("
	"  message_id text COLLATE \"C\" NOT NULL REFERENCES messages(id) ON DELETE CASCADE,"
	"  recipient_hash bytea NOT NULL,"
	"  PRIMARY KEY (message_id, recipient_hash));"
	"CREATE INDEX message_recipients_hash ON message_recipients(recipient_hash);"
	"CREATE TABLE links ("
	"  message_id text COLLATE \"C\" NOT NULL REFERENCES messages(id) ON DELETE CASCADE,"
	"  num integer NOT NULL,"
	"  url text COLLATE \"C\","
	"  PRIMARY KEY (message_id, num));"
	"CREATE SEQUENCE events_id_seq AS bigint;"
	"CREATE TABLE events ("
	"  id bigint NOT NULL DEFAULT nextval('events_id_seq'),"
	"  message_id text COLLATE \"C\" NOT NULL,"
	"  kind text COLLATE \"C\" NOT NULL CHECK (kind IN ('open', 'click', 'optout')),"
	"  link integer,"
	"  time bigint NOT NULL,"
	"  ip_masked text COLLATE \"C\","
	"  client_class text COLLATE \"C\","
	"  verdict text COLLATE \"C\" NOT NULL,"
	"  dnt integer NOT NULL DEFAULT 0,"
	"  recipient_hash bytea) PARTITION BY RANGE (time);"
	"ALTER SEQUENCE events_id_seq OWNED BY events.id;"
	"CREATE INDEX events_report ON events(message_id, kind, verdict, time, link);"
	"CREATE INDEX events_id ON events(id);"
	/* Times outside every month's partition (a clock far off) land here,
	 * never fail; purge deletes from it by time. */
	"CREATE TABLE events_default PARTITION OF events DEFAULT;"
	"CREATE TABLE optouts ("
	"  recipient_hash bytea PRIMARY KEY,"
	"  time bigint NOT NULL,"
	"  message_id text COLLATE \"C\");"
	"CREATE TABLE sync_state (source text COLLATE \"C\" PRIMARY KEY, cursor bigint NOT NULL);"
	/* Creating a partition takes the table's owner; the daemons' role may
	 * only call this, which creates the month's partition and nothing
	 * else (month_start is checked to be a month's first second, UTC). */
	"CREATE FUNCTION mailbeacon_events_partition(month_start bigint) RETURNS void"
	"  LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $fn$"
	" DECLARE"
	"  m timestamptz := to_timestamp(month_start);"
	"  name text := format('events_y%sm%s', to_char(m AT TIME ZONE 'UTC', 'YYYY'),"
	"                      to_char(m AT TIME ZONE 'UTC', 'MM'));"
	"  next_start bigint := extract(epoch FROM (date_trunc('month', m AT TIME ZONE 'UTC')"
	"                      + interval '1 month'))::bigint;"
	" BEGIN"
	"  IF extract(epoch FROM date_trunc('month', m AT TIME ZONE 'UTC'))::bigint <> month_start THEN"
	"   RAISE EXCEPTION 'not the first second of a month: %', month_start;"
	"  END IF;"
	"  PERFORM pg_advisory_xact_lock(" SCHEMA_LOCK_KEY ");"
	"  IF to_regclass(format('%I.%I', current_schema(), name)) IS NULL THEN"
	"   EXECUTE format('CREATE TABLE %I.%I PARTITION OF %I.events FOR VALUES FROM (%s) TO (%s)',"
	"                  current_schema(), name, current_schema(), month_start, next_start);"
	"  END IF;"
	" END $fn$;",
	/* 2: SQLite's 5, where an open or click came from (geoip_database):
	 * added to the partitioned table, so to every month's partition. */
	"ALTER TABLE events ADD COLUMN country text COLLATE \"C\","
	"  ADD COLUMN city text COLLATE \"C\";"
	"CREATE INDEX events_place ON events(message_id, kind, verdict, country, city)"
	"  WHERE country IS NOT NULL;",
	/* 3: SQLite's 6, the "Read:" mails of notify=mail that went out. */
	"CREATE TABLE mail_notifications ("
	"  message_id text COLLATE \"C\" NOT NULL REFERENCES messages(id) ON DELETE CASCADE,"
	"  link integer NOT NULL,"
	"  time bigint NOT NULL,"
	"  PRIMARY KEY (message_id, link));",
	/* 4: SQLite's 7, consent=optin's consents and asks. */
	"CREATE TABLE consents ("
	"  recipient_hash bytea NOT NULL,"
	"  sender text COLLATE \"C\" NOT NULL,"
	"  time bigint NOT NULL,"
	"  message_id text COLLATE \"C\","
	"  source text COLLATE \"C\","
	"  notice_version text COLLATE \"C\" NOT NULL);"
	"CREATE UNIQUE INDEX consents_proof ON consents(recipient_hash, sender,"
	"  notice_version, coalesce(message_id, ''), coalesce(source, ''));"
	"CREATE INDEX consents_sender ON consents(sender);"
	"CREATE TABLE consent_asks ("
	"  message_id text COLLATE \"C\" NOT NULL,"
	"  recipient_hash bytea NOT NULL,"
	"  sender text COLLATE \"C\" NOT NULL,"
	"  tracked text COLLATE \"C\" NOT NULL,"
	"  time bigint NOT NULL,"
	"  PRIMARY KEY (message_id, recipient_hash));"
	"CREATE INDEX consent_asks_recipient ON consent_asks(recipient_hash, sender, time);"
	"CREATE INDEX consent_asks_sender ON consent_asks(sender);",
	/* 5: SQLite's 8, the per-message counters (store/counters.h). The
	 * trigger counts a statement's events at once (its transition table)
	 * as their owner (SECURITY DEFINER): the daemons' role inserts events
	 * but may update nothing. It locks the messages in id order first, so
	 * that two beacons' batches never wait on each other in a cycle. */
	"ALTER TABLE messages ADD COLUMN opens_human bigint NOT NULL DEFAULT 0,"
	"  ADD COLUMN opens_machine bigint NOT NULL DEFAULT 0,"
	"  ADD COLUMN clicks_human bigint NOT NULL DEFAULT 0,"
	"  ADD COLUMN clicks_scanner bigint NOT NULL DEFAULT 0,"
	"  ADD COLUMN optouts bigint NOT NULL DEFAULT 0,"
	"  ADD COLUMN first_human_open bigint,"
	"  ADD COLUMN last_event bigint;"
	"ALTER TABLE links ADD COLUMN clicks_human bigint NOT NULL DEFAULT 0,"
	"  ADD COLUMN clicks_scanner bigint NOT NULL DEFAULT 0;"
	"CREATE TABLE message_days ("
	"  message_id text COLLATE \"C\" NOT NULL,"
	"  day bigint NOT NULL,"
	"  sent bigint NOT NULL,"
	"  opens_human bigint NOT NULL,"
	"  clicks_human bigint NOT NULL,"
	"  PRIMARY KEY (message_id, day));"
	"CREATE INDEX message_days_sent ON message_days(sent, day, opens_human, clicks_human);"
	COUNTERS_RECOUNT_MESSAGES("(SELECT message_id FROM events)") ";"
	COUNTERS_RECOUNT_LINKS("(SELECT message_id FROM events WHERE kind = 'click')") ";"
	COUNTERS_DAYS_FROM_EVENTS("") ";"
	"CREATE FUNCTION mailbeacon_events_counters() RETURNS trigger"
	"  LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $fn$"
	" BEGIN"
	"  PERFORM 1 FROM messages WHERE id IN (SELECT message_id FROM new_events)"
	"   ORDER BY id FOR UPDATE;"
	"  UPDATE messages m SET opens_human = m.opens_human + c.oh,"
	"   opens_machine = m.opens_machine + c.om, clicks_human = m.clicks_human + c.ch,"
	"   clicks_scanner = m.clicks_scanner + c.cs, optouts = m.optouts + c.oo,"
	"   first_human_open = least(m.first_human_open, c.fho),"
	"   last_event = greatest(m.last_event, c.le)"
	"  FROM (SELECT message_id,"
	"    count(*) FILTER (WHERE " COUNTERS_HUMAN_OPEN("n") ") AS oh,"
	"    count(*) FILTER (WHERE " COUNTERS_MACHINE_OPEN("n") ") AS om,"
	"    count(*) FILTER (WHERE " COUNTERS_HUMAN_CLICK("n") ") AS ch,"
	"    count(*) FILTER (WHERE " COUNTERS_SCANNER_CLICK("n") ") AS cs,"
	"    count(*) FILTER (WHERE n.kind = 'optout') AS oo,"
	"    min(n.time) FILTER (WHERE " COUNTERS_HUMAN_OPEN("n") ") AS fho,"
	"    max(n.time) AS le"
	"   FROM new_events n GROUP BY message_id) c"
	"  WHERE m.id = c.message_id;"
	"  UPDATE links l SET clicks_human = l.clicks_human + k.ch,"
	"   clicks_scanner = l.clicks_scanner + k.cs"
	"  FROM (SELECT message_id, link,"
	"    count(*) FILTER (WHERE " COUNTERS_HUMAN_CLICK("n") ") AS ch,"
	"    count(*) FILTER (WHERE " COUNTERS_SCANNER_CLICK("n") ") AS cs"
	"   FROM new_events n WHERE n.kind = 'click' GROUP BY message_id, link) k"
	"  WHERE l.message_id = k.message_id AND l.num = k.link;"
	"  INSERT INTO message_days (message_id, day, sent, opens_human, clicks_human)"
	"   SELECT n.message_id, " COUNTERS_DAY("n.time") ", m.sent,"
	"    count(*) FILTER (WHERE " COUNTERS_HUMAN_OPEN("n") "),"
	"    count(*) FILTER (WHERE " COUNTERS_HUMAN_CLICK("n") ")"
	"   FROM new_events n JOIN messages m ON m.id = n.message_id"
	"   WHERE " COUNTERS_HUMAN_OPEN("n") " OR " COUNTERS_HUMAN_CLICK("n")
	"   GROUP BY n.message_id, 2, m.sent"
	"  ON CONFLICT (message_id, day) DO UPDATE SET"
	"   opens_human = message_days.opens_human + excluded.opens_human,"
	"   clicks_human = message_days.clicks_human + excluded.clicks_human;"
	"  RETURN NULL;"
	" END $fn$;"
	"CREATE TRIGGER events_counters AFTER INSERT ON events"
	"  REFERENCING NEW TABLE AS new_events"
	"  FOR EACH STATEMENT EXECUTE FUNCTION mailbeacon_events_counters();",
};

#define N_MIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))
_Static_assert(sizeof(migrations) / sizeof(migrations[0]) == PGSTORE_SCHEMA_VERSION,
    "PGSTORE_SCHEMA_VERSION must equal the number of migrations");

/* ---- schema ---- */

/* The server's reason when r is a refusal for want of a privilege (the
 * daemons' role of contrib/postgresql/), else NULL. */
static const char *
pg_denied(const PGresult *r)
{
	const char *why;

	if (strcmp(pg_sqlstate(r), "42501") != 0)	/* insufficient_privilege */
		return NULL;
	why = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
	return why != NULL ? why : "permission denied";
}

/* The schema version: -1 error, 0 when the database has none of ours. */
static int
pg_version(struct pgstore *st, bool *foreign_tables)
{
	PGresult *r = pg_exec(st, "schema version",
	    "SELECT to_regclass('mailbeacon_schema') IS NOT NULL,"
	    " to_regclass('messages') IS NOT NULL OR to_regclass('events') IS NOT NULL", 0, NULL,
	    NULL, NULL);
	int v = -1;

	if (!pg_ok(r) || PQntuples(r) != 1) {
		PQclear(r);
		return -1;
	}
	bool ours = PQgetvalue(r, 0, 0)[0] == 't';
	if (foreign_tables != NULL)
		*foreign_tables = !ours && PQgetvalue(r, 0, 1)[0] == 't';
	PQclear(r);
	if (!ours)
		return 0;
	r = pg_exec(st, "schema version", "SELECT max(version) FROM mailbeacon_schema", 0, NULL,
		    NULL, NULL);
	if (pg_ok(r) && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
		v = atoi(PQgetvalue(r, 0, 0));
	else if (pg_ok(r))
		pg_seterr(st, "schema version: mailbeacon_schema is empty");
	else if (pg_denied(r) != NULL)
		pg_seterr(st, "schema version: this role may not read the schema (%s): grant it "
			  "the daemons' rights (contrib/postgresql/setup.sql, run again after "
			  "'mailbeacon db migrate')", pg_denied(r));
	PQclear(r);
	return v;
}

int
pgstore_schema_version(struct pgstore *st)
{
	return st != NULL ? pg_version(st, NULL) : -1;
}

static int
pg_migrate(struct pgstore *st, bool create)
{
	bool foreign = false;
	int v;

	if (pg_begin(st, "migration: begin") < 0)
		return -1;
	/* Several hosts starting at once: one migrates, the others wait
	 * here and then find the schema current. */
	if (pg_run(st, "migration: lock", "SELECT pg_advisory_xact_lock(" SCHEMA_LOCK_KEY ")") < 0 ||
	    (v = pg_version(st, &foreign)) < 0)
		goto fail;
	if (v > N_MIGRATIONS) {
		pg_seterr(st, "schema version %d is newer than this program (%d)", v, N_MIGRATIONS);
		goto fail;
	}
	if (v == 0 && foreign) {
		pg_seterr(st, "not a mailbeacon database (no mailbeacon_schema, but it has tables "
			  "named messages or events)");
		goto fail;
	}
	if (v == 0 && !create) {
		pg_seterr(st, "no mailbeacon schema in the database (run 'mailbeacon db migrate' "
			  "with a role that may create it)");
		goto fail;
	}
	for (int target = v + 1; target <= N_MIGRATIONS; target++) {
		char what[64], sql[96];

		snprintf(what, sizeof(what), "migration to schema version %d", target);
		snprintf(sql, sizeof(sql), "UPDATE mailbeacon_schema SET version = %d", target);
		PGresult *r = pg_exec(st, what, migrations[target - 1], 0, NULL, NULL, NULL);
		bool ok = pg_ok(r);
		/* The daemons' role of contrib/postgresql/ may not create
		 * tables: the owner's role migrates, once, before they start. */
		if (!ok && pg_denied(r) != NULL) {
			char have[48];

			if (v == 0)
				snprintf(have, sizeof(have), "no mailbeacon schema");
			else
				snprintf(have, sizeof(have), "schema version %d", v);
			pg_seterr(st, "%s, this program needs version %d, and this role may not "
				  "create or migrate it (%s): run 'mailbeacon db migrate' with the "
				  "schema owner's database URI, then start again", have, N_MIGRATIONS,
				  pg_denied(r));
		}
		PQclear(r);
		if (!ok || pg_run(st, what, sql) < 0)
			goto fail;
	}
	return pg_commit(st, "migration: commit");
fail:
	pg_rollback(st);
	return -1;
}

/* ---- partitions ---- */

static long long
month_start(long long t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL)
		return 0;
	tm.tm_mday = 1;
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	return (long long)timegm(&tm);
}

int
pgstore_events_partition(struct pgstore *st, long long time)
{
	long long m = month_start(time);
	char arg[32];
	const char *vals[1] = { arg };

	if (st == NULL)
		return -1;
	for (size_t i = 0; i < st->n_months; i++)
		if (st->months[i] == m)
			return 0;
	snprintf(arg, sizeof(arg), "%lld", m);
	PGresult *r = pg_exec(st, "events partition", "SELECT mailbeacon_events_partition($1)", 1,
			      vals, NULL, NULL);
	int ok = pg_ok(r);

	PQclear(r);
	if (!ok)
		return -1;
	if (st->n_months == KNOWN_MONTHS)
		st->n_months = 0;	/* forget the oldest lot: only costs a call */
	st->months[st->n_months++] = m;
	return 0;
}

/* This month's partition and the next month's, so writes rarely wait for
 * one to be created. */
static int
pg_partitions_ahead(struct pgstore *st)
{
	long long now = (long long)time(NULL), m = month_start(now);

	return pgstore_events_partition(st, m) < 0 ||
	    pgstore_events_partition(st, month_start(m + 32 * 86400)) < 0 ? -1 : 0;
}

/* ---- open and close ---- */

/* Connects; with schema, creates or migrates it and the partitions ahead. */
static int
pg_open(const char *uri, const char *password, bool schema, bool create, int timeout_ms,
	struct pgstore **out, char *err, size_t errlen)
{
	struct pgstore *st;
	char scratch[8];

	if (err == NULL || errlen == 0) {
		err = scratch;
		errlen = sizeof(scratch);
	}
	err[0] = '\0';
	if (out == NULL || !pgstore_is_uri(uri)) {
		snprintf(err, errlen, "database: not a postgresql:// URI");
		return -1;
	}
	*out = NULL;
	if (uri_unreadable(uri, err, errlen))
		return -1;
	if ((st = calloc(1, sizeof(*st))) == NULL || (st->uri = strdup(uri)) == NULL ||
	    (password != NULL && (st->password = strdup(password)) == NULL)) {
		if (st != NULL)
			free(st->uri);
		free(st);
		snprintf(err, errlen, "database: out of memory");
		return -1;
	}
	st->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
	pgstore_display(uri, st->display, sizeof(st->display));
	if (pg_connect(st) < 0 ||
	    (schema && (pg_migrate(st, create) < 0 || pg_partitions_ahead(st) < 0))) {
		snprintf(err, errlen, "%s", st->err);
		pgstore_close(st);
		return -1;
	}
	*out = st;
	return 0;
}

int
pgstore_open(const char *uri, const char *password, bool create, int timeout_ms,
	     struct pgstore **out, char *err, size_t errlen)
{
	return pg_open(uri, password, true, create, timeout_ms, out, err, errlen);
}

int
pgstore_open_as_is(const char *uri, const char *password, int timeout_ms, struct pgstore **out,
		   char *err, size_t errlen)
{
	return pg_open(uri, password, false, false, timeout_ms, out, err, errlen);
}

void
pgstore_close(struct pgstore *st)
{
	if (st == NULL)
		return;
	pg_drop(st);
	if (st->password != NULL) {
		sodium_memzero(st->password, strlen(st->password));
		free(st->password);
	}
	/* The URI may carry the password too. */
	sodium_memzero(st->uri, strlen(st->uri));
	free(st->uri);
	free(st);
}

/* ---- parameters ---- */

/* A bytea parameter is sent in binary: format 1, length 32. */
#define HASH_PARAM(i, h) do { vals[i] = (const char *)(h); lens[i] = STORE_HASH_LEN; fmts[i] = 1; } while (0)

/* ---- messages ---- */

int
pgstore_message_find(struct pgstore *st, const char *queue_id, const char *message_id_header,
		     const char *sender, char id[STORE_ID_LEN + 1], long long *sent)
{
	if (st == NULL)
		return -1;
	for (int pass = 0; pass < 2; pass++) {
		PGresult *r;

		if (pass == 0 && queue_id != NULL) {
			const char *vals[1] = { queue_id };
			r = pg_exec(st, "find message",
				    "SELECT id, sent FROM messages WHERE queue_id = $1", 1, vals,
				    NULL, NULL);
		} else if (pass == 1 && message_id_header != NULL && sender != NULL) {
			const char *vals[2] = { sender, message_id_header };
			r = pg_exec(st, "find message",
				    "SELECT id, sent FROM messages WHERE sender = $1"
				    " AND message_id_header = $2 ORDER BY sent DESC LIMIT 1", 2,
				    vals, NULL, NULL);
		} else {
			continue;
		}
		if (!pg_ok(r)) {
			PQclear(r);
			return -1;
		}
		if (PQntuples(r) == 0) {
			PQclear(r);
			continue;
		}
		const char *t = PQgetvalue(r, 0, 0);
		if (strlen(t) > STORE_ID_LEN) {
			pg_seterr(st, "find message: bad message id in the database");
			PQclear(r);
			return -1;
		}
		memcpy(id, t, strlen(t) + 1);
		if (sent != NULL)
			*sent = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
		PQclear(r);
		return 1;
	}
	return 0;
}

int
pgstore_message_insert(struct pgstore *st, const struct store_message *m,
		       enum store_link_urls mode)
{
	char rcpts[24], sent[24], links[24], num[24];
	PGresult *r;

	if (st == NULL)
		return -1;
	if (m == NULL || m->id == NULL || m->sender == NULL || m->words == NULL ||
	    (m->n_recipients > 0 && m->recipient_hashes == NULL) ||
	    (m->n_links > 0 && m->link_urls == NULL)) {
		pg_seterr(st, "insert message: incomplete message");
		return -1;
	}
	snprintf(rcpts, sizeof(rcpts), "%zu", m->n_recipients);
	snprintf(sent, sizeof(sent), "%lld", m->sent);
	snprintf(links, sizeof(links), "%zu", m->n_links);
	if (pg_begin(st, "insert message: begin") < 0)
		return -1;
	const char *mv[10] = { m->id, m->queue_id, m->message_id_header, m->sender,
			       m->sasl_login, rcpts, sent, m->words, links, m->subject };
	r = pg_exec(st, "insert message",
		    "INSERT INTO messages (id, queue_id, message_id_header, sender, sasl_login,"
		    " recipient_count, sent, words, link_count, subject)"
		    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)", 10, mv, NULL, NULL);
	if (!pg_ok(r)) {
		bool conflict = strcmp(pg_sqlstate(r), "23505") == 0;	/* unique_violation */
		PQclear(r);
		pg_rollback(st);
		return conflict ? 1 : -1;
	}
	PQclear(r);
	for (size_t i = 0; i < m->n_recipients; i++) {
		const char *vals[2];
		int lens[2] = { 0, 0 }, fmts[2] = { 0, 0 };

		vals[0] = m->id;
		HASH_PARAM(1, m->recipient_hashes[i]);
		r = pg_exec(st, "insert recipient",
			    "INSERT INTO message_recipients (message_id, recipient_hash)"
			    " VALUES ($1, $2) ON CONFLICT DO NOTHING", 2, vals, lens, fmts);
		if (!pg_ok(r))
			goto fail;
		PQclear(r);
	}
	for (size_t i = 0; i < m->n_links; i++) {
		char *url = store_reduce_url(m->link_urls[i], mode);

		if (url == NULL && m->link_urls[i] != NULL && mode != STORE_URLS_NONE) {
			pg_seterr(st, "insert link: out of memory");
			r = NULL;
			goto fail;
		}
		snprintf(num, sizeof(num), "%zu", i + 1);
		const char *vals[3] = { m->id, num, url };
		r = pg_exec(st, "insert link",
			    "INSERT INTO links (message_id, num, url) VALUES ($1, $2, $3)", 3, vals,
			    NULL, NULL);
		free(url);
		if (!pg_ok(r))
			goto fail;
		PQclear(r);
	}
	return pg_commit(st, "insert message: commit");
fail:
	PQclear(r);
	pg_rollback(st);
	return -1;
}

/* ---- opt-outs ---- */

int
pgstore_optout_exists(struct pgstore *st, const unsigned char hash[STORE_HASH_LEN])
{
	const char *vals[1];
	int lens[1], fmts[1];

	if (st == NULL)
		return -1;
	if (hash == NULL) {
		pg_seterr(st, "opt-out lookup: no hash");
		return -1;
	}
	HASH_PARAM(0, hash);
	PGresult *r = pg_exec(st, "opt-out lookup", "SELECT 1 FROM optouts WHERE recipient_hash = $1",
			      1, vals, lens, fmts);
	int rc = pg_ok(r) ? PQntuples(r) > 0 : -1;

	PQclear(r);
	return rc;
}

int
pgstore_optout_add(struct pgstore *st, const unsigned char hash[STORE_HASH_LEN], long long when,
		   const char *message_id)
{
	char t[24];
	const char *vals[3];
	int lens[3] = { 0, 0, 0 }, fmts[3] = { 0, 0, 0 };

	if (st == NULL)
		return -1;
	if (hash == NULL) {
		pg_seterr(st, "add opt-out: no hash");
		return -1;
	}
	snprintf(t, sizeof(t), "%lld", when);
	HASH_PARAM(0, hash);
	vals[1] = t;
	vals[2] = message_id;
	PGresult *r = pg_exec(st, "add opt-out",
			      "INSERT INTO optouts (recipient_hash, time, message_id)"
			      " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING", 3, vals, lens, fmts);
	int rc = pg_ok(r) ? 0 : -1;

	PQclear(r);
	return rc;
}

/* ---- events ---- */

/* One INSERT of events ev[0..n) (n <= EVENTS_PER_INSERT): 11 parameters an
 * event, their texts in num (3 numbers an event, 24 bytes each). */
static int
insert_events(struct pgstore *st, const struct store_event *ev, size_t n)
{
	struct mbuf sql;
	const char **vals = calloc(n * 11, sizeof(*vals));
	int *lens = calloc(n * 11, sizeof(*lens)), *fmts = calloc(n * 11, sizeof(*fmts));
	char (*num)[24] = calloc(n * 3, sizeof(*num));
	int rc = -1;

	mbuf_init(&sql);
	if (vals == NULL || lens == NULL || fmts == NULL || num == NULL) {
		pg_seterr(st, "insert events: out of memory");
		goto out;
	}
	mbuf_puts(&sql, "INSERT INTO events (message_id, kind, link, time, ip_masked,"
		  " client_class, verdict, dnt, recipient_hash, country, city) VALUES ");
	for (size_t i = 0; i < n; i++) {
		const struct store_event *e = &ev[i];
		size_t p = i * 11;

		mbuf_printf(&sql, "%s($%zu, $%zu, $%zu, $%zu, $%zu, $%zu, $%zu, $%zu, $%zu, $%zu,"
			    " $%zu)", i ? ", " : "", p + 1, p + 2, p + 3, p + 4, p + 5, p + 6,
			    p + 7, p + 8, p + 9, p + 10, p + 11);
		vals[p] = e->message_id;
		vals[p + 1] = e->kind;
		if (e->link > 0) {
			snprintf(num[i * 3], sizeof(num[0]), "%u", e->link);
			vals[p + 2] = num[i * 3];
		}
		snprintf(num[i * 3 + 1], sizeof(num[0]), "%lld", e->time);
		vals[p + 3] = num[i * 3 + 1];
		vals[p + 4] = e->ip_masked;
		vals[p + 5] = e->client_class;
		vals[p + 6] = e->verdict;
		vals[p + 7] = e->dnt ? "1" : "0";
		if (e->recipient_hash != NULL) {
			vals[p + 8] = (const char *)e->recipient_hash;
			lens[p + 8] = STORE_HASH_LEN;
			fmts[p + 8] = 1;
		}
		vals[p + 9] = e->country;
		vals[p + 10] = e->city;
	}
	if (sql.failed) {
		pg_seterr(st, "insert events: out of memory");
		goto out;
	}
	PGresult *r = pg_exec(st, "insert events", sql.data, (int)(n * 11), vals, lens, fmts);
	rc = pg_ok(r) ? 0 : -1;
	PQclear(r);
out:
	mbuf_free(&sql);
	free(vals);
	free(lens);
	free(fmts);
	free(num);
	return rc;
}

/* The partitions of the events' months, outside the transaction (their
 * creation commits on its own). */
int
pgstore_events_partitions(struct pgstore *st, const struct store_event *ev, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (pgstore_events_partition(st, ev[i].time) < 0)
			return -1;
	return 0;
}

int
pgstore_events_insert(struct pgstore *st, const struct store_event *ev, size_t n)
{
	if (st == NULL)
		return -1;
	if (n == 0)
		return 0;
	if (pgstore_events_partitions(st, ev, n) < 0)
		return -1;
	/* One statement is its own transaction: the usual group commit is
	 * one round trip, not three. */
	if (n <= EVENTS_PER_INSERT)
		return insert_events(st, ev, n);
	if (pg_begin(st, "insert events: begin") < 0)
		return -1;
	for (size_t i = 0; i < n; i += EVENTS_PER_INSERT)
		if (insert_events(st, ev + i, n - i < EVENTS_PER_INSERT ? n - i : EVENTS_PER_INSERT) < 0) {
			pg_rollback(st);
			return -1;
		}
	return pg_commit(st, "insert events: commit");
}

int
pgstore_optout_record(struct pgstore *st, const unsigned char hash[STORE_HASH_LEN],
		      long long when, const char *message_id)
{
	struct store_event e = store_optout_event(hash, when, message_id);

	if (st == NULL || pgstore_events_partitions(st, &e, 1) < 0 || pg_begin(st, "opt-out: begin") < 0)
		return -1;
	if (pgstore_optout_add(st, hash, when, message_id) < 0 || insert_events(st, &e, 1) < 0) {
		pg_rollback(st);
		return -1;
	}
	return pg_commit(st, "opt-out: commit");
}

int
pgstore_message_opted_out(struct pgstore *st, const char *message_id)
{
	const char *vals[1] = { message_id };

	if (st == NULL)
		return -1;
	PGresult *r = pg_exec(st, "opt-out lookup",
			      "SELECT 1 FROM message_recipients r"
			      " JOIN optouts o ON o.recipient_hash = r.recipient_hash"
			      " WHERE r.message_id = $1"
			      " UNION ALL SELECT 1 FROM optouts WHERE message_id = $1 LIMIT 1", 1,
			      vals, NULL, NULL);
	int rc = pg_ok(r) ? PQntuples(r) > 0 : -1;

	PQclear(r);
	return rc;
}

int
pgstore_message_recipients(struct pgstore *st, const char *message_id,
			   unsigned char (*out)[STORE_HASH_LEN], size_t max, size_t *total)
{
	const char *vals[1] = { message_id };

	*total = 0;
	if (st == NULL)
		return -1;
	PGresult *r = pg_exec(st, "recipients of a message",
			      "SELECT recipient_hash FROM message_recipients WHERE message_id = $1",
			      1, vals, NULL, NULL);
	if (!pg_ok(r)) {
		PQclear(r);
		return -1;
	}
	for (int i = 0; i < PQntuples(r); i++) {
		size_t len = 0;
		unsigned char *h = PQunescapeBytea((const unsigned char *)PQgetvalue(r, i, 0), &len);

		if (h == NULL) {
			pg_seterr(st, "recipients of a message: out of memory");
			PQclear(r);
			return -1;
		}
		if (len == STORE_HASH_LEN) {
			if (*total < max)
				memcpy(out[*total], h, STORE_HASH_LEN);
			(*total)++;
		}
		PQfreemem(h);
	}
	PQclear(r);
	return 0;
}

int
pgstore_message_has_recipient(struct pgstore *st, const char *message_id,
			      const unsigned char hash[STORE_HASH_LEN])
{
	const char *vals[2];
	int lens[2] = { 0, 0 }, fmts[2] = { 0, 0 };

	if (st == NULL)
		return -1;
	vals[0] = message_id;
	HASH_PARAM(1, hash);
	PGresult *r = pg_exec(st, "recipient of a message",
			      "SELECT 1 FROM message_recipients"
			      " WHERE message_id = $1 AND recipient_hash = $2", 2, vals, lens, fmts);
	int rc = pg_ok(r) ? PQntuples(r) > 0 : -1;

	PQclear(r);
	return rc;
}

static const char *
value_or_null(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

int
pgstore_events_after(struct pgstore *st, long long after, int limit, store_event_fn fn, void *arg)
{
	char a[24], l[16];
	const char *vals[2] = { a, l };

	if (st == NULL)
		return -1;
	snprintf(a, sizeof(a), "%lld", after);
	snprintf(l, sizeof(l), "%d", limit);
	PGresult *r = pg_exec(st, "events after a cursor",
			      "SELECT id, message_id, kind, coalesce(link, 0), time, ip_masked,"
			      " client_class, verdict, dnt, encode(recipient_hash, 'hex'), country, city"
			      " FROM events"
			      " WHERE id > $1 ORDER BY id LIMIT $2", 2, vals, NULL, NULL);
	if (!pg_ok(r)) {
		PQclear(r);
		return -1;
	}
	for (int i = 0; i < PQntuples(r); i++) {
		unsigned char hash[STORE_HASH_LEN];
		const char *hex = value_or_null(r, i, 9);
		bool has_hash = hex != NULL && strlen(hex) == 2 * STORE_HASH_LEN &&
		    sodium_hex2bin(hash, sizeof(hash), hex, strlen(hex), NULL, NULL, NULL) == 0;
		struct store_event e = {
			.message_id = value_or_null(r, i, 1),
			.kind = value_or_null(r, i, 2),
			.link = (unsigned)strtoul(PQgetvalue(r, i, 3), NULL, 10),
			.time = strtoll(PQgetvalue(r, i, 4), NULL, 10),
			.ip_masked = value_or_null(r, i, 5),
			.client_class = value_or_null(r, i, 6),
			.verdict = value_or_null(r, i, 7),
			.dnt = strcmp(PQgetvalue(r, i, 8), "0") != 0,
			.recipient_hash = has_hash ? hash : NULL,
			.country = value_or_null(r, i, 10),
			.city = value_or_null(r, i, 11),
		};
		if (fn(arg, strtoll(PQgetvalue(r, i, 0), NULL, 10), &e) != 0)
			break;
	}
	PQclear(r);
	return 0;
}

int
pgstore_write_probe(struct pgstore *st)
{
	if (st == NULL)
		return -1;
	/* A standby (or a primary demoted in a failover) is read-only; the
	 * question needs no privilege, so the daemons' role may ask it. */
	PGresult *r = pg_exec(st, "write probe", "SHOW transaction_read_only", 0, NULL, NULL, NULL);
	int rc = -1;

	if (pg_ok(r) && PQntuples(r) == 1) {
		if (strcmp(PQgetvalue(r, 0, 0), "off") == 0)
			rc = 0;
		else
			pg_seterr(st, "write probe: the server is read-only (a standby?)");
	}
	PQclear(r);
	return rc;
}

int
pgstore_events_insert_in_txn(struct pgstore *st, const struct store_event *ev, size_t n)
{
	for (size_t i = 0; i < n; i += EVENTS_PER_INSERT)
		if (insert_events(st, ev + i, n - i < EVENTS_PER_INSERT ? n - i : EVENTS_PER_INSERT) < 0)
			return -1;
	return 0;
}

int
pgstore_drop_partitions_before(struct pgstore *st, long long cutoff, long long *events,
			       long long *dropped)
{
	PGresult *r;

	*events = *dropped = 0;
	if (st == NULL || pg_begin(st, "drop partitions: begin") < 0)
		return -1;
	/* The messages that outlive the cutoff but had events in a dropped
	 * month: their counters are counted again before the commit. */
	if (pg_run(st, "drop partitions: counters", COUNTERS_RECOUNT_TABLE_PG) < 0 ||
	    pg_run(st, "drop partitions: counters", "DELETE FROM pg_temp.mb_recount") < 0)
		goto fail_early;
	/* The partitions are ours by name: events_yYYYYmMM, one month each. */
	r = pg_exec(st, "drop partitions", PGSTORE_PARTITIONS_SQL " ORDER BY relname", 0, NULL,
		    NULL, NULL);
	if (!pg_ok(r))
		goto fail;
	for (int i = 0; i < PQntuples(r); i++) {
		const char *name = PQgetvalue(r, i, 0);
		struct tm tm = { 0 };
		int year, month;
		char sql[320];

		if (sscanf(name, "events_y%4dm%2d", &year, &month) != 2 || month < 1 || month > 12)
			continue;
		tm.tm_year = year - 1900;
		tm.tm_mon = month;	/* the next month: where this one ends */
		tm.tm_mday = 1;
		if ((long long)timegm(&tm) > cutoff)
			continue;
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", name);
		PGresult *c = pg_exec(st, "drop partitions: count", sql, 0, NULL, NULL, NULL);
		if (!pg_ok(c) || PQntuples(c) != 1) {
			PQclear(c);
			goto fail;
		}
		*events += strtoll(PQgetvalue(c, 0, 0), NULL, 10);
		PQclear(c);
		snprintf(sql, sizeof(sql), "INSERT INTO pg_temp.mb_recount SELECT DISTINCT p.message_id"
			 " FROM %s p JOIN messages m ON m.id = p.message_id WHERE m.sent >= %lld"
			 " ON CONFLICT DO NOTHING", name, cutoff);
		if (pg_run(st, "drop partitions: counters", sql) < 0)
			goto fail;
		snprintf(sql, sizeof(sql), "DROP TABLE %s", name);
		if (pg_run(st, "drop partitions: drop", sql) < 0)
			goto fail;
		(*dropped)++;
	}
	PQclear(r);
	if (*dropped > 0 &&
	    pg_run(st, "drop partitions: counters",
		   COUNTERS_RECOUNT("(SELECT id FROM pg_temp.mb_recount)")) < 0) {
		pg_rollback(st);
		*events = *dropped = 0;
		return -1;
	}
	return pg_commit(st, "drop partitions: commit");
fail:
	PQclear(r);
fail_early:
	pg_rollback(st);
	*events = *dropped = 0;
	return -1;
}
