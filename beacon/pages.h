/* beacon/pages: the HTML pages of mailbeacond (the opt-out form and its
 * answers, the privacy page), each written whole into an mbuf. */
#ifndef MB_PAGES_H
#define MB_PAGES_H
#include <stdbool.h>
#include <stddef.h>

struct config;
struct mbuf;

/* The opt-out form of a message with that many recipients (more than one,
 * or 0 when unknown here, asks for the address); url is where it posts. */
void page_optout(struct mbuf *b, const struct config *cfg, const char *url, size_t recipients);
/* A message purged from the store: nothing can be recorded any more. */
void page_optout_expired(struct mbuf *b, const struct config *cfg);
/* The answers to the form: recorded (the only recipient); no address
 * typed (url: back to the form, whose title this page keeps; the consent
 * form's too); too many addresses tried; and the one
 * answer to any typed address, recipient or not. */
void page_optout_done(struct mbuf *b);
void page_address_needed(struct mbuf *b, const char *title, const char *url);
void page_optout_too_many(struct mbuf *b);
void page_optout_received(struct mbuf *b);
/* consent=optin's consent page. The notice is what a person agrees to:
 * who asks (the sender), what would be recorded (tracked: "opens and link
 * clicks", as the tracked footer says it), how and for how long; its hash
 * is the consent's notice version. page_consent shows the notice, the
 * version in the form and the address question when the message had
 * several recipients; changed says the notice changed since the page was
 * loaded (nothing was recorded). */
void page_consent_notice(struct mbuf *b, const struct config *cfg, const char *sender,
			 const char *tracked);
void page_consent(struct mbuf *b, const char *notice, const char *version, const char *url,
		  size_t recipients, bool changed);
/* The answers: recorded (the only recipient); the recipient had stopped
 * tracking, which a consent page does not undo; the one answer to any
 * typed address; a message this service does not
 * know (expired, or asked on another host): nothing recorded. */
void page_consent_done(struct mbuf *b, const char *sender);
void page_consent_stopped(struct mbuf *b);
void page_consent_received(struct mbuf *b);
void page_consent_unknown(struct mbuf *b);
/* What the service records (/privacy). */
void page_privacy(struct mbuf *b, const struct config *cfg);

#endif
