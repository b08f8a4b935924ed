/* Unit tests of the store against real SQLite files in a temporary
 * directory: creation, modes and pragmas, schema migrations and refusals,
 * messages, links, recipient hashes, opt-outs, the hash key file, and which
 * events count as a person's. With STORE_TEST_PG_URI set (tests/pg/
 * run-store-pg.sh) the same tests run on PostgreSQL, a fresh database per
 * test; the few that are about SQLite's file and its migrations say so and
 * are skipped there (PostgreSQL's own are in test_store_pg). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/stat.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "classify.h"
#include "consent.h"
#include "sync.h"
#include "store.h"

static char tmpdir[] = "/tmp/test_store.XXXXXX";
/* PostgreSQL: the superuser's URI of database "mailbeacon" on the test's
 * cluster; NULL on SQLite. */
static const char *pg_uri;

static const char *
tpath(const char *name)
{
	static char buf[4][512];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", tmpdir, name);
	return buf[i];
}

/* Where a test's database is: a file in tmpdir, or (PostgreSQL) a database
 * of the test's cluster named after it, created empty on first use. */
static const char *
dbpath(const char *name)
{
	static char buf[4][1024];
	static int i;
	char db[64], sql[128];
	const char *q;
	size_t n = 0;

	if (pg_uri == NULL)
		return tpath(name);
	for (const char *p = name; *p != '\0' && n < 40; p++)
		db[n++] = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ? *p : '_';
	db[n] = '\0';
	if ((q = strstr(pg_uri, "/mailbeacon?")) == NULL)
		fail_msg("STORE_TEST_PG_URI does not name the database mailbeacon");
	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%.*s/ts_%s%s", (int)(q - pg_uri), pg_uri, db,
		 q + strlen("/mailbeacon"));
	PGconn *c = PQconnectdb(pg_uri);
	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("connect: %s", PQerrorMessage(c));
	snprintf(sql, sizeof(sql), "SELECT 1 FROM pg_database WHERE datname = 'ts_%s'", db);
	PGresult *r = PQexec(c, sql);
	bool exists = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
	PQclear(r);
	if (!exists) {
		snprintf(sql, sizeof(sql), "CREATE DATABASE ts_%s", db);
		r = PQexec(c, sql);
		if (PQresultStatus(r) != PGRES_COMMAND_OK)
			fail_msg("%s: %s", sql, PQerrorMessage(c));
		PQclear(r);
	}
	PQfinish(c);
	return buf[i];
}

/* The tests that are about SQLite's file or its migrations. */
#define SQLITE_ONLY() do { \
	if (pg_uri != NULL) { \
		print_message("SQLite only: PostgreSQL's own test is in test_store_pg\n"); \
		skip(); \
	} \
} while (0)

/* sql with ?1 as PostgreSQL's $1. */
static void
pg_sql(const char *sql, char *out, size_t outlen)
{
	size_t n = 0;

	for (; *sql != '\0' && n + 2 < outlen; sql++)
		out[n++] = sql[0] == '?' && sql[1] == '1' ? '$' : *sql;
	out[n] = '\0';
}

/* The rows of sql (one text parameter) on the PostgreSQL database uri. */
static PGresult *
pg_rows(const char *uri, const char *sql, const char *arg)
{
	char text[1024];
	const char *vals[1] = { arg };
	PGconn *c = PQconnectdb(uri);

	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("connect: %s", PQerrorMessage(c));
	pg_sql(sql, text, sizeof(text));
	PGresult *r = arg != NULL ? PQexecParams(c, text, 1, NULL, vals, NULL, NULL, 0)
	    : PQexec(c, text);
	if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK)
		fail_msg("%s: %s", text, PQerrorMessage(c));
	PQfinish(c);
	return r;
}

static int
setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	struct dirent *de;
	DIR *d;

	(void)state;
	if ((d = opendir(tmpdir)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			unlink(tpath(de->d_name));
	closedir(d);
	return rmdir(tmpdir);
}

/* A second, independent connection to check what is really on disk. */
static sqlite3 *
raw_open(const char *path)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE, NULL), SQLITE_OK);
	return db;
}

static void
raw_exec(const char *path, const char *sql)
{
	if (pg_uri != NULL) {
		PQclear(pg_rows(path, sql, NULL));
		return;
	}
	sqlite3 *db = raw_open(path);
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg);
	sqlite3_close(db);
}

