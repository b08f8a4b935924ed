/* store/report: the queries of report, export, forget and purge. Each
 * function prepares its statements on the store's connection, binds every
 * value, and finalizes before it returns; the SQL below is constant text. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "counters.h"
#include "report.h"
#include "sq.h"
#include "store.h"
#include "store_int.h"

/* ---- helpers ---- */

static int
dberr(struct store *st, char *err, size_t errlen, const char *what)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s: %s", what, st ? sq_reason(st) : "database not open");
	return -1;
}

/* Prepares sql (pg_sql on PostgreSQL, when the dialects differ). */
static int
prepare(struct store *st, const char *sql, const char *pg_sql, struct sq **s, char *err,
	size_t errlen)
{
	*s = NULL;
	if (st == NULL)
		return dberr(st, err, errlen, "query");
	if ((*s = sq_prepare(st, sql, pg_sql)) == NULL)
		return dberr(st, err, errlen, "cannot prepare query");
	return 0;
}

static const char *
col_text(struct sq *s, int i)
{
	return sq_text(s, i);
}

static long long
col_ll(struct sq *s, int i)
{
	return sq_int64(s, i);
}

static bool
col_null(struct sq *s, int i)
{
	return sq_null(s, i);
}

/* Runs constant SQL without results (pg_sql: see sq_exec). */
static int
exec(struct store *st, const char *sql, const char *pg_sql, char *err, size_t errlen,
     const char *what)
{
	if (st == NULL || sq_exec(st, sql, pg_sql) < 0)
		return dberr(st, err, errlen, what);
	return 0;
}

/* ---- the report ---- */

/*
 * The filter of a report is composed of constant fragments, one per filter
 * that is set, with parameters (see bind_filter):
 *   ?1 sender ("a@b" exact but ASCII case-insensitive, or "@domain")
 *   ?2 since, ?3 until, ?4 the --message value without <>, ?5 with <>,
 *   ?6 the domain of an "@domain" sender, without the @.
 * A filter that is not set adds nothing (so that an index can serve the
 * others, and the messages' index stays covering for pass 1).
 */
#define F_SENDER \
	" AND ((substr(?1, 1, 1) = '@' AND length(m.sender) >= length(?1)" \
	"   AND lower(substr(m.sender, -length(?1))) = lower(?1))" \
	"  OR (substr(?1, 1, 1) <> '@' AND m.sender = ?1 COLLATE NOCASE))"
/* Implied by F_SENDER for an address: lets messages_sender_nocase serve it. */
#define F_ADDRESS " AND m.sender = ?1 COLLATE NOCASE"
/* Implied by F_SENDER for "@domain" when domain has no '@' (the sender then
 * ends in "@domain", so domain is what follows its last '@'): the
 * expression of the index messages_domain (store.c, schema version 4). */
#define F_DOMAIN \
	" AND lower(substr(m.sender, length(rtrim(m.sender, replace(m.sender, '@', ''))) + 1))" \
	"  = lower(?6)"
/* The same on PostgreSQL, where the columns compare byte by byte (COLLATE
 * "C", like SQLite's BINARY) and lower() of C-collated text folds ASCII
 * only (like NOCASE): the parameters are given that collation too. */
#define F_SENDER_PG \
	" AND ((substr(?1, 1, 1) = '@' AND length(m.sender) >= length(?1)" \
	"   AND lower(right(m.sender, length(?1))) = lower(?1 COLLATE \"C\"))" \
	"  OR (substr(?1, 1, 1) <> '@' AND lower(m.sender) = lower(?1 COLLATE \"C\")))"
#define F_ADDRESS_PG " AND lower(m.sender) = lower(?1 COLLATE \"C\")"
#define F_DOMAIN_PG \
	" AND lower(substring(m.sender from '[^@]*$')) = lower(?6 COLLATE \"C\")"
#define F_SINCE " AND m.sent >= ?2"
#define F_UNTIL " AND m.sent < ?3"
#define F_MESSAGE \
	" AND (m.id = ?4 OR m.queue_id = ?4" \
	"  OR trim(m.message_id_header, ' ' || char(9, 10, 13)) IN (?4, ?5))"
#define F_MESSAGE_PG \
	" AND (m.id = ?4 OR m.queue_id = ?4" \
	"  OR btrim(m.message_id_header, ' ' || chr(9) || chr(10) || chr(13)) IN (?4, ?5))"

/* The order of the messages (and so of the senders) in every format. */
#define ORDER " ORDER BY m.sender, m.sent, m.id"

enum f_index { FI_PLANNER, FI_ORDER, FI_ADDRESS, FI_DOMAIN };

/* Which index of messages serves a filter: the one for the sender, or,
 * with no sender and no message, messages_report, which is in the report's
 * order (no sort) and covers pass 1 (sender, sent, id, recipient_count);
 * with --message, the planner's choice (a few rows). */
static enum f_index
filter_index(const struct report_filter *f)
{
	if (f->sender != NULL && f->sender[0] != '@')
		return FI_ADDRESS;
	if (f->sender != NULL && strchr(f->sender + 1, '@') == NULL)
		return FI_DOMAIN;
	if (f->sender == NULL && f->message == NULL)
		return FI_ORDER;
	return FI_PLANNER;
}

/* head " FROM messages m" [INDEXED BY ...] join " WHERE 1" filters tail,
 * into a malloc'ed string; in PostgreSQL's dialect when pg (its planner
 * takes no index hints). */
static char *
filter_sql(const struct report_filter *f, const char *head, const char *join,
	   const char *tail, bool pg)
{
	static const char *const indexed[] = {
		[FI_PLANNER] = "",
		[FI_ORDER] = " INDEXED BY messages_report",
		[FI_ADDRESS] = " INDEXED BY messages_sender_nocase",
		[FI_DOMAIN] = " INDEXED BY messages_domain",
	};
	enum f_index fi = filter_index(f);
	const char *parts[12];
	size_t n = 0, len = 1;
	char *sql;

	parts[n++] = head;
	parts[n++] = " FROM messages m";
	parts[n++] = pg ? "" : indexed[fi];
	parts[n++] = join;
	parts[n++] = pg ? " WHERE true" : " WHERE 1";
	if (f->sender != NULL)
		parts[n++] = pg ? F_SENDER_PG : F_SENDER;
	if (fi == FI_ADDRESS)
		parts[n++] = pg ? F_ADDRESS_PG : F_ADDRESS;
	if (fi == FI_DOMAIN)
		parts[n++] = pg ? F_DOMAIN_PG : F_DOMAIN;
	if (f->has_since)
		parts[n++] = F_SINCE;
	if (f->has_until)
		parts[n++] = F_UNTIL;
	if (f->message != NULL)
		parts[n++] = pg ? F_MESSAGE_PG : F_MESSAGE;
	parts[n++] = tail;
	for (size_t i = 0; i < n; i++)
		len += strlen(parts[i]);
	if ((sql = malloc(len)) == NULL)
		return NULL;
	sql[0] = '\0';
	for (size_t i = 0; i < n; i++)
		strcat(sql, parts[i]);
	return sql;
}

