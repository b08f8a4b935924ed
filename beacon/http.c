/* beacon/http: mailbeacond's request handler: answers each route that
 * route.c finds. A tracking URL's tag is verified before anything else; a
 * forged one gets 404 and writes nothing. What is recorded is reduced first
 * (classify.c). An event is committed before its response is sent (see
 * writer.c), and a click with a good tag always redirects to the
 * destination it signs, and nowhere else. The HTML pages are pages.c's. */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sodium.h>
#include "classify.h"
#include "consent.h"
#include "eventline.h"
#include "geoip.h"
#include "http.h"
#include "netlimits.h"
#include "log.h"
#include "metrics.h"
#include "mbuf.h"
#include "pages.h"
#include "readers.h"
#include "route.h"
#include "state.h"
#include "token.h"
#include "writer.h"

#define POST_MAX 4096
#define API_LIMIT 1000

/* A transparent 1x1 GIF89a: 43 octets. */
static const unsigned char gif[43] = {
	'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0x80, 0, 0, 0, 0, 0,
	0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 1, 0, 0, 0, 0, 0x2c, 0, 0, 0, 0,
	1, 0, 1, 0, 0, 2, 2, 0x44, 1, 0, 0x3b,
};

enum req_state { REQ_NEW, REQ_BODY, REQ_WAITING, REQ_COMMITTED };

struct req {
	enum req_state state;
	struct mbuf body;
	struct pending pending;
	char route[16];
	char *location;		/* click destination */
};

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static enum MHD_Result
respond(struct MHD_Connection *c, const char *route, unsigned status, const char *type,
	const void *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, mode);

	if (r == NULL)
		return MHD_NO;
	if (type != NULL)
		MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	metrics_request(route, status);
	return ret;
}

static enum MHD_Result
respond_text(struct MHD_Connection *c, const char *route, unsigned status, const char *text)
{
	return respond(c, route, status, "text/plain; charset=utf-8", text, strlen(text),
		       MHD_RESPMEM_MUST_COPY);
}

static enum MHD_Result
not_found(struct MHD_Connection *c, const char *route)
{
	return respond_text(c, route, MHD_HTTP_NOT_FOUND, "not found\n");
}

static enum MHD_Result
respond_html(struct MHD_Connection *c, const char *route, unsigned status, struct mbuf *page)
{
	size_t len;
	char *html = mbuf_steal(page, &len);

	return respond(c, route, status, "text/html; charset=utf-8", html, len, MHD_RESPMEM_MUST_FREE);
}

/* The client: the peer, or the address a trusted proxy names last in
 * X-Forwarded-For. */
static bool
client_address(struct MHD_Connection *c, struct sockaddr_storage *out)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

	if (ci == NULL || ci->client_addr == NULL)
		return false;
	const struct sockaddr *peer = ci->client_addr;
	size_t sl = peer->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	memcpy(out, peer, sl);
	if (bc.cfg.n_trusted_proxies == 0 ||
	    !cidr_match_any(bc.cfg.trusted_proxies, bc.cfg.n_trusted_proxies, peer))
		return true;
	const char *xff = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Forwarded-For");
	if (xff == NULL)
		return true;
	const char *last = strrchr(xff, ',');
	last = last ? last + 1 : xff;
	while (*last == ' ')
		last++;
	char addr[64];
	size_t n = strcspn(last, " ");
	if (n >= sizeof(addr))
		return true;
	memcpy(addr, last, n);
	addr[n] = '\0';
	struct sockaddr_in *v4 = (struct sockaddr_in *)out;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)out;
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, addr, &v4->sin_addr) == 1)
		v4->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, addr, &v6->sin6_addr) == 1)
		v6->sin6_family = AF_INET6;
	else
		memcpy(out, peer, sl);	/* unreadable: the proxy itself */
	return true;
}

/* The client's network as recorded and as limited ("unknown" when the
 * address cannot be had); client gets the address itself. */
static bool
client_network(struct MHD_Connection *c, struct sockaddr_storage *client, char *network, size_t len)
{
	snprintf(network, len, "unknown");
	if (!client_address(c, client))
		return false;
	classify_mask_ip((struct sockaddr *)client, network, len);
	return true;
}

