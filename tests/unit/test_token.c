/* Unit tests of token.c and b64url.c: the signed paths the beacon accepts
 * from the internet. Every mutation, truncation and non-canonical spelling
 * of a good token must be refused, and never crash. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "b64url.h"
#include "keyring.h"
#include "mbuf.h"
#include "token.h"

#define MSGID "AAECAwQFBgcICQoLDA0ODw"	/* bytes 0..15 */

/* A keyring line "id <base64url of len bytes, each seed+i>". */
static void
key_line(struct mbuf *b, const char *id, unsigned char seed, size_t len)
{
	unsigned char raw[KEY_SECRET_MAX];
	size_t i;

	for (i = 0; i < len; i++)
		raw[i] = (unsigned char)(seed + i);
	mbuf_printf(b, "%s ", id);
	b64url_encode(raw, len, b);
	mbuf_putc(b, '\n');
}

static void
ring_make(struct keyring *kr, const char *id1, unsigned char seed1,
	  const char *id2, unsigned char seed2)
{
	char err[256];
	struct mbuf b;

	mbuf_init(&b);
	key_line(&b, id1, seed1, 32);
	if (id2 != NULL)
		key_line(&b, id2, seed2, 32);
	assert_int_equal(keyring_parse("test", b.data, kr, err, sizeof(err)), 0);
	mbuf_free(&b);
}

static char *
tok_make(const struct keyring *kr, int kind, const char *dest)
{
	struct token t;
	struct mbuf b;

	memset(&t, 0, sizeof(t));
	t.kind = (enum token_kind)kind;
	memcpy(t.msgid, MSGID, sizeof(MSGID));
	t.sent = 1700000000;
	if (kind == TOKEN_CLICK) {
		t.link = 7;
		t.dest = (char *)dest;
		t.dest_len = strlen(dest);
	}
	mbuf_init(&b);
	assert_int_equal(token_format(kr, &t, &b), 0);
	assert_string_equal(t.kid, kr->keys[0].id);
	return mbuf_steal(&b, NULL);
}

/* Verify from an exact-size heap copy so ASan sees any over-read. */
static enum token_status
tok_check(const struct keyring *kr, const char *path, size_t len,
	  struct token *out)
{
	char *copy = malloc(len ? len : 1);
	enum token_status st;

	assert_non_null(copy);
	memcpy(copy, path, len);
	st = token_verify(kr, copy, len, out);
	free(copy);
	return st;
}

static enum token_status
tok_status(const struct keyring *kr, const char *path)
{
	struct token t;
	enum token_status st = tok_check(kr, path, strlen(path), &t);

	if (st == TOKEN_OK)
		token_clear(&t);
	else
		assert_null(t.dest);
	return st;
}

static struct keyring ring;

static int
setup(void **state)
{
	(void)state;
	ring_make(&ring, "k1", 1, NULL, 0);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	keyring_free(&ring);
	return 0;
}

static void
test_round_trip(void **state)
{
	const char *dest = "https://example.com/a?b=c#d";
	struct token t;
	char *o, *c, *u;

	(void)state;
	o = tok_make(&ring, TOKEN_OPEN, NULL);
	c = tok_make(&ring, TOKEN_CLICK, dest);
	u = tok_make(&ring, TOKEN_OPTOUT, NULL);
	assert_int_equal(strncmp(o, "o/" MSGID ".1700000000.k1.", 30), 0);
	assert_int_equal(strlen(o), 2 + 22 + 1 + 10 + 1 + 2 + 1 + 22 + 4);
	assert_int_equal(strncmp(c, "c/" MSGID ".1700000000.7.k1.", 32), 0);
	assert_int_equal(strncmp(u, "u/" MSGID ".1700000000.k1.", 30), 0);
	assert_int_equal(strlen(u), 2 + 22 + 1 + 10 + 1 + 2 + 1 + 22);

	assert_int_equal(tok_check(&ring, o, strlen(o), &t), TOKEN_OK);
	assert_int_equal(t.kind, TOKEN_OPEN);
	assert_string_equal(t.msgid, MSGID);
	assert_int_equal(t.sent, 1700000000);
	assert_string_equal(t.kid, "k1");
	assert_null(t.dest);
	token_clear(&t);

	assert_int_equal(tok_check(&ring, c, strlen(c), &t), TOKEN_OK);
	assert_int_equal(t.kind, TOKEN_CLICK);
	assert_int_equal(t.link, 7);
	assert_int_equal(t.dest_len, strlen(dest));
	assert_string_equal(t.dest, dest);
	token_clear(&t);

	assert_int_equal(tok_check(&ring, u, strlen(u), &t), TOKEN_OK);
	assert_int_equal(t.kind, TOKEN_OPTOUT);
	token_clear(&t);
	free(o);
	free(c);
	free(u);
}

