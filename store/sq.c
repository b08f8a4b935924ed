/* sq: the store's statements on either backend: sqlite3_stmt on SQLite,
 * a parameterised libpq query on PostgreSQL (typed parameters, results
 * read at once or row by row, every round trip under the handle's
 * deadline). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "pg.h"
#include "sq.h"
#include "store_int.h"

/* PostgreSQL's type oids (server/catalog/pg_type_d.h, which libpq-dev
 * does not ship): stable across versions. */
#define OID_BYTEA 17
#define OID_INT8 20
#define OID_TEXT 25

#define SQ_MAX_PARAMS 32
/* Rows a cursor's FETCH brings at once: libpq's row-by-row mode makes a
 * result per row, which costs more than the report's own work on a
 * million rows; a batch is one result. */
#define SQ_FETCH_ROWS 20000

struct sq {
	struct store *st;
	sqlite3_stmt *s;		/* SQLite */
	struct pgstore *pg;		/* PostgreSQL: */
	char *sql;			/* the text with $N */
	int n_params;
	bool referenced[SQ_MAX_PARAMS + 1];
	char *vals[SQ_MAX_PARAMS];
	int lens[SQ_MAX_PARAMS], fmts[SQ_MAX_PARAMS];
	Oid types[SQ_MAX_PARAMS];
	bool stream, started;
	char cursor[32];		/* streaming through a cursor: its name */
	bool cursor_done;
	PGresult *res;			/* all rows, or the current one */
	int row;
	struct blob {
		unsigned char *p;	/* unescaped bytea of this row, per column */
		size_t n;
	} *blobs;
	int n_blobs;
	long long changes;
};

static const char *
what_of(const struct sq *q)
{
	(void)q;
	return "query";
}

/* ---- SQLite's dialect to PostgreSQL's ---- */

static bool
is_ident(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    c == '_' || c == '.';
}

/* ?N becomes $N and the schema "temp." becomes "pg_temp.", outside quoted
 * strings and identifiers; records which parameters appear. */
static char *
pg_dialect(const char *sql, struct sq *q, char *why, size_t whylen)
{
	size_t n = strlen(sql);
	char *out = malloc(2 * n + 1), *o = out;

	if (out == NULL) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < n;) {
		char c = sql[i];

		if (c == '\'' || c == '"') {
			size_t j = i + 1;

			while (j < n && !(sql[j] == c && (j + 1 >= n || sql[j + 1] != c)))
				j += sql[j] == c ? 2 : 1;
			j = j < n ? j + 1 : n;
			memcpy(o, sql + i, j - i);
			o += j - i;
			i = j;
		} else if (c == '?') {
			char *end;
			long k = strtol(sql + i + 1, &end, 10);

			if (end == sql + i + 1 || k < 1 || k > SQ_MAX_PARAMS) {
				snprintf(why, whylen, "parameter at offset %zu: only ?1 to ?%d", i,
					 SQ_MAX_PARAMS);
				free(out);
				return NULL;
			}
			q->referenced[k] = true;
			if (k > q->n_params)
				q->n_params = (int)k;
			o += sprintf(o, "$%ld", k);
			i = (size_t)(end - sql);
		} else if (strncmp(sql + i, "temp.", 5) == 0 && (i == 0 || !is_ident(sql[i - 1]))) {
			memcpy(o, "pg_temp.", 8);
			o += 8;
			i += 5;
		} else {
			*o++ = c;
			i++;
		}
	}
	*o = '\0';
	return out;
}

/* ---- statements ---- */

