/* store/report: the queries of report, export, forget and purge. Each
 * function prepares its statements on the store's connection, binds every
 * value, and finalizes before it returns; the SQL below is constant text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "report.h"
#include "store.h"

/* ---- helpers ---- */

static int
dberr(sqlite3 *db, char *err, size_t errlen, const char *what)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s: %s", what, db ? sqlite3_errmsg(db) : "database not open");
	return -1;
}

static int
prepare(sqlite3 *db, const char *sql, sqlite3_stmt **s, char *err, size_t errlen)
{
	*s = NULL;
	if (db == NULL)
		return dberr(db, err, errlen, "query");
	if (sqlite3_prepare_v2(db, sql, -1, s, NULL) != SQLITE_OK) {
		*s = NULL;
		return dberr(db, err, errlen, "cannot prepare query");
	}
	return 0;
}

static int
bind_text(sqlite3_stmt *s, int i, const char *v)
{
	return v != NULL ? sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT) :
	    sqlite3_bind_null(s, i);
}

static const char *
col_text(sqlite3_stmt *s, int i)
{
	return (const char *)sqlite3_column_text(s, i);
}

static long long
col_ll(sqlite3_stmt *s, int i)
{
	return (long long)sqlite3_column_int64(s, i);
}

static bool
col_null(sqlite3_stmt *s, int i)
{
	return sqlite3_column_type(s, i) == SQLITE_NULL;
}

/* Runs constant SQL without results. */
static int
exec(sqlite3 *db, const char *sql, char *err, size_t errlen, const char *what)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return dberr(db, err, errlen, what);
	return 0;
}

/* ---- the report ---- */

/*
 * The filter of a report, parameters ?1..?6 (see bind_filter):
 *   ?1 sender ("a@b" exact but ASCII case-insensitive, or "@domain")
 *   ?2 since, ?3 until, ?4 the --message value without <>, ?5 with <>,
 *   ?6 one sender exactly (store_report_messages).
 */
#define FILTER \
	" (?1 IS NULL OR (substr(?1, 1, 1) = '@' AND length(m.sender) >= length(?1)" \
	"   AND lower(substr(m.sender, -length(?1))) = lower(?1))" \
	"  OR (substr(?1, 1, 1) <> '@' AND m.sender = ?1 COLLATE NOCASE))" \
	" AND (?2 IS NULL OR m.sent >= ?2) AND (?3 IS NULL OR m.sent < ?3)" \
	" AND (?4 IS NULL OR m.id = ?4 OR m.queue_id = ?4" \
	"  OR trim(m.message_id_header, ' ' || char(9, 10, 13)) IN (?4, ?5))" \
	" AND (?6 IS NULL OR m.sender = ?6)"

#define HUMAN_OPEN "e.kind = 'open' AND e.verdict IN ('human', 'gmail-proxy')"
#define MACHINE_OPEN "e.kind = 'open' AND e.verdict NOT IN ('human', 'gmail-proxy')"
#define HUMAN_CLICK "e.kind = 'click' AND e.verdict = 'human'"
#define SCANNER_CLICK "e.kind = 'click' AND e.verdict <> 'human'"

/* One row per message with its event counts. */
#define PER_MESSAGE \
	"SELECT m.id, m.queue_id, m.message_id_header, m.sender, m.subject," \
	"  m.sent, m.recipient_count, m.link_count," \
	"  count(CASE WHEN " HUMAN_OPEN " THEN 1 END) AS oh," \
	"  count(CASE WHEN " MACHINE_OPEN " THEN 1 END) AS om," \
	"  min(CASE WHEN " HUMAN_OPEN " THEN e.time END) AS first_open," \
	"  count(CASE WHEN " HUMAN_CLICK " THEN 1 END) AS ch," \
	"  count(CASE WHEN " SCANNER_CLICK " THEN 1 END) AS cs," \
	"  count(CASE WHEN e.kind = 'optout' THEN 1 END) AS oo," \
	"  max(e.time) AS last_event" \
	" FROM messages m LEFT JOIN events e ON e.message_id = m.id" \
	" WHERE" FILTER \
	" GROUP BY m.id"

