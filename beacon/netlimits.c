/* beacon/netlimits: per-client-network rate limiting (a token bucket per /24
 * or /48, in a fixed table: memory does not grow with the number of
 * clients), the same for addresses typed on an opt-out page (per message
 * and per network, so nobody can try a list of addresses against a
 * message), the count of connections per client network
 * (beacon_max_connections_per_network), and the memory of recent clicks
 * per message that tells several links clicked within one second (a
 * scanner) from a person. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "classify.h"
#include "netlimits.h"
#include "metrics.h"
#include "state.h"

#define RATE_SLOTS 8192
#define OPTOUT_SLOTS 4096
/* Typed addresses on opt-out pages: bursts of OPTOUT_BURST, then one per
 * OPTOUT_REFILL_S seconds, per message and per client network. A person
 * who mistypes their address a few times gets through; a list does not. */
#define OPTOUT_BURST 5.0
#define OPTOUT_REFILL_S 600.0
#define CLICK_SLOTS 8192
#define CLICK_LINKS 8

struct bucket {
	char key[48];		/* a network, or a message id */
	double tokens;
	long long at_ms;
};

struct clicks {
	char msgid[24];
	long long at_ms[CLICK_LINKS];
	unsigned link[CLICK_LINKS];
};

static pthread_mutex_t rate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t click_lock = PTHREAD_MUTEX_INITIALIZER;
static struct bucket buckets[RATE_SLOTS];
static struct bucket optout_by_msg[OPTOUT_SLOTS], optout_by_net[OPTOUT_SLOTS];
static struct clicks recent[CLICK_SLOTS];

static unsigned
hash(const char *s)
{
	unsigned h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

/* Takes a token from key's bucket in table (burst tokens, refilled at
 * per_second); false when there is none. Caller holds rate_lock. */
static bool
bucket_take(struct bucket *table, size_t slots, const char *key, double burst,
	    double per_second, long long now_ms)
{
	struct bucket *b = &table[hash(key) % slots];

	if (strcmp(b->key, key) != 0) {
		/* A new key (or a collision: the newcomer takes the slot). */
		strncpy(b->key, key, sizeof(b->key) - 1);
		b->key[sizeof(b->key) - 1] = '\0';
		b->tokens = burst;
		b->at_ms = now_ms;
	}
	b->tokens += (double)(now_ms - b->at_ms) * per_second / 1000.0;
	if (b->tokens > burst)
		b->tokens = burst;
	b->at_ms = now_ms;
	if (b->tokens < 1.0)
		return false;
	b->tokens -= 1.0;
	return true;
}

bool
limit_allow(const char *network, long long now_ms)
{
	double rate = bc.cfg.beacon_rate_limit;

	pthread_mutex_lock(&rate_lock);
	bool ok = bucket_take(buckets, RATE_SLOTS, network, rate, rate, now_ms);
	pthread_mutex_unlock(&rate_lock);
	return ok;
}

bool
limit_optout_attempt(const char *msgid, const char *network, long long now_ms)
{
	pthread_mutex_lock(&rate_lock);
	/* Both are charged: a network's tries count against every message. */
	bool by_msg = bucket_take(optout_by_msg, OPTOUT_SLOTS, msgid, OPTOUT_BURST,
				  1.0 / OPTOUT_REFILL_S, now_ms);
	bool by_net = bucket_take(optout_by_net, OPTOUT_SLOTS, network, OPTOUT_BURST * 2,
				  2.0 / OPTOUT_REFILL_S, now_ms);
	pthread_mutex_unlock(&rate_lock);
	return by_msg && by_net;
}

/* ---- connections per client network ----
 * Counted from libmicrohttpd's connection start to its close (each
 * connection keeps a pointer to its network's entry); new connections
 * from a network at the cap are refused as they are accepted. An open
 * addressing table with a short probe window, sized for the connection
 * limit: a network that finds no entry goes uncounted rather than refused. */
#define CONN_PROBES 64

struct conn_count {
	char network[48];
	unsigned n;
};

static pthread_mutex_t conn_lock = PTHREAD_MUTEX_INITIALIZER;
static struct conn_count *conns;
static size_t conn_slots;

int
conn_limit_init(size_t max_connections)
{
	conn_slots = 2 * max_connections + CONN_PROBES;
	conns = calloc(conn_slots, sizeof(*conns));
	return conns != NULL ? 0 : -1;
}

void
conn_limit_free(void)
{
	free(conns);
	conns = NULL;
}

/* The entry of network, or a free one for it when create; NULL when
 * neither is within the probe window. Caller holds conn_lock. */
static struct conn_count *
conn_entry(const char *network, bool create)
{
	struct conn_count *free_slot = NULL;
	size_t start = hash(network) % conn_slots;

	for (size_t i = 0; i < CONN_PROBES; i++) {
		struct conn_count *e = &conns[(start + i) % conn_slots];
		if (e->n > 0 && strcmp(e->network, network) == 0)
			return e;
		if (e->n == 0 && free_slot == NULL)
			free_slot = e;
	}
	if (create && free_slot != NULL) {
		strncpy(free_slot->network, network, sizeof(free_slot->network) - 1);
		free_slot->network[sizeof(free_slot->network) - 1] = '\0';
	}
	return create ? free_slot : NULL;
}

/* The network whose connections are counted, or false when the peer is
 * exempt (a trusted proxy, or no cap). */
static bool
conn_network(const struct sockaddr *peer, char *network, size_t len)
{
	if (bc.cfg.beacon_max_connections_per_network == 0 || conns == NULL || peer == NULL ||
	    cidr_match_any(bc.cfg.trusted_proxies, bc.cfg.n_trusted_proxies, peer))
		return false;
	return classify_mask_ip(peer, network, len) == 0;
}

enum MHD_Result
conn_limit_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
	char network[64];
	bool ok = true;

	(void)cls;
	(void)addrlen;
	if (!conn_network(addr, network, sizeof(network)))
		return MHD_YES;
	pthread_mutex_lock(&conn_lock);
	struct conn_count *e = conn_entry(network, false);
	if (e != NULL && e->n >= (unsigned)bc.cfg.beacon_max_connections_per_network)
		ok = false;
	pthread_mutex_unlock(&conn_lock);
	if (!ok)
		metrics_refused_connection();
	return ok ? MHD_YES : MHD_NO;
}

