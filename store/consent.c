/* store/consent: the statements of consent=optin, written once in SQLite's
 * dialect and run on either backend through sq.c. Consents and asks are
 * only ever inserted (the daemons' PostgreSQL role inserts and reads);
 * forget --recipient is the one delete. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consent.h"
#include "sq.h"
#include "store_int.h"

/* The unique index consents_proof makes a replay write nothing; a
 * recipient who opted out gets no consent (the withdrawal stands). */
const char store_sql_consent_add[] =
    "INSERT INTO consents (recipient_hash, sender, time, message_id, source,"
    " notice_version) SELECT ?1, ?2, ?3, ?4, ?5, ?6"
    " WHERE NOT EXISTS (SELECT 1 FROM optouts WHERE recipient_hash = ?1)"
    " ON CONFLICT DO NOTHING";
const char store_sql_consent_ask[] =
    "INSERT INTO consent_asks (recipient_hash, sender, message_id, tracked, time)"
    " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING";

static int
fail(struct store *st, char *err, size_t errlen, const char *what)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s: %s", what, st != NULL ? sq_reason(st) : "database not open");
	return -1;
}

/* Prepares sql and binds the hash (when not NULL) as ?1 and then the text
 * (when not NULL) as the next parameter: no number is left unused, which
 * PostgreSQL could not type. */
static struct sq *
prepare_hash_text(struct store *st, const char *sql, const unsigned char *hash, const char *text,
		  char *err, size_t errlen, const char *what)
{
	struct sq *q = st != NULL ? sq_prepare(st, sql, NULL) : NULL;

	if (q == NULL) {
		fail(st, err, errlen, what);
		return NULL;
	}
	if ((hash != NULL && sq_bind_blob(q, 1, hash, STORE_HASH_LEN) != 0) ||
	    (text != NULL && sq_bind_text(q, hash != NULL ? 2 : 1, text) != 0)) {
		fail(st, err, errlen, what);
		sq_finish(q);
		return NULL;
	}
	return q;
}

int
store_consent_check(struct store *st, const char *sender,
		    const unsigned char (*hashes)[STORE_HASH_LEN], size_t n,
		    long long asked_since, size_t *consented, size_t *unasked,
		    char *err, size_t errlen)
{
	static const char sql[] =
	    "SELECT CASE WHEN EXISTS (SELECT 1 FROM consents"
	    "   WHERE recipient_hash = ?1 AND sender = ?2)"
	    "  AND NOT EXISTS (SELECT 1 FROM optouts WHERE recipient_hash = ?1)"
	    "  THEN 1 ELSE 0 END,"
	    " CASE WHEN EXISTS (SELECT 1 FROM consent_asks"
	    "   WHERE recipient_hash = ?1 AND sender = ?2 AND time >= ?3)"
	    "  THEN 1 ELSE 0 END";

	*consented = *unasked = 0;
	for (size_t i = 0; i < n; i++) {
		struct sq *q = prepare_hash_text(st, sql, hashes[i], sender, err, errlen,
						 "consent check");
		if (q == NULL)
			return -1;
		if (sq_bind_int64(q, 3, asked_since) != 0 || sq_step(q) != 1) {
			fail(st, err, errlen, "consent check");
			sq_finish(q);
			return -1;
		}
		if (sq_int64(q, 0) != 0)
			(*consented)++;
		else if (sq_int64(q, 1) == 0)
			(*unasked)++;
		sq_finish(q);
	}
	return 0;
}

/* ROLLBACK after a failure inside a transaction begun here. */
static int
rollback(struct store *st, char *err, size_t errlen, const char *what)
{
	fail(st, err, errlen, what);
	if (sq_in_transaction(st))
		(void)sq_exec(st, "ROLLBACK", NULL);
	return -1;
}

/* COMMIT into the file that is still at the database's path (SQLite: a
 * write acknowledged into a removed file would be lost). */