#define AGGREGATE \
	" count(*), coalesce(sum(recipient_count), 0), coalesce(sum(oh), 0)," \
	" coalesce(sum(om), 0), coalesce(sum(oh > 0), 0), coalesce(sum(ch), 0)," \
	" coalesce(sum(cs), 0), coalesce(sum(ch > 0), 0), coalesce(sum(oo), 0)," \
	" min(sent), max(sent), max(last_event)"

static int
bind_filter(sqlite3_stmt *s, const struct report_filter *f, const char *only_sender)
{
	char *bare = NULL, *angle = NULL;
	int rc = SQLITE_OK;

	if (f->message != NULL) {
		const char *p = f->message;
		size_t n = strlen(p);

		while (n > 0 && (*p == ' ' || *p == '\t')) {
			p++;
			n--;
		}
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n > 0 && *p == '<') {
			p++;
			n--;
		}
		if (n > 0 && p[n - 1] == '>')
			n--;
		if ((bare = malloc(n + 1)) == NULL || (angle = malloc(n + 3)) == NULL) {
			free(bare);
			return SQLITE_NOMEM;
		}
		memcpy(bare, p, n);
		bare[n] = '\0';
		angle[0] = '<';
		memcpy(angle + 1, p, n);
		angle[n + 1] = '>';
		angle[n + 2] = '\0';
	}
	if (rc == SQLITE_OK)
		rc = bind_text(s, 1, f->sender);
	if (rc == SQLITE_OK)
		rc = f->has_since ? sqlite3_bind_int64(s, 2, f->since) : sqlite3_bind_null(s, 2);
	if (rc == SQLITE_OK)
		rc = f->has_until ? sqlite3_bind_int64(s, 3, f->until) : sqlite3_bind_null(s, 3);
	if (rc == SQLITE_OK)
		rc = bind_text(s, 4, bare);
	if (rc == SQLITE_OK)
		rc = bind_text(s, 5, angle);
	if (rc == SQLITE_OK)
		rc = bind_text(s, 6, only_sender);
	free(bare);
	free(angle);
	return rc;
}

static int
prepare_filtered(struct store *st, const char *sql, const struct report_filter *f,
		 const char *only_sender, sqlite3_stmt **s, char *err, size_t errlen)
{
	sqlite3 *db = store_db(st);

	if (prepare(db, sql, s, err, errlen) == -1)
		return -1;
	if (bind_filter(*s, f, only_sender) != SQLITE_OK) {
		dberr(db, err, errlen, "report: bind");
		sqlite3_finalize(*s);
		*s = NULL;
		return -1;
	}
	return 0;
}

int
store_report_begin(struct store *st, char *err, size_t errlen)
{
	sqlite3 *db = store_db(st);

	if (exec(db, "BEGIN", err, errlen, "report: begin") == -1)
		return -1;
	/* BEGIN is deferred: read once so the snapshot starts now. */
	return exec(db, "SELECT 1 FROM sqlite_master LIMIT 1", err, errlen, "report: read");
}

void
store_report_end(struct store *st)
{
	sqlite3 *db = store_db(st);

	if (db != NULL && !sqlite3_get_autocommit(db))
		(void)sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
}

static void
read_counts(sqlite3_stmt *s, int i, struct report_counts *c)
{
	memset(c, 0, sizeof(*c));
	c->messages = col_ll(s, i);
	c->recipients = col_ll(s, i + 1);
	c->opens_human = col_ll(s, i + 2);
	c->opens_machine = col_ll(s, i + 3);
	c->unique_human_opens = col_ll(s, i + 4);
	c->clicks_human = col_ll(s, i + 5);
	c->clicks_scanner = col_ll(s, i + 6);
	c->messages_clicked = col_ll(s, i + 7);
	c->optouts = col_ll(s, i + 8);
	c->first_sent = col_ll(s, i + 9);
	c->last_sent = col_ll(s, i + 10);
	c->has_last_event = !col_null(s, i + 11);
	c->last_event = col_ll(s, i + 11);
}