/* Binds the parameters that the statement has (a filter that is not set
 * has none). */
static int
bind_filter(struct sq *s, const struct report_filter *f)
{
	char *bare = NULL, *angle = NULL, *sender = NULL;
	int rc = 0, np = sq_params(s);

	/* The sender in the form the milter stores it (a quoted local part
	 * unquoted, an IDN domain as its A-label); "@domain" stays one. */
	if (f->sender != NULL && (sender = address_canonical(f->sender)) == NULL)
		return -1;

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
			free(sender);
			return -1;
		}
		memcpy(bare, p, n);
		bare[n] = '\0';
		angle[0] = '<';
		memcpy(angle + 1, p, n);
		angle[n + 1] = '>';
		angle[n + 2] = '\0';
	}
	if (rc == 0 && np >= 1)
		rc = sq_bind_text(s, 1, sender);
	if (rc == 0 && np >= 2)
		rc = f->has_since ? sq_bind_int64(s, 2, f->since) : sq_bind_null(s, 2);
	if (rc == 0 && np >= 3)
		rc = f->has_until ? sq_bind_int64(s, 3, f->until) : sq_bind_null(s, 3);
	if (rc == 0 && np >= 4)
		rc = sq_bind_text(s, 4, bare);
	if (rc == 0 && np >= 5)
		rc = sq_bind_text(s, 5, angle);
	if (rc == 0 && np >= 6)
		rc = sq_bind_text(s, 6, sender != NULL && sender[0] == '@' ? sender + 1 : NULL);
	free(sender);
	free(bare);
	free(angle);
	return rc;
}

/* pg_tail: the tail on PostgreSQL when it differs (NULL: the same). */
/* Prepares sql and binds the filter's parameters that it has. */
static int
prepare_bound(struct store *st, const char *sql, const struct report_filter *f, struct sq **s,
	      char *err, size_t errlen)
{
	if (prepare(st, sql, NULL, s, err, errlen) == -1)
		return -1;
	if (bind_filter(*s, f) != 0) {
		dberr(st, err, errlen, "report: bind");
		sq_finish(*s);
		*s = NULL;
		return -1;
	}
	return 0;
}

static int
prepare_filtered(struct store *st, const struct report_filter *f, const char *head,
		 const char *join, const char *tail, const char *pg_tail, struct sq **s,
		 char *err, size_t errlen)
{
	bool pg = store_is_pg(st);
	char *sql = filter_sql(f, head, join, pg && pg_tail != NULL ? pg_tail : tail, pg);
	int rc;

	*s = NULL;
	if (sql == NULL) {
		snprintf(err, errlen, "report: out of memory");
		return -1;
	}
	rc = prepare_bound(st, sql, f, s, err, errlen);
	free(sql);
	return rc;
}

int
store_report_begin(struct store *st, char *err, size_t errlen)
{
	/* A report reads much of the file, some of it twice: map it rather
	 * than read it page by page (mmap_size is capped by SQLite's limit;
	 * with WAL, pages that are in the log are still read from it). */
	if (exec(st, "PRAGMA mmap_size = 4294967296", "", err, errlen, "report: mmap") == -1 ||
	    exec(st, "PRAGMA temp_store = MEMORY", "", err, errlen, "report: temp store") == -1)
		return -1;
	/* PostgreSQL: one snapshot for both passes, as SQLite's read
	 * transaction gives. */
	if (exec(st, "BEGIN", "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", err, errlen,
		 "report: begin") == -1)
		return -1;
	/* PostgreSQL: compiling a report's queries with JIT costs more than
	 * it saves (they read through cursors, row order from the indexes). */
	if (exec(st, "", "SET LOCAL jit = off", err, errlen, "report: planner") == -1)
		return -1;
	/* BEGIN is deferred: read once so the snapshot starts now. */
	return exec(st, "SELECT 1 FROM sqlite_master LIMIT 1", "SELECT 1", err, errlen,
		    "report: read");
}

void
store_report_end(struct store *st)
{
	if (st != NULL && sq_in_transaction(st))
		(void)sq_exec(st, "COMMIT", NULL);
}

/* Pass 1's numbers for one message: its counters (store/counters.h). */
struct pm {
	long long rowid;		/* to check that pass 2 walks the same rows */
	long long first_open;		/* valid when has_first */
	long long oh, om, ch, cs, oo;
	bool has_first;
};

struct report_data {
	struct store *st;		/* where store_report_days reads */
	struct report_filter f;		/* with copies of the strings */
	char *sender, *message;
	struct report_counts totals;
	struct report_sender *senders;
	size_t n_senders, cap_senders;
	struct pm *pm;
	size_t n_pm, cap_pm;
};

/* An array v (n elements used, *cap allocated, each size bytes) with room
 * for one more: v itself or its new place, NULL when out of memory (v is
 * then unchanged). */
static void *
grow(void *v, size_t n, size_t *cap, size_t size)
{
	size_t nc;
	void *q;

	if (n < *cap)
		return v;
	nc = *cap ? *cap * 2 : 64;
	if (nc > SIZE_MAX / size || (q = realloc(v, nc * size)) == NULL)
		return NULL;
	*cap = nc;
	return q;
}

/* Adds one message's numbers to a sender's or the totals. */
static void
count_message(struct report_counts *c, const struct pm *p, long long sent, long long rcpts,
	      bool has_last, long long last)
{
	if (c->messages == 0 || sent < c->first_sent)
		c->first_sent = sent;
	if (c->messages == 0 || sent > c->last_sent)
		c->last_sent = sent;
	c->messages++;
	c->recipients += rcpts;
	c->opens_human += p->oh;
	c->opens_machine += p->om;
	c->unique_human_opens += p->oh > 0;
	c->clicks_human += p->ch;
	c->clicks_scanner += p->cs;
	c->messages_clicked += p->ch > 0;
	c->optouts += p->oo;
	if (has_last && (!c->has_last_event || last > c->last_event)) {
		c->has_last_event = true;
		c->last_event = last;
	}
}

