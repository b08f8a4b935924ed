/* address: one canonical spelling for each mailbox (RFC 5321 local parts,
 * IDNA2008 domains through libidn2), so an opt-out, a policy rule or a SASL
 * login cannot be sidestepped by writing the same address another way. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <idn2.h>

#include "address.h"
#include "mbuf.h"

static bool
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static char
ascii_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c + ('a' - 'A')) : c;
}

/* RFC 5321 atext, with the UTF-8 bytes of RFC 6531 (SMTPUTF8). */
static bool
is_atext(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c >= 0x80 ||
	    (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* Dot-string = Atom *("." Atom): needs no quotes. */
static bool
is_dot_string(const char *s, size_t n)
{
	bool atom_started = false;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.') {
			if (!atom_started)
				return false;
			atom_started = false;
		} else if (is_atext(c)) {
			atom_started = true;
		} else {
			return false;
		}
	}
	return atom_started;
}

/* The value of a quoted string's content (between the quotes), or -1 when
 * it is not RFC 5321 qcontent: a bare '"', a control byte, or a
 * backslash not followed by printable ASCII. out holds at least n bytes. */
static long
quoted_value(const char *s, size_t n, char *out)
{
	size_t len = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\\') {
			if (++i == n || (unsigned char)s[i] < 32 || (unsigned char)s[i] > 126)
				return -1;
			c = (unsigned char)s[i];
		} else if (c == '"' || c < 32 || c == 127) {
			return -1;
		}
		out[len++] = ascii_lower((char)c);
	}
	return (long)len;
}

/* Appends the canonical local part s[0..n). */
static void
put_local(struct mbuf *b, const char *s, size_t n)
{
	if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
		char *v = malloc(n);
		long len = v != NULL ? quoted_value(s + 1, n - 2, v) : -1;
		if (len >= 0) {
			if (is_dot_string(v, (size_t)len)) {
				mbuf_append(b, v, (size_t)len);
			} else {
				mbuf_puts(b, "\"");
				for (long i = 0; i < len; i++) {
					if (v[i] == '"' || v[i] == '\\')
						mbuf_putc(b, '\\');
					mbuf_putc(b, v[i]);
				}
				mbuf_puts(b, "\"");
			}
			free(v);
			return;
		}
		free(v);
		if (v == NULL) {
			b->failed = 1;
			return;
		}
	}
	/* Unquoted, or not a valid quoted string: as written. */
	for (size_t i = 0; i < n; i++)
		mbuf_putc(b, ascii_lower(s[i]));
}

/* Appends the canonical domain s[0..n). A-label rather than U-label: it is
 * the form every MTA handles (an SMTPUTF8-less Postfix only ever sees it),
 * policy files and logs stay ASCII, and ASCII lower-casing is then exact,
 * where a U-label would need Unicode case folding and normalisation. */
static void
put_domain(struct mbuf *b, const char *s, size_t n)
{
	bool ascii = true;

	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			ascii = false;
	if (!ascii) {
		char *u = strndup(s, n), *a = NULL;
		if (u == NULL) {
			b->failed = 1;
			return;
		}
		/* Non-transitional UTS #46 processing maps case and width
		 * and normalises to NFC before the conversion. */
		int rc = idn2_to_ascii_8z(u, &a, IDN2_NONTRANSITIONAL);
		free(u);
		if (rc == IDN2_OK) {
			for (char *p = a; *p != '\0'; p++)
				*p = ascii_lower(*p);
			mbuf_puts(b, a);
			idn2_free(a);
			return;
		}
		/* Refused by IDNA: kept as written (then it matches only itself). */
	}
	for (size_t i = 0; i < n; i++)
		mbuf_putc(b, ascii_lower(s[i]));
}

char *
address_canonical(const char *addr)
{
	const char *s = addr != NULL ? addr : "", *e, *at = NULL;
	struct mbuf b;

	e = s + strlen(s);
	while (s < e && is_blank(*s))
		s++;
	while (e > s && is_blank(e[-1]))
		e--;
	if (s < e && *s == '<')
		s++;
	if (e > s && e[-1] == '>')
		e--;
	while (s < e && is_blank(*s))
		s++;
	while (e > s && is_blank(e[-1]))
		e--;
	/* The domain has no '@' and no '"': the last '@' ends the local
	 * part even when a quoted local part holds another. */
	for (const char *p = s; p < e; p++)
		if (*p == '@')
			at = p;
	if (at != NULL && memchr(at, '"', (size_t)(e - at)) != NULL)
		at = NULL;
	mbuf_init(&b);
	if (at == NULL) {
		put_local(&b, s, (size_t)(e - s));
	} else {
		put_local(&b, s, (size_t)(at - s));
		mbuf_putc(&b, '@');
		put_domain(&b, at + 1, (size_t)(e - at - 1));
	}
	return mbuf_steal(&b, NULL);	/* NULL when out of memory */
}

char *
address_domain_canonical(const char *domain)
{
	struct mbuf b;

	mbuf_init(&b);
	put_domain(&b, domain, strlen(domain));
	return mbuf_steal(&b, NULL);	/* NULL when out of memory */
}
