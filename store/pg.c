/* pg: the store on PostgreSQL through libpq. One connection per handle,
 * every round trip under a client-side deadline, the schema versioned in
 * mailbeacon_schema and migrated under an advisory lock, events in monthly
 * range partitions created ahead by a SECURITY DEFINER function. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>
#include <sodium.h>

#include "fileline.h"
#include "log.h"
#include "mbuf.h"
#include "monoclock.h"
#include "pg.h"

/* pg_advisory_xact_lock key of the schema migrations: "mailbcn" in ASCII. */
#define SCHEMA_LOCK_KEY "31078843214374766"
/* Events per INSERT statement: 9 parameters each, well under libpq's
 * 65535-parameter limit. */
#define EVENTS_PER_INSERT 1000
/* Months whose partition this handle knows to exist (a small cache). */
#define KNOWN_MONTHS 8

/*
 * migrations[i] brings the schema from version i to i + 1, in one
 * transaction with the version update. Never edit one that has shipped.
 * Version 1 is SQLite's schema 4 with PostgreSQL's types: bytea for the
 * keyed hashes, bigint for times, events partitioned by month of time.
 * Text compares and sorts byte by byte (COLLATE "C", SQLite's BINARY), so
 * that reports come out in the same order on both backends, and lower()
 * folds ASCII only (SQLite's NOCASE). messages.rowid stands for SQLite's
 * rowid, which the report's two passes compare.
 */
static const char *const migrations[] = {
	/* 1: the initial schema */
	"CREATE TABLE mailbeacon_schema (version integer NOT NULL);"
	"INSERT INTO mailbeacon_schema VALUES (0);"
	"CREATE TABLE messages ("
	"  id text COLLATE \"C\" PRIMARY KEY,"
	"  queue_id text COLLATE \"C\" UNIQUE,"
	"  message_id_header text COLLATE \"C\","
	"  sender text COLLATE \"C\" NOT NULL,"
	"  sasl_login text COLLATE \"C\","
	"  recipient_count integer NOT NULL,"
	"  sent bigint NOT NULL,"
	"  words text COLLATE \"C\" NOT NULL,"
	"  link_count integer NOT NULL,"
	"  subject text COLLATE \"C\","
	"  rowid bigint GENERATED ALWAYS AS IDENTITY UNIQUE);"
	"CREATE INDEX messages_sender_mid ON messages(sender, message_id_header);"
	"CREATE INDEX messages_sent ON messages(sent);"
	"CREATE INDEX messages_report ON messages(sender, sent, id, recipient_count);"
	/* --sender ADDR is ASCII case-insensitive, like SQLite's NOCASE:
	 * lower() under the C collation folds ASCII only. */
	"CREATE INDEX messages_sender_nocase ON messages(lower(sender), sent);"
	"CREATE INDEX messages_domain ON messages(lower(substring(sender from '[^@]*$')), sent);"
	"CREATE TABLE message_recipients ("
	"  message_id text COLLATE \"C\" NOT NULL REFERENCES messages(id) ON DELETE CASCADE,"
	"  recipient_hash bytea NOT NULL,"
	"  PRIMARY KEY (message_id, recipient_hash));"
	"CREATE INDEX message_recipients_hash ON message_recipients(recipient_hash);"
	"CREATE TABLE links ("
	"  message_id text COLLATE \"C\" NOT NULL REFERENCES messages(id) ON DELETE CASCADE,"
	"  num integer NOT NULL,"
	"  url text COLLATE \"C\","
	"  PRIMARY KEY (message_id, num));"
	"CREATE SEQUENCE events_id_seq AS bigint;"
	"CREATE TABLE events ("
	"  id bigint NOT NULL DEFAULT nextval('events_id_seq'),"
	"  message_id text COLLATE \"C\" NOT NULL,"
	"  kind text COLLATE \"C\" NOT NULL CHECK (kind IN ('open', 'click', 'optout')),"
	"  link integer,"
	"  time bigint NOT NULL,"
	"  ip_masked text COLLATE \"C\","
	"  client_class text COLLATE \"C\","
	"  verdict text COLLATE \"C\" NOT NULL,"
	"  dnt integer NOT NULL DEFAULT 0,"
	"  recipient_hash bytea) PARTITION BY RANGE (time);"
	"ALTER SEQUENCE events_id_seq OWNED BY events.id;"
	"CREATE INDEX events_report ON events(message_id, kind, verdict, time, link);"
	"CREATE INDEX events_id ON events(id);"
	/* Times outside every month's partition (a clock far off) land here,
	 * never fail; purge deletes from it by time. */
	"CREATE TABLE events_default PARTITION OF events DEFAULT;"
	"CREATE TABLE optouts ("
	"  recipient_hash bytea PRIMARY KEY,"
	"  time bigint NOT NULL,"
	"  message_id text COLLATE \"C\");"
	"CREATE TABLE sync_state (source text COLLATE \"C\" PRIMARY KEY, cursor bigint NOT NULL);"
	/* Creating a partition takes the table's owner; the daemons' role may
	 * only call this, which creates the month's partition and nothing
	 * else (month_start is checked to be a month's first second, UTC). */
	"CREATE FUNCTION mailbeacon_events_partition(month_start bigint) RETURNS void"
	"  LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $fn$"
	" DECLARE"
	"  m timestamptz := to_timestamp(month_start);"
	"  name text := format('events_y%sm%s', to_char(m AT TIME ZONE 'UTC', 'YYYY'),"
	"                      to_char(m AT TIME ZONE 'UTC', 'MM'));"
	"  next_start bigint := extract(epoch FROM (date_trunc('month', m AT TIME ZONE 'UTC')"
	"                      + interval '1 month'))::bigint;"
	" BEGIN"
	"  IF extract(epoch FROM date_trunc('month', m AT TIME ZONE 'UTC'))::bigint <> month_start THEN"
	"   RAISE EXCEPTION 'not the first second of a month: %', month_start;"
	"  END IF;"
	"  PERFORM pg_advisory_xact_lock(" SCHEMA_LOCK_KEY ");"
	"  IF to_regclass(format('%I.%I', current_schema(), name)) IS NULL THEN"
	"   EXECUTE format('CREATE TABLE %I.%I PARTITION OF %I.events FOR VALUES FROM (%s) TO (%s)',"
	"                  current_schema(), name, current_schema(), month_start, next_start);"
	"  END IF;"
	" END $fn$;",
};

