/* beacon/webhook_delivery: sends the webhooks webhook.c decided on: a
 * bounded in-memory queue, one delivery thread with libcurl, signatures
 * and retries; nobody else ever waits on a receiver.
 *
 * Signature: two headers,
 *   X-Mailbeacon-Timestamp: TS      (Unix seconds when this attempt was made)
 *   X-Mailbeacon-Signature: sha256=HEX
 * where HEX is the lower-case hex HMAC-SHA-256, under the webhook key, of
 * the octets  TS "." BODY  (the decimal timestamp exactly as in its header,
 * one full stop, then the raw request body as received, unmodified). The
 * webhook key is HMAC-SHA-256(key = the decoded secret of the FIRST key of
 * key_file, message = "mailbeacon-webhook-v1"), 32 octets. A receiver
 * recomputes HEX over TS "." BODY, compares it in constant time, and refuses
 * a timestamp more than a few minutes from its clock (replays); retries are
 * signed afresh with their own timestamp. Rotating key_file's first key
 * changes the webhook key.
 *
 * URLs: https:// anywhere (TLS verified); plain http:// only to a loopback
 * literal (127.0.0.0/8, [::1]; common/url_policy), for local receivers and
 * tests.
 * No redirects are followed.
 *
 * Delivery: one thread, one queue of at most QUEUE_MAX deliveries (new and
 * waiting to be retried); when it is full a new one is dropped and counted.
 * Network errors, 5xx and 429 are retried after 1, 2, 4, 8, 16 s (6
 * attempts in all); 2xx is delivered; any other status gives up. */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>
#include <sodium.h>
#include "log.h"
#include "mbuf.h"
#include "monoclock.h"
#include "state.h"
#include "url_policy.h"
#include "webhook_delivery.h"

#define QUEUE_MAX 10000
#define ATTEMPTS_MAX 6
#define CONNECT_TIMEOUT 5L
#define TOTAL_TIMEOUT 10L
#define KEY_LABEL "mailbeacon-webhook-v1"

struct delivery {
	char *url;
	char *body;
	char what[64];		/* for log lines: "open of MSGID" */
	unsigned attempts;
	double next_at;		/* monotonic seconds */
	struct delivery *next;
};

enum result { R_DELIVERED, R_RETRY, R_FAILED, R_STOPPED };

/* The queue and the counters. */
static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_wake;
static struct delivery *q_head, *q_tail;
static size_t q_len;
static atomic_bool stopping;
static bool started;
static pthread_t thread;
static unsigned long long n_delivered, n_retried, n_failed, n_dropped;

static void
delivery_free(struct delivery *d)
{
	if (d == NULL)
		return;
	free(d->url);
	free(d->body);
	free(d);
}

/* ---- the queue ---- */

/* Under q_lock: appends d, due at next_at. */
static void
queue_append(struct delivery *d, double next_at)
{
	d->next = NULL;
	d->next_at = next_at;
	if (q_tail != NULL)
		q_tail->next = d;
	else
		q_head = d;
	q_tail = d;
	q_len++;
}

static void
enqueue(struct delivery *d)
{
	pthread_mutex_lock(&q_lock);
	if (!started || stopping || q_len >= QUEUE_MAX) {
		n_dropped++;
		bool was_started = started;
		pthread_mutex_unlock(&q_lock);
		log_warnx("webhook %s to %s dropped: %s", d->what, d->url,
			  was_started ? "the queue is full" : "not running");
		delivery_free(d);
		return;
	}
	queue_append(d, monotonic_seconds());
	pthread_cond_signal(&q_wake);
	pthread_mutex_unlock(&q_lock);
}

/* Under q_lock: takes the first delivery due by now, or NULL with *wait_until
 * the earliest due time (0 when the queue is empty). */
static struct delivery *
take_due(double now, double *wait_until)
{
	struct delivery *prev = NULL;

	*wait_until = 0;
	for (struct delivery *d = q_head; d != NULL; prev = d, d = d->next) {
		if (d->next_at <= now) {
			if (prev != NULL)
				prev->next = d->next;
			else
				q_head = d->next;
			if (q_tail == d)
				q_tail = prev;
			d->next = NULL;
			q_len--;
			return d;
		}
		if (*wait_until == 0 || d->next_at < *wait_until)
			*wait_until = d->next_at;
	}
	return NULL;
}

/* ---- one attempt ---- */

static size_t
discard(char *ptr, size_t size, size_t nmemb, void *arg)
{
	(void)ptr;
	(void)arg;
	return size * nmemb;
}

