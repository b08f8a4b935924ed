/* policy: the sender opt-in rules of mailbeacon-policy(5). Tracking is off
 * unless a rule says otherwise, so every doubt in the file is an error with
 * its line rather than a guess. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "address.h"
#include "mbconfig.h"
#include "fileline.h"
#include "mbuf.h"
#include "policy.h"

#define POLICY_FILE_MAX		(16 * 1024 * 1024)
#define MAX_RECIPIENTS_MAX	100000u
#define POLICY_TRACKING \
	(POLICY_OPENS | POLICY_CLICKS | POLICY_TEXT_CLICKS | POLICY_RECEIPT)

static const struct {
	const char *name;
	unsigned bit;
} policy_words[] = {
	{ "opens", POLICY_OPENS },
	{ "clicks", POLICY_CLICKS },
	{ "text-clicks", POLICY_TEXT_CLICKS },
	{ "footer", POLICY_FOOTER },
	{ "receipt", POLICY_RECEIPT },
};
#define N_POLICY_WORDS (sizeof(policy_words) / sizeof(policy_words[0]))

struct policy_ctx {
	const char *name;
	int line;
	char *err;
	size_t errlen;
};

static int
policy_error(const struct policy_ctx *cx, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int
policy_error(const struct policy_ctx *cx, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fileline_vformat(cx->err, cx->errlen, cx->name, cx->line, fmt, ap);
	va_end(ap);
	return -1;
}

/* Labels of letters, digits, "-" and "_" (and UTF-8 for SMTPUTF8
 * domains), separated by single dots. */
static int
policy_domain_ok(const char *d)
{
	const char *p;

	if (*d == '\0' || *d == '.')
		return 0;
	for (p = d; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '.') {
			if (p[1] == '.' || p[1] == '\0')
				return 0;
		} else if (!isalnum(c) && c != '-' && c != '_' && c < 0x80)
			return 0;
	}
	return 1;
}

static int
policy_pattern_ok(const char *pat)
{
	const char *at;
	const char *p;

	if (strcmp(pat, "*") == 0)
		return 1;
	if ((at = strchr(pat, '@')) == NULL || strchr(at + 1, '@') != NULL)
		return 0;
	if (at == pat)
		return policy_domain_ok(at[1] == '.' ? at + 2 : at + 1);
	for (p = pat; p < at; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '<' ||
		    *p == '>')
			return 0;
	return policy_domain_ok(at + 1);
}

static void
policy_lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
}

static int
policy_number(const char *s, unsigned max, unsigned *out)
{
	unsigned long v = 0;

	if (*s == '\0' || *s == '0')
		return -1;
	for (; *s != '\0'; s++) {
		if (!isdigit((unsigned char)*s))
			return -1;
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > max)
			return -1;
	}
	*out = (unsigned)v;
	return 0;
}

static void
policy_logins_free(struct policy_rule *r)
{
	for (size_t i = 0; i < r->n_logins; i++)
		free(r->logins[i]);
	free(r->logins);
	r->logins = NULL;
	r->n_logins = 0;
}

/* logins=LOGIN[,LOGIN...] or logins=*: who else may send as the rule's
 * senders (a shared or delegated mailbox). Kept canonical. */
static int
policy_logins(const struct policy_ctx *cx, struct policy_rule *r, const char *list)
{
	const char *s = list;

	if (r->logins != NULL)
		return policy_error(cx, "duplicate word 'logins'");
	if (*list == '\0')
		return policy_error(cx, "bad value '' for logins: expected "
		    "LOGIN[,LOGIN...] or *");
	for (;;) {
		size_t n = strcspn(s, ",");
		char *one, *canon, **nl;
		if (n == 0)
			return policy_error(cx, "bad value '%s' for logins: an "
			    "empty login", list);
		if ((one = strndup(s, n)) == NULL)
			return policy_error(cx, "out of memory");
		canon = strcmp(one, "*") == 0 ? one : address_canonical(one);
		if (canon != one)
			free(one);
		nl = canon != NULL ? reallocarray(r->logins, r->n_logins + 1,
		    sizeof(*nl)) : NULL;
		if (nl == NULL) {
			free(canon);
			return policy_error(cx, "out of memory");
		}
		r->logins = nl;
		r->logins[r->n_logins++] = canon;
		if (s[n] == '\0')
			return 0;
		s += n + 1;
	}
}

