/* token: signs and verifies the paths of pixel, click and opt-out URLs.
 * token_verify faces the internet, so it parses with exact lengths and
 * canonical encodings only and checks the tag before any field is used. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "b64url.h"
#include "textenc.h"
#include "token.h"

#define TOKEN_DOMAIN	"mailbeacon-v1"
#define TAG_LEN		22	/* base64url of TOKEN_TAG_BYTES */
#define SENT_DIGITS	12
#define SENT_MAX	999999999999LL
#define LINK_DIGITS	6
#define LINK_MAX	999999u
/* Unpadded base64url length of TOKEN_DEST_MAX bytes. */
#define DEST_B64_MAX	((TOKEN_DEST_MAX * 4 + 2) / 3)

/* The fields of a token as text, exactly as they appear in the path. */
struct token_fields {
	char kind;
	const char *msgid;
	const char *sent;
	size_t sentlen;
	const char *link;	/* "" for opens and opt-outs */
	size_t linklen;
	const char *kid;
	size_t kidlen;
	const unsigned char *dest;	/* decoded; NULL for o and u */
	size_t destlen;
};

/* The MAC's input gathered into one buffer, so that the short fields cost
 * one HMAC update, not one each. */
struct mac_input {
	crypto_auth_hmacsha256_state *st;
	unsigned char buf[128];
	size_t n;
};

static void
mac_put(struct mac_input *m, const void *data, size_t len)
{
	if (m->n + len > sizeof(m->buf)) {
		crypto_auth_hmacsha256_update(m->st, m->buf, m->n);
		m->n = 0;
		if (len > sizeof(m->buf)) {
			crypto_auth_hmacsha256_update(m->st, data, len);
			return;
		}
	}
	memcpy(m->buf + m->n, data, len);
	m->n += len;
}

/* The field followed by a NUL, which keeps the fields apart: none of them
 * can contain one. */
static void
mac_field(struct mac_input *m, const void *data, size_t len)
{
	static const unsigned char nul = 0;

	mac_put(m, data, len);
	mac_put(m, &nul, 1);
}

static void
token_mac(const struct key *k, const struct token_fields *f,
	  unsigned char tag[TOKEN_TAG_BYTES])
{
	crypto_auth_hmacsha256_state st;
	unsigned char full[crypto_auth_hmacsha256_BYTES];
	struct mac_input m = { .st = &st, .n = 0 };

	st = k->mac;	/* keyed once, by keyring_add */
	mac_field(&m, TOKEN_DOMAIN, sizeof(TOKEN_DOMAIN) - 1);
	mac_field(&m, &f->kind, 1);
	mac_field(&m, f->msgid, MSGID_LEN);
	mac_field(&m, f->sent, f->sentlen);
	mac_field(&m, f->link, f->linklen);
	mac_field(&m, f->kid, f->kidlen);
	if (f->destlen > 0)
		mac_put(&m, f->dest, f->destlen);
	crypto_auth_hmacsha256_update(&st, m.buf, m.n);
	crypto_auth_hmacsha256_final(&st, full);
	memcpy(tag, full, TOKEN_TAG_BYTES);
	sodium_memzero(full, sizeof(full));
	sodium_memzero(&m, sizeof(m));
	sodium_memzero(&st, sizeof(st));
}

int
msgid_generate(char out[MSGID_LEN + 1])
{
	unsigned char raw[MSGID_BYTES];
	struct mbuf b;

	if (sodium_init() < 0)
		return -1;
	randombytes_buf(raw, sizeof(raw));
	mbuf_init(&b);
	if (b64url_encode(raw, sizeof(raw), &b) == -1 || b.len != MSGID_LEN) {
		mbuf_free(&b);
		return -1;
	}
	memcpy(out, b.data, MSGID_LEN + 1);
	mbuf_free(&b);
	return 0;
}

static int is_b64url_char(unsigned char c);

/* What b64url_decode() accepts as 16 bytes, checked without decoding
 * (every token asks, each link of a message with the same id): 22
 * base64url characters carry 132 bits, and a canonical encoding leaves the
 * last 4 zero, so the last character is A, Q, g or w. */
