/* mailbeacon export, forget and purge: what a data-subject request and the
 * retention period need.
 *
 * export --recipient ADDR | --sender ADDR prints as JSON everything stored
 * about them:
 *   {"schema": 1, "generated": ISO,
 *    "recipient": ADDR, "recipient_hash": HEX,       (or "sender": ADDR)
 *    "note": S,
 *    "messages": [{"id", "queue_id", "message_id", "sender", "sasl_login",
 *                  "subject", "words", "sent": ISO, "recipients": N,
 *                  "link_count": N, "links": [{"num", "url"}],
 *                  "events": [{"id", "kind", "link", "time": ISO,
 *                              "ip_masked", "client_class", "country",
 *                              "city", "verdict",
 *                              "dnt": BOOL, "recipient_hash": HEX|null}]}],
 *    "other_events": [EVENT...],  (recipient: events naming them, of
 *                                  messages not recorded as sent to them)
 *    "optout": {"time": ISO, "message_id": S|null} | null}   (recipient)
 * A recipient is stored only as a keyed hash (hash_key_file); events are
 * stored per message, so for a message with several recipients its events
 * may be another recipient's. An event's recipient_hash is shown only when
 * it is the subject's own.
 *
 * forget --recipient ADDR | --sender ADDR deletes in one transaction (see
 * store/report.h), prints the rows deleted per table, then VACUUMs and
 * checkpoints the WAL (TRUNCATE) so the bytes leave the files. Opt-outs
 * are kept: they are the recipient's "no", needed to keep honouring it.
 *
 * purge applies retention_days: messages sent, and events recorded, before
 * now - retention_days; opt-outs are kept. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sodium.h>
#include "address.h"
#include "admin.h"
#include "mbconfig.h"
#include "log.h"
#include "report_fmt.h"
#include "consent.h"
#include "store.h"

void
data_usage(FILE *f)
{
	fprintf(f,
"usage: mailbeacon [-c FILE] export --recipient ADDR | --sender ADDR\n"
"       mailbeacon [-c FILE] forget --recipient ADDR | --sender ADDR\n"
"       mailbeacon [-c FILE] purge [--vacuum]\n"
"\n"
"export   prints as JSON everything stored about a recipient (their keyed\n"
"         hash, the messages sent to them with links and events, their\n"
"         opt-out) or a sender (their messages, links and events).\n"
"forget   deletes it in one transaction: for a recipient their recipient\n"
"         rows and the messages that had only them as recipient (with links\n"
"         and events); for a sender all their messages, links, recipient\n"
"         rows and events. Opt-outs are kept (consent data: they keep mail\n"
"         to that recipient untracked). Prints the rows deleted per table,\n"
"         then vacuums the database and truncates its WAL so the bytes are\n"
"         gone from the files.\n"
"purge    applies retention_days: deletes messages sent, and events\n"
"         recorded, before now - retention_days (with the messages' links\n"
"         and recipient rows); keeps opt-outs; prints the counts.\n"
"         --vacuum also rebuilds the file (else freed pages are zeroed).\n"
"\n"
"Exit: 0 ok, 1 usage or configuration error, 2 runtime error.\n");
}

/* --recipient ADDR | --sender ADDR, exactly one. The sender comes back in
 * its canonical form, the one the milter stores (free() it). */