void
store_report_free(struct report_data *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->n_senders; i++)
		free((char *)d->senders[i].sender);
	free(d->senders);
	free(d->pm);
	free(d->sender);
	free(d->message);
	free(d);
}

/*
 * Pass 1: every filtered message with its counters, in the report's order,
 * so that a sender's messages come together. The counters are the events'
 * as earlier versions counted them in this pass (store/counters.h): an
 * open or click is human when store_event_is_human says so, machine
 * (opens) or scanner (clicks) for any other verdict.
 */
int
store_report_load(struct store *st, const struct report_filter *f,
		  struct report_data **out, char *err, size_t errlen)
{
	static const char head[] =
	    "SELECT m.rowid, m.sender, m.sent, m.recipient_count, m.opens_human, m.opens_machine,"
	    "  m.clicks_human, m.clicks_scanner, m.optouts, m.first_human_open, m.last_event";
	struct report_data *d;
	struct report_sender *cur_s = NULL;
	struct sq *s;
	void *q;
	int rc;

	*out = NULL;
	if ((d = calloc(1, sizeof(*d))) == NULL) {
		snprintf(err, errlen, "report: out of memory");
		return -1;
	}
	d->st = st;
	d->f = *f;
	if ((f->sender != NULL && (d->f.sender = d->sender = strdup(f->sender)) == NULL) ||
	    (f->message != NULL && (d->f.message = d->message = strdup(f->message)) == NULL)) {
		store_report_free(d);
		snprintf(err, errlen, "report: out of memory");
		return -1;
	}
	if (prepare_filtered(st, f, head, "", ORDER, NULL, &s, err, errlen) == -1) {
		store_report_free(d);
		return -1;
	}
	sq_stream(s);
	while ((rc = sq_step(s)) == 1) {
		const char *sender = col_text(s, 1);
		long long sent = col_ll(s, 2), rcpts = col_ll(s, 3);
		bool has_last = !col_null(s, 10);
		struct pm *p;

		if (sender == NULL)
			sender = "";
		if (cur_s == NULL || strcmp(cur_s->sender, sender) != 0) {
			if ((q = grow(d->senders, d->n_senders, &d->cap_senders,
			    sizeof(*d->senders))) == NULL)
				goto nomem;
			d->senders = q;
			cur_s = &d->senders[d->n_senders];
			memset(cur_s, 0, sizeof(*cur_s));
			if ((cur_s->sender = strdup(sender)) == NULL)
				goto nomem;
			d->n_senders++;
		}
		if ((q = grow(d->pm, d->n_pm, &d->cap_pm, sizeof(*d->pm))) == NULL)
			goto nomem;
		d->pm = q;
		p = &d->pm[d->n_pm++];
		p->rowid = col_ll(s, 0);
		p->oh = col_ll(s, 4);
		p->om = col_ll(s, 5);
		p->ch = col_ll(s, 6);
		p->cs = col_ll(s, 7);
		p->oo = col_ll(s, 8);
		p->has_first = !col_null(s, 9);
		p->first_open = p->has_first ? col_ll(s, 9) : 0;
		count_message(&cur_s->c, p, sent, rcpts, has_last, col_ll(s, 10));
		count_message(&d->totals, p, sent, rcpts, has_last, col_ll(s, 10));
	}
	if (rc != 0) {
		dberr(st, err, errlen, "report: messages");
		goto fail;
	}
	sq_finish(s);
	*out = d;
	return 0;
nomem:
	snprintf(err, errlen, "report: out of memory");
fail:
	sq_finish(s);
	store_report_free(d);
	return -1;
}

const struct report_counts *
store_report_totals(const struct report_data *d)
{
	return &d->totals;
}

int
store_report_senders(const struct report_data *d,
		     int (*fn)(void *arg, const struct report_sender *s), void *arg)
{
	int stop;

	for (size_t i = 0; i < d->n_senders; i++)
		if ((stop = fn(arg, &d->senders[i])) != 0)
			return stop;
	return 0;
}

/* The days of a report filtered by sent time alone (or not at all): a
 * range of the index message_days_sent, no message read. Else the
 * messages' filter joined to their days. A row per message and day, summed
 * by the caller: in C, a hash of a few hundred days beats SQL's sort of a
 * million rows. */
static int
prepare_days(struct store *st, const struct report_filter *f, struct sq **s, char *err,
	     size_t errlen)
{
	static const char cols[] = "SELECT d.day, d.opens_human, d.clicks_human";
	bool pg = store_is_pg(st);
	char sql[256];

	if (filter_index(f) != FI_ORDER)
		return prepare_filtered(st, f, cols, " JOIN message_days d ON d.message_id = m.id",
					"", NULL, s, err, errlen);
	snprintf(sql, sizeof(sql), "%s FROM message_days d%s WHERE %s%s%s", cols,
		 pg ? "" : " INDEXED BY message_days_sent", pg ? "true" : "1",
		 f->has_since ? " AND d.sent >= ?2" : "", f->has_until ? " AND d.sent < ?3" : "");
	return prepare_bound(st, sql, f, s, err, errlen);
}

struct day_slot {
	long long day, opens_human, clicks_human;
	bool used;
};

/* Days by open addressing; cap a power of two. */
struct day_table {
	struct day_slot *slots;
	size_t n, cap;
};

static struct day_slot *
day_slot(struct day_table *t, long long day)
{
	size_t mask, i;

	if (2 * (t->n + 1) > t->cap) {
		size_t nc = t->cap ? t->cap * 2 : 256;
		struct day_slot *nd = calloc(nc, sizeof(*nd));

		if (nd == NULL)
			return NULL;
		for (size_t j = 0; j < t->cap; j++) {
			if (!t->slots[j].used)
				continue;
			i = (size_t)((unsigned long long)t->slots[j].day * 0x9E3779B97F4A7C15ULL) &
			    (nc - 1);
			while (nd[i].used)
				i = (i + 1) & (nc - 1);
			nd[i] = t->slots[j];
		}
		free(t->slots);
		t->slots = nd;
		t->cap = nc;
	}
	mask = t->cap - 1;
	i = (size_t)((unsigned long long)day * 0x9E3779B97F4A7C15ULL) & mask;
	while (t->slots[i].used && t->slots[i].day != day)
		i = (i + 1) & mask;
	if (!t->slots[i].used) {
		t->slots[i].used = true;
		t->slots[i].day = day;
		t->n++;
	}
	return &t->slots[i];
}