static int
commit(struct store *st, char *err, size_t errlen, const char *what)
{
	if (store_file_check(st) < 0) {
		snprintf(err, errlen, "%s: %s", what, store_errmsg(st));
		(void)sq_exec(st, "ROLLBACK", NULL);
		return -1;
	}
	if (sq_exec(st, "COMMIT", NULL) < 0)
		return rollback(st, err, errlen, what);
	if (store_file_check(st) < 0) {
		snprintf(err, errlen, "%s: %s", what, store_errmsg(st));
		return -1;
	}
	return 0;
}

int
store_consent_asked(struct store *st, const char *message_id, const char *sender,
		    const char *tracked, const unsigned char (*hashes)[STORE_HASH_LEN],
		    size_t n, long long when, char *err, size_t errlen)
{
	if (st == NULL || sq_exec(st, "BEGIN IMMEDIATE", "BEGIN") < 0)
		return fail(st, err, errlen, "consent ask: begin");
	for (size_t i = 0; i < n; i++) {
		struct sq *q = prepare_hash_text(st, store_sql_consent_ask, hashes[i], sender, err, errlen,
						 "consent ask");
		if (q == NULL)
			return rollback(st, err, errlen, "consent ask");
		int rc = sq_bind_text(q, 3, message_id) == 0 && sq_bind_text(q, 4, tracked) == 0 &&
		    sq_bind_int64(q, 5, when) == 0 ? sq_step(q) : -1;
		sq_finish(q);
		if (rc != 0)
			return rollback(st, err, errlen, "consent ask");
	}
	return commit(st, err, errlen, "consent ask: commit");
}

void
store_consent_ask_free(struct store_consent_ask *a)
{
	free(a->sender);
	free(a->tracked);
	memset(a, 0, sizeof(*a));
}

int
store_consent_ask_find(struct store *st, const char *message_id, struct store_consent_ask *out,
		       char *err, size_t errlen)
{
	static const char sql[] =
	    "SELECT sender, tracked, time, recipient_hash FROM consent_asks"
	    " WHERE message_id = ?1 ORDER BY recipient_hash";
	struct sq *q;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((q = prepare_hash_text(st, sql, NULL, message_id, err, errlen, "consent ask")) == NULL)
		return -1;
	while ((rc = sq_step(q)) == 1) {
		size_t len = 0;
		const void *h = sq_blob(q, 3, &len);
		if (out->total++ > 0)
			continue;
		out->sender = strdup(sq_text(q, 0) ? sq_text(q, 0) : "");
		out->tracked = strdup(sq_text(q, 1) ? sq_text(q, 1) : "");
		out->time = sq_int64(q, 2);
		if (h != NULL && len == STORE_HASH_LEN)
			memcpy(out->first, h, STORE_HASH_LEN);
		if (out->sender == NULL || out->tracked == NULL) {
			snprintf(err, errlen, "consent ask: out of memory");
			rc = -2;
			break;
		}
	}
	sq_finish(q);
	if (rc != 0) {
		if (rc == -1)
			fail(st, err, errlen, "consent ask");
		store_consent_ask_free(out);
		return -1;
	}
	return out->total > 0;
}

int
store_consent_ask_has(struct store *st, const char *message_id,
		      const unsigned char hash[STORE_HASH_LEN], char *err, size_t errlen)
{
	static const char sql[] =
	    "SELECT 1 FROM consent_asks WHERE recipient_hash = ?1 AND message_id = ?2";
	struct sq *q = prepare_hash_text(st, sql, hash, message_id, err, errlen, "consent ask");

	if (q == NULL)
		return -1;
	int rc = sq_step(q);
	sq_finish(q);
	return rc < 0 ? fail(st, err, errlen, "consent ask") : rc;
}

