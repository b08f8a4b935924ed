/* Unit tests of store/pg.c against a real PostgreSQL cluster that
 * tests/pg/run-store-pg.sh starts (PG_URI; PG_STOP and PG_START are shell
 * commands that stop it immediately and start it again): schema creation,
 * concurrent migration, refusals, messages, opt-outs, events in monthly
 * partitions, deadlines and reconnection, and no password in any message. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "pg.h"
#include "report.h"
#include "store.h"

static const char *uri;		/* the test database, fresh for each test */
static char test_uri[1024];
static const char *password;

/* ---- a second, independent connection to look at what is stored ---- */

static PGconn *
raw_connect(const char *u)
{
	PGconn *c = PQconnectdb(u);

	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("raw connect: %s", PQerrorMessage(c));
	return c;
}

static void
raw_exec(const char *u, const char *sql)
{
	PGconn *c = raw_connect(u);
	PGresult *r = PQexec(c, sql);

	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
}

/* The first column of the first row as an integer (-999 when no row). */
static long long
raw_int(const char *sql)
{
	PGconn *c = raw_connect(test_uri);
	PGresult *r = PQexec(c, sql);
	long long v = -999;

	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(c));
	if (PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
		v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	PQfinish(c);
	return v;
}

/* Each test gets a database of its own: "mb_N", created from the server's
 * own database by the superuser of PG_URI. */
static int
setup_db(void **state)
{
	static int n;
	char sql[128], *q;

	(void)state;
	snprintf(sql, sizeof(sql), "CREATE DATABASE mb_%d", ++n);
	raw_exec(uri, sql);
	/* postgresql://user:pw@/mailbeacon?host=... -> .../mb_N?host=... */
	if ((q = strstr(uri, "/mailbeacon?")) == NULL)
		fail_msg("PG_URI does not name the database mailbeacon");
	snprintf(test_uri, sizeof(test_uri), "%.*s/mb_%d%s", (int)(q - uri), uri, n,
		 q + strlen("/mailbeacon"));
	return 0;
}

static struct pgstore *
open_ok(bool create)
{
	struct pgstore *st = NULL;
	char err[1024];

	if (pgstore_open(test_uri, NULL, create, 5000, &st, err, sizeof(err)) != 0)
		fail_msg("pgstore_open: %s", err);
	assert_non_null(st);
	return st;
}

static void
no_password_in(const char *text)
{
	if (password != NULL && *password != '\0' && strstr(text, password) != NULL)
		fail_msg("the password appears in: %s", text);
}

static void
hash_of(unsigned char out[STORE_HASH_LEN], int n)
{
	memset(out, n, STORE_HASH_LEN);
}

/* ---- tests ---- */

static void
test_display_hides_password(void **state)
{
	char d[256];

	(void)state;
	assert_true(pgstore_is_uri("postgresql://u:p@h/db"));
	assert_true(pgstore_is_uri("postgres://h/db"));
	assert_false(pgstore_is_uri("/var/lib/mailbeacon/mailbeacon.db"));
	assert_false(pgstore_is_uri("sqlite:/x.db"));
	assert_false(pgstore_is_uri(NULL));
	pgstore_display("postgresql://alice:s3cr3t-pw@db.example.net:5433/mb", d, sizeof(d));
	assert_string_equal(d, "postgresql database mb on db.example.net:5433 as alice");
	pgstore_display("postgresql:///mb?host=/run/pg&password=s3cr3t-pw&user=bob", d, sizeof(d));
	assert_string_equal(d, "postgresql database mb on /run/pg as bob");
	pgstore_display("postgresql://alice:s3cr3t-pw@[bad", d, sizeof(d));
	assert_null(strstr(d, "s3cr3t-pw"));
	pgstore_display(uri, d, sizeof(d));
	no_password_in(d);
}

