/* store: the SQLite database shared by the milter, the beacon and the admin
 * command. WAL mode, synchronous=FULL, foreign keys and secure_delete on; a
 * schema versioned by PRAGMA user_version and brought forward by the
 * migrations below; every statement with values is prepared and bound. */
#include <sys/types.h>
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "address.h"
#include "b64url.h"
#include "fileline.h"
#include "mbuf.h"
#include "secret.h"
#include "pg.h"
#include "store.h"
#include "store_int.h"
#include "counters.h"

#define HASH_KEY_FILE_MAX	(64 * 1024)

/*
 * Migrations: migrations[i] brings the schema from version i to i + 1 and
 * runs in one transaction with the user_version update. Never edit one that
 * has shipped; append a new one.
 */
static const char *const migrations[] = {
	/* 1: the initial schema */
	"CREATE TABLE messages ("
	"  id TEXT PRIMARY KEY,"
	"  queue_id TEXT UNIQUE,"
	"  message_id_header TEXT,"
	"  sender TEXT NOT NULL,"
	"  sasl_login TEXT,"
	"  recipient_count INTEGER NOT NULL,"
	"  sent INTEGER NOT NULL,"
	"  words TEXT NOT NULL,"
	"  link_count INTEGER NOT NULL,"
	"  subject TEXT);"
	"CREATE INDEX messages_sender_mid ON messages(sender, message_id_header);"
	"CREATE INDEX messages_sent ON messages(sent);"
	"CREATE TABLE message_recipients ("
	"  message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,"
	"  recipient_hash BLOB NOT NULL,"
	"  PRIMARY KEY (message_id, recipient_hash)) WITHOUT ROWID;"
	"CREATE INDEX message_recipients_hash ON message_recipients(recipient_hash);"
	"CREATE TABLE links ("
	"  message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,"
	"  num INTEGER NOT NULL,"
	"  url TEXT,"
	"  PRIMARY KEY (message_id, num)) WITHOUT ROWID;"
	"CREATE TABLE events ("
	"  id INTEGER PRIMARY KEY,"
	"  message_id TEXT NOT NULL,"
	"  kind TEXT NOT NULL CHECK (kind IN ('open', 'click', 'optout')),"
	"  link INTEGER,"
	"  time INTEGER NOT NULL,"
	"  ip_masked TEXT,"
	"  client_class TEXT,"
	"  verdict TEXT NOT NULL,"
	"  dnt INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX events_message_time ON events(message_id, time);"
	"CREATE TABLE optouts ("
	"  recipient_hash BLOB PRIMARY KEY,"
	"  time INTEGER NOT NULL,"
	"  message_id TEXT) WITHOUT ROWID;"
	"PRAGMA user_version = 1;",
	/* 2: an opt-out event names whose opt-out it was, for sync */
	"ALTER TABLE events ADD COLUMN recipient_hash BLOB;"
	"PRAGMA user_version = 2;",
	/* 3: mailbeacon sync's cursor per source (a remote beacon's URL) */
	"CREATE TABLE sync_state (source TEXT PRIMARY KEY, cursor INTEGER NOT NULL);"
	"PRAGMA user_version = 3;",
	/* 4: indexes for mailbeacon report (store/report.c). events_report
	 * covers what the report reads of an event and replaces
	 * events_message_time (a prefix of it); messages_report is the
	 * report's order and covers its first pass; messages_sender_nocase
	 * serves --sender ADDR (ASCII case-insensitive) and messages_domain
	 * --sender @DOMAIN: the lower-cased text after the last '@' (rtrim
	 * strips what is not '@' from the end). */
	"CREATE INDEX events_report ON events(message_id, kind, verdict, time, link);"
	"DROP INDEX IF EXISTS events_message_time;"
	"CREATE INDEX messages_report ON messages(sender, sent, id, recipient_count);"
	"CREATE INDEX messages_sender_nocase ON messages(sender COLLATE NOCASE, sent);"
	"CREATE INDEX messages_domain ON messages("
	"  lower(substr(sender, length(rtrim(sender, replace(sender, '@', ''))) + 1)), sent);"
	"PRAGMA user_version = 4;",
	/* 5: where an open or click came from, when geoip_database is set:
	 * the ISO country code and, with geoip_precision = city, the English
	 * city name (NULL otherwise, and for every older event). The partial
	 * index serves the report's opens by country and is empty (costs
	 * nothing) without geoip_database. */
	"ALTER TABLE events ADD COLUMN country TEXT;"
	"ALTER TABLE events ADD COLUMN city TEXT;"
	"CREATE INDEX events_place ON events(message_id, kind, verdict, country, city)"
	"  WHERE country IS NOT NULL;"
	"PRAGMA user_version = 5;",
	/* 6: notify=mail: which "Read:" mails went out (link 0: the first
	 * open; N: the first click of link N), so that neither a restart nor
	 * a second beacon sends one twice. Starts empty: messages opened
	 * before are not firsts anyway (beacon/notify_mail.c counts the
	 * events of earlier seconds). */
	"CREATE TABLE mail_notifications ("
	"  message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,"
	"  link INTEGER NOT NULL,"
	"  time INTEGER NOT NULL,"
	"  PRIMARY KEY (message_id, link)) WITHOUT ROWID;"
	"PRAGMA user_version = 6;",
	/* 7: consent=optin (store/consent.c): the recipients' consents per
	 * sender with their proof (the message or the source, the notice
	 * version), one row per distinct proof; and the asks of the ask
	 * footer, per message and recipient. Both start empty. */
	"CREATE TABLE consents ("
	"  recipient_hash BLOB NOT NULL,"
	"  sender TEXT NOT NULL,"
	"  time INTEGER NOT NULL,"
	"  message_id TEXT,"
	"  source TEXT,"
	"  notice_version TEXT NOT NULL);"
	"CREATE UNIQUE INDEX consents_proof ON consents(recipient_hash, sender,"
	"  notice_version, coalesce(message_id, ''), coalesce(source, ''));"
	"CREATE INDEX consents_sender ON consents(sender);"
	"CREATE TABLE consent_asks ("
	"  message_id TEXT NOT NULL,"
	"  recipient_hash BLOB NOT NULL,"
	"  sender TEXT NOT NULL,"
	"  tracked TEXT NOT NULL,"
	"  time INTEGER NOT NULL,"
	"  PRIMARY KEY (message_id, recipient_hash)) WITHOUT ROWID;"
	"CREATE INDEX consent_asks_recipient ON consent_asks(recipient_hash, sender, time);"
	"CREATE INDEX consent_asks_sender ON consent_asks(sender);"
	"PRAGMA user_version = 7;",
	/* 8: per-message counters (store/counters.h), so that reports read
	 * counters instead of every event: kept by the trigger events_counters
	 * in the transaction that inserts the event, recounted by forget and
	 * purge, backfilled here. message_days_sent serves the days of a
	 * report filtered by sent time alone. */
	"ALTER TABLE messages ADD COLUMN opens_human INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE messages ADD COLUMN opens_machine INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE messages ADD COLUMN clicks_human INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE messages ADD COLUMN clicks_scanner INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE messages ADD COLUMN optouts INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE messages ADD COLUMN first_human_open INTEGER;"
	"ALTER TABLE messages ADD COLUMN last_event INTEGER;"
	"ALTER TABLE links ADD COLUMN clicks_human INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE links ADD COLUMN clicks_scanner INTEGER NOT NULL DEFAULT 0;"
	"CREATE TABLE message_days ("
	"  message_id TEXT NOT NULL,"
	"  day INTEGER NOT NULL,"
	"  sent INTEGER NOT NULL,"
	"  opens_human INTEGER NOT NULL,"
	"  clicks_human INTEGER NOT NULL,"
	"  PRIMARY KEY (message_id, day)) WITHOUT ROWID;"
	"CREATE INDEX message_days_sent ON message_days(sent, day, opens_human, clicks_human);"
	COUNTERS_RECOUNT_MESSAGES("(SELECT message_id FROM events)") ";"
	COUNTERS_RECOUNT_LINKS("(SELECT message_id FROM events WHERE kind = 'click')") ";"
	COUNTERS_DAYS_FROM_EVENTS("") ";"
	"CREATE TRIGGER events_counters AFTER INSERT ON events BEGIN"
	" UPDATE messages SET"
	"  opens_human = opens_human + " COUNTERS_HUMAN_OPEN("NEW") ","
	"  opens_machine = opens_machine + " COUNTERS_MACHINE_OPEN("NEW") ","
	"  clicks_human = clicks_human + " COUNTERS_HUMAN_CLICK("NEW") ","
	"  clicks_scanner = clicks_scanner + " COUNTERS_SCANNER_CLICK("NEW") ","
	"  optouts = optouts + (NEW.kind = 'optout'),"
	"  first_human_open = CASE WHEN " COUNTERS_HUMAN_OPEN("NEW")
	"   AND (first_human_open IS NULL OR NEW.time < first_human_open)"
	"   THEN NEW.time ELSE first_human_open END,"
	"  last_event = CASE WHEN last_event IS NULL OR NEW.time > last_event"
	"   THEN NEW.time ELSE last_event END"
	"  WHERE id = NEW.message_id;"
	" UPDATE links SET"
	"  clicks_human = clicks_human + " COUNTERS_HUMAN_CLICK("NEW") ","
	"  clicks_scanner = clicks_scanner + " COUNTERS_SCANNER_CLICK("NEW")
	"  WHERE NEW.kind = 'click' AND message_id = NEW.message_id AND num = NEW.link;"
	" INSERT INTO message_days (message_id, day, sent, opens_human, clicks_human)"
	"  SELECT id, " COUNTERS_DAY("NEW.time") ", sent, " COUNTERS_HUMAN_OPEN("NEW") ","
	"   " COUNTERS_HUMAN_CLICK("NEW") " FROM messages WHERE id = NEW.message_id"
	"   AND (" COUNTERS_HUMAN_OPEN("NEW") " OR " COUNTERS_HUMAN_CLICK("NEW") ")"
	"  ON CONFLICT (message_id, day) DO UPDATE SET"
	"   opens_human = opens_human + excluded.opens_human,"
	"   clicks_human = clicks_human + excluded.clicks_human;"
	"END;"
	"PRAGMA user_version = 8;",
};