int
store_report_totals(struct store *st, const struct report_filter *f,
		    struct report_counts *out, char *err, size_t errlen)
{
	static const char sql[] =
	    "WITH pm AS (" PER_MESSAGE ") SELECT" AGGREGATE " FROM pm";
	sqlite3_stmt *s;
	int rc;

	memset(out, 0, sizeof(*out));
	if (prepare_filtered(st, sql, f, NULL, &s, err, errlen) == -1)
		return -1;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		read_counts(s, 0, out);
	else if (rc != SQLITE_DONE)
		dberr(store_db(st), err, errlen, "report: totals");
	sqlite3_finalize(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int
store_report_senders(struct store *st, const struct report_filter *f,
		     int (*fn)(void *arg, const struct report_sender *s), void *arg,
		     char *err, size_t errlen)
{
	static const char sql[] =
	    "WITH pm AS (" PER_MESSAGE ") SELECT sender," AGGREGATE
	    " FROM pm GROUP BY sender ORDER BY sender";
	struct report_sender r;
	sqlite3_stmt *s;
	int rc, stop = 0;

	if (prepare_filtered(st, sql, f, NULL, &s, err, errlen) == -1)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		r.sender = col_text(s, 0);
		if (r.sender == NULL)
			r.sender = "";
		read_counts(s, 1, &r.c);
		if ((stop = fn(arg, &r)) != 0)
			break;
	}
	if (stop == 0 && rc != SQLITE_DONE)
		stop = dberr(store_db(st), err, errlen, "report: senders");
	sqlite3_finalize(s);
	return stop;
}

/* The links of one message with their click counts, into a growing array;
 * the strings are copied (freed by free_links). */
static int
load_links(sqlite3_stmt *ls, const char *id, struct report_link **out, size_t *n,
	   size_t *cap)
{
	int rc;

	*n = 0;
	sqlite3_reset(ls);
	if (bind_text(ls, 1, id) != SQLITE_OK)
		return -1;
	while ((rc = sqlite3_step(ls)) == SQLITE_ROW) {
		struct report_link *l;
		const char *url = col_text(ls, 1);

		if (*n == *cap) {
			size_t nc = *cap ? *cap * 2 : 16;
			struct report_link *p = realloc(*out, nc * sizeof(**out));

			if (p == NULL)
				return -1;
			*out = p;
			*cap = nc;
		}
		l = &(*out)[*n];
		l->num = col_ll(ls, 0);
		l->url = url ? strdup(url) : NULL;
		if (url != NULL && l->url == NULL)
			return -1;
		l->human_clicks = col_ll(ls, 2);
		l->scanner_clicks = col_ll(ls, 3);
		(*n)++;
	}
	return rc == SQLITE_DONE ? 0 : -1;
}

static void
free_links(struct report_link *l, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free((char *)l[i].url);
}

int
store_report_messages(struct store *st, const struct report_filter *f,
		      const char *only_sender,
		      int (*fn)(void *arg, const struct report_message *m), void *arg,
		      char *err, size_t errlen)
{
	static const char sql[] = PER_MESSAGE " ORDER BY m.sender, m.sent, m.id";
	static const char link_sql[] =
	    "SELECT l.num, l.url,"
	    "  count(CASE WHEN e.verdict = 'human' THEN 1 END),"
	    "  count(CASE WHEN e.verdict IS NOT NULL AND e.verdict <> 'human' THEN 1 END)"
	    " FROM links l LEFT JOIN events e ON e.message_id = l.message_id"
	    "  AND e.kind = 'click' AND e.link = l.num"
	    " WHERE l.message_id = ?1 GROUP BY l.num ORDER BY l.num";
	struct report_link *links = NULL;
	size_t n_links = 0, cap = 0;
	struct report_message m;
	sqlite3_stmt *s, *ls;
	int rc, stop = 0;

	if (prepare_filtered(st, sql, f, only_sender, &s, err, errlen) == -1)
		return -1;
	if (prepare(store_db(st), link_sql, &ls, err, errlen) == -1) {
		sqlite3_finalize(s);
		return -1;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		memset(&m, 0, sizeof(m));
		m.id = col_text(s, 0);
		m.queue_id = col_text(s, 1);
		m.message_id = col_text(s, 2);
		m.sender = col_text(s, 3);
		m.subject = col_text(s, 4);
		m.sent = col_ll(s, 5);
		m.recipients = col_ll(s, 6);
		m.link_count = col_ll(s, 7);
		m.opens_human = col_ll(s, 8);
		m.opens_machine = col_ll(s, 9);
		m.has_first_human_open = !col_null(s, 10);
		m.first_human_open = col_ll(s, 10);
		m.clicks_human = col_ll(s, 11);
		m.clicks_scanner = col_ll(s, 12);
		m.optouts = col_ll(s, 13);
		if (m.id == NULL)
			m.id = "";
		if (m.sender == NULL)
			m.sender = "";
		if (load_links(ls, m.id, &links, &n_links, &cap) == -1) {
			free_links(links, n_links);
			stop = dberr(store_db(st), err, errlen, "report: links");
			break;
		}
		m.links = links;
		m.n_links = n_links;
		stop = fn(arg, &m);
		free_links(links, n_links);
		n_links = 0;
		if (stop != 0)
			break;
	}
	if (stop == 0 && rc != SQLITE_DONE)
		stop = dberr(store_db(st), err, errlen, "report: messages");
	free(links);
	sqlite3_finalize(ls);
	sqlite3_finalize(s);
	return stop;
}

int
store_report_days(struct store *st, const struct report_filter *f,
		  int (*fn)(void *arg, const struct report_day *d), void *arg,
		  char *err, size_t errlen)
{
	/* floor division, also for times before 1970 */
	static const char sql[] =
	    "SELECT (e.time - ((e.time % 86400) + 86400) % 86400) / 86400 AS day,"
	    "  count(CASE WHEN " HUMAN_OPEN " THEN 1 END),"
	    "  count(CASE WHEN " HUMAN_CLICK " THEN 1 END)"
	    " FROM messages m JOIN events e ON e.message_id = m.id"
	    " WHERE" FILTER " GROUP BY day ORDER BY day";
	struct report_day d;
	sqlite3_stmt *s;
	int rc, stop = 0;

	if (prepare_filtered(st, sql, f, NULL, &s, err, errlen) == -1)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		d.day = col_ll(s, 0);
		d.opens_human = col_ll(s, 1);
		d.clicks_human = col_ll(s, 2);
		if ((stop = fn(arg, &d)) != 0)
			break;
	}
	if (stop == 0 && rc != SQLITE_DONE)
		stop = dberr(store_db(st), err, errlen, "report: days");
	sqlite3_finalize(s);
	return stop;
}