static void
test_create_and_reopen(void **state)
{
	(void)state;
	struct pgstore *st = open_ok(true);

	assert_int_equal(pgstore_schema_version(st), PGSTORE_SCHEMA_VERSION);
	assert_int_equal(raw_int("SELECT count(*) FROM mailbeacon_schema"), 1);
	/* This month's and next month's partitions exist. */
	assert_true(raw_int("SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
			    " WHERE i.inhparent = 'events'::regclass AND c.relname LIKE 'events_y%'") >= 2);
	pgstore_close(st);
	st = open_ok(false);
	assert_int_equal(pgstore_schema_version(st), PGSTORE_SCHEMA_VERSION);
	pgstore_close(st);
}

static void
test_refusals(void **state)
{
	struct pgstore *st = (struct pgstore *)1;
	char err[1024];

	(void)state;
	/* No schema and not allowed to create it. */
	assert_int_equal(pgstore_open(test_uri, NULL, false, 5000, &st, err, sizeof(err)), -1);
	assert_null(st);
	assert_non_null(strstr(err, "no mailbeacon schema"));
	/* Someone else's tables. */
	raw_exec(test_uri, "CREATE TABLE messages (x integer)");
	assert_int_equal(pgstore_open(test_uri, NULL, true, 5000, &st, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a mailbeacon database"));
	raw_exec(test_uri, "DROP TABLE messages");
	/* A schema from the future. */
	st = open_ok(true);
	pgstore_close(st);
	raw_exec(test_uri, "UPDATE mailbeacon_schema SET version = 99");
	assert_int_equal(pgstore_open(test_uri, NULL, true, 5000, &st, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "schema version 99 is newer than this program"));
	no_password_in(err);
	/* A wrong password: libpq's reason, not the password. */
	char bad[1100];
	const char *at = strchr(test_uri + strlen("postgresql://"), '@');
	assert_non_null(at);
	snprintf(bad, sizeof(bad), "postgresql://mbtest:wrong-pw-123@%s", at + 1);
	assert_int_equal(pgstore_open(bad, NULL, true, 5000, &st, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "password authentication failed"));
	assert_null(strstr(err, "wrong-pw-123"));
	/* No server at that socket: a clear error, quickly. */
	time_t t0 = time(NULL);
	assert_int_equal(pgstore_open("postgresql://u:zz-secret@/mb?host=/nonexistent-dir", NULL,
				      true, 2000, &st, err, sizeof(err)), -1);
	assert_true(time(NULL) - t0 <= 3);
	assert_non_null(strstr(err, "cannot connect"));
	assert_null(strstr(err, "zz-secret"));
	assert_int_equal(pgstore_open("/tmp/not-a-uri.db", NULL, true, 2000, &st, err, sizeof(err)), -1);
}

struct opener {
	int rc;
	char err[1024];
};

static void *
open_concurrently(void *arg)
{
	struct opener *o = arg;
	struct pgstore *st = NULL;

	o->rc = pgstore_open(test_uri, NULL, true, 10000, &st, o->err, sizeof(o->err));
	pgstore_close(st);
	return NULL;
}

/* Several hosts starting at once on an empty database: one creates the
 * schema, the others wait on the advisory lock and find it done. */
static void
test_concurrent_create(void **state)
{
	pthread_t t[6];
	struct opener o[6];

	(void)state;
	for (int i = 0; i < 6; i++)
		assert_int_equal(pthread_create(&t[i], NULL, open_concurrently, &o[i]), 0);
	for (int i = 0; i < 6; i++) {
		pthread_join(t[i], NULL);
		if (o[i].rc != 0)
			fail_msg("opener %d: %s", i, o[i].err);
	}
	assert_int_equal(raw_int("SELECT version FROM mailbeacon_schema"), PGSTORE_SCHEMA_VERSION);
	assert_int_equal(raw_int("SELECT count(*) FROM mailbeacon_schema"), 1);
}

static void
test_messages(void **state)
{
	struct pgstore *st = open_ok(true);
	unsigned char h[3][STORE_HASH_LEN], got[4][STORE_HASH_LEN];
	const char *urls[] = { "https://example.com/a?x=1#f", "https://example.com/b", NULL,
			       "https://example.com/d" };
	char id[STORE_ID_LEN + 1];
	long long sent = 0;
	size_t total;

	(void)state;
	hash_of(h[0], 1);
	hash_of(h[1], 2);
	hash_of(h[2], 1);	/* the same recipient twice */
	struct store_message m = {
		.id = "BBBBBBBBBBBBBBBBBBBBBB", .queue_id = "Q2", .message_id_header = "<m2@x>",
		.sender = "bob@example.com", .sasl_login = "alice", .sent = 1700000000,
		.words = "opens clicks footer",
		.recipient_hashes = (const unsigned char (*)[STORE_HASH_LEN])h, .n_recipients = 3,
		.link_urls = urls, .n_links = 4, .subject = "Invoice",
	};
	assert_int_equal(pgstore_message_find(st, "Q2", "<m2@x>", "bob@example.com", id, &sent), 0);
	assert_int_equal(pgstore_message_insert(st, &m, STORE_URLS_PATH), 0);
	assert_int_equal(pgstore_message_find(st, "Q2", NULL, NULL, id, &sent), 1);
	assert_string_equal(id, "BBBBBBBBBBBBBBBBBBBBBB");
	assert_int_equal(sent, 1700000000);
	sent = 0;
	assert_int_equal(pgstore_message_find(st, "Q-new", "<m2@x>", "bob@example.com", id, &sent), 1);
	assert_int_equal(sent, 1700000000);
	assert_int_equal(pgstore_message_find(st, NULL, "<m2@x>", "eve@example.com", id, &sent), 0);
	assert_int_equal(raw_int("SELECT recipient_count FROM messages"), 3);
	assert_int_equal(raw_int("SELECT count(*) FROM message_recipients"), 2);
	assert_int_equal(raw_int("SELECT count(*) FROM links"), 4);
	assert_int_equal(raw_int("SELECT count(*) FROM links WHERE url = 'https://example.com/a'"), 1);
	assert_int_equal(raw_int("SELECT count(*) FROM links WHERE url IS NULL"), 1);
	assert_int_equal(raw_int("SELECT count(*) FROM messages WHERE subject = 'Invoice'"
				 " AND sasl_login = 'alice'"), 1);
	/* Same queue id again: a conflict (1), nothing written; then usable. */
	m.id = "FFFFFFFFFFFFFFFFFFFFFF";
	assert_int_equal(pgstore_message_insert(st, &m, STORE_URLS_PATH), 1);
	assert_int_equal(raw_int("SELECT count(*) FROM messages"), 1);
	m.id = "GGGGGGGGGGGGGGGGGGGGGG";
	m.queue_id = "Q3";
	assert_int_equal(pgstore_message_insert(st, &m, STORE_URLS_FULL), 0);
	assert_int_equal(raw_int("SELECT count(*) FROM links WHERE url = 'https://example.com/a?x=1#f'"), 1);
	/* Incomplete: an error with a message. */
	m.sender = NULL;
	assert_int_equal(pgstore_message_insert(st, &m, STORE_URLS_FULL), -1);
	assert_non_null(strstr(pgstore_errmsg(st), "incomplete"));
	/* Recipients. */
	assert_int_equal(pgstore_message_recipients(st, "BBBBBBBBBBBBBBBBBBBBBB", got, 4, &total), 0);
	assert_int_equal(total, 2);
	assert_true(memcmp(got[0], h[0], STORE_HASH_LEN) == 0 || memcmp(got[1], h[0], STORE_HASH_LEN) == 0);
	assert_int_equal(pgstore_message_recipients(st, "unknown", got, 4, &total), 0);
	assert_int_equal(total, 0);
	assert_int_equal(pgstore_message_has_recipient(st, "BBBBBBBBBBBBBBBBBBBBBB", h[1]), 1);
	hash_of(h[1], 9);
	assert_int_equal(pgstore_message_has_recipient(st, "BBBBBBBBBBBBBBBBBBBBBB", h[1]), 0);
	pgstore_close(st);
}

struct seen {
	int n;
	long long last;
	char kinds[256];
	int with_hash;
};

static int
collect(void *arg, long long cursor, const struct store_event *e)
{
	struct seen *s = arg;

	s->n++;
	s->last = cursor;
	size_t len = strlen(s->kinds);
	if (len + strlen(e->kind) + 2 <= sizeof(s->kinds))
		snprintf(s->kinds + len, sizeof(s->kinds) - len, "%s ", e->kind);
	if (e->recipient_hash != NULL && e->recipient_hash[0] == 2)
		s->with_hash++;
	return 0;
}

static void
test_events_and_optouts(void **state)
{
	struct pgstore *st = open_ok(true);
	unsigned char h1[STORE_HASH_LEN], h2[STORE_HASH_LEN];
	const unsigned char (*hashes)[STORE_HASH_LEN];
	unsigned char both[2][STORE_HASH_LEN];
	struct seen seen = { 0 };

	(void)state;
	hash_of(h1, 1);
	hash_of(h2, 2);
	memcpy(both[0], h1, STORE_HASH_LEN);
	memcpy(both[1], h2, STORE_HASH_LEN);
	hashes = (const unsigned char (*)[STORE_HASH_LEN])both;
	struct store_message m = {
		.id = "AAAAAAAAAAAAAAAAAAAAAA", .queue_id = "Q1", .sender = "a@example.com",
		.sent = 100, .words = "opens", .recipient_hashes = hashes, .n_recipients = 2,
	};
	assert_int_equal(pgstore_message_insert(st, &m, STORE_URLS_PATH), 0);
	/* Two months long ago (partitions made for them) and a batch of
	 * 2500 (three INSERT statements, one transaction). */
	struct store_event ev[2] = {
		{ .message_id = m.id, .kind = "open", .time = 1704067200 /* 2024-01-01 */,
		  .ip_masked = "192.0.2.0/24", .client_class = "outlook", .verdict = "human" },
		{ .message_id = m.id, .kind = "click", .link = 3, .time = 1706745600 /* 2024-02-01 */,
		  .verdict = "scanner", .dnt = true },
	};
	assert_int_equal(pgstore_events_insert(st, ev, 2), 0);
	assert_int_equal(raw_int("SELECT count(*) FROM events_y2024m01"), 1);
	assert_int_equal(raw_int("SELECT count(*) FROM events_y2024m02"), 1);
	assert_int_equal(raw_int("SELECT dnt FROM events WHERE kind = 'click'"), 1);
	assert_int_equal(raw_int("SELECT link FROM events WHERE kind = 'click'"), 3);
	assert_int_equal(raw_int("SELECT count(*) FROM events WHERE link IS NULL"), 1);
	struct store_event *many = calloc(2500, sizeof(*many));
	assert_non_null(many);
	for (int i = 0; i < 2500; i++)
		many[i] = (struct store_event){ .message_id = m.id, .kind = "open",
						.time = 1704067200 + i, .verdict = "prefetch" };
	assert_int_equal(pgstore_events_insert(st, many, 2500), 0);
	free(many);
	assert_int_equal(raw_int("SELECT count(*) FROM events"), 2502);
	/* A rejected row rolls back its whole batch. */
	struct store_event bad[2] = {
		{ .message_id = m.id, .kind = "open", .time = 1704067200, .verdict = "human" },
		{ .message_id = m.id, .kind = "bogus", .time = 1704067200, .verdict = "human" },
	};
	assert_int_equal(pgstore_events_insert(st, bad, 2), -1);
	assert_non_null(strstr(pgstore_errmsg(st), "insert events"));
	assert_int_equal(raw_int("SELECT count(*) FROM events"), 2502);

	/* Opt-outs. */
	assert_int_equal(pgstore_message_opted_out(st, m.id), 0);
	assert_int_equal(pgstore_optout_exists(st, h2), 0);
	assert_int_equal(pgstore_optout_record(st, h2, 300, m.id), 0);
	assert_int_equal(pgstore_optout_exists(st, h2), 1);
	assert_int_equal(pgstore_message_opted_out(st, m.id), 1);
	assert_int_equal(pgstore_message_opted_out(st, "BBBBBBBBBBBBBBBBBBBBBB"), 0);
	assert_int_equal(pgstore_optout_record(st, h1, 301, "BBBBBBBBBBBBBBBBBBBBBB"), 0);
	assert_int_equal(pgstore_message_opted_out(st, "BBBBBBBBBBBBBBBBBBBBBB"), 1);
	assert_int_equal(pgstore_optout_add(st, h1, 5000, NULL), 0);	/* idempotent */
	assert_int_equal(raw_int("SELECT time FROM optouts WHERE recipient_hash = '\\x0101010101010101010101010101010101010101010101010101010101010101'"), 301);
	assert_int_equal(pgstore_optout_exists(st, NULL), -1);
	/* Any month gets its partition, even one long before 1970. */
	if (pgstore_optout_record(st, h1, -5000000000LL, m.id) != 0)
		fail_msg("opt-out in 1811: %s", pgstore_errmsg(st));
	assert_int_equal(raw_int("SELECT count(*) FROM events_y1811m07"), 1);
	assert_int_equal(raw_int("SELECT count(*) FROM events_default"), 0);

	/* The cursor. */
	assert_int_equal(pgstore_events_after(st, 0, 10000, collect, &seen), 0);
	assert_int_equal(seen.n, 2505);
	assert_int_equal(seen.with_hash, 1);	/* h2's opt-out; h1's are 0x01 */
	long long last = seen.last;
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(pgstore_events_after(st, last, 100, collect, &seen), 0);
	assert_int_equal(seen.n, 0);
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(pgstore_events_after(st, 0, 2, collect, &seen), 0);
	assert_int_equal(seen.n, 2);
	assert_string_equal(seen.kinds, "open click ");
	assert_int_equal(pgstore_write_probe(st), 0);
	pgstore_close(st);
}

/* The server stops (immediately) and starts again: calls fail with a
 * clear error, without waiting past the deadline, and the same handle
 * works again once the server is back. */
static void
test_restart(void **state)
{
	struct pgstore *st = open_ok(true);
	const char *stop = getenv("PG_STOP"), *start = getenv("PG_START");
	unsigned char h[STORE_HASH_LEN];

	(void)state;
	if (stop == NULL || start == NULL)
		fail_msg("PG_STOP and PG_START are not set (run through tests/pg/run-store-pg.sh)");
	hash_of(h, 7);
	assert_int_equal(pgstore_optout_add(st, h, 1, NULL), 0);
	assert_int_equal(system(stop), 0);
	time_t t0 = time(NULL);
	assert_int_equal(pgstore_optout_exists(st, h), -1);
	assert_int_equal(pgstore_connected(st), 0);
	no_password_in(pgstore_errmsg(st));
	assert_int_equal(pgstore_write_probe(st), -1);
	assert_true(time(NULL) - t0 <= 12);
	assert_int_equal(system(start), 0);
	/* During an outage the process tries the server once a second at
	 * most: the same handle finds it again within a few seconds. */
	int found = -1;
	for (int i = 0; i < 50 && found != 1; i++) {
		found = pgstore_optout_exists(st, h);
		if (found != 1)
			usleep(100 * 1000);
	}
	assert_int_equal(found, 1);
	assert_int_equal(pgstore_connected(st), 1);
	pgstore_close(st);
}

/* Purge drops the months wholly before the cutoff as partitions (the
 * catalog no longer has them) and deletes the rest by row; forget leaves
 * no row about the person in any partition. Through store.h, as the admin
 * command calls it. */
static void
test_purge_and_forget_partitions(void **state)
{
	struct store *st = NULL;
	char err[1024];
	unsigned char bob[STORE_HASH_LEN], carol[STORE_HASH_LEN];
	struct store_erase_counts c;

	(void)state;
	hash_of(bob, 0xb0);
	hash_of(carol, 0xca);
	if (store_open(test_uri, true, 5000, &st, err, sizeof(err)) != 0)
		fail_msg("store_open: %s", err);
	assert_true(store_is_pg(st));
	/* bob's message of January 2024 with events in January, February
	 * and March; carol's of March 2024. */
	const unsigned char (*h1)[STORE_HASH_LEN] = (const unsigned char (*)[STORE_HASH_LEN])bob;
	const unsigned char (*h2)[STORE_HASH_LEN] = (const unsigned char (*)[STORE_HASH_LEN])carol;
	struct store_message m1 = { .id = "M1MMMMMMMMMMMMMMMMMMMM", .queue_id = "Q1",
				    .sender = "a@example.com", .sent = 1704100000, .words = "opens",
				    .recipient_hashes = h1, .n_recipients = 1 };
	struct store_message m2 = { .id = "M2MMMMMMMMMMMMMMMMMMMM", .queue_id = "Q2",
				    .sender = "a@example.com", .sent = 1709500000, .words = "opens",
				    .recipient_hashes = h2, .n_recipients = 1 };
	assert_int_equal(store_message_insert(st, &m1, STORE_URLS_PATH), 0);
	assert_int_equal(store_message_insert(st, &m2, STORE_URLS_PATH), 0);
	struct store_event ev[] = {
		{ .message_id = m1.id, .kind = "open", .time = 1704200000, .verdict = "human" },
		{ .message_id = m1.id, .kind = "open", .time = 1704300000, .verdict = "human" },
		{ .message_id = m1.id, .kind = "open", .time = 1707000000, .verdict = "human" },
		{ .message_id = m1.id, .kind = "open", .time = 1709400000, .verdict = "human" },
		{ .message_id = m2.id, .kind = "open", .time = 1709400000, .verdict = "human" },
		{ .message_id = m2.id, .kind = "open", .time = 1709500000, .verdict = "human" },
	};
	assert_int_equal(store_events_insert(st, ev, 6), 0);
	assert_int_equal(raw_int("SELECT count(*) FROM pg_class WHERE relname IN"
				 " ('events_y2024m01', 'events_y2024m02', 'events_y2024m03')"), 3);

	/* forget bob: his message and its events go from every partition. */
	assert_int_equal(store_forget_recipient(st, bob, &c, err, sizeof(err)), 0);
	assert_int_equal(c.messages, 1);
	assert_int_equal(c.events, 4);
	assert_int_equal(raw_int("SELECT count(*) FROM events WHERE message_id = 'M1MMMMMMMMMMMMMMMMMMMM'"), 0);
	assert_int_equal(raw_int("SELECT count(*) FROM message_recipients WHERE recipient_hash ="
				 " '\\xb0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0'"), 0);
	assert_int_equal(raw_int("SELECT count(*) FROM events"), 2);

	/* Two more January and February events of carol's message, then a
	 * purge with the cutoff on 2024-03-02: January and February go as
	 * partitions, March stays, its rows before the cutoff deleted. */
	struct store_event more[] = {
		{ .message_id = m2.id, .kind = "open", .time = 1704200000, .verdict = "human" },
		{ .message_id = m2.id, .kind = "open", .time = 1707000000, .verdict = "human" },
		{ .message_id = m2.id, .kind = "open", .time = 1709300000, .verdict = "human" },
	};
	assert_int_equal(store_events_insert(st, more, 3), 0);
	assert_int_equal(store_purge(st, 1709337600 /* 2024-03-02 */, &c, err, sizeof(err)), 0);
	assert_int_equal(c.partitions_dropped, 2);
	assert_int_equal(c.events, 3);	/* two in dropped months, one in March */
	assert_int_equal(c.messages, 0);	/* carol's was sent on 2024-03-03 */
	assert_int_equal(raw_int("SELECT count(*) FROM pg_class WHERE relname IN"
				 " ('events_y2024m01', 'events_y2024m02')"), 0);
	assert_int_equal(raw_int("SELECT count(*) FROM pg_class WHERE relname = 'events_y2024m03'"), 1);
	assert_int_equal(raw_int("SELECT count(*) FROM events"), 2);
	assert_int_equal(raw_int("SELECT min(time) FROM events"), 1709400000);
	store_close(st);
}

/* notify=mail's record of the "Read:" mails sent, through the store's
 * facade as the beacon uses it: of two beacons on the database, the
 * first to claim a message's open (or a link's click) wins, the other
 * finds it taken; the record goes with the message when that is purged. */
static void
test_notification_claim(void **state)
{
	struct pgstore *pg = open_ok(true);
	struct config cfg = { .database = test_uri, .database_timeout = 5 };
	struct store *a = NULL, *b = NULL;
	struct store_notice n;
	unsigned char h[2][STORE_HASH_LEN];
	char err[1024];

	(void)state;
	hash_of(h[0], 1);
	hash_of(h[1], 2);
	struct store_message m = {
		.id = "NNNNNNNNNNNNNNNNNNNNNN", .queue_id = "QN", .sender = "alice@example.com",
		.sent = 1700000000, .words = "opens clicks footer",
		.recipient_hashes = (const unsigned char (*)[STORE_HASH_LEN])h, .n_recipients = 2,
		.subject = "Invoice",
	};
	assert_int_equal(pgstore_message_insert(pg, &m, STORE_URLS_PATH), 0);
	pgstore_close(pg);
	if (store_open_config(&cfg, STORE_FOR_WRITES, false, 5000, &a, err, sizeof(err)) != 0 ||
	    store_open_config(&cfg, STORE_FOR_WRITES, false, 5000, &b, err, sizeof(err)) != 0)
		fail_msg("store_open_config: %s", err);
	assert_int_equal(store_message_notice(a, m.id, &n), 1);
	assert_string_equal(n.sender, "alice@example.com");
	assert_string_equal(n.subject, "Invoice");
	assert_int_equal(n.sent, 1700000000);
	assert_int_equal(n.recipients, 2);
	store_notice_free(&n);
	assert_int_equal(store_message_notice(b, "XXXXXXXXXXXXXXXXXXXXXX", &n), 0);
	/* notify=mail's first: no person's event of an earlier second. */
	struct store_event ev[] = {
		{ .message_id = m.id, .kind = "open", .time = 1700000050, .verdict = "human" },
		{ .message_id = m.id, .kind = "click", .link = 3, .time = 1700000060,
		  .verdict = "human" },
		{ .message_id = m.id, .kind = "click", .link = 3, .time = 1700000070,
		  .verdict = "scanner" },
	};
	assert_int_equal(store_events_insert(a, ev, 3), 0);
	assert_int_equal(store_human_events_before(b, m.id, "open", 0, 1700000050), 0);
	assert_int_equal(store_human_events_before(b, m.id, "open", 0, 1700000051), 1);
	assert_int_equal(store_human_events_before(b, m.id, "click", 3, 1700000060), 0);
	assert_int_equal(store_human_events_before(b, m.id, "click", 3, 1700000099), 1);
	assert_int_equal(store_human_events_before(b, m.id, "click", 2, 1700000099), 0);
	assert_int_equal(store_notification_claim(a, m.id, 0, 1700000100), 1);
	assert_int_equal(store_notification_claim(b, m.id, 0, 1700000101), 0);
	assert_int_equal(store_notification_claim(b, m.id, 3, 1700000102), 1);
	assert_int_equal(store_notification_claim(a, m.id, 3, 1700000103), 0);
	assert_int_equal(store_notification_claim(a, "XXXXXXXXXXXXXXXXXXXXXX", 0, 1), -1);
	no_password_in(store_errmsg(a));
	store_close(a);
	store_close(b);
	assert_int_equal(raw_int("SELECT count(*) FROM mail_notifications"), 2);
	assert_int_equal(raw_int("SELECT time FROM mail_notifications WHERE link = 0"), 1700000100);
	raw_exec(test_uri, "DELETE FROM messages");
	assert_int_equal(raw_int("SELECT count(*) FROM mail_notifications"), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_display_hides_password, setup_db),
		cmocka_unit_test_setup(test_create_and_reopen, setup_db),
		cmocka_unit_test_setup(test_refusals, setup_db),
		cmocka_unit_test_setup(test_concurrent_create, setup_db),
		cmocka_unit_test_setup(test_messages, setup_db),
		cmocka_unit_test_setup(test_events_and_optouts, setup_db),
		cmocka_unit_test_setup(test_purge_and_forget_partitions, setup_db),
		cmocka_unit_test_setup(test_restart, setup_db),
		cmocka_unit_test_setup(test_notification_claim, setup_db),
	};

	if ((uri = getenv("PG_URI")) == NULL) {
		fprintf(stderr, "test_store_pg: PG_URI is not set (run tests/pg/run-store-pg.sh)\n");
		return 1;
	}
	password = getenv("PG_PASSWORD");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
