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
 * Exit: 0 ok, 1 usage or configuration error, 2 runtime error. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <sodium.h>

#include "admin.h"
#include "conf.h"
#include "mbuf.h"
#include "secret.h"
#include "store.h"
#include "sync.h"

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
"honours.\n"
"\n"
"  --from URL         the beacon's base URL, e.g. https://t.example.com\n"
"                     (https:// with certificate verification; http:// only\n"
"                     to a loopback address: 127.0.0.0/8 or [::1])\n"
"  --token-file FILE  the bearer token, one line (default: api_token_file of\n"
"                     the configuration: the same token as the beacon's);\n"
"                     must not be readable by other users\n"
"\n"
"Prints \"N events, M opt-outs from URL (cursor A -> B)\".\n"
"Exit: 0 ok, 1 usage or configuration error, 2 runtime error (network, an\n"
"HTTP status other than 200, a malformed line: the lines before it are kept).\n");
}

/* ---- a strict parser for one line of the API ----
 *
 * Hand-written because no JSON library is among our dependencies, and the
 * format is one flat object of scalars per line (strings, integers, true,
 * false, null): RFC 8259 syntax for exactly that subset. Nested objects or
 * arrays, fractions where an integer is due, duplicate keys, invalid UTF-8,
 * \u0000, trailing text: all rejected. Strings are decoded in place (an
 * escape never decodes longer than it is written). */

enum jtype { J_NULL, J_BOOL, J_INT, J_NUM, J_STR };

struct jfield {
	const char *key;
	enum jtype t;
	const char *s;		/* J_STR: decoded, NUL-terminated */
	size_t slen;
	long long i;		/* J_INT; J_BOOL: 0 or 1 */
};

#define MAX_FIELDS 32

struct jobj {
	struct jfield f[MAX_FIELDS];
	int n;
};

static void
skip_ws(char **pp)
{
	char *p = *pp;

	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	*pp = p;
}