static int
day_cmp(const void *a, const void *b)
{
	const struct day_slot *x = a, *y = b;

	return x->day < y->day ? -1 : x->day > y->day;
}

int
store_report_days(const struct report_data *d,
		  int (*fn)(void *arg, const struct report_day *rd), void *arg,
		  char *err, size_t errlen)
{
	struct day_table t = { NULL, 0, 0 };
	struct day_slot *ds;
	struct report_day rd;
	struct sq *s;
	size_t n = 0;
	int rc, stop = 0;

	if (d->n_pm == 0)
		return 0;
	if (prepare_days(d->st, &d->f, &s, err, errlen) == -1)
		return -1;
	sq_stream(s);
	while ((rc = sq_step(s)) == 1) {
		if ((ds = day_slot(&t, col_ll(s, 0))) == NULL) {
			snprintf(err, errlen, "report: out of memory");
			stop = -1;
			break;
		}
		ds->opens_human += col_ll(s, 1);
		ds->clicks_human += col_ll(s, 2);
	}
	if (stop == 0 && rc != 0)
		stop = dberr(d->st, err, errlen, "report: days");
	sq_finish(s);
	/* The used slots to the front, in order of day. */
	for (size_t i = 0; stop == 0 && i < t.cap; i++)
		if (t.slots[i].used)
			t.slots[n++] = t.slots[i];
	if (stop == 0 && n > 0)
		qsort(t.slots, n, sizeof(*t.slots), day_cmp);
	for (size_t i = 0; stop == 0 && i < n; i++) {
		rd.day = t.slots[i].day;
		rd.opens_human = t.slots[i].opens_human;
		rd.clicks_human = t.slots[i].clicks_human;
		stop = fn(arg, &rd);
	}
	free(t.slots);
	return stop;
}

/* A growing text buffer: the strings of one message and its links, kept as
 * offsets while the buffer may move. */
struct textbuf {
	char *p;
	size_t n, cap;
};

#define NO_TEXT ((size_t)-1)

static size_t
tb_add(struct textbuf *b, const char *s, bool *nomem)
{
	size_t len, at = b->n;

	if (s == NULL)
		return NO_TEXT;
	len = strlen(s) + 1;
	if (b->n + len > b->cap) {
		size_t nc = b->cap ? b->cap : 256;
		char *q;

		while (nc < b->n + len)
			nc *= 2;
		if ((q = realloc(b->p, nc)) == NULL) {
			*nomem = true;
			return NO_TEXT;
		}
		b->p = q;
		b->cap = nc;
	}
	memcpy(b->p + at, s, len);
	b->n += len;
	return at;
}

static const char *
tb_str(const struct textbuf *b, size_t at)
{
	return at == NO_TEXT ? NULL : b->p + at;
}

/* One message of pass 2 being read: its row, then its links. */
struct msg_rows {
	struct report_message m;
	size_t id, queue_id, message_id, sender, subject;	/* in text */
	struct report_link *links;
	size_t *urls;			/* in text, one per link */
	size_t n_links, cap_links, cap_urls;
	struct textbuf text;
};

static int
link_cmp(const void *a, const void *b)
{
	const struct report_link *x = a, *y = b;

	return x->num < y->num ? -1 : x->num > y->num;
}

/* The message with pass 1's numbers, to the callback. */
static int
emit_message(struct msg_rows *r, const struct pm *p,
	     int (*fn)(void *arg, const struct report_message *m), void *arg)
{
	struct report_message *m = &r->m;
	bool sorted = true;

	m->id = tb_str(&r->text, r->id);
	m->queue_id = tb_str(&r->text, r->queue_id);
	m->message_id = tb_str(&r->text, r->message_id);
	m->sender = tb_str(&r->text, r->sender);
	m->subject = tb_str(&r->text, r->subject);
	m->opens_human = p->oh;
	m->opens_machine = p->om;
	m->has_first_human_open = p->has_first;
	m->first_human_open = p->has_first ? p->first_open : 0;
	m->clicks_human = p->ch;
	m->clicks_scanner = p->cs;
	m->optouts = p->oo;
	for (size_t i = 0; i < r->n_links; i++) {
		struct report_link *l = &r->links[i];

		l->url = tb_str(&r->text, r->urls[i]);
		if (i > 0 && l[-1].num > l->num)
			sorted = false;
	}
	if (!sorted)
		qsort(r->links, r->n_links, sizeof(*r->links), link_cmp);
	m->links = r->links;
	m->n_links = r->n_links;
	return fn(arg, m);
}

/* Pass 2: the same messages (same filter, index and order) with their text
 * and their links with the links' counters, matched to pass 1's numbers by
 * position. */
int
store_report_messages(struct store *st, const struct report_data *d,
		      int (*fn)(void *arg, const struct report_message *m), void *arg,
		      char *err, size_t errlen)
{
	static const char head[] =
	    "SELECT m.rowid, m.id, m.queue_id, m.message_id_header, m.sender, m.subject,"
	    "  m.sent, m.recipient_count, m.link_count, l.num, l.url, l.clicks_human,"
	    "  l.clicks_scanner";
	static const char join[] = " LEFT JOIN links l ON l.message_id = m.id";
	struct msg_rows r;
	const struct pm *p = NULL;
	size_t next = 0;
	bool nomem = false;
	struct sq *s;
	int rc, stop = 0;

	memset(&r, 0, sizeof(r));
	if (prepare_filtered(st, &d->f, head, join, ORDER, NULL, &s, err, errlen) == -1)
		return -1;
	sq_stream(s);	/* the callback writes output, it runs no query */
	while ((rc = sq_step(s)) == 1) {
		long long rowid = col_ll(s, 0);

		if (p == NULL || rowid != p->rowid) {
			if (p != NULL && (stop = emit_message(&r, p, fn, arg)) != 0)
				break;
			if (next >= d->n_pm || d->pm[next].rowid != rowid) {
				snprintf(err, errlen, "report: the messages changed during "
				    "the report");
				stop = -1;
				break;
			}
			p = &d->pm[next++];
			r.text.n = 0;
			r.n_links = 0;
			memset(&r.m, 0, sizeof(r.m));
			r.id = tb_add(&r.text, col_text(s, 1), &nomem);
			r.queue_id = tb_add(&r.text, col_text(s, 2), &nomem);
			r.message_id = tb_add(&r.text, col_text(s, 3), &nomem);
			r.sender = tb_add(&r.text, col_text(s, 4), &nomem);
			r.subject = tb_add(&r.text, col_text(s, 5), &nomem);
			if (r.id == NO_TEXT)
				r.id = tb_add(&r.text, "", &nomem);
			if (r.sender == NO_TEXT)
				r.sender = tb_add(&r.text, "", &nomem);
			r.m.sent = col_ll(s, 6);
			r.m.recipients = col_ll(s, 7);
			r.m.link_count = col_ll(s, 8);
		}
		if (!col_null(s, 9)) {
			void *ql = grow(r.links, r.n_links, &r.cap_links, sizeof(*r.links));

			if (ql != NULL)
				r.links = ql;
			ql = ql == NULL ? NULL : grow(r.urls, r.n_links, &r.cap_urls, sizeof(*r.urls));
			if (ql == NULL) {
				nomem = true;
			} else {
				r.urls = ql;
				r.links[r.n_links].num = col_ll(s, 9);
				r.links[r.n_links].human_clicks = col_ll(s, 11);
				r.links[r.n_links].scanner_clicks = col_ll(s, 12);
				r.urls[r.n_links] = tb_add(&r.text, col_text(s, 10), &nomem);
				r.n_links++;
			}
		}
		if (nomem) {
			snprintf(err, errlen, "report: out of memory");
			stop = -1;
			break;
		}
	}
	if (stop == 0 && rc != 0)
		stop = dberr(st, err, errlen, "report: messages");
	if (stop == 0 && p != NULL)
		stop = emit_message(&r, p, fn, arg);
	if (stop == 0 && next != d->n_pm) {
		snprintf(err, errlen, "report: the messages changed during the report");
		stop = -1;
	}
	free(r.links);
	free(r.urls);
	free(r.text.p);
	sq_finish(s);
	return stop;
}

