/* store/eventline: encoder and decoder of the events API's lines (see
 * eventline.h), the decoder strict because its input comes from another
 * host. */
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "eventline.h"
#include "textenc.h"

/* json_object_set_new that keeps going after a failure: ok turns false. */
static void
put(json_t *o, const char *key, json_t *v, bool *ok)
{
	if (v == NULL || json_object_set_new(o, key, v) != 0)
		*ok = false;
}

static json_t *
string_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

/* Appends object o (when ok) as one compact line to b, and frees o; 0, or
 * -1 when out of memory or a string is not valid UTF-8. */
static int
put_line(struct mbuf *b, json_t *o, bool ok)
{
	char *text = ok ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(o);
	if (text == NULL)
		return -1;
	int rc = mbuf_puts(b, text) < 0 || mbuf_putc(b, '\n') < 0 ? -1 : 0;
	free(text);
	return rc;
}

int
eventline_encode(struct mbuf *b, long long cursor, const struct store_event *e)
{
	json_t *o = json_object();
	bool ok = o != NULL;

	/* jansson keeps insertion order: the keys come out as listed. */
	put(o, "cursor", json_integer(cursor), &ok);
	put(o, "message", string_or_null(e->message_id), &ok);
	put(o, "kind", string_or_null(e->kind), &ok);
	put(o, "link", e->link > 0 ? json_integer(e->link) : json_null(), &ok);
	put(o, "time", json_integer(e->time), &ok);
	put(o, "ip", string_or_null(e->ip_masked), &ok);
	put(o, "client", string_or_null(e->client_class), &ok);
	put(o, "verdict", string_or_null(e->verdict), &ok);
	put(o, "dnt", json_boolean(e->dnt), &ok);
	/* Only when recorded (geoip_database): a line without them reads as
	 * before, on hosts old and new. */
	if (e->country != NULL)
		put(o, "country", json_string(e->country), &ok);
	if (e->city != NULL)
		put(o, "city", json_string(e->city), &ok);
	if (e->recipient_hash != NULL) {
		char hex[STORE_HASH_LEN * 2 + 1];
		sodium_bin2hex(hex, sizeof(hex), e->recipient_hash, STORE_HASH_LEN);
		put(o, "recipient_hash", json_string(hex), &ok);
	}
	return put_line(b, o, ok);
}

/* A string of 1..max characters, each a letter, digit or one of extra,
 * copied into out (max + 1 bytes). */
static bool
word(const json_t *v, size_t max, const char *extra, char *out)
{
	if (!json_is_string(v))
		return false;
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      (c != '\0' && strchr(extra, c) != NULL)))
			return false;
	}
	memcpy(out, s, n + 1);
	return true;
}

/* A word or null (absent counts as null): *set tells which. */
static bool
word_or_null(const json_t *v, size_t max, const char *extra, char *out, bool *set)
{
	*set = false;
	if (v == NULL || json_is_null(v))
		return true;
	return *set = word(v, max, extra, out);
}