void
conn_limit_notify(void *cls, struct MHD_Connection *c, void **socket_context,
		  enum MHD_ConnectionNotificationCode code)
{
	(void)cls;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
		    MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		char network[64];
		*socket_context = NULL;
		if (ci == NULL || !conn_network(ci->client_addr, network, sizeof(network)))
			return;
		pthread_mutex_lock(&conn_lock);
		struct conn_count *e = conn_entry(network, true);
		if (e != NULL)
			e->n++;
		pthread_mutex_unlock(&conn_lock);
		*socket_context = e;
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context != NULL) {
		struct conn_count *e = *socket_context;
		pthread_mutex_lock(&conn_lock);
		e->n--;
		pthread_mutex_unlock(&conn_lock);
		*socket_context = NULL;
	}
}

unsigned
recent_other_links(const char *msgid, unsigned link, long long now_ms)
{
	unsigned others = 0;
	size_t oldest = 0;

	pthread_mutex_lock(&click_lock);
	struct clicks *c = &recent[hash(msgid) % CLICK_SLOTS];
	if (strcmp(c->msgid, msgid) != 0) {
		memset(c, 0, sizeof(*c));
		strncpy(c->msgid, msgid, sizeof(c->msgid) - 1);
	}
	for (size_t i = 0; i < CLICK_LINKS; i++) {
		if (c->link[i] != 0 && c->link[i] != link && now_ms - c->at_ms[i] < 1000)
			others++;
		if (c->at_ms[i] < c->at_ms[oldest])
			oldest = i;
	}
	size_t slot = oldest;
	for (size_t i = 0; i < CLICK_LINKS; i++)
		if (c->link[i] == link)
			slot = i;
	c->link[slot] = link;
	c->at_ms[slot] = now_ms;
	pthread_mutex_unlock(&click_lock);
	return others;
}
