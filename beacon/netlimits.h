/* beacon/netlimits: what one client network may do: requests per second,
 * addresses typed on an opt-out page, connections at once; and the recent
 * clicks of a message that tell a scanner from a person. */
#ifndef MB_NETLIMITS_H
#define MB_NETLIMITS_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <microhttpd.h>

/* True when the client network may make another request now. */
bool limit_allow(const char *network, long long now_ms);
/* True when another typed address may be tried on the opt-out page of
 * message msgid from this client network (a few an hour for each). */
bool limit_optout_attempt(const char *msgid, const char *network, long long now_ms);
/* beacon_max_connections_per_network: the table (for max_connections),
 * libmicrohttpd's accept policy (refuses a network at its cap) and its
 * connection notifications (count from start to close). Trusted proxies
 * are not counted. */
int conn_limit_init(size_t max_connections);
void conn_limit_free(void);
enum MHD_Result conn_limit_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen);
void conn_limit_notify(void *cls, struct MHD_Connection *c, void **socket_context,
		       enum MHD_ConnectionNotificationCode code);
/* Notes a click and returns how many other links of the message were
 * clicked within the last second. */
unsigned recent_other_links(const char *msgid, unsigned link, long long now_ms);

#endif
