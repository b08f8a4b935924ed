/* callbacks: the libmilter callbacks. A connection context (client,
 * daemon name) and a message context (sender, recipients, buffered message)
 * live behind smfi_setpriv. Mail that will not be tracked is accepted as
 * early as possible so the MTA never sends us its body; every failure
 * delivers the message untouched (or defers it, with on_error = tempfail). */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <libmilter/mfapi.h>
#include "address.h"
#include "callbacks.h"
#include "consent.h"
#include "fileline.h"
#include "log.h"
#include "mbuf.h"
#include "rewrite.h"
#include "runtime.h"

struct msgctx {
	struct generation *gen;	/* keys and policy this message started with */
	unsigned words;
	unsigned max_recipients;
	bool optin;		/* consent=optin: every recipient must have said yes */
	char *sender;		/* canonical (address.h): policy, store, log */
	char *sender_written;	/* as in MAIL FROM: the footer and receipt show it */
	char *auth;
	unsigned char (*hashes)[STORE_HASH_LEN];
	size_t n_rcpt, cap_rcpt;
	struct mbuf headers;	/* "Name: value" CRLF lines, as received */
	struct mbuf body;
	char *message_id;
	char *subject;
	size_t memory_held;	/* reserved from milter_memory_limit */
};

struct connctx {
	char addr[INET6_ADDRSTRLEN];
	bool internal;		/* in internal_hosts, or local submission */
	char *daemon_name;
	struct msgctx *msg;
};

static pthread_mutex_t active_lock = PTHREAD_MUTEX_INITIALIZER;
static int active_connections;

int
callbacks_active(void)
{
	pthread_mutex_lock(&active_lock);
	int n = active_connections;
	pthread_mutex_unlock(&active_lock);
	return n;
}

static void
msg_free(struct msgctx *m)
{
	if (m == NULL)
		return;
	runtime_release(m->gen);
	runtime_memory_release(&m->memory_held);
	free(m->sender);
	free(m->sender_written);
	free(m->auth);
	free(m->hashes);
	mbuf_free(&m->headers);
	mbuf_free(&m->body);
	free(m->message_id);
	free(m->subject);
	free(m);
}

static struct connctx *
conn_of(SMFICTX *ctx)
{
	return smfi_getpriv(ctx);
}

static const char *
queue_id(SMFICTX *ctx)
{
	const char *i = smfi_getsymval(ctx, "i");
	return i != NULL ? i : "NOQUEUE";
}

/* An address as the store and the policy see it: no <>, no blanks. */
static char *
bare_address(const char *a)
{
	while (*a == ' ' || *a == '<')
		a++;
	size_t n = strlen(a);
	while (n > 0 && (a[n - 1] == ' ' || a[n - 1] == '>'))
		n--;
	return strndup(a, n);
}

/* The on_error decision, logged with why (at debug level when quiet). */
static sfsistat
fail_open_log(SMFICTX *ctx, bool quiet, const char *why)
{
	void (*say)(const char *, ...) = quiet ? log_debug : log_warnx;

	if (rt.cfg.on_error == ON_ERROR_TEMPFAIL) {
		say("%s: deferred (on_error = tempfail): %s", queue_id(ctx), why);
		return SMFIS_TEMPFAIL;
	}
	say("%s: delivered untouched (on_error = accept): %s", queue_id(ctx), why);
	return SMFIS_ACCEPT;
}

static sfsistat
fail_open(SMFICTX *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static sfsistat
fail_open(SMFICTX *ctx, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return fail_open_log(ctx, false, why);
}

/* A store error. While the database server is unreachable the store has
 * logged the outage once (and will log its end): each message's line is
 * then debug-level, not one warning per message. */
static sfsistat
fail_open_store(SMFICTX *ctx, const char *err)
{
	char why[1100];

	snprintf(why, sizeof(why), "store: %s", err);
	return fail_open_log(ctx, store_unreachable(), why);
}

static sfsistat
cb_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1, unsigned long f2,
	     unsigned long f3, unsigned long *pf0, unsigned long *pf1,
	     unsigned long *pf2, unsigned long *pf3)
{
	unsigned long want = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_CHGBODY;

	(void)f2;
	(void)f3;
	if ((f0 & want) != want) {
		log_warnx("the MTA does not offer header and body changes: mail passes untouched");
		return SMFIS_REJECT;	/* means: this milter takes no part */
	}
	*pf0 = want;
	/* Steps we do not need; the MTA then does not send them. */
	*pf1 = f1 & (SMFIP_NOHELO | SMFIP_NOUNKNOWN | SMFIP_NODATA);
	*pf2 = *pf3 = 0;
	if (f0 & SMFIF_SETSYMLIST) {
		*pf0 |= SMFIF_SETSYMLIST;
		smfi_setsymlist(ctx, SMFIM_CONNECT, "{daemon_name}");
		smfi_setsymlist(ctx, SMFIM_ENVFROM, "i {auth_authen}");
		smfi_setsymlist(ctx, SMFIM_ENVRCPT, "i");
		smfi_setsymlist(ctx, SMFIM_EOM, "i");
	}
	return SMFIS_CONTINUE;
}

