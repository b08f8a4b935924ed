/* mbconfig: reads mailbeacon.conf(5). Every setting is one row of cfg_keys[]
 * so a new setting is one new row; a typo, bad value, duplicate or missing
 * required setting stops the program with the file and line, never a guess. */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mbconfig.h"
#include "fileline.h"
#include "mbuf.h"

#define CONFIG_FILE_MAX	(1024 * 1024)

/* configure's --sysconfdir, --localstatedir and --runstatedir (autoconf.h,
 * included on the command line): the defaults below are where "make
 * install" and the Debian package put things, /etc/mailbeacon,
 * /var/lib/mailbeacon and /run/mailbeacon for prefix /usr. */
#if !defined(SYSCONFDIR) || !defined(LOCALSTATEDIR) || !defined(RUNSTATEDIR)
#error "SYSCONFDIR, LOCALSTATEDIR and RUNSTATEDIR come from configure (autoconf.h)"
#endif

enum cfg_type {
	CFG_STRING,	/* free text, checked by cfg_key.check */
	CFG_PATH,	/* a file name; relative ones resolved against the file */
	CFG_OPTPATH,	/* a file name, or empty for "built in" (NULL) */
	CFG_INT,	/* decimal digits within min..max */
	CFG_ENUM,	/* one of cfg_key.words */
	CFG_BOOL,	/* yes or no */
	CFG_CIDRS,	/* list of networks */
	CFG_DATABASE,	/* a file name (or sqlite:FILE), or a postgresql:// URI kept
			 * as written; empty for none when there is no default */
	CFG_DURATION,	/* digits and a unit (d, h, m, s; none: days), kept in
			 * seconds within min..max */
};

struct cfg_word {
	const char *name;
	int value;
};

struct cfg_key {
	const char *name;
	enum cfg_type type;
	const char *def;	/* NULL: no default (required, or left NULL) */
	int required;
	size_t offset;
	size_t size;
	int (*check)(char *value);	/* may normalise in place */
	long long min, max;
	const struct cfg_word *words;
	const char *expected;	/* completes "bad value 'x' for K: expected " */
};

static int check_socket(char *);
static int check_beacon_url(char *);
static int check_privacy_url(char *);
static int check_listen(char *);
static int check_user(char *);
static int check_daemon_names(char *);
static int check_sendmail_path(char *);
static int check_notify_from(char *);

static const struct cfg_word on_error_words[] = {
	{ "accept", ON_ERROR_ACCEPT }, { "tempfail", ON_ERROR_TEMPFAIL },
	{ NULL, 0 }
};
static const struct cfg_word pixel_words[] = {
	{ "bottom", PIXEL_BOTTOM }, { "top", PIXEL_TOP }, { NULL, 0 }
};
static const struct cfg_word store_urls_words[] = {
	{ "full", STORE_URLS_FULL }, { "path", STORE_URLS_PATH },
	{ "none", STORE_URLS_NONE }, { NULL, 0 }
};

static const struct cfg_word geoip_precision_words[] = {
	{ "country", GEOIP_COUNTRY }, { "city", GEOIP_CITY }, { NULL, 0 }
};
static const struct cfg_word log_level_words[] = {
	{ "error", LOG_LEVEL_ERROR }, { "warning", LOG_LEVEL_WARNING },
	{ "info", LOG_LEVEL_INFO }, { "debug", LOG_LEVEL_DEBUG }, { NULL, 0 }
};

#define FIELD(f) offsetof(struct config, f), sizeof(((struct config *)0)->f)

