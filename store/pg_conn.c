/* pg_conn: the store's connection to PostgreSQL: connecting with the
 * password and a deadline, every round trip under a client-side deadline
 * (poll), outages logged once per server, results at once or row by row,
 * transactions, and messages that name the database but never the URI. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "fileline.h"
#include "log.h"
#include "monoclock.h"
#include "pg_int.h"

/* ---- naming the database without its password ---- */

bool
pgstore_is_uri(const char *database)
{
	return database != NULL &&
	    (strncmp(database, "postgresql://", 13) == 0 || strncmp(database, "postgres://", 11) == 0);
}

void
pgstore_display(const char *uri, char *out, size_t outlen)
{
	const char *db = NULL, *host = NULL, *port = NULL, *user = NULL;
	char *perr = NULL;
	PQconninfoOption *opts = PQconninfoParse(uri, &perr);

	if (opts == NULL) {
		/* libpq's message quotes the URI's syntax, not its values. */
		snprintf(out, outlen, "postgresql database (unreadable connection URI)");
		PQfreemem(perr);
		return;
	}
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
		if (o->val == NULL || *o->val == '\0')
			continue;
		if (strcmp(o->keyword, "dbname") == 0)
			db = o->val;
		else if (strcmp(o->keyword, "host") == 0)
			host = o->val;
		else if (strcmp(o->keyword, "port") == 0)
			port = o->val;
		else if (strcmp(o->keyword, "user") == 0)
			user = o->val;
	}
	snprintf(out, outlen, "postgresql database %s on %s%s%s%s%s", db ? db : "(default)",
		 host ? host : "(default host)", port ? ":" : "", port ? port : "",
		 user ? " as " : "", user ? user : "");
	PQconninfoFree(opts);
}

/* ---- errors ---- */

void
pg_seterr(struct pgstore *st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fileline_vformat(st->err, sizeof(st->err), st->display, 0, fmt, ap);
	va_end(ap);
	/* libpq's messages end in a newline; ours are one line. */
	for (char *p = st->err; *p != '\0'; p++)
		if (*p == '\n' || *p == '\r')
			*p = (p[1] == '\0') ? '\0' : ' ';
}

const char *
pgstore_name(struct pgstore *st)
{
	return st != NULL ? st->display : "postgresql database (not open)";
}

const char *
pgstore_errmsg(struct pgstore *st)
{
	return st != NULL ? st->err : "database not open";
}

/* ---- the connection and its deadlines ---- */

/* Waits until the connection's socket is readable (or writable), at most
 * until deadline; 1 ready, 0 timed out, -1 error. */