int
store_consent_add(struct store *st, const unsigned char hash[STORE_HASH_LEN],
		  const char *sender, long long when, const char *message_id,
		  const char *source, const char *notice_version, char *err, size_t errlen)
{
	struct sq *q;
	long long changed;

	if (st == NULL || sq_exec(st, "BEGIN IMMEDIATE", "BEGIN") < 0)
		return fail(st, err, errlen, "consent: begin");
	if ((q = prepare_hash_text(st, store_sql_consent_add, hash, sender, err, errlen,
				   "consent")) == NULL)
		return rollback(st, err, errlen, "consent");
	int rc = sq_bind_int64(q, 3, when) == 0 && sq_bind_text(q, 4, message_id) == 0 &&
	    sq_bind_text(q, 5, source) == 0 && sq_bind_text(q, 6, notice_version) == 0
	    ? sq_step(q) : -1;
	changed = sq_changes(q);
	sq_finish(q);
	if (rc != 0)
		return rollback(st, err, errlen, "consent");
	if (commit(st, err, errlen, "consent: commit") < 0)
		return -1;
	return changed > 0 ? 0 : 1;
}

int
store_consent_list(struct store *st, const char *sender, const unsigned char *hash,
		   int (*fn)(void *arg, const struct store_consent *c), void *arg,
		   char *err, size_t errlen)
{
	char sql[600];
	struct sq *q;
	int rc, stop = 0;

	/* Only the conditions asked for: PostgreSQL cannot type an unused
	 * "?1 IS NULL". */
	snprintf(sql, sizeof(sql),
		 "SELECT c.recipient_hash, c.sender, c.time, c.message_id, c.source,"
		 " c.notice_version, o.time FROM consents c"
		 " LEFT JOIN optouts o ON o.recipient_hash = c.recipient_hash"
		 " WHERE 1 = 1%s%s"
		 " ORDER BY c.time, c.sender, c.recipient_hash, c.notice_version, c.message_id",
		 hash != NULL ? " AND c.recipient_hash = ?1" : "",
		 sender == NULL ? "" : hash != NULL ? " AND c.sender = ?2" : " AND c.sender = ?1");
	if ((q = prepare_hash_text(st, sql, hash, sender, err, errlen, "consents")) == NULL)
		return -1;
	while ((rc = sq_step(q)) == 1) {
		size_t len = 0;
		struct store_consent c = {
			.recipient_hash = sq_blob(q, 0, &len),
			.sender = sq_text(q, 1),
			.time = sq_int64(q, 2),
			.message_id = sq_text(q, 3),
			.source = sq_text(q, 4),
			.notice_version = sq_text(q, 5),
			.withdrawn = !sq_null(q, 6),
			.withdrawn_time = sq_null(q, 6) ? 0 : sq_int64(q, 6),
		};
		if (c.recipient_hash == NULL || len != STORE_HASH_LEN)
			continue;
		if ((stop = fn(arg, &c)) != 0)
			break;
	}
	if (stop == 0 && rc != 0)
		stop = fail(st, err, errlen, "consents");
	sq_finish(q);
	return stop;
}

int
store_consent_feed(struct store *st, long long since, size_t limit,
		   int (*fn)(void *arg, const struct store_consent_item *it), void *arg,
		   char *err, size_t errlen)
{
	static const char sql[] =
	    "SELECT 'consent', recipient_hash, sender, time, message_id, source,"
	    " notice_version, NULL FROM consents WHERE time >= ?1"
	    " UNION ALL SELECT 'ask', recipient_hash, sender, time, message_id, NULL, NULL,"
	    " tracked FROM consent_asks WHERE time >= ?1"
	    " ORDER BY 4, 1, 2, 3, 5, 6, 7 LIMIT ?2";
	struct sq *q = st != NULL ? sq_prepare(st, sql, NULL) : NULL;
	int rc, stop = 0;

	if (q == NULL || sq_bind_int64(q, 1, since) != 0 ||
	    sq_bind_int64(q, 2, (long long)limit) != 0) {
		sq_finish(q);
		return fail(st, err, errlen, "consents feed");
	}
	while ((rc = sq_step(q)) == 1) {
		size_t len = 0;
		struct store_consent_item it = {
			.kind = sq_text(q, 0),
			.recipient_hash = sq_blob(q, 1, &len),
			.sender = sq_text(q, 2),
			.time = sq_int64(q, 3),
			.message_id = sq_text(q, 4),
			.source = sq_text(q, 5),
			.notice_version = sq_text(q, 6),
			.tracked = sq_text(q, 7),
		};
		if (it.kind == NULL || it.recipient_hash == NULL || len != STORE_HASH_LEN)
			continue;
		if ((stop = fn(arg, &it)) != 0)
			break;
	}
	if (stop == 0 && rc != 0)
		stop = fail(st, err, errlen, "consents feed");
	sq_finish(q);
	return stop;
}

