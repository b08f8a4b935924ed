/* beacon/classify: what the beacon may know about a request, reduced before it is
 * written: the client's network (IPv4 /24, IPv6 /48), a client class instead
 * of the user agent, and a verdict on whether a person or a machine (an
 * image proxy, a prefetcher, a security scanner) made the request. Pure
 * functions, no I/O. */
#ifndef MB_CLASSIFY_H
#define MB_CLASSIFY_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

enum verdict {
	VERDICT_HUMAN,
	VERDICT_APPLE_MPP,	/* Apple Mail Privacy Protection prefetch */
	VERDICT_GMAIL_PROXY,	/* Google's image proxy: a real open */
	VERDICT_PREFETCH,	/* HEAD, Purpose/Sec-Purpose: prefetch */
	VERDICT_SCANNER,	/* security scanners, too fast, too many */
};
#define VERDICT_COUNT 5

struct request_facts {
	bool head;			/* HEAD request */
	char kind;			/* 'o' open, 'c' click, 'u' opt-out page */
	const char *user_agent;		/* NULL when absent */
	const char *purpose;		/* Purpose header, or NULL */
	const char *sec_purpose;	/* Sec-Purpose header, or NULL */
	const struct sockaddr *client;	/* the real client (after trusted proxies) */
	long long sent;			/* the token's send time */
	long long now;
	unsigned other_links_last_second;	/* other links of the message clicked within 1 s */
	bool honeypot;			/* the invisible link was followed */
	unsigned scanner_window;	/* seconds after sending: a click is a scanner */
};

enum verdict classify_verdict(const struct request_facts *f);
const char *verdict_name(enum verdict v);	/* "human", "apple-mpp", ... */
/* A coarse class of the client from its user agent: "apple-mail", "gmail",
 * "outlook", "thunderbird", "yahoo", "ios", "android", "windows", "macos",
 * "linux", "bot", "unknown". Never the user agent itself. */
const char *classify_client(const char *user_agent);
/* "192.0.2.0/24" or "2001:db8:1::/48"; an IPv6 address that embeds the
 * client's IPv4 address (IPv4-mapped, 6to4, Teredo) counts as that IPv4. */
int classify_mask_ip(const struct sockaddr *sa, char *out, size_t outlen);
/* The client's IPv4 address into a[4]: of an IPv4 sa, and of an IPv6 one
 * that embeds it (IPv4-mapped, 6to4, Teredo); false for any other. */
bool classify_ipv4_of(const struct sockaddr *sa, uint8_t a[4]);
/* Sec-GPC: 1 or DNT: 1: counted, not attributed. */
bool classify_dnt(const char *sec_gpc, const char *dnt);

#endif