static void tamper_all(const char *good);

/* The consent token (issue 14): like the opt-out's, and an opt-out token
 * passed off as a consent one (the kind letter swapped) is refused. */
static void
test_consent_kind(void **state)
{
	struct token t;
	char *a = tok_make(&ring, TOKEN_CONSENT, NULL);
	char *u = tok_make(&ring, TOKEN_OPTOUT, NULL);

	(void)state;
	assert_int_equal(strncmp(a, "a/" MSGID ".1700000000.k1.", 30), 0);
	assert_int_equal(tok_check(&ring, a, strlen(a), &t), TOKEN_OK);
	assert_int_equal(t.kind, TOKEN_CONSENT);
	token_clear(&t);
	u[0] = 'a';
	assert_int_equal(tok_status(&ring, u), TOKEN_BAD_TAG);
	tamper_all(a);
	free(a);
	free(u);
}

/* Any single changed byte anywhere must be refused. */
static void
tamper_all(const char *good)
{
	static const char subst[] = "A_-0z.9/=+Q";
	size_t i, j, len = strlen(good);
	char *p = strdup(good);

	assert_non_null(p);
	for (i = 0; i < len; i++) {
		for (j = 0; subst[j] != '\0'; j++) {
			if (subst[j] == good[i])
				continue;
			p[i] = subst[j];
			if (tok_status(&ring, p) == TOKEN_OK)
				fail_msg("accepted %s (byte %zu of %s)", p, i, good);
		}
		p[i] = good[i];
	}
	free(p);
}

static void
test_tamper_every_byte(void **state)
{
	char *o = tok_make(&ring, TOKEN_OPEN, NULL);
	char *c = tok_make(&ring, TOKEN_CLICK, "https://example.com/x?y=1#z");
	char *u = tok_make(&ring, TOKEN_OPTOUT, NULL);

	(void)state;
	tamper_all(o);
	tamper_all(c);
	tamper_all(u);
	free(o);
	free(c);
	free(u);
}