int
store_consent_insert_in_txn(struct store *st, const struct store_consent_item *it,
			    long long *added)
{
	bool consent = strcmp(it->kind, "consent") == 0;
	struct sq *q = sq_prepare(st, consent ? store_sql_consent_add : store_sql_consent_ask,
				  NULL);
	int rc = q != NULL && sq_bind_blob(q, 1, it->recipient_hash, STORE_HASH_LEN) == 0 &&
	    sq_bind_text(q, 2, it->sender) == 0 ? 0 : -1;

	if (rc == 0 && consent)
		rc = sq_bind_int64(q, 3, it->time) == 0 && sq_bind_text(q, 4, it->message_id) == 0 &&
		    sq_bind_text(q, 5, it->source) == 0 &&
		    sq_bind_text(q, 6, it->notice_version) == 0 ? 0 : -1;
	else if (rc == 0)
		rc = sq_bind_text(q, 3, it->message_id) == 0 && sq_bind_text(q, 4, it->tracked) == 0 &&
		    sq_bind_int64(q, 5, it->time) == 0 ? 0 : -1;
	if (rc == 0)
		rc = sq_step(q);
	if (rc == 0)
		*added += sq_changes(q);
	sq_finish(q);
	return rc == 0 ? 0 : -1;
}

int
store_consent_asks_of(struct store *st, const unsigned char hash[STORE_HASH_LEN],
		      int (*fn)(void *arg, const char *sender, const char *message_id,
				long long time), void *arg, char *err, size_t errlen)
{
	static const char sql[] =
	    "SELECT sender, message_id, time FROM consent_asks WHERE recipient_hash = ?1"
	    " ORDER BY time, sender, message_id";
	struct sq *q = prepare_hash_text(st, sql, hash, NULL, err, errlen, "consent asks");
	int rc, stop = 0;

	if (q == NULL)
		return -1;
	while ((rc = sq_step(q)) == 1)
		if ((stop = fn(arg, sq_text(q, 0), sq_text(q, 1), sq_int64(q, 2))) != 0)
			break;
	if (stop == 0 && rc != 0)
		stop = fail(st, err, errlen, "consent asks");
	sq_finish(q);
	return stop;
}

int
store_consent_counts(struct store *st, const char *sender,
		     int (*fn)(void *arg, const struct store_consent_counts *c), void *arg,
		     char *err, size_t errlen)
{
	char sql[1200];
	struct sq *q;
	int rc, stop = 0;

	snprintf(sql, sizeof(sql),
		 "SELECT s.sender,"
		 " (SELECT count(DISTINCT recipient_hash) FROM consent_asks a"
		 "   WHERE a.sender = s.sender),"
		 " (SELECT count(DISTINCT recipient_hash) FROM consents c"
		 "   WHERE c.sender = s.sender),"
		 " (SELECT count(DISTINCT c.recipient_hash) FROM consents c"
		 "   JOIN optouts o ON o.recipient_hash = c.recipient_hash"
		 "   WHERE c.sender = s.sender),"
		 " (SELECT count(DISTINCT a.recipient_hash) FROM consent_asks a"
		 "   WHERE a.sender = s.sender AND EXISTS (SELECT 1 FROM consents c"
		 "    WHERE c.recipient_hash = a.recipient_hash AND c.sender = s.sender))"
		 " FROM (SELECT sender FROM consent_asks UNION SELECT sender FROM consents) s"
		 "%s ORDER BY s.sender",
		 sender != NULL ? " WHERE s.sender = ?1" : "");
	if ((q = prepare_hash_text(st, sql, NULL, sender, err, errlen, "consent counts")) == NULL)
		return -1;
	while ((rc = sq_step(q)) == 1) {
		struct store_consent_counts c = {
			.sender = sq_text(q, 0),
			.asked = sq_int64(q, 1),
			.consented = sq_int64(q, 2),
			.withdrawn = sq_int64(q, 3),
			.asked_consented = sq_int64(q, 4),
		};
		if ((stop = fn(arg, &c)) != 0)
			break;
	}
	if (stop == 0 && rc != 0)
		stop = fail(st, err, errlen, "consent counts");
	sq_finish(q);
	return stop;
}