static const char *
header(struct MHD_Connection *c, const char *name)
{
	return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

enum queued { QUEUED, NOT_RECORDED, RATE_LIMITED };

/* Opens and clicks: build the reduced event and queue it; otherwise the
 * response goes out at once. */
static enum queued
queue_event(struct MHD_Connection *c, struct req *r, const struct token *t, bool head)
{
	struct sockaddr_storage client;
	long long ms = now_ms();
	struct pending *p = &r->pending;

	memset(p, 0, sizeof(*p));
	char network[64];
	if (!client_network(c, &client, network, sizeof(network)))
		return NOT_RECORDED;
	if (!limit_allow(network, ms))
		return RATE_LIMITED;
	struct store *st = reader_store();
	if (st != NULL) {
		int out = store_message_opted_out(st, t->msgid);
		if (out < 0)
			reader_store_failed();
		else if (out > 0)
			return NOT_RECORDED;	/* a recipient said no */
	}
	bool dnt = classify_dnt(header(c, "Sec-GPC"), header(c, "DNT"));
	struct request_facts f = {
		.head = head,
		.kind = (char)t->kind,
		.user_agent = header(c, MHD_HTTP_HEADER_USER_AGENT),
		.purpose = header(c, "Purpose"),
		.sec_purpose = header(c, "Sec-Purpose"),
		.client = (struct sockaddr *)&client,
		.sent = t->sent,
		.now = ms / 1000,
		.other_links_last_second = t->kind == TOKEN_CLICK
		    ? recent_other_links(t->msgid, t->link, ms) : 0,
		.scanner_window = (unsigned)bc.cfg.scanner_window,
	};
	enum verdict v = classify_verdict(&f);
	snprintf(p->message_id, sizeof(p->message_id), "%s", t->msgid);
	snprintf(p->verdict, sizeof(p->verdict), "%s", verdict_name(v));
	p->ev.message_id = p->message_id;
	p->ev.kind = t->kind == TOKEN_CLICK ? "click" : "open";
	p->ev.link = t->kind == TOKEN_CLICK ? t->link : 0;
	p->ev.time = ms / 1000;
	p->ev.verdict = p->verdict;
	p->ev.dnt = dnt;
	if (!dnt) {
		/* Do-not-track events are counted, not attributed. */
		snprintf(p->ip, sizeof(p->ip), "%s", network);
		snprintf(p->client, sizeof(p->client), "%s", classify_client(f.user_agent));
		p->ev.ip_masked = p->ip;
		p->ev.client_class = p->client;
		if (geoip_lookup(f.client, &p->place)) {
			p->ev.country = p->place.country;
			p->ev.city = p->place.city[0] ? p->place.city : NULL;
		}
	}
	p->conn = c;
	metrics_event(v);
	r->state = REQ_WAITING;
	writer_submit(p);
	return QUEUED;
}

static enum MHD_Result
finish_tracking(struct MHD_Connection *c, struct req *r)
{
	if (strcmp(r->route, "click") == 0) {
		struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
		if (resp == NULL)
			return MHD_NO;
		MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, r->location);
		MHD_add_response_header(resp, "Cache-Control", "no-store");
		MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
		enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_FOUND, resp);
		MHD_destroy_response(resp);
		metrics_request("click", MHD_HTTP_FOUND);
		return ret;
	}
	return respond(c, "open", MHD_HTTP_OK, "image/gif", gif, sizeof(gif), MHD_RESPMEM_PERSISTENT);
}

/* rt is an open or a click whose token http_route verified. */
static enum MHD_Result
route_tracking(struct MHD_Connection *c, struct req *r, struct route *rt)
{
	struct token *t = &rt->token;
	const char *route = rt->name;

	snprintf(r->route, sizeof(r->route), "%s", route);
	if (t->kind == TOKEN_CLICK) {
		r->location = t->dest;	/* the signed destination, and only it */
		t->dest = NULL;
	}
	if (t->kind == TOKEN_CLICK && rt->head) {
		/* A link checker: the same redirect, and no click recorded. */
		route_free(rt);
		return finish_tracking(c, r);
	}
	enum queued q = queue_event(c, r, t, rt->head);
	route_free(rt);
	if (q == QUEUED)
		return MHD_YES;	/* answered once the writer has committed */
	/* Over the rate limit nothing is recorded; a click still goes where
	 * it was signed to go, an image just is not served. */
	if (q == RATE_LIMITED && strcmp(route, "open") == 0)
		return respond_text(c, route, MHD_HTTP_TOO_MANY_REQUESTS, "slow down\n");
	return finish_tracking(c, r);
}




