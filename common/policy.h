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

struct policy_rule {
	char *pattern;		/* lower-cased as written: addr, @dom, @.dom, * */
	unsigned words;		/* 0 means off */
	unsigned max_recipients;	/* 0 = no limit */
	char *notify;		/* webhook URL or NULL */
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
/* The rule that applies to the address (case-insensitive), or NULL when
 * none does (meaning off). */
const struct policy_rule *policy_lookup(const struct policy *p, const char *address);
/* "opens clicks footer" style text of the words; "off" for 0. */
void policy_words_str(unsigned words, char *out, size_t outlen);

#endif
