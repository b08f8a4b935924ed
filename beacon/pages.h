/* beacon/pages: the HTML pages of mailbeacond (the opt-out form and its
 * answers, the privacy page), each written whole into an mbuf. */
#ifndef MB_PAGES_H
#define MB_PAGES_H
#include <stddef.h>

struct config;
struct mbuf;

/* The opt-out form of a message with that many recipients (more than one,
 * or 0 when unknown here, asks for the address); url is where it posts. */
void page_optout(struct mbuf *b, const struct config *cfg, const char *url, size_t recipients);
/* A message purged from the store: nothing can be recorded any more. */
void page_optout_expired(struct mbuf *b, const struct config *cfg);
/* The answers to the form: recorded (the only recipient); no address
 * typed (url: back to the form); too many addresses tried; and the one
 * answer to any typed address, recipient or not. */
void page_optout_done(struct mbuf *b);
void page_optout_address_needed(struct mbuf *b, const char *url);
void page_optout_too_many(struct mbuf *b);
void page_optout_received(struct mbuf *b);
/* What the service records (/privacy). */
void page_privacy(struct mbuf *b, const struct config *cfg);

#endif
