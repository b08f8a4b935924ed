/* address: the one canonical form of a mail address. Everything that hashes
 * an address (store_recipient_hash: the milter, the beacon, optout, export,
 * forget) or matches one (the sender policy, the SASL login check) goes
 * through it, so two spellings of one mailbox are one mailbox. */
#ifndef MB_ADDRESS_H
#define MB_ADDRESS_H

/* The canonical form of addr, newly allocated; NULL only when out of
 * memory. Blanks and one pair of <> around it are dropped; a quoted local
 * part that is a plain dot-string is unquoted ("b\ob" is bob), any other
 * valid quoted one is quoted again with only '"' and '\' escaped; the whole
 * address is lower-cased (local part included: the stored recipient hashes
 * have always been of the lower-cased address); an internationalised domain
 * becomes its A-label (IDNA2008, UTS #46 mapping). "+tags" are kept. Input
 * that is not a valid address (unbalanced quotes, no '@', a domain libidn2
 * refuses) keeps its spelling, lower-cased: a defined result, never an
 * error. An already plain ASCII address is only lower-cased. */
char *address_canonical(const char *addr);

/* The canonical form of a domain alone: A-label, lower-cased. */
char *address_domain_canonical(const char *domain);

#endif
