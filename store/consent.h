/* store/consent: the queries of consent=optin (issue 14), the same SQL on
 * both backends (sq.c): the recipients' consents per sender with their proof
 * (time, message or source, notice version), and the asks the milter sent
 * (the ask footer), which say whom a consent page may record and when a
 * recipient was last asked. Recipients only as keyed hashes; a consent is
 * withdrawn by the recipient's opt-out, which outlives forget. */
#ifndef MB_STORE_CONSENT_H
#define MB_STORE_CONSENT_H
#include <stdbool.h>
#include <stddef.h>
#include "store.h"

/* Errors: -1 with "what: the database's reason" in err. */

/* For a message from sender (canonical) to these recipients: how many have
 * a live consent for that sender (given, and no opt-out since), and how
 * many of the others were not asked by this sender at or after
 * asked_since. */
int store_consent_check(struct store *st, const char *sender,
			const unsigned char (*hashes)[STORE_HASH_LEN], size_t n,
			long long asked_since, size_t *consented, size_t *unasked,
			char *err, size_t errlen);
/* Records, in one transaction, that message message_id (its ask footer)
 * asked these recipients on behalf of sender. A retry of the same message
 * changes nothing. tracked says what tracking the recipient is asked for, as the
 * tracked footer says it ("opens and link clicks"): the consent page shows
 * it. */
int store_consent_asked(struct store *st, const char *message_id, const char *sender,
			const char *tracked, const unsigned char (*hashes)[STORE_HASH_LEN],
			size_t n, long long when, char *err, size_t errlen);

/* What the consent page of a message needs: whom it asked for (sender,
 * tracked, malloc'd), when, how many recipients (total) and the first
 * one's hash. 1 when the message asked, 0 when it is unknown here. */
struct store_consent_ask {
	char *sender;
	char *tracked;
	long long time;
	size_t total;
	unsigned char first[STORE_HASH_LEN];
};
int store_consent_ask_find(struct store *st, const char *message_id,
			   struct store_consent_ask *out, char *err, size_t errlen);
void store_consent_ask_free(struct store_consent_ask *a);
/* 1 when the message asked this recipient, 0 when not, -1 on error. */
int store_consent_ask_has(struct store *st, const char *message_id,
			  const unsigned char hash[STORE_HASH_LEN], char *err, size_t errlen);

/* Records a consent with its proof, committed (on SQLite into the file
 * still at the database's path): message_id is the message it came
 * through, or NULL with source (consent given outside mail). Returns 0
 * when recorded, 1 when nothing was written: the same consent was there
 * already (a replayed form) or the recipient opted out (a withdrawal
 * stands until the recipient lifts it; never by a replayed link). */
int store_consent_add(struct store *st, const unsigned char hash[STORE_HASH_LEN],
		      const char *sender, long long when, const char *message_id,
		      const char *source, const char *notice_version, char *err, size_t errlen);

/* One consent as listed and exported. */
struct store_consent {
	const unsigned char *recipient_hash;	/* STORE_HASH_LEN bytes */
	const char *sender;
	long long time;
	const char *message_id;		/* or NULL */
	const char *source;		/* or NULL */
	const char *notice_version;
	bool withdrawn;			/* the recipient opted out */
	long long withdrawn_time;
};
/* The consents for sender (NULL: every sender) of recipient hash (NULL:
 * every recipient), oldest first; fn returns non-zero to stop (returned). */
int store_consent_list(struct store *st, const char *sender, const unsigned char *hash,
		       int (*fn)(void *arg, const struct store_consent *c), void *arg,
		       char *err, size_t errlen);
/* The asks that reached recipient hash, oldest first. */
int store_consent_asks_of(struct store *st, const unsigned char hash[STORE_HASH_LEN],
			  int (*fn)(void *arg, const char *sender, const char *message_id,
				    long long time), void *arg, char *err, size_t errlen);

/* The consents feed of mailbeacon sync (GET /api/v1/consents): consents
 * (kind "consent": message_id or source, notice_version) and asks (kind
 * "ask": message_id, tracked) recorded at or after since, oldest first, at
 * most limit; fn returns non-zero to stop (returned). */
struct store_consent_item {
	const char *kind;			/* "consent" or "ask" */
	const unsigned char *recipient_hash;	/* STORE_HASH_LEN bytes */
	const char *sender;
	long long time;
	const char *message_id;		/* consents: or NULL */
	const char *source;		/* consents only, or NULL */
	const char *notice_version;	/* consents only */
	const char *tracked;		/* asks only */
};
int store_consent_feed(struct store *st, long long since, size_t limit,
		       int (*fn)(void *arg, const struct store_consent_item *it), void *arg,
		       char *err, size_t errlen);

/* Per sender (ordered): recipients asked, recipients with a consent (on
 * the consent page or outside mail), those of them who withdrew it (opted
 * out), and the asked ones who consented (the consent rate's numerator). */
struct store_consent_counts {
	const char *sender;
	long long asked, consented, withdrawn, asked_consented;
};
int store_consent_counts(struct store *st, const char *sender,
			 int (*fn)(void *arg, const struct store_consent_counts *c), void *arg,
			 char *err, size_t errlen);

/* forget --recipient: deletes the recipient's consents and asks in one
 * transaction, the rows counted in *consents and *asks. The withdrawal
 * (the opt-out) is not touched. */
int store_consent_forget(struct store *st, const unsigned char hash[STORE_HASH_LEN],
			 long long *consents, long long *asks, char *err, size_t errlen);
/* forget --sender: the same for every consent given to sender and every
 * ask sent for it (ASCII case-insensitive): a consent is the recipient's
 * proof of what they agreed to with that sender, erased with the sender's
 * data. Opt-outs (withdrawals) are not touched. */
int store_consent_forget_sender(struct store *st, const char *sender, long long *consents,
				long long *asks, char *err, size_t errlen);

/* purge: deletes, in one transaction, the asks sent before cutoff (the
 * caller keeps them at least consent_ask_interval and retention_days),
 * counted in *asks. Consents are kept: they are proof. */
int store_consent_purge(struct store *st, long long cutoff, long long *asks, char *err,
			size_t errlen);

#endif