/* Re-signing-free changes with valid syntax: the tag must catch them. */
static void
test_tamper_fields(void **state)
{
	char *o = tok_make(&ring, TOKEN_OPEN, NULL);
	char *c = tok_make(&ring, TOKEN_CLICK, "https://example.com/");
	char *u = tok_make(&ring, TOKEN_OPTOUT, NULL);
	struct mbuf b;
	char *p;

	(void)state;
	/* msgid: another canonical id */
	p = strdup(o);
	p[2] = 'B';
	assert_int_equal(tok_status(&ring, p), TOKEN_BAD_TAG);
	free(p);
	/* sent */
	p = strdup(o);
	p[2 + 22 + 1] = '2';
	assert_int_equal(tok_status(&ring, p), TOKEN_BAD_TAG);
	free(p);
	/* link */
	p = strdup(c);
	p[2 + 22 + 1 + 10 + 1] = '8';
	assert_int_equal(tok_status(&ring, p), TOKEN_BAD_TAG);
	free(p);
	/* tag: first character (its bits are all significant) */
	p = strdup(u);
	p[strlen(p) - 22] = p[strlen(p) - 22] == 'A' ? 'B' : 'A';
	assert_int_equal(tok_status(&ring, p), TOKEN_BAD_TAG);
	free(p);
	/* dest: another destination with the original tag */
	mbuf_init(&b);
	mbuf_append(&b, c, (size_t)(strchr(c, '/') - c));
	mbuf_append(&b, strchr(c, '/'), (size_t)(strrchr(c, '/') - strchr(c, '/') + 1));
	b64url_encode("https://evil.example/", 21, &b);
	assert_int_equal(tok_status(&ring, b.data), TOKEN_BAD_TAG);
	mbuf_free(&b);
	/* kind swapped, suffix adjusted so the syntax stays valid */
	mbuf_init(&b);
	mbuf_printf(&b, "u%.*s", (int)(strlen(o) - 5), o + 1);
	assert_int_equal(tok_status(&ring, b.data), TOKEN_BAD_TAG);
	mbuf_reset(&b);
	mbuf_printf(&b, "o%s.gif", u + 1);
	assert_int_equal(tok_status(&ring, b.data), TOKEN_BAD_TAG);
	mbuf_free(&b);
	/* kind swapped without adjusting: syntax error */
	p = strdup(o);
	p[0] = 'u';
	assert_int_equal(tok_status(&ring, p), TOKEN_MALFORMED);
	free(p);
	p = strdup(u);
	p[0] = 'o';
	assert_int_equal(tok_status(&ring, p), TOKEN_MALFORMED);
	free(p);
	free(o);
	free(c);
	free(u);
}

static void
test_truncated(void **state)
{
	char *paths[3];
	struct token t;
	size_t i, n;

	(void)state;
	paths[0] = tok_make(&ring, TOKEN_OPEN, NULL);
	paths[1] = tok_make(&ring, TOKEN_CLICK, "https://example.com/page");
	paths[2] = tok_make(&ring, TOKEN_OPTOUT, NULL);
	for (i = 0; i < 3; i++) {
		for (n = 0; n < strlen(paths[i]); n++) {
			if (tok_check(&ring, paths[i], n, &t) == TOKEN_OK)
				fail_msg("accepted %.*s", (int)n, paths[i]);
			assert_null(t.dest);
		}
		free(paths[i]);
	}
	assert_int_equal(token_verify(&ring, NULL, 0, &t), TOKEN_MALFORMED);
	assert_int_equal(token_verify(&ring, "", 0, &t), TOKEN_MALFORMED);
}