/* Deletes, in one transaction, the consents and then the asks that sql[0]
 * and sql[1] select by the hash (?1) or else the text (?1). */
static int
forget_rows(struct store *st, const char *const sql[2], const unsigned char *hash,
	    const char *text, long long *consents, long long *asks, char *err, size_t errlen)
{
	long long *counts[2] = { consents, asks };

	*consents = *asks = 0;
	if (st == NULL || sq_exec(st, "BEGIN IMMEDIATE", "BEGIN") < 0)
		return fail(st, err, errlen, "forget: consents: begin");
	for (int i = 0; i < 2; i++) {
		struct sq *q = prepare_hash_text(st, sql[i], hash, text, err, errlen,
						 "forget: consents");
		if (q == NULL)
			return rollback(st, err, errlen, "forget: consents");
		int rc = sq_step(q);
		if (rc == 0)
			*counts[i] += sq_changes(q);
		sq_finish(q);
		if (rc != 0)
			return rollback(st, err, errlen, "forget: consents");
	}
	return commit(st, err, errlen, "forget: consents: commit");
}

int
store_consent_forget(struct store *st, const unsigned char hash[STORE_HASH_LEN],
		     long long *consents, long long *asks, char *err, size_t errlen)
{
	static const char *const sql[2] = {
		"DELETE FROM consents WHERE recipient_hash = ?1",
		"DELETE FROM consent_asks WHERE recipient_hash = ?1",
	};

	return forget_rows(st, sql, hash, NULL, consents, asks, err, errlen);
}

int
store_consent_forget_sender(struct store *st, const char *sender, long long *consents,
			    long long *asks, char *err, size_t errlen)
{
	/* ASCII case-insensitive, as store_forget_sender finds the messages:
	 * lower() is ASCII-only in SQLite and under PostgreSQL's "C". */
	static const char *const sql[2] = {
		"DELETE FROM consents WHERE lower(sender) = lower(?1)",
		"DELETE FROM consent_asks WHERE lower(sender) = lower(?1)",
	};

	return forget_rows(st, sql, NULL, sender, consents, asks, err, errlen);
}

int
store_consent_purge(struct store *st, long long cutoff, long long *asks, char *err,
		    size_t errlen)
{
	struct sq *q;

	*asks = 0;
	if (st == NULL || sq_exec(st, "BEGIN IMMEDIATE", "BEGIN") < 0)
		return fail(st, err, errlen, "purge: consent asks: begin");
	if ((q = sq_prepare(st, "DELETE FROM consent_asks WHERE time < ?1", NULL)) == NULL)
		return rollback(st, err, errlen, "purge: consent asks");
	int rc = sq_bind_int64(q, 1, cutoff) == 0 ? sq_step(q) : -1;
	if (rc == 0)
		*asks = sq_changes(q);
	sq_finish(q);
	if (rc != 0)
		return rollback(st, err, errlen, "purge: consent asks");
	return commit(st, err, errlen, "purge: consent asks: commit");
}
