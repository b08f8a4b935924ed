/* mime: a whole-message MIME parser over byte ranges. Each part keeps the
 * offsets of its header block and body in the original message, so that a
 * rewrite can splice new bytes into exactly one part and leave every other
 * octet where it was. Limits are checked as the tree is built. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "mime.h"

static size_t
line_end(const char *msg, size_t pos, size_t end)
{
	const char *nl = memchr(msg + pos, '\n', end - pos);
	return nl ? (size_t)(nl - msg) + 1 : end;
}

/* True when [pos, end) begins with an empty line; *after is past it. */
static bool
is_empty_line(const char *msg, size_t pos, size_t end, size_t *after)
{
	if (pos < end && msg[pos] == '\n') {
		*after = pos + 1;
		return true;
	}
	if (pos + 1 < end && msg[pos] == '\r' && msg[pos + 1] == '\n') {
		*after = pos + 2;
		return true;
	}
	return false;
}

size_t
mime_next_header(const char *msg, size_t pos, size_t end,
		 size_t *name, size_t *name_len, size_t *value, size_t *value_len)
{
	size_t after;

	if (pos >= end || is_empty_line(msg, pos, end, &after))
		return 0;
	size_t le = line_end(msg, pos, end);
	const char *colon = memchr(msg + pos, ':', le - pos);
	if (colon == NULL)
		return 0;
	*name = pos;
	*name_len = (size_t)(colon - msg) - pos;
	*value = (size_t)(colon - msg) + 1;
	/* Continuation lines start with a blank. */
	while (le < end && (msg[le] == ' ' || msg[le] == '\t'))
		le = line_end(msg, le, end);
	size_t vend = le;
	while (vend > *value && (msg[vend - 1] == '\n' || msg[vend - 1] == '\r'))
		vend--;
	*value_len = vend - *value;
	return le;
}

/* Copies a header value into out, unfolded and trimmed. */
static void
unfold(const char *v, size_t len, char *out, size_t outlen)
{
	size_t o = 0;
	bool blank = false;

	for (size_t i = 0; i < len && o + 1 < outlen; i++) {
		char c = v[i];
		if (c == '\r' || c == '\n')
			continue;
		if (c == ' ' || c == '\t') {
			blank = true;
			continue;
		}
		if (blank && o > 0)
			out[o++] = ' ';
		blank = false;
		if (o + 1 < outlen)
			out[o++] = c;
	}
	out[o] = '\0';
}

/* Copies at most dstlen - 1 octets: values longer than our fields are
 * either irrelevant to us or caught by an explicit limit. */
