/* limits: per-client-network rate limiting (a token bucket per /24 or /48,
 * in a fixed table: memory does not grow with the number of clients) and
 * the memory of recent clicks per message that tells several links clicked
 * within one second (a scanner) from a person. */
#include <string.h>
#include "beacon.h"

#define RATE_SLOTS 8192
#define CLICK_SLOTS 8192
#define CLICK_LINKS 8

struct bucket {
	char network[48];
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
static struct clicks recent[CLICK_SLOTS];

static unsigned
hash(const char *s)
{
	unsigned h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

bool
limit_allow(const char *network, long long now_ms)
{
	double rate = bc.cfg.beacon_rate_limit;
	bool ok;

	pthread_mutex_lock(&rate_lock);
	struct bucket *b = &buckets[hash(network) % RATE_SLOTS];
	if (strcmp(b->network, network) != 0) {
		/* A new network (or a collision: the newcomer takes the slot). */
		strncpy(b->network, network, sizeof(b->network) - 1);
		b->network[sizeof(b->network) - 1] = '\0';
		b->tokens = rate;
		b->at_ms = now_ms;
	}
	b->tokens += (double)(now_ms - b->at_ms) * rate / 1000.0;
	if (b->tokens > rate)
		b->tokens = rate;
	b->at_ms = now_ms;
	ok = b->tokens >= 1.0;
	if (ok)
		b->tokens -= 1.0;
	pthread_mutex_unlock(&rate_lock);
	return ok;
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