static int
event_fields(json_t *o, void *out, const char **why)
{
	struct eventline *l = out;
	struct store_event *e = &l->ev;
	json_t *v;
	bool set;

	v = json_object_get(o, "cursor");
	if (!json_is_integer(v) || json_integer_value(v) < 1) {
		*why = "\"cursor\" is missing or not a cursor";
		return -1;
	}
	l->cursor = json_integer_value(v);
	if (!word(json_object_get(o, "message"), EVENTLINE_ID_MAX, "_-", l->message)) {
		*why = "\"message\" is missing or not a message id";
		return -1;
	}
	e->message_id = l->message;
	v = json_object_get(o, "kind");
	const char *kind = json_string_value(v);	/* NULL unless a string */
	if (kind == NULL || (strcmp(kind, "open") != 0 && strcmp(kind, "click") != 0 &&
			     strcmp(kind, "optout") != 0) || strlen(kind) != json_string_length(v)) {
		*why = "\"kind\" is not open, click or optout";
		return -1;
	}
	strcpy(l->kind, kind);
	e->kind = l->kind;
	v = json_object_get(o, "link");
	if (strcmp(e->kind, "click") == 0) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > INT_MAX) {
			*why = "\"link\" of a click is not a link number";
			return -1;
		}
		e->link = (unsigned)json_integer_value(v);
	} else if (v != NULL && !json_is_null(v)) {
		*why = "\"link\" of an open or opt-out is not null";
		return -1;
	}
	v = json_object_get(o, "time");
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		*why = "\"time\" is missing or not a time";
		return -1;
	}
	e->time = json_integer_value(v);
	if (!word_or_null(json_object_get(o, "ip"), EVENTLINE_ID_MAX, ".:/_-", l->ip, &set)) {
		*why = "\"ip\" is not a masked network or null";
		return -1;
	}
	e->ip_masked = set ? l->ip : NULL;
	if (!word_or_null(json_object_get(o, "client"), EVENTLINE_WORD_MAX, "._-", l->client,
			  &set)) {
		*why = "\"client\" is not a client class or null";
		return -1;
	}
	e->client_class = set ? l->client : NULL;
	if (!word(json_object_get(o, "verdict"), EVENTLINE_WORD_MAX, "._-", l->verdict)) {
		*why = "\"verdict\" is missing or not a verdict";
		return -1;
	}
	e->verdict = l->verdict;
	v = json_object_get(o, "dnt");
	if (!json_is_boolean(v)) {
		*why = "\"dnt\" is missing or not true/false";
		return -1;
	}
	e->dnt = json_is_true(v);
	v = json_object_get(o, "country");
	if (v != NULL && !json_is_null(v)) {
		const char *c = json_string_value(v);
		if (c == NULL || json_string_length(v) != 2 || c[0] < 'A' || c[0] > 'Z' ||
		    c[1] < 'A' || c[1] > 'Z') {
			*why = "\"country\" is not an ISO country code or null";
			return -1;
		}
		memcpy(l->country, c, 3);
		e->country = l->country;
	}
	v = json_object_get(o, "city");
	if (v != NULL && !json_is_null(v)) {
		size_t n = json_string_length(v);
		if (!json_is_string(v) || e->country == NULL || n == 0 || n > STORE_CITY_MAX ||
		    !text_utf8_printable(json_string_value(v), n)) {
			*why = "\"city\" is not a city name (with a country) or null";
			return -1;
		}
		memcpy(l->city, json_string_value(v), n + 1);
		e->city = l->city;
	}
	v = json_object_get(o, "recipient_hash");
	if (v != NULL && !json_is_null(v)) {
		size_t bin_len = 0;
		if (!json_is_string(v) || json_string_length(v) != STORE_HASH_LEN * 2 ||
		    sodium_hex2bin(l->hash, STORE_HASH_LEN, json_string_value(v),
				   STORE_HASH_LEN * 2, NULL, &bin_len, NULL) != 0 ||
		    bin_len != STORE_HASH_LEN) {
			*why = "\"recipient_hash\" is not 64 hex digits";
			return -1;
		}
		e->recipient_hash = l->hash;
	}
	return 0;
}

/* Parses a line into a flat JSON object (*o, NULL on failure with the
 * reason in why); 0 or -1. */
static int
load_line(const char *line, size_t len, json_t **o, char *why, size_t whylen)
{
	const char *reason = NULL;
	json_error_t jerr;

	*o = NULL;
	if (memchr(line, '\0', len) != NULL) {
		reason = "NUL byte";
		goto out;
	}
	/* jansson rejects invalid UTF-8, \u0000, lone surrogates, integers
	 * beyond long long and text after the value; duplicate keys too with
	 * this flag. */
	*o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (*o == NULL) {
		snprintf(why, whylen, "%s", jerr.text);
		return -1;
	}
	if (!json_is_object(*o)) {
		reason = "not a JSON object";
		goto out;
	}
	if (json_object_size(*o) > EVENTLINE_FIELDS_MAX) {
		reason = "too many fields";
		goto out;
	}
	const char *key;
	json_t *v;
	json_object_foreach(*o, key, v) {
		if (json_is_object(v) || json_is_array(v)) {
			reason = "nested object or array";
			goto out;
		}
	}
out:
	if (reason == NULL)
		return 0;
	json_decref(*o);
	*o = NULL;
	snprintf(why, whylen, "%s", reason);
	return -1;
}

/* Decodes a line with read_fields (the event's fields or a consent's);
 * 0, or -1 with the reason in why. */
static int
decode(const char *line, size_t len, int (*read_fields)(json_t *o, void *out, const char **why),
       void *out, char *why, size_t whylen)
{
	const char *reason = NULL;
	json_t *o;

	if (load_line(line, len, &o, why, whylen) < 0)
		return -1;
	(void)read_fields(o, out, &reason);
	json_decref(o);
	if (reason == NULL)
		return 0;
	snprintf(why, whylen, "%s", reason);
	return -1;
}

