/* policy: mailbeacon-policy(5), the sender opt-in rules. One rule a line,
 * "PATTERN WORD...", where the most specific pattern wins: the address, then
 * @domain, then @.parent.domain (longest first), then *. Default: off. */
#ifndef MB_POLICY_H
#define MB_POLICY_H
#include <stddef.h>

#define POLICY_OPENS		0x01u
#define POLICY_CLICKS		0x02u
#define POLICY_TEXT_CLICKS	0x04u
#define POLICY_FOOTER		0x08u
#define POLICY_RECEIPT		0x10u

/* digest=: how often `mailbeacon digest` mails the sender their report. */
enum policy_digest { POLICY_DIGEST_NONE, POLICY_DIGEST_DAILY, POLICY_DIGEST_WEEKLY };
/* consent=: optout (the default, also when unset) tracks until the
 * recipient says no; optin asks each recipient first and tracks only mail
 * whose every recipient said yes. */
enum policy_consent { POLICY_CONSENT_UNSET, POLICY_CONSENT_OPTOUT, POLICY_CONSENT_OPTIN };

struct policy_rule {
	char *pattern;		/* canonical (address.h): addr, @dom, @.dom, * */
	unsigned words;		/* 0 means off */
	unsigned max_recipients;	/* 0 = no limit */
	char *notify;		/* webhook URL or NULL */
	int notify_mail;	/* notify=mail: a "Read:" mail to the sender */
	enum policy_digest digest;
	enum policy_consent consent;
	char **logins;		/* logins=: canonical SASL logins that may also
				 * send as a matching sender; "*" is any */
	size_t n_logins;
	int line;
};

struct policy {
	char *path;
	struct policy_rule *rules;
	size_t n;
};

/* Errors are "FILE:LINE: reason"; on error p is left empty. Any word that
 * tracks (opens, clicks, text-clicks, receipt) implies footer. */
int policy_load(const char *path, struct policy *p, char *err, size_t errlen);
int policy_parse(const char *name, const char *text, struct policy *p,
		 char *err, size_t errlen);
void policy_free(struct policy *p);
/* The rule that applies to the address (compared in its canonical form,
 * address_canonical()), or NULL when none does (meaning off). */
const struct policy_rule *policy_lookup(const struct policy *p, const char *address);
/* Whether the SASL login may send as sender (the envelope sender, whose
 * rule r is): a login with '@' must be the sender, a login without '@' the
 * sender's local part (both canonical), or the login is in r's logins=
 * (or that is "*"). No login (NULL or empty) is true. False when out of
 * memory: never track on a doubt. */
int policy_login_allowed(const struct policy_rule *r, const char *sender, const char *login);
/* "opens clicks footer" style text of the words; "off" for 0. */
void policy_words_str(unsigned words, char *out, size_t outlen);
/* "daily", "weekly", or NULL for POLICY_DIGEST_NONE. */
const char *policy_digest_name(enum policy_digest d);
/* "optin", or "optout" (the default: POLICY_CONSENT_UNSET too). */
const char *policy_consent_name(enum policy_consent c);

#endif