#define N_MIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))
_Static_assert(sizeof(migrations) / sizeof(migrations[0]) == STORE_SCHEMA_VERSION,
    "STORE_SCHEMA_VERSION must equal the number of migrations");

/* Statements prepared once per handle, on first use. */
enum stmt_id {
	S_BEGIN, S_COMMIT, S_ROLLBACK,
	S_FIND_QID, S_FIND_MID,
	S_INS_MSG, S_INS_RCPT, S_INS_LINK,
	S_OPTOUT_EXISTS, S_OPTOUT_ADD,
	S_INS_EVENT, S_MSG_OPTED_OUT, S_MSG_RCPTS, S_MSG_HAS_RCPT, S_EVENTS_AFTER,
	S_COUNT
};

static const char *const stmt_sql[S_COUNT] = {
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_FIND_QID] = "SELECT id, sent FROM messages WHERE queue_id = ?1",
	[S_FIND_MID] = "SELECT id, sent FROM messages"
	    " WHERE sender = ?1 AND message_id_header = ?2"
	    " ORDER BY sent DESC LIMIT 1",
	[S_INS_MSG] = "INSERT INTO messages (id, queue_id, message_id_header,"
	    " sender, sasl_login, recipient_count, sent, words, link_count,"
	    " subject) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
	[S_INS_RCPT] = "INSERT OR IGNORE INTO message_recipients"
	    " (message_id, recipient_hash) VALUES (?1, ?2)",
	[S_INS_LINK] = "INSERT INTO links (message_id, num, url)"
	    " VALUES (?1, ?2, ?3)",
	[S_OPTOUT_EXISTS] = "SELECT 1 FROM optouts WHERE recipient_hash = ?1",
	[S_OPTOUT_ADD] = "INSERT OR IGNORE INTO optouts"
	    " (recipient_hash, time, message_id) VALUES (?1, ?2, ?3)",
	[S_INS_EVENT] = "INSERT INTO events (message_id, kind, link, time,"
	    " ip_masked, client_class, verdict, dnt, recipient_hash, country, city)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
	/* A recipient of the message opted out (the message is known), or
	 * someone opted out from its page (a beacon that never saw it). */
	[S_MSG_OPTED_OUT] = "SELECT 1 FROM message_recipients r"
	    " JOIN optouts o ON o.recipient_hash = r.recipient_hash"
	    " WHERE r.message_id = ?1"
	    " UNION ALL SELECT 1 FROM optouts WHERE message_id = ?1 LIMIT 1",
	[S_MSG_RCPTS] = "SELECT recipient_hash FROM message_recipients"
	    " WHERE message_id = ?1",
	[S_MSG_HAS_RCPT] = "SELECT 1 FROM message_recipients"
	    " WHERE message_id = ?1 AND recipient_hash = ?2",
	[S_EVENTS_AFTER] = "SELECT id, message_id, kind, link, time, ip_masked,"
	    " client_class, verdict, dnt, recipient_hash, country, city FROM events"
	    " WHERE id > ?1 ORDER BY id LIMIT ?2",
};