int
store_report_links(struct store *st, const struct report_filter *f,
		   int (*fn)(void *arg, const struct report_message *m,
			     const struct report_link *l), void *arg,
		   char *err, size_t errlen)
{
	static const char sql[] =
	    "SELECT m.id, m.sender, m.sent, l.num, l.url,"
	    "  count(CASE WHEN e.verdict = 'human' THEN 1 END) AS hc,"
	    "  count(CASE WHEN e.verdict IS NOT NULL AND e.verdict <> 'human' THEN 1 END)"
	    " FROM messages m JOIN links l ON l.message_id = m.id"
	    " LEFT JOIN events e ON e.message_id = l.message_id"
	    "  AND e.kind = 'click' AND e.link = l.num"
	    " WHERE" FILTER
	    " GROUP BY m.id, l.num ORDER BY hc DESC, m.sender, m.sent, m.id, l.num";
	struct report_message m;
	struct report_link l;
	sqlite3_stmt *s;
	int rc, stop = 0;

	if (prepare_filtered(st, sql, f, NULL, &s, err, errlen) == -1)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		memset(&m, 0, sizeof(m));
		m.id = col_text(s, 0);
		m.sender = col_text(s, 1);
		m.sent = col_ll(s, 2);
		if (m.id == NULL)
			m.id = "";
		if (m.sender == NULL)
			m.sender = "";
		l.num = col_ll(s, 3);
		l.url = col_text(s, 4);
		l.human_clicks = col_ll(s, 5);
		l.scanner_clicks = col_ll(s, 6);
		if ((stop = fn(arg, &m, &l)) != 0)
			break;
	}
	if (stop == 0 && rc != SQLITE_DONE)
		stop = dberr(store_db(st), err, errlen, "report: links");
	sqlite3_finalize(s);
	return stop;
}

