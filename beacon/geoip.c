/* beacon/geoip: the client's country (and city) from geoip_database, looked
 * up in memory before the address is masked (see geoip.h). The open file is
 * swapped on SIGHUP under a lock that lookups hold only while they read. */
#include <sys/mman.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <maxminddb.h>
#include "classify.h"
#include "geoip.h"
#include "log.h"
#include "textenc.h"

static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;
static MMDB_s *db;		/* NULL: no geoip_database */
static enum geoip_precision precision;

/* A private copy of the file at path in memory (a memfd), named as
 * /proc/self/fd/N in name: libmaxminddb maps the file it opens, and a
 * monthly update copied over it in place (cp) would change, or cut short,
 * the pages the beacon is reading. -1 with errno set when it cannot. */
static int
private_copy(const char *path, char *name, size_t namelen)
{
	char buf[65536];
	int in = open(path, O_RDONLY | O_CLOEXEC);

	if (in < 0)
		return -1;
	int fd = memfd_create("mailbeacon-geoip", MFD_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : 0;
	while (fd >= 0 && (n = read(in, buf, sizeof(buf))) > 0) {
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(fd, buf + off, (size_t)(n - off));
			if (w < 0) {
				n = -1;
				break;
			}
			off += w;
		}
		if (n < 0)
			break;
	}
	int saved = errno;
	close(in);
	if (n < 0) {
		if (fd >= 0)
			close(fd);
		errno = saved;
		return -1;
	}
	snprintf(name, namelen, "/proc/self/fd/%d", fd);
	return fd;
}

/* The MMDB file at path, opened from a private copy and checked: its
 * metadata read and a lookup that walks its search tree. */
static MMDB_s *
open_file(const char *path, char *err, size_t errlen)
{
	MMDB_s *m = calloc(1, sizeof(*m));
	char name[64];

	if (m == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	int fd = private_copy(path, name, sizeof(name));
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		free(m);
		return NULL;
	}
	int rc = MMDB_open(name, MMDB_MODE_MMAP, m);
	int saved = errno;
	close(fd);		/* the mapping keeps the copy */
	if (rc != MMDB_SUCCESS) {
		if (rc == MMDB_FILE_OPEN_ERROR || rc == MMDB_IO_ERROR)
			snprintf(err, errlen, "%s: %s", path, strerror(saved));
		else
			snprintf(err, errlen, "%s: not a MaxMind DB (.mmdb) file: %s", path,
				 MMDB_strerror(rc));
		free(m);
		return NULL;
	}
	/* A damaged tree or data section shows on the first lookup. */
	int gai, mmerr;
	MMDB_lookup_result_s r = MMDB_lookup_string(m, m->metadata.ip_version == 6 ? "::1" : "127.0.0.1",
						    &gai, &mmerr);
	if (gai == 0 && mmerr == MMDB_SUCCESS && r.found_entry) {
		MMDB_entry_data_list_s *list = NULL;
		mmerr = MMDB_get_entry_data_list(&r.entry, &list);
		MMDB_free_entry_data_list(list);
	}
	if (gai != 0 || mmerr != MMDB_SUCCESS) {
		snprintf(err, errlen, "%s: damaged MaxMind DB file: %s", path,
			 gai != 0 ? "lookup failed" : MMDB_strerror(mmerr));
		MMDB_close(m);
		free(m);
		return NULL;
	}
	return m;
}

static void
close_file(MMDB_s *m)
{
	if (m != NULL) {
		MMDB_close(m);
		free(m);
	}
}

static void
log_opened(const char *what, const char *path, const MMDB_s *m)
{
	char built[16] = "?";
	time_t t = (time_t)m->metadata.build_epoch;
	struct tm tm;

	if (gmtime_r(&t, &tm) != NULL)
		strftime(built, sizeof(built), "%Y-%m-%d", &tm);
	log_info("%s %s (%s, built %s): recording the %s of opens and clicks", what, path,
		 m->metadata.database_type ? m->metadata.database_type : "unknown type", built,
		 precision == GEOIP_CITY ? "country and city" : "country");
}

int
geoip_open(const struct config *cfg, char *err, size_t errlen)
{
	if (cfg->geoip_database == NULL)
		return 0;
	MMDB_s *m = open_file(cfg->geoip_database, err, errlen);
	if (m == NULL)
		return -1;
	pthread_rwlock_wrlock(&lock);
	precision = cfg->geoip_precision;
	close_file(db);
	db = m;
	pthread_rwlock_unlock(&lock);
	log_opened("geoip_database", cfg->geoip_database, m);
	return 0;
}

void
geoip_reload(const struct config *cfg)
{
	char err[512];

	if (cfg->geoip_database == NULL)
		return;
	MMDB_s *m = open_file(cfg->geoip_database, err, sizeof(err));
	if (m == NULL) {
		log_warnx("geoip_database reload failed, keeping the previous one: %s", err);
		return;
	}
	pthread_rwlock_wrlock(&lock);
	MMDB_s *old = db;
	db = m;
	pthread_rwlock_unlock(&lock);
	close_file(old);
	log_opened("reloaded geoip_database", cfg->geoip_database, m);
}

/* The UTF-8 string at path in entry, when it is one of 1..max octets that
 * are printable, into out (max + 1 octets). */
static bool
entry_string(MMDB_entry_s *entry, char *out, size_t max, const char *const *path)
{
	MMDB_entry_data_s d;

	if (MMDB_aget_value(entry, &d, path) != MMDB_SUCCESS || !d.has_data ||
	    d.type != MMDB_DATA_TYPE_UTF8_STRING || d.data_size == 0 || d.data_size > max ||
	    !text_utf8_printable(d.utf8_string, d.data_size))
		return false;
	memcpy(out, d.utf8_string, d.data_size);
	out[d.data_size] = '\0';
	return true;
}

bool
geoip_lookup(const struct sockaddr *sa, struct geoip_place *out)
{
	static const char *const country_path[] = { "country", "iso_code", NULL };
	static const char *const city_path[] = { "city", "names", "en", NULL };
	struct sockaddr_in v4 = { .sin_family = AF_INET };
	uint8_t a[4];
	bool found = false;

	memset(out, 0, sizeof(*out));
	/* An IPv6 address that carries the client's IPv4 one is looked up as
	 * that, as it is masked. */
	if (classify_ipv4_of(sa, a)) {
		memcpy(&v4.sin_addr.s_addr, a, 4);
		sa = (const struct sockaddr *)&v4;
	}
	pthread_rwlock_rdlock(&lock);
	if (db != NULL) {
		int mmerr;
		MMDB_lookup_result_s r = MMDB_lookup_sockaddr(db, sa, &mmerr);
		if (mmerr == MMDB_SUCCESS && r.found_entry &&
		    entry_string(&r.entry, out->country, sizeof(out->country) - 1, country_path) &&
		    out->country[0] >= 'A' && out->country[0] <= 'Z' &&
		    out->country[1] >= 'A' && out->country[1] <= 'Z') {
			found = true;
			if (precision == GEOIP_CITY)
				entry_string(&r.entry, out->city, STORE_CITY_MAX, city_path);
		}
	}
	pthread_rwlock_unlock(&lock);
	if (!found)
		memset(out, 0, sizeof(*out));
	return found;
}

void
geoip_close(void)
{
	pthread_rwlock_wrlock(&lock);
	close_file(db);
	db = NULL;
	pthread_rwlock_unlock(&lock);
}