/* "name=value" words. */
static int
policy_setting(const struct policy_ctx *cx, struct policy_rule *r,
	       const char *w)
{
	if (strncmp(w, "max_recipients=", 15) == 0) {
		if (r->max_recipients != 0)
			return policy_error(cx, "duplicate word 'max_recipients'");
		if (policy_number(w + 15, MAX_RECIPIENTS_MAX,
		    &r->max_recipients) == -1)
			return policy_error(cx, "bad value '%s' for "
			    "max_recipients: expected 1 to %u", w + 15,
			    MAX_RECIPIENTS_MAX);
		return 0;
	}
	/* notify=mail and notify=URL may stand side by side. */
	if (strcmp(w, "notify=mail") == 0) {
		if (r->notify_mail)
			return policy_error(cx, "duplicate word 'notify=mail'");
		r->notify_mail = 1;
		return 0;
	}
	if (strncmp(w, "notify=", 7) == 0) {
		if (r->notify != NULL)
			return policy_error(cx, "duplicate word 'notify'");
		if (config_check_url(w + 7, 0) == -1)
			return policy_error(cx, "bad value '%s' for notify: "
			    "expected an http:// or https:// URL", w + 7);
		if ((r->notify = strdup(w + 7)) == NULL)
			return policy_error(cx, "out of memory");
		return 0;
	}
	if (strncmp(w, "digest=", 7) == 0) {
		if (r->digest != POLICY_DIGEST_NONE)
			return policy_error(cx, "duplicate word 'digest'");
		if (strcmp(w + 7, "daily") == 0)
			r->digest = POLICY_DIGEST_DAILY;
		else if (strcmp(w + 7, "weekly") == 0)
			r->digest = POLICY_DIGEST_WEEKLY;
		else
			return policy_error(cx, "bad value '%s' for digest: "
			    "expected daily or weekly", w + 7);
		return 0;
	}
	if (strncmp(w, "consent=", 8) == 0) {
		if (r->consent != POLICY_CONSENT_UNSET)
			return policy_error(cx, "duplicate word 'consent'");
		if (strcmp(w + 8, "optin") == 0)
			r->consent = POLICY_CONSENT_OPTIN;
		else if (strcmp(w + 8, "optout") == 0)
			r->consent = POLICY_CONSENT_OPTOUT;
		else
			return policy_error(cx, "bad value '%s' for consent: "
			    "expected optin or optout", w + 8);
		return 0;
	}
	if (strncmp(w, "logins=", 7) == 0)
		return policy_logins(cx, r, w + 7);
	return policy_error(cx, "unknown word '%s'", w);
}

static int
policy_word(const struct policy_ctx *cx, struct policy_rule *r, int *off,
	    const char *w)
{
	size_t i;

	if (strcmp(w, "off") == 0) {
		if (*off)
			return policy_error(cx, "duplicate word 'off'");
		*off = 1;
		return 0;
	}
	for (i = 0; i < N_POLICY_WORDS; i++) {
		if (strcmp(w, policy_words[i].name) != 0)
			continue;
		if (r->words & policy_words[i].bit)
			return policy_error(cx, "duplicate word '%s'", w);
		r->words |= policy_words[i].bit;
		return 0;
	}
	return policy_setting(cx, r, w);
}

/* Everything after the pattern. */
static int
policy_words_parse(const struct policy_ctx *cx, struct policy_rule *r,
		   char *rest)
{
	char *w, *save;
	int off = 0;

	for (w = strtok_r(rest, " \t\r", &save); w != NULL;
	    w = strtok_r(NULL, " \t\r", &save))
		if (policy_word(cx, r, &off, w) == -1)
			return -1;
	if (off && (r->words != 0 || r->max_recipients != 0 ||
	    r->notify != NULL || r->notify_mail || r->logins != NULL ||
	    r->digest != POLICY_DIGEST_NONE ||
	    r->consent != POLICY_CONSENT_UNSET))
		return policy_error(cx, "'off' cannot be combined with other "
		    "words");
	if (!off && r->words == 0)
		return policy_error(cx, "no tracking word for '%s': expected "
		    "opens, clicks, text-clicks, footer, receipt or off",
		    r->pattern);
	/* The recipient is always told. */
	if (r->words & POLICY_TRACKING)
		r->words |= POLICY_FOOTER;
	return 0;
}