static unsigned
client_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
}

static sfsistat
cb_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *sa)
{
	struct connctx *cc = calloc(1, sizeof(*cc));
	const char *daemon = smfi_getsymval(ctx, "{daemon_name}");

	(void)host;
	if (cc == NULL)
		return fail_open(ctx, "out of memory");
	if (sa == NULL || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6) ||
	    client_port(sa) == 0) {
		/* Local submission: Postfix's non_smtpd_milters present mail
		 * from sendmail(1) and pickup as 127.0.0.1 port 0 (no real TCP
		 * client has port 0); other MTAs may give no address at all. */
		cc->internal = true;
		strcpy(cc->addr, "local");
	} else {
		const void *a = sa->sa_family == AF_INET
		    ? (const void *)&((struct sockaddr_in *)sa)->sin_addr
		    : (const void *)&((struct sockaddr_in6 *)sa)->sin6_addr;
		inet_ntop(sa->sa_family, a, cc->addr, sizeof(cc->addr));
		cc->internal = cidr_match_any(rt.cfg.internal_hosts, rt.cfg.n_internal_hosts, sa);
	}
	if (daemon != NULL)
		cc->daemon_name = strdup(daemon);
	smfi_setpriv(ctx, cc);
	pthread_mutex_lock(&active_lock);
	active_connections++;
	pthread_mutex_unlock(&active_lock);
	return SMFIS_CONTINUE;
}

/* Why a sender's rule leaves the message alone, for the log. */
static void
rule_str(const struct generation *g, const struct policy_rule *rule, char *out, size_t outlen)
{
	if (rule == NULL)
		snprintf(out, outlen, "no rule in %s matches", g->policy.path);
	else
		fileline_format(out, outlen, g->policy.path, rule->line, "%s", rule->pattern);
}

static sfsistat
cb_envfrom(SMFICTX *ctx, char **argv)
{
	struct connctx *cc = conn_of(ctx);
	const char *auth = smfi_getsymval(ctx, "{auth_authen}");
	char why[512];

	if (cc == NULL)
		return fail_open(ctx, "no connection context");
	msg_free(cc->msg);
	cc->msg = NULL;
	if (auth != NULL && *auth == '\0')
		auth = NULL;
	struct msgctx *m = calloc(1, sizeof(*m));
	if (m == NULL || (m->sender_written = bare_address(argv[0])) == NULL ||
	    (m->sender = address_canonical(argv[0])) == NULL) {
		msg_free(m);
		return fail_open(ctx, "out of memory");
	}
	runtime_check_policy_file();
	m->gen = runtime_acquire();
	const struct policy_rule *rule = policy_lookup(&m->gen->policy, m->sender);
	bool outbound = auth != NULL || cc->internal || runtime_is_outbound_daemon(cc->daemon_name);
	if (!outbound) {
		/* One line per inbound message only at debug; but mail from a
		 * sender who opted in that does not look outbound is most
		 * likely a submission service without ORIGINATING, or a
		 * client whose login the MTA did not pass: say so at info. */
		snprintf(why, sizeof(why), "client %s, no SASL login ({auth_authen}), "
			 "daemon name %s%s%s not in outbound_daemon_names", cc->addr,
			 cc->daemon_name ? "'" : "",
			 cc->daemon_name ? cc->daemon_name : "unknown ({daemon_name} not sent)",
			 cc->daemon_name ? "'" : "");
		if (rule != NULL && rule->words != 0)
			log_info("%s: untouched from=<%s>: not outbound: %s", queue_id(ctx),
				 m->sender, why);
		else
			log_debug("%s: untouched from=<%s>: not outbound: %s", queue_id(ctx),
				  m->sender, why);
		msg_free(m);
		return SMFIS_ACCEPT;
	}
	if (rule == NULL || rule->words == 0) {
		rule_str(m->gen, rule, why, sizeof(why));
		log_info("%s: untouched from=<%s>: sender not opted in (%s)", queue_id(ctx),
			 m->sender, why);
		msg_free(m);
		return SMFIS_ACCEPT;
	}
	/* Someone else's login: tracking would give them the sender's
	 * opt-in and put mail the sender never wrote in their reports. */
	if (!policy_login_allowed(rule, m->sender, auth)) {
		rule_str(m->gen, rule, why, sizeof(why));
		log_info("%s: untouched from=<%s>: SASL login %s is not the sender's and not in "
			 "logins= of its rule (%s)", queue_id(ctx), m->sender, auth, why);
		msg_free(m);
		return SMFIS_ACCEPT;
	}
	m->words = rule->words;
	m->max_recipients = rule->max_recipients;
	m->optin = rule->consent == POLICY_CONSENT_OPTIN;
	if (auth != NULL)
		m->auth = strdup(auth);
	mbuf_init(&m->headers);
	mbuf_init(&m->body);
	cc->msg = m;
	return SMFIS_CONTINUE;
}

