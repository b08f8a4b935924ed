/* footer: the transparency notice every tracked message carries. Templates
 * name placeholders in braces; values are HTML-escaped in HTML and stripped
 * of control characters in text, so a sender address cannot inject markup
 * or extra lines. */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "charset.h"
#include "footer.h"
#include "links.h"
#include "policy.h"
#include "text.h"
#include "textenc.h"

const char footer_default_html[] =
    "<div style=\"margin:24px 0 0;padding:8px 0 0;border-top:1px solid #ccc;"
    "font:12px/1.4 sans-serif;color:#666\">"
    "This message from {sender} is tracked: {tracked} are recorded, without "
    "your address, full IP address or device details. "
    "<a href=\"{optout_url}\" style=\"color:#666\">Stop tracking me</a> &middot; "
    "<a href=\"{privacy_url}\" style=\"color:#666\">What is recorded</a></div>";

const char footer_default_text[] =
    "\n-- \n"
    "This message from {sender} is tracked: {tracked} are recorded,\n"
    "without your address, full IP address or device details.\n"
    "Stop tracking me: {optout_url}\n"
    "What is recorded: {privacy_url}\n";

/* consent=optin's ask footer: no tracking, a request in plain words. */
const char footer_default_ask_html[] =
    "<div style=\"margin:24px 0 0;padding:8px 0 0;border-top:1px solid #ccc;"
    "font:12px/1.4 sans-serif;color:#666\">"
    "{sender} would like to know when you read this message and which of its links "
    "you open. Nothing is recorded unless you allow it. "
    "<a href=\"{consent_url}\" style=\"color:#666\">Allow</a> &middot; "
    "<a href=\"{privacy_url}\" style=\"color:#666\">What is recorded</a></div>";

const char footer_default_ask_text[] =
    "\n-- \n"
    "{sender} would like to know when you read this message and which\n"
    "of its links you open. Nothing is recorded unless you allow it.\n"
    "Allow: {consent_url}\n"
    "What is recorded: {privacy_url}\n";

static const char *const placeholders[] = {
	"sender", "optout_url", "privacy_url", "tracked", "consent_url",
};

const char *
footer_tracked_phrase(unsigned words, enum footer_location loc)
{
	static const char *const phrases[3][3] = {
		{ "opens and link clicks",
		  "opens and link clicks (and the country they come from)",
		  "opens and link clicks (and the city and country they come from)" },
		{ "opens", "opens (and the country they come from)",
		  "opens (and the city and country they come from)" },
		{ "link clicks", "link clicks (and the country they come from)",
		  "link clicks (and the city and country they come from)" },
	};
	bool opens = words & POLICY_OPENS;
	bool clicks = words & (POLICY_CLICKS | POLICY_TEXT_CLICKS);
	unsigned l = loc <= FOOTER_CITY ? (unsigned)loc : FOOTER_NO_LOCATION;

	if (opens && clicks)
		return phrases[0][l];
	if (opens)
		return phrases[1][l];
	if (clicks)
		return phrases[2][l];
	return "no events";
}

static const char *
var_value(const struct footer_vars *v, const char *name, size_t len)
{
	const char *vals[] = { v->sender, v->optout_url, v->privacy_url, v->tracked,
			       v->consent_url };

	for (size_t i = 0; i < sizeof(placeholders) / sizeof(*placeholders); i++)
		if (strlen(placeholders[i]) == len && strncmp(placeholders[i], name, len) == 0)
			return vals[i] ? vals[i] : "";
	return NULL;
}

static int
append_ascii_html(struct mbuf *out, const char *s, size_t len)
{
	for (size_t i = 0; i < len;) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x80) {	/* a run of ASCII at once: footers render per message */
			size_t n = 1;
			while (i + n < len && (unsigned char)s[i + n] < 0x80)
				n++;
			mbuf_append(out, s + i, n);
			i += n;
			continue;
		}
		unsigned long cp;
		size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
		cp = c & (0x3f >> (n - 1));
		for (size_t k = 1; k < n && i + k < len; k++)
			cp = cp << 6 | ((unsigned char)s[i + k] & 0x3f);
		mbuf_printf(out, "&#x%lX;", cp);
		i += n;
	}
	return out->failed ? -1 : 0;
}