int
eventline_decode(const char *line, size_t len, struct eventline *out, char *why,
		 size_t whylen)
{
	memset(out, 0, sizeof(*out));
	return decode(line, len, event_fields, out, why, whylen);
}

int
consentline_encode(struct mbuf *b, const struct store_consent_item *it)
{
	json_t *o = json_object();
	bool ok = o != NULL, consent = strcmp(it->kind, "consent") == 0;
	char hex[STORE_HASH_LEN * 2 + 1];

	sodium_bin2hex(hex, sizeof(hex), it->recipient_hash, STORE_HASH_LEN);
	put(o, "kind", json_string(it->kind), &ok);
	put(o, "time", json_integer(it->time), &ok);
	put(o, "recipient_hash", json_string(hex), &ok);
	put(o, "sender", string_or_null(it->sender), &ok);
	put(o, "message", string_or_null(it->message_id), &ok);
	if (consent) {
		put(o, "source", string_or_null(it->source), &ok);
		put(o, "notice_version", string_or_null(it->notice_version), &ok);
	} else {
		put(o, "tracked", string_or_null(it->tracked), &ok);
	}
	return put_line(b, o, ok);
}

/* Printable UTF-8 text of 1..max bytes into out (max + 1 bytes). */
static bool
text(const json_t *v, size_t max, char *out)
{
	size_t n = json_string_length(v);

	if (!json_is_string(v) || n == 0 || n > max || !text_utf8_printable(json_string_value(v), n))
		return false;
	memcpy(out, json_string_value(v), n + 1);
	return true;
}

static int
consent_fields(json_t *o, void *out, const char **why)
{
	struct consentline *l = out;
	struct store_consent_item *it = &l->it;
	const char *kind = json_string_value(json_object_get(o, "kind"));
	json_t *v;
	bool set;

	if (kind == NULL || (strcmp(kind, "consent") != 0 && strcmp(kind, "ask") != 0)) {
		*why = "\"kind\" is not consent or ask";
		return -1;
	}
	strcpy(l->kind, kind);
	it->kind = l->kind;
	bool consent = strcmp(kind, "consent") == 0;
	v = json_object_get(o, "time");
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		*why = "\"time\" is missing or not a time";
		return -1;
	}
	it->time = json_integer_value(v);
	v = json_object_get(o, "recipient_hash");
	size_t bin_len = 0;
	if (!json_is_string(v) || json_string_length(v) != STORE_HASH_LEN * 2 ||
	    sodium_hex2bin(l->hash, STORE_HASH_LEN, json_string_value(v), STORE_HASH_LEN * 2,
			   NULL, &bin_len, NULL) != 0 || bin_len != STORE_HASH_LEN) {
		*why = "\"recipient_hash\" is not 64 hex digits";
		return -1;
	}
	it->recipient_hash = l->hash;
	if (!text(json_object_get(o, "sender"), CONSENTLINE_SENDER_MAX, l->sender) ||
	    strchr(l->sender, ' ') != NULL) {
		*why = "\"sender\" is missing or not an address";
		return -1;
	}
	it->sender = l->sender;
	if (!word_or_null(json_object_get(o, "message"), EVENTLINE_ID_MAX, "_-", l->message,
			  &set) || (!set && !consent)) {
		*why = "\"message\" is not a message id (or null for a consent)";
		return -1;
	}
	it->message_id = set ? l->message : NULL;
	v = json_object_get(o, consent ? "source" : "tracked");
	if (consent && (v == NULL || json_is_null(v))) {
		if (it->message_id == NULL) {
			*why = "a consent has neither \"message\" nor \"source\"";
			return -1;
		}
	} else if (!text(v, CONSENTLINE_TEXT_MAX, l->text)) {
		*why = consent ? "\"source\" is not text or null" : "\"tracked\" is missing or not text";
		return -1;
	} else if (consent) {
		it->source = l->text;
	} else {
		it->tracked = l->text;
	}
	if (consent) {
		if (!word(json_object_get(o, "notice_version"), EVENTLINE_ID_MAX, "", l->notice)) {
			*why = "\"notice_version\" is missing or not a version";
			return -1;
		}
		it->notice_version = l->notice;
	}
	return 0;
}

int
consentline_decode(const char *line, size_t len, struct consentline *out, char *why,
		   size_t whylen)
{
	memset(out, 0, sizeof(*out));
	return decode(line, len, consent_fields, out, why, whylen);
}