static sfsistat
cb_envrcpt(SMFICTX *ctx, char **argv)
{
	struct connctx *cc = conn_of(ctx);
	struct msgctx *m = cc ? cc->msg : NULL;
	char err[512];

	if (m == NULL)
		return fail_open(ctx, "recipient without a message context");
	if (m->max_recipients > 0 && m->n_rcpt + 1 > m->max_recipients) {
		log_info("%s: untouched from=<%s>: recipient limit: more than max_recipients=%u",
			 queue_id(ctx), m->sender, m->max_recipients);
		return SMFIS_ACCEPT;
	}
	if (m->n_rcpt == m->cap_rcpt) {
		size_t cap = m->cap_rcpt ? m->cap_rcpt * 2 : 8;
		void *h = realloc(m->hashes, cap * sizeof(*m->hashes));
		if (h == NULL)
			return fail_open(ctx, "out of memory");
		m->hashes = h;
		m->cap_rcpt = cap;
	}
	store_recipient_hash(&rt.hash_key, argv[0], m->hashes[m->n_rcpt]);
	struct store *st = runtime_store_get(err, sizeof(err));
	if (st == NULL)
		return fail_open_store(ctx, err);
	int out = store_optout_exists(st, m->hashes[m->n_rcpt]);
	if (out < 0)	/* (copied first: a failed handle is closed, not pooled) */
		snprintf(err, sizeof(err), "%s", store_errmsg(st));
	runtime_store_put(st, out >= 0);
	if (out < 0)
		return fail_open_store(ctx, err);
	if (out > 0) {
		log_info("%s: untouched from=<%s>: a recipient opted out of tracking",
			 queue_id(ctx), m->sender);
		return SMFIS_ACCEPT;
	}
	m->n_rcpt++;
	return SMFIS_CONTINUE;
}

static bool
over_size(const struct msgctx *m, size_t more)
{
	return m->headers.len + m->body.len + more + 2 > rt.cfg.max_message_size;
}

/* Accepts the rest of the message untouched and lets go of what it held:
 * the MTA sends nothing more of it. */
static sfsistat
give_up(struct connctx *cc, const char *qid, const char *why)
{
	log_info("%s: untouched from=<%s>: %s", qid, cc->msg->sender, why);
	msg_free(cc->msg);
	cc->msg = NULL;
	return SMFIS_ACCEPT;
}

/* Buffers more of the message within max_message_size and the memory
 * budget; otherwise the message goes on untouched. */
static sfsistat
take(SMFICTX *ctx, struct connctx *cc, size_t more)
{
	char why[160];

	if (over_size(cc->msg, more)) {
		snprintf(why, sizeof(why), "size: over max_message_size (%zu)",
			 rt.cfg.max_message_size);
		return give_up(cc, queue_id(ctx), why);
	}
	if (!runtime_memory_reserve(&cc->msg->memory_held, more)) {
		snprintf(why, sizeof(why), "memory: the messages in flight use "
			 "milter_memory_limit (%zu)", rt.cfg.milter_memory_limit);
		return give_up(cc, queue_id(ctx), why);
	}
	return SMFIS_CONTINUE;
}