/* Grouped by the stored URL: a destination's links in any message are one
 * row. NULL sorts first on SQLite and last on PostgreSQL: "l.url IS NULL"
 * puts it last on both. */
int
store_report_urls(struct store *st, const struct report_data *d,
		  int (*fn)(void *arg, const struct report_url *u), void *arg,
		  char *err, size_t errlen)
{
	static const char head[] =
	    "SELECT l.url, count(DISTINCT m.id), CAST(sum(l.clicks_human) AS BIGINT),"
	    "  CAST(sum(l.clicks_scanner) AS BIGINT)";
	static const char join[] = " JOIN links l ON l.message_id = m.id";
	static const char tail[] = " GROUP BY l.url ORDER BY 3 DESC, l.url IS NULL, l.url";
	struct report_url u;
	struct sq *s;
	int rc, stop = 0;

	if (prepare_filtered(st, &d->f, head, join, tail, NULL, &s, err, errlen) == -1)
		return -1;
	sq_stream(s);	/* the callback writes output, it runs no query */
	while ((rc = sq_step(s)) == 1) {
		u.url = col_text(s, 0);
		u.messages = col_ll(s, 1);
		u.human_clicks = col_ll(s, 2);
		u.scanner_clicks = col_ll(s, 3);
		if ((stop = fn(arg, &u)) != 0)
			break;
	}
	if (stop == 0 && rc != 0)
		stop = dberr(st, err, errlen, "report: urls");
	sq_finish(s);
	return stop;
}

/* ---- places (geoip_database) ---- */

/* One place's human opens within a message or a sender. */
struct place_count {
	char country[3];
	char *city;			/* malloc'd; NULL when none */
	long long n;
};

struct place_list {
	struct place_count *p;
	size_t n, cap;
};

/* By country, then city (none first), bytewise: the order of both
 * backends' text (SQLite's BINARY, PostgreSQL's "C"). */
static int
place_key_cmp(const void *a, const void *b)
{
	const struct place_count *x = a, *y = b;
	int c = strcmp(x->country, y->country);

	return c != 0 ? c : strcmp(x->city ? x->city : "", y->city ? y->city : "");
}

/* The most opens first, then by place. */
static int
place_count_cmp(const void *a, const void *b)
{
	const struct place_count *x = a, *y = b;

	if (x->n != y->n)
		return x->n > y->n ? -1 : 1;
	return place_key_cmp(a, b);
}

static void
place_list_clear(struct place_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->p[i].city);
	l->n = 0;
}

/* Appends n opens of (country, city), merged into an equal entry when
 * merge (a message has a few places: a linear search is enough). */
static int
place_list_add(struct place_list *l, const char *country, const char *city, long long n,
	       bool merge)
{
	struct place_count key = { { 0 }, (char *)city, n };
	struct place_count *p;

	snprintf(key.country, sizeof(key.country), "%s", country ? country : "");
	for (size_t i = 0; merge && i < l->n; i++)
		if (place_key_cmp(&l->p[i], &key) == 0) {
			l->p[i].n += n;
			return 0;
		}
	if ((p = grow(l->p, l->n, &l->cap, sizeof(*l->p))) == NULL)
		return -1;
	l->p = p;
	key.city = city ? strdup(city) : NULL;
	if (city != NULL && key.city == NULL)
		return -1;
	l->p[l->n++] = key;
	return 0;
}

/* Sorts l (summing equal places first when merge) and calls fn for each. */
static int
place_list_emit(struct place_list *l, bool merge, const char *sender, const char *message,
		int (*fn)(void *arg, const struct report_place *p), void *arg)
{
	size_t n = l->n;
	int stop = 0;

	if (merge && n > 1) {
		qsort(l->p, n, sizeof(*l->p), place_key_cmp);
		n = 1;
		for (size_t i = 1; i < l->n; i++) {
			if (place_key_cmp(&l->p[n - 1], &l->p[i]) == 0) {
				l->p[n - 1].n += l->p[i].n;
				free(l->p[i].city);
			} else {
				l->p[n++] = l->p[i];
			}
		}
		l->n = n;
	}
	qsort(l->p, n, sizeof(*l->p), place_count_cmp);
	for (size_t i = 0; i < n && stop == 0 && fn != NULL; i++) {
		struct report_place rp = { sender, message, l->p[i].country, l->p[i].city,
					   l->p[i].n };
		stop = fn(arg, &rp);
	}
	return stop;
}

/* The walk over the located human opens, in the report's order of
 * messages: one message's rows, then the next. */
struct place_walk {
	struct place_list msg, sender;
	char *cur_sender, *cur_msg;
	int (*message_fn)(void *arg, const struct report_place *p);
	int (*sender_fn)(void *arg, const struct report_place *p);
	void *arg;
};

