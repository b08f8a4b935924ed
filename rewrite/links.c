/* links: shared link rules and HTML5 attribute-value decoding. Named
 * references come from the full HTML5 table (entities_html5.h, generated
 * by gen-entities.py): libxml2 2.9 knows only HTML 4's 253 names, so
 * "&period;" or "&NewLine;" stayed literal and the click went elsewhere
 * than the browser goes. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "entities_html5.h"
#include "links.h"
#include "textenc.h"

/* HTML5 maps these numeric references to windows-1252 characters. */
static const unsigned short cp1252_c1[32] = {
	0x20ac, 0x81, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021,
	0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0x8d, 0x017d, 0x8f,
	0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
	0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0x9d, 0x017e, 0x0178,
};

/* A numeric reference's code point as HTML5 reads it: 0, surrogates and
 * values past Unicode become U+FFFD, 0x80-0x9F the windows-1252 characters. */
static int
put_numeric(struct mbuf *out, unsigned long cp)
{
	if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		cp = TEXT_REPLACEMENT;
	else if (cp >= 0x80 && cp <= 0x9f)
		cp = cp1252_c1[cp - 0x80];
	return text_put_utf8(TEXT_TO_MBUF(out), (uint32_t)cp);
}

static int
entity_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct html5_entity *)elem)->name);
}

/* The expansion (UTF-8) of a table name such as "amp;" or "amp", or NULL. */
static const char *
entity_lookup(const char *name, size_t len)
{
	char key[HTML5_ENTITY_NAME_MAX + 1];

	if (len > HTML5_ENTITY_NAME_MAX)
		return NULL;
	memcpy(key, name, len);
	key[len] = '\0';
	const struct html5_entity *e = bsearch(key, html5_entities,
	    sizeof(html5_entities) / sizeof(html5_entities[0]), sizeof(html5_entities[0]), entity_cmp);
	return e ? e->utf8 : NULL;
}

/* Decodes the reference at raw[i] == '&'; returns the length consumed or 0
 * when it stays literal. */
static size_t
decode_ref(const char *raw, size_t len, size_t i, struct mbuf *out, int *err)
{
	size_t j = i + 1;

	if (j < len && raw[j] == '#') {
		bool hex = j + 1 < len && (raw[j + 1] == 'x' || raw[j + 1] == 'X');
		size_t k = j + 1 + hex, digits = 0;
		unsigned long cp = 0;
		while (k < len && (hex ? isxdigit((unsigned char)raw[k]) : isdigit((unsigned char)raw[k]))) {
			int c = (unsigned char)raw[k];
			int v = isdigit(c) ? c - '0' : (tolower(c) - 'a' + 10);
			if (cp <= 0x10ffff)
				cp = cp * (hex ? 16 : 10) + (unsigned long)v;
			k++;
			digits++;
		}
		if (digits == 0)
			return 0;
		if (k < len && raw[k] == ';')
			k++;
		if (put_numeric(out, cp) < 0)
			*err = 1;
		return k - i;
	}
	/* HTML5 takes the longest table name that matches. Names are ASCII
	 * alphanumerics, so a name with ';' matches only the whole run of them
	 * and ';'. A shorter legacy name inside the run is followed by an
	 * alphanumeric, which in an attribute keeps the reference literal. */
	size_t k = j;
	while (k < len && isalnum((unsigned char)raw[k]) && k - j <= HTML5_ENTITY_NAME_MAX)
		k++;
	if (k == j)
		return 0;
	const char *value = NULL;
	if (k < len && raw[k] == ';' && (value = entity_lookup(raw + j, k - j + 1)) != NULL)
		k++;
	else if (k < len && raw[k] == '=')
		return 0;	/* "&copy=2": a query string, literal in attributes */
	else if ((value = entity_lookup(raw + j, k - j)) == NULL)
		return 0;
	if (mbuf_puts(out, value) < 0)
		*err = 1;
	return k - i;
}

int
html_attr_decode(const char *raw, size_t len, struct mbuf *out)
{
	size_t run = 0;
	int err = 0;

	for (size_t i = 0; i < len; i++) {
		if (raw[i] != '&')
			continue;
		/* decode_ref() writes only what it decodes, so the text before
		 * the '&' can go first; a literal '&' starts the next run. */
		mbuf_append(out, raw + run, i - run);
		run = i;
		size_t used = decode_ref(raw, len, i, out, &err);
		if (used > 0) {
			i += used - 1;
			run = i + 1;
		}
	}
	mbuf_append(out, raw + run, len - run);
	return (err || out->failed) ? -1 : 0;
}