static int
abort_check(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	(void)arg;
	(void)dt;
	(void)dn;
	(void)ut;
	(void)un;
	return stopping ? 1 : 0;
}

/* "sha256=" and the hex HMAC of TS "." BODY under the webhook key. */
static int
sign(const char *ts, const char *body, char *out, size_t outlen)
{
	unsigned char wkey[crypto_auth_hmacsha256_BYTES], mac[crypto_auth_hmacsha256_BYTES];
	crypto_auth_hmacsha256_state st;
	int rc = -1;

	pthread_rwlock_rdlock(&bc.keys_lock);
	if (bc.keys != NULL && bc.keys->n > 0) {
		const struct key *k = &bc.keys->keys[0];
		crypto_auth_hmacsha256_init(&st, k->secret, k->secret_len);
		crypto_auth_hmacsha256_update(&st, (const unsigned char *)KEY_LABEL, strlen(KEY_LABEL));
		crypto_auth_hmacsha256_final(&st, wkey);
		rc = 0;
	}
	pthread_rwlock_unlock(&bc.keys_lock);
	if (rc < 0)
		return -1;
	crypto_auth_hmacsha256_init(&st, wkey, sizeof(wkey));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)ts, strlen(ts));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)".", 1);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, strlen(body));
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_memzero(wkey, sizeof(wkey));
	sodium_memzero(&st, sizeof(st));
	if (outlen < 7 + 2 * sizeof(mac) + 1)
		return -1;
	memcpy(out, "sha256=", 7);
	sodium_bin2hex(out + 7, outlen - 7, mac, sizeof(mac));
	return 0;
}

static enum result
attempt(CURL *h, struct delivery *d, char *why, size_t whylen)
{
	char ts[32], sig[80], h_ts[64], h_sig[128];
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs = NULL;
	long status = 0;

	snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
	if (sign(ts, d->body, sig, sizeof(sig)) < 0) {
		snprintf(why, whylen, "no signing key");
		return R_FAILED;
	}
	snprintf(h_ts, sizeof(h_ts), "X-Mailbeacon-Timestamp: %s", ts);
	snprintf(h_sig, sizeof(h_sig), "X-Mailbeacon-Signature: %s", sig);
	struct curl_slist *t;
	if ((t = curl_slist_append(hdrs, "Content-Type: application/json")) != NULL) hdrs = t;
	if ((t = curl_slist_append(hdrs, "Expect:")) != NULL) hdrs = t;
	if ((t = curl_slist_append(hdrs, h_ts)) != NULL) hdrs = t;
	if ((t = curl_slist_append(hdrs, h_sig)) != NULL) hdrs = t;

	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, d->url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, TOTAL_TIMEOUT);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_NOPROXY, "localhost,127.0.0.1,::1");
	curl_easy_setopt(h, CURLOPT_USERAGENT, "mailbeacon-webhook/1");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, d->body);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(d->body));
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, abort_check);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	CURLcode rc = curl_easy_perform(h);
	curl_slist_free_all(hdrs);
	if (rc == CURLE_ABORTED_BY_CALLBACK && stopping) {
		snprintf(why, whylen, "stopping");
		return R_STOPPED;
	}
	if (rc != CURLE_OK) {
		snprintf(why, whylen, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
		if (rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_URL_MALFORMAT)
			return R_FAILED;
		return R_RETRY;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	snprintf(why, whylen, "HTTP status %ld", status);
	if (status >= 200 && status < 300)
		return R_DELIVERED;
	if (status >= 500 || status == 429)
		return R_RETRY;
	return R_FAILED;
}

static void *
delivery_main(void *arg)
{
	CURL *h = curl_easy_init();
	char why[CURL_ERROR_SIZE + 64];

	(void)arg;
	if (h == NULL)
		log_warnx("webhooks: libcurl cannot start; deliveries will fail");
	pthread_mutex_lock(&q_lock);
	while (!stopping) {
		double until;
		struct delivery *d = take_due(monotonic_seconds(), &until);
		if (d == NULL) {
			if (until == 0) {
				pthread_cond_wait(&q_wake, &q_lock);
			} else {
				struct timespec ts;
				ts.tv_sec = (time_t)until;
				ts.tv_nsec = (long)((until - (double)ts.tv_sec) * 1e9);
				pthread_cond_timedwait(&q_wake, &q_lock, &ts);
			}
			continue;
		}
		pthread_mutex_unlock(&q_lock);
		d->attempts++;
		enum result r = h != NULL ? attempt(h, d, why, sizeof(why)) : R_FAILED;
		if (h == NULL)
			snprintf(why, sizeof(why), "libcurl unavailable");
		if (r == R_RETRY && stopping)
			r = R_STOPPED;
		pthread_mutex_lock(&q_lock);
		switch (r) {
		case R_DELIVERED:
			n_delivered++;
			pthread_mutex_unlock(&q_lock);
			log_debug("webhook %s delivered to %s (%s)", d->what, d->url, why);
			delivery_free(d);
			break;
		case R_RETRY:
			if (d->attempts < ATTEMPTS_MAX) {
				n_retried++;
				queue_append(d, monotonic_seconds() + (double)(1u << (d->attempts - 1)));
				pthread_mutex_unlock(&q_lock);
				log_warnx("webhook %s to %s: attempt %u failed (%s); retrying in %u s",
					  d->what, d->url, d->attempts, why, 1u << (d->attempts - 1));
				break;
			}
			/* fall through */
		case R_FAILED:
			n_failed++;
			pthread_mutex_unlock(&q_lock);
			log_warnx("webhook %s to %s failed after %u attempt%s: %s", d->what, d->url,
				  d->attempts, d->attempts == 1 ? "" : "s", why);
			delivery_free(d);
			break;
		case R_STOPPED:
			n_dropped++;
			pthread_mutex_unlock(&q_lock);
			log_warnx("webhook %s to %s dropped: stopping", d->what, d->url);
			delivery_free(d);
			break;
		}
		pthread_mutex_lock(&q_lock);
	}
	/* Stopping: what is left is dropped. */
	size_t left = 0;
	while (q_head != NULL) {
		struct delivery *d = q_head;
		q_head = d->next;
		delivery_free(d);
		left++;
	}
	q_tail = NULL;
	q_len = 0;
	n_dropped += left;
	pthread_mutex_unlock(&q_lock);
	if (left > 0)
		log_warnx("webhooks: %zu pending deliver%s dropped at shutdown", left,
			  left == 1 ? "y" : "ies");
	if (h != NULL)
		curl_easy_cleanup(h);
	return NULL;
}

int
webhook_delivery_init(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		log_warnx("webhooks off: libcurl cannot start");
		return -1;
	}
	return 0;
}