static void
test_noncanonical(void **state)
{
	char *o = tok_make(&ring, TOKEN_OPEN, NULL);
	char *c = tok_make(&ring, TOKEN_CLICK, "https://example.com/ab");
	const char *tagp;
	struct mbuf b;
	char *p;

	(void)state;
	/* msgid: last character carries 4 unused bits; 'w' -> 'x' sets one */
	p = strdup(o);
	assert_int_equal(p[2 + 21], 'w');
	p[2 + 21] = 'x';
	assert_int_equal(tok_status(&ring, p), TOKEN_MALFORMED);
	free(p);
	/* tag: same for the tag's last character */
	p = strdup(o);
	tagp = p + strlen(p) - 4 - 1;
	p[tagp - p] = (char)(strchr("AQgw", *tagp) ? *tagp + 1 : *tagp);
	assert_int_equal(tok_status(&ring, p), TOKEN_MALFORMED);
	free(p);
	/* standard-alphabet and padding characters */
	p = strdup(o);
	p[5] = '+';
	assert_int_equal(tok_status(&ring, p), TOKEN_MALFORMED);
	p[5] = '/';
	assert_int_equal(tok_status(&ring, p), TOKEN_MALFORMED);
	p[5] = '=';
	assert_int_equal(tok_status(&ring, p), TOKEN_MALFORMED);
	free(p);
	/* leading zero in sent and link */
	mbuf_init(&b);
	mbuf_printf(&b, "o/%s.0%s", MSGID, o + 2 + 22 + 1);
	assert_int_equal(tok_status(&ring, b.data), TOKEN_MALFORMED);
	mbuf_reset(&b);
	mbuf_append(&b, c, 2 + 22 + 1 + 10 + 1);
	mbuf_printf(&b, "0%s", c + 2 + 22 + 1 + 10 + 1);
	assert_int_equal(tok_status(&ring, b.data), TOKEN_MALFORMED);
	/* trailing characters */
	mbuf_reset(&b);
	mbuf_printf(&b, "%sx", o);
	assert_int_equal(tok_status(&ring, b.data), TOKEN_MALFORMED);
	mbuf_reset(&b);
	mbuf_printf(&b, "%s/", o);
	assert_int_equal(tok_status(&ring, b.data), TOKEN_MALFORMED);
	mbuf_reset(&b);
	mbuf_printf(&b, "%s.", c);
	assert_int_equal(tok_status(&ring, b.data), TOKEN_MALFORMED);
	/* more base64 after a click's destination is another destination */
	mbuf_reset(&b);
	mbuf_printf(&b, "%sA", c);
	assert_int_equal(tok_status(&ring, b.data), TOKEN_BAD_TAG);
	mbuf_reset(&b);
	mbuf_printf(&b, "%s?x=1", c);
	assert_int_equal(tok_status(&ring, b.data), TOKEN_MALFORMED);
	mbuf_reset(&b);
	mbuf_printf(&b, "%s%c", c, '\0');
	assert_int_equal(b.len, strlen(c) + 1);
	assert_int_equal(tok_check(&ring, b.data, b.len, &(struct token){0}),
	    TOKEN_MALFORMED);
	/* padded destination */
	mbuf_reset(&b);
	mbuf_printf(&b, "%s==", c);
	assert_int_equal(tok_status(&ring, b.data), TOKEN_MALFORMED);
	/* uppercase suffix */
	mbuf_reset(&b);
	mbuf_append(&b, o, strlen(o) - 4);
	mbuf_puts(&b, ".GIF");
	assert_int_equal(tok_status(&ring, b.data), TOKEN_MALFORMED);
	/* leading slash */
	mbuf_reset(&b);
	mbuf_printf(&b, "/%s", o);
	assert_int_equal(tok_status(&ring, b.data), TOKEN_MALFORMED);
	mbuf_free(&b);
	free(o);
	free(c);
}

static void
test_wrong_and_unknown_key(void **state)
{
	struct keyring other, unknown;
	char *o = tok_make(&ring, TOKEN_OPEN, NULL);
	char *c = tok_make(&ring, TOKEN_CLICK, "https://example.com/");

	(void)state;
	ring_make(&other, "k1", 99, NULL, 0);
	ring_make(&unknown, "k2", 1, NULL, 0);
	assert_int_equal(tok_status(&other, o), TOKEN_BAD_TAG);
	assert_int_equal(tok_status(&other, c), TOKEN_BAD_TAG);
	assert_int_equal(tok_status(&unknown, o), TOKEN_UNKNOWN_KEY);
	assert_int_equal(tok_status(&unknown, c), TOKEN_UNKNOWN_KEY);
	assert_string_equal(token_status_str(TOKEN_BAD_TAG), "bad tag");
	keyring_free(&other);
	keyring_free(&unknown);
	free(o);
	free(c);
}

