/* beacon: what the parts of mailbeacond share: the loaded configuration
 * and keys, the group-commit writer, rate limits, recent clicks and the
 * metrics. */
#ifndef MB_BEACON_H
#define MB_BEACON_H
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <microhttpd.h>
#include "classify.h"
#include "config.h"
#include "keyring.h"
#include "store.h"

struct beacon {
	struct config cfg;
	struct keyring *keys;		/* swapped on SIGHUP under keys_lock */
	pthread_rwlock_t keys_lock;
	struct store_hash_key hash_key;
	char *api_token;		/* NULL: the API is off */
	struct MHD_Daemon *httpd;
};

extern struct beacon bc;

/* ---- writer.c: events are committed before their response is sent ---- */
struct pending {
	struct store_event ev;
	char message_id[32];
	char ip[64];
	char client[32];
	char verdict[16];
	struct MHD_Connection *conn;	/* resumed once committed */
	bool committed;
	bool done;
	struct pending *next;
};
int writer_start(void);
/* Queues p and suspends its connection; the writer resumes it. */
void writer_submit(struct pending *p);
void writer_stop(void);
/* A per-thread store handle (NULL when the database is down), opened
 * again when its file was removed or replaced under the beacon. */
struct store *reader_store(void);
void reader_store_failed(void);
/* Closes every thread's read handle (after the HTTP threads stopped). */
void readers_close(void);
/* Notes the outcome of a write the beacon acknowledges (or would have). */
void health_note_write(bool ok, const char *why);
/* For /healthz: false, with why, when the database cannot be opened or the
 * last write failed and a write probe (at most once a second) fails too. */
bool health_ok(char *why, size_t whylen);

/* ---- limits.c ---- */
/* True when the client network may make another request now. */
bool limit_allow(const char *network, long long now_ms);
/* True when another typed address may be tried on the opt-out page of
 * message msgid from this client network (a few an hour for each). */
bool limit_optout_attempt(const char *msgid, const char *network, long long now_ms);
/* beacon_max_connections_per_network: the table (for max_connections),
 * libmicrohttpd's accept policy (refuses a network at its cap) and its
 * connection notifications (count from start to close). Trusted proxies
 * are not counted. */
int conn_limit_init(size_t max_connections);
void conn_limit_free(void);
enum MHD_Result conn_limit_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen);
void conn_limit_notify(void *cls, struct MHD_Connection *c, void **socket_context,
		       enum MHD_ConnectionNotificationCode code);
/* Notes a click and returns how many other links of the message were
 * clicked within the last second. */
unsigned recent_other_links(const char *msgid, unsigned link, long long now_ms);

/* ---- metrics.c ---- */
void metrics_request(const char *route, unsigned status);
void metrics_event(enum verdict v);
void metrics_forgery(void);
void metrics_lost(void);
void metrics_refused_connection(void);
void metrics_commit(double seconds, size_t batch);
char *metrics_render(size_t *len);

#endif
