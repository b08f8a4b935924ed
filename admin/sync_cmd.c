/* mailbeacon sync --from URL [--token-file FILE]: pulls the events (and with
 * them the opt-outs) that a beacon on another host recorded, through its
 * GET /api/v1/events?after=CURSOR, into the local store.
 *
 * Transport (libcurl): TLS verification on, always; plain http:// only to a
 * loopback address (127.0.0.0/8, [::1]), so the bearer token and the events
 * never cross a network in clear; no redirects followed; connect timeout
 * 10 s, 60 s per page; at most 16 MB per page; no compressed responses.
 *
 * Consistency: each page is stored in one transaction together with the new
 * cursor of its source (store/sync.c), so an interrupted sync (network
 * error, kill -9, a malformed line) resumes at the last committed cursor and
 * stores nothing twice. A malformed line stops the sync (exit 2) after the
 * good lines before it are stored.
 *
 * consent=optin's consents and asks follow through GET /api/v1/consents,
 * paged by time (sync_consents).
 *
 * Exit: 0 ok, 1 usage or configuration error, 2 runtime error. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <sodium.h>

#include "admin.h"
#include "mbconfig.h"
#include "eventline.h"
#include "log.h"
#include "mbuf.h"
#include "secret.h"
#include "store.h"
#include "sync.h"
#include "url_policy.h"

#define PAGE_LINES	1000			/* the beacon's API_LIMIT */
#define PAGE_MAX	(16 * 1024 * 1024)	/* bytes per response */
#define TOKEN_MAX	4096
#define CONNECT_TIMEOUT	10L			/* seconds */
#define PAGE_TIMEOUT	60L			/* seconds, whole transfer */

void
sync_usage(FILE *f)
{
	fprintf(f,
"usage: mailbeacon [-c FILE] sync --from URL [--token-file FILE]\n"
"\n"
"Pulls the events and opt-outs recorded by a beacon on another host (its\n"
"GET /api/v1/events) into this host's database, page by page (1000 events\n"
"each), and remembers per URL where it stopped: a second run fetches only\n"
"what is new, and a run that was interrupted resumes without storing\n"
"anything twice. Opt-outs also go into the opt-out list that the milter\n"
"honours. Then consent=optin's consents (with their proof) and asks recorded\n"
"there (GET /api/v1/consents) come the same way; a consent of a recipient\n"
"who opted out here is not taken (the withdrawal wins).\n"
"\n"
"  --from URL         the beacon's base URL, e.g. https://t.example.com\n"
"                     (https:// with certificate verification; http:// only\n"
"                     to a loopback address: 127.0.0.0/8 or [::1])\n"
"  --token-file FILE  the bearer token, one line (default: api_token_file of\n"
"                     the configuration: the same token as the beacon's);\n"
"                     must not be readable by other users\n"
"\n"
"Prints \"N events, M opt-outs from URL (cursor A -> B)\", then\n"
"\"N consents, M asks from URL (since A -> B)\" (new rows written).\n"
"Exit: 0 ok, 1 usage or configuration error, 2 runtime error (network, an\n"
"HTTP status other than 200, a malformed line: the lines before it are kept).\n");
}

/* ---- the transfer ---- */

struct page {
	struct mbuf body;
	bool too_big;
};

static size_t
on_data(char *data, size_t size, size_t nmemb, void *arg)
{
	struct page *pg = arg;
	size_t n = size * nmemb;

	if (n > PAGE_MAX || pg->body.len + n > PAGE_MAX) {
		pg->too_big = true;
		return 0;
	}
	if (mbuf_append(&pg->body, data, n) < 0)
		return 0;
	return n;
}

/* Checks the base URL; *https tells the scheme. 0, or -1 with a message. */
static int
check_base(const char *url, bool *https, char *err, size_t errlen)
{
	if (config_check_url(url, 1) < 0) {
		snprintf(err, errlen, "--from %s: not an http:// or https:// URL (no user name, "
			 "query or fragment)", url);
		return -1;
	}
	switch (url_policy_check(url)) {
	case URL_POLICY_HTTPS:
	case URL_POLICY_LOOPBACK_HTTP:
		*https = strncmp(url, "https://", 8) == 0;
		return 0;
	case URL_POLICY_NOT_HTTP:
		snprintf(err, errlen, "--from %s: not a URL libcurl accepts", url);
		return -1;
	case URL_POLICY_PLAIN_REMOTE:
		break;
	}
	snprintf(err, errlen, "--from %s: refusing plain http://: the token and the events "
		 "would cross the network unencrypted; use https:// (http:// is allowed only "
		 "to a loopback address, 127.0.0.0/8 or [::1])", url);
	return -1;
}