static const struct cfg_key cfg_keys[] = {
	{ "milter_socket", CFG_STRING, "unix:" RUNSTATEDIR "/mailbeacon/milter.sock", 0,
	  FIELD(milter_socket), check_socket, 0, 0, NULL,
	  "unix:/absolute/path, inet:PORT@HOST or inet6:PORT@HOST" },
	{ "database", CFG_DATABASE, LOCALSTATEDIR "/lib/mailbeacon/mailbeacon.db", 0,
	  FIELD(database), NULL, 0, 0, NULL, "a file name or a postgresql:// URI" },
	{ "database_password_file", CFG_OPTPATH, NULL, 0,
	  FIELD(database_password_file), NULL, 0, 0, NULL, "a file name" },
	{ "database_timeout", CFG_INT, "5", 0,
	  FIELD(database_timeout), NULL, 1, 300, NULL,
	  "a number of seconds from 1 to 300" },
	{ "report_database", CFG_DATABASE, NULL, 0,
	  FIELD(report_database), NULL, 0, 0, NULL, "a file name or a postgresql:// URI" },
	{ "policy_file", CFG_PATH, SYSCONFDIR "/mailbeacon/policy", 0,
	  FIELD(policy_file), NULL, 0, 0, NULL, "a file name" },
	{ "key_file", CFG_PATH, SYSCONFDIR "/mailbeacon/keys", 0,
	  FIELD(key_file), NULL, 0, 0, NULL, "a file name" },
	{ "hash_key_file", CFG_PATH, SYSCONFDIR "/mailbeacon/hash.key", 0,
	  FIELD(hash_key_file), NULL, 0, 0, NULL, "a file name" },
	{ "outbound_daemon_names", CFG_STRING, "ORIGINATING", 0,
	  FIELD(outbound_daemon_names), check_daemon_names, 0, 0, NULL,
	  "daemon names, Postfix's or sendmail's (letters, digits, '.', '_', '-') separated "
	  "by commas or blanks" },
	{ "beacon_url", CFG_STRING, NULL, 1,
	  FIELD(beacon_url), check_beacon_url, 0, 0, NULL,
	  "an http:// or https:// URL with a host and no query, fragment "
	  "or user name" },
	{ "beacon_listen", CFG_STRING, "127.0.0.1:8025", 0,
	  FIELD(beacon_listen), check_listen, 0, 0, NULL,
	  "HOST:PORT or [IPV6]:PORT" },
	{ "footer_html", CFG_OPTPATH, NULL, 0,
	  FIELD(footer_html), NULL, 0, 0, NULL, "a file name" },
	{ "footer_text", CFG_OPTPATH, NULL, 0,
	  FIELD(footer_text), NULL, 0, 0, NULL, "a file name" },
	{ "privacy_url", CFG_STRING, NULL, 0,
	  FIELD(privacy_url), check_privacy_url, 0, 0, NULL,
	  "an http:// or https:// URL" },
	{ "internal_hosts", CFG_CIDRS, "127.0.0.0/8, ::1/128", 0,
	  FIELD(internal_hosts), NULL, 0, 0, NULL,
	  "networks such as 192.0.2.0/24 or 2001:db8::/32, with no host "
	  "bits set" },
	{ "user", CFG_STRING, "mailbeacon", 0,
	  FIELD(user), check_user, 0, 0, NULL,
	  "a user name matching [a-z_][a-z0-9_-]{0,31}" },
	{ "on_error", CFG_ENUM, "accept", 0,
	  FIELD(on_error), NULL, 0, 0, on_error_words, "accept or tempfail" },
	{ "max_message_size", CFG_INT, "10485760", 0,
	  FIELD(max_message_size), NULL, 1024, 1073741824LL, NULL,
	  "a number of bytes from 1024 to 1073741824" },
	{ "milter_memory_limit", CFG_INT, "1073741824", 0,
	  FIELD(milter_memory_limit), NULL, 4096, 68719476736LL, NULL,
	  "a number of bytes from 4096 to 68719476736" },
	{ "retention_days", CFG_INT, "90", 0,
	  FIELD(retention_days), NULL, 1, 3650, NULL,
	  "a number of days from 1 to 3650" },
	{ "pixel_position", CFG_ENUM, "bottom", 0,
	  FIELD(pixel_position), NULL, 0, 0, pixel_words, "bottom or top" },
	{ "store_link_urls", CFG_ENUM, "path", 0,
	  FIELD(store_link_urls), NULL, 0, 0, store_urls_words,
	  "full, path or none" },
	{ "store_subject", CFG_BOOL, "no", 0,
	  FIELD(store_subject), NULL, 0, 0, NULL, "yes or no" },
	{ "log_level", CFG_ENUM, "info", 0,
	  FIELD(log_level), NULL, 0, 0, log_level_words,
	  "error, warning, info or debug" },
	{ "api_token_file", CFG_OPTPATH, NULL, 0,
	  FIELD(api_token_file), NULL, 0, 0, NULL, "a file name" },
	{ "trusted_proxies", CFG_CIDRS, "", 0,
	  FIELD(trusted_proxies), NULL, 0, 0, NULL,
	  "networks such as 127.0.0.1/32, with no host bits set" },
	{ "scanner_window", CFG_INT, "30", 0,
	  FIELD(scanner_window), NULL, 0, 3600, NULL,
	  "a number of seconds from 0 to 3600" },
	{ "beacon_max_connections", CFG_INT, "1000", 0,
	  FIELD(beacon_max_connections), NULL, 1, 100000, NULL,
	  "a number from 1 to 100000" },
	{ "beacon_max_connections_per_network", CFG_INT, "100", 0,
	  FIELD(beacon_max_connections_per_network), NULL, 0, 100000, NULL,
	  "a number from 0 (no cap) to 100000" },
	{ "beacon_rate_limit", CFG_INT, "50", 0,
	  FIELD(beacon_rate_limit), NULL, 1, 100000, NULL,
	  "requests per second per client network, from 1 to 100000" },
	{ "beacon_timeout", CFG_INT, "10", 0,
	  FIELD(beacon_timeout), NULL, 1, 300, NULL,
	  "a number of seconds from 1 to 300" },
	{ "sendmail_path", CFG_STRING, "/usr/sbin/sendmail", 0,
	  FIELD(sendmail_path), check_sendmail_path, 0, 0, NULL,
	  "an absolute file name, optionally followed by arguments separated by spaces" },
	{ "notify_from", CFG_STRING, "<>", 0,
	  FIELD(notify_from), check_notify_from, 0, 0, NULL,
	  "<> (the null sender) or an address local@domain" },
	{ "notify_max_per_hour", CFG_INT, "20", 0,
	  FIELD(notify_max_per_hour), NULL, 1, 100000, NULL,
	  "a number from 1 to 100000" },
	{ "geoip_database", CFG_OPTPATH, NULL, 0,
	  FIELD(geoip_database), NULL, 0, 0, NULL, "a file name" },
	{ "geoip_precision", CFG_ENUM, "country", 0,
	  FIELD(geoip_precision), NULL, 0, 0, geoip_precision_words, "country or city" },
	{ "data_key_file", CFG_OPTPATH, NULL, 0,
	  FIELD(data_key_file), NULL, 0, 0, NULL, "a file name" },
	{ "footer_ask_html", CFG_OPTPATH, NULL, 0,
	  FIELD(footer_ask_html), NULL, 0, 0, NULL, "a file name" },
	{ "footer_ask_text", CFG_OPTPATH, NULL, 0,
	  FIELD(footer_ask_text), NULL, 0, 0, NULL, "a file name" },
	{ "consent_ask_interval", CFG_DURATION, "180d", 0,
	  FIELD(consent_ask_interval), NULL, 1, 3650LL * 86400, NULL,
	  "a number followed by d (days), h, m or s, from 1s to 3650d" },
};
#define N_CFG_KEYS (sizeof(cfg_keys) / sizeof(cfg_keys[0]))