static sfsistat
cb_header(SMFICTX *ctx, char *name, char *value)
{
	struct connctx *cc = conn_of(ctx);
	struct msgctx *m = cc ? cc->msg : NULL;

	if (m == NULL)
		return fail_open(ctx, "header without a message context");
	if (strcasecmp(name, "DKIM-Signature") == 0) {
		log_info("%s: untouched from=<%s>: dkim: the message already has a DKIM-Signature",
			 queue_id(ctx), m->sender);
		return SMFIS_ACCEPT;
	}
	/* The beacon's own "Read:" mail (notify=mail) is never tracked. */
	if (strcasecmp(name, "X-Mailbeacon") == 0 &&
	    strcasecmp(value + strspn(value, " \t"), "notification") == 0) {
		log_info("%s: untouched from=<%s>: a mailbeacon notification (X-Mailbeacon: notification)",
			 queue_id(ctx), m->sender);
		return SMFIS_ACCEPT;
	}
	if (take(ctx, cc, strlen(name) + strlen(value) + 4) != SMFIS_CONTINUE)
		return SMFIS_ACCEPT;
	if (strcasecmp(name, "Message-ID") == 0 && m->message_id == NULL)
		m->message_id = strdup(value);
	else if (strcasecmp(name, "Subject") == 0 && m->subject == NULL)
		m->subject = strdup(value);
	mbuf_printf(&m->headers, "%s: %s\r\n", name, value);
	if (m->headers.failed)
		return fail_open(ctx, "out of memory");
	return SMFIS_CONTINUE;
}

static sfsistat
cb_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
	struct connctx *cc = conn_of(ctx);
	struct msgctx *m = cc ? cc->msg : NULL;

	if (m == NULL)
		return fail_open(ctx, "body without a message context");
	if (take(ctx, cc, len) != SMFIS_CONTINUE)
		return SMFIS_ACCEPT;
	if (mbuf_append(&m->body, chunk, len) < 0)
		return fail_open(ctx, "out of memory");
	return SMFIS_CONTINUE;
}

/* Writes the message's record; an existing one (a retry) is reused. */
static int
record_message(SMFICTX *ctx, struct msgctx *m, const struct rewrite_result *res,
	       char *err, size_t errlen)
{
	char words[128];
	const char **urls = calloc(res->n_links + 1, sizeof(*urls));
	struct store *st;
	int rc = -1;

	if (urls == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < res->n_links; i++)
		urls[i] = res->links[i].url;
	policy_words_str(res->words_applied, words, sizeof(words));
	const char *qid = smfi_getsymval(ctx, "i");
	struct store_message sm = {
		.id = res->msgid,
		.queue_id = qid,
		.message_id_header = m->message_id,
		.sender = m->sender,
		.sasl_login = m->auth,
		.sent = (long long)res->sent,
		.words = words,
		.recipient_hashes = (const unsigned char (*)[STORE_HASH_LEN])m->hashes,
		.n_recipients = m->n_rcpt,
		.link_urls = urls,
		.n_links = res->n_links,
		.subject = rt.cfg.store_subject ? m->subject : NULL,
	};
	if ((st = runtime_store_get(err, errlen)) != NULL) {
		if (runtime_store_write_begin()) {
			rc = store_message_insert(st, &sm, rt.cfg.store_link_urls);
			runtime_store_write_end();
			if (rc < 0)
				snprintf(err, errlen, "%s", store_errmsg(st));
		} else {
			snprintf(err, errlen, "busy: another message held the store for %d ms",
				 RUNTIME_STORE_BUSY_MS);
		}
		runtime_store_put(st, rc >= 0);
	}
	free(urls);
	return rc < 0 ? -1 : 0;
}

/* A retry of a message we recorded keeps its id, so the links delivered
 * the first time and now are the same message's. */
static int
find_previous(SMFICTX *ctx, struct msgctx *m, char id[STORE_ID_LEN + 1], long long *sent,
	      char *err, size_t errlen)
{
	struct store *st = runtime_store_get(err, errlen);

	if (st == NULL)
		return -1;
	int found = store_message_find(st, smfi_getsymval(ctx, "i"), m->message_id, m->sender,
				       id, sent);
	if (found < 0)
		snprintf(err, errlen, "%s", store_errmsg(st));
	runtime_store_put(st, found >= 0);
	return found;
}