static int
wait_socket(PGconn *c, bool write, long long deadline)
{
	struct pollfd p = { .fd = PQsocket(c), .events = write ? POLLOUT : POLLIN };

	if (p.fd < 0)
		return -1;
	for (;;) {
		long long left = deadline - monotonic_ms();
		if (left <= 0)
			return 0;
		int r = poll(&p, 1, (int)(left > 60000 ? 60000 : left));
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

/* ---- outages: said once when they start and once when they end ----
 *
 * Kept per server (the display's "on HOST:PORT"), for the whole process:
 * all the milter's threads, or the beacon's writer and readers, share what
 * one of them found out. */

#define OUTAGE_SERVERS 8
/* During an outage, a connection to that server is tried at most this
 * often by the whole process; the calls in between fail at once rather
 * than each waiting up to database_timeout for a server that is not there. */
#define OUTAGE_RETRY_MS 1000

struct outage {
	char server[256];
	bool down;
	long long since, last_try;	/* monotonic ms */
	unsigned long failures;
};

static pthread_mutex_t outage_lock = PTHREAD_MUTEX_INITIALIZER;
static struct outage outages[OUTAGE_SERVERS];
static int outages_down;		/* how many are down (read unlocked) */

/* The entry of st's server (under outage_lock); a full table reuses the
 * first entry that is not down. */
static struct outage *
outage_of(const struct pgstore *st)
{
	const char *on = strstr(st->display, " on ");
	const char *server = on != NULL ? on + 4 : st->display;
	struct outage *free_slot = NULL;

	for (int i = 0; i < OUTAGE_SERVERS; i++) {
		if (strncmp(outages[i].server, server, sizeof(outages[i].server) - 1) == 0 &&
		    outages[i].server[0] != '\0')
			return &outages[i];
		if (free_slot == NULL && !outages[i].down)
			free_slot = &outages[i];
	}
	if (free_slot == NULL)
		free_slot = &outages[0];
	memset(free_slot, 0, sizeof(*free_slot));
	snprintf(free_slot->server, sizeof(free_slot->server), "%s", server);
	return free_slot;
}

/* st's server's entry with outage_lock held (the caller unlocks), or NULL
 * without it when no server is down: the common case costs one load. */
static struct outage *
outage_look(const struct pgstore *st)
{
	if (__atomic_load_n(&outages_down, __ATOMIC_RELAXED) == 0)
		return NULL;
	pthread_mutex_lock(&outage_lock);
	return outage_of(st);
}

/* True when a call should not even try to connect now. */
static bool
outage_backing_off(const struct pgstore *st)
{
	struct outage *o = outage_look(st);

	if (o == NULL)
		return false;
	long long now = monotonic_ms();
	bool wait = o->down && now - o->last_try < OUTAGE_RETRY_MS;
	if (!wait)
		o->last_try = now;
	pthread_mutex_unlock(&outage_lock);
	return wait;
}

/* A call found the server unreachable (cannot connect, connection lost,
 * no answer in time, shutting down), or failed fast (why NULL): the first
 * such call of an outage logs it, the others only count. The next try
 * comes a second after a failed one ended, not began: against a server
 * that does not answer, a try takes database_timeout, and a request must
 * not meet two of them. */
static void
outage_begin(const struct pgstore *st, const char *why)
{
	pthread_mutex_lock(&outage_lock);
	struct outage *o = outage_of(st);
	long long now = monotonic_ms();
	if (!o->down) {
		o->down = true;
		o->since = o->last_try = now;
		o->failures = 0;
		__atomic_add_fetch(&outages_down, 1, __ATOMIC_RELAXED);
		log_warnx("%s: unreachable: %s (said once: calls fail fast until it answers again)",
			  st->display, why != NULL ? why : "cannot connect");
	} else if (why != NULL) {
		o->last_try = now;
	}
	o->failures++;
	pthread_mutex_unlock(&outage_lock);
}

/* A call got an answer from the server. */
static void
outage_end(const struct pgstore *st)
{
	struct outage *o = outage_look(st);

	if (o == NULL)
		return;
	if (o->down) {
		o->down = false;
		__atomic_sub_fetch(&outages_down, 1, __ATOMIC_RELAXED);
		log_info("%s: answers again after %lld s; %lu calls failed meanwhile", st->display,
			 (monotonic_ms() - o->since + 999) / 1000, o->failures);
	}
	pthread_mutex_unlock(&outage_lock);
}

bool
pgstore_unreachable(void)
{
	return __atomic_load_n(&outages_down, __ATOMIC_RELAXED) > 0;
}

/* True when st's connection was made before the outage of its server that
 * is on now: another call found that server not answering, so this one
 * does not wait database_timeout on it too, but connects again (which
 * fails fast, or is the once-a-second try). */
static bool
connection_predates_outage(const struct pgstore *st)
{
	struct outage *o = outage_look(st);

	if (o == NULL)
		return false;
	bool older = o->down && st->connected_at <= o->since;
	pthread_mutex_unlock(&outage_lock);
	return older;
}

void
pg_drop(struct pgstore *st)
{
	if (st->conn != NULL)
		PQfinish(st->conn);
	st->conn = NULL;
	st->in_txn = false;
	st->streaming = false;
	st->n_months = 0;
}

/* The server answered and refused us for what we asked (password, role,
 * database, pg_hba.conf): a configuration to fix, not an outage to wait
 * out. libpq gives no code for these, only the server's message (in the
 * server's language: English unless lc_messages says otherwise). */
static bool
refused_by_configuration(const char *msg)
{
	static const char *const config_errors[] = {
		"authentication failed", "does not exist", "no pg_hba.conf entry",
		"permission denied", "password is required", "invalid",
	};

	for (size_t i = 0; i < sizeof(config_errors) / sizeof(config_errors[0]); i++)
		if (strstr(msg, config_errors[i]) != NULL)
			return true;
	return false;
}

/* A server's notices (the WARNING of a server shutting down, on each
 * connection) would go to standard error, without the program's name, once
 * per connection: the log has them at debug level, and outage_begin says
 * what happened once. */
static void
pg_notice(void *arg, const char *message)
{
	const struct pgstore *st = arg;

	log_debug("%s: server notice: %.*s", st->display, (int)strcspn(message, "\n"), message);
}

int
pg_connect(struct pgstore *st)
{
	char timeout_s[16];
	/* Entries before dbname are defaults the URI may override; those
	 * after it are ours (libpq: the last value of a keyword wins). */
	const char *keys[] = { "connect_timeout", "application_name", "password", "dbname",
			       "client_encoding", NULL };
	const char *vals[] = { timeout_s, "mailbeacon", st->password, st->uri, "UTF8", NULL };
	long long deadline = monotonic_ms() + st->timeout_ms;

	snprintf(timeout_s, sizeof(timeout_s), "%d", (st->timeout_ms + 999) / 1000);
	pg_drop(st);
	if (outage_backing_off(st)) {
		pg_seterr(st, "cannot connect: unreachable (tried again within the second)");
		outage_begin(st, NULL);
		return -1;
	}
	if ((st->conn = PQconnectStartParams(keys, vals, 1)) == NULL) {
		pg_seterr(st, "cannot connect: out of memory");
		return -1;
	}
	PQsetNoticeProcessor(st->conn, pg_notice, st);
	PostgresPollingStatusType ps = PGRES_POLLING_WRITING;
	while (ps != PGRES_POLLING_OK) {
		if (ps == PGRES_POLLING_FAILED || PQstatus(st->conn) == CONNECTION_BAD) {
			pg_seterr(st, "cannot connect: %s", PQerrorMessage(st->conn));
			if (!refused_by_configuration(PQerrorMessage(st->conn)))
				outage_begin(st, st->err + strlen(st->display) + 2);
			pg_drop(st);
			return -1;
		}
		int r = wait_socket(st->conn, ps == PGRES_POLLING_WRITING, deadline);
		if (r <= 0) {
			pg_seterr(st, "cannot connect: %s", r == 0 ? "timed out" : strerror(errno));
			outage_begin(st, st->err + strlen(st->display) + 2);
			pg_drop(st);
			return -1;
		}
		ps = PQconnectPoll(st->conn);
	}
	if (PQsetnonblocking(st->conn, 1) != 0) {
		pg_seterr(st, "cannot connect: %s", PQerrorMessage(st->conn));
		pg_drop(st);
		return -1;
	}
	st->connected_at = monotonic_ms();
	return 0;
}

static void
pg_lost(struct pgstore *st, const char *what, long long deadline)
{
	pg_seterr(st, "%s: %s", what, monotonic_ms() >= deadline
	    ? "no answer in time: the connection is dropped"
	    : st->conn != NULL ? PQerrorMessage(st->conn) : "connection lost");
	outage_begin(st, st->err + strlen(st->display) + 2);
	pg_drop(st);
}

/* SQLSTATEs after which this connection is no use: the server is going
 * away (57P01-57P03), the connection broke (class 08), or it is a standby
 * now (25006, read-only: after a failover the next connection finds the
 * new primary with target_session_attrs=read-write). */
static bool
sqlstate_drops_connection(const char *state)
{
	return strncmp(state, "57P0", 4) == 0 || strncmp(state, "08", 2) == 0 ||
	    strcmp(state, "25006") == 0;
}

/* False when the server closed this idle connection (it stopped or
 * restarted since the last call): the socket is then readable, at its end.
 * Costs one poll() that does not wait. */
static bool
idle_connection_alive(struct pgstore *st)
{
	struct pollfd p = { .fd = PQsocket(st->conn), .events = POLLIN };

	if (p.fd < 0)
		return false;
	/* What came first (the server's WARNING as it went down) is read
	 * before the end shows: a few rounds, then nothing more came. */
	for (int round = 0; round < 4; round++) {
		if (poll(&p, 1, 0) <= 0)
			return true;	/* nothing came: as alive as can be known */
		if (!PQconsumeInput(st->conn) || PQstatus(st->conn) != CONNECTION_OK)
			return false;
	}
	return true;
}

/* Sends a query (connecting first when the last call lost the connection)
 * and sets *deadline; 0, or -1 with the error set. */
static int
pg_send(struct pgstore *st, const char *what, const char *sql, const struct pg_params *p,
	long long *deadline)
{
	/* A handle idle through a restart connects again quietly instead of
	 * failing its first call (and reporting an outage that is over). */
	if (st->conn != NULL && !st->in_txn &&
	    (!idle_connection_alive(st) || connection_predates_outage(st)))
		pg_drop(st);
	if (st->conn == NULL) {
		/* Never carry on a transaction on a new connection: the
		 * statements before the loss are gone with the old one. */
		if (st->in_txn) {
			pg_seterr(st, "%s: the connection was lost in a transaction", what);
			return -1;
		}
		if (pg_connect(st) < 0)
			return -1;
	}
	*deadline = monotonic_ms() + st->timeout_ms;
	/* Without parameters: the simple protocol, which also takes several
	 * statements (the migrations). */
	int sent = p == NULL || p->n == 0 ? PQsendQuery(st->conn, sql)
	    : PQsendQueryParams(st->conn, sql, p->n, p->types, p->vals, p->lens, p->fmts, 0);
	if (!sent) {
		pg_seterr(st, "%s: %s", what, PQerrorMessage(st->conn));
		pg_drop(st);
		return -1;
	}
	int flushed;
	while ((flushed = PQflush(st->conn)) == 1)
		if (wait_socket(st->conn, true, *deadline) <= 0)
			break;
	if (flushed != 0) {
		pg_lost(st, what, *deadline);
		return -1;
	}
	return 0;
}

/* The next result of the query sent, waiting at most until deadline: 1
 * with *r (NULL once there are no more), -1 when the connection was lost
 * or the deadline passed (the connection is then dropped). */
static int
pg_next(struct pgstore *st, const char *what, long long deadline, PGresult **r)
{
	*r = NULL;
	while (PQisBusy(st->conn)) {
		if (wait_socket(st->conn, false, deadline) <= 0 || !PQconsumeInput(st->conn)) {
			pg_lost(st, what, deadline);
			return -1;
		}
	}
	*r = PQgetResult(st->conn);
	return 1;
}

/* Sends a query and collects its results before the deadline. Returns the
 * last result (the caller clears it: a failed one carries its SQLSTATE)
 * or NULL with the error set; a missed deadline or a broken connection
 * drops the connection. */
static PGresult *
pg_query(struct pgstore *st, const char *what, const char *sql, const struct pg_params *p)
{
	PGresult *last = NULL, *r;
	long long deadline;

	if (pg_send(st, what, sql, p, &deadline) < 0)
		return NULL;
	for (;;) {
		if (pg_next(st, what, deadline, &r) < 0) {
			PQclear(last);
			return NULL;
		}
		if (r == NULL)
			break;
		PQclear(last);
		last = r;
	}
	if (last == NULL) {
		pg_seterr(st, "%s: no result", what);
		return NULL;
	}
	ExecStatusType s = PQresultStatus(last);
	if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
		const char *state = PQresultErrorField(last, PG_DIAG_SQLSTATE);

		pg_seterr(st, "%s: %s", what, PQresultErrorMessage(last));
		if (PQstatus(st->conn) == CONNECTION_BAD ||
		    (state != NULL && sqlstate_drops_connection(state))) {
			outage_begin(st, st->err + strlen(st->display) + 2);
			pg_drop(st);
			return last;
		}
	}
	outage_end(st);
	return last;
}

PGresult *
pg_exec(struct pgstore *st, const char *what, const char *sql, int n, const char *const *vals,
	const int *lens, const int *fmts)
{
	struct pg_params p = { .n = n, .vals = vals, .lens = lens, .fmts = fmts };

	return pg_query(st, what, sql, n > 0 ? &p : NULL);
}

PGresult *
pgstore_query(struct pgstore *st, const char *what, const char *sql, const struct pg_params *p)
{
	return pg_query(st, what, sql, p);
}

int
pgstore_stream_begin(struct pgstore *st, const char *what, const char *sql,
		     const struct pg_params *p)
{
	if (pg_send(st, what, sql, p, &st->stream_deadline) < 0)
		return -1;
	if (!PQsetSingleRowMode(st->conn)) {
		pg_seterr(st, "%s: cannot read row by row", what);
		pgstore_stream_abort(st);
		return -1;
	}
	st->streaming = true;
	return 0;
}

int
pgstore_stream_next(struct pgstore *st, const char *what, PGresult **row)
{
	PGresult *r;

	*row = NULL;
	if (!st->streaming)
		return 0;
	/* Each row has its own deadline: a long report is fine, a server
	 * that stops answering is not. */
	st->stream_deadline = monotonic_ms() + st->timeout_ms;
	if (pg_next(st, what, st->stream_deadline, &r) < 0) {
		st->streaming = false;
		return -1;
	}
	if (r != NULL && PQresultStatus(r) == PGRES_SINGLE_TUPLE) {
		*row = r;
		return 1;
	}
	/* The end (PGRES_TUPLES_OK, then NULL) or an error. */
	int rc = 0;
	while (r != NULL) {
		ExecStatusType s = PQresultStatus(r);
		if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK) {
			pg_seterr(st, "%s: %s", what, PQresultErrorMessage(r));
			rc = -1;
		}
		PQclear(r);
		if (st->conn == NULL || pg_next(st, what, st->stream_deadline, &r) < 0) {
			rc = -1;
			break;
		}
	}
	st->streaming = false;
	return rc;
}

