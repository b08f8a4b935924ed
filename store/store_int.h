/* store_int: what the store's own files share and nobody else sees. */
#ifndef MB_STORE_INT_H
#define MB_STORE_INT_H
#include <sqlite3.h>
#include "store.h"

/* Binds an event to the 9 parameters of "INSERT INTO events (message_id,
 * kind, link, time, ip_masked, client_class, verdict, dnt, recipient_hash)".
 * Returns an SQLite result code. */
int store_bind_event(sqlite3_stmt *s, const struct store_event *e);
/* The handle's SQLite connection, for the files of store/ that prepare,
 * bind and finalize statements of their own; NULL for NULL. */
sqlite3 *store_db(struct store *st);
/* Sets the handle's message (store_errmsg) to "PATH: what: SQLite's". */
void store_dberr(struct store *st, const char *what);

#endif