struct store {
	struct pgstore *pg;	/* PostgreSQL: everything goes there; else SQLite: */
	sqlite3 *db;
	char *path;
	dev_t dev;		/* the file opened, to tell when the path */
	ino_t ino;		/* names another one (or none) */
	sqlite3_stmt *stmt[S_COUNT];
	char err[1024];
};

static const char no_handle[] = "database not open";

static void
store_seterr(struct store *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* "PATH: what: sqlite's message" (the caller passes sqlite's part). */
static void
store_seterr(struct store *st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fileline_vformat(st->err, sizeof(st->err), st->path, 0, fmt, ap);
	va_end(ap);
}

void
store_dberr(struct store *st, const char *what)
{
	if (st->pg != NULL)
		return;	/* store/pg.c set the message, with libpq's reason */
	store_seterr(st, "%s: %s", what, sqlite3_errmsg(st->db));
}

static sqlite3_stmt *
store_stmt(struct store *st, enum stmt_id id)
{
	if (st->stmt[id] == NULL &&
	    sqlite3_prepare_v3(st->db, stmt_sql[id], -1,
	    SQLITE_PREPARE_PERSISTENT, &st->stmt[id], NULL) != SQLITE_OK) {
		store_dberr(st, "cannot prepare statement");
		st->stmt[id] = NULL;
	}
	return st->stmt[id];
}

static void
store_done(sqlite3_stmt *s)
{
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

/* Runs a statement without results (BEGIN, COMMIT, ROLLBACK). */
static int
store_run(struct store *st, enum stmt_id id, const char *what)
{
	sqlite3_stmt *s;
	int rc;

	if ((s = store_stmt(st, id)) == NULL)
		return -1;
	rc = sqlite3_step(s);
	if (rc != SQLITE_DONE)
		store_dberr(st, what);
	store_done(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Rolls back an open transaction, keeping the error already set. */
static void
store_rollback(struct store *st)
{
	char saved[sizeof(st->err)];

	if (sqlite3_get_autocommit(st->db))
		return;
	memcpy(saved, st->err, sizeof(saved));
	if (store_run(st, S_ROLLBACK, "rollback") == -1)
		/* Leaves the connection usable: the next BEGIN fails loudly. */
		(void)sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	memcpy(st->err, saved, sizeof(saved));
}

static int
bind_text(sqlite3_stmt *s, int i, const char *v)
{
	return v != NULL ? sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC) :
	    sqlite3_bind_null(s, i);
}

/* Runs a pragma (constant text) that returns at most one row; *val gets its
 * integer or text (when val/txt non-NULL). */
static int
store_pragma(struct store *st, const char *sql, long long *val, char *txt,
	     size_t txtlen)
{
	sqlite3_stmt *s;
	const unsigned char *t;
	int rc;

	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
		store_dberr(st, sql);
		return -1;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (val != NULL)
			*val = sqlite3_column_int64(s, 0);
		if (txt != NULL && txtlen > 0) {
			t = sqlite3_column_text(s, 0);
			snprintf(txt, txtlen, "%s", t ? (const char *)t : "");
		}
	}
	if (rc != SQLITE_DONE) {
		store_dberr(st, sql);
		sqlite3_finalize(s);
		return -1;
	}
	sqlite3_finalize(s);
	return 0;
}

static int
store_migrate(struct store *st)
{
	long long v, tables;
	int target;

	if (store_pragma(st, "PRAGMA user_version", &v, NULL, 0) == -1)
		return -1;
	if (v > N_MIGRATIONS) {
		store_seterr(st, "schema version %lld is newer than this program "
		    "(%d)", v, N_MIGRATIONS);
		return -1;
	}
	if (v < 0) {
		store_seterr(st, "bad schema version %lld", v);
		return -1;
	}
	for (target = (int)v + 1; target <= N_MIGRATIONS; target++) {
		if (store_run(st, S_BEGIN, "cannot begin migration") == -1)
			return -1;
		/* Another process may have migrated while we waited. */
		if (store_pragma(st, "PRAGMA user_version", &v, NULL, 0) == -1)
			goto fail;
		if (v >= target) {
			if (store_run(st, S_COMMIT, "commit") == -1)
				goto fail;
			continue;
		}
		if (v == 0) {
			/* Version 0: refuse a database that is someone else's. */
			if (store_pragma(st, "SELECT count(*) FROM sqlite_master",
			    &tables, NULL, 0) == -1)
				goto fail;
			if (tables > 0) {
				store_seterr(st, "not a mailbeacon database "
				    "(schema version 0, but it has tables)");
				goto fail;
			}
		}
		if (sqlite3_exec(st->db, migrations[target - 1], NULL, NULL,
		    NULL) != SQLITE_OK) {
			char what[64];

			snprintf(what, sizeof(what), "migration to schema "
			    "version %d", target);
			store_dberr(st, what);
			goto fail;
		}
		if (store_pragma(st, "PRAGMA user_version", &v, NULL, 0) == -1)
			goto fail;
		if (v != target) {
			store_seterr(st, "migration to schema version %d left "
			    "version %lld", target, v);
			goto fail;
		}
		if (store_run(st, S_COMMIT, "commit of migration") == -1)
			goto fail;
	}
	return 0;
fail:
	store_rollback(st);
	return -1;
}

/* Creates the file with mode 0640 whatever the umask; an existing file is
 * left as it is. */
static int
store_create_file(const char *path, char *err, size_t errlen)
{
	int fd, e;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0640);
	if (fd == -1) {
		if (errno == EEXIST)
			return 0;
		snprintf(err, errlen, "%s: cannot create: %s", path,
		    strerror(errno));
		return -1;
	}
	if (fchmod(fd, 0640) == -1) {
		e = errno;
		close(fd);
		unlink(path);
		snprintf(err, errlen, "%s: cannot chmod: %s", path, strerror(e));
		return -1;
	}
	close(fd);
	return 0;
}

/* database = postgresql://...: the handle holds a PostgreSQL connection;
 * every call below goes to store/pg.c. migrate false: the schema is left
 * as it is (store_open_as_is). */
static int
store_open_pg(const char *uri, const char *password, bool create, bool migrate, int timeout_ms,
	      struct store **out, char *err, size_t errlen)
{
	struct store *st = calloc(1, sizeof(*st));

	if (st == NULL) {
		snprintf(err, errlen, "database: out of memory");
		return -1;
	}
	if ((migrate ? pgstore_open(uri, password, create, timeout_ms, &st->pg, err, errlen)
	     : pgstore_open_as_is(uri, password, timeout_ms, &st->pg, err, errlen)) < 0) {
		free(st);
		return -1;
	}
	*out = st;
	return 0;
}

static int open_sqlite(const char *path, bool create, bool migrate, bool one_thread,
		       int busy_ms, struct store **out, char *err, size_t errlen);

static int
open_config(const struct config *cfg, enum store_role role, bool create, bool migrate,
	    int busy_ms, struct store **out, char *err, size_t errlen)
{
	const char *db = role == STORE_FOR_REPORT && cfg->report_database != NULL
	    ? cfg->report_database : cfg->database;
	struct mbuf pw;
	int rc;

	if (db == NULL || !pgstore_is_uri(db))
		return open_sqlite(db, create, migrate, role == STORE_FOR_REPORT, busy_ms, out, err,
				   errlen);
	mbuf_init(&pw);
	if (cfg->database_password_file != NULL) {
		/* One line: libpq's password, unless the URI names one. */
		if (secret_file_read(cfg->database_password_file, 4096, &pw, err, errlen) < 0)
			return -1;
		if (pw.data != NULL)
			pw.data[strcspn(pw.data, "\r\n")] = '\0';
	}
	rc = store_open_pg(db, pw.data, create, migrate, cfg->database_timeout > 0
			   ? cfg->database_timeout * 1000 : 5000, out, err, errlen);
	if (pw.data != NULL)
		sodium_memzero(pw.data, pw.cap);
	mbuf_free(&pw);
	if (rc < 0 && cfg->path != NULL) {
		/* Which line of which file named this database: a program stops
		 * at start with it. The reason names the database, never the URI
		 * (it may hold a password). */
		char why[1024];
		bool report = db == cfg->report_database;

		snprintf(why, sizeof(why), "%s", err);
		fileline_format(err, errlen, cfg->path,
				report ? cfg->report_database_line : cfg->database_line, "%s: %s",
				report ? "report_database" : "database", why);
	}
	return rc;
}

int
store_open_config(const struct config *cfg, enum store_role role, bool create, int busy_ms,
		  struct store **out, char *err, size_t errlen)
{
	return open_config(cfg, role, create, true, busy_ms, out, err, errlen);
}

int
store_open_as_is(const struct config *cfg, struct store **out, char *err, size_t errlen)
{
	return open_config(cfg, STORE_FOR_WRITES, false, false, 5000, out, err, errlen);
}

/* "sqlite:/path" names the same file as "/path". */
static const char *
sqlite_path(const char *database)
{
	return strncmp(database, "sqlite:", 7) == 0 && database[7] != '\0' ? database + 7 : database;
}

int
store_migrate_config(const struct config *cfg, struct store_migration *m, char *err,
		     size_t errlen)
{
	struct store *st;

	memset(m, 0, sizeof(*m));
	/* What there is before: a SQLite file not made yet has no schema. */
	if (cfg->database != NULL && (pgstore_is_uri(cfg->database) ||
				      access(sqlite_path(cfg->database), F_OK) == 0)) {
		if (store_open_as_is(cfg, &st, err, errlen) < 0)
			return -1;
		m->from = store_schema_version(st);
		if (m->from < 0)
			snprintf(err, errlen, "%s", store_errmsg(st));
		store_close(st);
		if (m->from < 0)
			return -1;
	}
	if (store_open_config(cfg, STORE_FOR_WRITES, true, 5000, &st, err, errlen) < 0)
		return -1;
	store_describe(st, m->backend, sizeof(m->backend));
	m->to = store_schema_version(st);
	if (m->to < 0)
		snprintf(err, errlen, "%s", store_errmsg(st));
	store_close(st);
	return m->to < 0 ? -1 : 0;
}

int
store_open(const char *path, bool create, int busy_ms, struct store **out,
	   char *err, size_t errlen)
{
	return open_sqlite(path, create, true, false, busy_ms, out, err, errlen);
}

/* one_thread: the handle is only ever used by the thread that opened it
 * (the admin command's reports): SQLite takes no mutex around each call. */
static int
open_sqlite(const char *path, bool create, bool migrate, bool one_thread, int busy_ms,
	    struct store **out, char *err, size_t errlen)
{
	static const char *const pragmas[] = {
		"PRAGMA synchronous = FULL",
		"PRAGMA foreign_keys = ON",
		"PRAGMA secure_delete = ON",
	};
	struct store *st;
	char mode[16];
	size_t i;
	int rc, e;

	if (out != NULL)
		*out = NULL;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	else {
		err = mode;	/* scratch: the caller wants no message */
		errlen = sizeof(mode);
	}
	if (path == NULL || *path == '\0' || out == NULL) {
		snprintf(err, errlen, "database: no file name");
		return -1;
	}
	if (pgstore_is_uri(path))
		return store_open_pg(path, NULL, create, migrate, 5000, out, err, errlen);
	path = sqlite_path(path);
	if (create && store_create_file(path, err, errlen) == -1)
		return -1;
	if ((st = calloc(1, sizeof(*st))) == NULL ||
	    (st->path = strdup(path)) == NULL) {
		free(st);
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	rc = sqlite3_open_v2(path, &st->db,
	    SQLITE_OPEN_READWRITE | (one_thread ? SQLITE_OPEN_NOMUTEX : 0), NULL);
	if (rc != SQLITE_OK) {
		if (st->db == NULL)
			snprintf(st->err, sizeof(st->err), "%s: cannot open: "
			    "out of memory", path);
		else if ((e = sqlite3_system_errno(st->db)) != 0)
			store_seterr(st, "cannot open: %s (%s)",
			    sqlite3_errmsg(st->db), strerror(e));
		else
			store_dberr(st, "cannot open");
		goto fail;
	}
	if (sqlite3_db_readonly(st->db, "main") == 1) {
		store_seterr(st, "cannot open for writing");
		goto fail;
	}
	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_timeout(st->db, busy_ms > 0 ? busy_ms : 0);
	/* Also the first read of the file: "file is not a database" here. */
	if (store_pragma(st, "PRAGMA journal_mode = WAL", NULL, mode,
	    sizeof(mode)) == -1)
		goto fail;
	if (strcmp(mode, "wal") != 0) {
		store_seterr(st, "cannot use WAL mode (journal mode is '%s')",
		    mode);
		goto fail;
	}
	struct stat sb;
	if (stat(path, &sb) == -1) {
		store_seterr(st, "cannot stat: %s", strerror(errno));
		goto fail;
	}
	st->dev = sb.st_dev;
	st->ino = sb.st_ino;
	for (i = 0; i < sizeof(pragmas) / sizeof(pragmas[0]); i++)
		if (store_pragma(st, pragmas[i], NULL, NULL, 0) == -1)
			goto fail;
	if (migrate && store_migrate(st) == -1)
		goto fail;
	*out = st;
	return 0;
fail:
	snprintf(err, errlen, "%s", st->err);
	store_close(st);
	return -1;
}

void
store_close(struct store *st)
{
	size_t i;

	if (st == NULL)
		return;
	if (st->pg != NULL) {
		pgstore_close(st->pg);
		free(st);
		return;
	}
	for (i = 0; i < S_COUNT; i++)
		sqlite3_finalize(st->stmt[i]);
	/* All statements are finalized, so this closes the connection. */
	sqlite3_close(st->db);
	free(st->path);
	free(st);
}

int
store_schema_version(struct store *st)
{
	long long v;

	if (st == NULL)
		return -1;
	if (st->pg != NULL)
		return pgstore_schema_version(st->pg);
	if (store_pragma(st, "PRAGMA user_version", &v, NULL, 0) == -1)
		return -1;
	return (int)v;
}

const char *
store_errmsg(struct store *st)
{
	return st == NULL ? no_handle : st->pg != NULL ? pgstore_errmsg(st->pg) : st->err;
}

sqlite3 *
store_db(struct store *st)
{
	return st == NULL ? NULL : st->db;
}

struct pgstore *
store_pg(struct store *st)
{
	return st == NULL ? NULL : st->pg;
}

void
store_describe(struct store *st, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s%s", store_is_pg(st) ? "" : "sqlite ", store_name(st));
}

bool
store_names_pg(const char *database)
{
	return pgstore_is_uri(database);
}

bool
store_unreachable(void)
{
	return pgstore_unreachable();
}

void
store_display(const char *database, char *out, size_t outlen)
{
	if (pgstore_is_uri(database))
		pgstore_display(database, out, outlen);
	else
		snprintf(out, outlen, "%s", database != NULL ? database : "(none)");
}

bool
store_is_pg(struct store *st)
{
	return st != NULL && st->pg != NULL;
}

const char *
store_name(struct store *st)
{
	return st == NULL ? no_handle : st->pg != NULL ? pgstore_name(st->pg) : st->path;
}

int
store_file_check(struct store *st)
{
	struct stat sb;
	int moved = 0;

	if (st == NULL)
		return -1;
	if (st->pg != NULL)
		return 0;	/* no file: the server keeps what it acknowledged */
	/* SQLite compares the path with the descriptor it holds; the device
	 * is compared here (an inode number is unique per file system). */
	if (sqlite3_file_control(st->db, "main", SQLITE_FCNTL_HAS_MOVED, &moved) != SQLITE_OK)
		moved = 0;
	if (moved || stat(st->path, &sb) == -1 || sb.st_dev != st->dev || sb.st_ino != st->ino) {
		store_seterr(st, "the database file was removed or replaced while open "
		    "(what this handle writes would be lost)");
		return -1;
	}
	return 0;
}

/* COMMIT, checked on both sides: a commit into a file that was removed or
 * replaced meanwhile is durable nowhere that anyone reads. On failure the
 * caller rolls back (a no-op when COMMIT itself went through). */
static int
store_commit_here(struct store *st, const char *what)
{
	if (store_file_check(st) < 0 || store_run(st, S_COMMIT, what) < 0)
		return -1;
	return store_file_check(st);
}

int
store_write_probe(struct store *st)
{
	long long v;
	char sql[64];

	if (st != NULL && st->pg != NULL)
		return pgstore_write_probe(st->pg);
	if (st == NULL || store_run(st, S_BEGIN, "write probe: begin") < 0)
		return -1;
	/* The version it already has: page 1 is written, nothing changes. */
	if (store_pragma(st, "PRAGMA user_version", &v, NULL, 0) < 0)
		goto fail;
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %lld", v);
	if (store_pragma(st, sql, NULL, NULL, 0) < 0 ||
	    store_commit_here(st, "write probe: commit") < 0)
		goto fail;
	return 0;
fail:
	store_rollback(st);
	return -1;
}

int
store_checkpoint(struct store *st, bool *complete, char *err, size_t errlen)
{
	int busy = 0, log = 0, done = 0;

	*complete = false;
	/* TRUNCATE waits (busy timeout) for readers and writers to let go. */
	if (sqlite3_wal_checkpoint_v2(st->db, "main", SQLITE_CHECKPOINT_TRUNCATE, &log,
	    &done) != SQLITE_OK) {
		if (sqlite3_errcode(st->db) != SQLITE_BUSY) {
			snprintf(err, errlen, "checkpoint: %s", sqlite3_errmsg(st->db));
			return -1;
		}
		busy = 1;
	}
	*complete = busy == 0 && log == done;
	return 0;
}

int
store_events_drop_before(struct store *st, long long cutoff, long long *events,
			 long long *dropped, char *err, size_t errlen)
{
	*events = *dropped = 0;
	if (st == NULL || st->pg == NULL)
		return 0;
	if (pgstore_drop_partitions_before(st->pg, cutoff, events, dropped) < 0) {
		snprintf(err, errlen, "purge: partitions: %s", pgstore_errmsg(st->pg));
		return -1;
	}
	return 0;
}

/* ---- the hash key ---- */

static int
hk_error(char *err, size_t errlen, const char *name, int line,
	 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int
hk_error(char *err, size_t errlen, const char *name, int line,
	 const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return -1;
	va_start(ap, fmt);
	fileline_vformat(err, errlen, name, line, fmt, ap);
	va_end(ap);
	return -1;
}

static int
hk_parse(const char *name, const char *text, struct store_hash_key *k,
	 char *err, size_t errlen)
{
	unsigned char raw[STORE_HASH_KEY_MAX + 3];
	const char *p = text, *nl, *end, *s, *t;
	int lineno = 0, keyline = 0;
	long n;

	while (*p != '\0') {
		nl = strchr(p, '\n');
		end = nl ? nl : p + strlen(p);
		lineno++;
		for (s = p; s < end && isspace((unsigned char)*s); s++)
			;
		p = nl ? nl + 1 : end;
		if (s == end || *s == '#')
			continue;
		if (keyline != 0)
			return hk_error(err, errlen, name, lineno, "a second key "
			    "(the first is on line %d; the file holds one key)",
			    keyline);
		keyline = lineno;
		for (t = s; t < end && !isspace((unsigned char)*t); t++)
			;
		n = (long)(t - s);
		while (t < end && isspace((unsigned char)*t))
			t++;
		if (t != end)
			return hk_error(err, errlen, name, lineno,
			    "extra text after the key");
		if (n > (STORE_HASH_KEY_MAX * 4 + 2) / 3)
			return hk_error(err, errlen, name, lineno, "key is too "
			    "long: expected %d to %d bytes", STORE_HASH_KEY_MIN,
			    STORE_HASH_KEY_MAX);
		if ((n = b64url_decode(s, (size_t)n, raw, sizeof(raw))) < 0)
			return hk_error(err, errlen, name, lineno,
			    "bad key: expected unpadded base64url");
		if (n < STORE_HASH_KEY_MIN || n > STORE_HASH_KEY_MAX) {
			sodium_memzero(raw, sizeof(raw));
			return hk_error(err, errlen, name, lineno, "key is too "
			    "%s: %ld bytes, expected %d to %d",
			    n < STORE_HASH_KEY_MIN ? "short" : "long", n,
			    STORE_HASH_KEY_MIN, STORE_HASH_KEY_MAX);
		}
		memcpy(k->key, raw, (size_t)n);
		k->len = (size_t)n;
		sodium_memzero(raw, sizeof(raw));
	}
	if (keyline == 0)
		return hk_error(err, errlen, name, 0, "no key");
	return 0;
}

int
store_hash_key_load(const char *path, struct store_hash_key *k, char *err,
		    size_t errlen)
{
	struct mbuf text;
	int rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (k == NULL || path == NULL)
		return hk_error(err, errlen, "hash_key_file", 0, "no file");
	sodium_memzero(k, sizeof(*k));
	mbuf_init(&text);
	if (secret_file_read(path, HASH_KEY_FILE_MAX, &text, err, errlen) == -1)
		return -1;
	rc = hk_parse(path, text.data ? text.data : "", k, err, errlen);
	if (rc == -1)
		sodium_memzero(k, sizeof(*k));
	if (text.data != NULL)
		sodium_memzero(text.data, text.cap);
	mbuf_free(&text);
	return rc;
}

void
store_recipient_hash(const struct store_hash_key *k, const char *addr,
		     unsigned char out[STORE_HASH_LEN])
{
	crypto_auth_hmacsha256_state state;
	/* One canonical spelling per mailbox: an opt-out recorded for
	 * bob@example.net also holds for "bob"@example.net. Out of memory:
	 * the address as given, the form it was most likely recorded in. */
	char *canon = address_canonical(addr);
	const char *s = canon != NULL ? canon : (addr != NULL ? addr : "");

	crypto_auth_hmacsha256_init(&state, k->key, k->len);
	crypto_auth_hmacsha256_update(&state, (const unsigned char *)s, strlen(s));
	crypto_auth_hmacsha256_final(&state, out);
	sodium_memzero(&state, sizeof(state));
	if (canon != NULL) {
		sodium_memzero(canon, strlen(canon));
		free(canon);
	}
}

/* ---- messages ---- */

int
store_message_find(struct store *st, const char *queue_id,
		   const char *message_id_header, const char *sender,
		   char id[STORE_ID_LEN + 1], long long *sent)
{
	enum stmt_id which[2];
	const unsigned char *t;
	sqlite3_stmt *s;
	size_t i, n = 0;
	int rc;

	if (st == NULL)
		return -1;
	if (id == NULL) {
		store_seterr(st, "find message: no output buffer");
		return -1;
	}
	if (st->pg != NULL)
		return pgstore_message_find(st->pg, queue_id, message_id_header, sender, id, sent);
	if (queue_id != NULL)
		which[n++] = S_FIND_QID;
	if (message_id_header != NULL && sender != NULL)
		which[n++] = S_FIND_MID;
	for (i = 0; i < n; i++) {
		if ((s = store_stmt(st, which[i])) == NULL)
			return -1;
		if (which[i] == S_FIND_QID)
			rc = bind_text(s, 1, queue_id);
		else if ((rc = bind_text(s, 1, sender)) == SQLITE_OK)
			rc = bind_text(s, 2, message_id_header);
		if (rc != SQLITE_OK) {
			store_dberr(st, "find message");
			store_done(s);
			return -1;
		}
		rc = sqlite3_step(s);
		if (rc == SQLITE_DONE) {
			store_done(s);
			continue;
		}
		if (rc != SQLITE_ROW) {
			store_dberr(st, "find message");
			store_done(s);
			return -1;
		}
		t = sqlite3_column_text(s, 0);
		if (t == NULL || strlen((const char *)t) > STORE_ID_LEN) {
			store_seterr(st, "find message: bad message id in the "
			    "database");
			store_done(s);
			return -1;
		}
		memcpy(id, t, strlen((const char *)t) + 1);
		if (sent != NULL)
			*sent = sqlite3_column_int64(s, 1);
		store_done(s);
		return 1;
	}
	return 0;
}

static int
is_unique_conflict(int xrc)
{
	return xrc == SQLITE_CONSTRAINT_UNIQUE ||
	    xrc == SQLITE_CONSTRAINT_PRIMARYKEY;
}

int
store_message_insert(struct store *st, const struct store_message *m,
		     enum store_link_urls mode)
{
	sqlite3_stmt *s;
	char *url;
	size_t i;
	int rc;

	if (st == NULL)
		return -1;
	if (st->pg != NULL)
		return pgstore_message_insert(st->pg, m, mode);
	if (m == NULL || m->id == NULL || m->sender == NULL || m->words == NULL ||
	    (m->n_recipients > 0 && m->recipient_hashes == NULL) ||
	    (m->n_links > 0 && m->link_urls == NULL)) {
		store_seterr(st, "insert message: incomplete message");
		return -1;
	}
	if (store_run(st, S_BEGIN, "insert message: begin") == -1)
		return -1;

	if ((s = store_stmt(st, S_INS_MSG)) == NULL)
		goto fail;
	if (bind_text(s, 1, m->id) != SQLITE_OK ||
	    bind_text(s, 2, m->queue_id) != SQLITE_OK ||
	    bind_text(s, 3, m->message_id_header) != SQLITE_OK ||
	    bind_text(s, 4, m->sender) != SQLITE_OK ||
	    bind_text(s, 5, m->sasl_login) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 6, (sqlite3_int64)m->n_recipients) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 7, m->sent) != SQLITE_OK ||
	    bind_text(s, 8, m->words) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 9, (sqlite3_int64)m->n_links) != SQLITE_OK ||
	    bind_text(s, 10, m->subject) != SQLITE_OK) {
		store_dberr(st, "insert message");
		store_done(s);
		goto fail;
	}
	if ((rc = sqlite3_step(s)) != SQLITE_DONE) {
		int xrc = sqlite3_extended_errcode(st->db);

		store_dberr(st, "insert message");
		store_done(s);
		if (is_unique_conflict(xrc)) {
			store_rollback(st);
			return 1;
		}
		goto fail;
	}
	store_done(s);

	if (m->n_recipients > 0 && (s = store_stmt(st, S_INS_RCPT)) == NULL)
		goto fail;
	for (i = 0; i < m->n_recipients; i++) {
		if (bind_text(s, 1, m->id) != SQLITE_OK ||
		    sqlite3_bind_blob(s, 2, m->recipient_hashes[i],
		    STORE_HASH_LEN, SQLITE_STATIC) != SQLITE_OK ||
		    sqlite3_step(s) != SQLITE_DONE) {
			store_dberr(st, "insert recipient");
			store_done(s);
			goto fail;
		}
		store_done(s);
	}

	if (m->n_links > 0 && (s = store_stmt(st, S_INS_LINK)) == NULL)
		goto fail;
	for (i = 0; i < m->n_links; i++) {
		url = store_reduce_url(m->link_urls[i], mode);
		if (url == NULL && m->link_urls[i] != NULL &&
		    mode != STORE_URLS_NONE) {
			store_seterr(st, "insert link: out of memory");
			goto fail;
		}
		rc = bind_text(s, 1, m->id);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int64(s, 2, (sqlite3_int64)i + 1);
		if (rc == SQLITE_OK)
			rc = url != NULL ? sqlite3_bind_text(s, 3, url, -1,
			    SQLITE_TRANSIENT) : sqlite3_bind_null(s, 3);
		free(url);
		if (rc == SQLITE_OK)
			rc = sqlite3_step(s);
		if (rc != SQLITE_DONE) {
			store_dberr(st, "insert link");
			store_done(s);
			goto fail;
		}
		store_done(s);
	}

	if (store_run(st, S_COMMIT, "insert message: commit") == -1)
		goto fail;
	return 0;
fail:
	store_rollback(st);
	return -1;
}

/* ---- opt-outs ---- */

int
store_optout_exists(struct store *st, const unsigned char hash[STORE_HASH_LEN])
{
	sqlite3_stmt *s;
	int rc;

	if (st == NULL)
		return -1;
	if (st->pg != NULL)
		return pgstore_optout_exists(st->pg, hash);
	if (hash == NULL) {
		store_seterr(st, "opt-out lookup: no hash");
		return -1;
	}
	if ((s = store_stmt(st, S_OPTOUT_EXISTS)) == NULL)
		return -1;
	if (sqlite3_bind_blob(s, 1, hash, STORE_HASH_LEN, SQLITE_STATIC) !=
	    SQLITE_OK) {
		store_dberr(st, "opt-out lookup");
		store_done(s);
		return -1;
	}
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		store_dberr(st, "opt-out lookup");
	store_done(s);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int
store_optout_add(struct store *st, const unsigned char hash[STORE_HASH_LEN],
		 long long when, const char *message_id)
{
	sqlite3_stmt *s;
	int rc;

	if (st == NULL)
		return -1;
	if (st->pg != NULL)
		return pgstore_optout_add(st->pg, hash, when, message_id);
	if (hash == NULL) {
		store_seterr(st, "add opt-out: no hash");
		return -1;
	}
	if ((s = store_stmt(st, S_OPTOUT_ADD)) == NULL)
		return -1;
	rc = sqlite3_bind_blob(s, 1, hash, STORE_HASH_LEN, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(s, 2, when);
	if (rc == SQLITE_OK)
		rc = bind_text(s, 3, message_id);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	if (rc != SQLITE_DONE)
		store_dberr(st, "add opt-out");
	store_done(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* ---- events (the beacon) ---- */

static int
bind_event(sqlite3_stmt *s, const struct store_event *e)
{
	int rc = bind_text(s, 1, e->message_id);

	if (rc == SQLITE_OK)
		rc = bind_text(s, 2, e->kind);
	if (rc == SQLITE_OK)
		rc = e->link > 0 ? sqlite3_bind_int64(s, 3, e->link) : sqlite3_bind_null(s, 3);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(s, 4, e->time);
	if (rc == SQLITE_OK)
		rc = bind_text(s, 5, e->ip_masked);
	if (rc == SQLITE_OK)
		rc = bind_text(s, 6, e->client_class);
	if (rc == SQLITE_OK)
		rc = bind_text(s, 7, e->verdict);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(s, 8, e->dnt ? 1 : 0);
	if (rc == SQLITE_OK)
		rc = e->recipient_hash != NULL
		    ? sqlite3_bind_blob(s, 9, e->recipient_hash, STORE_HASH_LEN, SQLITE_STATIC)
		    : sqlite3_bind_null(s, 9);
	if (rc == SQLITE_OK)
		rc = bind_text(s, 10, e->country);
	if (rc == SQLITE_OK)
		rc = bind_text(s, 11, e->city);
	return rc;
}

static int
insert_event(struct store *st, const struct store_event *e)
{
	sqlite3_stmt *s = store_stmt(st, S_INS_EVENT);
	int rc;

	if (s == NULL)
		return -1;
	rc = bind_event(s, e);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	if (rc != SQLITE_DONE)
		store_dberr(st, "insert event");
	store_done(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

int
store_event_insert_in_txn(struct store *st, const struct store_event *e)
{
	if (st != NULL && st->pg != NULL)
		return pgstore_events_insert_in_txn(st->pg, e, 1);
	return st == NULL ? -1 : insert_event(st, e);
}

int
store_events_partitions(struct store *st, const struct store_event *ev, size_t n)
{
	if (st == NULL || st->pg == NULL)
		return 0;
	return pgstore_events_partitions(st->pg, ev, n);
}

int
store_events_insert(struct store *st, const struct store_event *ev, size_t n)
{
	if (st == NULL)
		return -1;
	if (st->pg != NULL)
		return pgstore_events_insert(st->pg, ev, n);
	if (store_run(st, S_BEGIN, "begin") < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (insert_event(st, &ev[i]) < 0) {
			store_rollback(st);
			return -1;
		}
	if (store_commit_here(st, "commit") < 0) {
		store_rollback(st);
		return -1;
	}
	return 0;
}

int
store_message_opted_out(struct store *st, const char *message_id)
{
	sqlite3_stmt *s;
	int rc;

	if (st != NULL && st->pg != NULL)
		return pgstore_message_opted_out(st->pg, message_id);
	if (st == NULL || (s = store_stmt(st, S_MSG_OPTED_OUT)) == NULL)
		return -1;
	rc = bind_text(s, 1, message_id);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		store_dberr(st, "opt-out lookup");
	store_done(s);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int
store_message_recipients(struct store *st, const char *message_id,
			 unsigned char (*out)[STORE_HASH_LEN], size_t max, size_t *total)
{
	sqlite3_stmt *s;
	int rc;

	*total = 0;
	if (st != NULL && st->pg != NULL)
		return pgstore_message_recipients(st->pg, message_id, out, max, total);
	if (st == NULL || (s = store_stmt(st, S_MSG_RCPTS)) == NULL)
		return -1;
	rc = bind_text(s, 1, message_id);
	while (rc == SQLITE_OK || rc == SQLITE_ROW) {
		if ((rc = sqlite3_step(s)) != SQLITE_ROW)
			break;
		if (sqlite3_column_bytes(s, 0) != STORE_HASH_LEN)
			continue;
		if (*total < max)
			memcpy(out[*total], sqlite3_column_blob(s, 0), STORE_HASH_LEN);
		(*total)++;
	}
	if (rc != SQLITE_DONE)
		store_dberr(st, "recipients of a message");
	store_done(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

int
store_message_has_recipient(struct store *st, const char *message_id,
			    const unsigned char hash[STORE_HASH_LEN])
{
	sqlite3_stmt *s;
	int rc;

	if (st != NULL && st->pg != NULL)
		return pgstore_message_has_recipient(st->pg, message_id, hash);
	if (st == NULL || (s = store_stmt(st, S_MSG_HAS_RCPT)) == NULL)
		return -1;
	rc = bind_text(s, 1, message_id);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_blob(s, 2, hash, STORE_HASH_LEN, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		store_dberr(st, "recipient of a message");
	store_done(s);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int
store_optout_record(struct store *st, const unsigned char hash[STORE_HASH_LEN],
		    long long when, const char *message_id)
{
	struct store_event e = store_optout_event(hash, when, message_id);

	if (st != NULL && st->pg != NULL)
		return pgstore_optout_record(st->pg, hash, when, message_id);
	if (st == NULL || store_run(st, S_BEGIN, "begin") < 0)
		return -1;
	if (store_optout_add(st, hash, when, message_id) < 0 || insert_event(st, &e) < 0 ||
	    store_commit_here(st, "commit") < 0) {
		store_rollback(st);
		return -1;
	}
	return 0;
}

static const char *
column_text(sqlite3_stmt *s, int i)
{
	return sqlite3_column_type(s, i) == SQLITE_NULL ? NULL
	    : (const char *)sqlite3_column_text(s, i);
}

int
store_events_after(struct store *st, long long after, int limit, store_event_fn fn, void *arg)
{
	sqlite3_stmt *s;
	int rc, stop = 0;

	if (st != NULL && st->pg != NULL)
		return pgstore_events_after(st->pg, after, limit, fn, arg);
	if (st == NULL || (s = store_stmt(st, S_EVENTS_AFTER)) == NULL)
		return -1;
	rc = sqlite3_bind_int64(s, 1, after);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(s, 2, limit);
	while (rc == SQLITE_OK || rc == SQLITE_ROW) {
		if ((rc = sqlite3_step(s)) != SQLITE_ROW)
			break;
		struct store_event e = {
			.message_id = column_text(s, 1),
			.kind = column_text(s, 2),
			.link = (unsigned)sqlite3_column_int64(s, 3),
			.time = sqlite3_column_int64(s, 4),
			.ip_masked = column_text(s, 5),
			.client_class = column_text(s, 6),
			.verdict = column_text(s, 7),
			.dnt = sqlite3_column_int(s, 8) != 0,
			.recipient_hash = sqlite3_column_bytes(s, 9) == STORE_HASH_LEN
			    ? sqlite3_column_blob(s, 9) : NULL,
			.country = column_text(s, 10),
			.city = column_text(s, 11),
		};
		if (fn(arg, sqlite3_column_int64(s, 0), &e) != 0) {
			stop = 1;
			break;
		}
	}
	if (!stop && rc != SQLITE_DONE)
		store_dberr(st, "events after a cursor");
	store_done(s);
	return stop || rc == SQLITE_DONE ? 0 : -1;
}