static void
copy_field(char *dst, size_t dstlen, const char *src)
{
	size_t n = strnlen(src, dstlen - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

static const char *
skip_cfws(const char *s)
{
	for (;;) {
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s != '(')
			return s;
		int depth = 0;
		do {
			if (*s == '\\' && s[1])
				s++;
			else if (*s == '(')
				depth++;
			else if (*s == ')')
				depth--;
			s++;
		} while (*s && depth > 0);
	}
}

static bool
is_tspecial(int c)
{
	return c <= ' ' || c >= 127 || strchr("()<>@,;:\\\"/[]?=", c) != NULL;
}

/* Reads a token into out (lower-cased when fold); returns the end. */
static const char *
read_token(const char *s, char *out, size_t outlen, bool fold, bool *too_long)
{
	size_t o = 0;

	while (*s && !is_tspecial((unsigned char)*s)) {
		if (o + 1 < outlen)
			out[o++] = fold ? (char)tolower((unsigned char)*s) : *s;
		else if (too_long)
			*too_long = true;
		s++;
	}
	out[o] = '\0';
	return s;
}

static const char *
read_value(const char *s, char *out, size_t outlen, bool *too_long)
{
	size_t o = 0;

	if (*s != '"')
		return read_token(s, out, outlen, false, too_long);
	for (s++; *s && *s != '"'; s++) {
		if (*s == '\\' && s[1])
			s++;
		if (o + 1 < outlen)
			out[o++] = *s;
		else if (too_long)
			*too_long = true;
	}
	out[o] = '\0';
	return *s == '"' ? s + 1 : s;
}

struct ct_params {
	char *charset, *boundary, *start, *smime;
	size_t charset_len, boundary_len, start_len, smime_len;
	bool boundary_too_long;
	bool *flowed, *delsp;
};

/* Parses ";name=value" parameters after a Content-Type or disposition. */
static void
parse_params(const char *s, struct ct_params *p)
{
	char name[64], value[256];

	for (;;) {
		s = skip_cfws(s);
		if (*s != ';')
			return;
		s = skip_cfws(s + 1);
		s = read_token(s, name, sizeof(name), true, NULL);
		s = skip_cfws(s);
		if (*s != '=')
			continue;
		s = skip_cfws(s + 1);
		bool too_long = false;
		s = read_value(s, value, sizeof(value), &too_long);
		if (strcmp(name, "charset") == 0 && p->charset) {
			copy_field(p->charset, p->charset_len, value);
		} else if (strcmp(name, "boundary") == 0 && p->boundary) {
			if (too_long || strlen(value) > MIME_MAX_BOUNDARY)
				p->boundary_too_long = true;
			else
				copy_field(p->boundary, p->boundary_len, value);
		} else if (strcmp(name, "start") == 0 && p->start) {
			const char *v = value;
			size_t n = strlen(v);
			if (n >= 2 && v[0] == '<' && v[n - 1] == '>')
				v++, n -= 2;
			snprintf(p->start, p->start_len, "%.*s", (int)n, v);
		} else if (strcmp(name, "smime-type") == 0 && p->smime) {
			for (char *c = value; *c; c++)
				*c = (char)tolower((unsigned char)*c);
			copy_field(p->smime, p->smime_len, value);
		} else if (strcmp(name, "format") == 0 && p->flowed) {
			*p->flowed = strcasecmp(value, "flowed") == 0;
		} else if (strcmp(name, "delsp") == 0 && p->delsp) {
			*p->delsp = strcasecmp(value, "yes") == 0;
		}
	}
}

static int
fail(struct mime_message *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int
fail(struct mime_message *m, const char *fmt, ...)
{
	va_list ap;

	if (m->reason[0] == '\0') {
		va_start(ap, fmt);
		vsnprintf(m->reason, sizeof(m->reason), fmt, ap);
		va_end(ap);
	}
	return -1;
}

static int
new_part(struct mime_message *m, int parent, int depth)
{
	if (m->n >= MIME_MAX_PARTS)
		return fail(m, "mime: more than %d parts", MIME_MAX_PARTS);
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 16;
		struct mime_part *p = realloc(m->parts, cap * sizeof(*p));
		if (p == NULL)
			return fail(m, "out of memory");
		m->parts = p;
		m->cap = cap;
	}
	struct mime_part *p = &m->parts[m->n];
	memset(p, 0, sizeof(*p));
	p->parent = parent;
	p->first_child = p->next_sibling = -1;
	p->depth = depth;
	strcpy(p->type, "text");
	strcpy(p->subtype, "plain");
	return (int)m->n++;
}

static bool
name_is(const char *msg, size_t name, size_t len, const char *want)
{
	return strlen(want) == len && strncasecmp(msg + name, want, len) == 0;
}

static int
parse_content_type(struct mime_message *m, struct mime_part *p, const char *v,
		   bool in_digest)
{
	char type[64], subtype[64];
	const char *s = skip_cfws(v);

	(void)in_digest;
	s = read_token(s, type, sizeof(type), true, NULL);
	s = skip_cfws(s);
	if (type[0] == '\0' || *s != '/')
		return fail(m, "mime: malformed Content-Type \"%.60s\"", v);
	s = read_token(skip_cfws(s + 1), subtype, sizeof(subtype), true, NULL);
	if (subtype[0] == '\0')
		return fail(m, "mime: malformed Content-Type \"%.60s\"", v);
	copy_field(p->type, sizeof(p->type), type);
	copy_field(p->subtype, sizeof(p->subtype), subtype);
	struct ct_params params = {
		p->charset, p->boundary, p->start_id, p->smime_type,
		sizeof(p->charset), sizeof(p->boundary), sizeof(p->start_id),
		sizeof(p->smime_type), false, &p->flowed, &p->delsp,
	};
	parse_params(s, &params);
	if (params.boundary_too_long && strcmp(p->type, "multipart") == 0)
		return fail(m, "mime: boundary longer than %d octets", MIME_MAX_BOUNDARY);
	return 0;
}

/* Reads the header block of part p starting at pos; sets hdr_end and
 * body_start, and the fields that matter to us. */
static int
parse_headers(struct mime_message *m, int idx, size_t pos, size_t end, bool top,
	      bool in_digest)
{
	const char *msg = m->msg;
	size_t name, name_len, value, value_len, next;
	char buf[1024];
	bool seen_ct = false;

	m->parts[idx].start = pos;
	if (in_digest) {
		strcpy(m->parts[idx].type, "message");
		strcpy(m->parts[idx].subtype, "rfc822");
	}
	while ((next = mime_next_header(msg, pos, end, &name, &name_len, &value, &value_len)) != 0) {
		struct mime_part *p = &m->parts[idx];
		if (next - p->start > (top ? MIME_MAX_TOP_HEADER : MIME_MAX_PART_HEADER))
			return fail(m, "mime: header block larger than %d octets",
				    top ? MIME_MAX_TOP_HEADER : MIME_MAX_PART_HEADER);
		for (size_t i = name; i < name + name_len; i++)
			if (msg[i] <= ' ' || msg[i] >= 127)
				return fail(m, "mime: malformed header field name");
		if (name_len == 0)
			return fail(m, "mime: empty header field name");
		if (name_is(msg, name, name_len, "content-type")) {
			if (seen_ct)
				return fail(m, "mime: more than one Content-Type");
			seen_ct = true;
			unfold(msg + value, value_len, buf, sizeof(buf));
			if (parse_content_type(m, p, buf, in_digest) < 0)
				return -1;
		} else if (name_is(msg, name, name_len, "content-transfer-encoding")) {
			/* Readers disagree on which of two counts, and a rewrite
			 * could change the one they do not read. */
			if (p->has_cte)
				return fail(m, "mime: more than one Content-Transfer-Encoding");
			unfold(msg + value, value_len, buf, sizeof(buf));
			p->cte = cte_from_name(buf, strlen(buf));
			copy_field(p->cte_raw, sizeof(p->cte_raw), buf);
			p->has_cte = true;
		} else if (name_is(msg, name, name_len, "content-disposition")) {
			unfold(msg + value, value_len, buf, sizeof(buf));
			char token[32];
			read_token(skip_cfws(buf), token, sizeof(token), true, NULL);
			p->attachment = strcmp(token, "attachment") == 0;
		} else if (name_is(msg, name, name_len, "content-id")) {
			unfold(msg + value, value_len, buf, sizeof(buf));
			char *s = buf;
			size_t n = strlen(s);
			if (n >= 2 && s[0] == '<' && s[n - 1] == '>')
				s++, n -= 2;
			snprintf(p->content_id, sizeof(p->content_id), "%.*s", (int)n, s);
		} else if (top && name_is(msg, name, name_len, "dkim-signature")) {
			m->has_dkim_signature = true;
		} else if (top && name_is(msg, name, name_len, "list-unsubscribe") &&
			   m->list_unsubscribe == NULL) {
			char *lu = malloc(value_len + 1);
			if (lu == NULL)
				return fail(m, "out of memory");
			unfold(msg + value, value_len, lu, value_len + 1);
			m->list_unsubscribe = lu;
		}
		pos = next;
	}
	struct mime_part *p = &m->parts[idx];
	p->hdr_end = pos;
	size_t after;
	if (is_empty_line(msg, pos, end, &after)) {
		p->body_start = after;
	} else if (pos < end) {
		/* A line that is neither a field nor the empty line. */
		return fail(m, "mime: malformed header line");
	} else {
		p->body_start = end;
	}
	p->body_end = end;
	return 0;
}

/* Finds the next delimiter line "--boundary" at or after pos, at the start
 * of a line. Returns its offset or (size_t)-1; *close tells "--boundary--",
 * *next is the offset after the delimiter line. */
static size_t
find_delimiter(const char *msg, size_t pos, size_t end, const char *boundary,
	       size_t blen, bool *close, size_t *next)
{
	while (pos + 2 + blen <= end) {
		const char *hit = memmem(msg + pos, end - pos, boundary, blen);
		if (hit == NULL)
			return (size_t)-1;
		size_t b = (size_t)(hit - msg);
		pos = b + 1;
		if (b < 2 || msg[b - 1] != '-' || msg[b - 2] != '-')
			continue;
		size_t d = b - 2;
		if (d != 0 && msg[d - 1] != '\n')
			continue;
		size_t t = b + blen;
		*close = false;
		if (t + 1 < end + 1 && t + 2 <= end && msg[t] == '-' && msg[t + 1] == '-') {
			*close = true;
			t += 2;
		}
		/* Only transport padding may follow on the line. */
		while (t < end && (msg[t] == ' ' || msg[t] == '\t'))
			t++;
		if (t < end && msg[t] == '\r')
			t++;
		if (t < end && msg[t] != '\n')
			continue;
		*next = t < end ? t + 1 : end;
		return d;
	}
	return (size_t)-1;
}

/* The line break before a delimiter belongs to the delimiter. */
static size_t
strip_eol_before(const char *msg, size_t start, size_t d)
{
	if (d > start && msg[d - 1] == '\n') {
		d--;
		if (d > start && msg[d - 1] == '\r')
			d--;
	}
	return d;
}

static int parse_entity(struct mime_message *m, int parent, size_t pos, size_t end,
			int depth, bool in_digest);

static int
parse_multipart(struct mime_message *m, int idx)
{
	struct mime_part *p = &m->parts[idx];
	char boundary[MIME_MAX_BOUNDARY + 1];
	size_t blen, end = p->body_end, next, pos;
	bool close = false, in_digest = strcmp(p->subtype, "digest") == 0;
	int depth = p->depth, last = -1;

	if (p->boundary[0] == '\0')
		return fail(m, "mime: multipart/%s without a boundary", p->subtype);
	copy_field(boundary, sizeof(boundary), p->boundary);
	blen = strlen(boundary);
	if (depth + 1 > MIME_MAX_DEPTH)
		return fail(m, "mime: nesting deeper than %d levels", MIME_MAX_DEPTH);
	size_t d = find_delimiter(m->msg, p->body_start, end, boundary, blen, &close, &next);
	if (d == (size_t)-1)
		return fail(m, "mime: boundary \"%.40s\" not found", boundary);
	while (!close) {
		pos = next;
		size_t d2 = find_delimiter(m->msg, pos, end, boundary, blen, &close, &next);
		if (d2 == (size_t)-1)
			return fail(m, "mime: missing closing boundary \"%.40s\"", boundary);
		size_t part_end = strip_eol_before(m->msg, pos, d2);
		int child = (int)m->n;
		if (parse_entity(m, idx, pos, part_end, depth + 1, in_digest) < 0)
			return -1;
		if (last < 0)
			m->parts[idx].first_child = child;
		else
			m->parts[last].next_sibling = child;
		last = child;
	}
	return 0;
}

static int
parse_entity(struct mime_message *m, int parent, size_t pos, size_t end, int depth,
	     bool in_digest)
{
	int idx = new_part(m, parent, depth);

	if (idx < 0)
		return -1;
	if (parse_headers(m, idx, pos, end, parent < 0, in_digest) < 0)
		return -1;
	if (strcmp(m->parts[idx].type, "multipart") == 0)
		return parse_multipart(m, idx);
	/* message/rfc822 is kept whole: we never edit inside it. */
	return 0;
}

int
mime_parse(const char *msg, size_t len, struct mime_message *m)
{
	memset(m, 0, sizeof(*m));
	m->msg = msg;
	m->len = len;
	size_t le = line_end(msg, 0, len);
	m->eol = (le >= 2 && msg[le - 1] == '\n' && msg[le - 2] == '\r') ? "\r\n" : "\n";
	if (memchr(msg, '\0', len) != NULL)
		return fail(m, "mime: message contains NUL octets");
	return parse_entity(m, -1, 0, len, 0, false);
}

void
mime_free(struct mime_message *m)
{
	free(m->parts);
	free(m->list_unsubscribe);
	memset(m, 0, sizeof(*m));
}
