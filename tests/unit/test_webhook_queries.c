/* Unit tests of store/webhook_queries.c against a real SQLite file in a
 * temporary directory: a message's sender, the count of a person's opens
 * and clicks that decides a webhook's "first", a link's stored URL, and
 * notify=mail's notice and claim. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store.h"

static char tmpdir[] = "/tmp/test_webhook_queries.XXXXXX";
static char dbpath[sizeof(tmpdir) + 16];

static const char MSG[] = "AAAAAAAAAAAAAAAAAAAAAA";
static const char OTHER[] = "BBBBBBBBBBBBBBBBBBBBBB";

/* A fresh database with MSG (sender, header, three links) and OTHER
 * (no Message-ID header), stored with link URLs reduced per mode. */
static struct store *
fresh_store(enum store_link_urls mode)
{
	static const char *const links[] = {
		"https://a.example/p?q=1", "https://b.example/", "https://c.example/x#f",
	};
	unsigned char hash[1][STORE_HASH_LEN];
	struct store *st = NULL;
	char err[512];

	unlink(dbpath);
	memset(hash, 7, sizeof(hash));
	if (store_open(dbpath, true, 2000, &st, err, sizeof(err)) != 0)
		fail_msg("store_open: %s", err);
	struct store_message m = {
		.id = MSG, .queue_id = "Q1", .message_id_header = "<1@example.com>",
		.sender = "alice@example.com", .sent = 100, .words = "opens clicks",
		.recipient_hashes = (const unsigned char (*)[STORE_HASH_LEN])hash, .n_recipients = 1,
		.link_urls = links, .n_links = 3,
	};
	assert_int_equal(store_message_insert(st, &m, mode), 0);
	struct store_message o = {
		.id = OTHER, .queue_id = "Q2", .sender = "bob@example.com", .sent = 100,
		.words = "opens",
	};
	assert_int_equal(store_message_insert(st, &o, mode), 0);
	return st;
}

static void
add_event(struct store *st, const char *msg, const char *kind, unsigned link,
	  const char *verdict, bool dnt)
{
	struct store_event e = {
		.message_id = msg, .kind = kind, .link = link, .time = 200, .verdict = verdict,
		.dnt = dnt,
	};
	assert_int_equal(store_events_insert(st, &e, 1), 0);
}

static int
setup(void **state)
{
	(void)state;
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(dbpath, sizeof(dbpath), "%s/w.db", tmpdir);
	return 0;
}

static int
teardown(void **state)
{
	char p[sizeof(dbpath) + 8];

	(void)state;
	unlink(dbpath);
	snprintf(p, sizeof(p), "%s-wal", dbpath);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", dbpath);
	unlink(p);
	return rmdir(tmpdir);
}

static void
test_message_sender(void **state)
{
	struct store *st = fresh_store(STORE_URLS_PATH);
	char *sender, *hdr;

	(void)state;
	assert_int_equal(store_message_sender(st, MSG, &sender, &hdr), 1);
	assert_string_equal(sender, "alice@example.com");
	assert_string_equal(hdr, "<1@example.com>");
	free(sender);
	free(hdr);
	/* No Message-ID header stored: found, header NULL. */
	assert_int_equal(store_message_sender(st, OTHER, &sender, &hdr), 1);
	assert_string_equal(sender, "bob@example.com");
	assert_null(hdr);
	free(sender);
	/* Unknown here (another host's message, or purged). */
	assert_int_equal(store_message_sender(st, "CCCCCCCCCCCCCCCCCCCCCC", &sender, &hdr), 0);
	assert_null(sender);
	assert_null(hdr);
	store_close(st);
}

static void
test_human_events_count(void **state)
{
	struct store *st = fresh_store(STORE_URLS_PATH);

	(void)state;
	assert_int_equal(store_human_events_count(st, MSG, "open", 0), 0);
	assert_int_equal(store_human_events_count(st, MSG, "click", 1), 0);
	/* Machines' events and do-not-track events never make a first. */
	add_event(st, MSG, "open", 0, "apple-mpp", false);
	add_event(st, MSG, "open", 0, "prefetch", false);
	add_event(st, MSG, "open", 0, "human", true);
	add_event(st, MSG, "click", 1, "scanner", false);
	add_event(st, MSG, "click", 1, "gmail-proxy", false);	/* an open's verdict only */
	assert_int_equal(store_human_events_count(st, MSG, "open", 0), 0);
	assert_int_equal(store_human_events_count(st, MSG, "click", 1), 0);
	/* A person's: "human", and for opens Google's proxy too. */
	add_event(st, MSG, "open", 0, "human", false);
	assert_int_equal(store_human_events_count(st, MSG, "open", 0), 1);
	add_event(st, MSG, "open", 0, "gmail-proxy", false);
	assert_int_equal(store_human_events_count(st, MSG, "open", 0), 2);
	/* Clicks count per link; opens ignore the link argument. */
	add_event(st, MSG, "click", 2, "human", false);
	assert_int_equal(store_human_events_count(st, MSG, "click", 1), 0);
	assert_int_equal(store_human_events_count(st, MSG, "click", 2), 1);
	assert_int_equal(store_human_events_count(st, MSG, "open", 2), 2);
	/* notify=mail's count: only the events of an earlier second (all of
	 * these are at 200). */
	assert_int_equal(store_human_events_before(st, MSG, "open", 0, 200), 0);
	assert_int_equal(store_human_events_before(st, MSG, "open", 0, 201), 2);
	assert_int_equal(store_human_events_before(st, MSG, "click", 2, 200), 0);
	assert_int_equal(store_human_events_before(st, MSG, "click", 2, 201), 1);
	assert_int_equal(store_human_events_before(st, MSG, "click", 1, 201), 0);
	assert_int_equal(store_human_events_before(st, MSG, "optout", 0, 201), -1);
	/* Per message. */
	assert_int_equal(store_human_events_count(st, OTHER, "open", 0), 0);
	/* Opt-outs and unknown kinds are not counted: an error. */
	assert_int_equal(store_human_events_count(st, MSG, "optout", 0), -1);
	assert_int_equal(store_human_events_count(st, MSG, NULL, 0), -1);
	store_close(st);
}

