/* daemon: what mailbeacon-milter and mailbeacond do alike between main()
 * and their own work; see daemon.h for the order they call it in. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sodium.h>

#include "daemon.h"
#include "log.h"
#include "pidfile.h"
#include "secret.h"
#include "store.h"

/* How long -n and the start wait for a store another process holds. */
#define DAEMON_STORE_BUSY_MS 2000

void
daemon_start(struct daemon_options *o, int argc, char **argv, bool allow_debug,
	     void (*usage)(void))
{
	const char *optstring = allow_debug ? "c:dfnp:" : "c:fnp:";
	int c;

	while ((c = getopt(argc, argv, optstring)) != -1) {
		switch (c) {
		case 'c': o->config = optarg; break;
		case 'd': o->foreground = o->debug = true; break;
		case 'f': o->foreground = true; break;
		case 'n': o->check_only = true; break;
		case 'p': o->pidfile = optarg; break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	log_init(o->progname, o->foreground || o->check_only);
	if (sodium_init() < 0)
		fatal("libsodium cannot start");
}

void
daemon_load(const struct daemon_options *o, const struct load_targets *t)
{
	char err[512];

	/* Standard error even when the log goes to syslog: whoever started
	 * the daemon (systemd, an init script, a person) sees why it did not. */
	if (load_all(o->config, t, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s\n", o->progname, err);
		exit(1);
	}
}

int
daemon_become_user(const struct config *cfg, char *err, size_t errlen)
{
	struct store *st;

	if (privs_drop(cfg->user, err, errlen) < 0 ||
	    store_open_config(cfg, STORE_FOR_WRITES, true, DAEMON_STORE_BUSY_MS, &st, err, errlen) < 0)
		return -1;
	store_close(st);
	return 0;
}

int
daemon_check_only(const struct daemon_options *o, const struct config *cfg)
{
	char err[512];

	if (daemon_become_user(cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s\n", o->progname, err);
		return 1;
	}
	printf("%s: %s is OK\n", o->progname, o->config);
	return 0;
}

void
daemon_detach(const struct daemon_options *o)
{
	if (!o->foreground && daemon(0, 0) < 0)
		fatal_errno("cannot become a daemon");
}

void
daemon_pidfile_write(const struct daemon_options *o)
{
	if (o->pidfile != NULL && pidfile_write(o->pidfile) < 0)
		log_warn("cannot write %s", o->pidfile);
}

void
daemon_pidfile_remove(const struct daemon_options *o)
{
	if (o->pidfile != NULL)
		unlink(o->pidfile);
}
