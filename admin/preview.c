/* mailbeacon preview: runs a message through the same rewrite_message()
 * the milter calls, with the sender's policy, and prints what would be
 * delivered. Nothing is stored. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "admin.h"
#include "mbconfig.h"
#include "keyring.h"
#include "log.h"
#include "policy.h"
#include "rewrite.h"
#include "store.h"
#include "token.h"
#include "url_limit.h"

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

/* Like the milter, a recipient who opted out means untouched. Without a
 * database there is nothing to check. Returns 1, 0, or -1 with why. */
static int
recipients_opted_out(struct admin_env *env, const char *list, char *why, size_t whylen)
{
	struct store_hash_key key;
	struct store *st;
	int found = 0;

	/* No SQLite file yet: no opt-out yet. (A PostgreSQL database is asked.) */
	if (!store_names_pg(env->cfg->database) && access(env->cfg->database, F_OK) != 0)
		return 0;
	if (store_hash_key_load(env->cfg->hash_key_file, &key, why, whylen) < 0 ||
	    store_open_config(env->cfg, STORE_FOR_REPORT, false, 2000, &st, why, whylen) < 0)
		return -1;
	char *copy = strdup(list), *save = NULL;
	for (char *a = copy ? strtok_r(copy, ", ", &save) : NULL; a && found == 0;
	     a = strtok_r(NULL, ", ", &save)) {
		unsigned char hash[STORE_HASH_LEN];
		store_recipient_hash(&key, a, hash);
		found = store_optout_exists(st, hash);
		if (found < 0)
			snprintf(why, whylen, "%s", store_errmsg(st));
	}
	free(copy);
	store_close(st);
	return found;
}

int
cmd_preview(struct admin_env *env, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "message-id", required_argument, NULL, 'm' },
		{ "sent", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	const char *from = NULL, *to = NULL, *msgid = NULL;
	long long sent = 0;
	char *end;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'f')
			from = optarg;
		else if (c == 't')
			to = optarg;
		else if (c == 'm')
			msgid = optarg;
		else if (c == 's' && (sent = strtoll(optarg, &end, 10)) > 0 && *end == '\0')
			;
		else
			return EXIT_USAGE;
	}
	if (from == NULL || to == NULL || optind != argc || count_recipients(to) == 0 ||
	    (msgid != NULL && strlen(msgid) != MSGID_LEN)) {
		fprintf(stderr, "usage: mailbeacon preview --from ADDR --to ADDR[,ADDR...] "
			"[--message-id ID --sent UNIXTIME] < message\n");
		return EXIT_USAGE;
	}
	struct mbuf in;
	mbuf_init(&in);
	if (read_stdin(&in, PREVIEW_READ_MAX) < 0) {
		log_warnx("cannot read the message from standard input");
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
	char optout_note[300] = "";
	int opted_out = recipients_opted_out(env, to, optout_note, sizeof(optout_note));

	if (opted_out < 0) {
		log_warnx("%s", optout_note);
		mbuf_free(&in);
		return EXIT_RUNTIME;
	}
	if (words == 0) {
		snprintf(res.reason, sizeof(res.reason), "sender not opted in (%s)",
			 rule ? "policy says off" : "no policy rule");
	} else if (opted_out > 0) {
		snprintf(res.reason, sizeof(res.reason), "a recipient opted out of tracking");
	} else if (rule->max_recipients > 0 && nrcpt > rule->max_recipients) {
		snprintf(res.reason, sizeof(res.reason), "recipient limit: %zu recipients, max_recipients=%u",
			 nrcpt, rule->max_recipients);
	} else {
		struct rewrite_params p = {
			.beacon_url = env->cfg->beacon_url,
			.privacy_url = env->cfg->privacy_url,
			.max_message_size = env->cfg->max_message_size,
			.pixel_top = env->cfg->pixel_position == PIXEL_TOP,
			.keys = env->keys,
			.words = words,
			.sender = from,
			.footer_html = env->footer_html,
			.footer_text = env->footer_text,
			.now = sent > 0 ? (time_t)sent : time(NULL),
			.msgid = msgid,
		};
		if (rewrite_message(&p, msg, in.len, &res) < 0)
			rc = EXIT_RUNTIME;
	}
	if (res.n_long_links > 0)	/* what the milter's log line counts as long=N */
		log_info("%zu link%s left as written: click URL over %d octets",
			res.n_long_links, res.n_long_links == 1 ? "" : "s", TRACKING_URL_MAX);
	if (res.edited) {
		struct mbuf out;
		mbuf_init(&out);
		if (rewrite_apply(msg, in.len, &res, &out) < 0 || write_all(out.data, out.len) < 0)
			rc = EXIT_RUNTIME;
		mbuf_free(&out);
	} else {
		log_info("untouched: %s", res.reason);
		if (write_all(msg, in.len) < 0)
			rc = EXIT_RUNTIME;
	}
	rewrite_result_free(&res);
	mbuf_free(&in);
	return rc;
}
