/* daemon: the start-up the two daemons (mailbeacon-milter, mailbeacond)
 * share: their common options, the load of the configuration, -n, giving
 * up root with the store created as the daemon's user, going into the
 * background and the pid file. Each daemon's main keeps only its own
 * steps (its socket, its threads) between these. */
#ifndef MB_DAEMON_H
#define MB_DAEMON_H
#include <stdbool.h>
#include "mbconfig.h"
#include "load.h"

struct daemon_options {
	const char *progname;	/* in messages: "PROGNAME: reason" */
	const char *config;	/* -c FILE */
	const char *pidfile;	/* -p FILE, or NULL */
	bool foreground;	/* -f (and -d) */
	bool check_only;	/* -n */
	bool debug;		/* -d: -f, and log at level debug */
};

/* Parses -c FILE, -f, -n, -p FILE, and -d when allow_debug; any other
 * option or an operand calls usage, which must exit. Then starts the log
 * (standard error under -f, -d and -n, else syslog) and libsodium. Set
 * o->progname and o->config (the default) before. */
void daemon_start(struct daemon_options *o, int argc, char **argv, bool allow_debug,
		  void (*usage)(void));
/* load_all, or "PROGNAME: reason" on standard error and exit 1. */
void daemon_load(const struct daemon_options *o, const struct load_targets *t);
/* Becomes cfg->user (when run as root), then creates or migrates the
 * store as that user, so its files are the user's. -1 with the reason. */
int daemon_become_user(const struct config *cfg, char *err, size_t errlen);
/* -n: daemon_become_user, then "PROGNAME: CONFIG is OK" on standard output.
 * Returns the exit status: 0, or 1 with "PROGNAME: reason" on standard
 * error. */
int daemon_check_only(const struct daemon_options *o, const struct config *cfg);
/* Unless -f: into the background (fatal when it cannot). */
void daemon_detach(const struct daemon_options *o);
/* -p: writes this process's id there (a warning when it cannot: the
 * daemon runs on without it); daemon_pidfile_remove at the end. */
void daemon_pidfile_write(const struct daemon_options *o);
void daemon_pidfile_remove(const struct daemon_options *o);

#endif