enum consent_decision { CONSENT_TRACK, CONSENT_ASK, CONSENT_UNTRACKED };

/* consent=optin: tracked when every recipient has a live consent for the
 * sender; the ask footer when one without it was not asked within
 * consent_ask_interval; else untouched. A store that cannot say counts as
 * no consent and no ask: untracked and unasked, delivered (closed on
 * privacy, open on mail). */
static enum consent_decision
consent_decide(SMFICTX *ctx, const struct msgctx *m, time_t now)
{
	char err[512];
	size_t consented = 0, unasked = 0;
	struct store *st = runtime_store_get(err, sizeof(err));
	int rc = -1;

	if (st != NULL) {
		rc = store_consent_check(st, m->sender,
					 (const unsigned char (*)[STORE_HASH_LEN])m->hashes, m->n_rcpt,
					 (long long)now - rt.cfg.consent_ask_interval, &consented,
					 &unasked, err, sizeof(err));
		runtime_store_put(st, rc == 0);
	}
	if (rc < 0) {
		(store_unreachable() ? log_debug : log_warnx)(
		    "%s: untouched from=<%s>: consent=optin: the consents could not be read, so "
		    "the message goes untracked and unasked: %s", queue_id(ctx), m->sender, err);
		return CONSENT_UNTRACKED;
	}
	if (consented == m->n_rcpt)
		return CONSENT_TRACK;
	if (unasked > 0)
		return CONSENT_ASK;
	log_info("%s: untouched from=<%s>: consent=optin: %zu of %zu recipients have not "
		 "consented, and each was asked within consent_ask_interval", queue_id(ctx),
		 m->sender, m->n_rcpt - consented, m->n_rcpt);
	return CONSENT_UNTRACKED;
}

/* Records that the ask footer went to the recipients, for the interval and
 * for the consent page (who may say yes, to whom, for what). */
static int
record_ask(struct msgctx *m, const struct rewrite_params *p, const struct rewrite_result *res,
	   char *err, size_t errlen)
{
	struct store *st = runtime_store_get(err, errlen);
	int rc = -1;

	if (st == NULL)
		return -1;
	if (runtime_store_write_begin()) {
		rc = store_consent_asked(st, res->msgid, m->sender,
					 footer_tracked_phrase(m->words, p->location),
					 (const unsigned char (*)[STORE_HASH_LEN])m->hashes, m->n_rcpt,
					 (long long)res->sent, err, errlen);
		runtime_store_write_end();
	} else {
		snprintf(err, errlen, "busy: another message held the store for %d ms",
			 RUNTIME_STORE_BUSY_MS);
	}
	runtime_store_put(st, rc == 0);
	return rc;
}

static int
apply_result(SMFICTX *ctx, const struct rewrite_result *res)
{
	/* Postfix refuses body replacement interleaved with header
	 * changes: the whole body goes first, in one call. */
	if (smfi_replacebody(ctx, (unsigned char *)res->body.data, (int)res->body.len) != MI_SUCCESS)
		return -1;
	for (size_t i = 0; i < res->n_headers; i++) {
		const struct header_edit *h = &res->headers[i];
		int r = h->op == HEADER_ADD
		    ? smfi_addheader(ctx, h->name, h->value)
		    : smfi_chgheader(ctx, h->name, h->index, h->value);
		if (r != MI_SUCCESS)
			return -1;
	}
	return 0;
}

