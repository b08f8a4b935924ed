/* footer: the transparency notice every tracked message carries. Templates
 * name placeholders in braces; values are HTML-escaped in HTML and stripped
 * of control characters in text, so a sender address cannot inject markup
 * or extra lines. */
#include <stdio.h>
#include <string.h>
#include "charset.h"
#include "footer.h"
#include "links.h"
#include "policy.h"

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

static const char *const placeholders[] = {
	"sender", "optout_url", "privacy_url", "tracked",
};

const char *
footer_tracked_phrase(unsigned words)
{
	bool opens = words & POLICY_OPENS;
	bool clicks = words & (POLICY_CLICKS | POLICY_TEXT_CLICKS);

	if (opens && clicks)
		return "opens and link clicks";
	if (opens)
		return "opens";
	if (clicks)
		return "link clicks";
	return "no events";
}

static const char *
var_value(const struct footer_vars *v, const char *name, size_t len)
{
	const char *vals[] = { v->sender, v->optout_url, v->privacy_url, v->tracked };

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
		if (c < 0x80) {
			mbuf_putc(out, c);
			i++;
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
				html_escape(val, strlen(val), &tmp);
			} else {
				for (const char *c = val; *c; c++)
					if ((unsigned char)*c >= ' ' && *c != 0x7f)
						mbuf_putc(&tmp, (unsigned char)*c);
			}
			p = close + 1;
			continue;
		}
		mbuf_putc(&tmp, (unsigned char)*p++);
	}
	int rc = tmp.failed ? -1 : 0;
	if (rc == 0 && tmp.len > 0)
		rc = html ? append_ascii_html(out, tmp.data, tmp.len)
			  : mbuf_append(out, tmp.data, tmp.len);
	mbuf_free(&tmp);
	return rc;
}

int
footer_check(const char *tmpl, char *err, size_t errlen)
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
	if (strstr(tmpl, "{optout_url}") == NULL) {
		snprintf(err, errlen, "the template has no {optout_url}: recipients must be able to say no");
		return -1;
	}
	return 0;
}