int
footer_render(const char *tmpl, bool html, const struct footer_vars *v, struct mbuf *out)
{
	struct mbuf tmp;

	mbuf_init(&tmp);
	for (const char *p = tmpl; *p;) {
		const char *close;
		const char *val;
		if (*p == '{' && (close = strchr(p, '}')) != NULL &&
		    (val = var_value(v, p + 1, (size_t)(close - p - 1))) != NULL) {
			if (html) {
				text_html_escape(TEXT_TO_MBUF(&tmp), val, strlen(val));
			} else {
				for (const char *c = val; *c; c++)
					if ((unsigned char)*c >= ' ' && *c != 0x7f)
						mbuf_putc(&tmp, (unsigned char)*c);
			}
			p = close + 1;
			continue;
		}
		/* This octet and the text up to the next '{', at once. */
		const char *next = strchr(p + 1, '{');
		size_t n = next ? (size_t)(next - p) : strlen(p);
		mbuf_append(&tmp, p, n);
		p += n;
	}
	int rc = tmp.failed ? -1 : 0;
	if (rc == 0 && tmp.len > 0)
		rc = html ? append_ascii_html(out, tmp.data, tmp.len)
			  : mbuf_append(out, tmp.data, tmp.len);
	mbuf_free(&tmp);
	return rc;
}

/* A template of either footer: UTF-8, known placeholders, the one link
 * its footer must have and not the other's (an ask footer tracks nothing,
 * so it has no opt-out; a tracked one asks nothing). */
static int
footer_check_for(const char *tmpl, const char *must, const char *never, char *err,
		 size_t errlen)
{
	struct footer_vars v = { 0 };

	if (!utf8_valid(tmpl, strlen(tmpl))) {
		snprintf(err, errlen, "template is not UTF-8");
		return -1;
	}
	for (const char *p = tmpl; (p = strchr(p, '{')) != NULL; p++) {
		const char *close = strchr(p, '}');
		size_t n = close ? (size_t)(close - p - 1) : 0;
		if (close == NULL || n == 0 || n > 32)
			continue;
		bool word = true;
		for (const char *c = p + 1; c < close; c++)
			if (!(*c == '_' || (*c >= 'a' && *c <= 'z')))
				word = false;
		if (word && var_value(&v, p + 1, n) == NULL) {
			snprintf(err, errlen, "unknown placeholder {%.*s}", (int)n, p + 1);
			return -1;
		}
	}
	if (strstr(tmpl, never) != NULL) {
		snprintf(err, errlen, "%s has no place in this footer", never);
		return -1;
	}
	if (strstr(tmpl, must) == NULL) {
		snprintf(err, errlen, "the template has no %s: %s", must,
			 strcmp(must, "{optout_url}") == 0 ? "recipients must be able to say no"
			 : "recipients must be able to say yes");
		return -1;
	}
	return 0;
}

int
footer_check(const char *tmpl, char *err, size_t errlen)
{
	return footer_check_for(tmpl, "{optout_url}", "{consent_url}", err, errlen);
}

int
footer_check_ask(const char *tmpl, char *err, size_t errlen)
{
	return footer_check_for(tmpl, "{consent_url}", "{optout_url}", err, errlen);
}

/* Short and without a URL, so that no reader takes it for a live link. */
const char footer_artefact_notice[] = "[earlier tracking link removed]";

size_t
footer_artefact_len(const char *beacon_url, const char *s, size_t n)
{
	static const char token_chars[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";
	size_t bl = strlen(beacon_url);

	while (bl > 0 && beacon_url[bl - 1] == '/')
		bl--;
	if (bl == 0 || n < bl + 3 || strncasecmp(s, beacon_url, bl) != 0 || s[bl] != '/' ||
	    strchr("oua", s[bl + 1]) == NULL || s[bl + 2] != '/')
		return 0;
	size_t p = bl + 3;
	while (p < n && s[p] != '\0' && strchr(token_chars, s[p]) != NULL)
		p++;
	return p;
}

int
footer_neutralise_text(const char *beacon_url, const char *charset, const char *in,
		       size_t len, struct mbuf *out, unsigned *n, char *err, size_t errlen)
{
	struct utf8_view view;
	struct mbuf notice;
	size_t done = 0;

	*n = 0;
	if (charset_view(charset, in, len, &view, err, errlen) < 0)
		return -1;
	mbuf_init(&notice);
	if (charset_from_utf8(charset, footer_artefact_notice, strlen(footer_artefact_notice),
			      &notice) < 0)
		mbuf_puts(&notice, "");
	/* URLs as the text editor finds them: one of ours inside a longer URL
	 * (".../x?next=https://beacon/u/...") is no link of its own. */
	for (size_t v = 0; v < view.len; v++) {
		size_t ul = text_url_at(view.text, view.len, v);
		if (ul == 0)
			continue;
		if (footer_artefact_len(beacon_url, view.text + v, ul) == 0) {
			v += ul - 1;
			continue;
		}
		size_t s = charset_view_orig(&view, v), e = charset_view_orig(&view, v + ul);
		mbuf_append(out, in + done, s - done);
		mbuf_append(out, notice.data ? notice.data : "", notice.len);
		done = e;
		v += ul - 1;
		(*n)++;
	}
	mbuf_append(out, in + done, len - done);
	mbuf_free(&notice);
	charset_view_free(&view);
	return out->failed ? -1 : 0;
}