int
webhook_delivery_start(void)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q_wake, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&thread, NULL, delivery_main, NULL) != 0)
		return -1;
	pthread_mutex_lock(&q_lock);
	started = true;
	pthread_mutex_unlock(&q_lock);
	return 0;
}

void
webhook_delivery_stop(void)
{
	pthread_mutex_lock(&q_lock);
	bool was = started;
	stopping = true;
	pthread_cond_signal(&q_wake);
	pthread_mutex_unlock(&q_lock);
	if (was)
		pthread_join(thread, NULL);
	pthread_mutex_lock(&q_lock);
	started = false;
	pthread_mutex_unlock(&q_lock);
	curl_global_cleanup();
}

void
webhook_deliver(char *url, char *body, const char *what)
{
	enum url_policy up = url_policy_check(url);
	struct delivery *d = NULL;

	if (up != URL_POLICY_HTTPS && up != URL_POLICY_LOOPBACK_HTTP) {
		pthread_mutex_lock(&q_lock);
		n_failed++;
		pthread_mutex_unlock(&q_lock);
		log_warnx("webhook %s not sent: %s: only https://, or http:// to a loopback host",
			  what, url);
	} else if ((d = calloc(1, sizeof(*d))) != NULL) {
		d->url = url;
		d->body = body;
		snprintf(d->what, sizeof(d->what), "%s", what);
		enqueue(d);
		return;
	}
	free(url);
	free(body);
}

void
webhook_metrics(struct mbuf *b)
{
	pthread_mutex_lock(&q_lock);
	unsigned long long d = n_delivered, r = n_retried, f = n_failed, x = n_dropped;
	size_t len = q_len;
	pthread_mutex_unlock(&q_lock);
	mbuf_printf(b, "# HELP mailbeacon_webhooks_total Webhook deliveries by result.\n"
		    "# TYPE mailbeacon_webhooks_total counter\n"
		    "mailbeacon_webhooks_total{result=\"delivered\"} %llu\n"
		    "mailbeacon_webhooks_total{result=\"retried\"} %llu\n"
		    "mailbeacon_webhooks_total{result=\"failed\"} %llu\n"
		    "mailbeacon_webhooks_total{result=\"dropped\"} %llu\n"
		    "# HELP mailbeacon_webhooks_queued Webhook deliveries waiting (new or to retry).\n"
		    "# TYPE mailbeacon_webhooks_queued gauge\n"
		    "mailbeacon_webhooks_queued %zu\n", d, r, f, x, len);
}