/* ---- export ---- */

int
store_export_messages(struct store *st, const unsigned char *hash, const char *sender,
		      int (*fn)(void *arg, const struct export_message *m), void *arg,
		      char *err, size_t errlen)
{
	static const char by_rcpt[] =
	    "SELECT m.id, m.queue_id, m.message_id_header, m.sender, m.sasl_login,"
	    "  m.words, m.subject, m.sent, m.recipient_count, m.link_count"
	    " FROM messages m WHERE m.id IN"
	    "  (SELECT message_id FROM message_recipients WHERE recipient_hash = ?1)"
	    " ORDER BY m.sent, m.id";
	static const char by_sender[] =
	    "SELECT m.id, m.queue_id, m.message_id_header, m.sender, m.sasl_login,"
	    "  m.words, m.subject, m.sent, m.recipient_count, m.link_count"
	    " FROM messages m WHERE m.sender = ?1 COLLATE NOCASE"
	    " ORDER BY m.sent, m.id";
	struct export_message m;
	sqlite3_stmt *s;
	int rc, stop = 0;

	if (prepare(store_db(st), hash ? by_rcpt : by_sender, &s, err, errlen) == -1)
		return -1;
	rc = hash ? sqlite3_bind_blob(s, 1, hash, STORE_HASH_LEN, SQLITE_TRANSIENT) :
	    bind_text(s, 1, sender ? sender : "");
	if (rc != SQLITE_OK) {
		dberr(store_db(st), err, errlen, "export: bind");
		sqlite3_finalize(s);
		return -1;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		m.id = col_text(s, 0);
		m.queue_id = col_text(s, 1);
		m.message_id = col_text(s, 2);
		m.sender = col_text(s, 3);
		m.sasl_login = col_text(s, 4);
		m.words = col_text(s, 5);
		m.subject = col_text(s, 6);
		m.sent = col_ll(s, 7);
		m.recipient_count = col_ll(s, 8);
		m.link_count = col_ll(s, 9);
		if (m.id == NULL)
			m.id = "";
		if ((stop = fn(arg, &m)) != 0)
			break;
	}
	if (stop == 0 && rc != SQLITE_DONE)
		stop = dberr(store_db(st), err, errlen, "export: messages");
	sqlite3_finalize(s);
	return stop;
}