static int
hex4(const char *p, unsigned *out)
{
	unsigned v = 0;

	for (int i = 0; i < 4; i++) {
		char c = p[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

static char *
put_utf8(char *w, unsigned cp)
{
	if (cp < 0x80) {
		*w++ = (char)cp;
	} else if (cp < 0x800) {
		*w++ = (char)(0xc0 | (cp >> 6));
		*w++ = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		*w++ = (char)(0xe0 | (cp >> 12));
		*w++ = (char)(0x80 | ((cp >> 6) & 0x3f));
		*w++ = (char)(0x80 | (cp & 0x3f));
	} else {
		*w++ = (char)(0xf0 | (cp >> 18));
		*w++ = (char)(0x80 | ((cp >> 12) & 0x3f));
		*w++ = (char)(0x80 | ((cp >> 6) & 0x3f));
		*w++ = (char)(0x80 | (cp & 0x3f));
	}
	return w;
}

/* Length of the valid UTF-8 sequence at p (lead byte >= 0x80), or 0. */
static size_t
utf8_len(const unsigned char *p)
{
	unsigned c = p[0];

	if (c >= 0xc2 && c <= 0xdf)
		return (p[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		unsigned lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
		return p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80 ? 3 : 0;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		unsigned lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
		return p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80 &&
		    (p[3] & 0xc0) == 0x80 ? 4 : 0;
	}
	return 0;
}

/* *pp at the opening quote. */
static int
parse_string(char **pp, const char **out, size_t *outlen, const char **why)
{
	char *p = *pp + 1, *w = p, *start = p;

	for (;;) {
		unsigned char c = (unsigned char)*p;

		if (c == '"') {
			*w = '\0';
			*out = start;
			*outlen = (size_t)(w - start);
			*pp = p + 1;
			return 0;
		}
		if (c == '\0') {
			*why = "unterminated string";
			return -1;
		}
		if (c < 0x20) {
			*why = "control character in a string";
			return -1;
		}
		if (c >= 0x80) {
			size_t n = utf8_len((const unsigned char *)p);
			if (n == 0) {
				*why = "invalid UTF-8 in a string";
				return -1;
			}
			memmove(w, p, n);
			w += n;
			p += n;
			continue;
		}
		if (c != '\\') {
			*w++ = *p++;
			continue;
		}
		p++;
		switch (*p) {
		case '"': *w++ = '"'; p++; break;
		case '\\': *w++ = '\\'; p++; break;
		case '/': *w++ = '/'; p++; break;
		case 'b': *w++ = '\b'; p++; break;
		case 'f': *w++ = '\f'; p++; break;
		case 'n': *w++ = '\n'; p++; break;
		case 'r': *w++ = '\r'; p++; break;
		case 't': *w++ = '\t'; p++; break;
		case 'u': {
			unsigned cp, lo;

			if (hex4(p + 1, &cp) < 0) {
				*why = "bad \\u escape";
				return -1;
			}
			p += 5;
			if (cp >= 0xdc00 && cp <= 0xdfff) {
				*why = "lone low surrogate in a \\u escape";
				return -1;
			}
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (p[0] != '\\' || p[1] != 'u' || hex4(p + 2, &lo) < 0 ||
				    lo < 0xdc00 || lo > 0xdfff) {
					*why = "lone high surrogate in a \\u escape";
					return -1;
				}
				p += 6;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			}
			if (cp == 0) {
				*why = "\\u0000 in a string";
				return -1;
			}
			w = put_utf8(w, cp);
			break;
		}
		default:
			*why = "bad escape in a string";
			return -1;
		}
	}
}

static int
parse_number(char **pp, struct jfield *f, const char **why)
{
	char *p = *pp, *start = p;
	bool integer = true;

	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (*p >= '0' && *p <= '9')
			p++;
	else
		goto bad;
	if (*p == '.') {
		integer = false;
		p++;
		if (!(*p >= '0' && *p <= '9'))
			goto bad;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (*p == 'e' || *p == 'E') {
		integer = false;
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!(*p >= '0' && *p <= '9'))
			goto bad;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	f->t = J_NUM;
	if (integer) {
		char save = *p;

		*p = '\0';
		errno = 0;
		f->i = strtoll(start, NULL, 10);
		*p = save;
		if (errno == ERANGE) {
			*why = "integer out of range";
			return -1;
		}
		f->t = J_INT;
	}
	*pp = p;
	return 0;
bad:
	*why = "bad number";
	return -1;
}

/* Parses the NUL-terminated line (modifying it) into o. */
static int
parse_object(char *line, struct jobj *o, const char **why)
{
	char *p = line;

	o->n = 0;
	skip_ws(&p);
	if (*p != '{') {
		*why = "not a JSON object";
		return -1;
	}
	p++;
	skip_ws(&p);
	if (*p == '}') {
		p++;
		goto end;
	}
	for (;;) {
		struct jfield *f;
		size_t klen;

		if (o->n == MAX_FIELDS) {
			*why = "too many fields";
			return -1;
		}
		f = &o->f[o->n];
		memset(f, 0, sizeof(*f));
		if (*p != '"') {
			*why = "expected a key";
			return -1;
		}
		if (parse_string(&p, &f->key, &klen, why) < 0)
			return -1;
		for (int i = 0; i < o->n; i++)
			if (strcmp(o->f[i].key, f->key) == 0) {
				*why = "duplicate key";
				return -1;
			}
		skip_ws(&p);
		if (*p != ':') {
			*why = "expected ':'";
			return -1;
		}
		p++;
		skip_ws(&p);
		if (*p == '"') {
			f->t = J_STR;
			if (parse_string(&p, &f->s, &f->slen, why) < 0)
				return -1;
		} else if (strncmp(p, "true", 4) == 0) {
			f->t = J_BOOL;
			f->i = 1;
			p += 4;
		} else if (strncmp(p, "false", 5) == 0) {
			f->t = J_BOOL;
			p += 5;
		} else if (strncmp(p, "null", 4) == 0) {
			f->t = J_NULL;
			p += 4;
		} else if (*p == '{' || *p == '[') {
			*why = "nested object or array";
			return -1;
		} else if (parse_number(&p, f, why) < 0) {
			return -1;
		}
		o->n++;
		skip_ws(&p);
		if (*p == '}') {
			p++;
			break;
		}
		if (*p != ',') {
			*why = "expected ',' or '}'";
			return -1;
		}
		p++;
		skip_ws(&p);
	}
end:
	skip_ws(&p);
	if (*p != '\0') {
		*why = "text after the object";
		return -1;
	}
	return 0;
}

static const struct jfield *
field(const struct jobj *o, const char *key)
{
	for (int i = 0; i < o->n; i++)
		if (strcmp(o->f[i].key, key) == 0)
			return &o->f[i];
	return NULL;
}

/* A string of 1..max characters, each a letter, digit or one of extra. */
static bool
word_ok(const struct jfield *f, size_t max, const char *extra)
{
	if (f == NULL || f->t != J_STR || f->slen == 0 || f->slen > max)
		return false;
	for (size_t i = 0; i < f->slen; i++) {
		unsigned char c = (unsigned char)f->s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr(extra, c) != NULL))
			return false;
	}
	return true;
}

/* One line into an event; hash receives the recipient hash when there is
 * one. Unknown keys are ignored, so a newer beacon may add fields; every
 * known one must have its type and form. */
static int
line_event(const struct jobj *o, long long after, long long *cursor, struct store_event *e,
	   unsigned char hash[STORE_HASH_LEN], const char **why)
{
	const struct jfield *f;

	memset(e, 0, sizeof(*e));
	f = field(o, "cursor");
	if (f == NULL || f->t != J_INT) {
		*why = "\"cursor\" is missing or not an integer";
		return -1;
	}
	if (f->i <= after) {
		*why = "\"cursor\" does not increase";
		return -1;
	}
	*cursor = f->i;
	f = field(o, "message");
	if (!word_ok(f, 64, "_-")) {
		*why = "\"message\" is missing or not a message id";
		return -1;
	}
	e->message_id = f->s;
	f = field(o, "kind");
	if (f == NULL || f->t != J_STR || (strcmp(f->s, "open") != 0 &&
	    strcmp(f->s, "click") != 0 && strcmp(f->s, "optout") != 0)) {
		*why = "\"kind\" is not open, click or optout";
		return -1;
	}
	e->kind = f->s;
	f = field(o, "link");
	if (strcmp(e->kind, "click") == 0) {
		if (f == NULL || f->t != J_INT || f->i < 1 || f->i > INT_MAX) {
			*why = "\"link\" of a click is not a link number";
			return -1;
		}
		e->link = (unsigned)f->i;
	} else if (f != NULL && f->t != J_NULL) {
		*why = "\"link\" of an open or opt-out is not null";
		return -1;
	}
	f = field(o, "time");
	if (f == NULL || f->t != J_INT || f->i < 0) {
		*why = "\"time\" is missing or not a time";
		return -1;
	}
	e->time = f->i;
	f = field(o, "ip");
	if (f != NULL && f->t != J_NULL && !word_ok(f, 64, ".:/_-")) {
		*why = "\"ip\" is not a masked network or null";
		return -1;
	}
	e->ip_masked = f != NULL && f->t == J_STR ? f->s : NULL;
	f = field(o, "client");
	if (f != NULL && f->t != J_NULL && !word_ok(f, 32, "._-")) {
		*why = "\"client\" is not a client class or null";
		return -1;
	}
	e->client_class = f != NULL && f->t == J_STR ? f->s : NULL;
	f = field(o, "verdict");
	if (!word_ok(f, 32, "._-")) {
		*why = "\"verdict\" is missing or not a verdict";
		return -1;
	}
	e->verdict = f->s;
	f = field(o, "dnt");
	if (f == NULL || f->t != J_BOOL) {
		*why = "\"dnt\" is missing or not true/false";
		return -1;
	}
	e->dnt = f->i != 0;
	f = field(o, "recipient_hash");
	if (f != NULL && f->t != J_NULL) {
		size_t bin_len = 0;

		if (f->t != J_STR || f->slen != STORE_HASH_LEN * 2 ||
		    sodium_hex2bin(hash, STORE_HASH_LEN, f->s, f->slen, NULL, &bin_len,
				   NULL) != 0 || bin_len != STORE_HASH_LEN) {
			*why = "\"recipient_hash\" is not 64 hex digits";
			return -1;
		}
		e->recipient_hash = hash;
	}
	return 0;
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

/* Is host (as libcurl gives it: IPv6 in brackets) a loopback literal? */
static bool
loopback_literal(const char *host)
{
	unsigned char a[16];
	char buf[64];
	size_t n = strlen(host);

	if (inet_pton(AF_INET, host, a) == 1)
		return a[0] == 127;
	if (n >= 2 && n < sizeof(buf) + 2 && host[0] == '[' && host[n - 1] == ']') {
		memcpy(buf, host + 1, n - 2);
		buf[n - 2] = '\0';
		static const unsigned char one[16] = { [15] = 1 };
		return inet_pton(AF_INET6, buf, a) == 1 && memcmp(a, one, 16) == 0;
	}
	return false;
}

/* Checks the base URL; *https tells the scheme. 0, or -1 with a message. */
static int
check_base(const char *url, bool *https, char *err, size_t errlen)
{
	CURLU *u;
	char *scheme = NULL, *host = NULL;
	int rc = -1;

	if (config_check_url(url, 1) < 0) {
		snprintf(err, errlen, "--from %s: not an http:// or https:// URL (no user name, "
			 "query or fragment)", url);
		return -1;
	}
	if ((u = curl_url()) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		snprintf(err, errlen, "--from %s: not a URL libcurl accepts", url);
		goto out;
	}
	*https = strcmp(scheme, "https") == 0;
	if (!*https && !loopback_literal(host)) {
		snprintf(err, errlen, "--from %s: refusing plain http:// to %s: the token and "
			 "the events would cross the network unencrypted; use https:// "
			 "(http:// is allowed only to a loopback address, 127.0.0.0/8 or [::1])",
			 url, host);
		goto out;
	}
	rc = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return rc;
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
};

/* GETs the page after s->cursor into pg. 0, or -1 with a message. */
static int
fetch(struct syncer *s, struct page *pg, char *err, size_t errlen)
{
	char url[4096];
	long status = 0;
	char *ctype = NULL;
	CURLcode rc;

	if ((size_t)snprintf(url, sizeof(url), "%s/api/v1/events?after=%lld", s->base,
			     s->cursor) >= sizeof(url)) {
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
	unsigned char (*hashes)[STORE_HASH_LEN] = NULL;
	struct jobj *o = NULL;
	long long last = s->cursor;
	int rc = -1;

	*bad = false;
	*lines = 0;
	if (pg->body.len == 0 || p == NULL)
		return 0;	/* nothing new */
	end = p + pg->body.len;
	for (char *q = p; q < end; q++)
		if (*q == '\n')
			n_lines++;
	if (pg->body.len > 0 && end[-1] != '\n')
		n_lines++;	/* a cut-off last line: reported below */
	*lines = n_lines;
	if (n_lines > 0 &&
	    ((ev = calloc(n_lines, sizeof(*ev))) == NULL ||
	     (hashes = calloc(n_lines, sizeof(*hashes))) == NULL ||
	     (o = malloc(sizeof(*o))) == NULL)) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (size_t k = 0; k < n_lines; k++) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *why = NULL;
		long long cur = last;

		if (nl == NULL)
			why = "the last line is cut off (no newline)";
		else if (memchr(p, '\0', (size_t)(nl - p)) != NULL)
			why = "NUL byte";
		else {
			*nl = '\0';
			if (parse_object(p, o, &why) == 0)
				(void)line_event(o, last, &cur, &ev[n], hashes[n], &why);
		}
		if (why != NULL) {
			snprintf(err, errlen, "%s/api/v1/events?after=%lld: line %zu: malformed: %s; "
				 "stopped after cursor %lld", s->base, s->cursor, k + 1, why, last);
			*bad = true;
			break;
		}
		last = cur;
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
	free(hashes);
	free(o);
	return rc;
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

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (c) {
		case 'f': from = optarg; break;
		case 't': token_file = optarg; break;
		case 'h': sync_usage(stdout); return 0;
		default:
			fprintf(stderr, "mailbeacon sync: bad option or missing value: %s\n",
				argv[optind - 1]);
			sync_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "mailbeacon sync: unexpected argument '%s'\n", argv[optind]);
		return EXIT_USAGE;
	}
	if (from == NULL) {
		fprintf(stderr, "mailbeacon sync: --from URL is required\n");
		sync_usage(stderr);
		return EXIT_USAGE;
	}
	if (token_file == NULL)
		token_file = env->cfg->api_token_file;
	if (token_file == NULL) {
		fprintf(stderr, "mailbeacon sync: no token: give --token-file FILE or set "
			"api_token_file in %s\n", env->config_path);
		return EXIT_USAGE;
	}
	if ((base = strdup(from)) == NULL) {
		fprintf(stderr, "mailbeacon sync: out of memory\n");
		return EXIT_RUNTIME;
	}
	for (size_t n = strlen(base); n > 0 && base[n - 1] == '/'; n--)
		base[n - 1] = '\0';
	s.base = base;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "mailbeacon sync: cannot start libcurl\n");
		free(base);
		return EXIT_RUNTIME;
	}
	mbuf_init(&pg.body);
	if (check_base(base, &s.https, err, sizeof(err)) < 0 ||
	    load_token(token_file, &token, err, sizeof(err)) < 0) {
		fprintf(stderr, "mailbeacon sync: %s\n", err);
		rc = EXIT_USAGE;
		goto out;
	}
	if (setup_curl(&s, token, err, sizeof(err)) < 0) {
		fprintf(stderr, "mailbeacon sync: %s\n", err);
		goto out;
	}
	if (store_open(env->cfg->database, true, 5000, &s.st, err, sizeof(err)) < 0 ||
	    store_sync_cursor(s.st, s.base, &s.cursor, err, sizeof(err)) < 0) {
		fprintf(stderr, "mailbeacon sync: %s\n", err);
		goto out;
	}
	start = s.cursor;
	for (;;) {
		size_t lines;
		bool bad;

		if (fetch(&s, &pg, err, sizeof(err)) < 0 ||
		    store_page(&s, &pg, &lines, &bad, err, sizeof(err)) < 0 || bad) {
			printf("%zu events, %zu opt-outs from %s (cursor %lld -> %lld), "
			       "then stopped\n", s.events, s.optout_events, s.base, start, s.cursor);
			fprintf(stderr, "mailbeacon sync: %s\n", err);
			goto out;
		}
		if (lines < PAGE_LINES)
			break;
	}
	printf("%zu events, %zu opt-outs from %s (cursor %lld -> %lld)\n", s.events,
	       s.optout_events, s.base, start, s.cursor);
	rc = 0;
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
