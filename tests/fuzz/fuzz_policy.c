/* fuzz_policy: libFuzzer target for policy_parse(). An error names the file
 * and leaves no rules; rules have lower-case patterns, tracking implies the
 * footer, and an address that is itself a pattern looks up its own rule. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "policy.h"
#include "undo.h"

#define NAME "fuzz-policy"
#define TRACKING (POLICY_OPENS | POLICY_CLICKS | POLICY_TEXT_CLICKS | POLICY_RECEIPT)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy p;
	char err[300] = "";
	char *text = malloc(size + 1);

	if (text == NULL)
		return 0;
	/* The parser takes a C string: text after a NUL is not seen. */
	memcpy(text, data, size);
	text[size] = '\0';
	if (policy_parse(NAME, text, &p, err, sizeof(err)) < 0) {
		if (strncmp(err, NAME ":", strlen(NAME ":")) != 0 || p.n != 0 || p.rules != NULL)
			fuzz_fail("policy", "an error without the file name, or with rules: %s", err);
		free(text);
		return 0;
	}
	for (size_t i = 0; i < p.n; i++) {
		const struct policy_rule *r = &p.rules[i];
		if (r->pattern == NULL || r->pattern[0] == '\0')
			fuzz_fail("policy", "rule %zu has no pattern", i);
		for (const char *c = r->pattern; *c; c++)
			if (isupper((unsigned char)*c))
				fuzz_fail("policy", "pattern '%s' is not lower case", r->pattern);
		if ((r->words & TRACKING) && !(r->words & POLICY_FOOTER))
			fuzz_fail("policy", "pattern '%s' tracks without the footer", r->pattern);
		if (r->pattern[0] != '@' && strcmp(r->pattern, "*") != 0) {
			const struct policy_rule *found = policy_lookup(&p, r->pattern);
			if (found != r)
				fuzz_fail("policy", "looking up '%s' finds %s", r->pattern,
					  found ? found->pattern : "nothing");
		}
		char words[80];
		policy_words_str(r->words, words, sizeof(words));
	}
	/* Lookups of the raw input as an address must not crash either. */
	policy_lookup(&p, text);
	policy_free(&p);
	free(text);
	return 0;
}