/* What the file said for each key. */
struct cfg_seen {
	char *value;
	int line;
};

struct cfg_ctx {
	const char *path;
	char *dir;		/* where relative file names point */
	struct config *cfg;
	struct cfg_seen seen[N_CFG_KEYS];
	char *err;
	size_t errlen;
};

static int
cfg_error(struct cfg_ctx *cx, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
cfg_error(struct cfg_ctx *cx, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fileline_vformat(cx->err, cx->errlen, cx->path, line, fmt, ap);
	va_end(ap);
	return -1;
}

/* --- value checks ------------------------------------------------------ */

static int
parse_port(const char *s, size_t len)
{
	long v = 0;
	size_t i;

	if (len == 0 || len > 5 || s[0] == '0')
		return -1;
	for (i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return (v >= 1 && v <= 65535) ? (int)v : -1;
}

static int
is_hostname(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > 253)
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!isalnum(c) && c != '-' && c != '.' && c != '_')
			return 0;
	}
	return 1;
}

static int
is_ipv6_literal(const char *s, size_t len)
{
	char buf[INET6_ADDRSTRLEN + 1];
	struct in6_addr a;

	if (len == 0 || len >= sizeof(buf))
		return 0;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return inet_pton(AF_INET6, buf, &a) == 1;
}

/* A host as written in a URL or listen address: a name, an IPv4 address,
 * or an IPv6 address in brackets. */
static int
is_url_host(const char *s, size_t len)
{
	if (len >= 2 && s[0] == '[' && s[len - 1] == ']')
		return is_ipv6_literal(s + 1, len - 2);
	return is_hostname(s, len);
}