/* The value of the field name ("address", "notice") in a urlencoded form,
 * decoded, blanks trimmed; NULL when it is not there or empty. */
static char *
form_value(const struct mbuf *body, const char *name)
{
	const char *s = body->data ? body->data : "";
	size_t nl = strlen(name);

	while (s != NULL && *s) {
		const char *end = strchr(s, '&');
		size_t n = end ? (size_t)(end - s) : strlen(s);
		if (n > nl + 1 && strncmp(s, name, nl) == 0 && s[nl] == '=') {
			char *v = strndup(s + nl + 1, n - nl - 1);
			if (v == NULL)
				return NULL;
			for (char *p = v; *p; p++)
				if (*p == '+')
					*p = ' ';
			MHD_http_unescape(v);
			char *a = v;
			while (*a == ' ')
				a++;
			memmove(v, a, strlen(a) + 1);
			for (size_t k = strlen(v); k > 0 && v[k - 1] == ' '; k--)
				v[k - 1] = '\0';
			return v;
		}
		s = end ? end + 1 : NULL;
	}
	return NULL;
}

/* A form's write (an opt-out, a consent: what) that was not committed:
 * 503, and nothing promised. */
static enum MHD_Result
form_unavailable(struct MHD_Connection *c, const char *route, const char *what,
		 const char *msgid, const char *why)
{
	(store_unreachable() ? log_debug : log_warnx)("%s for message %s not recorded: %s",
						      what, msgid, why);
	health_note_write(false, why);
	reader_store_failed();
	return respond_text(c, route, MHD_HTTP_SERVICE_UNAVAILABLE,
			    "Your request could not be recorded; please try again later.\n");
}

/* The address typed into a form of a message with several recipients (the
 * opt-out's, the consent's: title): its keyed hash and 200, the address
 * wiped; or 400 (none typed: the page says so, with a way back to url) or
 * 429 (too many tried for this message or from this network), with the
 * page in b. */
static unsigned
typed_address(struct MHD_Connection *c, const struct req *r, const char *msgid,
	      const char *title, const char *url, unsigned char hash[STORE_HASH_LEN],
	      struct mbuf *b)
{
	char *address = form_value(&r->body, "address");

	if (address == NULL || *address == '\0' || strchr(address, '@') == NULL) {
		free(address);
		page_address_needed(b, title, url);
		return MHD_HTTP_BAD_REQUEST;
	}
	struct sockaddr_storage client;
	char network[64];
	client_network(c, &client, network, sizeof(network));
	if (!limit_optout_attempt(msgid, network, now_ms())) {
		free(address);
		page_optout_too_many(b);
		return MHD_HTTP_TOO_MANY_REQUESTS;
	}
	store_recipient_hash(&bc.hash_key, address, hash);
	sodium_memzero(address, strlen(address));
	free(address);
	return MHD_HTTP_OK;
}

static enum MHD_Result
optout_unavailable(struct MHD_Connection *c, struct store *st, const char *msgid)
{
	return form_unavailable(c, "optout", "opt-out", msgid, store_errmsg(st));
}

/* t is the opt-out token http_route verified. The answer to a typed
 * address never tells whether it received the message: the same status,
 * page and (one committed write either way) timing; only a recipient's
 * address is recorded, and typed attempts are limited per message and per
 * client network. */