static void
test_link_url(void **state)
{
	struct store *st = fresh_store(STORE_URLS_PATH);
	char *url;

	(void)state;
	/* As stored: path mode drops query and fragment. */
	assert_int_equal(store_link_url(st, MSG, 1, &url), 1);
	assert_string_equal(url, "https://a.example/p");
	free(url);
	assert_int_equal(store_link_url(st, MSG, 3, &url), 1);
	assert_string_equal(url, "https://c.example/x");
	free(url);
	/* No such link, or no such message. */
	assert_int_equal(store_link_url(st, MSG, 4, &url), 0);
	assert_null(url);
	assert_int_equal(store_link_url(st, OTHER, 1, &url), 0);
	assert_null(url);
	store_close(st);

	/* store_link_urls = none: the link is there, its URL is not. */
	st = fresh_store(STORE_URLS_NONE);
	assert_int_equal(store_link_url(st, MSG, 2, &url), 1);
	assert_null(url);
	store_close(st);
}

static void
test_errors(void **state)
{
	struct store *st = fresh_store(STORE_URLS_PATH);
	char *a = (char *)1, *b = (char *)1;

	(void)state;
	/* A NULL handle is refused, and the outputs are cleared. */
	assert_int_equal(store_message_sender(NULL, MSG, &a, &b), -1);
	assert_null(a);
	assert_null(b);
	assert_int_equal(store_human_events_count(NULL, MSG, "open", 0), -1);
	assert_int_equal(store_link_url(NULL, MSG, 1, &a), -1);
	/* A database error leaves "PATH: what: reason" for store_errmsg:
	 * here the tables are gone (dropped by another connection). */
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA foreign_keys = OFF; DROP TABLE events;"
				      " DROP TABLE links; DROP TABLE message_recipients;"
				      " DROP TABLE messages", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(store_message_sender(st, MSG, &a, &b), -1);
	assert_null(a);
	assert_non_null(strstr(store_errmsg(st), dbpath));
	assert_non_null(strstr(store_errmsg(st), "sender of a message: no such table: messages"));
	assert_int_equal(store_human_events_count(st, MSG, "click", 1), -1);
	assert_non_null(strstr(store_errmsg(st), "events of a message: no such table: events"));
	assert_int_equal(store_link_url(st, MSG, 1, &a), -1);
	assert_null(a);
	assert_non_null(strstr(store_errmsg(st), "link of a message: no such table: links"));
	store_close(st);
}

/* notify=mail: what a "Read:" mail names, and the claim that keeps it to
 * one per message and link: a second handle on the file (another beacon,
 * or this one after a restart) finds it taken; the claim goes with the
 * message when that is purged. */
static void
test_notification_claim(void **state)
{
	struct store *st = fresh_store(STORE_URLS_FULL), *again = NULL;
	struct store_notice n;
	char err[512];

	(void)state;
	assert_int_equal(store_message_notice(st, MSG, &n), 1);
	assert_string_equal(n.sender, "alice@example.com");
	assert_null(n.subject);
	assert_int_equal(n.sent, 100);
	assert_int_equal(n.recipients, 1);
	store_notice_free(&n);
	assert_null(n.sender);
	assert_int_equal(store_message_notice(st, "CCCCCCCCCCCCCCCCCCCCCC", &n), 0);
	assert_null(n.sender);

	if (store_open(dbpath, false, 2000, &again, err, sizeof(err)) != 0)
		fail_msg("store_open: %s", err);
	assert_int_equal(store_notification_claim(st, MSG, 0, 300), 1);
	assert_int_equal(store_notification_claim(again, MSG, 0, 301), 0);
	assert_int_equal(store_notification_claim(st, MSG, 0, 302), 0);
	assert_int_equal(store_notification_claim(again, MSG, 2, 303), 1);
	assert_int_equal(store_notification_claim(st, MSG, 2, 304), 0);
	assert_int_equal(store_notification_claim(st, OTHER, 0, 305), 1);
	/* Only a message known here: the claim names one. */
	assert_int_equal(store_notification_claim(st, "CCCCCCCCCCCCCCCCCCCCCC", 0, 306), -1);
	assert_non_null(strstr(store_errmsg(st), "a notification's record"));
	store_close(again);
	store_close(st);

	sqlite3 *db;
	sqlite3_stmt *q;
	assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA foreign_keys = ON; DELETE FROM messages WHERE id = '"
				      "AAAAAAAAAAAAAAAAAAAAAA'", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT group_concat(message_id || ':' || link)"
					    " FROM mail_notifications", -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(q, 0), "BBBBBBBBBBBBBBBBBBBBBB:0");
	sqlite3_finalize(q);
	sqlite3_close(db);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_notification_claim),
		cmocka_unit_test(test_message_sender),
		cmocka_unit_test(test_human_events_count),
		cmocka_unit_test(test_link_url),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