static int
check_socket(char *v)
{
	const char *at, *spec;
	size_t i;

	if (strncmp(v, "unix:", 5) == 0) {
		if (v[5] != '/' || v[6] == '\0')
			return -1;
		for (i = 5; v[i] != '\0'; i++)
			if (isspace((unsigned char)v[i]) ||
			    iscntrl((unsigned char)v[i]))
				return -1;
		return 0;
	}
	if (strncmp(v, "inet:", 5) == 0)
		spec = v + 5;
	else if (strncmp(v, "inet6:", 6) == 0)
		spec = v + 6;
	else
		return -1;
	if ((at = strchr(spec, '@')) == NULL)
		return -1;
	if (parse_port(spec, (size_t)(at - spec)) == -1)
		return -1;
	at++;
	/* inet6 hosts may be written bare (::1) or in brackets ([::1]). */
	if (is_url_host(at, strlen(at)) || is_ipv6_literal(at, strlen(at)))
		return 0;
	return -1;
}

/* User info is always refused: it is how look-alike URLs hide their host. */
int
config_check_url(const char *v, int strict)
{
	const char *p, *auth, *end, *hostend;

	if (strncmp(v, "https://", 8) == 0)
		auth = v + 8;
	else if (strncmp(v, "http://", 7) == 0)
		auth = v + 7;
	else
		return -1;
	for (p = v; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;
		if (c <= 0x20 || c >= 0x7f)
			return -1;
		if (strict && (c == '?' || c == '#'))
			return -1;
	}
	end = auth + strcspn(auth, "/?#");
	if (memchr(auth, '@', (size_t)(end - auth)) != NULL)
		return -1;
	if (auth[0] == '[') {
		hostend = memchr(auth, ']', (size_t)(end - auth));
		if (hostend == NULL)
			return -1;
		hostend++;
	} else {
		hostend = memchr(auth, ':', (size_t)(end - auth));
		if (hostend == NULL)
			hostend = end;
	}
	if (!is_url_host(auth, (size_t)(hostend - auth)))
		return -1;
	if (hostend == end)
		return 0;
	if (*hostend != ':')
		return -1;
	return parse_port(hostend + 1, (size_t)(end - hostend - 1)) == -1 ? -1 : 0;
}

static int
check_beacon_url(char *v)
{
	size_t len;

	if (config_check_url(v, 1) == -1)
		return -1;
	len = strlen(v);
	if (v[len - 1] == '/')
		v[--len] = '\0';
	/* A second slash would give "//o/..." in every tracking URL. */
	if (v[len - 1] == '/')
		return -1;
	return 0;
}

static int
check_privacy_url(char *v)
{
	return config_check_url(v, 0);
}

static int
check_listen(char *v)
{
	const char *colon = strrchr(v, ':');
	size_t hostlen;

	if (colon == NULL)
		return -1;
	hostlen = (size_t)(colon - v);
	if (v[0] == '[') {
		if (hostlen < 2 || v[hostlen - 1] != ']' ||
		    !is_ipv6_literal(v + 1, hostlen - 2))
			return -1;
	} else if (!is_hostname(v, hostlen))
		return -1;
	return parse_port(colon + 1, strlen(colon + 1)) == -1 ? -1 : 0;
}

/* milter_macro_daemon_name values that mark submission services. */
static int
check_daemon_names(char *v)
{
	int words = 0;

	for (char *p = v; *p; p++) {
		if (*p == ',' || *p == ' ' || *p == '\t')
			continue;
		if (!isalnum((unsigned char)*p) && !strchr("._-", *p))
			return -1;
		if (p == v || strchr(", \t", p[-1]))
			words++;
	}
	return words > 0 ? 0 : -1;
}

/* The command the beacon's "Read:" mails go through: an absolute file
 * name and any arguments, split at spaces (no quoting), printable ASCII. */