static void
test_rotation(void **state)
{
	struct keyring newring;
	struct token t;
	char *old, *cur;

	(void)state;
	old = tok_make(&ring, TOKEN_CLICK, "https://example.com/old");
	ring_make(&newring, "k2", 50, "k1", 1);	/* k1: the same secret */
	assert_int_equal(tok_check(&newring, old, strlen(old), &t), TOKEN_OK);
	assert_string_equal(t.kid, "k1");
	assert_string_equal(t.dest, "https://example.com/old");
	token_clear(&t);
	cur = tok_make(&newring, TOKEN_OPEN, NULL);
	assert_non_null(strstr(cur, ".k2."));
	assert_int_equal(tok_status(&newring, cur), TOKEN_OK);
	assert_int_equal(tok_status(&ring, cur), TOKEN_UNKNOWN_KEY);
	keyring_free(&newring);
	free(old);
	free(cur);
}

static int
format_dest(const char *dest, size_t len)
{
	struct token t;
	struct mbuf b;
	int rc;

	memset(&t, 0, sizeof(t));
	t.kind = TOKEN_CLICK;
	memcpy(t.msgid, MSGID, sizeof(MSGID));
	t.sent = 1;
	t.link = 1;
	t.dest = (char *)dest;
	t.dest_len = len;
	mbuf_init(&b);
	mbuf_puts(&b, "keep");
	rc = token_format(&ring, &t, &b);
	if (rc == -1)
		assert_string_equal(b.data, "keep");	/* nothing half-written */
	mbuf_free(&b);
	return rc;
}

static void
test_dest_refused(void **state)
{
	char *big;

	(void)state;
	assert_int_equal(format_dest("https://a/\r\nSet-Cookie: x", 25), -1);
	assert_int_equal(format_dest("https://a/\n", 11), -1);
	assert_int_equal(format_dest("https://a/\r", 11), -1);
	assert_int_equal(format_dest("https://a/\t", 11), -1);
	assert_int_equal(format_dest("https://a/\x7f", 11), -1);
	assert_int_equal(format_dest("https://a/\0b", 12), -1);
	assert_int_equal(format_dest("", 0), -1);
	big = malloc(TOKEN_DEST_MAX + 1);
	memset(big, 'a', TOKEN_DEST_MAX + 1);
	assert_int_equal(format_dest(big, TOKEN_DEST_MAX + 1), -1);
	assert_int_equal(format_dest(big, TOKEN_DEST_MAX), 0);
	free(big);
}

static void
test_bad_fields(void **state)
{
	struct keyring empty = { NULL, 0 };
	struct token t;
	struct mbuf b;

	(void)state;
	mbuf_init(&b);
	memset(&t, 0, sizeof(t));
	t.kind = TOKEN_OPEN;
	memcpy(t.msgid, MSGID, sizeof(MSGID));
	t.sent = 0;
	assert_int_equal(token_format(&ring, &t, &b), -1);
	t.sent = -5;
	assert_int_equal(token_format(&ring, &t, &b), -1);
	t.sent = 1000000000000LL;
	assert_int_equal(token_format(&ring, &t, &b), -1);
	t.sent = 999999999999LL;
	assert_int_equal(token_format(&ring, &t, &b), 0);
	assert_int_equal(token_format(&empty, &t, &b), -1);
	t.kind = (enum token_kind)'x';
	assert_int_equal(token_format(&ring, &t, &b), -1);
	t.kind = TOKEN_OPEN;
	t.msgid[21] = 'x';	/* non-zero trailing bits */
	assert_int_equal(token_format(&ring, &t, &b), -1);
	memcpy(t.msgid, MSGID, sizeof(MSGID));
	t.kind = TOKEN_CLICK;
	t.dest = (char *)"https://a/";
	t.link = 0;
	assert_int_equal(token_format(&ring, &t, &b), -1);
	t.link = 1000000;
	assert_int_equal(token_format(&ring, &t, &b), -1);
	t.link = 999999;
	mbuf_reset(&b);
	assert_int_equal(token_format(&ring, &t, &b), 0);	/* dest_len 0: strlen */
	assert_int_equal(tok_status(&ring, b.data), TOKEN_OK);
	mbuf_free(&b);
}

