/* beacon/readers: the beacon's database handles. Each HTTP thread reads
 * through a handle of its own; every handle is opened again when the file
 * at the database's path was removed or replaced; and the outcome of the
 * last write is what /healthz reports. */
#ifndef MB_READERS_H
#define MB_READERS_H
#include <stdbool.h>
#include <stddef.h>
#include "store.h"

/* *st, opened (again) when there is none or its file is no longer the
 * one at the database's path. NULL when the database cannot be opened. */
struct store *current_store(struct store **st, int busy_ms);
/* A per-thread store handle (NULL when the database is down), opened
 * again when its file was removed or replaced under the beacon. */
struct store *reader_store(void);
/* Lets go of this thread's handle after an error; the next call opens one. */
void reader_store_failed(void);
/* Closes every thread's read handle (after the HTTP threads stopped). */
void readers_close(void);
/* Notes the outcome of a write the beacon acknowledges (or would have). */
void health_note_write(bool ok, const char *why);
/* For /healthz: false, with why, when the database cannot be opened or the
 * last write failed and a write probe (at most once a second) fails too. */
bool health_ok(char *why, size_t whylen);

#endif