static const struct policy_rule *
policy_find(const struct policy *p, const char *pattern)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		if (strcmp(p->rules[i].pattern, pattern) == 0)
			return &p->rules[i];
	return NULL;
}

/* The pattern in the canonical form of address.h, so that it matches the
 * canonical addresses policy_lookup compares (a domain as its A-label). */
static char *
policy_pattern_canonical(const char *pat)
{
	char *dom, *out;
	size_t skip;

	if (strcmp(pat, "*") == 0)
		return strdup(pat);
	if (pat[0] != '@')
		return address_canonical(pat);
	skip = pat[1] == '.' ? 2 : 1;
	if ((dom = address_domain_canonical(pat + skip)) == NULL)
		return NULL;
	if ((out = malloc(skip + strlen(dom) + 1)) != NULL) {
		memcpy(out, pat, skip);
		strcpy(out + skip, dom);
	}
	free(dom);
	return out;
}

static int
policy_line(const struct policy_ctx *cx, struct policy *p, char *line)
{
	struct policy_rule r, *nr;
	const struct policy_rule *dup;
	char *pat, *rest, *canon;

	pat = line;
	rest = pat + strcspn(pat, " \t\r");
	if (*rest != '\0')
		*rest++ = '\0';
	policy_lower(pat);
	if (!policy_pattern_ok(pat))
		return policy_error(cx, "bad pattern '%s': expected "
		    "local@domain, @domain, @.domain or *", pat);
	if (rest[strspn(rest, " \t\r")] == '\0')
		return policy_error(cx, "missing words after '%s'", pat);
	if ((canon = policy_pattern_canonical(pat)) == NULL)
		return policy_error(cx, "out of memory");
	if ((dup = policy_find(p, canon)) != NULL) {
		policy_error(cx, "duplicate pattern '%s' (first at line %d%s%s)",
		    pat, dup->line, strcmp(canon, pat) != 0 ? ", both are " : "",
		    strcmp(canon, pat) != 0 ? canon : "");
		free(canon);
		return -1;
	}
	memset(&r, 0, sizeof(r));
	r.line = cx->line;
	r.pattern = canon;
	nr = NULL;
	if (policy_words_parse(cx, &r, rest) == -1 ||
	    (nr = reallocarray(p->rules, p->n + 1, sizeof(*nr))) == NULL) {
		free(r.pattern);
		free(r.notify);
		policy_logins_free(&r);
		return nr == NULL && (cx->errlen == 0 || cx->err[0] == '\0') ?
		    policy_error(cx, "out of memory") : -1;
	}
	p->rules = nr;
	p->rules[p->n++] = r;
	return 0;
}

static int
policy_parse_text(struct policy_ctx *cx, struct policy *p, const char *text)
{
	const char *s = text, *nl, *b;
	char *line;
	int rc = 0;

	while (*s != '\0' && rc == 0) {
		nl = s + strcspn(s, "\n");
		cx->line++;
		for (b = s; b < nl && isspace((unsigned char)*b); b++)
			;
		if (b < nl && *b != '#') {
			if ((line = strndup(b, (size_t)(nl - b))) == NULL)
				return policy_error(cx, "out of memory");
			rc = policy_line(cx, p, line);
			free(line);
		}
		s = *nl != '\0' ? nl + 1 : nl;
	}
	return rc;
}

int
policy_parse(const char *name, const char *text, struct policy *p,
	     char *err, size_t errlen)
{
	struct policy_ctx cx;

	memset(p, 0, sizeof(*p));
	cx.name = name;
	cx.line = 0;
	cx.err = err;
	cx.errlen = errlen;
	if (errlen > 0)
		err[0] = '\0';
	if (policy_parse_text(&cx, p, text) == -1 ||
	    (p->path = strdup(name)) == NULL) {
		if (errlen > 0 && err[0] == '\0') {
			cx.line = 0;
			policy_error(&cx, "out of memory");
		}
		policy_free(p);
		return -1;
	}
	return 0;
}

