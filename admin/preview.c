/* mailbeacon preview: runs a message through the same rewrite_message()
 * the milter calls, with the sender's policy, and prints what would be
 * delivered. Nothing is stored. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "admin.h"
#include "config.h"
#include "keyring.h"
#include "policy.h"
#include "rewrite.h"

#define PREVIEW_READ_MAX (1024u * 1024 * 1024)

static int
read_stdin(struct mbuf *in, size_t limit)
{
	char buf[65536];
	size_t r;

	while ((r = fread(buf, 1, sizeof(buf), stdin)) > 0) {
		if (mbuf_append(in, buf, r) < 0 || in->len > limit)
			return -1;
	}
	return ferror(stdin) ? -1 : 0;
}

static size_t
count_recipients(const char *list)
{
	size_t n = 0;
	const char *p = list;

	while (*p) {
		size_t len = strcspn(p, ",");
		for (size_t i = 0; i < len; i++)
			if (p[i] != ' ') {
				n++;
				break;
			}
		p += len;
		if (*p == ',')
			p++;
	}
	return n;
}

static int
write_all(const char *data, size_t len)
{
	return fwrite(data, 1, len, stdout) == len && fflush(stdout) == 0 ? 0 : -1;
}

int
cmd_preview(struct admin_env *env, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	const char *from = NULL, *to = NULL;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'f')
			from = optarg;
		else if (c == 't')
			to = optarg;
		else
			return EXIT_USAGE;
	}
	if (from == NULL || to == NULL || optind != argc || count_recipients(to) == 0) {
		fprintf(stderr, "usage: mailbeacon preview --from ADDR --to ADDR[,ADDR...] < message\n");
		return EXIT_USAGE;
	}
	struct mbuf in;
	mbuf_init(&in);
	if (read_stdin(&in, PREVIEW_READ_MAX) < 0) {
		fprintf(stderr, "mailbeacon: cannot read the message from standard input\n");
		mbuf_free(&in);
		return EXIT_RUNTIME;
	}
	const char *msg = in.data ? in.data : "";
	const struct policy_rule *rule = policy_lookup(env->policy, from);
	unsigned words = rule ? rule->words : 0;
	size_t nrcpt = count_recipients(to);
	struct rewrite_result res;
	int rc = 0;

	memset(&res, 0, sizeof(res));
	if (words == 0) {
		snprintf(res.reason, sizeof(res.reason), "sender not opted in (%s)",
			 rule ? "policy says off" : "no policy rule");
	} else if (rule->max_recipients > 0 && nrcpt > rule->max_recipients) {
		snprintf(res.reason, sizeof(res.reason), "recipient limit: %zu recipients, max_recipients=%u",
			 nrcpt, rule->max_recipients);
	} else {
		struct rewrite_params p = {
			.cfg = env->cfg,
			.keys = env->keys,
			.words = words,
			.sender = from,
			.footer_html = env->footer_html,
			.footer_text = env->footer_text,
			.now = time(NULL),
		};
		if (rewrite_message(&p, msg, in.len, &res) < 0)
			rc = EXIT_RUNTIME;
	}
	if (res.edited) {
		struct mbuf out;
		mbuf_init(&out);
		if (rewrite_apply(msg, in.len, &res, &out) < 0 || write_all(out.data, out.len) < 0)
			rc = EXIT_RUNTIME;
		mbuf_free(&out);
	} else {
		fprintf(stderr, "mailbeacon: untouched: %s\n", res.reason);
		if (write_all(msg, in.len) < 0)
			rc = EXIT_RUNTIME;
	}
	rewrite_result_free(&res);
	mbuf_free(&in);
	return rc;
}