/* The current message ends: its places out, and added to its sender's. */
static int
places_message_end(struct place_walk *w)
{
	int stop = 0;

	if (w->cur_msg == NULL)
		return 0;
	stop = place_list_emit(&w->msg, false, w->cur_sender, w->cur_msg, w->message_fn, w->arg);
	for (size_t i = 0; stop == 0 && i < w->msg.n; i++)
		if (w->sender_fn != NULL &&
		    place_list_add(&w->sender, w->msg.p[i].country, w->msg.p[i].city,
				   w->msg.p[i].n, false) != 0)
			stop = -1;
	place_list_clear(&w->msg);
	free(w->cur_msg);
	w->cur_msg = NULL;
	return stop;
}

static int
places_sender_end(struct place_walk *w)
{
	int stop = 0;

	if (w->cur_sender == NULL)
		return 0;
	stop = place_list_emit(&w->sender, true, w->cur_sender, NULL, w->sender_fn, w->arg);
	place_list_clear(&w->sender);
	free(w->cur_sender);
	w->cur_sender = NULL;
	return stop;
}

/* The partial index events_place holds the events with a place, so both
 * the check that there is any and the per-message lookups read only those:
 * without geoip_database the places cost one probe of an empty index. The
 * verdict is tested as "verdict || ''", which no index can seek on: one
 * seek per message (message_id, kind), not one per verdict (twice the
 * time on SQLite). The rows come in the report's order (on SQLite that of
 * its index, no sort) and are summed here, per message and per sender,
 * in one pass; GROUP BY and ORDER BY in SQL took as long again. */
