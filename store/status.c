/* status: what mailbeacon db status shows of a database, on either backend:
 * its schema version against this program's, the rows of each table, and on
 * PostgreSQL the events' monthly partitions. One SQL text serves both. */
#include <stdio.h>
#include <string.h>

#include "pg.h"
#include "sq.h"
#include "store_int.h"

/* "events_y2026m12" -> "2026-12" (the name as mailbeacon_events_partition
 * makes it; anything else is left out). */
static void
partition_month(const char *relname, char out[8])
{
	int year, month;

	out[0] = '\0';
	if (relname != NULL && sscanf(relname, "events_y%4dm%2d", &year, &month) == 2 &&
	    year >= 0 && year <= 9999 && month >= 1 && month <= 12)
		snprintf(out, 8, "%04d-%02d", year, month);
}

/* PostgreSQL's monthly partitions of events: how many, the first and the
 * last. */
static int
partitions(struct store *st, struct store_status *s)
{
	struct sq *q = sq_prepare(st, "SELECT count(*), min(relname), max(relname)"
				  " FROM (" PGSTORE_PARTITIONS_SQL ") p", NULL);
	int rc = q != NULL ? sq_step(q) : -1;

	if (rc == 1) {
		s->partitioned = true;
		s->partitions = sq_int64(q, 0);
		partition_month(sq_text(q, 1), s->oldest);
		partition_month(sq_text(q, 2), s->newest);
	} else {
		store_dberr(st, "db status: events partitions");
	}
	sq_finish(q);
	return rc == 1 ? 0 : -1;
}

int
store_status(struct store *st, struct store_status *s)
{
	memset(s, 0, sizeof(*s));
	if (st == NULL)
		return -1;
	store_describe(st, s->backend, sizeof(s->backend));
	s->program_version = store_is_pg(st) ? PGSTORE_SCHEMA_VERSION : STORE_SCHEMA_VERSION;
	if ((s->schema_version = store_schema_version(st)) < 0)
		return -1;
	if (s->schema_version == 0)
		return 0;	/* nothing to count */
	struct sq *q = sq_prepare(st, "SELECT (SELECT count(*) FROM messages),"
				  " (SELECT count(*) FROM message_recipients),"
				  " (SELECT count(*) FROM links), (SELECT count(*) FROM events),"
				  " (SELECT count(*) FROM optouts)", NULL);
	int rc = q != NULL ? sq_step(q) : -1;

	if (rc == 1) {
		s->counted = true;
		s->messages = sq_int64(q, 0);
		s->message_recipients = sq_int64(q, 1);
		s->links = sq_int64(q, 2);
		s->events = sq_int64(q, 3);
		s->optouts = sq_int64(q, 4);
	} else {
		store_dberr(st, "db status: count rows");
	}
	sq_finish(q);
	if (rc != 1)
		return -1;
	return store_is_pg(st) ? partitions(st, s) : 0;
}