static int
check_sendmail_path(char *v)
{
	if (v[0] != '/')
		return -1;
	for (const char *p = v; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			return -1;
	return 0;
}

/* The envelope sender of "Read:" mails: "<>" or local@domain with nothing
 * a command line or a header could trip on. */
static int
check_notify_from(char *v)
{
	const char *at = strchr(v, '@');

	if (strcmp(v, "<>") == 0)
		return 0;
	if (at == NULL || at == v || at[1] == '\0' || strchr(at + 1, '@') != NULL || v[0] == '-')
		return -1;
	for (const char *p = v; *p; p++)
		if (*p <= 0x20 || *p > 0x7e || strchr("<>()[]\\,;:\"", *p) != NULL)
			return -1;
	return 0;
}

static int
check_user(char *v)
{
	size_t i, len = strlen(v);

	if (len < 1 || len > 32)
		return -1;
	if (!(islower((unsigned char)v[0]) || v[0] == '_'))
		return -1;
	for (i = 1; i < len; i++) {
		unsigned char c = (unsigned char)v[i];
		if (!((c >= 'a' && c <= 'z') || isdigit(c) || c == '_' ||
		    c == '-'))
			return -1;
	}
	return 0;
}

/* --- CIDR -------------------------------------------------------------- */

static int
cidr_host_bits_clear(const struct cidr *c)
{
	int bytes = c->family == AF_INET ? 4 : 16;
	int i, bit;

	for (i = 0; i < bytes; i++) {
		for (bit = 0; bit < 8; bit++) {
			if (i * 8 + bit < c->prefix)
				continue;
			if (c->addr[i] & (0x80 >> bit))
				return 0;
		}
	}
	return 1;
}

int
cidr_parse(const char *s, struct cidr *out)
{
	char buf[INET6_ADDRSTRLEN + 8];
	const char *slash;
	size_t alen;
	int maxprefix;
	long prefix;

	memset(out, 0, sizeof(*out));
	slash = strchr(s, '/');
	alen = slash ? (size_t)(slash - s) : strlen(s);
	if (alen == 0 || alen >= sizeof(buf))
		return -1;
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	if (inet_pton(AF_INET, buf, out->addr) == 1) {
		out->family = AF_INET;
		maxprefix = 32;
	} else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
		out->family = AF_INET6;
		maxprefix = 128;
	} else
		return -1;
	if (slash == NULL) {
		out->prefix = maxprefix;
		return 0;
	}
	slash++;
	if (*slash == '\0' || strlen(slash) > 3 ||
	    (slash[0] == '0' && slash[1] != '\0'))
		return -1;
	prefix = 0;
	for (; *slash != '\0'; slash++) {
		if (!isdigit((unsigned char)*slash))
			return -1;
		prefix = prefix * 10 + (*slash - '0');
	}
	if (prefix > maxprefix)
		return -1;
	out->prefix = (int)prefix;
	return cidr_host_bits_clear(out) ? 0 : -1;
}