int
store_report_places(struct store *st, const struct report_data *d,
		    int (*message_fn)(void *arg, const struct report_place *p),
		    int (*sender_fn)(void *arg, const struct report_place *p), void *arg,
		    char *err, size_t errlen)
{
	static const char any[] = "SELECT 1 FROM events WHERE country IS NOT NULL LIMIT 1";
	static const char head[] = "SELECT m.sender, m.id, e.country, e.city";
	static const char join[] =
	    " JOIN events e ON e.message_id = m.id AND e.country IS NOT NULL"
	    "  AND e.kind = 'open' AND e.verdict || '' IN " STORE_HUMAN_OPEN_VERDICTS_SQL;
	struct place_walk w = { .message_fn = message_fn, .sender_fn = sender_fn, .arg = arg };
	struct sq *s;
	bool dbfail = false;
	int rc, stop = 0;

	if (d->n_pm == 0)
		return 0;
	if (prepare(st, any, NULL, &s, err, errlen) == -1)
		return -1;
	if ((rc = sq_step(s)) == -1)
		dberr(st, err, errlen, "report: places");
	sq_finish(s);
	if (rc != 1)
		return rc;	/* 0: no event has a place */
	if (prepare_filtered(st, &d->f, head, join, ORDER, NULL, &s, err, errlen) == -1)
		return -1;
	sq_stream(s);	/* the callbacks write output, they run no query */
	while (stop == 0 && (rc = sq_step(s)) == 1) {
		const char *sender = col_text(s, 0), *id = col_text(s, 1);

		if (sender == NULL || id == NULL)
			continue;
		if (w.cur_msg == NULL || strcmp(w.cur_msg, id) != 0) {
			stop = places_message_end(&w);
			if (stop == 0 && (w.cur_sender == NULL || strcmp(w.cur_sender, sender) != 0)) {
				stop = places_sender_end(&w);
				if (stop == 0 && (w.cur_sender = strdup(sender)) == NULL)
					stop = -1;
			}
			if (stop == 0 && (w.cur_msg = strdup(id)) == NULL)
				stop = -1;
		}
		if (stop == 0 && place_list_add(&w.msg, col_text(s, 2), col_text(s, 3), 1, true) != 0)
			stop = -1;
	}
	if (stop == 0 && rc != 0) {
		dberr(st, err, errlen, "report: places");
		dbfail = true;
		stop = -1;
	}
	if (stop == 0)
		stop = places_message_end(&w);
	if (stop == 0)
		stop = places_sender_end(&w);
	if (stop == -1 && !dbfail)
		snprintf(err, errlen, "report: places: out of memory");
	sq_finish(s);
	place_list_clear(&w.msg);
	place_list_clear(&w.sender);
	free(w.msg.p);
	free(w.sender.p);
	free(w.cur_msg);
	free(w.cur_sender);
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
	static const char by_sender_pg[] =
	    "SELECT m.id, m.queue_id, m.message_id_header, m.sender, m.sasl_login,"
	    "  m.words, m.subject, m.sent, m.recipient_count, m.link_count"
	    " FROM messages m WHERE lower(m.sender) = lower(?1 COLLATE \"C\")"
	    " ORDER BY m.sent, m.id";
	struct export_message m;
	struct sq *s;
	int rc, stop = 0;

	/* Not read row by row: the callback exports each message's links and
	 * events with queries of their own. */
	if (prepare(st, hash ? by_rcpt : by_sender, hash ? NULL : by_sender_pg, &s, err,
		    errlen) == -1)
		return -1;
	rc = hash ? sq_bind_blob(s, 1, hash, STORE_HASH_LEN) :
	    sq_bind_text(s, 1, sender ? sender : "");
	if (rc != 0) {
		dberr(st, err, errlen, "export: bind");
		sq_finish(s);
		return -1;
	}
	while ((rc = sq_step(s)) == 1) {
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
	if (stop == 0 && rc != 0)
		stop = dberr(st, err, errlen, "export: messages");
	sq_finish(s);
	return stop;
}

int
store_export_links(struct store *st, const char *message_id,
		   int (*fn)(void *arg, long long num, const char *url), void *arg,
		   char *err, size_t errlen)
{
	static const char sql[] =
	    "SELECT num, url FROM links WHERE message_id = ?1 ORDER BY num";
	struct sq *s;
	int rc, stop = 0;

	if (prepare(st, sql, NULL, &s, err, errlen) == -1)
		return -1;
	if (sq_bind_text(s, 1, message_id ? message_id : "") != 0) {
		dberr(st, err, errlen, "export: bind");
		sq_finish(s);
		return -1;
	}
	while ((rc = sq_step(s)) == 1)
		if ((stop = fn(arg, col_ll(s, 0), col_text(s, 1))) != 0)
			break;
	if (stop == 0 && rc != 0)
		stop = dberr(st, err, errlen, "export: links");
	sq_finish(s);
	return stop;
}

int
store_export_events(struct store *st, const char *message_id, const unsigned char *hash,
		    int (*fn)(void *arg, const struct export_event *e), void *arg,
		    char *err, size_t errlen)
{
	static const char by_msg[] =
	    "SELECT id, kind, link, time, ip_masked, client_class, verdict, dnt,"
	    "  recipient_hash, country, city FROM events WHERE message_id = ?1 ORDER BY id";
	static const char by_hash[] =
	    "SELECT id, kind, link, time, ip_masked, client_class, verdict, dnt,"
	    "  recipient_hash, country, city FROM events e WHERE recipient_hash = ?1"
	    "  AND NOT EXISTS (SELECT 1 FROM message_recipients r"
	    "   WHERE r.message_id = e.message_id AND r.recipient_hash = ?1)"
	    " ORDER BY id";
	struct export_event e;
	struct sq *s;
	int rc, stop = 0;

	if (message_id == NULL && hash == NULL) {
		snprintf(err, errlen, "export: no message and no recipient");
		return -1;
	}
	if (prepare(st, message_id ? by_msg : by_hash, NULL, &s, err, errlen) == -1)
		return -1;
	rc = message_id ? sq_bind_text(s, 1, message_id) : sq_bind_blob(s, 1, hash, STORE_HASH_LEN);
	if (rc != 0) {
		dberr(st, err, errlen, "export: bind");
		sq_finish(s);
		return -1;
	}
	while ((rc = sq_step(s)) == 1) {
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
		if (!col_null(s, 8))
			e.recipient_hash = sq_blob(s, 8, &e.recipient_hash_len);
		e.country = col_text(s, 9);
		e.city = col_text(s, 10);
		if ((stop = fn(arg, &e)) != 0)
			break;
	}
	if (stop == 0 && rc != 0)
		stop = dberr(st, err, errlen, "export: events");
	sq_finish(s);
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
	struct sq *s;
	int rc, ret = 0;

	if (prepare(st, sql, NULL, &s, err, errlen) == -1)
		return -1;
	if (sq_bind_blob(s, 1, hash, STORE_HASH_LEN) != 0) {
		dberr(st, err, errlen, "export: bind");
		sq_finish(s);
		return -1;
	}
	rc = sq_step(s);
	if (rc == 1) {
		o.time = col_ll(s, 0);
		o.message_id = col_text(s, 1);
		ret = 1;
		if (fn != NULL && fn(arg, &o) != 0)
			ret = -1;
	} else if (rc != 0) {
		ret = dberr(st, err, errlen, "export: opt-out");
	}
	sq_finish(s);
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
bind_arg(struct sq *s, struct arg a1)
{
	switch (a1.type) {
	case A_HASH:
		return sq_bind_blob(s, 1, a1.p, STORE_HASH_LEN);
	case A_TEXT:
		return sq_bind_text(s, 1, a1.p);
	case A_INT:
		return sq_bind_int64(s, 1, a1.i);
	case A_NONE:
		break;
	}
	return 0;
}

static int
run_counted(struct store *st, const char *sql, const char *pg_sql, struct arg a1,
	    long long *count, char *err, size_t errlen, const char *what)
{
	struct sq *s;
	int rc = 0;

	if (prepare(st, sql, pg_sql, &s, err, errlen) == -1)
		return -1;
	if (bind_arg(s, a1) == 0) {
		while ((rc = sq_step(s)) == 1)
			;
	} else {
		rc = -1;
	}
	if (rc != 0) {
		dberr(st, err, errlen, what);
		sq_finish(s);
		return -1;
	}
	if (count != NULL)
		*count += sq_changes(s);
	sq_finish(s);
	return 0;
}

static int
count_query(struct store *st, const char *sql, struct arg a1, long long *out,
	    char *err, size_t errlen, const char *what)
{
	struct sq *s;
	int rc;

	*out = 0;
	if (prepare(st, sql, NULL, &s, err, errlen) == -1)
		return -1;
	rc = bind_arg(s, a1) == 0 ? sq_step(s) : -1;
	if (rc == 1) {
		*out = col_ll(s, 0);
		rc = 0;
	}
	if (rc != 0) {
		dberr(st, err, errlen, what);
		sq_finish(s);
		return -1;
	}
	sq_finish(s);
	return 0;
}

/* The ids of the messages being erased, and of those whose events are
 * partly erased (their counters are then counted again), in temporary
 * tables in memory (PostgreSQL: the session's temporary schema, pg_temp). */
static int
doomed_init(struct store *st, char *err, size_t errlen)
{
	if (exec(st, "PRAGMA temp_store = MEMORY", "", err, errlen, "erase: temp store") == -1 ||
	    exec(st, "CREATE TEMP TABLE IF NOT EXISTS mb_doomed (id TEXT PRIMARY KEY)",
		 "CREATE TEMP TABLE IF NOT EXISTS mb_doomed (id text COLLATE \"C\" PRIMARY KEY)",
		 err, errlen, "erase: temporary table") == -1 ||
	    exec(st, COUNTERS_RECOUNT_TABLE, COUNTERS_RECOUNT_TABLE_PG, err, errlen,
		 "erase: temporary table") == -1 ||
	    exec(st, "DELETE FROM temp.mb_doomed", NULL, err, errlen, "erase: temporary table") == -1 ||
	    exec(st, "DELETE FROM temp.mb_recount", NULL, err, errlen,
		 "erase: temporary table") == -1)
		return -1;
	return 0;
}

/* Deletes the events that sql (constant, with ?1 as a1) selects by their
 * "FROM events ..." clause, counting them, and counts their messages
 * again, in the caller's transaction. */
static int
erase_events(struct store *st, const char *from, struct arg a1, long long *count, char *err,
	     size_t errlen, const char *what)
{
	char collect[256], del[256];

	snprintf(collect, sizeof(collect),
		 "INSERT INTO temp.mb_recount SELECT DISTINCT message_id %s", from);
	snprintf(del, sizeof(del), "DELETE %s", from);
	if (run_counted(st, collect, NULL, a1, NULL, err, errlen, what) == -1 ||
	    run_counted(st, del, NULL, a1, count, err, errlen, what) == -1 ||
	    exec(st, COUNTERS_RECOUNT_LISTED, NULL, err, errlen, "erase: counters") == -1)
		return -1;
	return 0;
}

/* Deletes the doomed messages with their events, links and recipient
 * rows, counting each table. */
static int
erase_doomed(struct store *st, struct store_erase_counts *c, char *err, size_t errlen)
{
	const struct arg none = { A_NONE, NULL, 0 };

	if (run_counted(st, "DELETE FROM events WHERE message_id IN"
	    " (SELECT id FROM temp.mb_doomed)", NULL, none, &c->events, err, errlen,
	    "erase: events") == -1 ||
	    run_counted(st, "DELETE FROM message_days WHERE message_id IN"
	    " (SELECT id FROM temp.mb_doomed)", NULL, none, NULL, err, errlen,
	    "erase: counters") == -1 ||
	    run_counted(st, "DELETE FROM links WHERE message_id IN"
	    " (SELECT id FROM temp.mb_doomed)", NULL, none, &c->links, err, errlen,
	    "erase: links") == -1 ||
	    run_counted(st, "DELETE FROM message_recipients WHERE message_id IN"
	    " (SELECT id FROM temp.mb_doomed)", NULL, none, &c->message_recipients, err, errlen,
	    "erase: message recipients") == -1 ||
	    run_counted(st, "DELETE FROM messages WHERE id IN"
	    " (SELECT id FROM temp.mb_doomed)", NULL, none, &c->messages, err, errlen,
	    "erase: messages") == -1 ||
	    exec(st, "DELETE FROM temp.mb_doomed", NULL, err, errlen, "erase: temporary table") == -1)
		return -1;
	return 0;
}

static int
erase_begin(struct store *st, struct store_erase_counts *c, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	if (st == NULL)
		return dberr(st, err, errlen, "erase");
	if (doomed_init(st, err, errlen) == -1)
		return -1;
	return exec(st, "BEGIN IMMEDIATE", "BEGIN", err, errlen, "erase: begin");
}

static int
erase_end(struct store *st, int ok, char *err, size_t errlen)
{
	if (ok == 0 && exec(st, "COMMIT", NULL, err, errlen, "erase: commit") == 0)
		return 0;
	if (sq_in_transaction(st))
		(void)sq_exec(st, "ROLLBACK", NULL);
	(void)sq_exec(st, "DELETE FROM temp.mb_doomed", NULL);
	return -1;
}

int
store_forget_recipient(struct store *st, const unsigned char hash[STORE_HASH_LEN],
		       struct store_erase_counts *c, char *err, size_t errlen)
{
	const struct arg h = { A_HASH, hash, 0 };
	int ok;

	if (erase_begin(st, c, err, errlen) == -1)
		return -1;
	ok = run_counted(st, "INSERT INTO temp.mb_doomed SELECT DISTINCT r.message_id"
	    " FROM message_recipients r WHERE r.recipient_hash = ?1 AND NOT EXISTS"
	    " (SELECT 1 FROM message_recipients o WHERE o.message_id = r.message_id"
	    "  AND o.recipient_hash <> ?1)", NULL, h, NULL, err, errlen,
	    "forget: find messages") == 0 &&
	    erase_doomed(st, c, err, errlen) == 0 &&
	    run_counted(st, "DELETE FROM message_recipients WHERE recipient_hash = ?1", NULL,
	    h, &c->message_recipients, err, errlen, "forget: message recipients") == 0 &&
	    /* Events naming them outlive their opt-out only by accident. */
	    erase_events(st, "FROM events WHERE recipient_hash = ?1 AND NOT EXISTS"
	    " (SELECT 1 FROM optouts WHERE recipient_hash = ?1)", h, &c->events, err, errlen,
	    "forget: events") == 0 &&
	    count_query(st, "SELECT count(*) FROM optouts WHERE recipient_hash = ?1", h,
	    &c->optouts_kept, err, errlen, "forget: opt-outs") == 0 ? 0 : -1;
	return erase_end(st, ok, err, errlen);
}

int
store_forget_sender(struct store *st, const char *sender,
		    struct store_erase_counts *c, char *err, size_t errlen)
{
	const struct arg a = { A_TEXT, sender ? sender : "", 0 };
	int ok;

	if (erase_begin(st, c, err, errlen) == -1)
		return -1;
	ok = run_counted(st, "INSERT INTO temp.mb_doomed SELECT id FROM messages"
	    " WHERE sender = ?1 COLLATE NOCASE",
	    "INSERT INTO temp.mb_doomed SELECT id FROM messages"
	    " WHERE lower(sender) = lower(?1 COLLATE \"C\")", a, NULL, err, errlen,
	    "forget: find messages") == 0 &&
	    count_query(st, "SELECT count(*) FROM optouts WHERE message_id IN"
	    " (SELECT id FROM temp.mb_doomed)", (struct arg){ A_NONE, NULL, 0 },
	    &c->optouts_kept, err, errlen, "forget: opt-outs") == 0 &&
	    erase_doomed(st, c, err, errlen) == 0 ? 0 : -1;
	return erase_end(st, ok, err, errlen);
}

int
store_purge(struct store *st, long long cutoff, struct store_erase_counts *c,
	    char *err, size_t errlen)
{
	const struct arg t = { A_INT, NULL, cutoff };
	long long events_dropped = 0, dropped = 0;
	int ok;

	/* PostgreSQL: whole months before the cutoff go as partitions (their
	 * rows counted first), in a short transaction of their own: dropping
	 * one locks the events table; what remains is deleted row by row. */
	if (store_events_drop_before(st, cutoff, &events_dropped, &dropped, err, errlen) < 0)
		return -1;
	if (erase_begin(st, c, err, errlen) == -1)
		return -1;
	c->events = events_dropped;
	c->partitions_dropped = dropped;
	ok = run_counted(st, "INSERT INTO temp.mb_doomed SELECT id FROM messages"
	    " WHERE sent < ?1", NULL, t, NULL, err, errlen, "purge: find messages") == 0 &&
	    erase_doomed(st, c, err, errlen) == 0 &&
	    erase_events(st, "FROM events WHERE time < ?1", t, &c->events, err, errlen,
	    "purge: events") == 0 &&
	    count_query(st, "SELECT count(*) FROM optouts", (struct arg){ A_NONE, NULL, 0 },
	    &c->optouts_kept, err, errlen, "purge: opt-outs") == 0 ? 0 : -1;
	return erase_end(st, ok, err, errlen);
}

int
store_compact(struct store *st, bool vacuum, bool *complete, char *err, size_t errlen)
{
	*complete = false;
	if (st == NULL)
		return dberr(st, err, errlen, "compact");
	if (vacuum && exec(st, "VACUUM", NULL, err, errlen, "vacuum") == -1)
		return -1;
	/* PostgreSQL has no log file of ours to truncate: its WAL is the
	 * server's. */
	if (store_is_pg(st)) {
		*complete = true;
		return 0;
	}
	return store_checkpoint(st, complete, err, errlen);
}