static enum MHD_Result
route_optout(struct MHD_Connection *c, struct req *r, const char *url, const struct token *t,
	     bool post)
{
	unsigned char only[1][STORE_HASH_LEN], hash[STORE_HASH_LEN];
	size_t total = 0;

	struct store *st = reader_store();
	if (st == NULL || store_message_recipients(st, t->msgid, only, 1, &total) < 0) {
		if (st != NULL)
			reader_store_failed();
		return respond_text(c, "optout", MHD_HTTP_SERVICE_UNAVAILABLE,
				    "The service is briefly unavailable; please try again later.\n");
	}
	long long now = (long long)time(NULL);
	struct mbuf b;
	mbuf_init(&b);
	/* Purged: the recipients cannot be told apart any more, so nothing
	 * typed is trusted, for GET and POST alike. This depends on the
	 * signed message id and send time only. */
	if (total == 0 && t->sent < now - (long long)bc.cfg.retention_days * 86400) {
		page_optout_expired(&b, &bc.cfg);
		return respond_html(c, "optout", MHD_HTTP_OK, &b);
	}
	if (!post) {
		page_optout(&b, &bc.cfg, url, total);	/* a GET changes nothing */
		return respond_html(c, "optout", MHD_HTTP_OK, &b);
	}
	if (total == 1) {
		/* The only recipient: nothing typed is needed, or used. */
		if (store_optout_record(st, only[0], now, t->msgid) < 0)
			return optout_unavailable(c, st, t->msgid);
		health_note_write(true, NULL);
		log_info("opt-out recorded for message %s", t->msgid);
		page_optout_done(&b);
		return respond_html(c, "optout", MHD_HTTP_OK, &b);
	}
	unsigned status = typed_address(c, r, t->msgid, "Stop tracking", url, hash, &b);
	if (status != MHD_HTTP_OK)
		return respond_html(c, "optout", status, &b);
	/* A beacon whose store never saw the message (it runs on another
	 * host) takes the address as typed. */
	int known = total == 0 ? 1 : store_message_has_recipient(st, t->msgid, hash);
	if (known < 0)
		return optout_unavailable(c, st, t->msgid);
	/* A stranger's address costs the same committed write as a
	 * recipient's, and writes nothing. */
	if ((known ? store_optout_record(st, hash, now, t->msgid) : store_write_probe(st)) < 0)
		return optout_unavailable(c, st, t->msgid);
	health_note_write(true, NULL);
	log_info("opt-out form of message %s answered", t->msgid);
	page_optout_received(&b);
	return respond_html(c, "optout", MHD_HTTP_OK, &b);
}

/* The notice version: the first 128 bits of BLAKE2b over the notice as
 * the page shows it, in hex. */
static void
notice_version(const struct mbuf *notice, char out[2 * 16 + 1])
{
	unsigned char h[16];

	crypto_generichash(h, sizeof(h), (const unsigned char *)(notice->data ? notice->data : ""),
			   notice->len, NULL, 0);
	sodium_bin2hex(out, 2 * 16 + 1, h, sizeof(h));
}

/* t is the consent token http_route verified (consent=optin's ask footer).
 * A GET shows the notice and records nothing; a POST records the consent
 * with its proof (time, message, notice version) when the form carries the
 * version of the notice as it stands now. Typed addresses are answered as
 * on the opt-out form: one answer and one committed write either way, and
 * only a recipient the message asked is recorded. A recipient who stopped
 * tracking is never recorded here. */
