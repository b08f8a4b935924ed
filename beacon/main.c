/* mailbeacond(8): the beacon. Answers the open pixel, the signed click
 * redirects and the opt-out pages with libmicrohttpd's epoll thread pool,
 * records privacy-reduced events in the store, and reloads its key file on
 * SIGHUP so rotated keys take effect without a restart. The start-up it
 * shares with the milter (options, loading, -n, user, pid file) is
 * common/daemon.c. */
#include <arpa/inet.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "autoconf.h"
#include "netlimits.h"
#include "readers.h"
#include "state.h"
#include "writer.h"
#include "http.h"
#include "daemon.h"
#include "geoip.h"
#include "log.h"
#include "webhook.h"

#define DEFAULT_CONFIG SYSCONFDIR "/mailbeacon/mailbeacon.conf"
#define THREADS 4

static void
usage(void)
{
	fprintf(stderr, "usage: mailbeacond [-f] [-n] [-c FILE] [-p PIDFILE]\n"
		"  -c FILE     configuration (default %s)\n"
		"  -f          stay in the foreground and log to standard error\n"
		"  -n          check the configuration, keys and database, then exit\n"
		"  -p PIDFILE  write the process id there\n", DEFAULT_CONFIG);
	exit(1);
}

/* The configuration, keys, hash key and API token (common/load.h); on
 * error, the reason on standard error and exit 1. */
static void
load(const struct daemon_options *o)
{
	if ((bc.keys = calloc(1, sizeof(*bc.keys))) == NULL)
		fatal("out of memory");
	struct load_targets t = { .cfg = &bc.cfg, .keys = bc.keys, .hash_key = &bc.hash_key,
				  .api_token = &bc.api_token };
	daemon_load(o, &t);
	pthread_rwlock_init(&bc.keys_lock, NULL);
}

static void
reload_keys(void)
{
	char err[512];
	struct keyring *kr = calloc(1, sizeof(*kr));
	struct load_targets t = { .cfg = &bc.cfg, .keys = kr };

	if (kr == NULL || load_named(&t, err, sizeof(err)) < 0) {
		log_warnx("reload failed, keeping the previous keys: %s", kr ? err : "out of memory");
		free(kr);
		return;
	}
	pthread_rwlock_wrlock(&bc.keys_lock);
	struct keyring *old = bc.keys;
	bc.keys = kr;
	pthread_rwlock_unlock(&bc.keys_lock);
	keyring_free(old);
	free(old);
	log_info("reloaded %zu keys (SIGHUP)", kr->n);
}

static int
listen_address(struct sockaddr_storage *ss, char *err, size_t errlen)
{
	const char *v = bc.cfg.beacon_listen;
	const char *colon = strrchr(v, ':');
	char host[128];

	memset(ss, 0, sizeof(*ss));
	if (colon == NULL || (size_t)(colon - v) >= sizeof(host))
		goto bad;
	memcpy(host, v, (size_t)(colon - v));
	host[colon - v] = '\0';
	int port = atoi(colon + 1);
	char *h = host;
	if (h[0] == '[') {
		h++;
		h[strlen(h) - 1] = '\0';
	}
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, h, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		return 0;
	}
	if (inet_pton(AF_INET6, h, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		return 0;
	}
bad:
	snprintf(err, errlen, "beacon_listen %s: give a numeric address and a port", v);
	return -1;
}

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	log_debug("libmicrohttpd: %s", msg);
}

int
main(int argc, char **argv)
{
	struct daemon_options o = { .progname = "mailbeacond", .config = DEFAULT_CONFIG };
	char err[512];

	daemon_start(&o, argc, argv, false, usage);
	load(&o);
	struct sockaddr_storage addr;
	if (listen_address(&addr, err, sizeof(err)) < 0) {
		fprintf(stderr, "mailbeacond: %s: %s\n", o.config, err);
		return 1;
	}
	if (geoip_open(&bc.cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "mailbeacond: %s: geoip_database %s\n", o.config, err);
		return 1;
	}
	if (o.check_only)
		return daemon_check_only(&o, &bc.cfg);
	daemon_detach(&o);
	/* Signals are taken by sigwait in this thread only. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
	    MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	if (addr.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (conn_limit_init((size_t)bc.cfg.beacon_max_connections) < 0)
		fatal("out of memory");
	bc.httpd = MHD_start_daemon(flags, 0, conn_limit_accept, NULL, http_handle, NULL,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned)THREADS,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)bc.cfg.beacon_max_connections,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)bc.cfg.beacon_timeout,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(32 * 1024),
		MHD_OPTION_NOTIFY_COMPLETED, http_completed, NULL,
		MHD_OPTION_NOTIFY_CONNECTION, conn_limit_notify, NULL,
		MHD_OPTION_UNESCAPE_CALLBACK, http_unescape, NULL,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
		MHD_OPTION_END);
	if (bc.httpd == NULL)
		fatal("cannot listen on %s", bc.cfg.beacon_listen);
	if (daemon_become_user(&bc.cfg, err, sizeof(err)) < 0)
		fatal("%s", err);
	if (webhook_start() < 0)
		log_warnx("webhooks off: cannot start their delivery thread");
	if (writer_start() < 0)
		fatal("cannot start the writer thread");
	daemon_pidfile_write(&o);
	log_info("listening on %s for %s", bc.cfg.beacon_listen, bc.cfg.beacon_url);
	for (;;) {
		int sig;
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			reload_keys();
			geoip_reload(&bc.cfg);
			webhook_reload();
			continue;
		}
		break;
	}
	log_info("stopping");
	MHD_quiesce_daemon(bc.httpd);
	writer_stop();		/* commits and answers what is queued */
	webhook_stop();		/* drops what is left to deliver */
	MHD_stop_daemon(bc.httpd);
	readers_close();
	geoip_close();
	conn_limit_free();
	daemon_pidfile_remove(&o);
	pthread_rwlock_wrlock(&bc.keys_lock);
	keyring_free(bc.keys);
	free(bc.keys);
	pthread_rwlock_unlock(&bc.keys_lock);
	free(bc.api_token);
	config_free(&bc.cfg);
	log_info("stopped");
	return 0;
}