int
store_export_links(struct store *st, const char *message_id,
		   int (*fn)(void *arg, long long num, const char *url), void *arg,
		   char *err, size_t errlen)
{
	static const char sql[] =
	    "SELECT num, url FROM links WHERE message_id = ?1 ORDER BY num";
	sqlite3_stmt *s;
	int rc, stop = 0;

	if (prepare(store_db(st), sql, &s, err, errlen) == -1)
		return -1;
	if (bind_text(s, 1, message_id ? message_id : "") != SQLITE_OK) {
		dberr(store_db(st), err, errlen, "export: bind");
		sqlite3_finalize(s);
		return -1;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if ((stop = fn(arg, col_ll(s, 0), col_text(s, 1))) != 0)
			break;
	if (stop == 0 && rc != SQLITE_DONE)
		stop = dberr(store_db(st), err, errlen, "export: links");
	sqlite3_finalize(s);
	return stop;
}

int
store_export_events(struct store *st, const char *message_id, const unsigned char *hash,
		    int (*fn)(void *arg, const struct export_event *e), void *arg,
		    char *err, size_t errlen)
{
	static const char by_msg[] =
	    "SELECT id, kind, link, time, ip_masked, client_class, verdict, dnt,"
	    "  recipient_hash FROM events WHERE message_id = ?1 ORDER BY id";
	static const char by_hash[] =
	    "SELECT id, kind, link, time, ip_masked, client_class, verdict, dnt,"
	    "  recipient_hash FROM events e WHERE recipient_hash = ?1"
	    "  AND NOT EXISTS (SELECT 1 FROM message_recipients r"
	    "   WHERE r.message_id = e.message_id AND r.recipient_hash = ?1)"
	    " ORDER BY id";
	struct export_event e;
	sqlite3_stmt *s;
	int rc, stop = 0;

	if (message_id == NULL && hash == NULL) {
		snprintf(err, errlen, "export: no message and no recipient");
		return -1;
	}
	if (prepare(store_db(st), message_id ? by_msg : by_hash, &s, err, errlen) == -1)
		return -1;
	rc = message_id ? bind_text(s, 1, message_id) :
	    sqlite3_bind_blob(s, 1, hash, STORE_HASH_LEN, SQLITE_TRANSIENT);
	if (rc != SQLITE_OK) {
		dberr(store_db(st), err, errlen, "export: bind");
		sqlite3_finalize(s);
		return -1;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		memset(&e, 0, sizeof(e));
		e.id = col_ll(s, 0);
		e.kind = col_text(s, 1);
		e.has_link = !col_null(s, 2);
		e.link = col_ll(s, 2);
		e.time = col_ll(s, 3);
		e.ip_masked = col_text(s, 4);
		e.client_class = col_text(s, 5);
		e.verdict = col_text(s, 6);
		e.dnt = col_ll(s, 7) != 0;
		if (!col_null(s, 8)) {
			e.recipient_hash = sqlite3_column_blob(s, 8);
			e.recipient_hash_len = (size_t)sqlite3_column_bytes(s, 8);
		}
		if ((stop = fn(arg, &e)) != 0)
			break;
	}
	if (stop == 0 && rc != SQLITE_DONE)
		stop = dberr(store_db(st), err, errlen, "export: events");
	sqlite3_finalize(s);
	return stop;
}

int
store_export_optout(struct store *st, const unsigned char hash[STORE_HASH_LEN],
		    int (*fn)(void *arg, const struct export_optout *o), void *arg,
		    char *err, size_t errlen)
{
	static const char sql[] =
	    "SELECT time, message_id FROM optouts WHERE recipient_hash = ?1";
	struct export_optout o;
	sqlite3_stmt *s;
	int rc, ret = 0;

	if (prepare(store_db(st), sql, &s, err, errlen) == -1)
		return -1;
	if (sqlite3_bind_blob(s, 1, hash, STORE_HASH_LEN, SQLITE_TRANSIENT) != SQLITE_OK) {
		dberr(store_db(st), err, errlen, "export: bind");
		sqlite3_finalize(s);
		return -1;
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		o.time = col_ll(s, 0);
		o.message_id = col_text(s, 1);
		ret = 1;
		if (fn != NULL && fn(arg, &o) != 0)
			ret = -1;
	} else if (rc != SQLITE_DONE) {
		ret = dberr(store_db(st), err, errlen, "export: opt-out");
	}
	sqlite3_finalize(s);
	return ret;
}

/* ---- forget and purge ---- */

/* Runs one statement with up to two bound values (a blob of STORE_HASH_LEN
 * bytes, text, or an integer) and adds its changes to *count. */
struct arg {
	enum { A_NONE, A_HASH, A_TEXT, A_INT } type;
	const void *p;
	long long i;
};

static int
run_counted(sqlite3 *db, const char *sql, struct arg a1, long long *count,
	    char *err, size_t errlen, const char *what)
{
	sqlite3_stmt *s;
	int rc = SQLITE_OK;

	if (prepare(db, sql, &s, err, errlen) == -1)
		return -1;
	switch (a1.type) {
	case A_HASH:
		rc = sqlite3_bind_blob(s, 1, a1.p, STORE_HASH_LEN, SQLITE_TRANSIENT);
		break;
	case A_TEXT:
		rc = bind_text(s, 1, a1.p);
		break;
	case A_INT:
		rc = sqlite3_bind_int64(s, 1, a1.i);
		break;
	case A_NONE:
		break;
	}
	if (rc == SQLITE_OK) {
		while ((rc = sqlite3_step(s)) == SQLITE_ROW)
			;
	}
	if (rc != SQLITE_DONE) {
		dberr(db, err, errlen, what);
		sqlite3_finalize(s);
		return -1;
	}
	if (count != NULL)
		*count += sqlite3_changes(db);
	sqlite3_finalize(s);
	return 0;
}

static int
count_query(sqlite3 *db, const char *sql, struct arg a1, long long *out,
	    char *err, size_t errlen, const char *what)
{
	sqlite3_stmt *s;
	int rc = SQLITE_OK;

	*out = 0;
	if (prepare(db, sql, &s, err, errlen) == -1)
		return -1;
	if (a1.type == A_HASH)
		rc = sqlite3_bind_blob(s, 1, a1.p, STORE_HASH_LEN, SQLITE_TRANSIENT);
	if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		*out = col_ll(s, 0);
		rc = SQLITE_DONE;
	}
	if (rc != SQLITE_DONE) {
		dberr(db, err, errlen, what);
		sqlite3_finalize(s);
		return -1;
	}
	sqlite3_finalize(s);
	return 0;
}