int
policy_load(const char *path, struct policy *p, char *err, size_t errlen)
{
	struct policy_ctx cx = { path, 0, err, errlen };
	struct mbuf text;
	int fd, rc, e;

	memset(p, 0, sizeof(*p));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return policy_error(&cx, "cannot open: %s", strerror(errno));
	mbuf_init(&text);
	rc = mbuf_read_fd(&text, fd, POLICY_FILE_MAX);
	e = errno;
	close(fd);
	if (rc == -1)
		rc = policy_error(&cx, "cannot read: %s",
		    e == EFBIG ? "file too large" : strerror(e));
	else if (text.data != NULL && memchr(text.data, '\0', text.len) != NULL)
		rc = policy_error(&cx, "NUL byte in file");
	else
		rc = policy_parse(path, text.data ? text.data : "", p, err,
		    errlen);
	mbuf_free(&text);
	return rc;
}

void
policy_free(struct policy *p)
{
	size_t i;

	for (i = 0; i < p->n; i++) {
		free(p->rules[i].pattern);
		free(p->rules[i].notify);
		policy_logins_free(&p->rules[i]);
	}
	free(p->rules);
	free(p->path);
	memset(p, 0, sizeof(*p));
}

/* Most specific first: the address, @domain, @.domain and its parents, *. */
const struct policy_rule *
policy_lookup(const struct policy *p, const char *address)
{
	const struct policy_rule *r = NULL;
	char *addr, *at, *d, *cand;
	size_t dlen;

	/* Out of memory means off: never track on a doubt. */
	if (p == NULL || address == NULL ||
	    (addr = address_canonical(address)) == NULL)
		return NULL;
	if (*addr == '\0') {	/* the null sender <> */
		free(addr);
		return NULL;
	}
	r = policy_find(p, addr);
	at = strrchr(addr, '@');
	if (r == NULL && at != NULL && at[1] != '\0') {
		r = policy_find(p, at);
		dlen = strlen(at + 1);
		if ((cand = malloc(dlen + 3)) == NULL) {
			free(addr);
			return NULL;
		}
		for (d = at + 1; r == NULL && d != NULL && *d != '\0';
		    d = strchr(d, '.') ? strchr(d, '.') + 1 : NULL) {
			snprintf(cand, dlen + 3, "@.%s", d);
			r = policy_find(p, cand);
		}
		free(cand);
	}
	if (r == NULL)
		r = policy_find(p, "*");
	free(addr);
	return r;
}

/* a and b (canonical) name the same login: equal, or b has no '@' and is
 * a's local part. */
static int
policy_login_same(const char *a, const char *b)
{
	const char *at = strrchr(a, '@');

	if (strcmp(a, b) == 0)
		return 1;
	return at != NULL && strchr(b, '@') == NULL && strlen(b) == (size_t)(at - a) &&
	    memcmp(a, b, (size_t)(at - a)) == 0;
}

int
policy_login_allowed(const struct policy_rule *r, const char *sender, const char *login)
{
	char *s, *l;
	int ok = 0;

	if (login == NULL || *login == '\0')
		return 1;
	s = address_canonical(sender);
	l = address_canonical(login);
	if (s != NULL && l != NULL) {
		ok = policy_login_same(s, l);
		for (size_t i = 0; !ok && r != NULL && i < r->n_logins; i++)
			ok = strcmp(r->logins[i], "*") == 0 || strcmp(r->logins[i], l) == 0;
	}
	free(s);
	free(l);
	return ok;
}

const char *
policy_digest_name(enum policy_digest d)
{
	return d == POLICY_DIGEST_DAILY ? "daily" : d == POLICY_DIGEST_WEEKLY ? "weekly" : NULL;
}

const char *
policy_consent_name(enum policy_consent c)
{
	return c == POLICY_CONSENT_OPTIN ? "optin" : "optout";
}

void
policy_words_str(unsigned words, char *out, size_t outlen)
{
	size_t i, len = 0;

	if (outlen == 0)
		return;
	out[0] = '\0';
	if (words == 0) {
		snprintf(out, outlen, "off");
		return;
	}
	for (i = 0; i < N_POLICY_WORDS; i++) {
		if (!(words & policy_words[i].bit))
			continue;
		snprintf(out + len, outlen - len, "%s%s", len ? " " : "",
		    policy_words[i].name);
		len = strlen(out);
	}
}