void
pgstore_stream_abort(struct pgstore *st)
{
	/* The rest of the rows are not wanted: reading them could take long,
	 * so the connection goes (the next call opens another). */
	if (st->streaming || (st->conn != NULL && PQisBusy(st->conn)))
		pg_drop(st);
	st->streaming = false;
}

bool
pg_ok(const PGresult *r)
{
	return r != NULL && (PQresultStatus(r) == PGRES_COMMAND_OK ||
			     PQresultStatus(r) == PGRES_TUPLES_OK);
}

const char *
pg_sqlstate(const PGresult *r)
{
	const char *s = r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;

	return s != NULL ? s : "";
}

/* Runs a statement without parameters; 0 or -1. */
int
pg_run(struct pgstore *st, const char *what, const char *sql)
{
	PGresult *r = pg_exec(st, what, sql, 0, NULL, NULL, NULL);
	int ok = pg_ok(r);

	PQclear(r);
	return ok ? 0 : -1;
}

int
pg_begin(struct pgstore *st, const char *what)
{
	if (pg_run(st, what, "BEGIN") < 0)
		return -1;
	st->in_txn = true;
	return 0;
}

int
pg_commit(struct pgstore *st, const char *what)
{
	int rc = pg_run(st, what, "COMMIT");

	st->in_txn = false;
	return rc;
}