/* The ids of the messages being erased, in a temporary table in memory. */
static int
doomed_init(sqlite3 *db, char *err, size_t errlen)
{
	if (exec(db, "PRAGMA temp_store = MEMORY", err, errlen, "erase: temp store") == -1 ||
	    exec(db, "CREATE TEMP TABLE IF NOT EXISTS mb_doomed (id TEXT PRIMARY KEY)",
	    err, errlen, "erase: temporary table") == -1 ||
	    exec(db, "DELETE FROM temp.mb_doomed", err, errlen, "erase: temporary table") == -1)
		return -1;
	return 0;
}

/* Deletes the doomed messages with their events, links and recipient
 * rows, counting each table. */
static int
erase_doomed(sqlite3 *db, struct store_erase_counts *c, char *err, size_t errlen)
{
	const struct arg none = { A_NONE, NULL, 0 };

	if (run_counted(db, "DELETE FROM events WHERE message_id IN"
	    " (SELECT id FROM temp.mb_doomed)", none, &c->events, err, errlen,
	    "erase: events") == -1 ||
	    run_counted(db, "DELETE FROM links WHERE message_id IN"
	    " (SELECT id FROM temp.mb_doomed)", none, &c->links, err, errlen,
	    "erase: links") == -1 ||
	    run_counted(db, "DELETE FROM message_recipients WHERE message_id IN"
	    " (SELECT id FROM temp.mb_doomed)", none, &c->message_recipients, err, errlen,
	    "erase: message recipients") == -1 ||
	    run_counted(db, "DELETE FROM messages WHERE id IN"
	    " (SELECT id FROM temp.mb_doomed)", none, &c->messages, err, errlen,
	    "erase: messages") == -1 ||
	    exec(db, "DELETE FROM temp.mb_doomed", err, errlen, "erase: temporary table") == -1)
		return -1;
	return 0;
}

static int
erase_begin(sqlite3 *db, struct store_erase_counts *c, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	if (db == NULL)
		return dberr(db, err, errlen, "erase");
	if (doomed_init(db, err, errlen) == -1)
		return -1;
	return exec(db, "BEGIN IMMEDIATE", err, errlen, "erase: begin");
}

