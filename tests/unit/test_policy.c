/* Unit tests of policy.c: which rule applies to a sender (most specific
 * wins, default off, bounces never tracked, every spelling of an address
 * alike), which SASL logins may send as a sender, and the error for each
 * kind of mistake in a policy file, with its line. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy.h"

static const char *rules =
    "# sender policy\n"
    "\n"
    "alice@example.com      opens clicks footer\n"
    "@sales.example.com     opens footer max_recipients=5 digest=weekly\n"
    "bob@example.com        off\n"
    "@.example.com          footer consent=optin\n"
    "@.corp.example.com     clicks notify=https://hooks.example.com/mb?x=1 consent=optout\n"
    "@EXAMPLE.org           digest=daily receipt\n"
    "  *                    text-clicks\n";

static struct policy pol;

static int
setup(void **state)
{
	char err[256];

	(void)state;
	if (policy_parse("policy", rules, &pol, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	policy_free(&pol);
	return 0;
}

static const char *
pattern_for(const char *addr)
{
	const struct policy_rule *r = policy_lookup(&pol, addr);

	return r ? r->pattern : NULL;
}

static void
test_parse(void **state)
{
	(void)state;
	assert_int_equal(pol.n, 7);
	assert_string_equal(pol.path, "policy");
	assert_string_equal(pol.rules[0].pattern, "alice@example.com");
	assert_int_equal(pol.rules[0].line, 3);
	assert_int_equal(pol.rules[0].words,
	    POLICY_OPENS | POLICY_CLICKS | POLICY_FOOTER);
	assert_int_equal(pol.rules[1].max_recipients, 5);
	assert_int_equal(pol.rules[0].digest, POLICY_DIGEST_NONE);
	assert_int_equal(pol.rules[1].digest, POLICY_DIGEST_WEEKLY);
	assert_int_equal(pol.rules[5].digest, POLICY_DIGEST_DAILY);
	assert_string_equal(policy_digest_name(pol.rules[1].digest), "weekly");
	assert_string_equal(policy_digest_name(pol.rules[5].digest), "daily");
	assert_null(policy_digest_name(pol.rules[0].digest));
	assert_int_equal(pol.rules[0].consent, POLICY_CONSENT_UNSET);
	assert_string_equal(policy_consent_name(pol.rules[0].consent), "optout");
	assert_int_equal(pol.rules[3].consent, POLICY_CONSENT_OPTIN);
	assert_string_equal(policy_consent_name(pol.rules[3].consent), "optin");
	assert_int_equal(pol.rules[4].consent, POLICY_CONSENT_OPTOUT);
	assert_int_equal(pol.rules[2].words, 0);
	assert_int_equal(pol.rules[3].words, POLICY_FOOTER);
	/* tracking implies footer */
	assert_int_equal(pol.rules[4].words, POLICY_CLICKS | POLICY_FOOTER);
	assert_string_equal(pol.rules[4].notify, "https://hooks.example.com/mb?x=1");
	assert_string_equal(pol.rules[5].pattern, "@example.org");
	assert_int_equal(pol.rules[5].words, POLICY_RECEIPT | POLICY_FOOTER);
	assert_int_equal(pol.rules[6].words, POLICY_TEXT_CLICKS | POLICY_FOOTER);
	assert_int_equal(pol.rules[6].line, 9);
}

static void
test_lookup(void **state)
{
	(void)state;
	/* the address beats every domain rule */
	assert_string_equal(pattern_for("alice@example.com"), "alice@example.com");
	assert_string_equal(pattern_for("ALICE@Example.COM"), "alice@example.com");
	assert_string_equal(pattern_for("<Alice@example.com>"), "alice@example.com");
	assert_string_equal(pattern_for("bob@example.com"), "bob@example.com");
	assert_int_equal(policy_lookup(&pol, "bob@example.com")->words, 0);
	/* @domain beats @.parent */
	assert_string_equal(pattern_for("x@sales.example.com"), "@sales.example.com");
	/* @.parent matches the domain itself and every subdomain */
	assert_string_equal(pattern_for("carol@example.com"), "@.example.com");
	assert_string_equal(pattern_for("x@a.b.example.com"), "@.example.com");
	assert_string_equal(pattern_for("x@eu.sales.example.com"), "@.example.com");
	/* the longer parent wins */
	assert_string_equal(pattern_for("x@corp.example.com"), "@.corp.example.com");
	assert_string_equal(pattern_for("x@a.corp.example.com"), "@.corp.example.com");
	/* not a suffix on a label boundary */
	assert_string_equal(pattern_for("x@notexample.com"), "*");
	assert_string_equal(pattern_for("x@example.org"), "@example.org");
	assert_string_equal(pattern_for("x@sub.example.org"), "*");
	assert_string_equal(pattern_for("root"), "*");
}