/* Rolls back, keeping the error already set. */
void
pg_rollback(struct pgstore *st)
{
	char saved[sizeof(st->err)];

	if (!st->in_txn || st->conn == NULL) {
		st->in_txn = false;
		return;
	}
	memcpy(saved, st->err, sizeof(saved));
	if (pg_run(st, "rollback", "ROLLBACK") < 0)
		pg_drop(st);
	st->in_txn = false;
	memcpy(st->err, saved, sizeof(saved));
}

/* A URI libpq cannot read is the configuration's to fix, found before any
 * connection (so it is no outage). libpq's message quotes the URI, which
 * may hold a password: the quote is left out. */
bool
uri_unreadable(const char *uri, char *err, size_t errlen)
{
	char *perr = NULL, *q;
	PQconninfoOption *opts = PQconninfoParse(uri, &perr);

	if (opts != NULL) {
		PQconninfoFree(opts);
		return false;
	}
	if (perr != NULL && (q = strstr(perr, uri)) != NULL) {
		/* 'in URI: "postgresql://..."': cut before the quote */
		while (q > perr && (q[-1] == '"' || q[-1] == ' ' || q[-1] == ':'))
			q--;
		*q = '\0';
	}
	if (perr != NULL)
		perr[strcspn(perr, "\n")] = '\0';
	snprintf(err, errlen, "postgresql database: the connection URI cannot be read: %s",
		 perr != NULL ? perr : "out of memory");
	PQfreemem(perr);
	return true;
}


int
pgstore_connected(struct pgstore *st)
{
	return st != NULL && st->conn != NULL && PQstatus(st->conn) == CONNECTION_OK;
}

void
pgstore_set_in_txn(struct pgstore *st, bool in_txn)
{
	if (st != NULL)
		st->in_txn = in_txn;
}

bool
pgstore_in_txn(struct pgstore *st)
{
	return st != NULL && st->in_txn;
}

void
pgstore_fail(struct pgstore *st, const char *what, const char *why)
{
	if (st != NULL)
		pg_seterr(st, "%s: %s", what, why);
}