struct sq *
sq_prepare(struct store *st, const char *sql, const char *pg_sql)
{
	struct sq *q;
	char why[128];

	if (st == NULL || (q = calloc(1, sizeof(*q))) == NULL)
		return NULL;
	q->st = st;
	if ((q->pg = store_pg(st)) == NULL) {
		sqlite3 *db = store_db(st);

		if (sqlite3_prepare_v2(db, sql, -1, &q->s, NULL) != SQLITE_OK) {
			sqlite3_finalize(q->s);
			free(q);
			return NULL;
		}
		q->n_params = sqlite3_bind_parameter_count(q->s);
		return q;
	}
	if ((q->sql = pg_dialect(pg_sql != NULL ? pg_sql : sql, q, why, sizeof(why))) == NULL) {
		pgstore_fail(q->pg, "statement", why);
		free(q);
		return NULL;
	}
	return q;
}

void
sq_stream(struct sq *q)
{
	if (q != NULL)
		q->stream = true;
}

int
sq_params(const struct sq *q)
{
	return q != NULL ? q->n_params : 0;
}

static int
pg_bind(struct sq *q, int i, const void *v, size_t n, int fmt, Oid type)
{
	if (i < 1 || i > SQ_MAX_PARAMS)
		return -1;
	free(q->vals[i - 1]);
	q->vals[i - 1] = NULL;
	if (v != NULL) {
		if ((q->vals[i - 1] = malloc(n + 1)) == NULL)
			return -1;
		memcpy(q->vals[i - 1], v, n);
		q->vals[i - 1][n] = '\0';
	}
	q->lens[i - 1] = (int)n;
	q->fmts[i - 1] = fmt;
	q->types[i - 1] = type;
	if (i > q->n_params)
		q->n_params = i;
	return 0;
}

int
sq_bind_text(struct sq *q, int i, const char *v)
{
	if (q->pg != NULL)
		return pg_bind(q, i, v, v != NULL ? strlen(v) : 0, 0, v != NULL ? OID_TEXT : 0);
	return (v != NULL ? sqlite3_bind_text(q->s, i, v, -1, SQLITE_TRANSIENT)
		: sqlite3_bind_null(q->s, i)) == SQLITE_OK ? 0 : -1;
}

int
sq_bind_int64(struct sq *q, int i, long long v)
{
	char num[24];

	if (q->pg != NULL) {
		snprintf(num, sizeof(num), "%lld", v);
		return pg_bind(q, i, num, strlen(num), 0, OID_INT8);
	}
	return sqlite3_bind_int64(q->s, i, v) == SQLITE_OK ? 0 : -1;
}

int
sq_bind_null(struct sq *q, int i)
{
	if (q->pg != NULL)
		return pg_bind(q, i, NULL, 0, 0, 0);
	return sqlite3_bind_null(q->s, i) == SQLITE_OK ? 0 : -1;
}

int
sq_bind_blob(struct sq *q, int i, const void *p, size_t n)
{
	if (q->pg != NULL)
		return pg_bind(q, i, p, n, 1, OID_BYTEA);
	return sqlite3_bind_blob(q->s, i, p, (int)n, SQLITE_TRANSIENT) == SQLITE_OK ? 0 : -1;
}

static void
drop_blobs(struct sq *q)
{
	for (int i = 0; i < q->n_blobs; i++)
		PQfreemem(q->blobs[i].p);
	free(q->blobs);
	q->blobs = NULL;
	q->n_blobs = 0;
}

/* Sends the query with its parameters. A parameter the text does not use
 * is typed text (the server must know every type); a NULL one that it
 * uses is left for the server to infer. */