static void
test_null_sender(void **state)
{
	(void)state;
	assert_null(policy_lookup(&pol, ""));
	assert_null(policy_lookup(&pol, "<>"));
	assert_null(policy_lookup(&pol, NULL));
}

static void
test_default_off(void **state)
{
	struct policy p;
	char err[256];

	(void)state;
	assert_int_equal(policy_parse("p", "# nothing\n\n", &p, err, sizeof(err)), 0);
	assert_int_equal(p.n, 0);
	assert_null(policy_lookup(&p, "alice@example.com"));
	policy_free(&p);
	assert_int_equal(policy_parse("p", "@example.com opens\n", &p, err,
	    sizeof(err)), 0);
	assert_null(policy_lookup(&p, "alice@example.net"));
	assert_null(policy_lookup(&p, "alice@sub.example.com"));
	assert_non_null(policy_lookup(&p, "alice@example.com"));
	policy_free(&p);
}

static void
expect_err(const char *text, const char *want)
{
	struct policy p;
	char err[512];

	memset(&p, 0xff, sizeof(p));
	assert_int_equal(policy_parse("pol", text, &p, err, sizeof(err)), -1);
	if (strcmp(err, want) != 0)
		fail_msg("for '%s'\n got '%s'\nwant '%s'", text, err, want);
	/* left empty */
	assert_null(p.rules);
	assert_int_equal(p.n, 0);
	assert_null(p.path);
}

static void
test_errors(void **state)
{
	(void)state;
	expect_err("# x\nalice@example.com opens\nalice@example.com clicks\n",
	    "pol:3: duplicate pattern 'alice@example.com' (first at line 2)");
	expect_err("Alice@Example.com opens\n\nalice@example.com clicks\n",
	    "pol:3: duplicate pattern 'alice@example.com' (first at line 1)");
	expect_err("alice@example.com\n",
	    "pol:1: missing words after 'alice@example.com'");
	expect_err("\n\nalice@example.com   \t\n",
	    "pol:3: missing words after 'alice@example.com'");
	expect_err("* opens open\n", "pol:1: unknown word 'open'");
	expect_err("* opens # comment\n", "pol:1: unknown word '#'");
	expect_err("* off opens\n",
	    "pol:1: 'off' cannot be combined with other words");
	expect_err("* off max_recipients=3\n",
	    "pol:1: 'off' cannot be combined with other words");
	expect_err("* opens opens\n", "pol:1: duplicate word 'opens'");
	expect_err("* max_recipients=2\n",
	    "pol:1: no tracking word for '*': expected opens, clicks, "
	    "text-clicks, footer, receipt or off");
	expect_err("* opens max_recipients=0\n",
	    "pol:1: bad value '0' for max_recipients: expected 1 to 100000");
	expect_err("* opens max_recipients=100001\n",
	    "pol:1: bad value '100001' for max_recipients: expected 1 to 100000");
	expect_err("* opens max_recipients=05\n",
	    "pol:1: bad value '05' for max_recipients: expected 1 to 100000");
	expect_err("* opens max_recipients=\n",
	    "pol:1: bad value '' for max_recipients: expected 1 to 100000");
	expect_err("* opens notify=ftp://x\n",
	    "pol:1: bad value 'ftp://x' for notify: expected an http:// or "
	    "https:// URL");
	expect_err("* opens notify=https://a notify=https://b\n",
	    "pol:1: duplicate word 'notify'");
	expect_err("* opens digest=monthly\n",
	    "pol:1: bad value 'monthly' for digest: expected daily or weekly");
	expect_err("* opens digest=\n",
	    "pol:1: bad value '' for digest: expected daily or weekly");
	expect_err("* opens digest=daily digest=weekly\n",
	    "pol:1: duplicate word 'digest'");
	expect_err("* off digest=weekly\n",
	    "pol:1: 'off' cannot be combined with other words");
	expect_err("* opens consent=yes\n",
	    "pol:1: bad value 'yes' for consent: expected optin or optout");
	expect_err("* opens consent=optin consent=optout\n",
	    "pol:1: duplicate word 'consent'");
	expect_err("* off consent=optin\n",
	    "pol:1: 'off' cannot be combined with other words");
	static const char *bad_patterns[] = {
		"example.com", "@", "@.", "a@", "@@x", "a@b@c", "@example..com",
		"@.example.com.", "**", "a@.example.com",
		"<a@example.com>", "@ex/ample.com",
	};
	char text[128], want[256];
	size_t i;

	for (i = 0; i < sizeof(bad_patterns) / sizeof(bad_patterns[0]); i++) {
		snprintf(text, sizeof(text), "# c\n%s opens\n", bad_patterns[i]);
		snprintf(want, sizeof(want), "pol:2: bad pattern '%s': "
		    "expected local@domain, @domain, @.domain or *",
		    bad_patterns[i]);
		expect_err(text, want);
	}
}