static void
test_dest_exact(void **state)
{
	static const char *dests[] = {
		"https://example.com/p?q=1&r=%2F%20x#frag?ment",
		"https://example.com/%E2%82%AC?a=b=c&&d#",
		"https://exämple.com/päth/€?q=ü#ß",
		"http://example.com:8080/a%00b?x=\"y\"&z='<>'",
		"https://example.com/" "?" "#" "#",
		"x",
	};
	struct token t;
	size_t i;
	char *p;

	(void)state;
	for (i = 0; i < sizeof(dests) / sizeof(dests[0]); i++) {
		p = tok_make(&ring, TOKEN_CLICK, dests[i]);
		assert_int_equal(tok_check(&ring, p, strlen(p), &t), TOKEN_OK);
		assert_int_equal(t.dest_len, strlen(dests[i]));
		assert_memory_equal(t.dest, dests[i], t.dest_len);
		assert_int_equal(t.dest[t.dest_len], '\0');
		token_clear(&t);
		free(p);
	}
}

static void
test_max_path(void **state)
{
	char *big = malloc(TOKEN_DEST_MAX + 1);
	struct token t;
	char *p;

	(void)state;
	memset(big, 'z', TOKEN_DEST_MAX);
	big[TOKEN_DEST_MAX] = '\0';
	p = tok_make(&ring, TOKEN_CLICK, big);
	assert_true(strlen(p) <= TOKEN_PATH_MAX);
	assert_int_equal(tok_check(&ring, p, strlen(p), &t), TOKEN_OK);
	assert_int_equal(t.dest_len, TOKEN_DEST_MAX);
	token_clear(&t);
	free(p);
	free(big);
}

/* Random bytes and random mutations of good tokens: no crash, no OK. */
static void
test_random_input(void **state)
{
	char *c = tok_make(&ring, TOKEN_CLICK, "https://example.com/r");
	unsigned char buf[256];
	size_t i, n, clen = strlen(c);
	struct token t;

	(void)state;
	for (i = 0; i < 20000; i++) {
		n = randombytes_uniform(sizeof(buf));
		if (i % 2) {
			randombytes_buf(buf, n);
		} else {
			n = clen < sizeof(buf) ? clen : sizeof(buf);
			memcpy(buf, c, n);
			buf[randombytes_uniform((uint32_t)n)] =
			    (unsigned char)randombytes_uniform(256);
			if (memcmp(buf, c, n) == 0)
				continue;
		}
		if (tok_check(&ring, (char *)buf, n, &t) == TOKEN_OK)
			fail_msg("random input accepted");
	}
	free(c);
}

static void
test_msgid(void **state)
{
	char a[MSGID_LEN + 1], b[MSGID_LEN + 1];
	unsigned char raw[MSGID_BYTES];

	(void)state;
	assert_int_equal(msgid_generate(a), 0);
	assert_int_equal(msgid_generate(b), 0);
	assert_int_equal(strlen(a), MSGID_LEN);
	assert_string_not_equal(a, b);
	assert_int_equal(b64url_decode(a, MSGID_LEN, raw, sizeof(raw)), MSGID_BYTES);
}

/* A message id is taken exactly when it decodes canonically to 16 bytes:
 * every last character, and characters outside the alphabet anywhere. */