static sfsistat
cb_eom(SMFICTX *ctx)
{
	struct connctx *cc = conn_of(ctx);
	struct msgctx *m = cc ? cc->msg : NULL;
	struct rewrite_result res;
	char err[512], prev_id[STORE_ID_LEN + 1];
	long long prev_sent = 0;
	struct mbuf msg;
	sfsistat rc = SMFIS_CONTINUE;

	if (m == NULL)
		return fail_open(ctx, "end of message without a message context");
	const char *qid = queue_id(ctx);
	int found = find_previous(ctx, m, prev_id, &prev_sent, err, sizeof(err));
	if (found < 0)
		return fail_open_store(ctx, err);
	/* A retry of a tracked message had every consent then. */
	enum consent_decision consent = m->optin && !found ? consent_decide(ctx, m, time(NULL))
	    : CONSENT_TRACK;
	if (consent == CONSENT_UNTRACKED) {
		msg_free(m);
		cc->msg = NULL;
		return SMFIS_ACCEPT;
	}
	mbuf_init(&msg);
	mbuf_append(&msg, m->headers.data ? m->headers.data : "", m->headers.len);
	mbuf_puts(&msg, "\r\n");
	mbuf_append(&msg, m->body.data ? m->body.data : "", m->body.len);
	if (msg.failed) {
		mbuf_free(&msg);
		return fail_open(ctx, "out of memory");
	}
	mbuf_free(&m->body);	/* the copy in msg is the one we read */
	struct rewrite_params p = {
		.beacon_url = rt.cfg.beacon_url,
		.privacy_url = rt.cfg.privacy_url,
		.max_message_size = rt.cfg.max_message_size,
		.pixel_top = rt.cfg.pixel_position == PIXEL_TOP,
		.keys = &m->gen->keys,
		.words = m->words,
		.sender = m->sender_written,
		.footer_html = rt.footer_html,
		.footer_text = rt.footer_text,
		.now = found ? (time_t)prev_sent : time(NULL),
		.msgid = found ? prev_id : NULL,
		.location = rt.cfg.geoip_database == NULL ? FOOTER_NO_LOCATION
		    : rt.cfg.geoip_precision == GEOIP_CITY ? FOOTER_CITY : FOOTER_COUNTRY,
		.ask = consent == CONSENT_ASK,
		.footer_ask_html = rt.footer_ask_html,
		.footer_ask_text = rt.footer_ask_text,
	};
	if (rewrite_message(&p, msg.data, msg.len, &res) < 0) {
		rc = fail_open(ctx, "rewrite: %s", res.reason);
	} else if (!res.edited) {
		log_info("%s: untouched from=<%s>: %s", qid, m->sender, res.reason);
	} else if (p.ask ? record_ask(m, &p, &res, err, sizeof(err)) < 0
		   : !found && record_message(ctx, m, &res, err, sizeof(err)) < 0) {
		rc = fail_open_store(ctx, err);
	} else if (apply_result(ctx, &res) < 0) {
		rc = fail_open(ctx, "the MTA did not take the changes");
	} else if (p.ask) {
		log_info("%s: asked from=<%s>%s%s id=%s recipients=%zu: consent=optin, and a "
			 "recipient without consent was not asked within consent_ask_interval",
			 qid, m->sender, m->auth ? " sasl=" : "", m->auth ? m->auth : "",
			 res.msgid, m->n_rcpt);
	} else {
		char words[128];
		policy_words_str(res.words_applied, words, sizeof(words));
		log_info("%s: tracked from=<%s>%s%s id=%s words=\"%s\" links=%zu long=%zu recipients=%zu%s",
			 qid, m->sender, m->auth ? " sasl=" : "", m->auth ? m->auth : "",
			 res.msgid, words, res.n_links, res.n_long_links, m->n_rcpt,
			 found ? " (a retry: recorded before)" : "");
	}
	rewrite_result_free(&res);
	mbuf_free(&msg);
	msg_free(m);
	cc->msg = NULL;
	return rc;
}

static sfsistat
cb_abort(SMFICTX *ctx)
{
	struct connctx *cc = conn_of(ctx);

	if (cc != NULL) {
		msg_free(cc->msg);
		cc->msg = NULL;
	}
	return SMFIS_CONTINUE;
}

static sfsistat
cb_close(SMFICTX *ctx)
{
	struct connctx *cc = conn_of(ctx);

	if (cc != NULL) {
		msg_free(cc->msg);
		free(cc->daemon_name);
		free(cc);
		smfi_setpriv(ctx, NULL);
		pthread_mutex_lock(&active_lock);
		active_connections--;
		pthread_mutex_unlock(&active_lock);
	}
	return SMFIS_CONTINUE;
}

struct smfiDesc milter_desc = {
	.xxfi_name = "mailbeacon",
	.xxfi_version = SMFI_VERSION,
	.xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_CHGBODY,
	.xxfi_connect = cb_connect,
	.xxfi_envfrom = cb_envfrom,
	.xxfi_envrcpt = cb_envrcpt,
	.xxfi_header = cb_header,
	.xxfi_body = cb_body,
	.xxfi_eom = cb_eom,
	.xxfi_abort = cb_abort,
	.xxfi_close = cb_close,
	.xxfi_negotiate = cb_negotiate,
};