/* Issue 11, item 4: another spelling of the same mailbox (quoted, escaped,
 * in other case, an IDN domain as U-label or A-label) finds the same rule. */
static void
test_canonical_spellings(void **state)
{
	struct policy p;
	char err[512];
	const struct policy_rule *r;

	(void)state;
	assert_int_equal(policy_parse("p",
	    "bob@example.com off\n"
	    "@example.com opens clicks footer\n"
	    "\"Carol\"@example.com off\n"
	    "@b\xc3\xbc" "cher.example opens\n"
	    "@.B\xc3\x9c" "CHER.test clicks\n", &p, err, sizeof(err)), 0);
	static const char *bobs[] = {
		"bob@example.com", "\"bob\"@example.com", "\"b\\ob\"@example.com",
		"<\"BOB\"@EXAMPLE.COM>", "\"\\b\\o\\b\"@example.com",
	};
	for (size_t i = 0; i < sizeof(bobs) / sizeof(bobs[0]); i++) {
		r = policy_lookup(&p, bobs[i]);
		assert_non_null(r);
		if (strcmp(r->pattern, "bob@example.com") != 0)
			fail_msg("%s matched %s", bobs[i], r->pattern);
		assert_int_equal(r->words, 0);
	}
	/* +tags and addresses that need their quotes are other mailboxes. */
	assert_string_equal(policy_lookup(&p, "bob+x@example.com")->pattern, "@example.com");
	assert_string_equal(policy_lookup(&p, "\"bob \"@example.com")->pattern, "@example.com");
	/* The rule's own pattern is canonical too. */
	assert_string_equal(p.rules[2].pattern, "carol@example.com");
	assert_int_equal(policy_lookup(&p, "carol@example.com")->words, 0);
	/* IDN domains: the rule and the address in either form. */
	assert_string_equal(p.rules[3].pattern, "@xn--bcher-kva.example");
	assert_string_equal(p.rules[4].pattern, "@.xn--bcher-kva.test");
	assert_string_equal(policy_lookup(&p, "a@B\xc3\x9c" "cher.example")->pattern,
	    "@xn--bcher-kva.example");
	assert_string_equal(policy_lookup(&p, "a@xn--bcher-kva.example")->pattern,
	    "@xn--bcher-kva.example");
	assert_string_equal(policy_lookup(&p, "a@x.b\xc3\xbc" "cher.test")->pattern,
	    "@.xn--bcher-kva.test");
	assert_null(policy_lookup(&p, "a@bucher.example"));
	policy_free(&p);
	/* Two spellings of one pattern are one pattern. */
	expect_err("bob@example.com opens\n\"bob\"@example.com off\n",
	    "pol:2: duplicate pattern '\"bob\"@example.com' (first at line 1, both are "
	    "bob@example.com)");
}