static bool
cidr_contains(const struct cidr *c, int family, const unsigned char *addr)
{
	int full, rest;

	if (c->family != family)
		return false;
	full = c->prefix / 8;
	rest = c->prefix % 8;
	if (memcmp(c->addr, addr, (size_t)full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((c->addr[full] ^ addr[full]) & (0xff << (8 - rest)) & 0xff) == 0;
}

bool
cidr_match_any(const struct cidr *list, size_t n, const struct sockaddr *sa)
{
	const unsigned char *a4 = NULL, *a6 = NULL;
	size_t i;

	if (sa == NULL)
		return false;
	if (sa->sa_family == AF_INET) {
		a4 = (const unsigned char *)
		    &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *in6 =
		    &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
		a6 = in6->s6_addr;
		if (IN6_IS_ADDR_V4MAPPED(in6))
			a4 = a6 + 12;
	} else
		return false;
	for (i = 0; i < n; i++) {
		if (a4 != NULL && cidr_contains(&list[i], AF_INET, a4))
			return true;
		if (a6 != NULL && cidr_contains(&list[i], AF_INET6, a6))
			return true;
	}
	return false;
}

/* --- applying values --------------------------------------------------- */

static void
cfg_store(struct config *cfg, const struct cfg_key *k, const void *v)
{
	memcpy((char *)cfg + k->offset, v, k->size);
}

static void
cfg_store_number(struct config *cfg, const struct cfg_key *k, long long v)
{
	int i = (int)v;
	size_t z = (size_t)v;

	/* Enums and int settings are int-sized; byte counts are size_t. */
	if (k->size == sizeof(int))
		cfg_store(cfg, k, &i);
	else
		cfg_store(cfg, k, &z);
}

static int
cfg_parse_int(const char *v, long long min, long long max, long long *out)
{
	long long n = 0;

	if (*v == '\0')
		return -1;
	for (; *v != '\0'; v++) {
		if (!isdigit((unsigned char)*v))
			return -1;
		if (n > (LLONG_MAX - 9) / 10)
			return -1;
		n = n * 10 + (*v - '0');
	}
	if (n < min || n > max)
		return -1;
	*out = n;
	return 0;
}

static char *
str_join(const char *a, const char *sep, const char *b)
{
	size_t la = strlen(a), ls = strlen(sep), lb = strlen(b);
	char *p;

	if ((p = malloc(la + ls + lb + 1)) == NULL)
		return NULL;
	memcpy(p, a, la);
	memcpy(p + la, sep, ls);
	memcpy(p + la + ls, b, lb + 1);
	return p;
}

static char *
cfg_resolve(const struct cfg_ctx *cx, const char *v)
{
	if (v[0] == '/' || cx->dir == NULL)
		return strdup(v);
	return str_join(cx->dir, "/", v);
}

/* A CIDR list field is followed by its count (struct config keeps them as
 * pairs): the key's offset names the list, the count comes right after. */
_Static_assert(offsetof(struct config, n_internal_hosts) ==
	       offsetof(struct config, internal_hosts) + sizeof(struct cidr *),
	       "internal_hosts and its count must be adjacent");
_Static_assert(offsetof(struct config, n_trusted_proxies) ==
	       offsetof(struct config, trusted_proxies) + sizeof(struct cidr *),
	       "trusted_proxies and its count must be adjacent");

static int
cfg_set_cidrs(struct config *cfg, const struct cfg_key *k, const char *v, char **bad)
{
	struct cidr **field = (struct cidr **)(void *)((char *)cfg + k->offset);
	size_t *count = (size_t *)(void *)((char *)cfg + k->offset + sizeof(struct cidr *));
	char *copy, *tok, *save;
	struct cidr *list = NULL, *nl;
	size_t n = 0;

	if ((copy = strdup(v)) == NULL)
		return -2;
	for (tok = strtok_r(copy, ", \t", &save); tok != NULL;
	    tok = strtok_r(NULL, ", \t", &save)) {
		if ((nl = reallocarray(list, n + 1, sizeof(*list))) == NULL) {
			free(list);
			free(copy);
			return -2;
		}
		list = nl;
		if (cidr_parse(tok, &list[n]) == -1) {
			*bad = strdup(tok);
			free(list);
			free(copy);
			return -1;
		}
		n++;
	}
	free(copy);
	free(*field);
	*field = list;
	*count = n;
	return 0;
}

/* Applies one value; returns 0, -1 for a bad value (with *bad set to the
 * offending text when it is not the whole value), -2 for out of memory. */
static int
cfg_apply(struct cfg_ctx *cx, const struct cfg_key *k, const char *v,
	  char **bad)
{
	const struct cfg_word *w;
	long long n;
	char *s;
	bool b;

	switch (k->type) {
	case CFG_STRING:
		/* An optional setting without a default may be left empty. */
		if (*v == '\0' && k->def == NULL && !k->required)
			return 0;
		if ((s = strdup(v)) == NULL)
			return -2;
		if (*s == '\0' || (k->check != NULL && k->check(s) == -1)) {
			free(s);
			return -1;
		}
		cfg_store(cx->cfg, k, &s);
		return 0;
	case CFG_DATABASE:
		if (*v == '\0' && k->def == NULL)
			return 0;
		/* A URI is libpq's to read: never a file name (and it may hold
		 * a password, so it is not repeated in a message). */
		if (strncmp(v, "postgresql://", 13) == 0 || strncmp(v, "postgres://", 11) == 0) {
			if ((s = strdup(v)) == NULL)
				return -2;
			cfg_store(cx->cfg, k, &s);
			return 0;
		}
		if (strncmp(v, "sqlite:", 7) == 0)
			v += 7;
		if (*v == '\0')
			return -1;
		if ((s = cfg_resolve(cx, v)) == NULL)
			return -2;
		cfg_store(cx->cfg, k, &s);
		return 0;
	case CFG_OPTPATH:
		if (*v == '\0')
			return 0;
		/* FALLTHROUGH */
	case CFG_PATH:
		if (*v == '\0')
			return -1;
		if ((s = cfg_resolve(cx, v)) == NULL)
			return -2;
		cfg_store(cx->cfg, k, &s);
		return 0;
	case CFG_INT:
		if (cfg_parse_int(v, k->min, k->max, &n) == -1)
			return -1;
		cfg_store_number(cx->cfg, k, n);
		return 0;
	case CFG_DURATION: {
		static const struct { char unit; long long seconds; } units[] = {
			{ 'd', 86400 }, { 'h', 3600 }, { 'm', 60 }, { 's', 1 },
		};
		size_t len = strlen(v);
		long long per = 86400;
		char digits[24];

		for (size_t u = 0; len > 0 && u < sizeof(units) / sizeof(units[0]); u++)
			if (v[len - 1] == units[u].unit) {
				per = units[u].seconds;
				len--;
				break;
			}
		if (len == 0 || len >= sizeof(digits))
			return -1;
		memcpy(digits, v, len);
		digits[len] = '\0';
		if (cfg_parse_int(digits, 0, k->max / per, &n) == -1 || n * per < k->min)
			return -1;
		cfg_store_number(cx->cfg, k, n * per);
		return 0;
	}
	case CFG_ENUM:
		for (w = k->words; w->name != NULL; w++) {
			if (strcmp(w->name, v) == 0) {
				cfg_store_number(cx->cfg, k, w->value);
				return 0;
			}
		}
		return -1;
	case CFG_BOOL:
		if (strcmp(v, "yes") == 0)
			b = true;
		else if (strcmp(v, "no") == 0)
			b = false;
		else
			return -1;
		cfg_store(cx->cfg, k, &b);
		return 0;
	case CFG_CIDRS:
		return cfg_set_cidrs(cx->cfg, k, v, bad);
	}
	return -1;
}

static int
cfg_apply_all(struct cfg_ctx *cx)
{
	const struct cfg_key *k;
	const char *v;
	char *bad;
	size_t i;
	int rc;

	for (i = 0; i < N_CFG_KEYS; i++) {
		k = &cfg_keys[i];
		v = cx->seen[i].value != NULL ? cx->seen[i].value : k->def;
		if (v == NULL) {
			if (k->required)
				return cfg_error(cx, 0,
				    "missing required setting '%s'", k->name);
			continue;
		}
		bad = NULL;
		rc = cfg_apply(cx, k, v, &bad);
		if (rc == -2)
			return cfg_error(cx, 0, "out of memory");
		if (rc == -1) {
			rc = cfg_error(cx, cx->seen[i].line,
			    "bad value '%s' for %s: expected %s",
			    bad ? bad : v, k->name, k->expected);
			free(bad);
			return rc;
		}
	}
	/* Where the database settings were written, for the errors of
	 * connecting to it (config_line). */
	for (i = 0; i < N_CFG_KEYS; i++) {
		if (strcmp(cfg_keys[i].name, "database") == 0)
			cx->cfg->database_line = cx->seen[i].line;
		else if (strcmp(cfg_keys[i].name, "report_database") == 0)
			cx->cfg->report_database_line = cx->seen[i].line;
	}
	if (cx->cfg->privacy_url == NULL &&
	    (cx->cfg->privacy_url = str_join(cx->cfg->beacon_url, "/privacy",
	    "")) == NULL)
		return cfg_error(cx, 0, "out of memory");
	return 0;
}

/* --- reading the file -------------------------------------------------- */

static const struct cfg_key *
cfg_find(const char *name, size_t len, size_t *idx)
{
	size_t i;

	for (i = 0; i < N_CFG_KEYS; i++) {
		if (strlen(cfg_keys[i].name) == len &&
		    memcmp(cfg_keys[i].name, name, len) == 0) {
			*idx = i;
			return &cfg_keys[i];
		}
	}
	return NULL;
}

/* One logical line "name = value" (continuations already joined). */
static int
cfg_setting(struct cfg_ctx *cx, char *text, int line)
{
	char *name = text, *p, *value;
	size_t namelen, idx;

	for (p = text; *p != '\0' && *p != '=' && !isspace((unsigned char)*p);
	    p++)
		;
	namelen = (size_t)(p - name);
	while (isspace((unsigned char)*p))
		p++;
	if (namelen == 0)
		return cfg_error(cx, line, "missing setting name before '='");
	if (*p != '=')
		return cfg_error(cx, line, "missing '=' after '%.*s'",
		    (int)namelen, name);
	value = p + 1;
	while (isspace((unsigned char)*value))
		value++;
	if (cfg_find(name, namelen, &idx) == NULL)
		return cfg_error(cx, line, "unknown setting '%.*s'",
		    (int)namelen, name);
	if (cx->seen[idx].value != NULL)
		return cfg_error(cx, line,
		    "duplicate setting '%s' (first set at line %d)",
		    cfg_keys[idx].name, cx->seen[idx].line);
	if ((cx->seen[idx].value = strdup(value)) == NULL)
		return cfg_error(cx, line, "out of memory");
	cx->seen[idx].line = line;
	return 0;
}

static void
cfg_rtrim(struct mbuf *b)
{
	while (b->len > 0 && isspace((unsigned char)b->data[b->len - 1]))
		b->data[--b->len] = '\0';
}

/* Postfix rules: "#" lines and blank lines are ignored; a line that starts
 * with white space continues the previous setting. */
static int
cfg_parse_text(struct cfg_ctx *cx, const char *text, size_t len)
{
	struct mbuf cur;
	const char *p = text, *end = text + len, *nl, *s;
	int lineno = 0, curline = 0, rc = 0;

	mbuf_init(&cur);
	while (p < end && rc == 0) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		lineno++;
		for (s = p; s < nl && isspace((unsigned char)*s); s++)
			;
		if (memchr(p, '\0', (size_t)(nl - p)) != NULL)
			rc = cfg_error(cx, lineno, "NUL byte in line");
		else if (s == nl || *s == '#')
			;	/* blank or comment */
		else if (s != p) {
			if (curline == 0)
				rc = cfg_error(cx, lineno, "continuation line "
				    "without a setting before it");
			else if (mbuf_putc(&cur, ' ') == -1 ||
			    mbuf_append(&cur, s, (size_t)(nl - s)) == -1)
				rc = cfg_error(cx, lineno, "out of memory");
			cfg_rtrim(&cur);
		} else {
			if (curline != 0)
				rc = cfg_setting(cx, cur.data, curline);
			mbuf_reset(&cur);
			curline = lineno;
			if (rc == 0 && mbuf_append(&cur, p, (size_t)(nl - p)) == -1)
				rc = cfg_error(cx, lineno, "out of memory");
			cfg_rtrim(&cur);
		}
		p = nl < end ? nl + 1 : end;
	}
	if (rc == 0 && curline != 0)
		rc = cfg_setting(cx, cur.data, curline);
	mbuf_free(&cur);
	return rc;
}

static char *
cfg_dirname(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir, *real;

	if (slash == NULL)
		dir = strdup(".");
	else if (slash == path)
		dir = strdup("/");
	else
		dir = strndup(path, (size_t)(slash - path));
	if (dir == NULL)
		return NULL;
	/* Absolute, so that a daemon's chdir("/") changes nothing. */
	if ((real = realpath(dir, NULL)) != NULL) {
		free(dir);
		dir = real;
	}
	if (strcmp(dir, "/") == 0)
		dir[0] = '\0';	/* avoid "//file" */
	return dir;
}

static int
cfg_read(struct cfg_ctx *cx, struct mbuf *text)
{
	int fd;

	if ((fd = open(cx->path, O_RDONLY | O_CLOEXEC)) == -1)
		return cfg_error(cx, 0, "cannot open: %s", strerror(errno));
	if (mbuf_read_fd(text, fd, CONFIG_FILE_MAX) == -1) {
		int e = errno;
		close(fd);
		return cfg_error(cx, 0, "cannot read: %s",
		    e == EFBIG ? "file larger than 1 MiB" : strerror(e));
	}
	close(fd);
	return 0;
}

int
config_load(const char *path, struct config *cfg, char *err, size_t errlen)
{
	struct cfg_ctx cx;
	struct mbuf text;
	size_t i;
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	memset(&cx, 0, sizeof(cx));
	cx.path = path;
	cx.cfg = cfg;
	cx.err = err;
	cx.errlen = errlen;
	if (errlen > 0)
		err[0] = '\0';
	mbuf_init(&text);
	rc = cfg_read(&cx, &text);
	if (rc == 0 && ((cfg->path = strdup(path)) == NULL ||
	    (cx.dir = cfg_dirname(path)) == NULL))
		rc = cfg_error(&cx, 0, "out of memory");
	if (rc == 0)
		rc = cfg_parse_text(&cx, text.data ? text.data : "", text.len);
	if (rc == 0)
		rc = cfg_apply_all(&cx);
	for (i = 0; i < N_CFG_KEYS; i++)
		free(cx.seen[i].value);
	free(cx.dir);
	mbuf_free(&text);
	if (rc != 0)
		config_free(cfg);
	return rc;
}

bool
config_setting(size_t i, const char **name, const char **def, bool *required)
{
	if (i >= N_CFG_KEYS)
		return false;
	*name = cfg_keys[i].name;
	*def = cfg_keys[i].def;
	*required = cfg_keys[i].required != 0;
	return true;
}

void
config_free(struct config *cfg)
{
	size_t i;
	char *s;

	for (i = 0; i < N_CFG_KEYS; i++) {
		const struct cfg_key *k = &cfg_keys[i];
		if (k->type != CFG_STRING && k->type != CFG_PATH &&
		    k->type != CFG_OPTPATH && k->type != CFG_DATABASE)
			continue;
		memcpy(&s, (char *)cfg + k->offset, sizeof(s));
		free(s);
	}
	free(cfg->path);
	free(cfg->internal_hosts);
	free(cfg->trusted_proxies);
	memset(cfg, 0, sizeof(*cfg));
}