static int
pg_start(struct sq *q)
{
	struct pg_params p = { .n = q->n_params, .types = q->types,
			       .vals = (const char *const *)q->vals, .lens = q->lens,
			       .fmts = q->fmts };

	for (int i = 1; i <= q->n_params; i++)
		if (!q->referenced[i] && q->types[i - 1] == 0)
			q->types[i - 1] = OID_TEXT;
	q->started = true;
	q->row = -1;
	if (q->stream && pgstore_in_txn(q->pg)) {
		/* In a transaction (the report's snapshot): a cursor, read in
		 * batches; it closes with the transaction at the latest. */
		static unsigned long next_cursor;
		char *decl;

		snprintf(q->cursor, sizeof(q->cursor), "mb_sq_%lu",
			 __atomic_add_fetch(&next_cursor, 1, __ATOMIC_RELAXED));
		if (asprintf(&decl, "DECLARE %s NO SCROLL CURSOR FOR %s", q->cursor, q->sql) < 0) {
			q->cursor[0] = '\0';
			return -1;
		}
		PGresult *r = pgstore_query(q->pg, what_of(q), decl, &p);
		free(decl);
		bool ok = r != NULL && PQresultStatus(r) == PGRES_COMMAND_OK;
		PQclear(r);
		if (!ok)
			q->cursor[0] = '\0';
		return ok ? 0 : -1;
	}
	if (q->stream)
		return pgstore_stream_begin(q->pg, what_of(q), q->sql, &p);
	q->res = pgstore_query(q->pg, what_of(q), q->sql, &p);
	if (q->res == NULL)
		return -1;
	ExecStatusType s = PQresultStatus(q->res);
	if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK)
		return -1;
	q->changes = atoll(PQcmdTuples(q->res));
	return 0;
}

int
sq_step(struct sq *q)
{
	if (q == NULL)
		return -1;
	if (q->pg == NULL) {
		int rc = sqlite3_step(q->s);

		if (rc == SQLITE_DONE)
			q->changes = sqlite3_changes(sqlite3_db_handle(q->s));
		return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
	}
	drop_blobs(q);
	if (!q->started && pg_start(q) < 0)
		return -1;
	if (q->cursor[0] != '\0') {
		if (q->res != NULL && ++q->row < PQntuples(q->res))
			return 1;
		if (q->cursor_done)
			return 0;
		char fetch[64];
		snprintf(fetch, sizeof(fetch), "FETCH %d FROM %s", SQ_FETCH_ROWS, q->cursor);
		PQclear(q->res);
		q->res = pgstore_query(q->pg, what_of(q), fetch, NULL);
		q->row = 0;
		if (q->res == NULL || PQresultStatus(q->res) != PGRES_TUPLES_OK)
			return -1;
		if (PQntuples(q->res) < SQ_FETCH_ROWS)
			q->cursor_done = true;
		return PQntuples(q->res) > 0 ? 1 : 0;
	}
	if (q->stream) {
		PQclear(q->res);
		q->res = NULL;
		int rc = pgstore_stream_next(q->pg, what_of(q), &q->res);
		q->row = 0;
		return rc;
	}
	if (++q->row < PQntuples(q->res))
		return 1;
	q->row = PQntuples(q->res);
	return 0;
}

static bool
pg_has(const struct sq *q, int col)
{
	return q->res != NULL && q->row >= 0 && q->row < PQntuples(q->res) &&
	    col >= 0 && col < PQnfields(q->res);
}

bool
sq_null(struct sq *q, int col)
{
	if (q->pg == NULL)
		return sqlite3_column_type(q->s, col) == SQLITE_NULL;
	return !pg_has(q, col) || PQgetisnull(q->res, q->row, col);
}

bool
sq_is_integer(struct sq *q, int col)
{
	if (q->pg == NULL)
		return sqlite3_column_type(q->s, col) == SQLITE_INTEGER;
	if (sq_null(q, col))
		return false;
	Oid t = PQftype(q->res, col);
	return t == OID_INT8 || t == 23 /* int4 */ || t == 21 /* int2 */;
}

long long
sq_int64(struct sq *q, int col)
{
	if (q->pg == NULL)
		return (long long)sqlite3_column_int64(q->s, col);
	return sq_null(q, col) ? 0 : strtoll(PQgetvalue(q->res, q->row, col), NULL, 10);
}

const char *
sq_text(struct sq *q, int col)
{
	if (q->pg == NULL)
		return (const char *)sqlite3_column_text(q->s, col);
	return sq_null(q, col) ? NULL : PQgetvalue(q->res, q->row, col);
}