void
url_browser_clean(struct mbuf *url)
{
	size_t o = 0, start = 0, end = url->len;

	while (start < end && (unsigned char)url->data[start] <= ' ')
		start++;
	while (end > start && (unsigned char)url->data[end - 1] <= ' ')
		end--;
	for (size_t i = start; i < end; i++)
		if (url->data[i] != '\t' && url->data[i] != '\n' && url->data[i] != '\r')
			url->data[o++] = url->data[i];
	url->len = o;
	if (url->data)
		url->data[o] = '\0';
}

bool
url_has_scheme(const char *url, size_t len)
{
	if (len == 0 || !isalpha((unsigned char)url[0]))
		return false;
	for (size_t i = 1; i < len; i++) {
		if (url[i] == ':')
			return true;
		if (!isalnum((unsigned char)url[i]) && url[i] != '+' && url[i] != '-' && url[i] != '.')
			return false;
	}
	return false;
}

bool
url_is_http(const char *url, size_t len)
{
	return (len > 7 && strncasecmp(url, "http://", 7) == 0) ||
	    (len > 8 && strncasecmp(url, "https://", 8) == 0);
}

bool
link_text_is_url(const char *text, size_t len)
{
	size_t s = 0, e = len;

	while (s < e && isspace((unsigned char)text[s]))
		s++;
	while (e > s && isspace((unsigned char)text[e - 1]))
		e--;
	if (s == e)
		return false;
	text += s;
	len = e - s;
	if (url_has_scheme(text, len) || (len > 4 && strncasecmp(text, "www.", 4) == 0))
		return true;
	/* A bare domain such as "example.com/login": no blanks, a dot, and
	 * an alphabetic top-level label before any path. */
	size_t host_end = 0, dot = 0;
	while (host_end < len && text[host_end] != '/' && text[host_end] != '?') {
		char c = text[host_end];
		if (c == '.')
			dot = host_end;
		else if (!isalnum((unsigned char)c) && c != '-' && (unsigned char)c < 0x80)
			return false;
		host_end++;
	}
	for (size_t i = host_end; i < len; i++)
		if (isspace((unsigned char)text[i]))
			return false;
	if (dot == 0 || host_end - dot < 3)
		return false;
	for (size_t i = dot + 1; i < host_end; i++)
		if (!isalpha((unsigned char)text[i]))
			return false;
	return true;
}

/* Lengths are stored because says_unsubscribe() runs on every link's URL
 * and text (a few hundred bytes each, thousands of links per message). */
#define WORD(s) { s, sizeof(s) - 1 }
static const struct {
	const char *w;
	size_t len;
} unsubscribe_words[] = {	/* grouped by first letter: see words_from */
	WORD("abmelden"), WORD("abbestellen"), WORD("afmelden"), WORD("avregistrer"), WORD("avsluta"),
	WORD("cancelar suscripci"),
	WORD("desabonner"), WORD("d\xc3\xa9sabonner"), WORD("desinscri"), WORD("d\xc3\xa9sinscri"),
	WORD("darse de baja"), WORD("disiscriv"),
	WORD("opt-out"), WORD("optout"), WORD("opt out"),
	WORD("unsubscribe"), WORD("unsub"), WORD("uitschrijven"),
};
/* Where the words starting with a, c, d, o and u begin; each group ends
 * where the next begins. */
enum { WORDS_A = 0, WORDS_C = 5, WORDS_D = 6, WORDS_O = 12, WORDS_U = 15, WORDS_END = 18 };
#undef WORD
_Static_assert(sizeof(unsubscribe_words) / sizeof(*unsubscribe_words) == WORDS_END,
	       "the groups of unsubscribe_words");

bool
says_unsubscribe(const char *s, size_t len)
{
	/* Every word starts with a lower-case ASCII letter, and only five
	 * letters occur: an offset whose byte is not one of them cannot start
	 * a match, which skips most offsets with one comparison. Octets are
	 * compared as strncasecmp() compares them, with tolower(). */
	for (size_t i = 0; i < len; i++) {
		int c = tolower((unsigned char)s[i]);
		size_t from, to;
		switch (c) {
		case 'a': from = WORDS_A, to = WORDS_C; break;
		case 'c': from = WORDS_C, to = WORDS_D; break;
		case 'd': from = WORDS_D, to = WORDS_O; break;
		case 'o': from = WORDS_O, to = WORDS_U; break;
		case 'u': from = WORDS_U, to = WORDS_END; break;
		default: continue;
		}
		for (size_t w = from; w < to; w++) {
			const char *word = unsubscribe_words[w].w;
			size_t wl = unsubscribe_words[w].len, k = 1;
			if (wl > len - i)
				continue;
			/* strncasecmp() inline: most candidates differ at once. */
			while (k < wl && tolower((unsigned char)s[i + k]) == tolower((unsigned char)word[k]))
				k++;
			if (k == wl)
				return true;
		}
	}
	return false;
}