/* The first column of the first row as an integer (-999 when no row). */
static long long
raw_int(const char *path, const char *sql, const char *arg)
{
	long long v = -999;

	if (pg_uri != NULL) {
		PGresult *r = pg_rows(path, sql, arg);
		if (PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
			v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		PQclear(r);
		return v;
	}
	sqlite3 *db = raw_open(path);
	sqlite3_stmt *s;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	if (arg != NULL)
		sqlite3_bind_text(s, 1, arg, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

/* The first column of every row, joined by '|', NULL shown as "(null)". */
static void
raw_col(const char *path, const char *sql, const char *arg, char *out,
	size_t outlen)
{
	sqlite3 *db;
	sqlite3_stmt *s;
	size_t len = 0;
	int first = 1;

	out[0] = '\0';
	if (pg_uri != NULL) {
		PGresult *r = pg_rows(path, sql, arg);
		for (int row = 0; row < PQntuples(r); row++) {
			len += (size_t)snprintf(out + len, outlen - len, "%s%s", row ? "|" : "",
						PQgetisnull(r, row, 0) ? "(null)" : PQgetvalue(r, row, 0));
			assert_true(len < outlen);
		}
		PQclear(r);
		return;
	}
	db = raw_open(path);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	if (arg != NULL)
		sqlite3_bind_text(s, 1, arg, -1, SQLITE_STATIC);
	while (sqlite3_step(s) == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(s, 0);

		len += (size_t)snprintf(out + len, outlen - len, "%s%s",
		    first ? "" : "|", t ? (const char *)t : "(null)");
		assert_true(len < outlen);
		first = 0;
	}
	sqlite3_finalize(s);
	sqlite3_close(db);
}

static struct store *
open_ok(const char *path, bool create)
{
	struct store *st = NULL;
	char err[512];

	if (store_open(path, create, 2000, &st, err, sizeof(err)) != 0)
		fail_msg("store_open %s: %s", path, err);
	assert_non_null(st);
	return st;
}

static void
open_fails(const char *path, bool create, const char *want_sub)
{
	struct store *st = (struct store *)1;
	char err[512];

	assert_int_equal(store_open(path, create, 2000, &st, err, sizeof(err)),
	    -1);
	assert_null(st);
	if (strncmp(err, path, strlen(path)) != 0 ||
	    strstr(err, want_sub) == NULL)
		fail_msg("got '%s', want '%s: ...%s...'", err, path, want_sub);
}

static void
hash_of(unsigned char out[STORE_HASH_LEN], int n)
{
	memset(out, n, STORE_HASH_LEN);
}

static void
test_open_create(void **state)
{
	const char *path = tpath("create.db");
	struct store *st;
	struct stat sb;
	char mode[32];
	mode_t old;

	(void)state;
	SQLITE_ONLY();
	old = umask(077);	/* the mode does not depend on the umask */
	st = open_ok(path, true);
	umask(old);
	assert_int_equal(store_schema_version(st), STORE_SCHEMA_VERSION);
	assert_int_equal(raw_int(path, "PRAGMA user_version", NULL), STORE_SCHEMA_VERSION);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0640);
	/* WAL: persistent, so a second connection sees it too. */
	raw_col(path, "PRAGMA journal_mode", NULL, mode, sizeof(mode));
	assert_string_equal(mode, "wal");
	/* sqlite gives -wal the database's mode. */
	assert_int_equal(store_optout_add(st, (const unsigned char *)
	    "0123456789abcdef0123456789abcdef", 1, NULL), 0);
	assert_int_equal(stat(tpath("create.db-wal"), &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0640);
	/* messages, message_recipients, links, events, optouts, sync_state,
	 * mail_notifications (6), consents and consent_asks (7), message_days
	 * (8) */
	assert_int_equal(raw_int(path, "SELECT count(*) FROM sqlite_master "
	    "WHERE type = 'table'", NULL), 10);
	/* messages_sender_mid, messages_sent, message_recipients_hash, and
	 * version 4's events_report, messages_report, messages_sender_nocase,
	 * messages_domain, version 5's events_place, version 7's
	 * consents_proof, consents_sender, consent_asks_recipient,
	 * consent_asks_sender, version 8's message_days_sent */
	assert_int_equal(raw_int(path, "SELECT count(*) FROM sqlite_master "
	    "WHERE type = 'index' AND sql IS NOT NULL", NULL), 13);
	store_close(st);
	/* Opening again with create leaves an existing file alone. */
	assert_int_equal(chmod(path, 0600), 0);
	st = open_ok(path, true);
	assert_int_equal(store_schema_version(st), STORE_SCHEMA_VERSION);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	store_close(st);
}

static const unsigned char rcpts[3][STORE_HASH_LEN] = {
	{ 1, 2, 3 }, { 4, 5, 6 }, { 1, 2, 3 }
};
static const char *const urls[] = {
	"https://a.example/p/x?q=1&r=2#frag",
	"https://b.example/#top",
	NULL,
	"https://c.example/plain",
};

static struct store_message
message(const char *id, const char *qid, const char *mid, const char *sender)
{
	struct store_message m = {
		.id = id, .queue_id = qid, .message_id_header = mid,
		.sender = sender, .sasl_login = "alice", .sent = 1700000000,
		.words = "opens clicks footer", .recipient_hashes = rcpts,
		.n_recipients = 3, .link_urls = urls, .n_links = 4,
		.subject = NULL,
	};
	return m;
}

static void
test_reopen_keeps_data(void **state)
{
	const char *path = dbpath("reopen.db");
	struct store_message m = message("AAAAAAAAAAAAAAAAAAAAAA", "Q1",
	    "<m1@x>", "alice@example.com");
	struct store *st;
	char id[STORE_ID_LEN + 1];
	long long sent = 0;

	(void)state;
	st = open_ok(path, true);
	assert_int_equal(store_message_insert(st, &m, STORE_URLS_PATH), 0);
	store_close(st);
	st = open_ok(path, false);
	assert_int_equal(store_message_find(st, "Q1", NULL, NULL, id, &sent), 1);
	assert_string_equal(id, "AAAAAAAAAAAAAAAAAAAAAA");
	assert_int_equal(sent, 1700000000);
	store_close(st);
}

static void
test_open_errors(void **state)
{
	const char *path = tpath("missing.db");
	struct store *st = (struct store *)1;
	int fd;

	(void)state;
	SQLITE_ONLY();
	open_fails(path, false, "No such file or directory");
	assert_int_equal(access(path, F_OK), -1);
	open_fails(tpath("nodir/x.db"), true, "cannot create");
	/* Not a database. */
	fd = open(tpath("garbage.db"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	{
		char junk[4096];

		memset(junk, 'x', sizeof(junk));
		assert_int_equal(write(fd, junk, sizeof(junk)),
		    (ssize_t)sizeof(junk));
	}
	close(fd);
	open_fails(tpath("garbage.db"), false, "file is not a database");
	/* Read-only file: refused rather than silently read-only. */
	if (geteuid() != 0) {
		st = open_ok(tpath("ro.db"), true);
		store_close(st);
		assert_int_equal(chmod(tpath("ro.db"), 0440), 0);
		open_fails(tpath("ro.db"), false, "");
	}
	/* No error buffer: still fails cleanly. */
	st = (struct store *)1;
	assert_int_equal(store_open(path, false, 0, &st, NULL, 0), -1);
	assert_null(st);
	assert_int_equal(store_open(NULL, true, 0, &st, NULL, 0), -1);
}

static void
test_newer_version_refused(void **state)
{
	const char *path = tpath("v99.db");
	char want[512], sub[128];

	(void)state;
	SQLITE_ONLY();
	raw_exec(path, "PRAGMA user_version = 99");
	snprintf(sub, sizeof(sub), "schema version 99 is newer than this "
	    "program (%d)", STORE_SCHEMA_VERSION);
	snprintf(want, sizeof(want), "%s: %s", path, sub);
	open_fails(path, false, sub);
	{
		struct store *st;
		char err[512];

		assert_int_equal(store_open(path, true, 0, &st, err,
		    sizeof(err)), -1);
		assert_string_equal(err, want);
	}
	assert_int_equal(raw_int(path, "PRAGMA user_version", NULL), 99);
}

static void
test_migrate_from_zero(void **state)
{
	const char *path = tpath("v0.db");
	const char *other = tpath("other.db");
	struct store *st;

	(void)state;
	SQLITE_ONLY();
	/* A real database file at version 0 with no tables. */
	raw_exec(path, "CREATE TABLE t (x); DROP TABLE t;");
	assert_int_equal(raw_int(path, "PRAGMA user_version", NULL), 0);
	st = open_ok(path, false);
	assert_int_equal(store_schema_version(st), STORE_SCHEMA_VERSION);
	store_close(st);
	assert_int_equal(raw_int(path, "PRAGMA user_version", NULL), STORE_SCHEMA_VERSION);
	/* messages, message_recipients, links, events, optouts, sync_state,
	 * mail_notifications, consents, consent_asks, message_days */
	assert_int_equal(raw_int(path, "SELECT count(*) FROM sqlite_master "
	    "WHERE type = 'table'", NULL), 10);
	/* Someone else's database is not taken over. */
	raw_exec(other, "CREATE TABLE accounts (x);");
	open_fails(other, false, "not a mailbeacon database");
	assert_int_equal(raw_int(other, "PRAGMA user_version", NULL), 0);
	assert_int_equal(raw_int(other, "SELECT count(*) FROM sqlite_master",
	    NULL), 1);
	/* An empty file is a new database. */
	close(open(tpath("empty.db"), O_WRONLY | O_CREAT, 0600));
	st = open_ok(tpath("empty.db"), false);
	assert_int_equal(store_schema_version(st), STORE_SCHEMA_VERSION);
	store_close(st);
}

static void
test_insert_find(void **state)
{
	const char *path = dbpath("msg.db");
	struct store_message m = message("BBBBBBBBBBBBBBBBBBBBBB", "Q2",
	    "<m2@x>", "bob@example.com");
	struct store *st, *st2;
	char id[STORE_ID_LEN + 1];
	long long sent = 0;

	(void)state;
	st = open_ok(path, true);
	assert_int_equal(store_message_find(st, "Q2", "<m2@x>",
	    "bob@example.com", id, &sent), 0);
	m.subject = "Invoice";
	assert_int_equal(store_message_insert(st, &m, STORE_URLS_PATH), 0);
	/* By queue id. */
	assert_int_equal(store_message_find(st, "Q2", NULL, NULL, id, &sent), 1);
	assert_string_equal(id, "BBBBBBBBBBBBBBBBBBBBBB");
	assert_int_equal(sent, 1700000000);
	/* A client's retry: new queue id, same Message-ID and sender. */
	memset(id, 0, sizeof(id));
	sent = 0;
	assert_int_equal(store_message_find(st, "Q-new", "<m2@x>",
	    "bob@example.com", id, &sent), 1);
	assert_string_equal(id, "BBBBBBBBBBBBBBBBBBBBBB");
	assert_int_equal(sent, 1700000000);
	assert_int_equal(store_message_find(st, NULL, "<m2@x>",
	    "bob@example.com", id, NULL), 1);
	/* Same Message-ID from another sender, unknown ids: not found. */
	assert_int_equal(store_message_find(st, NULL, "<m2@x>",
	    "eve@example.com", id, &sent), 0);
	assert_int_equal(store_message_find(st, "Q-new", NULL, NULL, id, &sent),
	    0);
	assert_int_equal(store_message_find(st, NULL, NULL, NULL, id, &sent), 0);
	/* Rows: recipients deduplicated, counts as given. */
	assert_int_equal(raw_int(path, "SELECT recipient_count FROM messages "
	    "WHERE id = ?1", "BBBBBBBBBBBBBBBBBBBBBB"), 3);
	assert_int_equal(raw_int(path, "SELECT link_count FROM messages "
	    "WHERE id = ?1", "BBBBBBBBBBBBBBBBBBBBBB"), 4);
	assert_int_equal(raw_int(path, "SELECT count(*) FROM message_recipients "
	    "WHERE message_id = ?1", "BBBBBBBBBBBBBBBBBBBBBB"), 2);
	assert_int_equal(raw_int(path, "SELECT count(*) FROM links "
	    "WHERE message_id = ?1", "BBBBBBBBBBBBBBBBBBBBBB"), 4);
	{
		char out[256];

		raw_col(path, "SELECT subject || ' ' || sasl_login || ' ' || "
		    "words FROM messages", NULL, out, sizeof(out));
		assert_string_equal(out, "Invoice alice opens clicks footer");
	}
	/* A second handle (as another process would) sees it. */
	st2 = open_ok(path, false);
	assert_int_equal(store_message_find(st2, "Q2", NULL, NULL, id, &sent), 1);
	store_close(st2);
	/* No queue id, no Message-ID: still stored. */
	m = message("CCCCCCCCCCCCCCCCCCCCCC", NULL, NULL, "bob@example.com");
	m.n_recipients = 0;
	m.recipient_hashes = NULL;
	m.n_links = 0;
	m.link_urls = NULL;
	assert_int_equal(store_message_insert(st, &m, STORE_URLS_FULL), 0);
	assert_int_equal(raw_int(path, "SELECT count(*) FROM messages", NULL), 2);
	/* Incomplete message: an error with a message, nothing written. */
	m = message("DDDDDDDDDDDDDDDDDDDDDD", "Q4", NULL, NULL);
	assert_int_equal(store_message_insert(st, &m, STORE_URLS_FULL), -1);
	assert_non_null(strstr(store_errmsg(st), "incomplete"));
	assert_int_equal(store_message_insert(st, NULL, STORE_URLS_FULL), -1);
	assert_int_equal(raw_int(path, "SELECT count(*) FROM messages", NULL), 2);
	store_close(st);
}

static void
test_insert_twice(void **state)
{
	const char *path = dbpath("twice.db");
	struct store_message m = message("EEEEEEEEEEEEEEEEEEEEEE", "Q5", NULL,
	    "a@example.com");
	struct store *st;

	(void)state;
	st = open_ok(path, true);
	assert_int_equal(store_message_insert(st, &m, STORE_URLS_PATH), 0);
	/* Same queue id, new id: a conflict, nothing written. */
	m.id = "FFFFFFFFFFFFFFFFFFFFFF";
	assert_int_equal(store_message_insert(st, &m, STORE_URLS_PATH), 1);
	/* Same id, new queue id: also a conflict. */
	m.id = "EEEEEEEEEEEEEEEEEEEEEE";
	m.queue_id = "Q6";
	assert_int_equal(store_message_insert(st, &m, STORE_URLS_PATH), 1);
	assert_int_equal(raw_int(path, "SELECT count(*) FROM messages", NULL), 1);
	assert_int_equal(raw_int(path, "SELECT count(*) FROM message_recipients",
	    NULL), 2);
	assert_int_equal(raw_int(path, "SELECT count(*) FROM links", NULL), 4);
	/* The handle is usable after the rolled-back transaction. */
	m.id = "GGGGGGGGGGGGGGGGGGGGGG";
	assert_int_equal(store_message_insert(st, &m, STORE_URLS_PATH), 0);
	assert_int_equal(raw_int(path, "SELECT count(*) FROM messages", NULL), 2);
	store_close(st);
}

static void
test_link_urls(void **state)
{
	const char *path = dbpath("links.db");
	struct store_message m;
	struct store *st;
	char out[512], *s;

	(void)state;
	st = open_ok(path, true);
	m = message("HHHHHHHHHHHHHHHHHHHHHH", "QF", NULL, "a@example.com");
	assert_int_equal(store_message_insert(st, &m, STORE_URLS_FULL), 0);
	m = message("IIIIIIIIIIIIIIIIIIIIII", "QP", NULL, "a@example.com");
	assert_int_equal(store_message_insert(st, &m, STORE_URLS_PATH), 0);
	m = message("JJJJJJJJJJJJJJJJJJJJJJ", "QN", NULL, "a@example.com");
	assert_int_equal(store_message_insert(st, &m, STORE_URLS_NONE), 0);
	store_close(st);

	raw_col(path, "SELECT num || '=' || coalesce(url, 'NULL') FROM links "
	    "WHERE message_id = ?1 ORDER BY num", "HHHHHHHHHHHHHHHHHHHHHH",
	    out, sizeof(out));
	assert_string_equal(out, "1=https://a.example/p/x?q=1&r=2#frag|"
	    "2=https://b.example/#top|3=NULL|4=https://c.example/plain");
	raw_col(path, "SELECT num || '=' || coalesce(url, 'NULL') FROM links "
	    "WHERE message_id = ?1 ORDER BY num", "IIIIIIIIIIIIIIIIIIIIII",
	    out, sizeof(out));
	assert_string_equal(out, "1=https://a.example/p/x|2=https://b.example/|"
	    "3=NULL|4=https://c.example/plain");
	raw_col(path, "SELECT num || '=' || coalesce(url, 'NULL') FROM links "
	    "WHERE message_id = ?1 ORDER BY num", "JJJJJJJJJJJJJJJJJJJJJJ",
	    out, sizeof(out));
	assert_string_equal(out, "1=NULL|2=NULL|3=NULL|4=NULL");

	s = store_reduce_url("http://x/a#b?c", STORE_URLS_PATH);
	assert_string_equal(s, "http://x/a");
	free(s);
	s = store_reduce_url("?q", STORE_URLS_PATH);
	assert_string_equal(s, "");
	free(s);
	s = store_reduce_url("http://x/a?b", STORE_URLS_FULL);
	assert_string_equal(s, "http://x/a?b");
	free(s);
	assert_null(store_reduce_url("http://x/a", STORE_URLS_NONE));
	assert_null(store_reduce_url(NULL, STORE_URLS_FULL));
}

static void
hex(const unsigned char *h, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", h[i]);
}

static void
test_recipient_hash(void **state)
{
	struct store_hash_key k, k2;
	unsigned char a[STORE_HASH_LEN], b[STORE_HASH_LEN];
	char hx[2 * STORE_HASH_LEN + 1];
	size_t i;

	(void)state;
	memset(&k, 0, sizeof(k));
	for (i = 0; i < 32; i++)
		k.key[i] = (unsigned char)i;
	k.len = 32;
	/* python3: hmac.new(bytes(range(32)), b'bob@example.com',
	 * 'sha256').hexdigest() */
	store_recipient_hash(&k, "bob@example.com", a);
	hex(a, sizeof(a), hx);
	assert_string_equal(hx, "efb36d74c2dc5e69902fc691ff37c14d"
	    "fdbbd19ee58cb44cfe8d268ccee757ed");
	store_recipient_hash(&k, "<Bob@EXAMPLE.com>", b);
	assert_memory_equal(a, b, sizeof(a));
	store_recipient_hash(&k, " \t< BOB@example.COM >\r\n", b);
	assert_memory_equal(a, b, sizeof(a));
	store_recipient_hash(&k, "bob@example.org", b);
	assert_memory_not_equal(a, b, sizeof(a));
	store_recipient_hash(&k, "bob@exa mple.com", b);
	assert_memory_not_equal(a, b, sizeof(a));
	/* Another key, or the same key bytes at another length. */
	k2 = k;
	k2.key[0] ^= 1;
	store_recipient_hash(&k2, "bob@example.com", b);
	assert_memory_not_equal(a, b, sizeof(a));
	k2 = k;
	k2.key[32] = 32;	/* (HMAC pads short keys with zero bytes) */
	k2.len = 33;
	store_recipient_hash(&k2, "bob@example.com", b);
	assert_memory_not_equal(a, b, sizeof(a));
	/* Long addresses cross the internal chunk boundary. */
	{
		char big[1000];

		memset(big, 'A', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		store_recipient_hash(&k, big, a);
		memset(big, 'a', sizeof(big) - 1);
		store_recipient_hash(&k, big, b);
		assert_memory_equal(a, b, sizeof(a));
	}
}

static void
test_optout(void **state)
{
	const char *path = dbpath("optout.db");
	unsigned char h1[STORE_HASH_LEN], h2[STORE_HASH_LEN];
	struct store *st;

	(void)state;
	hash_of(h1, 0x11);
	hash_of(h2, 0x22);
	st = open_ok(path, true);
	assert_int_equal(store_optout_exists(st, h1), 0);
	assert_int_equal(store_optout_add(st, h1, 1000, "KKKKKKKKKKKKKKKKKKKKKK"),
	    0);
	assert_int_equal(store_optout_add(st, h1, 2000, NULL), 0);
	assert_int_equal(store_optout_exists(st, h1), 1);
	assert_int_equal(store_optout_exists(st, h2), 0);
	assert_int_equal(raw_int(path, "SELECT count(*) FROM optouts", NULL), 1);
	/* The first opt-out's time is kept. */
	assert_int_equal(raw_int(path, "SELECT time FROM optouts", NULL), 1000);
	assert_int_equal(store_optout_exists(st, NULL), -1);
	assert_int_equal(store_optout_add(st, NULL, 1, NULL), -1);
	store_close(st);
}

static int
consent_row(void *arg, const struct store_consent *c)
{
	struct store_consent *out = arg;
	size_t i = 0;

	while (out[i].sender != NULL)
		i++;
	if (i >= 3)
		return -5;
	out[i] = *c;
	out[i].sender = strdup(c->sender);
	out[i].message_id = c->message_id ? strdup(c->message_id) : NULL;
	out[i].source = c->source ? strdup(c->source) : NULL;
	out[i].notice_version = strdup(c->notice_version);
	out[i].recipient_hash = NULL;
	return 0;
}

static void
consent_rows_free(struct store_consent *r)
{
	for (size_t i = 0; i < 4; i++) {
		free((char *)r[i].sender);
		free((char *)r[i].message_id);
		free((char *)r[i].source);
		free((char *)r[i].notice_version);
	}
	memset(r, 0, 4 * sizeof(*r));
}

static int
counts_row(void *arg, const struct store_consent_counts *c)
{
	struct store_consent_counts *out = arg;

	if (strcmp(c->sender, "alice@example.com") == 0)
		*out = (struct store_consent_counts){ NULL, c->asked, c->consented, c->withdrawn,
						      c->asked_consented };
	return 0;
}

static int
ask_row(void *arg, const char *sender, const char *message_id, long long time)
{
	(void)sender;
	(void)message_id;
	*(long long *)arg += time;
	return 0;
}

struct feed_rows {
	size_t n;
	char kinds[64];
	char last_text[64];	/* the last consent's source and notice version */
};

static int
feed_row(void *arg, const struct store_consent_item *it)
{
	struct feed_rows *f = arg;

	f->n++;
	strncat(f->kinds, it->kind, sizeof(f->kinds) - strlen(f->kinds) - 2);
	strcat(f->kinds, " ");
	assert_int_equal(it->recipient_hash[0], 0x32);
	if (strcmp(it->kind, "consent") == 0)
		snprintf(f->last_text, sizeof(f->last_text), "%s %s",
			 it->source ? it->source : "-", it->notice_version);
	else
		assert_string_equal(it->tracked, "opens");
	return 0;
}

/* consent=optin's queries (store/consent.c), the same on both backends:
 * asks and the interval, the consent page's lookups, consents with their
 * proof and replay, withdrawal by opt-out, the counts, forget. */
static void
test_consent(void **state)
{
	const char *path = dbpath("consent.db");
	const char *alice = "alice@example.com", *m1 = "CCCCCCCCCCCCCCCCCCCCCC";
	unsigned char h[3][STORE_HASH_LEN];
	struct store_consent rows[4];
	struct store_consent_ask ask;
	struct store_consent_counts cc = { 0 };
	size_t consented, unasked;
	long long consents, asks, sum = 0;
	char err[512];
	struct store *st;

	(void)state;
	memset(rows, 0, sizeof(rows));
	hash_of(h[0], 0x31);
	hash_of(h[1], 0x32);
	hash_of(h[2], 0x33);
	st = open_ok(path, true);
	assert_int_equal(store_consent_check(st, alice, (const unsigned char (*)[STORE_HASH_LEN])h,
					     2, 0, &consented, &unasked, err, sizeof(err)), 0);
	assert_int_equal(consented, 0);
	assert_int_equal(unasked, 2);
	/* The ask of message m1 to h0 and h1; a retry changes nothing. */
	for (int i = 0; i < 2; i++)
		assert_int_equal(store_consent_asked(st, m1, alice, "opens and link clicks",
						     (const unsigned char (*)[STORE_HASH_LEN])h, 2,
						     1000, err, sizeof(err)), 0);
	assert_int_equal(store_consent_check(st, alice, (const unsigned char (*)[STORE_HASH_LEN])h,
					     3, 500, &consented, &unasked, err, sizeof(err)), 0);
	assert_int_equal(consented, 0);
	assert_int_equal(unasked, 1);	/* h2 was never asked */
	assert_int_equal(store_consent_check(st, alice, (const unsigned char (*)[STORE_HASH_LEN])h,
					     2, 1001, &consented, &unasked, err, sizeof(err)), 0);
	assert_int_equal(unasked, 2);	/* asked before the interval began */
	assert_int_equal(store_consent_check(st, "bob@example.com",
					     (const unsigned char (*)[STORE_HASH_LEN])h, 2, 500,
					     &consented, &unasked, err, sizeof(err)), 0);
	assert_int_equal(unasked, 2);	/* per sender */
	assert_int_equal(store_consent_ask_find(st, m1, &ask, err, sizeof(err)), 1);
	assert_int_equal(ask.total, 2);
	assert_string_equal(ask.sender, alice);
	assert_string_equal(ask.tracked, "opens and link clicks");
	assert_int_equal(ask.time, 1000);
	assert_memory_equal(ask.first, h[0], STORE_HASH_LEN);
	store_consent_ask_free(&ask);
	assert_int_equal(store_consent_ask_find(st, "DDDDDDDDDDDDDDDDDDDDDD", &ask, err,
						sizeof(err)), 0);
	assert_int_equal(store_consent_ask_has(st, m1, h[1], err, sizeof(err)), 1);
	assert_int_equal(store_consent_ask_has(st, m1, h[2], err, sizeof(err)), 0);

	/* A consent with its proof; the same again (a replay) writes nothing;
	 * another proof is another row. */
	assert_int_equal(store_consent_add(st, h[0], alice, 2000, m1, NULL, "v1", err,
					   sizeof(err)), 0);
	assert_int_equal(store_consent_add(st, h[0], alice, 2050, m1, NULL, "v1", err,
					   sizeof(err)), 1);
	assert_int_equal(store_consent_add(st, h[0], alice, 2100, NULL, "contract 17", "v2", err,
					   sizeof(err)), 0);
	assert_int_equal(store_consent_check(st, alice, (const unsigned char (*)[STORE_HASH_LEN])h,
					     2, 500, &consented, &unasked, err, sizeof(err)), 0);
	assert_int_equal(consented, 1);
	assert_int_equal(unasked, 0);
	assert_int_equal(store_consent_list(st, alice, NULL, consent_row, rows, err, sizeof(err)), 0);
	assert_int_equal(rows[0].time, 2000);
	assert_string_equal(rows[0].message_id, m1);
	assert_null(rows[0].source);
	assert_string_equal(rows[0].notice_version, "v1");
	assert_false(rows[0].withdrawn);
	assert_string_equal(rows[1].source, "contract 17");
	assert_null(rows[1].message_id);
	assert_string_equal(rows[1].notice_version, "v2");
	assert_null(rows[2].sender);
	consent_rows_free(rows);
	assert_int_equal(store_consent_list(st, "bob@example.com", NULL, consent_row, rows, err,
					    sizeof(err)), 0);
	assert_null(rows[0].sender);

	/* The opt-out withdraws it; no consent is recorded after it. */
	assert_int_equal(store_optout_add(st, h[0], 3000, m1), 0);
	assert_int_equal(store_consent_check(st, alice, (const unsigned char (*)[STORE_HASH_LEN])h,
					     1, 500, &consented, &unasked, err, sizeof(err)), 0);
	assert_int_equal(consented, 0);
	assert_int_equal(store_consent_add(st, h[0], alice, 4000, m1, NULL, "v3", err,
					   sizeof(err)), 1);
	assert_int_equal(store_consent_list(st, NULL, h[0], consent_row, rows, err, sizeof(err)), 0);
	assert_true(rows[0].withdrawn);
	assert_int_equal(rows[0].withdrawn_time, 3000);
	assert_true(rows[1].withdrawn);
	assert_null(rows[2].sender);
	consent_rows_free(rows);
	assert_int_equal(store_consent_counts(st, NULL, counts_row, &cc, err, sizeof(err)), 0);
	assert_int_equal(cc.asked, 2);
	assert_int_equal(cc.consented, 1);
	assert_int_equal(cc.withdrawn, 1);
	assert_int_equal(cc.asked_consented, 1);
	assert_int_equal(store_consent_asks_of(st, h[1], ask_row, &sum, err, sizeof(err)), 0);
	assert_int_equal(sum, 1000);

	/* forget: consents and asks go, the withdrawal stays. */
	assert_int_equal(store_consent_forget(st, h[0], &consents, &asks, err, sizeof(err)), 0);
	assert_int_equal(consents, 2);
	assert_int_equal(asks, 1);
	assert_int_equal(store_consent_list(st, NULL, h[0], consent_row, rows, err, sizeof(err)), 0);
	assert_null(rows[0].sender);
	assert_int_equal(store_optout_exists(st, h[0]), 1);
	assert_int_equal(store_consent_ask_has(st, m1, h[1], err, sizeof(err)), 1);
	/* purge: asks before the cutoff go. */
	assert_int_equal(store_consent_purge(st, 1000, &asks, err, sizeof(err)), 0);
	assert_int_equal(asks, 0);
	assert_int_equal(store_consent_purge(st, 1001, &asks, err, sizeof(err)), 0);
	assert_int_equal(asks, 1);
	assert_int_equal(store_consent_ask_has(st, m1, h[1], err, sizeof(err)), 0);

	/* sync: a page of another host's consents and asks, once; none for
	 * the recipient who opted out here; the cursor must not have moved. */
	struct store_consent_item page[3] = {
		{ "consent", h[0], alice, 5000, m1, NULL, "v4", NULL },
		{ "consent", h[1], alice, 5000, NULL, "c9", "v5", NULL },
		{ "ask", h[1], alice, 4990, "EEEEEEEEEEEEEEEEEEEEEE", NULL, NULL, "opens" },
	};
	size_t c_added, a_added;
	long long cursor;
	assert_int_equal(store_sync_consents(st, "src", 0, page, 3, 5000, &c_added, &a_added, err,
					     sizeof(err)), 0);
	assert_int_equal(c_added, 1);
	assert_int_equal(a_added, 1);
	assert_int_equal(store_sync_consents(st, "src", 5000, page, 3, 5000, &c_added, &a_added,
					     err, sizeof(err)), 0);
	assert_int_equal(c_added + a_added, 0);
	assert_int_equal(store_sync_consents(st, "src", 0, page, 3, 6000, &c_added, &a_added, err,
					     sizeof(err)), -1);
	assert_int_equal(store_sync_cursor(st, "src", &cursor, err, sizeof(err)), 0);
	assert_int_equal(cursor, 5000);
	/* The feed: at or after a time, oldest first, at most the limit. */
	struct feed_rows fr = { 0 };
	assert_int_equal(store_consent_feed(st, 4990, 10, feed_row, &fr, err, sizeof(err)), 0);
	assert_int_equal(fr.n, 2);
	assert_string_equal(fr.kinds, "ask consent ");
	assert_string_equal(fr.last_text, "c9 v5");
	memset(&fr, 0, sizeof(fr));
	assert_int_equal(store_consent_feed(st, 4991, 10, feed_row, &fr, err, sizeof(err)), 0);
	assert_string_equal(fr.kinds, "consent ");
	memset(&fr, 0, sizeof(fr));
	assert_int_equal(store_consent_feed(st, 0, 1, feed_row, &fr, err, sizeof(err)), 0);
	assert_int_equal(fr.n, 1);
	/* forget --sender: that sender's consents and asks (any ASCII case). */
	assert_int_equal(store_consent_forget_sender(st, "ALICE@Example.com", &consents, &asks, err,
						     sizeof(err)), 0);
	assert_int_equal(consents, 1);
	assert_int_equal(asks, 1);
	assert_int_equal(store_optout_exists(st, h[0]), 1);
	store_close(st);
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

#define K32 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
#define K31 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg"
#define K65 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4" \
	    "vMDEyMzQ1Njc4OTo7PD0-P0A"

static void
key_fails(const char *text, mode_t mode, const char *want_tail)
{
	const char *path = tpath("hash.key");
	struct store_hash_key k;
	char err[512], want[512];

	write_file(path, text, mode);
	assert_int_equal(store_hash_key_load(path, &k, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s%s", path, want_tail);
	if (strcmp(err, want) != 0)
		fail_msg("for '%s'\n got '%s'\nwant '%s'", text, err, want);
	assert_int_equal(k.len, 0);
}

static void
test_hash_key_file(void **state)
{
	const char *path = tpath("hash.key");
	struct store_hash_key k;
	char err[512];

	(void)state;
	write_file(path, "# recipient hash key; never rotate\n\n  " K32 "  \n",
	    0600);
	assert_int_equal(store_hash_key_load(path, &k, err, sizeof(err)), 0);
	assert_int_equal(k.len, 32);
	assert_int_equal(k.key[0], 0);
	assert_int_equal(k.key[31], 31);
	write_file(path, K32, 0640);	/* no newline, group-readable */
	assert_int_equal(store_hash_key_load(path, &k, err, sizeof(err)), 0);
	assert_int_equal(k.len, 32);

	key_fails(K32 "\n", 0644, ": readable by other users (mode 0644); "
	    "chmod 600 or 640 it");
	key_fails("# only a comment\n\n", 0600, ": no key");
	key_fails("", 0600, ": no key");
	key_fails("# c\n" K31 "\n", 0600,
	    ":2: key is too short: 31 bytes, expected 32 to 64");
	key_fails(K65 "\n", 0600,
	    ":1: key is too long: expected 32 to 64 bytes");
	key_fails(K32 "=\n", 0600,
	    ":1: bad key: expected unpadded base64url");
	key_fails(K32 " extra\n", 0600, ":1: extra text after the key");
	key_fails(K32 "\n#\n" K32 "\n", 0600,
	    ":3: a second key (the first is on line 1; the file holds one "
	    "key)");
	unlink(path);
	assert_int_equal(store_hash_key_load(path, &k, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot open: No such file"));
}

static void
test_null_handle(void **state)
{
	unsigned char h[STORE_HASH_LEN] = { 0 };
	struct store_message m = message("LLLLLLLLLLLLLLLLLLLLLL", "Q", NULL,
	    "a@example.com");
	char id[STORE_ID_LEN + 1];

	(void)state;
	assert_non_null(store_errmsg(NULL));
	assert_true(strlen(store_errmsg(NULL)) > 0);
	store_close(NULL);
	assert_int_equal(store_schema_version(NULL), -1);
	assert_int_equal(store_message_find(NULL, "Q", NULL, NULL, id, NULL), -1);
	assert_int_equal(store_message_insert(NULL, &m, STORE_URLS_PATH), -1);
	assert_int_equal(store_optout_exists(NULL, h), -1);
	assert_int_equal(store_optout_add(NULL, h, 1, NULL), -1);
}

/* A version 1 database (as the first release wrote it) is migrated to
 * the current version with its rows kept, the column of version 2 and the
 * table of version 3 present. */
static void
test_migrate_v1_to_v2(void **state)
{
	const char *path = tpath("v1.db");
	struct store *st;

	(void)state;
	SQLITE_ONLY();
	raw_exec(path,
	    "CREATE TABLE messages (id TEXT PRIMARY KEY, queue_id TEXT UNIQUE,"
	    " message_id_header TEXT, sender TEXT NOT NULL, sasl_login TEXT,"
	    " recipient_count INTEGER NOT NULL, sent INTEGER NOT NULL,"
	    " words TEXT NOT NULL, link_count INTEGER NOT NULL, subject TEXT);"
	    "CREATE TABLE message_recipients (message_id TEXT NOT NULL,"
	    " recipient_hash BLOB NOT NULL, PRIMARY KEY (message_id, recipient_hash))"
	    " WITHOUT ROWID;"
	    "CREATE TABLE links (message_id TEXT NOT NULL, num INTEGER NOT NULL,"
	    " url TEXT, PRIMARY KEY (message_id, num)) WITHOUT ROWID;"
	    "CREATE TABLE events (id INTEGER PRIMARY KEY, message_id TEXT NOT NULL,"
	    " kind TEXT NOT NULL, link INTEGER, time INTEGER NOT NULL, ip_masked TEXT,"
	    " client_class TEXT, verdict TEXT NOT NULL, dnt INTEGER NOT NULL DEFAULT 0);"
	    "CREATE TABLE optouts (recipient_hash BLOB PRIMARY KEY, time INTEGER NOT NULL,"
	    " message_id TEXT) WITHOUT ROWID;"
	    "INSERT INTO events (message_id, kind, time, verdict) VALUES ('m1', 'open', 5, 'human');"
	    "PRAGMA user_version = 1;");
	st = open_ok(path, false);
	assert_int_equal(store_schema_version(st), STORE_SCHEMA_VERSION);
	store_close(st);
	assert_int_equal(raw_int(path, "SELECT count(*) FROM events WHERE message_id = 'm1'", NULL), 1);
	assert_int_equal(raw_int(path, "SELECT count(*) FROM pragma_table_info('events')"
	    " WHERE name = 'recipient_hash'", NULL), 1);
	assert_int_equal(raw_int(path, "SELECT count(*) FROM sqlite_master"
	    " WHERE type = 'table' AND name = 'sync_state'", NULL), 1);
}

/* A version 3 database (schema as versions 1 to 3 made it, with rows) is
 * migrated to version 4: its rows are kept, events_message_time is replaced
 * by the covering events_report, the report's message indexes exist, and
 * queries that the report runs use them. */
static void
test_migrate_v3_to_v4(void **state)
{
	const char *path = tpath("v3.db");
	char got[512];
	struct store *st;

	(void)state;
	SQLITE_ONLY();
	raw_exec(path,
	    "CREATE TABLE messages (id TEXT PRIMARY KEY, queue_id TEXT UNIQUE,"
	    " message_id_header TEXT, sender TEXT NOT NULL, sasl_login TEXT,"
	    " recipient_count INTEGER NOT NULL, sent INTEGER NOT NULL,"
	    " words TEXT NOT NULL, link_count INTEGER NOT NULL, subject TEXT);"
	    "CREATE INDEX messages_sender_mid ON messages(sender, message_id_header);"
	    "CREATE INDEX messages_sent ON messages(sent);"
	    "CREATE TABLE message_recipients (message_id TEXT NOT NULL"
	    " REFERENCES messages(id) ON DELETE CASCADE, recipient_hash BLOB NOT NULL,"
	    " PRIMARY KEY (message_id, recipient_hash)) WITHOUT ROWID;"
	    "CREATE INDEX message_recipients_hash ON message_recipients(recipient_hash);"
	    "CREATE TABLE links (message_id TEXT NOT NULL REFERENCES messages(id)"
	    " ON DELETE CASCADE, num INTEGER NOT NULL, url TEXT,"
	    " PRIMARY KEY (message_id, num)) WITHOUT ROWID;"
	    "CREATE TABLE events (id INTEGER PRIMARY KEY, message_id TEXT NOT NULL,"
	    " kind TEXT NOT NULL CHECK (kind IN ('open', 'click', 'optout')), link INTEGER,"
	    " time INTEGER NOT NULL, ip_masked TEXT, client_class TEXT,"
	    " verdict TEXT NOT NULL, dnt INTEGER NOT NULL DEFAULT 0, recipient_hash BLOB);"
	    "CREATE INDEX events_message_time ON events(message_id, time);"
	    "CREATE TABLE optouts (recipient_hash BLOB PRIMARY KEY, time INTEGER NOT NULL,"
	    " message_id TEXT) WITHOUT ROWID;"
	    "CREATE TABLE sync_state (source TEXT PRIMARY KEY, cursor INTEGER NOT NULL);"
	    "INSERT INTO messages VALUES ('m1', 'Q1', '<1@x>', 'Alice@Example.COM', NULL,"
	    " 1, 100, 'opens', 1, NULL);"
	    "INSERT INTO messages VALUES ('m2', 'Q2', '<2@x>', 'bob@b@example.com', NULL,"
	    " 2, 200, 'opens', 0, 'hi');"
	    "INSERT INTO message_recipients VALUES ('m1', x'01');"
	    "INSERT INTO links VALUES ('m1', 1, 'https://a.example/');"
	    "INSERT INTO events (message_id, kind, link, time, verdict)"
	    " VALUES ('m1', 'open', NULL, 150, 'human'), ('m1', 'click', 1, 160, 'scanner');"
	    "INSERT INTO optouts VALUES (x'01', 170, 'm1');"
	    "INSERT INTO sync_state VALUES ('https://b.example', 7);"
	    "PRAGMA user_version = 3;");
	st = open_ok(path, false);
	assert_int_equal(store_schema_version(st), STORE_SCHEMA_VERSION);
	store_close(st);
	assert_int_equal(raw_int(path, "PRAGMA user_version", NULL), STORE_SCHEMA_VERSION);
	assert_int_equal(raw_int(path, "SELECT count(*) FROM messages", NULL), 2);
	assert_int_equal(raw_int(path, "SELECT count(*) FROM message_recipients", NULL), 1);
	assert_int_equal(raw_int(path, "SELECT count(*) FROM links", NULL), 1);
	assert_int_equal(raw_int(path, "SELECT count(*) FROM events", NULL), 2);
	assert_int_equal(raw_int(path, "SELECT count(*) FROM optouts", NULL), 1);
	assert_int_equal(raw_int(path, "SELECT cursor FROM sync_state", NULL), 7);
	raw_col(path, "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
	    " ORDER BY name", NULL, got, sizeof(got));
	assert_string_equal(got, "consent_asks_recipient|consent_asks_sender|consents_proof|"
	    "consents_sender|events_place|events_report|message_days_sent|"
	    "message_recipients_hash|messages_domain|messages_report|messages_sender_mid|"
	    "messages_sender_nocase|messages_sent");
	/* Events recorded before geoip_database existed have no place. */
	assert_int_equal(raw_int(path, "SELECT count(*) FROM events"
	    " WHERE country IS NULL AND city IS NULL", NULL), 2);
	raw_col(path, "PRAGMA integrity_check", NULL, got, sizeof(got));
	assert_string_equal(got, "ok");
	/* The indexes answer as the tables do: the domain is what follows
	 * the last '@', lower-cased. */
	raw_col(path, "SELECT id FROM messages INDEXED BY messages_domain WHERE"
	    " lower(substr(sender, length(rtrim(sender, replace(sender, '@', ''))) + 1))"
	    " = 'example.com' ORDER BY id", NULL, got, sizeof(got));
	assert_string_equal(got, "m1|m2");
	raw_col(path, "SELECT id FROM messages INDEXED BY messages_sender_nocase"
	    " WHERE sender = 'alice@example.com' COLLATE NOCASE", NULL, got, sizeof(got));
	assert_string_equal(got, "m1");
	assert_int_equal(raw_int(path, "SELECT count(*) FROM events INDEXED BY events_report"
	    " WHERE message_id = 'm1' AND kind = 'click' AND link = 1", NULL), 1);
}

struct seen {
	int n;
	long long last;
	char kinds[64];
};

static int
collect(void *arg, long long cursor, const struct store_event *e)
{
	struct seen *s = arg;

	s->n++;
	s->last = cursor;
	strncat(s->kinds, e->kind, sizeof(s->kinds) - strlen(s->kinds) - 2);
	strcat(s->kinds, " ");
	if (strcmp(e->kind, "optout") == 0)
		assert_non_null(e->recipient_hash);
	return 0;
}

static void
test_events(void **state)
{
	struct store *st = open_ok(dbpath("events.db"), true);
	unsigned char h1[STORE_HASH_LEN], h2[STORE_HASH_LEN], got[4][STORE_HASH_LEN];
	const unsigned char (*hashes)[STORE_HASH_LEN] = (const unsigned char (*)[STORE_HASH_LEN])got;
	size_t total;
	struct seen seen = { 0 };

	(void)state;
	memset(h1, 1, sizeof(h1));
	memset(h2, 2, sizeof(h2));
	memcpy(got[0], h1, sizeof(h1));
	memcpy(got[1], h2, sizeof(h2));
	struct store_message m = {
		.id = "AAAAAAAAAAAAAAAAAAAAAA", .queue_id = "Q1", .sender = "a@example.com",
		.sent = 100, .words = "opens", .recipient_hashes = hashes, .n_recipients = 2,
	};
	assert_int_equal(store_message_insert(st, &m, STORE_URLS_PATH), 0);
	assert_int_equal(store_message_recipients(st, m.id, got, 4, &total), 0);
	assert_int_equal(total, 2);
	assert_int_equal(store_message_recipients(st, "unknown", got, 4, &total), 0);
	assert_int_equal(total, 0);

	struct store_event ev[2] = {
		{ .message_id = m.id, .kind = "open", .time = 200, .ip_masked = "192.0.2.0/24",
		  .client_class = "outlook", .verdict = "human" },
		{ .message_id = m.id, .kind = "click", .link = 3, .time = 201, .verdict = "scanner",
		  .dnt = true },
	};
	assert_int_equal(store_events_insert(st, ev, 2), 0);
	assert_int_equal(store_message_opted_out(st, m.id), 0);
	assert_int_equal(store_optout_record(st, h2, 300, m.id), 0);
	assert_int_equal(store_message_opted_out(st, m.id), 1);
	/* A message this store never recorded, opted out from its page. */
	assert_int_equal(store_message_opted_out(st, "BBBBBBBBBBBBBBBBBBBBBB"), 0);
	assert_int_equal(store_optout_record(st, h1, 301, "BBBBBBBBBBBBBBBBBBBBBB"), 0);
	assert_int_equal(store_message_opted_out(st, "BBBBBBBBBBBBBBBBBBBBBB"), 1);

	assert_int_equal(store_events_after(st, 0, 100, collect, &seen), 0);
	assert_int_equal(seen.n, 4);
	assert_string_equal(seen.kinds, "open click optout optout ");
	long long last = seen.last;
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(store_events_after(st, last, 100, collect, &seen), 0);
	assert_int_equal(seen.n, 0);
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(store_events_after(st, 0, 1, collect, &seen), 0);
	assert_int_equal(seen.n, 1);
	store_close(st);
	assert_int_equal(raw_int(dbpath("events.db"), "SELECT dnt FROM events WHERE kind = 'click'", NULL), 1);
	assert_int_equal(raw_int(dbpath("events.db"), "SELECT count(*) FROM events WHERE ip_masked IS NULL", NULL), 3);
}

/* Every verdict the classifier gives, and some it never gives, for each
 * kind of event: which count as a person's (reports, webhooks). */
static const struct {
	const char *kind, *verdict;
	bool human;
} human_rules[] = {
	{ "open", "human", true },
	{ "open", "gmail-proxy", true },
	{ "open", "apple-mpp", false },
	{ "open", "prefetch", false },
	{ "open", "scanner", false },
	{ "open", "Human", false },
	{ "open", "", false },
	{ "click", "human", true },
	{ "click", "gmail-proxy", false },
	{ "click", "apple-mpp", false },
	{ "click", "prefetch", false },
	{ "click", "scanner", false },
	{ "click", "Human", false },
	{ "click", "", false },
	{ "optout", "human", false },
	{ "optout", "gmail-proxy", false },
	{ "optout", "apple-mpp", false },
	{ "optout", "prefetch", false },
	{ "optout", "scanner", false },
	{ "Open", "human", false },
	{ "", "human", false },
	{ NULL, "human", false },
	{ "open", NULL, false },
	{ "click", NULL, false },
};

static void
test_event_is_human(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(human_rules) / sizeof(human_rules[0]); i++) {
		bool got = store_event_is_human(human_rules[i].kind, human_rules[i].verdict);

		if (got != human_rules[i].human)
			fail_msg("%s %s: %d, expected %d", human_rules[i].kind ? human_rules[i].kind : "NULL",
				 human_rules[i].verdict ? human_rules[i].verdict : "NULL", got,
				 human_rules[i].human);
	}
	/* The table above knows every verdict the classifier can give. */
	for (int v = 0; v < VERDICT_COUNT; v++) {
		const char *name = verdict_name((enum verdict)v);
		int rows = 0;

		for (size_t i = 0; i < sizeof(human_rules) / sizeof(human_rules[0]); i++)
			rows += human_rules[i].verdict != NULL && human_rules[i].kind != NULL &&
			    strcmp(human_rules[i].verdict, name) == 0 &&
			    (strcmp(human_rules[i].kind, "open") == 0 ||
			    strcmp(human_rules[i].kind, "click") == 0 ||
			    strcmp(human_rules[i].kind, "optout") == 0);
		if (rows != 3)
			fail_msg("verdict %s has %d rows in human_rules, expected 3", name, rows);
	}
}

/* SQLite reads STORE_HUMAN_*_VERDICTS_SQL as store_event_is_human rules. */
static void
test_event_is_human_sql(void **state)
{
	sqlite3 *db;
	sqlite3_stmt *s;

	(void)state;
	if (pg_uri != NULL) {
		/* PostgreSQL reads the same lists the same way. */
		PGconn *c = PQconnectdb(pg_uri);
		assert_int_equal(PQstatus(c), CONNECTION_OK);
		for (size_t i = 0; i < sizeof(human_rules) / sizeof(human_rules[0]); i++) {
			const char *vals[2] = { human_rules[i].kind, human_rules[i].verdict };
			if (vals[0] == NULL || vals[1] == NULL)
				continue;
			PGresult *r = PQexecParams(c, "SELECT CASE $1::text WHEN 'open' THEN $2::text IN "
			    STORE_HUMAN_OPEN_VERDICTS_SQL " WHEN 'click' THEN $2::text IN "
			    STORE_HUMAN_CLICK_VERDICTS_SQL " ELSE false END", 2, NULL, vals, NULL, NULL, 0);
			assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
			if ((PQgetvalue(r, 0, 0)[0] == 't') != store_event_is_human(vals[0], vals[1]))
				fail_msg("PostgreSQL and C disagree on %s %s", vals[0], vals[1]);
			PQclear(r);
		}
		PQfinish(c);
		return;
	}
	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
	    "SELECT CASE ?1 WHEN 'open' THEN ?2 IN " STORE_HUMAN_OPEN_VERDICTS_SQL
	    " WHEN 'click' THEN ?2 IN " STORE_HUMAN_CLICK_VERDICTS_SQL " ELSE 0 END",
	    -1, &s, NULL), SQLITE_OK);
	for (size_t i = 0; i < sizeof(human_rules) / sizeof(human_rules[0]); i++) {
		if (human_rules[i].kind == NULL || human_rules[i].verdict == NULL)
			continue;	/* the columns are NOT NULL */
		sqlite3_bind_text(s, 1, human_rules[i].kind, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, human_rules[i].verdict, -1, SQLITE_STATIC);
		assert_int_equal(sqlite3_step(s), SQLITE_ROW);
		if (sqlite3_column_int(s, 0) != store_event_is_human(human_rules[i].kind,
		    human_rules[i].verdict))
			fail_msg("SQL and C disagree on %s %s", human_rules[i].kind,
				 human_rules[i].verdict);
		sqlite3_reset(s);
	}
	sqlite3_finalize(s);
	sqlite3_close(db);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_create),
		cmocka_unit_test(test_reopen_keeps_data),
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_newer_version_refused),
		cmocka_unit_test(test_migrate_from_zero),
		cmocka_unit_test(test_migrate_v1_to_v2),
		cmocka_unit_test(test_migrate_v3_to_v4),
		cmocka_unit_test(test_events),
		cmocka_unit_test(test_insert_find),
		cmocka_unit_test(test_insert_twice),
		cmocka_unit_test(test_link_urls),
		cmocka_unit_test(test_recipient_hash),
		cmocka_unit_test(test_optout),
		cmocka_unit_test(test_consent),
		cmocka_unit_test(test_hash_key_file),
		cmocka_unit_test(test_null_handle),
		cmocka_unit_test(test_event_is_human),
		cmocka_unit_test(test_event_is_human_sql),
	};

	pg_uri = getenv("STORE_TEST_PG_URI");
	if (pg_uri != NULL && *pg_uri == '\0')
		pg_uri = NULL;
	return cmocka_run_group_tests(tests, setup, teardown);
}