/* Issue 11, item 16: which SASL logins may send as a sender. */
static void
test_logins(void **state)
{
	struct policy p;
	char err[512];

	(void)state;
	assert_int_equal(policy_parse("p",
	    "alice@example.com opens\n"
	    "shared@example.com opens logins=bob,Carol@Example.com\n"
	    "@corp.example opens logins=*\n", &p, err, sizeof(err)), 0);
	const struct policy_rule *alice = &p.rules[0], *shared = &p.rules[1],
	    *corp = &p.rules[2];
	assert_int_equal(shared->n_logins, 2);
	assert_string_equal(shared->logins[1], "carol@example.com");
	/* No login: nothing to compare. */
	assert_true(policy_login_allowed(alice, "alice@example.com", NULL));
	assert_true(policy_login_allowed(alice, "alice@example.com", ""));
	/* The sender's own login, in any spelling; without a domain, the
	 * local part. */
	assert_true(policy_login_allowed(alice, "alice@example.com", "alice@example.com"));
	assert_true(policy_login_allowed(alice, "<Alice@Example.COM>", "ALICE@example.com"));
	assert_true(policy_login_allowed(alice, "\"alice\"@example.com", "alice@example.com"));
	assert_true(policy_login_allowed(alice, "alice@example.com", "Alice"));
	/* Someone else's. */
	assert_false(policy_login_allowed(alice, "alice@example.com", "bob@example.com"));
	assert_false(policy_login_allowed(alice, "alice@example.com", "bob"));
	assert_false(policy_login_allowed(alice, "alice@example.com", "alice@example.org"));
	assert_false(policy_login_allowed(alice, "alice@example.com", "alic"));
	assert_false(policy_login_allowed(alice, "alice@example.com", "alice+x@example.com"));
	assert_false(policy_login_allowed(NULL, "alice@example.com", "bob"));
	/* logins=: a shared or delegated mailbox. */
	assert_true(policy_login_allowed(shared, "shared@example.com", "bob"));
	assert_true(policy_login_allowed(shared, "shared@example.com", "carol@EXAMPLE.com"));
	assert_true(policy_login_allowed(shared, "shared@example.com", "shared"));
	assert_false(policy_login_allowed(shared, "shared@example.com", "carol"));
	assert_false(policy_login_allowed(shared, "shared@example.com", "bob@example.com"));
	assert_false(policy_login_allowed(shared, "shared@example.com", "dave"));
	assert_true(policy_login_allowed(corp, "x@corp.example", "anyone@else.example"));
	policy_free(&p);
	expect_err("a@example.com opens logins=\n",
	    "pol:1: bad value '' for logins: expected LOGIN[,LOGIN...] or *");
	expect_err("a@example.com opens logins=bob,,carol\n",
	    "pol:1: bad value 'bob,,carol' for logins: an empty login");
	expect_err("a@example.com opens logins=bob logins=carol\n",
	    "pol:1: duplicate word 'logins'");
	expect_err("a@example.com off logins=bob\n",
	    "pol:1: 'off' cannot be combined with other words");
}

static void
test_words_str(void **state)
{
	char buf[128];

	(void)state;
	policy_words_str(0, buf, sizeof(buf));
	assert_string_equal(buf, "off");
	policy_words_str(POLICY_OPENS | POLICY_CLICKS | POLICY_FOOTER, buf,
	    sizeof(buf));
	assert_string_equal(buf, "opens clicks footer");
	policy_words_str(POLICY_OPENS | POLICY_CLICKS | POLICY_TEXT_CLICKS |
	    POLICY_FOOTER | POLICY_RECEIPT, buf, sizeof(buf));
	assert_string_equal(buf, "opens clicks text-clicks footer receipt");
	policy_words_str(POLICY_OPENS | POLICY_CLICKS, buf, 9);
	assert_string_equal(buf, "opens cl");	/* truncated, terminated */
}

static void
test_load(void **state)
{
	char path[] = "/tmp/mb-test-policy.XXXXXX", err[512], want[600];
	struct policy p;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "@example.com opens\n", 19), 19);
	close(fd);
	assert_int_equal(policy_load(path, &p, err, sizeof(err)), 0);
	assert_string_equal(p.path, path);
	assert_int_equal(p.n, 1);
	policy_free(&p);
	unlink(path);
	assert_int_equal(policy_load(path, &p, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: cannot open: No such file or directory",
	    path);
	assert_string_equal(err, want);
}

/* notify=mail: a word of its own, beside notify=URL, never with off. */
static void
test_notify_mail(void **state)
{
	struct policy p;
	char err[512];

	(void)state;
	assert_int_equal(policy_parse("pol", "a@example.com opens notify=mail\n"
	    "b@example.com clicks notify=mail notify=https://h.example.com/x\n"
	    "c@example.com opens notify=https://h.example.com/y\n", &p, err, sizeof(err)), 0);
	assert_int_equal(p.rules[0].notify_mail, 1);
	assert_null(p.rules[0].notify);
	assert_int_equal(p.rules[1].notify_mail, 1);
	assert_string_equal(p.rules[1].notify, "https://h.example.com/x");
	assert_int_equal(p.rules[2].notify_mail, 0);
	policy_free(&p);
	expect_err("* opens notify=mail notify=mail\n", "pol:1: duplicate word 'notify=mail'");
	expect_err("* off notify=mail\n", "pol:1: 'off' cannot be combined with other words");
	expect_err("* opens notify=email\n",
	    "pol:1: bad value 'email' for notify: expected an http:// or https:// URL");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_notify_mail),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_null_sender),
		cmocka_unit_test(test_default_off),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_canonical_spellings),
		cmocka_unit_test(test_logins),
		cmocka_unit_test(test_words_str),
		cmocka_unit_test(test_load),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