/* The token: one line of printable ASCII without blanks (it goes into a
 * header), from a file not readable by others. */
static int
load_token(const char *path, char **out, char *err, size_t errlen)
{
	struct mbuf b;

	*out = NULL;
	mbuf_init(&b);
	if (secret_file_read(path, TOKEN_MAX, &b, err, errlen) < 0) {
		if (b.data != NULL)
			sodium_memzero(b.data, b.cap);
		mbuf_free(&b);
		return -1;
	}
	while (b.len > 0 && strchr(" \t\r\n", b.data[b.len - 1]) != NULL)
		b.data[--b.len] = '\0';
	bool ok = b.len > 0;
	for (size_t i = 0; i < b.len; i++)
		if ((unsigned char)b.data[i] <= 0x20 || (unsigned char)b.data[i] >= 0x7f)
			ok = false;
	if (!ok) {
		snprintf(err, errlen, "%s: the token must be one line of printable characters "
			 "without blanks", path);
		if (b.data != NULL)
			sodium_memzero(b.data, b.cap);
		mbuf_free(&b);
		return -1;
	}
	*out = mbuf_steal(&b, NULL);
	return 0;
}

/* A short, printable excerpt of an error body for messages. */
static void
excerpt(const struct mbuf *b, char *out, size_t outlen)
{
	size_t j = 0;

	for (size_t i = 0; i < b->len && j + 1 < outlen && i < 200; i++) {
		unsigned char c = (unsigned char)b->data[i];
		if (c == '\n' || c == '\r') {
			if (j > 0)
				break;
			continue;
		}
		out[j++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	out[j] = '\0';
}

struct syncer {
	const char *base;	/* no trailing slash: the source's key */
	bool https;
	CURL *curl;
	struct curl_slist *headers;
	char errbuf[CURL_ERROR_SIZE];
	struct store *st;
	long long cursor;	/* stored */
	size_t events, optout_events;
	long status;		/* of the last fetch, 0 when none came */
	size_t consents, asks;	/* consent=optin's, written */
};

/* GETs the page of query ("events?after=" and s->cursor, or
 * "consents?since=" and a time) into pg. 0, or -1 with a message. */
static int
fetch(struct syncer *s, struct page *pg, const char *query, long long from, char *err,
      size_t errlen)
{
	char url[4096];
	long status = 0;
	char *ctype = NULL;
	CURLcode rc;

	s->status = 0;
	if ((size_t)snprintf(url, sizeof(url), "%s/api/v1/%s%lld", s->base, query,
			     from) >= sizeof(url)) {
		snprintf(err, errlen, "--from: URL too long");
		return -1;
	}
	mbuf_reset(&pg->body);
	pg->too_big = false;
	s->errbuf[0] = '\0';
	curl_easy_setopt(s->curl, CURLOPT_URL, url);
	curl_easy_setopt(s->curl, CURLOPT_WRITEDATA, pg);
	rc = curl_easy_perform(s->curl);
	if (rc != CURLE_OK) {
		if (pg->too_big || rc == CURLE_FILESIZE_EXCEEDED)
			snprintf(err, errlen, "%s: the response is larger than %d MB", url,
				 PAGE_MAX / (1024 * 1024));
		else
			snprintf(err, errlen, "%s: %s", url,
				 s->errbuf[0] ? s->errbuf : curl_easy_strerror(rc));
		return -1;
	}
	curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
	s->status = status;
	if (status != 200) {
		char body[256];

		excerpt(&pg->body, body, sizeof(body));
		if (status == 401 || status == 403) {
			snprintf(err, errlen, "%s: the token was refused (HTTP %ld); it must be the "
				 "beacon's api_token_file", url, status);
		} else if (status >= 300 && status < 400) {
			char *loc = NULL;
			curl_easy_getinfo(s->curl, CURLINFO_REDIRECT_URL, &loc);
			snprintf(err, errlen, "%s: HTTP %ld, a redirect%s%s that sync does not "
				 "follow: give the beacon's own URL", url, status,
				 loc ? " to " : "", loc ? loc : "");
		} else if (status == 404) {
			snprintf(err, errlen, "%s: HTTP 404: no events API there (is the beacon's "
				 "api_token_file set?)", url);
		} else {
			snprintf(err, errlen, "%s: HTTP %ld%s%s", url, status, body[0] ? ": " : "",
				 body);
		}
		return -1;
	}
	curl_easy_getinfo(s->curl, CURLINFO_CONTENT_TYPE, &ctype);
	if (ctype == NULL || strncmp(ctype, "application/x-ndjson", 20) != 0 ||
	    (ctype[20] != '\0' && ctype[20] != ';' && ctype[20] != ' ')) {
		snprintf(err, errlen, "%s: Content-Type %s, not application/x-ndjson: not a "
			 "beacon's events API", url, ctype ? ctype : "(none)");
		return -1;
	}
	return 0;
}

/* The lines of a non-empty page, a cut-off last one included (each
 * decoder reports it). */
static size_t
page_lines(const struct page *pg)
{
	const char *p = pg->body.data, *end = p + pg->body.len;
	size_t n = end[-1] != '\n';

	for (; p < end; p++)
		n += *p == '\n';
	return n;
}

/* Parses and stores one page. *lines gets its number of lines; *bad is set
 * (with the message in err) when a malformed line stopped it after the
 * good lines before it were stored. 0, or -1 on a store error. */
static int
store_page(struct syncer *s, struct page *pg, size_t *lines, bool *bad, char *err,
	   size_t errlen)
{
	char *p = pg->body.data, *end;
	size_t n_lines = 0, n = 0, n_opt = 0, added = 0;
	struct store_event *ev = NULL;
	struct eventline *lines_in = NULL;
	long long last = s->cursor;
	int rc = -1;

	*bad = false;
	*lines = 0;
	if (pg->body.len == 0 || p == NULL)
		return 0;	/* nothing new */
	end = p + pg->body.len;
	*lines = n_lines = page_lines(pg);
	if (n_lines > 0 &&
	    ((ev = calloc(n_lines, sizeof(*ev))) == NULL ||
	     (lines_in = calloc(n_lines, sizeof(*lines_in))) == NULL)) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (size_t k = 0; k < n_lines; k++) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char why[256] = "";

		if (nl == NULL)
			snprintf(why, sizeof(why), "the last line is cut off (no newline)");
		else if (eventline_decode(p, (size_t)(nl - p), &lines_in[n], why, sizeof(why)) < 0)
			;	/* why says it */
		else if (lines_in[n].cursor <= last)
			snprintf(why, sizeof(why), "\"cursor\" does not increase");
		if (why[0] != '\0') {
			snprintf(err, errlen, "%s/api/v1/events?after=%lld: line %zu: malformed: %s; "
				 "stopped after cursor %lld", s->base, s->cursor, k + 1, why, last);
			*bad = true;
			break;
		}
		last = lines_in[n].cursor;
		ev[n] = lines_in[n].ev;
		if (strcmp(ev[n].kind, "optout") == 0)
			n_opt++;
		n++;
		p = nl + 1;
	}
	if (n > 0) {
		char why[768];

		if (store_sync_page(s->st, s->base, s->cursor, ev, n, last, &added, why,
				    sizeof(why)) < 0) {
			snprintf(err, errlen, "%s", why);
			*bad = false;
			goto out;
		}
		s->cursor = last;
		s->events += n;
		s->optout_events += n_opt;
	}
	rc = 0;
out:
	free(ev);
	free(lines_in);
	return rc;
}

/* consent=optin's consents and asks: GET /api/v1/consents?since=TIME, a
 * page (oldest first) in one transaction with the time reached, kept as
 * the cursor of BASE/api/v1/consents. A run asks again from a minute
 * before that time: a row stamped earlier but committed after the last
 * run's read still comes, and what came before is not written twice. */
#define CONSENTS_OVERLAP 60	/* seconds */

static int
store_consent_page(struct syncer *s, const char *key, long long *cursor, struct page *pg,
		   size_t *lines, long long *last, char *err, size_t errlen)
{
	char *p = pg->body.data, *end = p + pg->body.len;
	struct consentline *in = NULL;
	struct store_consent_item *it = NULL;
	size_t n = 0, consents, asks;
	int rc = -1;

	*lines = 0;
	if (pg->body.len == 0 || p == NULL)
		return 0;
	*lines = page_lines(pg);
	if ((in = calloc(*lines, sizeof(*in))) == NULL ||
	    (it = calloc(*lines, sizeof(*it))) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (; n < *lines; n++) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char why[256] = "";

		if (nl == NULL)
			snprintf(why, sizeof(why), "the last line is cut off (no newline)");
		else if (consentline_decode(p, (size_t)(nl - p), &in[n], why, sizeof(why)) < 0)
			;	/* why says it */
		else if (n > 0 && in[n].it.time < it[n - 1].time)
			snprintf(why, sizeof(why), "\"time\" goes back");
		if (why[0] != '\0') {
			snprintf(err, errlen, "%s: line %zu: malformed: %s; nothing of that page "
				 "stored", key, n + 1, why);
			goto out;
		}
		it[n] = in[n].it;
		p = nl + 1;
	}
	*last = it[n - 1].time;
	long long next = *last > *cursor ? *last : *cursor;
	if (store_sync_consents(s->st, key, *cursor, it, n, next, &consents, &asks, err,
				errlen) < 0)
		goto out;
	*cursor = next;
	s->consents += consents;
	s->asks += asks;
	rc = 0;
out:
	free(in);
	free(it);
	return rc;
}

static int
sync_consents(struct syncer *s, struct page *pg, char *err, size_t errlen)
{
	char key[4096];
	long long cursor, start, since, last = 0;
	size_t lines;

	err[0] = '\0';
	snprintf(key, sizeof(key), "%s/api/v1/consents", s->base);
	if (store_sync_cursor(s->st, key, &cursor, err, errlen) < 0) {
		log_warnx("%s", err);
		return EXIT_RUNTIME;
	}
	start = cursor;
	since = cursor > CONSENTS_OVERLAP ? cursor - CONSENTS_OVERLAP : 0;
	for (;;) {
		if (fetch(s, pg, "consents?since=", since, err, errlen) < 0) {
			if (s->status == 404) {
				/* A beacon from before consent=optin: its events were all. */
				printf("no consents API at %s (a beacon older than consent=optin)\n",
				       s->base);
				return 0;
			}
			break;
		}
		if (store_consent_page(s, key, &cursor, pg, &lines, &last, err, errlen) < 0)
			break;
		if (lines < PAGE_LINES)
			break;
		if (last == since) {
			snprintf(err, errlen, "%s: more than %d consents and asks at one time (%lld): "
				 "cannot page through them", key, PAGE_LINES, last);
			break;
		}
		since = last;
	}
	printf("%zu consents, %zu asks from %s (since %lld -> %lld)%s\n", s->consents, s->asks,
	       s->base, start, cursor, err[0] != '\0' ? ", then stopped" : "");
	if (err[0] != '\0') {
		log_warnx("%s", err);
		return EXIT_RUNTIME;
	}
	return 0;
}

static int
setup_curl(struct syncer *s, const char *token, char *err, size_t errlen)
{
	struct mbuf h;
	CURLcode rc = CURLE_OK;

	if ((s->curl = curl_easy_init()) == NULL) {
		snprintf(err, errlen, "cannot start libcurl");
		return -1;
	}
	mbuf_init(&h);
	mbuf_printf(&h, "Authorization: Bearer %s", token);
	if (h.failed || (s->headers = curl_slist_append(NULL, h.data)) == NULL) {
		if (h.data != NULL)
			sodium_memzero(h.data, h.cap);
		mbuf_free(&h);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	sodium_memzero(h.data, h.cap);
	mbuf_free(&h);
	/* Each setopt can only fail for lack of memory or an old libcurl. */
#define SET(opt, val) do { if (rc == CURLE_OK) rc = curl_easy_setopt(s->curl, opt, val); } while (0)
	SET(CURLOPT_ERRORBUFFER, s->errbuf);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_HTTPHEADER, s->headers);
	SET(CURLOPT_USERAGENT, "mailbeacon-sync/" PACKAGE_VERSION);
	SET(CURLOPT_WRITEFUNCTION, on_data);
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	SET(CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT);
	SET(CURLOPT_TIMEOUT, PAGE_TIMEOUT);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)PAGE_MAX);