#define N_MIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))
_Static_assert(sizeof(migrations) / sizeof(migrations[0]) == PGSTORE_SCHEMA_VERSION,
    "PGSTORE_SCHEMA_VERSION must equal the number of migrations");

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

static void
pg_seterr(struct pgstore *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
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

static void
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

static int
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

static PGresult *
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

static bool
pg_ok(const PGresult *r)
{
	return r != NULL && (PQresultStatus(r) == PGRES_COMMAND_OK ||
			     PQresultStatus(r) == PGRES_TUPLES_OK);
}

static const char *
pg_sqlstate(const PGresult *r)
{
	const char *s = r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;

	return s != NULL ? s : "";
}

/* Runs a statement without parameters; 0 or -1. */
static int
pg_run(struct pgstore *st, const char *what, const char *sql)
{
	PGresult *r = pg_exec(st, what, sql, 0, NULL, NULL, NULL);
	int ok = pg_ok(r);

	PQclear(r);
	return ok ? 0 : -1;
}

static int
pg_begin(struct pgstore *st, const char *what)
{
	if (pg_run(st, what, "BEGIN") < 0)
		return -1;
	st->in_txn = true;
	return 0;
}

static int
pg_commit(struct pgstore *st, const char *what)
{
	int rc = pg_run(st, what, "COMMIT");

	st->in_txn = false;
	return rc;
}

/* Rolls back, keeping the error already set. */
static void
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

/* ---- schema ---- */

/* The server's reason when r is a refusal for want of a privilege (the
 * daemons' role of contrib/postgresql/), else NULL. */
static const char *
pg_denied(const PGresult *r)
{
	const char *why;

	if (strcmp(pg_sqlstate(r), "42501") != 0)	/* insufficient_privilege */
		return NULL;
	why = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
	return why != NULL ? why : "permission denied";
}

/* The schema version: -1 error, 0 when the database has none of ours. */
static int
pg_version(struct pgstore *st, bool *foreign_tables)
{
	PGresult *r = pg_exec(st, "schema version",
	    "SELECT to_regclass('mailbeacon_schema') IS NOT NULL,"
	    " to_regclass('messages') IS NOT NULL OR to_regclass('events') IS NOT NULL", 0, NULL,
	    NULL, NULL);
	int v = -1;

	if (!pg_ok(r) || PQntuples(r) != 1) {
		PQclear(r);
		return -1;
	}
	bool ours = PQgetvalue(r, 0, 0)[0] == 't';
	if (foreign_tables != NULL)
		*foreign_tables = !ours && PQgetvalue(r, 0, 1)[0] == 't';
	PQclear(r);
	if (!ours)
		return 0;
	r = pg_exec(st, "schema version", "SELECT max(version) FROM mailbeacon_schema", 0, NULL,
		    NULL, NULL);
	if (pg_ok(r) && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
		v = atoi(PQgetvalue(r, 0, 0));
	else if (pg_ok(r))
		pg_seterr(st, "schema version: mailbeacon_schema is empty");
	else if (pg_denied(r) != NULL)
		pg_seterr(st, "schema version: this role may not read the schema (%s): grant it "
			  "the daemons' rights (contrib/postgresql/setup.sql, run again after "
			  "'mailbeacon db migrate')", pg_denied(r));
	PQclear(r);
	return v;
}

int
pgstore_schema_version(struct pgstore *st)
{
	return st != NULL ? pg_version(st, NULL) : -1;
}

static int
pg_migrate(struct pgstore *st, bool create)
{
	bool foreign = false;
	int v;

	if (pg_begin(st, "migration: begin") < 0)
		return -1;
	/* Several hosts starting at once: one migrates, the others wait
	 * here and then find the schema current. */
	if (pg_run(st, "migration: lock", "SELECT pg_advisory_xact_lock(" SCHEMA_LOCK_KEY ")") < 0 ||
	    (v = pg_version(st, &foreign)) < 0)
		goto fail;
	if (v > N_MIGRATIONS) {
		pg_seterr(st, "schema version %d is newer than this program (%d)", v, N_MIGRATIONS);
		goto fail;
	}
	if (v == 0 && foreign) {
		pg_seterr(st, "not a mailbeacon database (no mailbeacon_schema, but it has tables "
			  "named messages or events)");
		goto fail;
	}
	if (v == 0 && !create) {
		pg_seterr(st, "no mailbeacon schema in the database (run 'mailbeacon db migrate' "
			  "with a role that may create it)");
		goto fail;
	}
	for (int target = v + 1; target <= N_MIGRATIONS; target++) {
		char what[64], sql[96];

		snprintf(what, sizeof(what), "migration to schema version %d", target);
		snprintf(sql, sizeof(sql), "UPDATE mailbeacon_schema SET version = %d", target);
		PGresult *r = pg_exec(st, what, migrations[target - 1], 0, NULL, NULL, NULL);
		bool ok = pg_ok(r);
		/* The daemons' role of contrib/postgresql/ may not create
		 * tables: the owner's role migrates, once, before they start. */
		if (!ok && pg_denied(r) != NULL) {
			char have[48];

			if (v == 0)
				snprintf(have, sizeof(have), "no mailbeacon schema");
			else
				snprintf(have, sizeof(have), "schema version %d", v);
			pg_seterr(st, "%s, this program needs version %d, and this role may not "
				  "create or migrate it (%s): run 'mailbeacon db migrate' with the "
				  "schema owner's database URI, then start again", have, N_MIGRATIONS,
				  pg_denied(r));
		}
		PQclear(r);
		if (!ok || pg_run(st, what, sql) < 0)
			goto fail;
	}
	return pg_commit(st, "migration: commit");
fail:
	pg_rollback(st);
	return -1;
}

/* ---- partitions ---- */

static long long
month_start(long long t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL)
		return 0;
	tm.tm_mday = 1;
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	return (long long)timegm(&tm);
}

int
pgstore_events_partition(struct pgstore *st, long long time)
{
	long long m = month_start(time);
	char arg[32];
	const char *vals[1] = { arg };

	if (st == NULL)
		return -1;
	for (size_t i = 0; i < st->n_months; i++)
		if (st->months[i] == m)
			return 0;
	snprintf(arg, sizeof(arg), "%lld", m);
	PGresult *r = pg_exec(st, "events partition", "SELECT mailbeacon_events_partition($1)", 1,
			      vals, NULL, NULL);
	int ok = pg_ok(r);

	PQclear(r);
	if (!ok)
		return -1;
	if (st->n_months == KNOWN_MONTHS)
		st->n_months = 0;	/* forget the oldest lot: only costs a call */
	st->months[st->n_months++] = m;
	return 0;
}

/* This month's partition and the next month's, so writes rarely wait for
 * one to be created. */
static int
pg_partitions_ahead(struct pgstore *st)
{
	long long now = (long long)time(NULL), m = month_start(now);

	return pgstore_events_partition(st, m) < 0 ||
	    pgstore_events_partition(st, month_start(m + 32 * 86400)) < 0 ? -1 : 0;
}

/* ---- open and close ---- */

/* Connects; with schema, creates or migrates it and the partitions ahead. */
/* A URI libpq cannot read is the configuration's to fix, found before any
 * connection (so it is no outage). libpq's message quotes the URI, which
 * may hold a password: the quote is left out. */
static bool
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

static int
pg_open(const char *uri, const char *password, bool schema, bool create, int timeout_ms,
	struct pgstore **out, char *err, size_t errlen)
{
	struct pgstore *st;
	char scratch[8];

	if (err == NULL || errlen == 0) {
		err = scratch;
		errlen = sizeof(scratch);
	}
	err[0] = '\0';
	if (out == NULL || !pgstore_is_uri(uri)) {
		snprintf(err, errlen, "database: not a postgresql:// URI");
		return -1;
	}
	*out = NULL;
	if (uri_unreadable(uri, err, errlen))
		return -1;
	if ((st = calloc(1, sizeof(*st))) == NULL || (st->uri = strdup(uri)) == NULL ||
	    (password != NULL && (st->password = strdup(password)) == NULL)) {
		if (st != NULL)
			free(st->uri);
		free(st);
		snprintf(err, errlen, "database: out of memory");
		return -1;
	}
	st->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
	pgstore_display(uri, st->display, sizeof(st->display));
	if (pg_connect(st) < 0 ||
	    (schema && (pg_migrate(st, create) < 0 || pg_partitions_ahead(st) < 0))) {
		snprintf(err, errlen, "%s", st->err);
		pgstore_close(st);
		return -1;
	}
	*out = st;
	return 0;
}

int
pgstore_open(const char *uri, const char *password, bool create, int timeout_ms,
	     struct pgstore **out, char *err, size_t errlen)
{
	return pg_open(uri, password, true, create, timeout_ms, out, err, errlen);
}

int
pgstore_open_as_is(const char *uri, const char *password, int timeout_ms, struct pgstore **out,
		   char *err, size_t errlen)
{
	return pg_open(uri, password, false, false, timeout_ms, out, err, errlen);
}

void
pgstore_close(struct pgstore *st)
{
	if (st == NULL)
		return;
	pg_drop(st);
	if (st->password != NULL) {
		sodium_memzero(st->password, strlen(st->password));
		free(st->password);
	}
	/* The URI may carry the password too. */
	sodium_memzero(st->uri, strlen(st->uri));
	free(st->uri);
	free(st);
}

int
pgstore_connected(struct pgstore *st)
{
	return st != NULL && st->conn != NULL && PQstatus(st->conn) == CONNECTION_OK;
}

/* ---- parameters ---- */

/* A bytea parameter is sent in binary: format 1, length 32. */
#define HASH_PARAM(i, h) do { vals[i] = (const char *)(h); lens[i] = STORE_HASH_LEN; fmts[i] = 1; } while (0)

/* ---- messages ---- */

int
pgstore_message_find(struct pgstore *st, const char *queue_id, const char *message_id_header,
		     const char *sender, char id[STORE_ID_LEN + 1], long long *sent)
{
	if (st == NULL)
		return -1;
	for (int pass = 0; pass < 2; pass++) {
		PGresult *r;

		if (pass == 0 && queue_id != NULL) {
			const char *vals[1] = { queue_id };
			r = pg_exec(st, "find message",
				    "SELECT id, sent FROM messages WHERE queue_id = $1", 1, vals,
				    NULL, NULL);
		} else if (pass == 1 && message_id_header != NULL && sender != NULL) {
			const char *vals[2] = { sender, message_id_header };
			r = pg_exec(st, "find message",
				    "SELECT id, sent FROM messages WHERE sender = $1"
				    " AND message_id_header = $2 ORDER BY sent DESC LIMIT 1", 2,
				    vals, NULL, NULL);
		} else {
			continue;
		}
		if (!pg_ok(r)) {
			PQclear(r);
			return -1;
		}
		if (PQntuples(r) == 0) {
			PQclear(r);
			continue;
		}
		const char *t = PQgetvalue(r, 0, 0);
		if (strlen(t) > STORE_ID_LEN) {
			pg_seterr(st, "find message: bad message id in the database");
			PQclear(r);
			return -1;
		}
		memcpy(id, t, strlen(t) + 1);
		if (sent != NULL)
			*sent = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
		PQclear(r);
		return 1;
	}
	return 0;
}

int
pgstore_message_insert(struct pgstore *st, const struct store_message *m,
		       enum store_link_urls mode)
{
	char rcpts[24], sent[24], links[24], num[24];
	PGresult *r;

	if (st == NULL)
		return -1;
	if (m == NULL || m->id == NULL || m->sender == NULL || m->words == NULL ||
	    (m->n_recipients > 0 && m->recipient_hashes == NULL) ||
	    (m->n_links > 0 && m->link_urls == NULL)) {
		pg_seterr(st, "insert message: incomplete message");
		return -1;
	}
	snprintf(rcpts, sizeof(rcpts), "%zu", m->n_recipients);
	snprintf(sent, sizeof(sent), "%lld", m->sent);
	snprintf(links, sizeof(links), "%zu", m->n_links);
	if (pg_begin(st, "insert message: begin") < 0)
		return -1;
	const char *mv[10] = { m->id, m->queue_id, m->message_id_header, m->sender,
			       m->sasl_login, rcpts, sent, m->words, links, m->subject };
	r = pg_exec(st, "insert message",
		    "INSERT INTO messages (id, queue_id, message_id_header, sender, sasl_login,"
		    " recipient_count, sent, words, link_count, subject)"
		    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)", 10, mv, NULL, NULL);
	if (!pg_ok(r)) {
		bool conflict = strcmp(pg_sqlstate(r), "23505") == 0;	/* unique_violation */
		PQclear(r);
		pg_rollback(st);
		return conflict ? 1 : -1;
	}
	PQclear(r);
	for (size_t i = 0; i < m->n_recipients; i++) {
		const char *vals[2];
		int lens[2] = { 0, 0 }, fmts[2] = { 0, 0 };

		vals[0] = m->id;
		HASH_PARAM(1, m->recipient_hashes[i]);
		r = pg_exec(st, "insert recipient",
			    "INSERT INTO message_recipients (message_id, recipient_hash)"
			    " VALUES ($1, $2) ON CONFLICT DO NOTHING", 2, vals, lens, fmts);
		if (!pg_ok(r))
			goto fail;
		PQclear(r);
	}
	for (size_t i = 0; i < m->n_links; i++) {
		char *url = store_reduce_url(m->link_urls[i], mode);

		if (url == NULL && m->link_urls[i] != NULL && mode != STORE_URLS_NONE) {
			pg_seterr(st, "insert link: out of memory");
			r = NULL;
			goto fail;
		}
		snprintf(num, sizeof(num), "%zu", i + 1);
		const char *vals[3] = { m->id, num, url };
		r = pg_exec(st, "insert link",
			    "INSERT INTO links (message_id, num, url) VALUES ($1, $2, $3)", 3, vals,
			    NULL, NULL);
		free(url);
		if (!pg_ok(r))
			goto fail;
		PQclear(r);
	}
	return pg_commit(st, "insert message: commit");
fail:
	PQclear(r);
	pg_rollback(st);
	return -1;
}

/* ---- opt-outs ---- */

int
pgstore_optout_exists(struct pgstore *st, const unsigned char hash[STORE_HASH_LEN])
{
	const char *vals[1];
	int lens[1], fmts[1];

	if (st == NULL)
		return -1;
	if (hash == NULL) {
		pg_seterr(st, "opt-out lookup: no hash");
		return -1;
	}
	HASH_PARAM(0, hash);
	PGresult *r = pg_exec(st, "opt-out lookup", "SELECT 1 FROM optouts WHERE recipient_hash = $1",
			      1, vals, lens, fmts);
	int rc = pg_ok(r) ? PQntuples(r) > 0 : -1;

	PQclear(r);
	return rc;
}

int
pgstore_optout_add(struct pgstore *st, const unsigned char hash[STORE_HASH_LEN], long long when,
		   const char *message_id)
{
	char t[24];
	const char *vals[3];
	int lens[3] = { 0, 0, 0 }, fmts[3] = { 0, 0, 0 };

	if (st == NULL)
		return -1;
	if (hash == NULL) {
		pg_seterr(st, "add opt-out: no hash");
		return -1;
	}
	snprintf(t, sizeof(t), "%lld", when);
	HASH_PARAM(0, hash);
	vals[1] = t;
	vals[2] = message_id;
	PGresult *r = pg_exec(st, "add opt-out",
			      "INSERT INTO optouts (recipient_hash, time, message_id)"
			      " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING", 3, vals, lens, fmts);
	int rc = pg_ok(r) ? 0 : -1;

	PQclear(r);
	return rc;
}

/* ---- events ---- */

/* One INSERT of events ev[0..n) (n <= EVENTS_PER_INSERT): 9 parameters an
 * event, their texts in num (3 numbers an event, 24 bytes each). */
static int
insert_events(struct pgstore *st, const struct store_event *ev, size_t n)
{
	struct mbuf sql;
	const char **vals = calloc(n * 9, sizeof(*vals));
	int *lens = calloc(n * 9, sizeof(*lens)), *fmts = calloc(n * 9, sizeof(*fmts));
	char (*num)[24] = calloc(n * 3, sizeof(*num));
	int rc = -1;

	mbuf_init(&sql);
	if (vals == NULL || lens == NULL || fmts == NULL || num == NULL) {
		pg_seterr(st, "insert events: out of memory");
		goto out;
	}
	mbuf_puts(&sql, "INSERT INTO events (message_id, kind, link, time, ip_masked,"
		  " client_class, verdict, dnt, recipient_hash) VALUES ");
	for (size_t i = 0; i < n; i++) {
		const struct store_event *e = &ev[i];
		size_t p = i * 9;

		mbuf_printf(&sql, "%s($%zu, $%zu, $%zu, $%zu, $%zu, $%zu, $%zu, $%zu, $%zu)",
			    i ? ", " : "", p + 1, p + 2, p + 3, p + 4, p + 5, p + 6, p + 7, p + 8,
			    p + 9);
		vals[p] = e->message_id;
		vals[p + 1] = e->kind;
		if (e->link > 0) {
			snprintf(num[i * 3], sizeof(num[0]), "%u", e->link);
			vals[p + 2] = num[i * 3];
		}
		snprintf(num[i * 3 + 1], sizeof(num[0]), "%lld", e->time);
		vals[p + 3] = num[i * 3 + 1];
		vals[p + 4] = e->ip_masked;
		vals[p + 5] = e->client_class;
		vals[p + 6] = e->verdict;
		vals[p + 7] = e->dnt ? "1" : "0";
		if (e->recipient_hash != NULL) {
			vals[p + 8] = (const char *)e->recipient_hash;
			lens[p + 8] = STORE_HASH_LEN;
			fmts[p + 8] = 1;
		}
	}
	if (sql.failed) {
		pg_seterr(st, "insert events: out of memory");
		goto out;
	}
	PGresult *r = pg_exec(st, "insert events", sql.data, (int)(n * 9), vals, lens, fmts);
	rc = pg_ok(r) ? 0 : -1;
	PQclear(r);
out:
	mbuf_free(&sql);
	free(vals);
	free(lens);
	free(fmts);
	free(num);
	return rc;
}

/* The partitions of the events' months, outside the transaction (their
 * creation commits on its own). */
static int
events_partitions(struct pgstore *st, const struct store_event *ev, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (pgstore_events_partition(st, ev[i].time) < 0)
			return -1;
	return 0;
}

int
pgstore_events_insert(struct pgstore *st, const struct store_event *ev, size_t n)
{
	if (st == NULL)
		return -1;
	if (n == 0)
		return 0;
	if (events_partitions(st, ev, n) < 0)
		return -1;
	/* One statement is its own transaction: the usual group commit is
	 * one round trip, not three. */
	if (n <= EVENTS_PER_INSERT)
		return insert_events(st, ev, n);
	if (pg_begin(st, "insert events: begin") < 0)
		return -1;
	for (size_t i = 0; i < n; i += EVENTS_PER_INSERT)
		if (insert_events(st, ev + i, n - i < EVENTS_PER_INSERT ? n - i : EVENTS_PER_INSERT) < 0) {
			pg_rollback(st);
			return -1;
		}
	return pg_commit(st, "insert events: commit");
}

int
pgstore_optout_record(struct pgstore *st, const unsigned char hash[STORE_HASH_LEN],
		      long long when, const char *message_id)
{
	struct store_event e = {
		.message_id = message_id, .kind = "optout", .time = when,
		.verdict = "human", .recipient_hash = hash,
	};

	if (st == NULL || events_partitions(st, &e, 1) < 0 || pg_begin(st, "opt-out: begin") < 0)
		return -1;
	if (pgstore_optout_add(st, hash, when, message_id) < 0 || insert_events(st, &e, 1) < 0) {
		pg_rollback(st);
		return -1;
	}
	return pg_commit(st, "opt-out: commit");
}

int
pgstore_message_opted_out(struct pgstore *st, const char *message_id)
{
	const char *vals[1] = { message_id };

	if (st == NULL)
		return -1;
	PGresult *r = pg_exec(st, "opt-out lookup",
			      "SELECT 1 FROM message_recipients r"
			      " JOIN optouts o ON o.recipient_hash = r.recipient_hash"
			      " WHERE r.message_id = $1"
			      " UNION ALL SELECT 1 FROM optouts WHERE message_id = $1 LIMIT 1", 1,
			      vals, NULL, NULL);
	int rc = pg_ok(r) ? PQntuples(r) > 0 : -1;

	PQclear(r);
	return rc;
}

int
pgstore_message_recipients(struct pgstore *st, const char *message_id,
			   unsigned char (*out)[STORE_HASH_LEN], size_t max, size_t *total)
{
	const char *vals[1] = { message_id };

	*total = 0;
	if (st == NULL)
		return -1;
	PGresult *r = pg_exec(st, "recipients of a message",
			      "SELECT recipient_hash FROM message_recipients WHERE message_id = $1",
			      1, vals, NULL, NULL);
	if (!pg_ok(r)) {
		PQclear(r);
		return -1;
	}
	for (int i = 0; i < PQntuples(r); i++) {
		size_t len = 0;
		unsigned char *h = PQunescapeBytea((const unsigned char *)PQgetvalue(r, i, 0), &len);

		if (h == NULL) {
			pg_seterr(st, "recipients of a message: out of memory");
			PQclear(r);
			return -1;
		}
		if (len == STORE_HASH_LEN) {
			if (*total < max)
				memcpy(out[*total], h, STORE_HASH_LEN);
			(*total)++;
		}
		PQfreemem(h);
	}
	PQclear(r);
	return 0;
}

int
pgstore_message_has_recipient(struct pgstore *st, const char *message_id,
			      const unsigned char hash[STORE_HASH_LEN])
{
	const char *vals[2];
	int lens[2] = { 0, 0 }, fmts[2] = { 0, 0 };

	if (st == NULL)
		return -1;
	vals[0] = message_id;
	HASH_PARAM(1, hash);
	PGresult *r = pg_exec(st, "recipient of a message",
			      "SELECT 1 FROM message_recipients"
			      " WHERE message_id = $1 AND recipient_hash = $2", 2, vals, lens, fmts);
	int rc = pg_ok(r) ? PQntuples(r) > 0 : -1;

	PQclear(r);
	return rc;
}

static const char *
value_or_null(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

int
pgstore_events_after(struct pgstore *st, long long after, int limit, store_event_fn fn, void *arg)
{
	char a[24], l[16];
	const char *vals[2] = { a, l };

	if (st == NULL)
		return -1;
	snprintf(a, sizeof(a), "%lld", after);
	snprintf(l, sizeof(l), "%d", limit);
	PGresult *r = pg_exec(st, "events after a cursor",
			      "SELECT id, message_id, kind, coalesce(link, 0), time, ip_masked,"
			      " client_class, verdict, dnt, encode(recipient_hash, 'hex') FROM events"
			      " WHERE id > $1 ORDER BY id LIMIT $2", 2, vals, NULL, NULL);
	if (!pg_ok(r)) {
		PQclear(r);
		return -1;
	}
	for (int i = 0; i < PQntuples(r); i++) {
		unsigned char hash[STORE_HASH_LEN];
		const char *hex = value_or_null(r, i, 9);
		bool has_hash = hex != NULL && strlen(hex) == 2 * STORE_HASH_LEN &&
		    sodium_hex2bin(hash, sizeof(hash), hex, strlen(hex), NULL, NULL, NULL) == 0;
		struct store_event e = {
			.message_id = value_or_null(r, i, 1),
			.kind = value_or_null(r, i, 2),
			.link = (unsigned)strtoul(PQgetvalue(r, i, 3), NULL, 10),
			.time = strtoll(PQgetvalue(r, i, 4), NULL, 10),
			.ip_masked = value_or_null(r, i, 5),
			.client_class = value_or_null(r, i, 6),
			.verdict = value_or_null(r, i, 7),
			.dnt = strcmp(PQgetvalue(r, i, 8), "0") != 0,
			.recipient_hash = has_hash ? hash : NULL,
		};
		if (fn(arg, strtoll(PQgetvalue(r, i, 0), NULL, 10), &e) != 0)
			break;
	}
	PQclear(r);
	return 0;
}

int
pgstore_write_probe(struct pgstore *st)
{
	if (st == NULL)
		return -1;
	/* A standby (or a primary demoted in a failover) is read-only; the
	 * question needs no privilege, so the daemons' role may ask it. */
	PGresult *r = pg_exec(st, "write probe", "SHOW transaction_read_only", 0, NULL, NULL, NULL);
	int rc = -1;

	if (pg_ok(r) && PQntuples(r) == 1) {
		if (strcmp(PQgetvalue(r, 0, 0), "off") == 0)
			rc = 0;
		else
			pg_seterr(st, "write probe: the server is read-only (a standby?)");
	}
	PQclear(r);
	return rc;
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

int
pgstore_events_insert_in_txn(struct pgstore *st, const struct store_event *ev, size_t n)
{
	for (size_t i = 0; i < n; i += EVENTS_PER_INSERT)
		if (insert_events(st, ev + i, n - i < EVENTS_PER_INSERT ? n - i : EVENTS_PER_INSERT) < 0)
			return -1;
	return 0;
}

int
pgstore_drop_partitions_before(struct pgstore *st, long long cutoff, long long *events,
			       long long *dropped)
{
	PGresult *r;

	*events = *dropped = 0;
	if (st == NULL || pg_begin(st, "drop partitions: begin") < 0)
		return -1;
	/* The partitions are ours by name: events_yYYYYmMM, one month each. */
	r = pg_exec(st, "drop partitions", PGSTORE_PARTITIONS_SQL " ORDER BY relname", 0, NULL,
		    NULL, NULL);
	if (!pg_ok(r))
		goto fail;
	for (int i = 0; i < PQntuples(r); i++) {
		const char *name = PQgetvalue(r, i, 0);
		struct tm tm = { 0 };
		int year, month;
		char sql[160];

		if (sscanf(name, "events_y%4dm%2d", &year, &month) != 2 || month < 1 || month > 12)
			continue;
		tm.tm_year = year - 1900;
		tm.tm_mon = month;	/* the next month: where this one ends */
		tm.tm_mday = 1;
		if ((long long)timegm(&tm) > cutoff)
			continue;
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", name);
		PGresult *c = pg_exec(st, "drop partitions: count", sql, 0, NULL, NULL, NULL);
		if (!pg_ok(c) || PQntuples(c) != 1) {
			PQclear(c);
			goto fail;
		}
		*events += strtoll(PQgetvalue(c, 0, 0), NULL, 10);
		PQclear(c);
		snprintf(sql, sizeof(sql), "DROP TABLE %s", name);
		if (pg_run(st, "drop partitions: drop", sql) < 0)
			goto fail;
		(*dropped)++;
	}
	PQclear(r);
	return pg_commit(st, "drop partitions: commit");
fail:
	PQclear(r);
	pg_rollback(st);
	*events = *dropped = 0;
	return -1;
}