static enum MHD_Result
route_consent(struct MHD_Connection *c, struct req *r, const char *url, const struct token *t,
	      bool post)
{
	struct store_consent_ask ask;
	unsigned char hash[STORE_HASH_LEN];
	char err[512], version[2 * 16 + 1];
	struct store *st = reader_store();
	int found = st != NULL ? store_consent_ask_find(st, t->msgid, &ask, err, sizeof(err)) : -1;

	if (found < 0) {
		if (st != NULL)
			reader_store_failed();
		return respond_text(c, "consent", MHD_HTTP_SERVICE_UNAVAILABLE,
				    "The service is briefly unavailable; please try again later.\n");
	}
	struct mbuf b, notice;
	mbuf_init(&b);
	if (found == 0) {
		page_consent_unknown(&b);
		return respond_html(c, "consent", MHD_HTTP_OK, &b);
	}
	mbuf_init(&notice);
	page_consent_notice(&notice, &bc.cfg, ask.sender, ask.tracked);
	notice_version(&notice, version);
	char *seen = post ? form_value(&r->body, "notice") : NULL;
	if (!post || seen == NULL || strcmp(seen, version) != 0) {
		/* A GET changes nothing; a form of another notice neither. */
		page_consent(&b, notice.data ? notice.data : "", version, url, ask.total, post);
		free(seen);
		mbuf_free(&notice);
		store_consent_ask_free(&ask);
		return respond_html(c, "consent", MHD_HTTP_OK, &b);
	}
	free(seen);
	mbuf_free(&notice);
	long long now = (long long)time(NULL);
	int rc;
	if (ask.total == 1) {
		/* The only recipient: nothing typed is needed, or used. */
		rc = store_consent_add(st, ask.first, ask.sender, now, t->msgid, NULL, version, err,
				       sizeof(err));
		int out = rc == 1 ? store_optout_exists(st, ask.first) : 0;
		if (rc < 0 || out < 0) {
			store_consent_ask_free(&ask);
			return form_unavailable(c, "consent", "consent", t->msgid,
						rc < 0 ? err : store_errmsg(st));
		}
		health_note_write(true, NULL);
		log_info("consent %s for message %s", rc == 0 ? "recorded" : "not recorded again",
			 t->msgid);
		if (out > 0)
			page_consent_stopped(&b);
		else
			page_consent_done(&b, ask.sender);
		store_consent_ask_free(&ask);
		return respond_html(c, "consent", MHD_HTTP_OK, &b);
	}
	unsigned status = typed_address(c, r, t->msgid, "Allow read tracking?", url, hash, &b);
	if (status != MHD_HTTP_OK) {
		store_consent_ask_free(&ask);
		return respond_html(c, "consent", status, &b);
	}
	int known = store_consent_ask_has(st, t->msgid, hash, err, sizeof(err));
	/* A stranger's address costs the same committed write and writes
	 * nothing. */
	rc = known < 0 ? -1 : known ? store_consent_add(st, hash, ask.sender, now, t->msgid, NULL,
							 version, err, sizeof(err))
	    : store_write_probe(st);
	if (rc < 0 && !known)
		snprintf(err, sizeof(err), "%s", store_errmsg(st));
	store_consent_ask_free(&ask);
	if (rc < 0)
		return form_unavailable(c, "consent", "consent", t->msgid, err);
	health_note_write(true, NULL);
	log_info("consent form of message %s answered", t->msgid);
	page_consent_received(&b);
	return respond_html(c, "consent", MHD_HTTP_OK, &b);
}

static enum MHD_Result
route_privacy(struct MHD_Connection *c)
{
	struct mbuf b;

	mbuf_init(&b);
	page_privacy(&b, &bc.cfg);
	return respond_html(c, "privacy", MHD_HTTP_OK, &b);
}

static int
api_line(void *arg, long long cursor, const struct store_event *e)
{
	return eventline_encode(arg, cursor, e);
}

static int
api_consent_line(void *arg, const struct store_consent_item *it)
{
	return consentline_encode(arg, it);
}

/* GET /api/v1/events?after=CURSOR (the events after an event's cursor) or,
 * with consents, GET /api/v1/consents?since=TIME (consent=optin's consents
 * and asks recorded at or after a time): a page of lines for mailbeacon
 * sync, behind the same bearer token. */
static enum MHD_Result
route_api(struct MHD_Connection *c, bool consents)
{
	const char *auth = header(c, MHD_HTTP_HEADER_AUTHORIZATION);
	const char *after = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND,
							consents ? "since" : "after");

	if (bc.api_token == NULL)
		return not_found(c, "api");
	size_t tl = strlen(bc.api_token);
	if (auth == NULL || strncmp(auth, "Bearer ", 7) != 0 || strlen(auth + 7) != tl ||
	    sodium_memcmp(auth + 7, bc.api_token, tl) != 0)
		return respond_text(c, "api", MHD_HTTP_UNAUTHORIZED, "a bearer token is needed\n");
	char *end;
	long long cursor = after ? strtoll(after, &end, 10) : 0;
	if (after != NULL && (*after == '\0' || *end != '\0' || cursor < 0))
		return respond_text(c, "api", MHD_HTTP_BAD_REQUEST, consents ?
				    "since= takes a time\n" : "after= takes a cursor\n");
	struct store *st = reader_store();
	struct mbuf b;
	mbuf_init(&b);
	mbuf_puts(&b, "");
	char err[256];
	if (st == NULL || (consents ? store_consent_feed(st, cursor, API_LIMIT, api_consent_line,
							 &b, err, sizeof(err))
			   : store_events_after(st, cursor, API_LIMIT, api_line, &b)) < 0) {
		if (st != NULL)
			reader_store_failed();
		mbuf_free(&b);
		return respond_text(c, "api", MHD_HTTP_SERVICE_UNAVAILABLE, "database unavailable\n");
	}
	size_t len;
	char *text = mbuf_steal(&b, &len);
	return respond(c, "api", MHD_HTTP_OK, "application/x-ndjson", text, len, MHD_RESPMEM_MUST_FREE);
}

