/* mailbeacon policy check: prints the decision the sender policy makes for
 * an address and the rule (file and line) that made it, so a postmaster can
 * see why a sender is or is not tracked. The address is matched in its
 * canonical form (address.h), as the milter matches it. */
#include <stdio.h>
#include <string.h>
#include "admin.h"
#include "policy.h"

int
cmd_policy(struct admin_env *env, int argc, char **argv)
{
	char words[128];

	if (argc != 3 || strcmp(argv[1], "check") != 0) {
		fprintf(stderr, "usage: mailbeacon policy check ADDRESS\n");
		return EXIT_USAGE;
	}
	const struct policy_rule *r = policy_lookup(env->policy, argv[2]);
	policy_words_str(r ? r->words : 0, words, sizeof(words));
	if (r == NULL) {
		printf("%s: off (no rule matches; the default is off)\n", argv[2]);
		return 0;
	}
	printf("%s: %s", argv[2], words);
	if (r->max_recipients)
		printf(" max_recipients=%u", r->max_recipients);
	if (r->notify)
		printf(" notify=%s", r->notify);
	if (r->notify_mail)
		printf(" notify=mail");
	if (r->digest != POLICY_DIGEST_NONE)
		printf(" digest=%s", policy_digest_name(r->digest));
	if (r->consent != POLICY_CONSENT_UNSET)	/* as written; unset is optout */
		printf(" consent=%s", policy_consent_name(r->consent));
	for (size_t i = 0; i < r->n_logins; i++)
		printf("%s%s", i == 0 ? " logins=" : ",", r->logins[i]);
	printf(" (%s:%d: %s)\n", env->policy->path, r->line, r->pattern);
	return 0;
}