static void
test_msgid_canonical(void **state)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	static const char others[] = "=+/.~ \x80";
	unsigned char raw[MSGID_BYTES];
	struct token t = { .kind = TOKEN_OPEN, .sent = 1700000000 };
	struct mbuf b;
	int accepted = 0;

	(void)state;
	mbuf_init(&b);
	for (size_t pos = 0; pos < MSGID_LEN; pos += MSGID_LEN - 1) {
		for (const char *c = alphabet; *c; c++) {
			memset(t.msgid, 'Q', MSGID_LEN);
			t.msgid[MSGID_LEN] = '\0';
			t.msgid[pos] = *c;
			int want = b64url_decode(t.msgid, MSGID_LEN, raw, sizeof(raw)) == MSGID_BYTES;
			mbuf_reset(&b);
			assert_int_equal(token_format(&ring, &t, &b) == 0, want);
			accepted += want;
		}
		for (const char *c = others; *c; c++) {
			t.msgid[pos] = *c;
			mbuf_reset(&b);
			assert_int_equal(token_format(&ring, &t, &b), -1);
		}
	}
	assert_int_equal(accepted, 64 + 4);	/* any first character; A, Q, g, w last */
	mbuf_free(&b);
}

/* The table encoder of tokens writes what libsodium's writes, for every
 * length around its chunk size and every octet value. */
static void
test_b64url_public(void **state)
{
	unsigned char bin[2100];
	struct mbuf a, b;

	(void)state;
	for (size_t i = 0; i < sizeof(bin); i++)
		bin[i] = (unsigned char)(i * 151 + (i >> 8));
	for (size_t len = 0; len <= sizeof(bin); len += len < 800 ? 1 : 97) {
		mbuf_init(&a);
		mbuf_init(&b);
		assert_int_equal(b64url_encode(bin, len, &a), 0);
		assert_int_equal(b64url_encode_public(bin, len, &b), 0);
		assert_int_equal(a.len, b.len);
		assert_memory_equal(a.data, b.data, a.len);
		assert_int_equal(b.data[b.len], '\0');
		mbuf_free(&a);
		mbuf_free(&b);
	}
}

static void
test_b64url(void **state)
{
	unsigned char out[8];
	struct mbuf b;

	(void)state;
	mbuf_init(&b);
	assert_int_equal(b64url_encode("\xfb\xff", 2, &b), 0);
	assert_string_equal(b.data, "-_8");
	mbuf_free(&b);
	assert_int_equal(b64url_decode("-_8", 3, out, sizeof(out)), 2);
	assert_memory_equal(out, "\xfb\xff", 2);
	/* libsodium refuses non-zero trailing bits: "-_9" has one set */
	assert_int_equal(b64url_decode("-_9", 3, out, sizeof(out)), -1);
	assert_int_equal(b64url_decode("QQ", 2, out, sizeof(out)), 1);
	assert_int_equal(b64url_decode("QR", 2, out, sizeof(out)), -1);
	assert_int_equal(b64url_decode("QQ==", 4, out, sizeof(out)), -1);
	assert_int_equal(b64url_decode("+/8", 3, out, sizeof(out)), -1);
	assert_int_equal(b64url_decode("QUJD RA", 7, out, sizeof(out)), -1);
	assert_int_equal(b64url_decode("Q", 1, out, sizeof(out)), -1);
	assert_int_equal(b64url_decode("QUJD\0A", 6, out, sizeof(out)), -1);
	assert_int_equal(b64url_decode("", 0, out, sizeof(out)), 0);
	/* does not fit */
	assert_int_equal(b64url_decode("QUJDRA", 6, out, 3), -1);
	assert_int_equal(b64url_decode("QUJDRA", 6, out, 4), 4);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64url),
		cmocka_unit_test(test_b64url_public),
		cmocka_unit_test(test_msgid_canonical),
		cmocka_unit_test(test_msgid),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_consent_kind),
		cmocka_unit_test(test_tamper_every_byte),
		cmocka_unit_test(test_tamper_fields),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_noncanonical),
		cmocka_unit_test(test_wrong_and_unknown_key),
		cmocka_unit_test(test_rotation),
		cmocka_unit_test(test_dest_refused),
		cmocka_unit_test(test_bad_fields),
		cmocka_unit_test(test_dest_exact),
		cmocka_unit_test(test_max_path),
		cmocka_unit_test(test_random_input),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, setup, teardown);
}