enum MHD_Result
http_handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
	    const char *version, const char *upload_data, size_t *upload_size, void **con_cls)
{
	struct req *r = *con_cls;
	bool post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;

	(void)cls;
	(void)version;
	if (r == NULL) {
		/* Answering on the first call makes libmicrohttpd close the
		 * connection: the answer comes on the next call, keep-alive
		 * stays. */
		if ((r = calloc(1, sizeof(*r))) == NULL)
			return MHD_NO;
		mbuf_init(&r->body);
		*con_cls = r;
		return MHD_YES;
	}
	if (r->state == REQ_WAITING) {
		/* Resumed by the writer: the event is committed (or lost). */
		r->state = REQ_COMMITTED;
		return finish_tracking(c, r);
	}
	if (post && *upload_size > 0) {
		if (r->body.len + *upload_size > POST_MAX)
			return respond_text(c, "optout", MHD_HTTP_CONTENT_TOO_LARGE, "too large\n");
		mbuf_append(&r->body, upload_data, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	struct route rt;
	enum MHD_Result ret;
	/* The keys may be swapped on SIGHUP while another thread routes. */
	pthread_rwlock_rdlock(&bc.keys_lock);
	http_route(bc.keys, method, url, &rt);
	pthread_rwlock_unlock(&bc.keys_lock);
	switch (rt.id) {
	case ROUTE_URL_TOO_LONG:
		return respond_text(c, "other", MHD_HTTP_URI_TOO_LONG, "too long\n");
	case ROUTE_FORGED:
		metrics_forgery();
		return not_found(c, rt.name);
	case ROUTE_OPEN:
	case ROUTE_CLICK:
		return route_tracking(c, r, &rt);
	case ROUTE_OPTOUT:
		ret = route_optout(c, r, url, &rt.token, rt.post);
		route_free(&rt);
		return ret;
	case ROUTE_CONSENT:
		ret = route_consent(c, r, url, &rt.token, rt.post);
		route_free(&rt);
		return ret;
	case ROUTE_PRIVACY:
		return route_privacy(c);
	case ROUTE_HEALTHZ: {
		char why[512];
		if (health_ok(why, sizeof(why)))
			return respond_text(c, "healthz", MHD_HTTP_OK, "ok\n");
		strncat(why, "\n", sizeof(why) - strlen(why) - 1);
		return respond_text(c, "healthz", MHD_HTTP_SERVICE_UNAVAILABLE, why);
	}
	case ROUTE_METRICS: {
		size_t len;
		char *text = metrics_render(&len);
		return respond(c, "metrics", MHD_HTTP_OK, "text/plain; version=0.0.4", text, len,
			       MHD_RESPMEM_MUST_FREE);
	}
	case ROUTE_API:
		return route_api(c, false);
	case ROUTE_API_CONSENTS:
		return route_api(c, true);
	case ROUTE_METHOD_NOT_ALLOWED:
		return respond_text(c, "other", MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
	case ROUTE_NOT_FOUND:
		break;
	}
	return not_found(c, "other");
}

/* No percent-decoding: no route needs it, and a decoded %00 would cut the
 * path short ("/o/TOKEN.gif%00junk" must not pass for "/o/TOKEN.gif").
 * A '%' left in place makes a token invalid. The API's after= is digits. */
size_t
http_unescape(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	return strlen(s);
}

void
http_completed(void *cls, struct MHD_Connection *c, void **con_cls,
	       enum MHD_RequestTerminationCode toe)
{
	struct req *r = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (r == NULL)
		return;
	mbuf_free(&r->body);
	free(r->location);
	free(r);
	*con_cls = NULL;
}
