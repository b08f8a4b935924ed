/* mbconfig: mailbeacon.conf(5), Postfix-style "name = value" lines. One table of
 * keys with types and defaults; any unknown key, bad value, duplicate or
 * missing required key is an error naming the file and line. */
#ifndef MB_CONFIG_H
#define MB_CONFIG_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include "log.h"

enum on_error { ON_ERROR_ACCEPT, ON_ERROR_TEMPFAIL };
enum pixel_position { PIXEL_BOTTOM, PIXEL_TOP };
enum store_link_urls { STORE_URLS_FULL, STORE_URLS_PATH, STORE_URLS_NONE };
enum geoip_precision { GEOIP_COUNTRY, GEOIP_CITY };

struct cidr {
	int family;		/* AF_INET or AF_INET6 */
	unsigned char addr[16];	/* network order; IPv4 uses the first 4 */
	int prefix;
};

struct config {
	char *path;
	char *milter_socket;	/* unix:/path or inet:port@host */
	char *database;		/* a file name, or a postgresql:// URI */
	char *database_password_file;	/* PostgreSQL's password, or NULL */
	int database_timeout;	/* seconds: PostgreSQL's connect and query deadline */
	char *report_database;	/* what reports read (a replica), or NULL */
	int database_line, report_database_line;	/* in the file; 0: the default */
	char *policy_file;
	char *key_file;
	char *hash_key_file;	/* the never-rotated key of recipient hashes */
	char *outbound_daemon_names;	/* {daemon_name} values meaning outbound */
	char *beacon_url;	/* no trailing slash, http(s)://host[:port][/path] */
	char *beacon_listen;	/* host:port */
	char *footer_html;	/* template path, or NULL for the built-in one */
	char *footer_text;
	char *privacy_url;	/* default: beacon_url + "/privacy" */
	struct cidr *internal_hosts;
	size_t n_internal_hosts;
	char *user;
	enum on_error on_error;
	size_t max_message_size;	/* bytes */
	size_t milter_memory_limit;	/* bytes, over all messages in flight */
	int retention_days;
	enum pixel_position pixel_position;
	enum store_link_urls store_link_urls;
	bool store_subject;
	enum log_level log_level;	/* the milter's; -d raises it to debug */
	/* the beacon */
	char *api_token_file;	/* bearer token of /api/v1/events, or NULL */
	struct cidr *trusted_proxies;	/* whose X-Forwarded-For is believed */
	size_t n_trusted_proxies;
	int scanner_window;	/* seconds after sending: clicks are machines */
	int beacon_max_connections;
	int beacon_max_connections_per_network;	/* from one /24 or /48; 0: no cap */
	int beacon_rate_limit;	/* requests per second per client network */
	int beacon_timeout;	/* seconds */
	/* notify=mail: the beacon's "Read:" mails */
	char *sendmail_path;	/* the command and its arguments, split at spaces */
	char *notify_from;	/* the envelope sender; "<>" for the null sender */
	int notify_max_per_hour;	/* per sender; beyond it one summary an hour */
	char *geoip_database;	/* an MMDB file, or NULL: no location recorded */
	enum geoip_precision geoip_precision;	/* what of the location is stored */
	char *data_key_file;	/* keys that would encrypt stored fields; refused for now */
	char *footer_ask_html;	/* consent=optin's ask footer, or NULL: built in */
	char *footer_ask_text;
	int consent_ask_interval;	/* seconds: a recipient is asked once in it */
};

/* Loads path into cfg (zeroed first). Returns 0, or -1 with a message of
 * the form "FILE:LINE: reason" (or "FILE: reason") in err. */
int config_load(const char *path, struct config *cfg, char *err, size_t errlen);
void config_free(struct config *cfg);
/* The i-th setting of the table: its name, its default (NULL: none) and
 * whether it is required; false past the last. For the test that holds
 * mailbeacon.conf(5) to the table. */
bool config_setting(size_t i, const char **name, const char **def, bool *required);

/* 0 when v is an http:// or https:// URL with a valid host and optional
 * port, and no white space, control bytes, non-ASCII or user name; strict
 * also refuses a query or fragment. Shared with the policy's notify=. */
int config_check_url(const char *v, int strict);

int cidr_parse(const char *s, struct cidr *out);
/* True when sa (AF_INET or AF_INET6; IPv4-mapped IPv6 counts as IPv4) lies
 * in one of the n networks. */
bool cidr_match_any(const struct cidr *list, size_t n, const struct sockaddr *sa);

#endif
