/* sq: one statement on a store handle, whichever backend it is on, for the
 * store's files that run queries of their own (report, export, forget,
 * purge, sync, the webhook's reads). SQL is written in SQLite's dialect with
 * ?N parameters; on PostgreSQL ?N becomes $N and "temp." becomes
 * "pg_temp.", and where the dialects differ more the caller gives both. */
#ifndef MB_STORE_SQ_H
#define MB_STORE_SQ_H
#include <stdbool.h>
#include <stddef.h>
#include "store.h"

struct sq;

/* Prepares sql (pg_sql on PostgreSQL when not NULL). NULL on error, with
 * the reason in sq_reason(st). */
struct sq *sq_prepare(struct store *st, const char *sql, const char *pg_sql);
/* Reads the result row by row instead of all at once (PostgreSQL; SQLite
 * always does): for queries over millions of rows. Call before the first
 * step; nothing else may run on the handle until the statement is done. */
void sq_stream(struct sq *q);
/* The highest parameter number in the statement. */
int sq_params(const struct sq *q);
/* Binds parameter i (from 1); the value is copied. 0 or -1. */
int sq_bind_text(struct sq *q, int i, const char *v);	/* NULL: SQL NULL */
int sq_bind_int64(struct sq *q, int i, long long v);
int sq_bind_null(struct sq *q, int i);
int sq_bind_blob(struct sq *q, int i, const void *p, size_t n);
/* 1: a row; 0: done; -1: an error (sq_reason). */
int sq_step(struct sq *q);
bool sq_null(struct sq *q, int col);
/* True when the value is an integer (SQLite's type of this value; on
 * PostgreSQL, any non-NULL value of an integer column). */
bool sq_is_integer(struct sq *q, int col);
long long sq_int64(struct sq *q, int col);
const char *sq_text(struct sq *q, int col);	/* NULL for NULL */
/* The bytes of a blob column (valid until the next step), *len set. */
const void *sq_blob(struct sq *q, int col, size_t *len);
/* Rows inserted, updated or deleted by the statement (after its step). */
long long sq_changes(const struct sq *q);
/* Finishes the statement (any rows not read are dropped); NULL is fine. */
void sq_finish(struct sq *q);

/* Runs constant SQL without results (several statements on SQLite);
 * pg_sql "" means nothing to do on PostgreSQL (a PRAGMA). 0 or -1. SQL
 * that begins with BEGIN opens a transaction, COMMIT or ROLLBACK ends it:
 * on PostgreSQL a connection lost inside one is then never silently
 * replaced by a new one. */
int sq_exec(struct store *st, const char *sql, const char *pg_sql);
/* The database's reason for the last failure on the handle: SQLite's
 * message, or libpq's with the database named (never its password). */
const char *sq_reason(struct store *st);
/* Whether a transaction begun with sq_exec is open. */
bool sq_in_transaction(struct store *st);

#endif