const void *
sq_blob(struct sq *q, int col, size_t *len)
{
	*len = 0;
	if (q->pg == NULL) {
		const void *p = sqlite3_column_blob(q->s, col);

		*len = (size_t)sqlite3_column_bytes(q->s, col);
		return p;
	}
	if (sq_null(q, col))
		return NULL;
	if (q->blobs == NULL) {
		q->n_blobs = PQnfields(q->res);
		if ((q->blobs = calloc((size_t)q->n_blobs, sizeof(*q->blobs))) == NULL) {
			q->n_blobs = 0;
			return NULL;
		}
	}
	if (q->blobs[col].p == NULL) {
		q->blobs[col].p = PQunescapeBytea((const unsigned char *)PQgetvalue(q->res, q->row, col),
						  &q->blobs[col].n);
		if (q->blobs[col].p == NULL)
			return NULL;
	}
	*len = q->blobs[col].n;
	return q->blobs[col].p;
}

long long
sq_changes(const struct sq *q)
{
	return q != NULL ? q->changes : 0;
}

void
sq_finish(struct sq *q)
{
	if (q == NULL)
		return;
	if (q->pg == NULL) {
		sqlite3_finalize(q->s);
	} else {
		if (q->cursor[0] != '\0' && pgstore_connected(q->pg)) {
			char close_sql[64];

			snprintf(close_sql, sizeof(close_sql), "CLOSE %s", q->cursor);
			PQclear(pgstore_query(q->pg, what_of(q), close_sql, NULL));
		} else if (q->stream && q->started && q->cursor[0] == '\0') {
			PGresult *r = NULL;
			/* Rows not read: the connection goes (see pg.h). */
			if (q->res != NULL || pgstore_stream_next(q->pg, what_of(q), &r) == 1)
				pgstore_stream_abort(q->pg);
			PQclear(r);
		}
		PQclear(q->res);
		drop_blobs(q);
		for (int i = 0; i < SQ_MAX_PARAMS; i++)
			free(q->vals[i]);
		free(q->sql);
	}
	free(q);
}

/* ---- whole statements ---- */

static bool
starts_with_word(const char *sql, const char *word)
{
	size_t n = strlen(word);

	while (*sql == ' ' || *sql == '\n' || *sql == '\t')
		sql++;
	return strncasecmp(sql, word, n) == 0 && !is_ident(sql[n]);
}

int
sq_exec(struct store *st, const char *sql, const char *pg_sql)
{
	struct pgstore *pg = store_pg(st);

	if (st == NULL)
		return -1;
	if (pg == NULL)
		return sqlite3_exec(store_db(st), sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
	const char *text = pg_sql != NULL ? pg_sql : sql;
	if (*text == '\0')
		return 0;
	struct sq probe = { 0 };
	char why[128], *translated = pg_dialect(text, &probe, why, sizeof(why));
	if (translated == NULL) {
		pgstore_fail(pg, "statement", why);
		return -1;
	}
	PGresult *r = pgstore_query(pg, what_of(&probe), translated, NULL);
	ExecStatusType s = r != NULL ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	bool ok = s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
	PQclear(r);
	free(translated);
	if (starts_with_word(text, "BEGIN") && ok)
		pgstore_set_in_txn(pg, true);
	else if (starts_with_word(text, "COMMIT") || starts_with_word(text, "ROLLBACK") ||
		 starts_with_word(text, "END"))
		pgstore_set_in_txn(pg, false);
	return ok ? 0 : -1;
}

const char *
sq_reason(struct store *st)
{
	struct pgstore *pg = store_pg(st);

	if (st == NULL)
		return "database not open";
	if (pg != NULL)
		return pgstore_errmsg(pg);
	return sqlite3_errmsg(store_db(st));
}

bool
sq_in_transaction(struct store *st)
{
	struct pgstore *pg = store_pg(st);

	if (st == NULL)
		return false;
	if (pg != NULL)
		return pgstore_in_txn(pg);
	return !sqlite3_get_autocommit(store_db(st));
}
