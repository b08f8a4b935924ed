/* pg_int: what the two halves of the PostgreSQL backend share: the
 * handle, and the connection layer (pg_conn.c) that the schema and the
 * store's operations (pg.c) run their statements through. Nobody else. */
#ifndef MB_STORE_PG_INT_H
#define MB_STORE_PG_INT_H
#include <stdbool.h>
#include <stddef.h>
#include <libpq-fe.h>
#include "pg.h"

/* Months whose partition this handle knows to exist (a small cache). */
#define KNOWN_MONTHS 8

struct pgstore {
	PGconn *conn;		/* NULL after a lost connection */
	char *uri;
	char *password;		/* database_password_file's, or NULL */
	char display[256];
	int timeout_ms;
	bool in_txn;
	bool streaming;			/* a row-by-row query is being read */
	long long stream_deadline;
	long long connected_at;		/* monotonic ms */
	long long months[KNOWN_MONTHS];	/* partitions known to exist */
	size_t n_months;
	char err[1280];
};

/* Sets the handle's message to "DATABASE: fmt..." (one line). */
void pg_seterr(struct pgstore *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Connects (dropping any connection first), within the handle's deadline;
 * 0, or -1 with the message set (and the outage noted when the server
 * cannot be reached). */
int pg_connect(struct pgstore *st);
/* Closes the connection; the next call connects again. */
void pg_drop(struct pgstore *st);
/* One statement with n text (or, by fmts, binary) parameters under the
 * deadline: its result (a failed one too, with its SQLSTATE; the caller
 * clears it), or NULL when the connection was lost. */
PGresult *pg_exec(struct pgstore *st, const char *what, const char *sql, int n,
		  const char *const *vals, const int *lens, const int *fmts);
bool pg_ok(const PGresult *r);
/* The result's SQLSTATE, "" when it has none. */
const char *pg_sqlstate(const PGresult *r);
/* A statement without parameters or rows; 0 or -1. */
int pg_run(struct pgstore *st, const char *what, const char *sql);
int pg_begin(struct pgstore *st, const char *what);
int pg_commit(struct pgstore *st, const char *what);
/* Rolls back an open transaction, keeping the message already set. */
void pg_rollback(struct pgstore *st);
/* True (with err set) when libpq cannot read the URI: a configuration
 * error found before connecting; the message never quotes the URI. */
bool uri_unreadable(const char *uri, char *err, size_t errlen);

#endif