#if LIBCURL_VERSION_NUM >= 0x075500	/* 7.85.0 */
	SET(CURLOPT_PROTOCOLS_STR, s->https ? "https" : "http");
#else
	SET(CURLOPT_PROTOCOLS, s->https ? CURLPROTO_HTTPS : CURLPROTO_HTTP);
#endif
	/* Plain http goes to loopback only: never through a proxy, which
	 * would see the token. (https through a proxy stays end to end.) */
	if (!s->https)
		SET(CURLOPT_PROXY, "");
#undef SET
	if (rc != CURLE_OK) {
		snprintf(err, errlen, "libcurl: %s", curl_easy_strerror(rc));
		return -1;
	}
	return 0;
}

int
cmd_sync(struct admin_env *env, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "from", required_argument, NULL, 'f' },
		{ "token-file", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct syncer s = { 0 };
	struct page pg;
	const char *from = NULL, *token_file = NULL;
	char *base = NULL, *token = NULL, err[8192];
	long long start;
	int c, rc = EXIT_RUNTIME;

	log_init("mailbeacon sync", 1);	/* errors read "mailbeacon sync: ..." */
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (c) {
		case 'f': from = optarg; break;
		case 't': token_file = optarg; break;
		case 'h': sync_usage(stdout); return 0;
		default:
			log_warnx("bad option or missing value: %s", argv[optind - 1]);
			sync_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		log_warnx("unexpected argument '%s'", argv[optind]);
		return EXIT_USAGE;
	}
	if (from == NULL) {
		log_warnx("--from URL is required");
		sync_usage(stderr);
		return EXIT_USAGE;
	}
	if (token_file == NULL)
		token_file = env->cfg->api_token_file;
	if (token_file == NULL) {
		log_warnx("no token: give --token-file FILE or set "
			"api_token_file in %s", env->config_path);
		return EXIT_USAGE;
	}
	if ((base = strdup(from)) == NULL) {
		log_warnx("out of memory");
		return EXIT_RUNTIME;
	}
	for (size_t n = strlen(base); n > 0 && base[n - 1] == '/'; n--)
		base[n - 1] = '\0';
	s.base = base;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_warnx("cannot start libcurl");
		free(base);
		return EXIT_RUNTIME;
	}
	mbuf_init(&pg.body);
	if (check_base(base, &s.https, err, sizeof(err)) < 0 ||
	    load_token(token_file, &token, err, sizeof(err)) < 0) {
		log_warnx("%s", err);
		rc = EXIT_USAGE;
		goto out;
	}
	if (setup_curl(&s, token, err, sizeof(err)) < 0) {
		log_warnx("%s", err);
		goto out;
	}
	if (store_open_config(env->cfg, STORE_FOR_WRITES, true, 5000, &s.st, err, sizeof(err)) < 0) {
		rc = admin_store_failed(env, err);
		goto out;
	}
	if (store_sync_cursor(s.st, s.base, &s.cursor, err, sizeof(err)) < 0) {
		log_warnx("%s", err);
		goto out;
	}
	start = s.cursor;
	for (;;) {
		size_t lines;
		bool bad;

		if (fetch(&s, &pg, "events?after=", s.cursor, err, sizeof(err)) < 0 ||
		    store_page(&s, &pg, &lines, &bad, err, sizeof(err)) < 0 || bad) {
			printf("%zu events, %zu opt-outs from %s (cursor %lld -> %lld), "
			       "then stopped\n", s.events, s.optout_events, s.base, start, s.cursor);
			log_warnx("%s", err);
			goto out;
		}
		if (lines < PAGE_LINES)
			break;
	}
	printf("%zu events, %zu opt-outs from %s (cursor %lld -> %lld)\n", s.events,
	       s.optout_events, s.base, start, s.cursor);
	rc = sync_consents(&s, &pg, err, sizeof(err));
out:
	if (token != NULL) {
		sodium_memzero(token, strlen(token));
		free(token);
	}
	if (s.curl != NULL)
		curl_easy_cleanup(s.curl);
	curl_slist_free_all(s.headers);	/* after the handle that used it */
	store_close(s.st);
	mbuf_free(&pg.body);
	curl_global_cleanup();
	free(base);
	return rc;
}
