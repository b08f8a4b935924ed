/* beacon/metrics: counters for /metrics in the Prometheus text format:
 * requests by route and status, events by verdict, forgeries, lost events,
 * connections refused per network and the latency of group commits; plain
 * counters under one lock. The webhooks' are webhook_delivery.c's, the
 * "Read:" mails' notify_mail.c's. */
#include <pthread.h>
#include <string.h>
#include "mbuf.h"
#include "metrics.h"
#include "notify_mail.h"
#include "webhook_delivery.h"

#define ROUTES 10
#define STATUSES 11

static const char *const routes[ROUTES] = {
	"open", "click", "optout", "privacy", "healthz", "metrics", "api", "other", "consent",
};
static const unsigned statuses[STATUSES] = { 200, 204, 302, 400, 401, 404, 405, 413, 414, 429, 503 };
static const double buckets[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5 };
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long long requests[ROUTES][STATUSES + 1];
static unsigned long long events[VERDICT_COUNT];
static unsigned long long forgeries, lost, commits, committed_events, refused_connections;
static unsigned long long commit_bucket[NBUCKETS];
static double commit_sum;

void
metrics_request(const char *route, unsigned status)
{
	size_t r = ROUTES - 1, s = STATUSES;

	for (size_t i = 0; i < ROUTES && routes[i]; i++)
		if (strcmp(routes[i], route) == 0)
			r = i;
	for (size_t i = 0; i < STATUSES; i++)
		if (statuses[i] == status)
			s = i;
	pthread_mutex_lock(&lock);
	requests[r][s]++;
	pthread_mutex_unlock(&lock);
}

void
metrics_event(enum verdict v)
{
	pthread_mutex_lock(&lock);
	events[v]++;
	pthread_mutex_unlock(&lock);
}

void
metrics_forgery(void)
{
	pthread_mutex_lock(&lock);
	forgeries++;
	pthread_mutex_unlock(&lock);
}

void
metrics_lost(void)
{
	pthread_mutex_lock(&lock);
	lost++;
	pthread_mutex_unlock(&lock);
}

void
metrics_refused_connection(void)
{
	pthread_mutex_lock(&lock);
	refused_connections++;
	pthread_mutex_unlock(&lock);
}

void
metrics_commit(double seconds, size_t batch)
{
	pthread_mutex_lock(&lock);
	commits++;
	committed_events += batch;
	commit_sum += seconds;
	for (size_t i = 0; i < NBUCKETS; i++)
		if (seconds <= buckets[i])
			commit_bucket[i]++;
	pthread_mutex_unlock(&lock);
}

char *
metrics_render(size_t *len)
{
	struct mbuf b;

	mbuf_init(&b);
	pthread_mutex_lock(&lock);
	mbuf_puts(&b, "# HELP mailbeacon_requests_total HTTP requests by route and status.\n"
		  "# TYPE mailbeacon_requests_total counter\n");
	for (size_t r = 0; r < ROUTES && routes[r]; r++)
		for (size_t s = 0; s <= STATUSES; s++)
			if (requests[r][s])
				mbuf_printf(&b, "mailbeacon_requests_total{route=\"%s\",status=\"%s%u\"} %llu\n",
					    routes[r], s < STATUSES ? "" : "other",
					    s < STATUSES ? statuses[s] : 0, requests[r][s]);
	mbuf_puts(&b, "# HELP mailbeacon_events_total Events recorded by verdict.\n"
		  "# TYPE mailbeacon_events_total counter\n");
	for (int v = 0; v < VERDICT_COUNT; v++)
		mbuf_printf(&b, "mailbeacon_events_total{verdict=\"%s\"} %llu\n",
			    verdict_name((enum verdict)v), events[v]);
	mbuf_printf(&b, "# HELP mailbeacon_forgeries_total Requests with a bad, truncated or foreign token.\n"
		    "# TYPE mailbeacon_forgeries_total counter\nmailbeacon_forgeries_total %llu\n", forgeries);
	mbuf_printf(&b, "# HELP mailbeacon_events_lost_total Events answered but not recorded (database down).\n"
		    "# TYPE mailbeacon_events_lost_total counter\nmailbeacon_events_lost_total %llu\n", lost);
	mbuf_printf(&b, "# HELP mailbeacon_connections_refused_total Connections refused at "
		    "beacon_max_connections_per_network.\n"
		    "# TYPE mailbeacon_connections_refused_total counter\n"
		    "mailbeacon_connections_refused_total %llu\n", refused_connections);
	mbuf_puts(&b, "# HELP mailbeacon_commit_seconds Latency of one group commit.\n"
		  "# TYPE mailbeacon_commit_seconds histogram\n");
	for (size_t i = 0; i < NBUCKETS; i++)
		mbuf_printf(&b, "mailbeacon_commit_seconds_bucket{le=\"%g\"} %llu\n", buckets[i], commit_bucket[i]);
	mbuf_printf(&b, "mailbeacon_commit_seconds_bucket{le=\"+Inf\"} %llu\n"
		    "mailbeacon_commit_seconds_sum %.6f\nmailbeacon_commit_seconds_count %llu\n",
		    commits, commit_sum, commits);
	mbuf_printf(&b, "# HELP mailbeacon_committed_events_total Events written by group commits.\n"
		    "# TYPE mailbeacon_committed_events_total counter\n"
		    "mailbeacon_committed_events_total %llu\n", committed_events);
	pthread_mutex_unlock(&lock);
	webhook_metrics(&b);
	notify_mail_metrics(&b);
	return mbuf_steal(&b, len);
}