static int
erase_end(sqlite3 *db, int ok, char *err, size_t errlen)
{
	if (ok == 0 && exec(db, "COMMIT", err, errlen, "erase: commit") == 0)
		return 0;
	if (!sqlite3_get_autocommit(db))
		(void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	(void)sqlite3_exec(db, "DELETE FROM temp.mb_doomed", NULL, NULL, NULL);
	return -1;
}

int
store_forget_recipient(struct store *st, const unsigned char hash[STORE_HASH_LEN],
		       struct store_erase_counts *c, char *err, size_t errlen)
{
	sqlite3 *db = store_db(st);
	const struct arg h = { A_HASH, hash, 0 };
	int ok;

	if (erase_begin(db, c, err, errlen) == -1)
		return -1;
	ok = run_counted(db, "INSERT INTO temp.mb_doomed SELECT DISTINCT r.message_id"
	    " FROM message_recipients r WHERE r.recipient_hash = ?1 AND NOT EXISTS"
	    " (SELECT 1 FROM message_recipients o WHERE o.message_id = r.message_id"
	    "  AND o.recipient_hash <> ?1)", h, NULL, err, errlen,
	    "forget: find messages") == 0 &&
	    erase_doomed(db, c, err, errlen) == 0 &&
	    run_counted(db, "DELETE FROM message_recipients WHERE recipient_hash = ?1",
	    h, &c->message_recipients, err, errlen, "forget: message recipients") == 0 &&
	    /* Events naming them outlive their opt-out only by accident. */
	    run_counted(db, "DELETE FROM events WHERE recipient_hash = ?1 AND NOT EXISTS"
	    " (SELECT 1 FROM optouts WHERE recipient_hash = ?1)", h, &c->events, err, errlen,
	    "forget: events") == 0 &&
	    count_query(db, "SELECT count(*) FROM optouts WHERE recipient_hash = ?1", h,
	    &c->optouts_kept, err, errlen, "forget: opt-outs") == 0 ? 0 : -1;
	return erase_end(db, ok, err, errlen);
}

int
store_forget_sender(struct store *st, const char *sender,
		    struct store_erase_counts *c, char *err, size_t errlen)
{
	sqlite3 *db = store_db(st);
	const struct arg a = { A_TEXT, sender ? sender : "", 0 };
	int ok;

	if (erase_begin(db, c, err, errlen) == -1)
		return -1;
	ok = run_counted(db, "INSERT INTO temp.mb_doomed SELECT id FROM messages"
	    " WHERE sender = ?1 COLLATE NOCASE", a, NULL, err, errlen,
	    "forget: find messages") == 0 &&
	    count_query(db, "SELECT count(*) FROM optouts WHERE message_id IN"
	    " (SELECT id FROM temp.mb_doomed)", (struct arg){ A_NONE, NULL, 0 },
	    &c->optouts_kept, err, errlen, "forget: opt-outs") == 0 &&
	    erase_doomed(db, c, err, errlen) == 0 ? 0 : -1;
	return erase_end(db, ok, err, errlen);
}

int
store_purge(struct store *st, long long cutoff, struct store_erase_counts *c,
	    char *err, size_t errlen)
{
	sqlite3 *db = store_db(st);
	const struct arg t = { A_INT, NULL, cutoff };
	int ok;

	if (erase_begin(db, c, err, errlen) == -1)
		return -1;
	ok = run_counted(db, "INSERT INTO temp.mb_doomed SELECT id FROM messages"
	    " WHERE sent < ?1", t, NULL, err, errlen, "purge: find messages") == 0 &&
	    erase_doomed(db, c, err, errlen) == 0 &&
	    run_counted(db, "DELETE FROM events WHERE time < ?1", t, &c->events, err, errlen,
	    "purge: events") == 0 &&
	    count_query(db, "SELECT count(*) FROM optouts", (struct arg){ A_NONE, NULL, 0 },
	    &c->optouts_kept, err, errlen, "purge: opt-outs") == 0 ? 0 : -1;
	return erase_end(db, ok, err, errlen);
}

int
store_compact(struct store *st, bool vacuum, bool *complete, char *err, size_t errlen)
{
	sqlite3 *db = store_db(st);
	int busy = 0, log = 0, done = 0;

	*complete = false;
	if (db == NULL)
		return dberr(db, err, errlen, "compact");
	if (vacuum && exec(db, "VACUUM", err, errlen, "vacuum") == -1)
		return -1;
	/* TRUNCATE waits (busy timeout) for readers and writers to let go. */
	if (sqlite3_wal_checkpoint_v2(db, "main", SQLITE_CHECKPOINT_TRUNCATE, &log,
	    &done) != SQLITE_OK) {
		if (sqlite3_errcode(db) != SQLITE_BUSY)
			return dberr(db, err, errlen, "checkpoint");
		busy = 1;
	}
	*complete = busy == 0 && log == done;
	return 0;
}
