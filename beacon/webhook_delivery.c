/* beacon/webhook_delivery: sends the webhooks webhook.c decided on, with
 * libcurl and signatures, through a queue of their own (delivery_queue.c:
 * bounded, one thread, retries); nobody else ever waits on a receiver.
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
 * Delivery: delivery_queue.c's (at most 10,000 waiting, then dropped and
 * counted). Network errors, 5xx and 429 are retried after 1, 2, 4, 8, 16 s
 * (6 attempts in all); 2xx is delivered; any other status gives up. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <curl/curl.h>
#include <sodium.h>
#include "delivery_queue.h"
#include "log.h"
#include "mbuf.h"
#include "state.h"
#include "url_policy.h"
#include "webhook_delivery.h"

#define CONNECT_TIMEOUT 5L
#define TOTAL_TIMEOUT 10L
#define KEY_LABEL "mailbeacon-webhook-v1"

struct delivery {
	char *url;
	char *body;
};

static void
delivery_free(void *job)
{
	struct delivery *d = job;

	if (d == NULL)
		return;
	free(d->url);
	free(d->body);
	free(d);
}

static const char *
delivery_url(const void *job)
{
	return ((const struct delivery *)job)->url;
}

static void *curl_begin(void);
static void curl_end(void *h);
static enum dq_result attempt(void *h, void *job, unsigned attempt_no, char *why, size_t whylen);

static const struct dq_ops webhook_ops = {
	.noun = "webhook",
	.thread_begin = curl_begin,
	.thread_end = curl_end,
	.attempt = attempt,
	.job_free = delivery_free,
	.job_target = delivery_url,
};
static struct delivery_queue queue = DELIVERY_QUEUE_INIT(&webhook_ops);

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
	return dq_stopping(&queue) ? 1 : 0;
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

static enum dq_result
attempt(void *handle, void *job, unsigned attempt_no, char *why, size_t whylen)
{
	CURL *h = handle;
	struct delivery *d = job;
	char ts[32], sig[80], h_ts[64], h_sig[128];
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs = NULL;
	long status = 0;

	(void)attempt_no;
	if (h == NULL) {
		snprintf(why, whylen, "libcurl unavailable");
		return DQ_FAILED;
	}
	snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
	if (sign(ts, d->body, sig, sizeof(sig)) < 0) {
		snprintf(why, whylen, "no signing key");
		return DQ_FAILED;
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
	if (rc == CURLE_ABORTED_BY_CALLBACK && dq_stopping(&queue)) {
		snprintf(why, whylen, "stopping");
		return DQ_STOPPED;
	}
	if (rc != CURLE_OK) {
		snprintf(why, whylen, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
		if (rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_URL_MALFORMAT)
			return DQ_FAILED;
		return DQ_RETRY;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	snprintf(why, whylen, "HTTP status %ld", status);
	if (status >= 200 && status < 300)
		return DQ_DELIVERED;
	if (status >= 500 || status == 429)
		return DQ_RETRY;
	return DQ_FAILED;
}

static void *
curl_begin(void)
{
	CURL *h = curl_easy_init();

	if (h == NULL)
		log_warnx("webhooks: libcurl cannot start; deliveries will fail");
	return h;
}

static void
curl_end(void *h)
{
	if (h != NULL)
		curl_easy_cleanup(h);
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
	return dq_start(&queue);
}

void
webhook_delivery_stop(void)
{
	dq_stop(&queue);
	curl_global_cleanup();
}

void
webhook_deliver(char *url, char *body, const char *what)
{
	enum url_policy up = url_policy_check(url);
	struct delivery *d = NULL;

	if (up != URL_POLICY_HTTPS && up != URL_POLICY_LOOPBACK_HTTP) {
		dq_count_failed(&queue);
		log_warnx("webhook %s not sent: %s: only https://, or http:// to a loopback host",
			  what, url);
	} else if ((d = calloc(1, sizeof(*d))) != NULL) {
		d->url = url;
		d->body = body;
		dq_push(&queue, d, what, 0);
		return;
	}
	free(url);
	free(body);
}

void
webhook_metrics(struct mbuf *b)
{
	dq_metrics(&queue, b, "mailbeacon_webhooks", "delivered",
		   "Webhook deliveries by result.",
		   "Webhook deliveries waiting (new or to retry).");
}
