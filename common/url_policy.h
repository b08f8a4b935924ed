/* common/url_policy: the one rule for where mailbeacon sends a secret or
 * an event (webhooks, sync's bearer token): https:// anywhere, plain
 * http:// only to a loopback address written as a literal. */
#ifndef MB_URL_POLICY_H
#define MB_URL_POLICY_H

enum url_policy {
	URL_POLICY_HTTPS,		/* allowed: TLS, verified by the caller */
	URL_POLICY_LOOPBACK_HTTP,	/* allowed: http:// to 127.0.0.0/8 or [::1] */
	URL_POLICY_NOT_HTTP,		/* refused: not an http(s) URL libcurl parses */
	URL_POLICY_PLAIN_REMOTE,	/* refused: http:// to any other host */
};

/* What the rule says of url (as libcurl reads it: the same parser that
 * connects). "localhost" and other names are not loopback: a name can be
 * made to resolve elsewhere (hosts file, resolver), a literal cannot. */
enum url_policy url_policy_check(const char *url);

#endif
