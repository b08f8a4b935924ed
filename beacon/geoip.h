/* beacon/geoip: where a client address is, from the MMDB file that
 * geoip_database names (GeoLite2, DB-IP Lite, ...; read with libmaxminddb).
 * Only the ISO country code and, with geoip_precision = city, the city's
 * English name come out; the address is looked up in memory and never kept. */
#ifndef MB_GEOIP_H
#define MB_GEOIP_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include "mbconfig.h"
#include "store.h"

struct geoip_place {
	char country[3];		/* "FR", or "" when unknown */
	char city[STORE_CITY_MAX + 1];	/* "Lyon", or "" (always with country) */
};

/* Opens cfg's geoip_database (nothing to do without one): 0, or -1 with
 * "FILE: reason" in err when the file is missing or not an MMDB. */
int geoip_open(const struct config *cfg, char *err, size_t errlen);
/* SIGHUP: reopens the file; when it cannot, logs why and keeps the one
 * it has. */
void geoip_reload(const struct config *cfg);
/* The place of sa at cfg's precision; false (out emptied) when there is no
 * database, or it knows no country for the address. Safe from any thread. */
bool geoip_lookup(const struct sockaddr *sa, struct geoip_place *out);
void geoip_close(void);

#endif