static int
token_msgid_ok(const char *s, size_t len)
{
	if (len != MSGID_LEN)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!is_b64url_char((unsigned char)s[i]))
			return 0;
	return s[len - 1] == 'A' || s[len - 1] == 'Q' || s[len - 1] == 'g' || s[len - 1] == 'w';
}

/* Bytes that could split or forge a Location header line are refused. */
static int
token_dest_ok(const unsigned char *d, size_t len)
{
	size_t i;

	if (d == NULL || len < 1 || len > TOKEN_DEST_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if (d[i] < 0x20 || d[i] == 0x7f)
			return 0;
	return 1;
}

static int
token_kind_ok(int kind)
{
	return kind == TOKEN_OPEN || kind == TOKEN_CLICK || kind == TOKEN_OPTOUT ||
	    kind == TOKEN_CONSENT;
}

static int
token_check_fields(const struct keyring *kr, const struct token *t,
		   size_t destlen)
{
	if (kr == NULL || kr->n == 0 || !token_kind_ok(t->kind))
		return -1;
	if (strnlen(t->msgid, sizeof(t->msgid)) != MSGID_LEN ||
	    !token_msgid_ok(t->msgid, MSGID_LEN))
		return -1;
	if (t->sent <= 0 || t->sent > SENT_MAX)
		return -1;
	if (t->kind == TOKEN_CLICK && (t->link < 1 || t->link > LINK_MAX ||
	    !token_dest_ok((const unsigned char *)t->dest, destlen)))
		return -1;
	return 0;
}

/* Writes everything up to and including the tag; the caller adds the
 * kind's suffix. The fields are copied, not printed: this runs for every
 * link of every message. */
static int
token_write(const struct key *k, const struct token *t, size_t destlen,
	    struct mbuf *out)
{
	unsigned char tag[TOKEN_TAG_BYTES];
	struct token_fields f;
	char sent[24], link[16], head[2 + MSGID_LEN + 1 + 24 + 1 + 16 + 1 + KEY_ID_MAX + 1];
	size_t sentlen, linklen, kidlen = strlen(k->id), n = 0;

	/* token_check_fields: 0 < sent <= SENT_MAX, link <= LINK_MAX */
	sentlen = text_decimal(sent, (unsigned long long)t->sent);
	linklen = t->kind == TOKEN_CLICK ? text_decimal(link, t->link) : 0;
	memset(&f, 0, sizeof(f));
	f.kind = (char)t->kind;
	f.msgid = t->msgid;
	f.sent = sent;
	f.sentlen = sentlen;
	f.link = link;
	f.linklen = linklen;
	f.kid = k->id;
	f.kidlen = kidlen;
	if (t->kind == TOKEN_CLICK) {
		f.dest = (const unsigned char *)t->dest;
		f.destlen = destlen;
	}
	token_mac(k, &f, tag);
	/* kind/msgid.sent.[link.]kid. */
	head[n++] = (char)t->kind;
	head[n++] = '/';
	memcpy(head + n, t->msgid, MSGID_LEN);
	n += MSGID_LEN;
	head[n++] = '.';
	memcpy(head + n, sent, sentlen);
	n += sentlen;
	head[n++] = '.';
	if (t->kind == TOKEN_CLICK) {
		memcpy(head + n, link, linklen);
		n += linklen;
		head[n++] = '.';
	}
	memcpy(head + n, k->id, kidlen);
	n += kidlen;
	head[n++] = '.';
	mbuf_append(out, head, n);
	return b64url_encode_public(tag, sizeof(tag), out);
}

int
token_format(const struct keyring *kr, struct token *t, struct mbuf *out)
{
	size_t oldlen = out->len, destlen;
	const struct key *k;
	int rc;

	/* A caller may set dest alone; dest_len then comes from strlen. */
	destlen = t->dest_len;
	if (destlen == 0 && t->dest != NULL)
		destlen = strlen(t->dest);
	if (token_check_fields(kr, t, destlen) == -1 || out->failed)
		return -1;
	k = &kr->keys[0];
	rc = token_write(k, t, destlen, out);
	if (rc == 0 && t->kind == TOKEN_OPEN)
		rc = mbuf_puts(out, ".gif");
	if (rc == 0 && t->kind == TOKEN_CLICK)
		rc = mbuf_putc(out, '/') == 0 ?
		    b64url_encode_public(t->dest, destlen, out) : -1;
	if (rc != 0 || out->failed) {
		/* Leave no half-written path behind. */
		if (out->data != NULL && out->len >= oldlen) {
			out->len = oldlen;
			out->data[oldlen] = '\0';
		}
		return -1;
	}
	memcpy(t->kid, k->id, sizeof(t->kid));
	return 0;
}

/* --- verification ------------------------------------------------------ */

/* A cursor over the untrusted path; every step checks the bounds. */
struct cursor {
	const char *p;
	const char *end;
};

static int
cur_char(struct cursor *c, char ch)
{
	if (c->p >= c->end || *c->p != ch)
		return -1;
	c->p++;
	return 0;
}

static int
is_b64url_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* A run of base64url characters (kid uses the same alphabet). */
static size_t
cur_b64(struct cursor *c, size_t max, const char **start)
{
	size_t n = 0;

	*start = c->p;
	while (c->p < c->end && n <= max && is_b64url_char((unsigned char)*c->p)) {
		c->p++;
		n++;
	}
	return n;
}

/* Decimal without leading zero, 1..maxdigits digits. */
static int
cur_number(struct cursor *c, size_t maxdigits, const char **start,
	   size_t *len, unsigned long long *val)
{
	unsigned long long v = 0;
	size_t n = 0;

	*start = c->p;
	while (c->p < c->end && n <= maxdigits &&
	    *c->p >= '0' && *c->p <= '9') {
		v = v * 10 + (unsigned)(*c->p - '0');
		c->p++;
		n++;
	}
	if (n == 0 || n > maxdigits || **start == '0')
		return -1;
	*len = n;
	*val = v;
	return 0;
}

struct parsed {
	struct token_fields f;
	const char *tag;
	unsigned char tagbin[TOKEN_TAG_BYTES];
	long long sent;
	unsigned link;
	const char *dest_b64;
	size_t dest_b64len;
};

static int
token_parse_head(struct cursor *c, struct parsed *pp)
{
	unsigned long long v;
	const char *s;

	if (c->end - c->p < 2 || !token_kind_ok((unsigned char)c->p[0]) ||
	    c->p[1] != '/')
		return -1;
	pp->f.kind = c->p[0];
	c->p += 2;
	if (cur_b64(c, MSGID_LEN, &s) != MSGID_LEN || cur_char(c, '.') == -1 ||
	    !token_msgid_ok(s, MSGID_LEN))
		return -1;
	pp->f.msgid = s;
	if (cur_number(c, SENT_DIGITS, &pp->f.sent, &pp->f.sentlen, &v) == -1 ||
	    cur_char(c, '.') == -1)
		return -1;
	pp->sent = (long long)v;
	pp->f.link = "";
	if (pp->f.kind == TOKEN_CLICK) {
		if (cur_number(c, LINK_DIGITS, &pp->f.link, &pp->f.linklen,
		    &v) == -1 || cur_char(c, '.') == -1)
			return -1;
		pp->link = (unsigned)v;
	}
	pp->f.kidlen = cur_b64(c, KEY_ID_MAX, &pp->f.kid);
	if (pp->f.kidlen < 1 || pp->f.kidlen > KEY_ID_MAX ||
	    cur_char(c, '.') == -1)
		return -1;
	return 0;
}

static int
token_parse_tail(struct cursor *c, struct parsed *pp)
{
	if (cur_b64(c, TAG_LEN, &pp->tag) != TAG_LEN ||
	    b64url_decode(pp->tag, TAG_LEN, pp->tagbin, sizeof(pp->tagbin)) !=
	    TOKEN_TAG_BYTES)
		return -1;
	switch (pp->f.kind) {
	case TOKEN_OPEN:
		if (c->end - c->p != 4 || memcmp(c->p, ".gif", 4) != 0)
			return -1;
		c->p += 4;
		break;
	case TOKEN_CLICK:
		if (cur_char(c, '/') == -1)
			return -1;
		pp->dest_b64len = cur_b64(c, DEST_B64_MAX, &pp->dest_b64);
		if (pp->dest_b64len < 2 || pp->dest_b64len > DEST_B64_MAX)
			return -1;
		break;
	default:
		break;
	}
	return c->p == c->end ? 0 : -1;
}

static enum token_status
token_check_tag(const struct key *k, struct parsed *pp)
{
	unsigned char want[TOKEN_TAG_BYTES];
	int rc;

	token_mac(k, &pp->f, want);
	rc = crypto_verify_16(want, pp->tagbin);
	sodium_memzero(want, sizeof(want));
	return rc == 0 ? TOKEN_OK : TOKEN_BAD_TAG;
}

static enum token_status
token_fill(const struct parsed *pp, struct token *out)
{
	out->kind = (enum token_kind)pp->f.kind;
	memcpy(out->msgid, pp->f.msgid, MSGID_LEN);
	out->msgid[MSGID_LEN] = '\0';
	out->sent = pp->sent;
	out->link = pp->link;
	memcpy(out->kid, pp->f.kid, pp->f.kidlen);
	out->kid[pp->f.kidlen] = '\0';
	if (pp->f.kind != TOKEN_CLICK)
		return TOKEN_OK;
	/* Signed, so only a leaked key gets here with bad bytes; refuse. */
	if (!token_dest_ok(pp->f.dest, pp->f.destlen))
		return TOKEN_MALFORMED;
	if ((out->dest = malloc(pp->f.destlen + 1)) == NULL)
		return TOKEN_MALFORMED;
	memcpy(out->dest, pp->f.dest, pp->f.destlen);
	out->dest[pp->f.destlen] = '\0';
	out->dest_len = pp->f.destlen;
	return TOKEN_OK;
}

/* The tag covers the destination's bytes, so they are decoded before the
 * tag is checked, into scratch space: nothing reaches out before that. */
static int
token_decode_dest(struct parsed *pp, unsigned char **scratch)
{
	long n;

	if ((*scratch = malloc(TOKEN_DEST_MAX)) == NULL)
		return -1;
	n = b64url_decode(pp->dest_b64, pp->dest_b64len, *scratch,
	    TOKEN_DEST_MAX);
	if (n < 1)
		return -1;
	pp->f.dest = *scratch;
	pp->f.destlen = (size_t)n;
	return 0;
}

enum token_status
token_verify(const struct keyring *kr, const char *path, size_t len,
	     struct token *out)
{
	unsigned char *dest = NULL;
	enum token_status st;
	const struct key *k;
	struct parsed pp;
	struct cursor c;

	memset(out, 0, sizeof(*out));
	memset(&pp, 0, sizeof(pp));
	if (path == NULL || len > TOKEN_PATH_MAX)
		return TOKEN_MALFORMED;
	c.p = path;
	c.end = path + len;
	if (token_parse_head(&c, &pp) == -1 || token_parse_tail(&c, &pp) == -1)
		return TOKEN_MALFORMED;
	if (pp.f.kind == TOKEN_CLICK && token_decode_dest(&pp, &dest) == -1)
		st = TOKEN_MALFORMED;
	else if (kr == NULL ||
	    (k = keyring_find(kr, pp.f.kid, pp.f.kidlen)) == NULL)
		st = TOKEN_UNKNOWN_KEY;
	else if ((st = token_check_tag(k, &pp)) == TOKEN_OK)
		st = token_fill(&pp, out);
	free(dest);
	if (st != TOKEN_OK)
		token_clear(out);
	return st;
}

void
token_clear(struct token *t)
{
	free(t->dest);
	memset(t, 0, sizeof(*t));
}

const char *
token_status_str(enum token_status s)
{
	switch (s) {
	case TOKEN_OK:
		return "ok";
	case TOKEN_MALFORMED:
		return "malformed token";
	case TOKEN_UNKNOWN_KEY:
		return "unknown key id";
	case TOKEN_BAD_TAG:
		return "bad tag";
	}
	return "unknown token status";
}