static int
subject_opts(const char *cmd, int argc, char **argv, const char **rcpt, char **sender,
	     bool *vacuum)
{
	static const struct option longopts[] = {
		{ "recipient", required_argument, NULL, 'r' },
		{ "sender", required_argument, NULL, 's' },
		{ "vacuum", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static char progname[32];
	const char *sender_arg = NULL;
	int c;

	/* The command's errors read "mailbeacon export: ...". */
	snprintf(progname, sizeof(progname), "mailbeacon %s", cmd);
	log_init(progname, 1);
	*rcpt = NULL;
	*sender = NULL;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (c) {
		case 'r':
			*rcpt = optarg;
			break;
		case 's':
			sender_arg = optarg;
			break;
		case 'V':
			if (vacuum == NULL)
				goto bad;
			*vacuum = true;
			break;
		case 'h':
			data_usage(stdout);
			return 0;
		default:
			goto bad;
		}
	}
	if (optind < argc) {
		log_warnx("unexpected argument '%s'", argv[optind]);
		return EXIT_USAGE;
	}
	if (vacuum != NULL) {	/* purge: no subject */
		if (*rcpt != NULL || sender_arg != NULL) {
			log_warnx("takes no --recipient or --sender (see forget)");
			return EXIT_USAGE;
		}
		return -1;
	}
	if ((*rcpt == NULL) == (sender_arg == NULL)) {
		log_warnx("give either --recipient ADDR or --sender ADDR");
		return EXIT_USAGE;
	}
	if ((*rcpt && **rcpt == '\0') || (sender_arg && *sender_arg == '\0')) {
		log_warnx("empty address");
		return EXIT_USAGE;
	}
	if (sender_arg != NULL && (*sender = address_canonical(sender_arg)) == NULL) {
		log_warnx("out of memory");
		return EXIT_RUNTIME;
	}
	return -1;	/* go on */
bad:
	log_warnx("bad option or missing value: %s", argv[optind - 1]);
	fprintf(stderr, "run 'mailbeacon %s --help' for usage\n", cmd);
	return EXIT_USAGE;
}

static int
recipient_hash(struct admin_env *env, const char *addr,
	       unsigned char hash[STORE_HASH_LEN])
{
	struct store_hash_key key;
	char err[512];

	if (store_hash_key_load(env->cfg->hash_key_file, &key, err, sizeof(err)) < 0) {
		log_warnx("%s", err);
		return EXIT_USAGE;
	}
	store_recipient_hash(&key, addr, hash);
	sodium_memzero(&key, sizeof(key));
	return 0;
}

/* export reads (report_database when set); forget and purge write. */
static int
open_store(struct admin_env *env, enum store_role role, struct store **st)
{
	char err[1024];

	if (store_open_config(env->cfg, role, false, 5000, st, err, sizeof(err)) < 0)
		return admin_store_failed(env, err);
	return 0;
}

/* ---- export ---- */

struct export_ctx {
	FILE *f;
	struct store *st;
	const unsigned char *hash;	/* the subject's, or NULL (a sender) */
	char *err;
	size_t errlen;
	bool first, first_inner;
};

static void
json_time(FILE *f, long long t)
{
	char b[32];

	fmt_iso(t, b);
	json_str(f, b);
}

static int
event_cb(void *arg, const struct export_event *e)
{
	struct export_ctx *x = arg;
	FILE *f = x->f;
	char hex[2 * STORE_HASH_LEN + 1];

	fprintf(f, "%s\n      {\"id\": %lld, \"kind\": ", x->first_inner ? "" : ",", e->id);
	x->first_inner = false;
	json_str(f, e->kind);
	fputs(", \"link\": ", f);
	if (e->has_link)
		fprintf(f, "%lld", e->link);
	else
		fputs("null", f);
	fputs(", \"time\": ", f);
	json_time(f, e->time);
	fputs(", \"ip_masked\": ", f);
	json_str(f, e->ip_masked);
	fputs(", \"client_class\": ", f);
	json_str(f, e->client_class);
	fputs(", \"country\": ", f);
	json_str(f, e->country);
	fputs(", \"city\": ", f);
	json_str(f, e->city);
	fputs(", \"verdict\": ", f);
	json_str(f, e->verdict);
	fprintf(f, ", \"dnt\": %s, \"recipient_hash\": ", e->dnt ? "true" : "false");
	if (x->hash != NULL && e->recipient_hash != NULL &&
	    e->recipient_hash_len == STORE_HASH_LEN &&
	    memcmp(e->recipient_hash, x->hash, STORE_HASH_LEN) == 0) {
		sodium_bin2hex(hex, sizeof(hex), x->hash, STORE_HASH_LEN);
		json_str(f, hex);
	} else {
		fputs("null", f);
	}
	putc('}', f);
	return 0;
}

static int
link_cb(void *arg, long long num, const char *url)
{
	struct export_ctx *x = arg;

	fprintf(x->f, "%s{\"num\": %lld, \"url\": ", x->first_inner ? "" : ", ", num);
	x->first_inner = false;
	json_str(x->f, url);
	putc('}', x->f);
	return 0;
}

static int
message_cb(void *arg, const struct export_message *m)
{
	struct export_ctx *x = arg;
	FILE *f = x->f;

	fputs(x->first ? "\n" : ",\n", f);
	x->first = false;
	fputs("    {\"id\": ", f);
	json_str(f, m->id);
	fputs(", \"queue_id\": ", f);
	json_str(f, m->queue_id);
	fputs(", \"message_id\": ", f);
	json_str(f, m->message_id);
	fputs(",\n     \"sender\": ", f);
	json_str(f, m->sender);
	fputs(", \"sasl_login\": ", f);
	json_str(f, m->sasl_login);
	fputs(", \"subject\": ", f);
	json_str(f, m->subject);
	fputs(", \"words\": ", f);
	json_str(f, m->words);
	fputs(",\n     \"sent\": ", f);
	json_time(f, m->sent);
	fprintf(f, ", \"recipients\": %lld, \"link_count\": %lld,\n     \"links\": [",
	    m->recipient_count, m->link_count);
	x->first_inner = true;
	if (store_export_links(x->st, m->id, link_cb, x, x->err, x->errlen) != 0)
		return -1;
	fputs("],\n     \"events\": [", f);
	x->first_inner = true;
	if (store_export_events(x->st, m->id, NULL, event_cb, x, x->err, x->errlen) != 0)
		return -1;
	fputs("]}", f);
	return 0;
}

static int
optout_cb(void *arg, const struct export_optout *o)
{
	struct export_ctx *x = arg;

	fputs("{\"time\": ", x->f);
	json_time(x->f, o->time);
	fputs(", \"message_id\": ", x->f);
	json_str(x->f, o->message_id);
	putc('}', x->f);
	return 0;
}

/* The consent history of the recipient (consent=optin): each consent with
 * its proof and whether it was withdrawn, and each ask. */
static int
consent_cb(void *arg, const struct store_consent *c)
{
	struct export_ctx *x = arg;

	fprintf(x->f, "%s\n    {\"sender\": ", x->first_inner ? "" : ",");
	x->first_inner = false;
	json_str(x->f, c->sender);
	fputs(", \"given\": ", x->f);
	json_time(x->f, c->time);
	fputs(", \"message_id\": ", x->f);
	json_str(x->f, c->message_id);
	fputs(", \"source\": ", x->f);
	json_str(x->f, c->source);
	fputs(", \"notice_version\": ", x->f);
	json_str(x->f, c->notice_version);
	fputs(", \"withdrawn\": ", x->f);
	if (c->withdrawn)
		json_time(x->f, c->withdrawn_time);
	else
		fputs("null", x->f);
	putc('}', x->f);
	return 0;
}

static int
ask_cb(void *arg, const char *sender, const char *message_id, long long time)
{
	struct export_ctx *x = arg;

	fprintf(x->f, "%s\n    {\"sender\": ", x->first_inner ? "" : ",");
	x->first_inner = false;
	json_str(x->f, sender);
	fputs(", \"message_id\": ", x->f);
	json_str(x->f, message_id);
	fputs(", \"asked\": ", x->f);
	json_time(x->f, time);
	putc('}', x->f);
	return 0;
}

static int
export_run(struct admin_env *env, const char *rcpt, const char *sender)
{
	unsigned char hash[STORE_HASH_LEN];
	char hex[2 * STORE_HASH_LEN + 1], b[32], err[1024];
	struct store *st;
	struct export_ctx x = { stdout, NULL, NULL, err, sizeof(err), true, true };
	FILE *f = stdout;
	int rc;

	if (rcpt != NULL && (rc = recipient_hash(env, rcpt, hash)) != 0)
		return rc;
	if ((rc = open_store(env, STORE_FOR_REPORT, &st)) != 0)
		return rc;
	x.st = st;
	x.hash = rcpt ? hash : NULL;
	rc = -1;
	if (store_report_begin(st, err, sizeof(err)) == -1)
		goto out;
	fmt_iso((long long)time(NULL), b);
	fputs("{\n  \"schema\": 1,\n  \"generated\": ", f);
	json_str(f, b);
	if (rcpt != NULL) {
		sodium_bin2hex(hex, sizeof(hex), hash, STORE_HASH_LEN);
		fputs(",\n  \"recipient\": ", f);
		json_str(f, rcpt);
		fputs(",\n  \"recipient_hash\": ", f);
		json_str(f, hex);
		fputs(",\n  \"note\": \"Recipients are stored only as this keyed hash. Events are "
		    "recorded per message: for a message with several recipients they may be "
		    "another recipient's.\"", f);
	} else {
		fputs(",\n  \"sender\": ", f);
		json_str(f, sender);
		fputs(",\n  \"note\": \"The messages recorded from this envelope sender, their "
		    "links and the events of their tracking URLs. Recipients are stored only as "
		    "keyed hashes and are not part of this export.\"", f);
	}
	fputs(",\n  \"messages\": [", f);
	if (store_export_messages(st, x.hash, sender, message_cb, &x, err, sizeof(err)) != 0)
		goto out;
	fputs("]", f);
	if (rcpt != NULL) {
		fputs(",\n  \"other_events\": [", f);
		x.first_inner = true;
		if (store_export_events(st, NULL, hash, event_cb, &x, err, sizeof(err)) != 0)
			goto out;
		fputs("],\n  \"optout\": ", f);
		int o = store_export_optout(st, hash, optout_cb, &x, err, sizeof(err));
		if (o < 0)
			goto out;
		if (o == 0)
			fputs("null", f);
		fputs(",\n  \"consents\": [", f);
		x.first_inner = true;
		if (store_consent_list(st, NULL, hash, consent_cb, &x, err, sizeof(err)) != 0)
			goto out;
		fputs(x.first_inner ? "]" : "\n  ]", f);
		fputs(",\n  \"consent_asks\": [", f);
		x.first_inner = true;
		if (store_consent_asks_of(st, hash, ask_cb, &x, err, sizeof(err)) != 0)
			goto out;
		fputs(x.first_inner ? "]" : "\n  ]", f);
	}
	fputs("\n}\n", f);
	rc = 0;
out:
	store_report_end(st);
	store_close(st);
	sodium_memzero(hash, sizeof(hash));
	if (rc != 0) {
		log_warnx("%s", err);
		return EXIT_RUNTIME;
	}
	if (fflush(f) == EOF || ferror(f)) {
		log_warn("cannot write");
		return EXIT_RUNTIME;
	}
	return 0;
}

/* export and forget: their subject from the options, then the command. */
static int
subject_cmd(struct admin_env *env, const char *cmd, int argc, char **argv,
	    int (*run)(struct admin_env *env, const char *rcpt, const char *sender))
{
	const char *rcpt;
	char *sender;
	int rc;

	if ((rc = subject_opts(cmd, argc, argv, &rcpt, &sender, NULL)) >= 0)
		return rc;
	rc = run(env, rcpt, sender);
	free(sender);
	return rc;
}

int
cmd_export(struct admin_env *env, int argc, char **argv)
{
	return subject_cmd(env, "export", argc, argv, export_run);
}

/* ---- forget and purge ---- */

static void
print_counts(const struct store_erase_counts *c)
{
	printf("  messages            %lld\n", c->messages);
	printf("  message_recipients  %lld\n", c->message_recipients);
	printf("  links               %lld\n", c->links);
	printf("  events              %lld\n", c->events);
}

/* After an erase: VACUUM (when asked) and a TRUNCATE checkpoint. Returns 0,
 * or EXIT_RUNTIME when the bytes may still be in the files. */
static int
compact(struct store *st, const char *cmd, bool vacuum, bool must)
{
	char err[1024];
	bool complete;

	if (store_compact(st, vacuum, &complete, err, sizeof(err)) == -1) {
		log_warnx("the rows are deleted, but: %s", err);
		return must ? EXIT_RUNTIME : 0;
	}
	if (!complete) {
		log_warnx("the rows are deleted, but another process kept "
		    "the write-ahead log busy: the old pages leave it at its next checkpoint; run "
		    "'mailbeacon %s' again when the beacon and milter are idle", cmd);
		return must ? EXIT_RUNTIME : 0;
	}
	if (store_is_pg(st))
		/* The server's own VACUUM makes the space reusable; its pages and
		 * WAL are the server's to recycle (README, "Several relays"). */
		printf("%s: the rows are deleted from every table and partition%s\n",
		       vacuum ? "vacuumed" : "deleted",
		       vacuum ? "; the server reuses their space" : "");
	else
		printf("%s: the database file and its write-ahead log no longer hold the deleted "
		       "rows\n", vacuum ? "vacuumed" : "checkpointed");
	return 0;
}

static int
forget_run(struct admin_env *env, const char *rcpt, const char *sender)
{
	unsigned char hash[STORE_HASH_LEN];
	struct store_erase_counts c;
	char err[1024];
	struct store *st;
	int rc;

	long long consents = 0, asks = 0;

	if (rcpt != NULL && (rc = recipient_hash(env, rcpt, hash)) != 0)
		return rc;
	if ((rc = open_store(env, STORE_FOR_WRITES, &st)) != 0)
		return rc;
	/* Their consents and asks first (the withdrawal stays): run again,
	 * forget finishes what a failure left. */
	rc = rcpt ? store_consent_forget(st, hash, &consents, &asks, err, sizeof(err))
	    : store_consent_forget_sender(st, sender, &consents, &asks, err, sizeof(err));
	if (rc == 0)
		rc = rcpt ? store_forget_recipient(st, hash, &c, err, sizeof(err)) :
		    store_forget_sender(st, sender, &c, err, sizeof(err));
	sodium_memzero(hash, sizeof(hash));
	if (rc == -1) {
		log_warnx("nothing was deleted: %s", err);
		store_close(st);
		return EXIT_RUNTIME;
	}
	printf("forgot %s %s; rows deleted:\n", rcpt ? "recipient" : "sender",
	    rcpt ? rcpt : sender);
	print_counts(&c);
	printf("  consents            %lld\n", consents);
	printf("  consent_asks        %lld\n", asks);
	if (rcpt != NULL) {
		printf("kept: %lld opt-out%s (consent data: it keeps mail to them untracked, and "
		    "withdraws any consent)\n", c.optouts_kept, c.optouts_kept == 1 ? "" : "s");
	}
	else
		printf("kept: %lld opt-out%s of recipients recorded from these messages "
		    "(consent data)\n", c.optouts_kept, c.optouts_kept == 1 ? "" : "s");
	rc = compact(st, "forget", true, true);
	store_close(st);
	return rc;
}

int
cmd_forget(struct admin_env *env, int argc, char **argv)
{
	return subject_cmd(env, "forget", argc, argv, forget_run);
}

int
cmd_purge(struct admin_env *env, int argc, char **argv)
{
	const char *rcpt;
	char *sender;
	struct store_erase_counts c;
	bool vacuum = false;
	char err[1024], b[32];
	long long cutoff;
	struct store *st;
	int rc;

	if ((rc = subject_opts("purge", argc, argv, &rcpt, &sender, &vacuum)) >= 0)
		return rc;
	if ((rc = open_store(env, STORE_FOR_WRITES, &st)) != 0)
		return rc;
	cutoff = (long long)time(NULL) - (long long)env->cfg->retention_days * 86400;
	if (store_purge(st, cutoff, &c, err, sizeof(err)) == -1) {
		log_warnx("nothing was deleted: %s", err);
		store_close(st);
		return EXIT_RUNTIME;
	}
	/* consent=optin's asks live as long as their messages' links and at
	 * least consent_ask_interval: gone sooner, a recipient would be asked
	 * again early. */
	long long asks = 0, ask_cutoff = cutoff;
	if ((long long)time(NULL) - env->cfg->consent_ask_interval < ask_cutoff)
		ask_cutoff = (long long)time(NULL) - env->cfg->consent_ask_interval;
	if (store_consent_purge(st, ask_cutoff, &asks, err, sizeof(err)) == -1) {
		log_warnx("the rest is purged, but not consent=optin's asks: %s", err);
		store_close(st);
		return EXIT_RUNTIME;
	}
	fmt_iso(cutoff, b);
	printf("purged what is older than %d days (sent or recorded before %s); rows "
	    "deleted:\n", env->cfg->retention_days, b);
	print_counts(&c);
	printf("  consent_asks        %lld\n", asks);
	printf("kept: %lld opt-out%s (consent data, never expires)\n", c.optouts_kept,
	    c.optouts_kept == 1 ? "" : "s");
	printf("kept: consent=optin's consents (the proof; forget --recipient erases them)\n");
	rc = compact(st, "purge", vacuum, false);
	store_close(st);
	return rc;
}
