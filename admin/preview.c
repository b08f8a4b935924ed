/* mailbeacon preview: runs a message through the same rewrite_message()
 * the milter calls, with the sender's policy, and prints what would be
 * delivered. Nothing is stored. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "address.h"
#include "admin.h"
#include "consent.h"
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

/* What the milter would find in the store for these recipients, read only:
 * opted_out (1 when one did); under consent=optin (sender non-NULL) how
 * many have a live consent and how many of the others were not asked
 * within consent_ask_interval. Without a database there is nothing to
 * check: no opt-out, no consent, nobody asked (*assumed is set). Returns
 * 0, or -1 with why. */
struct rcpt_state {
	int opted_out;
	size_t n, consented, unasked;
	bool assumed;
	bool was_ask;		/* --message-id: the store has that message's ask */
};

static int
recipients_state(struct admin_env *env, const char *list, const char *sender,
		 const char *msgid, struct rcpt_state *rs, char *why, size_t whylen)
{
	struct store_hash_key key;
	struct store *st;
	unsigned char (*hashes)[STORE_HASH_LEN] = NULL;

	memset(rs, 0, sizeof(*rs));
	rs->n = count_recipients(list);
	rs->unasked = rs->n;
	/* No SQLite file yet: no opt-out, consent or ask yet. (A PostgreSQL
	 * database is asked.) */
	if (!store_names_pg(env->cfg->database) && access(env->cfg->database, F_OK) != 0) {
		rs->assumed = true;
		return 0;
	}
	if (store_hash_key_load(env->cfg->hash_key_file, &key, why, whylen) < 0 ||
	    store_open_config(env->cfg, STORE_FOR_REPORT, false, 2000, &st, why, whylen) < 0)
		return -1;
	char *copy = strdup(list), *save = NULL;
	size_t n = 0;
	if (copy == NULL || (hashes = calloc(rs->n + 1, sizeof(*hashes))) == NULL) {
		snprintf(why, whylen, "out of memory");
		rs->opted_out = -1;
	}
	for (char *a = hashes ? strtok_r(copy, ", ", &save) : NULL; a && rs->opted_out == 0;
	     a = strtok_r(NULL, ", ", &save)) {
		store_recipient_hash(&key, a, hashes[n]);
		rs->opted_out = store_optout_exists(st, hashes[n++]);
		if (rs->opted_out < 0)
			snprintf(why, whylen, "%s", store_errmsg(st));
	}
	if (rs->opted_out == 0 && sender != NULL &&
	    store_consent_check(st, sender, (const unsigned char (*)[STORE_HASH_LEN])hashes, n,
				(long long)time(NULL) - env->cfg->consent_ask_interval,
				&rs->consented, &rs->unasked, why, whylen) < 0)
		rs->opted_out = -1;
	/* A recorded message replayed under consent=optin: the milter
	 * delivered it with the ask footer when it recorded its ask. */
	if (rs->opted_out == 0 && sender != NULL && msgid != NULL) {
		int found = store_consent_ask_has(st, msgid, hashes[0], why, whylen);
		if (found < 0)
			rs->opted_out = -1;
		rs->was_ask = found > 0;
	}
	free(copy);
	free(hashes);
	store_close(st);
	return rs->opted_out < 0 ? -1 : 0;
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
	bool optin = rule != NULL && rule->consent == POLICY_CONSENT_OPTIN;
	char *canon = optin ? address_canonical(from) : NULL;
	struct rcpt_state rs;
	int state = optin && canon == NULL ? -1
	    : recipients_state(env, to, canon, msgid, &rs, optout_note, sizeof(optout_note));
	int opted_out = state < 0 ? -1 : rs.opted_out;

	free(canon);
	if (opted_out < 0) {
		log_warnx("%s", optout_note[0] ? optout_note : "out of memory");
		mbuf_free(&in);
		return EXIT_RUNTIME;
	}
	/* consent=optin, as the milter decides it; a recorded message
	 * (--message-id) as the milter delivered it: the ask footer when the
	 * store has its ask, else tracked (it had every consent then). */
	bool ask = optin && (msgid != NULL ? rs.was_ask : rs.consented < rs.n && rs.unasked > 0);
	if (optin && rs.assumed)
		log_info("consent=optin and no database yet: assumed that no recipient consented "
			 "and none was asked");
	if (words == 0) {
		snprintf(res.reason, sizeof(res.reason), "sender not opted in (%s)",
			 rule ? "policy says off" : "no policy rule");
	} else if (opted_out > 0) {
		snprintf(res.reason, sizeof(res.reason), "a recipient opted out of tracking");
	} else if (rule->max_recipients > 0 && nrcpt > rule->max_recipients) {
		snprintf(res.reason, sizeof(res.reason), "recipient limit: %zu recipients, max_recipients=%u",
			 nrcpt, rule->max_recipients);
	} else if (optin && msgid == NULL && rs.consented < rs.n && !ask) {
		snprintf(res.reason, sizeof(res.reason), "consent=optin: %zu of %zu recipients have "
			 "not consented, and each was asked within consent_ask_interval",
			 rs.n - rs.consented, rs.n);
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
			.location = env->cfg->geoip_database == NULL ? FOOTER_NO_LOCATION
			    : env->cfg->geoip_precision == GEOIP_CITY ? FOOTER_CITY : FOOTER_COUNTRY,
			.ask = ask,
			.footer_ask_html = env->footer_ask_html,
			.footer_ask_text = env->footer_ask_text,
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
